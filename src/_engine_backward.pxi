# The convolution gradients on the engine (src/engine/conv_backward.h), included into
# _engine.pyx: the input gradient (= conv_transpose2d), the weight and bias gradients.

cdef extern from "engine/conv_backward.h" nogil:
    ctypedef struct cyc_bwd_geom:
        cyc_int n, c_in, h, w, c_out, ho, wo, kh, kw, sh, sw, dh, dw, pt, pl, groups
        int nhwc
    int cyc_bwd_data(int dtype, const cyc_bwd_geom *g, const void *dy, const void *w,
                     const void *bias, void *dx, cyc_interrupt *intr)
    int cyc_bwd_weight(int dtype, const cyc_bwd_geom *g, const void *dy, const void *x,
                       void *dw, cyc_interrupt *intr)
    int cyc_bwd_bias(int dtype, const cyc_bwd_geom *g, const void *dy, void *db)
    int cyc_bwd_is_direct(const cyc_bwd_geom *g)
    void cyc_bwd_force_gemm(int on)


def conv2d_backward(cnp.ndarray gy, object x, cnp.ndarray w, object dx, object dw, object db,
                    tuple geom, Py_ssize_t groups, bint nhwc, object bias=None):
    """The requested gradients of conv2d, written into dx, dw, db (each may be None).

    Canonical arrays of one dtype with validated shapes: gy (N, C_out, Ho, Wo) (nhwc: (N,
    Ho, Wo, C_out)), x and dx the input's shape (x only for dw; dx's spatial size is the
    input's), w (C_out, C_in/groups, kh, kw), dw w's shape, db (C_out,); geom = (kh, kw,
    sh, sw, dh, dw, pt, pl, ho, wo). ``bias`` (C_in,) is dx's initial value: with gy a
    transposed convolution's input, dx is conv_transpose2d's result. Every element of dx,
    dw and db is written.
    """
    cdef cyc_bwd_geom g
    cdef cnp.ndarray img = <cnp.ndarray>(dx if dx is not None else x)
    cdef cnp.npy_intp* d = cnp.PyArray_DIMS(img)
    g.n = cnp.PyArray_DIMS(gy)[0]
    if nhwc:
        g.h = d[1]; g.w = d[2]
    else:
        g.h = d[2]; g.w = d[3]
    g.c_out = cnp.PyArray_DIMS(w)[0]
    g.c_in = cnp.PyArray_DIMS(w)[1] * groups
    g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.ho, g.wo = geom
    g.groups = groups
    g.nhwc = nhwc
    cdef int dtype = CYC_F64 if cnp.PyArray_TYPE(gy) == cnp.NPY_FLOAT64 else CYC_F32
    cdef const void* gp = _data(gy)
    cdef const void* wp = _data(w)
    cdef const void* xp = NULL
    cdef const void* bp = NULL
    cdef void* dxp = NULL
    cdef void* dwp = NULL
    cdef void* dbp = NULL
    if x is not None:
        xp = _data(<cnp.ndarray>x)
    if bias is not None:
        bp = _data(<cnp.ndarray>bias)
    if dx is not None:
        dxp = _data(<cnp.ndarray>dx)
    if dw is not None:
        dwp = _data(<cnp.ndarray>dw)
    if db is not None:
        dbp = _data(<cnp.ndarray>db)
    cdef cyc_interrupt intr
    cyc_interrupt_init(&intr, _poll, NULL)
    cdef int rc = 0
    with nogil:
        if dxp != NULL:
            rc = cyc_bwd_data(dtype, &g, gp, wp, bp, dxp, &intr)
        if rc == 0 and dwp != NULL:
            rc = cyc_bwd_weight(dtype, &g, gp, xp, dwp, &intr)
        if rc == 0 and dbp != NULL:
            rc = cyc_bwd_bias(dtype, &g, gp, dbp)
    if rc == 1:
        _raise_pending()
    if rc < 0:
        raise MemoryError("conv2d_backward: out of memory for the engine's packed panels")


def backward_is_direct(tuple shape_args):
    """Whether (c_in, c_out, groups) take the direct loops (for tests)."""
    cdef cyc_bwd_geom g
    g.c_in, g.c_out, g.groups = shape_args
    return bool(cyc_bwd_is_direct(&g))


def _backward_force_gemm(bint on):
    """Tests: send every geometry through the GEMM drivers (True) or not (False)."""
    cyc_bwd_force_gemm(on)
