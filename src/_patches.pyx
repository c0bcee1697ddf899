"""unfold (public im2col) and fold (its adjoint, col2im), in NCHW and NHWC.

The Python layer (cyconv._unfold) has validated and normalised everything: arrays are
C-contiguous, native byte order, float32/float64, batched, with at least one cell in each
spatial axis; the output sizes ``Ho``, ``Wo`` already account for the bottom/right padding,
so only the top/left padding ``pt``, ``pl`` is passed. Padding is zeros and virtual.

Patch matrix, for output position ``l = oh*Wo + ow`` and tap ``(i, j)``, the input cell
``(oh*sh - pt + i*dh, ow*sw - pl + j*dw)`` (zero outside the input):

- NCHW: ``cols[n, (c*kh + i)*kw + j, l]``, PyTorch's ``unfold``: one kernel tap of one
  channel per row, so a row is a strided copy of input rows;
- NHWC: ``cols[n, l, (i*kw + j)*C + c]``, channels fastest (TensorFlow's
  ``extract_patches``): each tap is a contiguous copy of ``C`` values.

``fold`` adds every entry back onto the cell it came from (overlapping patches add up) and
drops the entries that came from padding. Work units write disjoint memory: a row of the
patch matrix (unfold NCHW), an output row (unfold NHWC), a whole plane (fold NCHW) or a
block of channels of one image (fold NHWC).
"""
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from _types cimport real_t


cdef inline Py_ssize_t _lo(Py_ssize_t n_out, Py_ssize_t s, Py_ssize_t off) noexcept nogil:
    """The first output ``o`` with ``o*s + off >= 0`` (at most ``n_out``)."""
    cdef Py_ssize_t a = 0 if off >= 0 else (-off + s - 1) // s
    return min(a, n_out)


cdef inline Py_ssize_t _hi(Py_ssize_t n, Py_ssize_t n_out, Py_ssize_t s, Py_ssize_t off) noexcept nogil:
    """One past the last output ``o`` (at most ``n_out``) with ``o*s + off < n``."""
    cdef Py_ssize_t b = 0 if n - off <= 0 else (n - off + s - 1) // s
    return min(b, n_out)


cdef inline void _unfold_row(const real_t* plane, real_t* dst, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t roff, Py_ssize_t off, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t Ho, Py_ssize_t Wo) noexcept nogil:
    """One patch-matrix row: ``dst[oh*Wo + ow] = plane[oh*sh + roff, ow*sw + off]`` (0 outside)."""
    cdef Py_ssize_t oh, ow, ih
    cdef Py_ssize_t lo = _lo(Wo, sw, off), hi = _hi(W, Wo, sw, off)
    cdef const real_t* src
    for oh in range(Ho):
        ih = oh * sh + roff
        if ih < 0 or ih >= H or lo >= hi:
            memset(dst, 0, Wo * sizeof(real_t))
        else:
            src = plane + ih * W + off
            if lo > 0:
                memset(dst, 0, lo * sizeof(real_t))
            if sw == 1:
                memcpy(dst + lo, src + lo, (hi - lo) * sizeof(real_t))
            else:
                for ow in range(lo, hi):
                    dst[ow] = src[ow * sw]
            if hi < Wo:
                memset(dst + hi, 0, (Wo - hi) * sizeof(real_t))
        dst += Wo


