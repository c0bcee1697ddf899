# Column scattering (col2im): the adjoint of im2col (see _im2col.pxd).
#
# Where im2col copies
#
#     cols[(c - c0)*kh*kw + i*kw + j, col0 + (oh - oh0)*wo + ow]
#         = x[c, oh*sh - pad_top + i*dh, ow*sw - pad_left + j*dw]     (0 outside x)
#
# col2im adds every column entry back onto the image cell it was read from, and drops
# the entries that im2col read from the (virtual) zero padding. Overlapping windows
# add up. This is the input gradient of a convolution once the columns hold
# weight^T @ grad_output, and the whole of a transposed convolution.
#
# Everything here trusts its arguments and never raises. `col2im_row` is the serial
# building block; it only touches image rows in [ih_lo, ih_hi), so that threads given
# disjoint (plane, row band) pairs never write the same cell. `col2im` spreads the
# channels of one image over the OpenMP threads.

from cython.parallel cimport prange
from _types cimport real_t
from _im2col cimport ConvGeom, valid_ow


cdef inline void col2im_row(const real_t* src, Py_ssize_t h, Py_ssize_t w,
                            const ConvGeom* g, Py_ssize_t i, Py_ssize_t j,
                            Py_ssize_t oh0, Py_ssize_t oh1,
                            Py_ssize_t ih_lo, Py_ssize_t ih_hi, real_t* plane) noexcept nogil:
    """Add one row of the column matrix (tap (i, j)) onto a plane (h x w, C order).

    src holds (oh1 - oh0) * g.wo values: for output row oh and column ow, the value
    goes to plane[oh*sh - pt + i*dh, ow*sw - pl + j*dw] when that cell is inside the
    plane and its row inside [ih_lo, ih_hi).
    """
    cdef Py_ssize_t lo, hi, oh, ow, ih, iw0
    cdef Py_ssize_t wo = g.wo, sw = g.sw
    cdef real_t* dst
    valid_ow(g, w, j, &lo, &hi)
    if lo >= hi:
        return
    iw0 = j * g.dw - g.pl
    for oh in range(oh0, oh1):
        ih = oh * g.sh - g.pt + i * g.dh
        if ih >= ih_lo and ih < ih_hi and ih >= 0 and ih < h:
            dst = plane + ih * w + iw0
            if sw == 1:
                for ow in range(lo, hi):
                    dst[ow] += src[ow]
            else:
                for ow in range(lo, hi):
                    dst[ow * sw] += src[ow]
        src += wo


cdef inline void col2im(const real_t[:, ::1] cols, Py_ssize_t col0, const ConvGeom* g,
                        real_t[:, :, ::1] x, Py_ssize_t c0, Py_ssize_t cn,
                        Py_ssize_t oh0, Py_ssize_t oh1) noexcept nogil:
    """Add cols[0 : cn*kh*kw, col0 : col0 + (oh1-oh0)*wo] onto channels [c0, c0+cn) of x.

    x is one image (C, H, W); parallel over its channels (each thread owns whole planes).
    """
    cdef Py_ssize_t h = x.shape[1], w = x.shape[2]
    cdef Py_ssize_t taps = g.kh * g.kw
    cdef Py_ssize_t c, t
    cdef Py_ssize_t ld = cols.shape[1]
    cdef const real_t* base = &cols[0, 0]
    cdef real_t* img = &x[0, 0, 0]
    for c in prange(cn, schedule="static"):
        for t in range(taps):
            col2im_row(base + (c * taps + t) * ld + col0, h, w, g, t // g.kw, t % g.kw,
                       oh0, oh1, 0, h, img + (c0 + c) * h * w)
