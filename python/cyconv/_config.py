"""Runtime configuration: the kernels' thread count and the build facts."""

import sys

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


def show_config(file=None):
    """Print the version, compiler, Cython, OpenMP runtime, thread count and build type."""
    from . import __version__

    lines = [
        f"cyconv:      {__version__}",
        f"python:      {sys.version.split()[0]}",
        f"numpy:       {np.__version__}",
        f"compiler:    {_build_info.compiler}",
        f"cython:      {_build_info.cython_version}",
        f"openmp:      {_build_info.openmp if _runtime.have_openmp() else 'none (one thread)'}",
        f"threads:     {get_num_threads()} (of {_runtime.num_procs()} processors)",
        f"build type:  {_build_info.build_type}",
    ]
    print("\n".join(lines), file=file)
