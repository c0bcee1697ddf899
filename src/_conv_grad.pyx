"""Convolution gradients: conv2d's input, weight and bias gradients, conv_transpose2d.

Two strategies, chosen by the Python layer (``_convolution_grad.py``):

* GEMM: the input gradient is ``weight^T @ grad_output`` scattered back by col2im, the
  weight gradient ``grad_output @ im2col(x)^T`` summed over images. The GEMMs are
  NumPy's (``np.matmul``); this module gathers and scatters the columns, blocked over
  images and output rows so that the column workspace stays bounded.
* Direct: loops over taps with whole output rows as the inner loop, no workspace.
  Used when there are few taps per output value (one input channel per group:
  depthwise, single-channel images) or when the workspace cannot hold one row.

Every kernel trusts its arguments (validated by the Python layer) and never raises.
Parallel loops give each thread whole planes, planes' row bands or whole output
channels, so no two threads ever write the same element.
"""

import numpy as np

from cython.parallel cimport prange, threadid
from libc.stdlib cimport malloc, free
from _types cimport real_t
from _omp cimport omp_get_max_threads
from _im2col cimport ConvGeom, make_geom, valid_ow, im2col_row
from _col2im cimport col2im_row


# Below this many multiply-adds a kernel runs on one thread: starting the pool costs
# more than it saves.
cdef enum:
    SERIAL_WORK = 262144


cdef inline ConvGeom _geom(tuple geom):
    kh, kw, sh, sw, dh, dw, pt, pl, ho, wo = geom
    return make_geom(kh, kw, sh, sw, dh, dw, pt, pl, ho, wo)


cdef inline int _threads(Py_ssize_t work, Py_ssize_t tasks) noexcept nogil:
    """Threads worth using for `work` multiply-adds split into `tasks` pieces."""
    cdef int nt = omp_get_max_threads()
    if work < SERIAL_WORK or tasks < 2:
        return 1
    if tasks < nt:
        return <int>tasks
    return nt


cdef inline Py_ssize_t _bands(Py_ssize_t planes, Py_ssize_t h, int nt) noexcept nogil:
    """Row bands per plane so that there are a few tasks per thread."""
    cdef Py_ssize_t want = 4 * nt
    cdef Py_ssize_t b
    if nt <= 1 or planes >= want:
        return 1
    b = (want + planes - 1) // planes
    if b > h:
        b = h
    return b


# ---------------------------------------------------------------------------------
# GEMM building blocks: gather (im2col) and scatter (col2im) for a block of images


