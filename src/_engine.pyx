# cython: language_level=3
"""The compiled convolution engine (src/engine/, see engine.h) as one extension module.

At import the kernel set is chosen once, in C, from the CPU's features (portable C,
AVX2+FMA or AVX-512F); the environment variable ``CYCONV_KERNELS=portable|avx2|avx512``
forces one, and asking for a set that this build or CPU lacks is an ImportError (a test
that forces a build must not silently run another one).

Arrays arrive canonical (C-contiguous, native, one float dtype, validated shapes): this
module only hands pointers and sizes to C. The kernels release the GIL; between tiles the
calling thread polls for signals (``PyErr_CheckSignals``), so Ctrl-C stops a long call.
"""
cimport numpy as cnp
from libc.stdint cimport int64_t

import os

cnp.import_array()

cdef extern from "Python.h":
    # (declared without an exception check: the poll runs inside the kernel and leaves
    # the KeyboardInterrupt pending; the wrapper raises it after the parallel region)
    int _check_signals "PyErr_CheckSignals" ()

cdef extern from "engine/engine.h" nogil:
    ctypedef int64_t cyc_int
    ctypedef struct cyc_ukernel:
        int mr, nr, kc, mc, nc
    ctypedef struct cyc_kernel_set:
        const char *name
        cyc_ukernel f32
        cyc_ukernel f64
    const cyc_kernel_set *cyc_kernels()
    int cyc_select_kernels(const char *name)
    int cyc_kernels_supported(const char *name)
    ctypedef struct cyc_interrupt:
        int stop
    void cyc_interrupt_init(cyc_interrupt *it, int (*poll)(void *) noexcept nogil, void *arg)
    ctypedef struct cyc_conv_geom:
        cyc_int n, c_in, h, w, c_out, kh, kw, groups, sh, sw, dh, dw, pt, pl, ho, wo
        int nhwc
    int cyc_conv2d_forward_path(int dtype, const cyc_conv_geom *g, const void *x, const void *w,
                                const void *bias, void *y, size_t ws_limit, int nthreads,
                                cyc_interrupt *intr, size_t *ws_bytes, int path)
    int cyc_conv2d_forward(int dtype, const cyc_conv_geom *g, const void *x, const void *w,
                           const void *bias, void *y, size_t ws_limit, int nthreads,
                           cyc_interrupt *intr, size_t *ws_bytes)
    int cyc_threads_for(double flops, cyc_int tiles)
    void cyc_team_arrived(double t0, int tid)
    void cyc_set_busy(double seconds)
    int cyc_machine_busy()
    double cyc_now()
    enum:
        CYC_F32
        CYC_F64
        CYC_OK
        CYC_INTERRUPTED
        CYC_NOMEM


KERNEL_SETS = ("portable", "avx2", "avx512")


def _select_at_import():
    name = os.environ.get("CYCONV_KERNELS", "").strip().lower()
    rc = cyc_select_kernels(name.encode())
    if rc == -1:
        raise ImportError(
            f"CYCONV_KERNELS={name!r}: unknown kernel set; expected one of {', '.join(KERNEL_SETS)} "
            f"(or unset for the best the CPU supports)")
    if rc == -2:
        raise ImportError(
            f"CYCONV_KERNELS={name!r}: this CPU (or build) cannot run the {name} kernels; "
            f"supported here: {', '.join(supported_kernels())}")


def supported_kernels():
    """The kernel sets this build and CPU can run, slowest first."""
    return tuple(k for k in KERNEL_SETS if cyc_kernels_supported(k.encode()))


def kernel_info():
    """(name, (float32 MR, NR, KC, MC, NC), (float64 ...)) of the set in use."""
    cdef const cyc_kernel_set *ks = cyc_kernels()
    return (ks.name.decode(),
            (ks.f32.mr, ks.f32.nr, ks.f32.kc, ks.f32.mc, ks.f32.nc),
            (ks.f64.mr, ks.f64.nr, ks.f64.kc, ks.f64.mc, ks.f64.nc))


def _select_for_tests(name):
    """Switch the kernel set in this process (tests compare builds); returns the old name."""
    old = cyc_kernels().name.decode()
    if cyc_select_kernels(name.encode()) != 0:
        raise ValueError(f"kernel set {name!r} is not available here")
    return old


def _threads_for(double work, cyc_int tiles):
    """The engine's thread count for a call of ``work`` GEMM multiply-adds in ``tiles``
    tiles (tests of the grain and of the busy-machine mark)."""
    return cyc_threads_for(work, tiles)


def _set_busy(double seconds):
    """Mark the machine busy for ``seconds`` (0: idle), as a late team thread would."""
    cyc_set_busy(seconds)


def _machine_busy():
    return bool(cyc_machine_busy())


def _team_arrived(double delay, int tid):
    """A team thread ``tid`` joining ``delay`` seconds after its region opened."""
    cyc_team_arrived(cyc_now() - delay, tid)


_select_at_import()


cdef int _poll(void *arg) noexcept nogil:
    cdef int r
    with gil:
        r = _check_signals()
    return r != 0


cdef int _raise_pending() except -1:
    return -1  # the exception PyErr_CheckSignals set in _poll is pending


cdef inline void* _data(cnp.ndarray a):
    return cnp.PyArray_DATA(a)


def conv2d_forward(cnp.ndarray x, cnp.ndarray w, object bias, cnp.ndarray y, tuple geom,
                   Py_ssize_t groups, bint nhwc, size_t limit, int _path=0):
    """y = conv2d(x, w) (+ bias): canonical arrays of one dtype, validated shapes.

    x (N, C_in, H, W) (nhwc: (N, H, W, C_in)), w (C_out, C_in/groups, kh, kw), y the
    result; geom = (kh, kw, sh, sw, dh, dw, pt, pl, ho, wo); limit the per-call bytes of
    per-thread panels (never changes results). Returns the bytes the call allocated.
    ``_path`` (tests): 0 the engine's choice, 1 the GEMM, 2 the direct depthwise path.
    """
    cdef cyc_conv_geom g
    cdef cnp.npy_intp* xd = cnp.PyArray_DIMS(x)
    cdef cnp.npy_intp* wd = cnp.PyArray_DIMS(w)
    g.n = xd[0]
    if nhwc:
        g.h = xd[1]; g.w = xd[2]; g.c_in = xd[3]
    else:
        g.c_in = xd[1]; g.h = xd[2]; g.w = xd[3]
    g.c_out = wd[0]
    g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.ho, g.wo = geom
    g.groups = groups
    g.nhwc = nhwc
    cdef int dtype = CYC_F64 if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT64 else CYC_F32
    cdef const void* bp = NULL
    if bias is not None:
        bp = _data(<cnp.ndarray>bias)
    cdef const void* xp = _data(x)
    cdef const void* wp = _data(w)
    cdef void* yp = _data(y)
    cdef cyc_interrupt intr
    cyc_interrupt_init(&intr, _poll, NULL)
    cdef int rc
    cdef size_t used = 0
    with nogil:
        rc = cyc_conv2d_forward_path(dtype, &g, xp, wp, bp, yp, limit, 0, &intr, &used, _path)
    if rc == CYC_INTERRUPTED:
        _raise_pending()
    if rc == CYC_NOMEM:
        raise MemoryError("conv2d: out of memory for the engine's packed panels")
    return used


include "_engine_backward.pxi"
