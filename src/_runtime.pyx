"""Thread control shared by every kernel (the OpenMP pool of the calling thread)."""
from _omp cimport CYCONV_HAVE_OPENMP, omp_get_max_threads, omp_set_num_threads, omp_get_num_procs

cdef extern from *:
    """
    #include "_omp.h"
    /* Release the calling thread's OpenMP worker pool (OpenMP 5.0 omp_pause_resource_all).
       GCC's libgomp has it since GCC 9 although GCC still reports _OPENMP 201511; MSVC's
       OpenMP 2.0 runtime has not. Returns 0 on success, nonzero when not possible. */
    #if defined(_OPENMP) && (_OPENMP >= 201811 || \
        (defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9))
    static int cyconv_pause_openmp(void) { return omp_pause_resource_all(omp_pause_hard); }
    #else
    static int cyconv_pause_openmp(void) { return -1; }
    #endif
    """
    int cyconv_pause_openmp() nogil


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


def pause_openmp():
    """Let the calling thread's OpenMP worker threads exit (they are re-created on demand).

    Called just before a fork: GNU libgomp's pool does not survive fork (the child would
    wait forever for workers that were not copied), but a child that has no pool makes a
    fresh one. Returns True when the pool was released (or there was none).
    """
    return cyconv_pause_openmp() == 0


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