def gather(const real_t[:, :, :, ::1] x, real_t[:, ::1] cols, Py_ssize_t n0, Py_ssize_t nb,
           Py_ssize_t c0, Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1, tuple geom,
           int max_threads=0):
    """im2col of images [n0, n0+nb), channels [c0, c0+cn), output rows [oh0, oh1).

    Image b's columns start at column b*(oh1-oh0)*wo of cols (cn*kh*kw rows).
    """
    cdef ConvGeom g = _geom(geom)
    cdef Py_ssize_t taps = g.kh * g.kw
    cdef Py_ssize_t rows = cn * taps
    cdef Py_ssize_t h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t per_image = (oh1 - oh0) * g.wo
    cdef Py_ssize_t ld = cols.shape[1]
    cdef Py_ssize_t task, b, r, t
    cdef int nt = _threads(nb * rows * per_image, nb * rows)
    if 0 < max_threads < nt:
        nt = max_threads
    cdef const real_t* base = &x[0, 0, 0, 0]
    cdef real_t* out = &cols[0, 0]
    with nogil:
        for task in prange(nb * rows, schedule="static", num_threads=nt):
            b = task // rows
            r = task % rows
            t = r % taps
            im2col_row(base + ((n0 + b) * x.shape[1] + c0 + r // taps) * h * w, h, w, &g,
                       t // g.kw, t % g.kw, oh0, oh1, out + r * ld + b * per_image)


def scatter(const real_t[:, ::1] cols, real_t[:, :, :, ::1] dx, Py_ssize_t n0, Py_ssize_t nb,
            Py_ssize_t c0, Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1, tuple geom,
            int max_threads=0):
    """col2im: add the columns laid out as :func:`gather` makes them onto dx."""
    cdef ConvGeom g = _geom(geom)
    cdef Py_ssize_t taps = g.kh * g.kw
    cdef Py_ssize_t h = dx.shape[2], w = dx.shape[3]
    cdef Py_ssize_t per_image = (oh1 - oh0) * g.wo
    cdef Py_ssize_t ld = cols.shape[1]
    cdef Py_ssize_t planes = nb * cn
    cdef int nt = _threads(planes * taps * per_image, planes * h)
    if 0 < max_threads < nt:
        nt = max_threads
    cdef Py_ssize_t nbands = _bands(planes, h, nt)
    cdef Py_ssize_t band_h = (h + nbands - 1) // nbands
    cdef Py_ssize_t task, plane, b, c, t, lo
    cdef const real_t* src = &cols[0, 0]
    cdef real_t* img = &dx[0, 0, 0, 0]
    with nogil:
        for task in prange(planes * nbands, schedule="static", num_threads=nt):
            plane = task // nbands
            lo = (task % nbands) * band_h
            b = plane // cn
            c = plane % cn
            for t in range(taps):
                col2im_row(src + (c * taps + t) * ld + b * per_image, h, w, &g,
                           t // g.kw, t % g.kw, oh0, oh1, lo, lo + band_h,
                           img + ((n0 + b) * dx.shape[1] + c0 + c) * h * w)


# ---------------------------------------------------------------------------------
# Direct kernels


cdef inline void _scatter_scaled(const real_t* src, real_t scale, Py_ssize_t h, Py_ssize_t w,
                                 const ConvGeom* g, Py_ssize_t i, Py_ssize_t j,
                                 Py_ssize_t ih_lo, Py_ssize_t ih_hi, real_t* plane) noexcept nogil:
    """plane[oh*sh - pt + i*dh, ow*sw - pl + j*dw] += scale * src[oh, ow] (inside the band)."""
    cdef Py_ssize_t lo, hi, oh, ow, ih, iw0
    cdef Py_ssize_t wo = g.wo, sw = g.sw
    cdef real_t* dst
    valid_ow(g, w, j, &lo, &hi)
    if lo >= hi:
        return
    iw0 = j * g.dw - g.pl
    for oh in range(g.ho):
        ih = oh * g.sh - g.pt + i * g.dh
        if ih >= ih_lo and ih < ih_hi and ih >= 0 and ih < h:
            dst = plane + ih * w + iw0
            if sw == 1:
                for ow in range(lo, hi):
                    dst[ow] += scale * src[ow]
            else:
                for ow in range(lo, hi):
                    dst[ow * sw] += scale * src[ow]
        src += wo


cdef void _direct_input(const real_t[:, :, :, ::1] gy, const real_t[:, :, :, ::1] weight,
                        real_t[:, :, :, ::1] dx, Py_ssize_t groups, const ConvGeom* g) noexcept nogil:
    """dx (zeroed, (N, C_in, H, W)) += the input gradient; no workspace.

    Each task owns one row band of one input plane and adds, for every output channel
    of its group and every tap, the scaled grad_output plane onto it.
    """
    cdef Py_ssize_t n_img = dx.shape[0], c_in = dx.shape[1], h = dx.shape[2], w = dx.shape[3]
    cdef Py_ssize_t c_out = gy.shape[1], cin_g = weight.shape[1]
    cdef Py_ssize_t cout_g = c_out // groups
    cdef Py_ssize_t taps = g.kh * g.kw, plane_out = g.ho * g.wo
    cdef Py_ssize_t planes = n_img * c_in
    cdef int nt = _threads(planes * cout_g * taps * plane_out, planes * h)
    cdef Py_ssize_t nbands = _bands(planes, h, nt)
    cdef Py_ssize_t band_h = (h + nbands - 1) // nbands
    cdef Py_ssize_t task, plane, n, c, grp, co, t, lo
    cdef const real_t* gbase = &gy[0, 0, 0, 0]
    cdef const real_t* wbase = &weight[0, 0, 0, 0]
    cdef real_t* img = &dx[0, 0, 0, 0]
    for task in prange(planes * nbands, schedule="static", num_threads=nt):
        plane = task // nbands
        lo = (task % nbands) * band_h
        n = plane // c_in
        c = plane % c_in
        grp = c // cin_g
        for co in range(grp * cout_g, (grp + 1) * cout_g):
            for t in range(taps):
                _scatter_scaled(gbase + (n * c_out + co) * plane_out,
                                wbase[(co * cin_g + c - grp * cin_g) * taps + t],
                                h, w, g, t // g.kw, t % g.kw, lo, lo + band_h,
                                img + plane * h * w)


cdef void _direct_weight(const real_t[:, :, :, ::1] gy, const real_t[:, :, :, ::1] x,
                         real_t[:, :, :, ::1] dweight, real_t[:, ::1] acc,
                         const Py_ssize_t* bounds, Py_ssize_t groups,
                         const ConvGeom* g) noexcept nogil:
    """dweight = the weight gradient, summed over the batch; no column workspace.

    One task per (output channel, input channel of its group). acc is per-thread
    scratch of shape (threads, kh*kw*wo): for each tap, a row of partial sums that the
    inner loop updates elementwise (so it vectorises) and that is summed at the end.
    bounds[j], bounds[kw + j]: the output columns [lo, hi) whose tap column j reads inside x.
    """
    cdef Py_ssize_t n_img = x.shape[0], c_in = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t c_out = dweight.shape[0], cin_g = dweight.shape[1]
    cdef Py_ssize_t cout_g = c_out // groups
    cdef Py_ssize_t taps = g.kh * g.kw, wo = g.wo, sw = g.sw
    cdef Py_ssize_t tasks = c_out * cin_g
    cdef int nt = _threads(n_img * tasks * taps * g.ho * wo, tasks)
    cdef Py_ssize_t task, co, cl, ci, n, i, j, t, oh, ih, ow, lo, hi, k
    cdef const real_t* grow
    cdef const real_t* xrow
    cdef real_t* a
    cdef double total
    cdef const real_t* gbase = &gy[0, 0, 0, 0]
    cdef const real_t* xbase = &x[0, 0, 0, 0]
    cdef real_t* abase = &acc[0, 0]
    cdef Py_ssize_t lda = acc.shape[1]
    if nt > acc.shape[0]:
        nt = <int>acc.shape[0]
    for task in prange(tasks, schedule="dynamic", num_threads=nt):
        co = task // cin_g
        cl = task % cin_g
        ci = (co // cout_g) * cin_g + cl
        a = abase + threadid() * lda
        for k in range(taps * wo):
            a[k] = 0
        for n in range(n_img):
            for oh in range(g.ho):
                grow = gbase + ((n * c_out + co) * g.ho + oh) * wo
                for i in range(g.kh):
                    ih = oh * g.sh - g.pt + i * g.dh
                    if ih < 0 or ih >= h:
                        continue
                    for j in range(g.kw):
                        lo = bounds[j]
                        hi = bounds[g.kw + j]
                        xrow = xbase + ((n * c_in + ci) * h + ih) * w + j * g.dw - g.pl
                        k = (i * g.kw + j) * wo
                        if sw == 1:
                            for ow in range(lo, hi):
                                a[k + ow] += grow[ow] * xrow[ow]
                        else:
                            for ow in range(lo, hi):
                                a[k + ow] += grow[ow] * xrow[ow * sw]
        for t in range(taps):
            total = 0
            for ow in range(wo):
                total = total + a[t * wo + ow]
            dweight[co, cl, t // g.kw, t % g.kw] = <real_t>total


cdef inline double _plane_sum(const real_t* p, Py_ssize_t m) noexcept nogil:
    """sum(p[:m]) with eight double partial sums."""
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef Py_ssize_t k, m8 = m - m % 8
    for k in range(0, m8, 8):
        s0 = s0 + p[k]
        s1 = s1 + p[k + 1]
        s2 = s2 + p[k + 2]
        s3 = s3 + p[k + 3]
        s4 = s4 + p[k + 4]
        s5 = s5 + p[k + 5]
        s6 = s6 + p[k + 6]
        s7 = s7 + p[k + 7]
    for k in range(m8, m):
        s0 = s0 + p[k]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


cdef void _bias(const real_t[:, :, :, ::1] gy, real_t[::1] dbias, int max_threads) noexcept nogil:
    """dbias[c] = sum of gy[:, c], accumulated in double."""
    cdef Py_ssize_t n_img = gy.shape[0], c_out = gy.shape[1], m = gy.shape[2] * gy.shape[3]
    cdef int nt = _threads(n_img * c_out * m, c_out)
    if 0 < max_threads < nt:
        nt = max_threads
    cdef Py_ssize_t c, n
    cdef double total
    cdef const real_t* base = &gy[0, 0, 0, 0]
    for c in prange(c_out, schedule="static", num_threads=nt):
        total = 0
        for n in range(n_img):
            total = total + _plane_sum(base + (n * c_out + c) * m, m)
        dbias[c] = <real_t>total


def bias_grad(const real_t[:, :, :, ::1] gy, real_t[::1] dbias, int max_threads=0):
    """dbias[c] = sum of gy[:, c] (gy is (N, C, Ho, Wo) with N >= 1)."""
    with nogil:
        _bias(gy, dbias, max_threads)


cdef inline double _plane_dot(const real_t* gplane, const real_t* xplane, Py_ssize_t h,
                              Py_ssize_t w, const ConvGeom* g, Py_ssize_t i, Py_ssize_t j,
                              Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """The weight gradient of tap (i, j) from one (grad_output, input) plane pair:
    sum over output rows of dot(grad_output row, the input row it read), with eight
    partial sums kept across the rows (unit stride vectorises, one reduction)."""
    cdef real_t p0 = 0, p1 = 0, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0
    cdef double tail = 0
    cdef Py_ssize_t oh, ih, k, n8 = lo + (hi - lo) - (hi - lo) % 8, sw = g.sw
    cdef const real_t* a
    cdef const real_t* b
    if lo >= hi:
        return 0
    for oh in range(g.ho):
        ih = oh * g.sh - g.pt + i * g.dh
        if ih < 0 or ih >= h:
            continue
        a = gplane + oh * g.wo
        b = xplane + ih * w + j * g.dw - g.pl
        if sw == 1:
            for k in range(lo, n8, 8):
                p0 = p0 + a[k] * b[k]
                p1 = p1 + a[k + 1] * b[k + 1]
                p2 = p2 + a[k + 2] * b[k + 2]
                p3 = p3 + a[k + 3] * b[k + 3]
                p4 = p4 + a[k + 4] * b[k + 4]
                p5 = p5 + a[k + 5] * b[k + 5]
                p6 = p6 + a[k + 6] * b[k + 6]
                p7 = p7 + a[k + 7] * b[k + 7]
            for k in range(n8, hi):
                tail = tail + a[k] * b[k]
        else:
            for k in range(lo, hi):
                tail = tail + a[k] * b[k * sw]
    return tail + <double>(((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)))


cdef inline void _scatter_row3(real_t* dst, const real_t* src, real_t w0, real_t w1,
                               real_t w2, Py_ssize_t d, Py_ssize_t lo0, Py_ssize_t hi0,
                               Py_ssize_t lo1, Py_ssize_t hi1, Py_ssize_t lo2,
                               Py_ssize_t hi2) noexcept nogil:
    """dst[ow + j*d] += w_j * src[ow] for the three taps j of a kernel row, ow in
    [lo_j, hi_j) (unit stride): one pass over dst where all three taps are valid."""
    cdef Py_ssize_t ow, a, b
    # dst position p takes src[p], src[p - d], src[p - 2d] from taps 0, 1, 2
    a = lo0
    if lo1 + d > a:
        a = lo1 + d
    if lo2 + 2 * d > a:
        a = lo2 + 2 * d
    b = hi0
    if hi1 + d < b:
        b = hi1 + d
    if hi2 + 2 * d < b:
        b = hi2 + 2 * d
    if a >= b:
        for ow in range(lo0, hi0):
            dst[ow] += w0 * src[ow]
        for ow in range(lo1, hi1):
            dst[ow + d] += w1 * src[ow]
        for ow in range(lo2, hi2):
            dst[ow + 2 * d] += w2 * src[ow]
        return
    for ow in range(lo0, a):
        dst[ow] += w0 * src[ow]
    for ow in range(lo1, a - d):
        dst[ow + d] += w1 * src[ow]
    for ow in range(lo2, a - 2 * d):
        dst[ow + 2 * d] += w2 * src[ow]
    for ow in range(a, b):
        dst[ow] += w0 * src[ow] + w1 * src[ow - d] + w2 * src[ow - 2 * d]
    for ow in range(b, hi0):
        dst[ow] += w0 * src[ow]
    for ow in range(b - d, hi1):
        dst[ow + d] += w1 * src[ow]
    for ow in range(b - 2 * d, hi2):
        dst[ow + 2 * d] += w2 * src[ow]


cdef inline void _gather_rows9(real_t* dst, const real_t* s0, const real_t* s1,
                               const real_t* s2, const real_t* wk, Py_ssize_t d,
                               Py_ssize_t lo0, Py_ssize_t hi0, Py_ssize_t lo1, Py_ssize_t hi1,
                               Py_ssize_t lo2, Py_ssize_t hi2) noexcept nogil:
    """A 3x3 kernel's nine taps onto one input-gradient row in one pass: s_i is the
    grad_output row kernel row i reads it from, wk the 3x3 weights; otherwise as
    _scatter_row3 (dst[ow + j*d] += wk[i, j] * s_i[ow], ow in [lo_j, hi_j))."""
    cdef Py_ssize_t ow, a, b
    cdef real_t w00 = wk[0], w01 = wk[1], w02 = wk[2]
    cdef real_t w10 = wk[3], w11 = wk[4], w12 = wk[5]
    cdef real_t w20 = wk[6], w21 = wk[7], w22 = wk[8]
    a = lo0
    if lo1 + d > a:
        a = lo1 + d
    if lo2 + 2 * d > a:
        a = lo2 + 2 * d
    b = hi0
    if hi1 + d < b:
        b = hi1 + d
    if hi2 + 2 * d < b:
        b = hi2 + 2 * d
    if a >= b:
        _scatter_row3(dst, s0, w00, w01, w02, d, lo0, hi0, lo1, hi1, lo2, hi2)
        _scatter_row3(dst, s1, w10, w11, w12, d, lo0, hi0, lo1, hi1, lo2, hi2)
        _scatter_row3(dst, s2, w20, w21, w22, d, lo0, hi0, lo1, hi1, lo2, hi2)
        return
    for ow in range(a, b):
        dst[ow] += (w00 * s0[ow] + w01 * s0[ow - d] + w02 * s0[ow - 2 * d]
                    + w10 * s1[ow] + w11 * s1[ow - d] + w12 * s1[ow - 2 * d]
                    + w20 * s2[ow] + w21 * s2[ow - d] + w22 * s2[ow - 2 * d])
    # the edges, tap by tap
    for ow in range(lo0, a):
        dst[ow] += w00 * s0[ow] + w10 * s1[ow] + w20 * s2[ow]
    for ow in range(b, hi0):
        dst[ow] += w00 * s0[ow] + w10 * s1[ow] + w20 * s2[ow]
    for ow in range(lo1, a - d):
        dst[ow + d] += w01 * s0[ow] + w11 * s1[ow] + w21 * s2[ow]
    for ow in range(b - d, hi1):
        dst[ow + d] += w01 * s0[ow] + w11 * s1[ow] + w21 * s2[ow]
    for ow in range(lo2, a - 2 * d):
        dst[ow + 2 * d] += w02 * s0[ow] + w12 * s1[ow] + w22 * s2[ow]
    for ow in range(b - 2 * d, hi2):
        dst[ow + 2 * d] += w02 * s0[ow] + w12 * s1[ow] + w22 * s2[ow]


cdef void _per_channel(const real_t[:, :, :, ::1] gy, const real_t[:, :, :, ::1] x,
                       const real_t[:, :, :, ::1] weight, real_t[:, :, :, ::1] dx,
                       real_t[:, :, :, ::1] dweight, real_t[::1] dbias, double[:, ::1] tot,
                       const Py_ssize_t* bounds, Py_ssize_t c_in, Py_ssize_t h,
                       Py_ssize_t w, bint want_dx, bint want_dw, bint want_db,
                       const ConvGeom* g) noexcept nogil:
    """All three gradients of a convolution with one input channel per group.

    One task per input channel c (and so per group): for every image it adds the
    input gradient onto dx[n, c], and the weight and bias gradients of the group's
    output channels into tot (the thread's (C_out/groups)*(kh*kw + 1) double sums),
    while grad_output's and x's planes are still in cache; one parallel region for
    the whole backward pass. bounds as for _direct_weight.
    """
    cdef Py_ssize_t n_img = gy.shape[0], c_out = gy.shape[1]
    cdef Py_ssize_t cout_g = c_out // c_in
    cdef Py_ssize_t taps = g.kh * g.kw, wo = g.wo, sw = g.sw, plane_out = g.ho * g.wo
    cdef int nt = _threads(2 * n_img * c_out * taps * plane_out, c_in)
    cdef Py_ssize_t c, n, m, co, t, i, j, oh, ih, lo, hi, k
    cdef const real_t* gplane
    cdef const real_t* grow
    cdef const real_t* xrow
    cdef const real_t* wk
    cdef real_t* drow
    cdef double* a
    cdef bint fuse3 = g.kw == 3 and sw == 1
    cdef bint fuse9 = fuse3 and g.kh == 3 and g.sh == 1
    cdef const real_t* gbase = &gy[0, 0, 0, 0]
    cdef const real_t* wbase = &weight[0, 0, 0, 0]
    cdef const real_t* xbase = NULL
    cdef real_t* dbase = NULL
    cdef double* abase = NULL
    cdef Py_ssize_t lda = 0
    if want_dw:
        xbase = &x[0, 0, 0, 0]
    if want_dw or want_db:
        abase = &tot[0, 0]
        lda = tot.shape[1]
        if nt > tot.shape[0]:
            nt = <int>tot.shape[0]
    if want_dx:
        dbase = &dx[0, 0, 0, 0]
    for c in prange(c_in, schedule="static", num_threads=nt):
        a = abase + threadid() * lda
        if want_dw or want_db:
            for k in range(cout_g * (taps + 1)):
                a[k] = 0
        for n in range(n_img):
            for m in range(cout_g):
                co = c * cout_g + m
                gplane = gbase + (n * c_out + co) * plane_out
                if want_db:
                    a[cout_g * taps + m] += _plane_sum(gplane, plane_out)
                if want_dx and fuse9:
                    for ih in range(h):
                        # the grad_output rows kernel rows 0, 1, 2 read input row ih from
                        i = ih + g.pt
                        drow = dbase + ((n * c_in + c) * h + ih) * w - g.pl
                        wk = wbase + co * 9
                        if i - 2 * g.dh >= 0 and i < g.ho:
                            _gather_rows9(drow, gplane + i * wo, gplane + (i - g.dh) * wo,
                                          gplane + (i - 2 * g.dh) * wo, wk, g.dw,
                                          bounds[0], bounds[3], bounds[1], bounds[4],
                                          bounds[2], bounds[5])
                        else:
                            for t in range(3):
                                oh = i - t * g.dh
                                if oh >= 0 and oh < g.ho:
                                    _scatter_row3(drow, gplane + oh * wo, wk[3 * t],
                                                  wk[3 * t + 1], wk[3 * t + 2], g.dw,
                                                  bounds[0], bounds[3], bounds[1],
                                                  bounds[4], bounds[2], bounds[5])
                elif want_dx and fuse3:
                    for oh in range(g.ho):
                        grow = gplane + oh * wo
                        for i in range(g.kh):
                            ih = oh * g.sh - g.pt + i * g.dh
                            if ih < 0 or ih >= h:
                                continue
                            wk = wbase + co * taps + i * 3
                            drow = dbase + ((n * c_in + c) * h + ih) * w - g.pl
                            _scatter_row3(drow, grow, wk[0], wk[1], wk[2], g.dw,
                                          bounds[0], bounds[3], bounds[1],
                                          bounds[4], bounds[2], bounds[5])
                elif want_dx:
                    for t in range(taps):
                        _scatter_scaled(gplane, wbase[co * taps + t], h, w, g, t // g.kw,
                                        t % g.kw, 0, h, dbase + (n * c_in + c) * h * w)
                if want_dw:
                    xrow = xbase + (n * c_in + c) * h * w
                    for t in range(taps):
                        j = t % g.kw
                        a[m * taps + t] += _plane_dot(gplane, xrow, h, w, g, t // g.kw, j,
                                                      bounds[j], bounds[g.kw + j])
        if want_dw:
            for m in range(cout_g):
                for t in range(taps):
                    dweight[c * cout_g + m, 0, t // g.kw, t % g.kw] = <real_t>a[m * taps + t]
        if want_db:
            for m in range(cout_g):
                dbias[c * cout_g + m] = <real_t>a[cout_g * taps + m]


cdef int _direct_backward(const real_t[:, :, :, ::1] gy, const real_t[:, :, :, ::1] x,
                           const real_t[:, :, :, ::1] weight, real_t[:, :, :, ::1] dx,
                           real_t[:, :, :, ::1] dweight, real_t[::1] dbias, real_t[:, ::1] acc,
                           double[:, ::1] tot, Py_ssize_t groups, const ConvGeom* g) except -1:
    cdef Py_ssize_t j
    cdef Py_ssize_t c_in = weight.shape[1] * groups
    cdef Py_ssize_t h = dx.shape[2] if dx is not None else x.shape[2]
    cdef Py_ssize_t w = dx.shape[3] if dx is not None else x.shape[3]
    # bounds[j], bounds[kw + j]: the output columns [lo, hi) whose tap column j reads
    # inside the image (on the stack for the usual kernel widths)
    cdef Py_ssize_t small[32]
    cdef Py_ssize_t* bounds = small
    if g.kw > 16:
        bounds = <Py_ssize_t*>malloc(2 * g.kw * sizeof(Py_ssize_t))
        if bounds == NULL:
            raise MemoryError()
    for j in range(g.kw):
        valid_ow(g, w, j, &bounds[j], &bounds[g.kw + j])
    try:
        _run_direct(gy, x, weight, dx, dweight, dbias, acc, tot, bounds, groups, c_in, h, w, g)
    finally:
        if bounds != small:
            free(bounds)


cdef void _run_direct(const real_t[:, :, :, ::1] gy, const real_t[:, :, :, ::1] x,
                      const real_t[:, :, :, ::1] weight, real_t[:, :, :, ::1] dx,
                      real_t[:, :, :, ::1] dweight, real_t[::1] dbias, real_t[:, ::1] acc,
                      double[:, ::1] tot, const Py_ssize_t* bounds, Py_ssize_t groups,
                      Py_ssize_t c_in, Py_ssize_t h, Py_ssize_t w, const ConvGeom* g):
    with nogil:
        if tot is not None:
            _per_channel(gy, x, weight, dx, dweight, dbias, tot, bounds, c_in, h, w,
                         dx is not None, dweight is not None, dbias is not None, g)
        else:
            if dx is not None:
                _direct_input(gy, weight, dx, groups, g)
            if dweight is not None:
                _direct_weight(gy, x, dweight, acc, bounds, groups, g)
            if dbias is not None:
                _bias(gy, dbias, 0)


def direct_backward(gy, x, weight, dx, dweight, dbias, acc, tot, Py_ssize_t groups, tuple geom):
    """The requested gradients by the direct kernels, in one call (N >= 1).

    All arrays share gy's dtype (float32 or float64; dispatched here rather than by
    a fused def, whose dispatch costs more than a tiny problem's kernel). dx (zeroed),
    dweight and dbias are written when not None; x is needed only for dweight.
    With tot (float64 per-thread sums, (threads, C_out/groups*(kh*kw + 1)); one input
    channel per group only) the fused per-channel kernel runs, else the separate input and
    weight kernels, the latter with acc (per-thread rows, (threads, kh*kw*wo)).
    """
    cdef ConvGeom g = _geom(geom)
    if gy.dtype == np.float32:
        _direct_backward[float](gy, x, weight, dx, dweight, dbias, acc, tot, groups, &g)
    else:
        _direct_backward[double](gy, x, weight, dx, dweight, dbias, acc, tot, groups, &g)


# ---------------------------------------------------------------------------------
# GEMM driver


def _accumulate(a, b, dst, tmp, first):
    """dst = a @ b for the first block of a sum, dst += a @ b after it (through tmp)."""
    if first:
        np.matmul(a, b, out=dst)
    else:
        np.matmul(a, b, out=tmp)
        dst += tmp


def gemm_backward(gy, x, weight, dx, dweight, Py_ssize_t groups, tuple geom,
                  Py_ssize_t nb, Py_ssize_t rows, bint pointwise, int kernel_threads=0):
    """Input and/or weight gradient by GEMM, blocked over images and output rows.

    gy (N, C_out, Ho, Wo), x (N, C_in, H, W) (None when dweight is None), weight
    (C_out, C_in/groups, kh, kw); dx (zeroed) and dweight are written (either may be
    None). Each block holds nb images (all rows) or one image's `rows` output rows;
    the column workspace is (C_in/groups*kh*kw, nb*rows*Wo). `pointwise`: a 1x1,
    stride-1, unpadded convolution, whose columns are the input itself (used when
    nb == 1 and rows == Ho).
    """
    n_img, c_out, ho, wo = gy.shape
    cin_g = weight.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    cout_g = c_out // groups
    k = cin_g * kh * kw
    plane = ho * wo
    direct_cols = pointwise and nb == 1 and rows == ho
    w2 = weight.reshape(c_out, k)
    dw2 = None if dweight is None else dweight.reshape(c_out, k)
    gy3 = gy.reshape(n_img, c_out, plane)
    cols = None if direct_cols else np.empty(k * nb * rows * wo, gy.dtype)
    gyt = np.empty((c_out, nb * plane), gy.dtype) if nb > 1 else None
    # OpenBLAS's sgemm runs (K x M) @ (M x C_out) markedly faster than the transposed
    # product (C_out x M) @ (M x K) for these shapes; dgemm does not care.
    transposed_dw = gy.dtype == np.float32
    tmp = dwt = None
    if dweight is not None:
        tmp = np.empty((k, cout_g) if transposed_dw else (cout_g, k), gy.dtype)
        if transposed_dw:  # the weight gradient transposed, group by group
            dwt = np.empty((groups, k, cout_g), gy.dtype)
    first = True
    for n0 in range(0, n_img, nb):
        nbb = min(nb, n_img - n0)
        if nb > 1:
            np.copyto(gyt[:, :nbb * plane].reshape(c_out, nbb, plane),
                      gy3[n0:n0 + nbb].transpose(1, 0, 2))
        for oh0 in range(0, ho, rows):
            oh1 = min(ho, oh0 + rows)
            m = nbb * (oh1 - oh0) * wo
            c = None if direct_cols else cols[:k * m].reshape(k, m)
            for grp in range(groups):
                ci0 = grp * cin_g
                co = slice(grp * cout_g, (grp + 1) * cout_g)
                if nb > 1:
                    gyb = gyt[co, :m]
                else:
                    gyb = gy3[n0, co, oh0 * wo:oh1 * wo]
                if dw2 is not None:
                    if direct_cols:
                        c = x[n0, ci0:ci0 + cin_g].reshape(cin_g, plane)
                    else:
                        gather(x, c, n0, nbb, ci0, cin_g, oh0, oh1, geom, kernel_threads)
                    if transposed_dw:
                        _accumulate(c, gyb.T, dwt[grp], tmp, first)
                    else:
                        _accumulate(gyb, c.T, dw2[co], tmp, first)
                if dx is not None:
                    if direct_cols:
                        np.matmul(w2[co].T, gyb, out=dx[n0, ci0:ci0 + cin_g].reshape(cin_g, plane))
                    else:
                        np.matmul(w2[co].T, gyb, out=c)
                        scatter(c, dx, n0, nbb, ci0, cin_g, oh0, oh1, geom, kernel_threads)
            first = False
    if dwt is not None and not first:
        dw2[...] = dwt.transpose(0, 2, 1).reshape(c_out, k)


# ---------------------------------------------------------------------------------
# GEMM on "wide" rows (stride 1)
#
# With stride 1, the patches of tap (i, j) for output rows [oh0, oh1) are one
# contiguous run of a zero-padded frame (Hp x Wp, Hp = Ho + dh*(kh-1), Wp = Wo +
# dw*(kw-1)), if every output row is taken Wp wide instead of Wo: the last Wp - Wo
# columns of each row are junk. grad_output is laid out the same way with zeros in
# the junk columns, so they add nothing to the weight gradient, and the scatter skips
# them. The gather is then a plain copy per tap, and the scatter one unit-stride pass
# per output row.


cdef void _gather_wide(const real_t[:, :, :, ::1] frame, real_t[:, ::1] cols, Py_ssize_t c0,
                       Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t kh,
                       Py_ssize_t kw, Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    cdef Py_ssize_t nb = frame.shape[0], c_all = frame.shape[1]
    cdef Py_ssize_t hp = frame.shape[2], wp = frame.shape[3], plane = hp * wp
    cdef Py_ssize_t taps = kh * kw, rows = cn * taps
    cdef Py_ssize_t per_image = (oh1 - oh0) * wp, ld = cols.shape[1]
    cdef Py_ssize_t task, b, r, t, start, m, k
    cdef const real_t* src
    cdef real_t* dst
    for task in range(nb * rows):
        b = task // rows
        r = task % rows
        t = r % taps
        start = (oh0 + (t // kw) * dh) * wp + (t % kw) * dw
        m = plane - start
        if m > per_image:
            m = per_image
        src = &frame[b, c0 + r // taps, 0, 0] + start
        dst = &cols[r, b * per_image]
        for k in range(m):
            dst[k] = src[k]
        for k in range(m, per_image):
            dst[k] = 0


cdef void _scatter_wide(const real_t[:, ::1] cols, real_t[:, :, :, ::1] frame, Py_ssize_t c0,
                        Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t kh,
                        Py_ssize_t kw, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t wo) noexcept nogil:
    cdef Py_ssize_t nb = frame.shape[0], wp = frame.shape[3]
    cdef Py_ssize_t taps = kh * kw, rows = cn * taps
    cdef Py_ssize_t per_image = (oh1 - oh0) * wp
    cdef Py_ssize_t task, b, r, t, oh, ow
    cdef const real_t* src
    cdef real_t* dst
    for task in range(nb * rows):
        b = task // rows
        r = task % rows
        t = r % taps
        src = &cols[r, b * per_image]
        dst = &frame[b, c0 + r // taps, 0, 0] + (oh0 + (t // kw) * dh) * wp + (t % kw) * dw
        for oh in range(oh1 - oh0):
            for ow in range(wo):
                dst[ow] += src[ow]
            src += wp
            dst += wp


def gather_wide(const real_t[:, :, :, ::1] frame, real_t[:, ::1] cols, Py_ssize_t c0,
                Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t kh, Py_ssize_t kw,
                Py_ssize_t dh, Py_ssize_t dw):
    """Wide-row im2col of channels [c0, c0+cn) of every image of a padded frame block."""
    with nogil:
        _gather_wide(frame, cols, c0, cn, oh0, oh1, kh, kw, dh, dw)


def scatter_wide(const real_t[:, ::1] cols, real_t[:, :, :, ::1] frame, Py_ssize_t c0,
                 Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t kh, Py_ssize_t kw,
                 Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t wo):
    """Wide-row col2im: add the columns (junk columns skipped) onto the frame block."""
    with nogil:
        _scatter_wide(cols, frame, c0, cn, oh0, oh1, kh, kw, dh, dw, wo)


def gemm_backward_wide(gy, x, weight, dx, dweight, Py_ssize_t groups, tuple geom,
                       Py_ssize_t nb, Py_ssize_t rows):
    """gemm_backward for stride 1 on wide rows (see above); same arguments.

    The workspace is (C_in/groups*kh*kw, nb*rows*Wp); each image block also gets a
    zero-padded frame of x (for dweight) and of dx (for the input gradient).
    """
    n_img, c_out, ho, wo = gy.shape
    cin_g, kh, kw = weight.shape[1], weight.shape[2], weight.shape[3]
    _, _, _, _, dh, dw, pt, pl, _, _ = geom
    c_in = cin_g * groups
    cout_g = c_out // groups
    k = cin_g * kh * kw
    hp, wp = ho + dh * (kh - 1), wo + dw * (kw - 1)
    h, w = (dx if dx is not None else x).shape[2:]
    # the image's part of the frame: frame[pt:pt+hh, pl:pl+ww] = image[:hh, :ww]
    hh, ww = max(0, min(h, hp - pt)), max(0, min(w, wp - pl))
    dtype = gy.dtype
    w2 = weight.reshape(c_out, k)
    dw2 = None if dweight is None else dweight.reshape(c_out, k)
    cols = np.empty(k * nb * rows * wp, dtype)
    transposed_dw = dtype == np.float32
    tmp = dwt = None
    if dweight is not None:
        tmp = np.empty((k, cout_g) if transposed_dw else (cout_g, k), dtype)
        if transposed_dw:  # the weight gradient transposed, group by group
            dwt = np.empty((groups, k, cout_g), dtype)
    first = True
    for n0 in range(0, n_img, nb):
        nbb = min(nb, n_img - n0)
        frame = dframe = None
        if dweight is not None:
            frame = np.zeros((nbb, c_in, hp, wp), dtype)
            frame[:, :, pt:pt + hh, pl:pl + ww] = x[n0:n0 + nbb, :, :hh, :ww]
        if dx is not None:
            dframe = np.zeros((nbb, c_in, hp, wp), dtype)
        for oh0 in range(0, ho, rows):
            oh1 = min(ho, oh0 + rows)
            m = nbb * (oh1 - oh0) * wp
            c = cols[:k * m].reshape(k, m)
            gyw = np.zeros((c_out, nbb, oh1 - oh0, wp), dtype)
            gyw[:, :, :, :wo] = gy[n0:n0 + nbb, :, oh0:oh1].transpose(1, 0, 2, 3)
            gyw = gyw.reshape(c_out, m)
            for grp in range(groups):
                ci0 = grp * cin_g
                co = slice(grp * cout_g, (grp + 1) * cout_g)
                gyb = gyw[co]
                if dw2 is not None:
                    gather_wide(frame, c, ci0, cin_g, oh0, oh1, kh, kw, dh, dw)
                    if transposed_dw:
                        _accumulate(c, gyb.T, dwt[grp], tmp, first)
                    else:
                        _accumulate(gyb, c.T, dw2[co], tmp, first)
                if dframe is not None:
                    np.matmul(w2[co].T, gyb, out=c)
                    scatter_wide(c, dframe, ci0, cin_g, oh0, oh1, kh, kw, dh, dw, wo)
            first = False
        if dframe is not None:
            dx[n0:n0 + nbb, :, :hh, :ww] = dframe[:, :, pt:pt + hh, pl:pl + ww]
    if dwt is not None and not first:
        dw2[...] = dwt.transpose(0, 2, 1).reshape(c_out, k)
