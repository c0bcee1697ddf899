# How many threads a pooling kernel call uses, decided from its work (shared by _maxpool and
# _avgpool). Waking an OpenMP team costs tens of microseconds on an idle machine, and far
# more when NumPy's BLAS threads are still spinning after a matmul (issue 11: a@b followed by
# a small max_pool2d ran 17x slower on two threads than on one). So a call runs on the
# calling thread, with no parallel region at all, below POOL_PARALLEL_MIN elements touched,
# and above it uses at most one thread per POOL_PARALLEL_MIN elements.
# POOL_PARALLEL_MIN was measured with benchmarks/pool_threads.py (dev-notes/pools.md).

cdef enum:
    POOL_PARALLEL_MIN = 1 << 21


cdef inline int pool_team(int requested, Py_ssize_t work) noexcept nogil:
    cdef Py_ssize_t most = work // POOL_PARALLEL_MIN
    if requested <= 1 or most <= 1:
        return 1
    return <int>min(<Py_ssize_t>requested, most)
