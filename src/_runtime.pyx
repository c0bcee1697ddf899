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

    Asks the compiled code itself, so a stale build cannot claim to be checked: index 1 of a
    one-element view is out of bounds, but the memory behind it (the parent's second
    element) is valid, so the unchecked build reads it harmlessly.
    """
    cdef unsigned char[::1] parent = bytearray(2)
    cdef unsigned char[::1] view = parent[:1]
    cdef Py_ssize_t i = 1
    cdef unsigned char value
    try:
        value = view[i]
    except IndexError:
        return True
    return False