cdef void _unfold_nchw(const real_t[:, :, :, ::1] x, real_t[:, :, ::1] cols,
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pt, Py_ssize_t pl,
                       Py_ssize_t Ho, Py_ssize_t Wo, int num_threads) noexcept:
    """``cols[n, (c*kh + i)*kw + j, oh*Wo + ow] = x[n, c, oh*sh - pt + i*dh, ow*sw - pl + j*dw]``."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t rows = C * kh * kw
    cdef Py_ssize_t u, n, r, c, t, i, j
    cdef const real_t* src
    cdef real_t* dst
    if N == 0 or rows == 0:
        return
    with nogil:
        for u in prange(N * rows, schedule="static", num_threads=num_threads):
            n = u // rows
            r = u - n * rows
            c = r // (kh * kw)
            t = r - c * (kh * kw)
            i = t // kw
            j = t - i * kw
            _unfold_row(&x[n, c, 0, 0], &cols[n, r, 0], H, W, i * dh - pt, j * dw - pl,
                        sh, sw, Ho, Wo)


cdef inline void _unfold_nhwc_row(const real_t* img, real_t* dst, Py_ssize_t H, Py_ssize_t W,
                                  Py_ssize_t C, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t r0,
                                  Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pl,
                                  Py_ssize_t Wo) noexcept nogil:
    """The ``Wo`` patches of one output row (window top row ``r0``), ``C`` values per tap."""
    cdef Py_ssize_t ow, i, j, ih, iw, iw0
    cdef size_t nbytes = C * sizeof(real_t)
    for ow in range(Wo):
        iw0 = ow * sw - pl
        for i in range(kh):
            ih = r0 + i * dh
            if dw == 1 and ih >= 0 and ih < H and iw0 >= 0 and iw0 + kw <= W:
                # an undilated kernel row inside the image: kw*C contiguous values
                memcpy(dst, img + (ih * W + iw0) * C, kw * nbytes)
                dst += kw * C
                continue
            for j in range(kw):
                iw = iw0 + j * dw
                if ih < 0 or ih >= H or iw < 0 or iw >= W:
                    memset(dst, 0, nbytes)
                else:
                    memcpy(dst, img + (ih * W + iw) * C, nbytes)
                dst += C


cdef void _unfold_nhwc(const real_t[:, :, :, ::1] x, real_t[:, :, ::1] cols,
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pt, Py_ssize_t pl,
                       Py_ssize_t Ho, Py_ssize_t Wo, int num_threads) noexcept:
    """``cols[n, oh*Wo + ow, (i*kw + j)*C + c] = x[n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, c]``."""
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t u, n, oh, ow, i, j, ih, iw
    cdef Py_ssize_t nbytes = C * sizeof(real_t)
    cdef real_t* dst
    if N == 0 or C == 0:
        return
    with nogil:
        for u in prange(N * Ho, schedule="static", num_threads=num_threads):
            n = u // Ho
            oh = u - n * Ho
            _unfold_nhwc_row(&x[n, 0, 0, 0], &cols[n, oh * Wo, 0], H, W, C, kh, kw,
                             oh * sh - pt, sw, dh, dw, pl, Wo)


cdef inline void _fold_row(const real_t* src, real_t* plane, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t roff, Py_ssize_t off, Py_ssize_t sh, Py_ssize_t sw,
                           Py_ssize_t Ho, Py_ssize_t Wo) noexcept nogil:
    """Add one patch-matrix row back: ``plane[oh*sh + roff, ow*sw + off] += src[oh*Wo + ow]``."""
    cdef Py_ssize_t oh, ow, ih
    cdef Py_ssize_t lo = _lo(Wo, sw, off), hi = _hi(W, Wo, sw, off)
    cdef real_t* dst
    if lo >= hi:
        return
    for oh in range(Ho):
        ih = oh * sh + roff
        if ih >= 0 and ih < H:
            dst = plane + ih * W + off
            if sw == 1:
                for ow in range(lo, hi):
                    dst[ow] = dst[ow] + src[ow]
            else:
                for ow in range(lo, hi):
                    dst[ow * sw] = dst[ow * sw] + src[ow]
        src += Wo


cdef void _fold_nchw(const real_t[:, :, ::1] cols, real_t[:, :, :, ::1] out,
                     Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pt, Py_ssize_t pl,
                     Py_ssize_t Ho, Py_ssize_t Wo, int num_threads) noexcept:
    """The adjoint of :func:`unfold_nchw`: ``out`` is zeroed, then every entry added back."""
    cdef Py_ssize_t N = out.shape[0], C = out.shape[1], H = out.shape[2], W = out.shape[3]
    cdef Py_ssize_t taps = kh * kw
    cdef Py_ssize_t u, n, c, t, i, j
    cdef const real_t* src
    cdef real_t* dst
    if N == 0 or C == 0:
        return
    with nogil:
        for u in prange(N * C, schedule="static", num_threads=num_threads):
            n = u // C
            c = u - n * C
            memset(&out[n, c, 0, 0], 0, H * W * sizeof(real_t))
            for t in range(taps):
                i = t // kw
                j = t - i * kw
                _fold_row(&cols[n, c * taps + t, 0], &out[n, c, 0, 0], H, W, i * dh - pt,
                          j * dw - pl, sh, sw, Ho, Wo)


cdef void _fold_nhwc(const real_t[:, :, ::1] cols, real_t[:, :, :, ::1] out,
                     Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                     Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pt, Py_ssize_t pl,
                     Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t cb, int num_threads) noexcept:
    """The adjoint of :func:`unfold_nhwc`; a unit is channels ``[c0, c0 + cb)`` of one image."""
    cdef Py_ssize_t N = out.shape[0], H = out.shape[1], W = out.shape[2], C = out.shape[3]
    cdef Py_ssize_t nb = (C + cb - 1) // cb
    cdef Py_ssize_t K = kh * kw * C
    cdef Py_ssize_t u, n, b, c0, c1, c, h, oh, ow, i, j, ih, iw
    cdef const real_t* src
    cdef real_t* dst
    if N == 0 or C == 0:
        return
    with nogil:
        for u in prange(N * nb, schedule="static", num_threads=num_threads):
            n = u // nb
            b = u - n * nb
            c0 = b * cb
            c1 = min(C, c0 + cb)
            for h in range(H):
                for ow in range(W):
                    dst = &out[n, h, ow, 0]
                    for c in range(c0, c1):
                        dst[c] = 0
            for oh in range(Ho):
                for ow in range(Wo):
                    src = &cols[n, oh * Wo + ow, 0]
                    for i in range(kh):
                        ih = oh * sh - pt + i * dh
                        if ih < 0 or ih >= H:
                            continue
                        for j in range(kw):
                            iw = ow * sw - pl + j * dw
                            if iw < 0 or iw >= W:
                                continue
                            dst = &out[n, ih, iw, 0]
                            for c in range(c0, c1):
                                dst[c] = dst[c] + src[(i * kw + j) * C + c]


def unfold(x, cols, const Py_ssize_t[::1] g, bint nhwc, int num_threads):
    """The patch matrix of ``x`` into ``cols``; ``g = (kh, kw, sh, sw, dh, dw, pt, pl, Ho, Wo)``.

    One entry point for both layouts and dtypes (each ``def`` with fused arguments costs
    kilobytes of argument-parsing code per specialisation).
    """
    if x.itemsize == 4:
        if nhwc:
            _unfold_nhwc[float](x, cols, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], num_threads)
        else:
            _unfold_nchw[float](x, cols, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], num_threads)
    elif nhwc:
        _unfold_nhwc[double](x, cols, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], num_threads)
    else:
        _unfold_nchw[double](x, cols, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], num_threads)


def fold(cols, out, const Py_ssize_t[::1] g, bint nhwc, int num_threads):
    """Add ``cols`` back into ``out`` (zeroed first); ``g`` as for :func:`unfold`, plus the
    channel block ``cb`` of the NHWC units."""
    if out.itemsize == 4:
        if nhwc:
            _fold_nhwc[float](cols, out, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10],
                              num_threads)
        else:
            _fold_nchw[float](cols, out, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], num_threads)
    elif nhwc:
        _fold_nhwc[double](cols, out, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10],
                           num_threads)
    else:
        _fold_nchw[double](cols, out, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], num_threads)
