# Patch gathering (im2col) for the GEMM convolutions, shared by the forward and
# backward passes.
#
# The column matrix of one image, for input channels [c0, c0 + cn) and output rows
# [oh0, oh1), has one row per kernel tap and one column per output position:
#
#     cols[(c - c0)*kh*kw + i*kw + j, col0 + (oh - oh0)*wo + ow]
#         = x[c, oh*sh - pad_top + i*dh, ow*sw - pad_left + j*dw]     (0 outside x)
#
# so that weight.reshape(C_out, cn*kh*kw) @ cols is the convolution of those output
# rows. Zero padding is virtual: bottom/right padding needs no parameter, since every
# index past the input's end reads as 0 (the output size already accounts for it).
# Non-zero padding modes are applied by the Python layer before the kernels run.
#
# Everything here trusts its arguments (the Python layer validated them) and never
# raises. `im2col_row` is the serial building block; `im2col` spreads the rows over
# the OpenMP threads when called outside a parallel region (inside one it runs
# serially on the calling thread, as nested parallelism is off).

from cython.parallel cimport prange
from _types cimport real_t


ctypedef struct ConvGeom:
    Py_ssize_t kh, kw      # kernel size
    Py_ssize_t sh, sw      # stride
    Py_ssize_t dh, dw      # dilation
    Py_ssize_t pt, pl      # zero padding at the top and the left (bottom/right are implicit)
    Py_ssize_t ho, wo      # full output size (wo = the width of every output row)


cdef inline ConvGeom make_geom(Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                               Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pt, Py_ssize_t pl,
                               Py_ssize_t ho, Py_ssize_t wo) noexcept nogil:
    cdef ConvGeom g
    g.kh = kh
    g.kw = kw
    g.sh = sh
    g.sw = sw
    g.dh = dh
    g.dw = dw
    g.pt = pt
    g.pl = pl
    g.ho = ho
    g.wo = wo
    return g


cdef inline void valid_ow(const ConvGeom* g, Py_ssize_t w, Py_ssize_t j,
                          Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """The output columns [lo, hi) whose tap j reads inside the input width w."""
    cdef Py_ssize_t off = j * g.dw - g.pl      # input column of output column 0
    cdef Py_ssize_t a, b
    # lo = smallest ow >= 0 with ow*sw + off >= 0
    if off >= 0:
        a = 0
    else:
        a = (-off + g.sw - 1) // g.sw
    # hi = smallest ow with ow*sw + off >= w  (number of ow with iw < w)
    if w - off <= 0:
        b = 0
    else:
        b = (w - off + g.sw - 1) // g.sw
    if b > g.wo:
        b = g.wo
    if a > b:
        a = b
    lo[0] = a
    hi[0] = b


cdef inline void im2col_row(const real_t* plane, Py_ssize_t h, Py_ssize_t w,
                            const ConvGeom* g, Py_ssize_t i, Py_ssize_t j,
                            Py_ssize_t oh0, Py_ssize_t oh1, real_t* dst) noexcept nogil:
    """One row of the column matrix: tap (i, j) of one input plane (h x w, C order).

    Writes (oh1 - oh0) * g.wo values to dst: for each output row oh in [oh0, oh1)
    and column ow, plane[oh*sh - pt + i*dh, ow*sw - pl + j*dw] or 0 outside the plane.
    """
    cdef Py_ssize_t lo, hi, oh, ow, ih, iw0
    cdef Py_ssize_t wo = g.wo, sw = g.sw
    cdef const real_t* src
    valid_ow(g, w, j, &lo, &hi)
    iw0 = j * g.dw - g.pl
    for oh in range(oh0, oh1):
        ih = oh * g.sh - g.pt + i * g.dh
        if ih < 0 or ih >= h or lo >= hi:
            for ow in range(wo):
                dst[ow] = 0
        else:
            src = plane + ih * w + iw0
            for ow in range(lo):
                dst[ow] = 0
            if sw == 1:
                for ow in range(lo, hi):
                    dst[ow] = src[ow]
            else:
                for ow in range(lo, hi):
                    dst[ow] = src[ow * sw]
            for ow in range(hi, wo):
                dst[ow] = 0
        dst += wo


cdef inline void im2col(const real_t[:, :, ::1] x, const ConvGeom* g,
                        Py_ssize_t c0, Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1,
                        real_t[:, ::1] cols, Py_ssize_t col0) noexcept nogil:
    """Gather channels [c0, c0+cn) of one image x (C, H, W) for output rows [oh0, oh1).

    Fills cols[0 : cn*kh*kw, col0 : col0 + (oh1-oh0)*wo] (see the file header), in
    parallel over the rows of cols.
    """
    cdef Py_ssize_t h = x.shape[1], w = x.shape[2]
    cdef Py_ssize_t taps = g.kh * g.kw
    cdef Py_ssize_t r, c, t
    cdef Py_ssize_t ld = cols.strides[0] // sizeof(real_t)
    cdef const real_t* base = &x[0, 0, 0]
    cdef real_t* out = &cols[0, 0]
    for r in prange(cn * taps, schedule="static"):
        c = c0 + r // taps
        t = r % taps
        im2col_row(base + c * h * w, h, w, g, t // g.kw, t % g.kw, oh0, oh1,
                   out + r * ld + col0)
