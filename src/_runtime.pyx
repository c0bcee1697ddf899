"""Thread control shared by every kernel (the OpenMP pool of the calling thread)."""
from _omp cimport CYCONV_HAVE_OPENMP, omp_get_max_threads, omp_set_num_threads, omp_get_num_procs


def have_openmp():
    """True when the kernels were compiled with OpenMP."""
    return bool(CYCONV_HAVE_OPENMP)


def get_num_threads():
    """Number of threads the kernels use when called from this thread."""
    return omp_get_max_threads()


def set_num_threads(int n):
    """Set the number of threads of this thread's kernel calls (validated by the caller)."""
    omp_set_num_threads(n)


def num_procs():
    return omp_get_num_procs()


def boundscheck_enabled():
    """True when the modules were compiled with Cython's bounds checking (the checked build).

    Asks the compiled code itself, so a stale build cannot claim to be checked. Index 1 of a
    one-byte bytearray is out of bounds, but CPython keeps a bytearray's buffer
    NUL-terminated, so the unchecked build reads that valid byte harmlessly. (A bytearray,
    not a memoryview, keeps Cython's memoryview support code out of this small module.)
    """
    cdef bytearray data = bytearray(b"\x01")
    cdef Py_ssize_t i = 1
    cdef int value
    try:
        value = data[i]
    except IndexError:
        return True
    return False
