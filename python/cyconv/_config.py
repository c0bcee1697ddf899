"""Runtime configuration: the kernels' thread count and the build facts."""

import os
import sys
import sysconfig

import numpy as np

from . import _build_info, _runtime
from ._shapes import _int


def get_num_threads():
    """Number of threads the kernels use for calls from this thread.

    Defaults to all cores (or ``OMP_NUM_THREADS``); ``threadpoolctl`` limits it too,
    since the kernels run on the OpenMP pool it controls.
    """
    return _runtime.get_num_threads()


def set_num_threads(n):
    """Use ``n`` threads (>= 1) for kernel calls made from this thread.

    Results do not depend on the thread count (to floating-point tolerance).
    """
    n = _int(n, "n")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
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
        f"threads:     {get_num_threads()} (of {procs} processors)",
        f"build type:  {_build_type()}",
        f"kernels:     {_kernels()}",
    ]
    print("\n".join(lines), file=file)


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
