"""Runtime configuration: the kernels' thread count and the build facts."""

import os
import sys
import sysconfig
import warnings

import numpy as np

from . import _build_info
from ._shapes import _int


def _cores():
    """Processors this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        n = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count()
    return max(1, n or 1)


#: The largest thread count cyconv accepts: 4 threads per core, and at least 64. More
#: threads than cores never makes a kernel faster (a small multiple still lets tests and
#: benchmarks oversubscribe), while GNU libgomp crashes or exits far above it (30000 threads:
#: "Thread creation failed"; 100000: a stack overflow; 10**9: a 224 GB allocation).
MAX_THREADS = max(64, 4 * _cores())


def _clamped_env(raw, maximum):
    """OMP_NUM_THREADS with every entry of its list ("8" or "4,2") capped at ``maximum``.

    None when there is nothing to clamp (unset, every entry within bounds, or not a list of
    positive integers, which the OpenMP runtime itself ignores with a message).
    """
    if raw is None:
        return None
    try:
        values = [int(part) for part in raw.split(",")]
    except ValueError:
        return None
    if not values or min(values) < 1 or max(values) <= maximum:
        return None
    return ",".join(str(min(v, maximum)) for v in values)


# GNU libgomp reads OMP_NUM_THREADS once, when it is loaded, which is when _runtime is
# imported here (the first cyconv module linked with it). A value beyond MAX_THREADS would
# reach the first kernel (a crash), so clamp it in the environment just for that load, then
# restore what the user set (child processes see their own value, and clamp it themselves).
_ENV_RAW = os.environ.get("OMP_NUM_THREADS")
_ENV_CLAMPED = _clamped_env(_ENV_RAW, MAX_THREADS)
if _ENV_CLAMPED is not None:
    os.environ["OMP_NUM_THREADS"] = _ENV_CLAMPED
    try:
        from . import _runtime
    finally:
        os.environ["OMP_NUM_THREADS"] = _ENV_RAW
else:
    from . import _runtime
if _runtime.get_num_threads() > MAX_THREADS:
    # The OpenMP runtime was loaded before cyconv (by another library) and had already read
    # the environment: bound this (the importing) thread at least. See dev-notes/rel.md.
    _runtime.set_num_threads(MAX_THREADS)


# Fork. GNU libgomp's worker pool does not survive fork(): the child inherits a pool whose
# threads do not exist and waits for them forever. Before a fork cyconv therefore releases
# the forking thread's pool (omp_pause_resource_all; the parent re-creates it on its next
# parallel kernel, about a millisecond), so the child starts without one and makes its own:
# it runs on as many threads as the parent. Where that is not possible (an OpenMP runtime
# without omp_pause_resource_all, e.g. MSVC's; a fork from inside a parallel region), the
# child falls back to one thread for good (see set_num_threads).
_FORK_STATE = {"paused": None, "child": False, "single": False}


def _uses_libgomp():
    return _runtime.have_openmp() and "gomp" in (_build_info.openmp or "")


def _before_fork():
    _FORK_STATE["paused"] = _runtime.pause_openmp() if _uses_libgomp() else True


def _after_fork_in_child():
    _FORK_STATE["child"] = True
    if not _FORK_STATE["paused"] and not _FORK_STATE["single"]:
        _FORK_STATE["single"] = True
    if _FORK_STATE["single"]:
        _runtime.set_num_threads(1)


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def get_num_threads():
    """Number of threads the kernels use for calls from this thread.

    Defaults to all cores (or ``OMP_NUM_THREADS``); ``threadpoolctl`` limits it too,
    since the kernels run on the OpenMP pool it controls.

    Returns
    -------
    int
        The thread count (1 in a build without OpenMP).

    See Also
    --------
    set_num_threads : Change it.
    show_config : The OpenMP runtime and the processor count.

    Examples
    --------
    >>> import cyconv
    >>> cyconv.get_num_threads() >= 1
    True
    """
    return _runtime.get_num_threads()


def set_num_threads(n):
    """Use ``n`` threads for kernel calls made from this thread, 1 <= n <= the maximum.

    The maximum is ``max(64, 4 * cores)`` (``show_config()`` prints it); beyond it the OpenMP runtime would
    crash, so a larger ``n`` is a ``ValueError`` (an ``OMP_NUM_THREADS`` beyond it is clamped
    at import). Results do not depend on the thread count (to floating-point tolerance).

    In a child forked after the parent ran a parallel kernel, cyconv keeps its threads (it
    releases the OpenMP pool before the fork). Only where that is impossible does the child
    run on one thread; there ``n > 1`` is clamped to 1 with a ``RuntimeWarning``.

    The setting is per calling thread, as ``threadpoolctl`` and OpenMP's
    ``omp_set_num_threads`` make it: other threads keep theirs. NumPy's BLAS, which
    the GEMM strategies call, has its own thread pool (``threadpoolctl`` limits both).

    Parameters
    ----------
    n : int
        The thread count, from 1 to the maximum.

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    ValueError
        If ``n < 1`` or ``n`` is above the maximum.

    See Also
    --------
    get_num_threads : The count in force.

    Examples
    --------
    >>> import cyconv
    >>> before = cyconv.get_num_threads()
    >>> cyconv.set_num_threads(1)
    >>> cyconv.get_num_threads()
    1
    >>> cyconv.set_num_threads(before)
    """
    if not (type(n) is int and 1 <= n <= MAX_THREADS):  # not the common case: check it all
        n = _int(n, "n") if not isinstance(n, int) or isinstance(n, bool) else int(n)
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(
            f"n must be between 1 and {MAX_THREADS} (the maximum, max(64, 4 * {_cores()} cores)), "
            f"got {n}"
        )
    if n > 1 and _FORK_STATE["single"]:
        warnings.warn(
            f"set_num_threads({n}): this process was forked after its parent ran OpenMP kernels and "
            "its OpenMP runtime cannot be restarted, so cyconv stays on 1 thread here",
            RuntimeWarning, stacklevel=2)
        n = 1
    _runtime.set_num_threads(n)


def _build_type():
    """CMake build type and whether bounds checking is compiled in, e.g. 'Release, release'.

    'checked' comes from the compiled code itself (it raises on an out-of-bounds index),
    so the line cannot disagree with what the kernels do.
    """
    kind = "checked (bounds checks on)" if _runtime.boundscheck_enabled() else "release"
    return f"{_build_info.cmake_build_type or 'unknown'}, {kind}"


def show_config(file=None):
    """Print the version, compiler, Cython, OpenMP runtime, thread count, build type and kernels.

    Parameters
    ----------
    file : file-like, optional
        Where to print; ``sys.stdout`` by default.

    See Also
    --------
    set_num_threads, get_num_threads : The thread count.

    Examples
    --------
    >>> import cyconv
    >>> cyconv.show_config()  # doctest: +ELLIPSIS
    cyconv:      ...
    openmp:      ...
    build type:  ...
    """
    from . import __version__

    if _runtime.have_openmp():
        openmp, procs = _build_info.openmp, _runtime.num_procs()
    else:
        openmp, procs = "none (one thread)", os.cpu_count()
    lines = [
        f"cyconv:      {__version__}",
        f"python:      {sys.version.split()[0]}{_free_threading()}",
        f"numpy:       {np.__version__}",
        f"compiler:    {_build_info.compiler}",
        f"cython:      {_build_info.cython_version}",
        f"openmp:      {openmp}",
        f"threads:     {_threads_line(procs)}",
        f"build type:  {_build_type()}",
        f"kernels:     {_kernels()}",
    ]
    print("\n".join(lines), file=file)


def _threads_line(procs):
    """The thread count and where it comes from, e.g. '2 (of 2 processors, at most 64)'."""
    n = get_num_threads()
    if _FORK_STATE["single"]:
        return f"{n} (forked child of a process that ran OpenMP; see set_num_threads)"
    notes = [f"of {procs} processors", f"at most {MAX_THREADS}"]
    if _ENV_CLAMPED is not None:
        notes.append(f"OMP_NUM_THREADS={_ENV_RAW} clamped to {_ENV_CLAMPED}")
    if _FORK_STATE["child"]:
        notes.append("forked child, own OpenMP pool")
    return f"{n} ({', '.join(notes)})"


def _kernels():
    """The engine's kernel set and register tiles, e.g. 'avx512 (float32 8x32, float64 8x16)'."""
    from . import _engine

    name, f32, f64 = _engine.kernel_info()
    return f"{name} (float32 {f32[0]}x{f32[1]}, float64 {f64[0]}x{f64[1]})"


def _free_threading():
    """'' on a regular CPython; on a free-threaded one, whether the GIL is really off."""
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return ""
    return " (free-threaded, GIL " + ("re-enabled)" if sys._is_gil_enabled() else "off)")
