"""Average pooling kernels: forward and backward, both separable.

The Python layer (cyconv._pooling) has validated and normalised everything: arrays are
C-contiguous, native byte order, float32 or float64, viewed as planes ``(P, H, W)``.

The divisor of window ``(i, j)`` is a product ``ch[i] * cw[j]`` in all of PyTorch's
cases (window cells inside ``[-p, n + p)``, real cells only, or ``divisor_override``
as ``ch = 1, cw = override``), so both passes work one axis at a time:

forward, per output row ``i``: add the window's input rows into a row buffer (vertical
pass, contiguous), then add the buffer over the kernel columns into the output row
(horizontal pass) and scale by ``rch[i] * rcw[j]`` (the reciprocals of the divisor's
factors; the Python layer folds a constant divisor into ``rcw``). The row buffer carries
zeros on both sides, so the horizontal pass needs no border cases.

backward, per input row ``r``: gather ``sum_i g[i, j] * rch[i]`` over the output rows
whose windows cover ``r``, scale by ``rcw[j]``, then spread that row over the kernel
columns into the input row (a gather from a zero-bordered buffer for stride 1, a
scatter otherwise).

Kernel widths and row counts up to 3 get fused loops (one pass, one store per element).

Each work unit (an output row in the forward pass, an input row in the backward pass)
depends on nothing but the inputs, so the units are spread over the threads with a
static schedule; each thread has its own row buffer. Columns whose tap ``kc`` falls on
a real cell are ``jlo[kc] <= j < jhi[kc]``, worked out once; the inner loops test
nothing per element.
"""
from cython.parallel cimport prange, threadid

from _types cimport real_t
from libc.stdlib cimport free, malloc
from _pool_team cimport pool_team


cdef real_t _uniform_scale(const real_t[::1] rch, const real_t[::1] rcw) noexcept:
    """The one reciprocal divisor when every window shares it (rch all 1, rcw constant), else 0."""
    cdef Py_ssize_t i
    for i in range(rch.shape[0]):
        if rch[i] != 1:
            return 0
    for i in range(rcw.shape[0]):
        if rcw[i] != rcw[0]:
            return 0
    return rcw[0]


cdef inline void _sum_rows(const real_t* xp, Py_ssize_t stride, Py_ssize_t W, Py_ssize_t rlo,
                           Py_ssize_t rhi, real_t* v) noexcept nogil:
    """v[c] = sum of rows rlo..rhi-1 (at least one) of the W columns at xp, rows ``stride`` apart."""
    cdef Py_ssize_t c, r, n = rhi - rlo
    cdef const real_t* a = xp + rlo * stride
    cdef const real_t* b
    cdef const real_t* d
    if n == 1:
        for c in range(W):
            v[c] = a[c]
    elif n == 2:
        b = a + stride
        for c in range(W):
            v[c] = a[c] + b[c]
    else:
        b = a + stride
        d = b + stride
        for c in range(W):
            v[c] = a[c] + b[c] + d[c]
        for r in range(rlo + 3, rhi):
            a = xp + r * stride
            for c in range(W):
                v[c] += a[c]


cdef inline void _forward_row(
    const real_t* xp, real_t* orow, real_t* vs, Py_ssize_t W, Py_ssize_t j0, Py_ssize_t j1,
    Py_ssize_t rlo, Py_ssize_t rhi, Py_ssize_t kw, Py_ssize_t sw, Py_ssize_t pl,
    real_t f, const real_t* rcw, real_t scale,
) noexcept nogil:
    """Output columns ``j0 <= j < j1`` of one output row.

    ``vs`` (at least ``(j1 - j0 - 1)*sw + kw`` cells) receives the vertical sums of the
    input columns the block's windows cover, zero where they cover padding. ``scale`` is
    the one reciprocal divisor of every window, or 0 when they differ.
    """
    cdef Py_ssize_t j, kc, Wo = j1 - j0
    cdef Py_ssize_t c_start = j0 * sw - pl, c_end = (j1 - 1) * sw - pl + kw
    cdef Py_ssize_t lo = max(c_start, <Py_ssize_t>0), hi = min(c_end, W)
    cdef const real_t* v1 = vs
    cdef const real_t* v2
    for j in range(lo - c_start):
        vs[j] = 0
    for j in range(hi - c_start, c_end - c_start):
        vs[j] = 0
    _sum_rows(xp + lo, W, hi - lo, rlo, rhi, vs + (lo - c_start))
    orow += j0
    if kw > 1:
        v1 = vs + 1
    # the window sums, then the scale (a second pass over the block, while it is in L1)
    # (the common windows fuse the scale: one pass, one store per element)
    if sw == 1 and kw == 3:
        v2 = vs + 2  # the buffer has room for (Wo - 1)*sw + kw cells
        if scale != 0:
            for j in range(Wo):
                orow[j] = (vs[j] + v1[j] + v2[j]) * scale
        else:
            rcw += j0
            for j in range(Wo):
                orow[j] = (vs[j] + v1[j] + v2[j]) * (f * rcw[j])
        return
    elif sw == 1 and kw == 2:
        if scale != 0:
            for j in range(Wo):
                orow[j] = (vs[j] + v1[j]) * scale
        else:
            rcw += j0
            for j in range(Wo):
                orow[j] = (vs[j] + v1[j]) * (f * rcw[j])
        return
    elif sw == 2 and kw == 2:
        if scale != 0:
            for j in range(Wo):
                orow[j] = (vs[2 * j] + vs[2 * j + 1]) * scale
        else:
            rcw += j0
            for j in range(Wo):
                orow[j] = (vs[2 * j] + vs[2 * j + 1]) * (f * rcw[j])
        return
    elif kw == 1:
        for j in range(Wo):
            orow[j] = vs[j * sw]
    else:
        for j in range(Wo):
            orow[j] = vs[j * sw]
        for kc in range(1, kw):
            if sw == 1:
                v1 = vs + kc
                for j in range(Wo):
                    orow[j] += v1[j]
            else:
                for j in range(Wo):
                    orow[j] += vs[j * sw + kc]
    if scale != 0:  # one divisor for every window: rcw may hold just that one
        for j in range(Wo):
            orow[j] *= scale
    else:
        rcw += j0
        for j in range(Wo):
            orow[j] *= f * rcw[j]


cdef bint _narrow_block(
    const real_t* xp, real_t* op, Py_ssize_t H, Py_ssize_t W, Py_ssize_t Wo,
    Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t pt, Py_ssize_t pl, const real_t* rch, const real_t* rcw, real_t scale,
) noexcept nogil:
    """Output rows ``i0 <= i < i1`` of a narrow plane, through a transposed block.

    A narrow plane's rows are too short for the row passes to pay their set-up: the
    block's input rows are copied transposed (W rows of R cells), pooled by the same row
    passes (long rows now: the plane's columns are summed first, then its rows) and the
    result copied back. False (nothing written) if the scratch cannot be allocated.
    """
    cdef Py_ssize_t ra = max(<Py_ssize_t>0, i0 * sh - pt)
    cdef Py_ssize_t rb = min(H, (i1 - 1) * sh - pt + kh)
    cdef Py_ssize_t R = rb - ra, n = i1 - i0, plT = ra - (i0 * sh - pt)
    cdef Py_ssize_t r, c, io, jj, r0T
    cdef Py_ssize_t L = (n - 1) * sh + kh
    cdef real_t* T = <real_t*>malloc((W * R + Wo * n + L) * sizeof(real_t))
    if T == NULL:
        return False
    cdef real_t* OT = T + W * R
    cdef real_t* vs = OT + Wo * n
    cdef const real_t* xr
    for c in range(W):  # contiguous stores, reads strided by the (small) width
        xr = xp + ra * W + c
        for r in range(R):
            T[c * R + r] = xr[r * W]
    for io in range(Wo):
        r0T = io * sw - pl
        _forward_row(T, OT + io * n, vs, R, 0, n, max(r0T, 0), min(r0T + kw, W), kh, sh, plT,
                     rcw[0] if scale != 0 else rcw[io], rch + (0 if scale != 0 else i0), scale)
    for jj in range(n):
        for io in range(Wo):
            op[(i0 + jj) * Wo + io] = OT[io * n + jj]
    free(T)
    return True


# Output columns per work unit: a long row is split in blocks of this many, so that one
# row still spreads over the threads and the per-thread row buffer stays small.
cdef enum:
    _COLUMN_BLOCK = 4096
    NARROW_WO = 4  # narrow, tall planes (Wo <= NARROW_WO, Ho >= NARROW_ROWS) go through
    NARROW_ROWS = 512  # transposed blocks of NARROW_ROWS output rows
COLUMN_BLOCK = _COLUMN_BLOCK  # (for the Python layer's buffer size)


def forward(
    const real_t[:, :, ::1] x, real_t[:, :, ::1] out, real_t[:, ::1] work,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
    const real_t[::1] rch, const real_t[::1] rcw, int num_threads,
):
    """Average pool every plane of ``x`` into ``out``.

    ``work`` is ``(num_threads, L)``, ``L >= (min(Wo, COLUMN_BLOCK) - 1)*sw + kw``.
    ``rch``/``rcw`` (the reciprocals of the divisor's row and column factors) may have
    length 1, ``rch = [1]`` and ``rcw = [1/divisor]``, when every window has one divisor.
    Work units: (plane, output row, block of COLUMN_BLOCK output columns);
    ``num_threads`` is the most to use, small calls run on the calling thread (pool_team).
    """
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t Ho = out.shape[1], Wo = out.shape[2]
    cdef Py_ssize_t u, p, i, r0
    cdef real_t scale = _uniform_scale(rch, rcw)
    cdef Py_ssize_t nb = (Wo + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    if P == 0 or Ho == 0 or Wo == 0:
        return
    cdef int nt = pool_team(num_threads, P * H * W * kh + P * Ho * Wo * kw)
    cdef bint narrow = Wo <= NARROW_WO and Ho >= NARROW_ROWS
    cdef Py_ssize_t units
    if narrow:
        nb = (Ho + NARROW_ROWS - 1) // NARROW_ROWS
        units = P * nb
    else:
        units = P * Ho * nb
    with nogil:
        if nt == 1 and nb == 1 and not narrow:  # the common small-plane call, as direct as it gets
            for u in range(units):
                p = u // Ho
                i = u - p * Ho
                r0 = i * sh - pt
                _forward_row(&x[p, 0, 0], &out[p, i, 0], &work[0, 0], W, 0, Wo, max(r0, 0),
                             min(r0 + kh, H), kw, sw, pl, rch[0] if scale != 0 else rch[i], &rcw[0], scale)
        elif nt == 1:
            for u in range(units):
                _forward_unit(&x[0, 0, 0], &out[0, 0, 0], &work[0, 0], u, narrow, nb, H, W, Ho, Wo,
                              kh, kw, sh, sw, pt, pl, &rch[0], &rcw[0], scale)
        else:
            for u in prange(units, schedule="static", num_threads=nt):
                _forward_unit(&x[0, 0, 0], &out[0, 0, 0], &work[threadid(), 0], u, narrow, nb, H, W,
                              Ho, Wo, kh, kw, sh, sw, pt, pl, &rch[0], &rcw[0], scale)


cdef inline void _forward_unit(
    const real_t* x0, real_t* o0, real_t* vs, Py_ssize_t u, bint narrow, Py_ssize_t nb,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t Ho, Py_ssize_t Wo,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
    const real_t* rch, const real_t* rcw, real_t scale,
) noexcept nogil:
    """Work unit ``u``: a block of a narrow plane's rows, or one output row's column block."""
    cdef Py_ssize_t p, rest, i, b, r0, i0, i1
    if narrow:
        p = u // nb
        b = u - p * nb
        i0 = b * NARROW_ROWS
        i1 = min(Ho, i0 + NARROW_ROWS)
        if _narrow_block(x0 + p * H * W, o0 + p * Ho * Wo, H, W, Wo, i0, i1, kh, kw, sh, sw,
                         pt, pl, rch, rcw, scale):
            return
        for i in range(i0, i1):  # no scratch: the row passes
            r0 = i * sh - pt
            _forward_row(x0 + p * H * W, o0 + (p * Ho + i) * Wo, vs, W, 0, Wo, max(r0, 0),
                         min(r0 + kh, H), kw, sw, pl, rch[0] if scale != 0 else rch[i], rcw, scale)
        return
    if nb == 1:  # (integer divisions cost tens of cycles: one per unit when possible)
        p = u // Ho
        i = u - p * Ho
        b = 0
    else:
        p = u // (Ho * nb)
        rest = u - p * (Ho * nb)
        i = rest // nb
        b = rest - i * nb
    r0 = i * sh - pt
    _forward_row(x0 + p * H * W, o0 + (p * Ho + i) * Wo, vs, W,
                 b * _COLUMN_BLOCK, min(Wo, (b + 1) * _COLUMN_BLOCK),
                 max(r0, 0), min(r0 + kh, H), kw, sw, pl,
                 rch[0] if scale != 0 else rch[i], rcw, scale)


cdef inline void _backward_row(
    const real_t* gp, real_t* grow, real_t* vt, Py_ssize_t Wo, Py_ssize_t W,
    Py_ssize_t ilo, Py_ssize_t ihi, Py_ssize_t kw, Py_ssize_t sw, Py_ssize_t pl,
    const Py_ssize_t* jlo, const Py_ssize_t* jhi, const real_t* rch, const real_t* rcw,
    real_t scale,
) noexcept nogil:
    """One input row. vt is zero outside [kw - 1, kw - 1 + Wo), length >= kw - 1 + max(Wo, W + pl)."""
    cdef Py_ssize_t i, j, c, kc, off, n = ihi - ilo
    cdef const real_t* g0
    cdef const real_t* g1
    cdef const real_t* g2
    cdef real_t f0, f1, f2
    cdef real_t* v = vt + kw - 1
    cdef const real_t* q
    cdef const real_t* q1
    cdef const real_t* q2
    if n <= 0:
        for c in range(W):
            grow[c] = 0
        return
    # v[j] = sum over the covering output rows of g[i, j] * rch[i], times rcw[j]
    g0 = gp + ilo * Wo
    f0 = rch[ilo]
    if n == 1:
        for j in range(Wo):
            v[j] = g0[j] * f0 * rcw[j]
    elif n == 2:
        g1 = g0 + Wo
        f1 = rch[ilo + 1]
        for j in range(Wo):
            v[j] = (g0[j] * f0 + g1[j] * f1) * rcw[j]
    elif n == 3 and scale != 0:
        g1 = g0 + Wo
        g2 = g1 + Wo
        for j in range(Wo):
            v[j] = (g0[j] + g1[j] + g2[j]) * scale
    else:
        g1 = g0 + Wo
        g2 = g1 + Wo
        f1 = rch[ilo + 1]
        f2 = rch[ilo + 2]
        for j in range(Wo):
            v[j] = g0[j] * f0 + g1[j] * f1 + g2[j] * f2
        for i in range(ilo + 3, ihi):
            g0 = gp + i * Wo
            f0 = rch[i]
            for j in range(Wo):
                v[j] += g0[j] * f0
        for j in range(Wo):
            v[j] *= rcw[j]
    if sw == 1:
        # grad[c] = sum over kc of v[c + pl - kc]; the zero border of vt covers the edges.
        q = v + pl
        if kw == 1:
            for c in range(W):
                grow[c] = q[c]
        elif kw == 2:
            q1 = q - 1
            for c in range(W):
                grow[c] = q[c] + q1[c]
        else:
            q1 = q - 1
            q2 = q - 2
            for c in range(W):
                grow[c] = q[c] + q1[c] + q2[c]
            for kc in range(3, kw):
                q1 = q - kc
                for c in range(W):
                    grow[c] += q1[c]
        return
    for c in range(W):
        grow[c] = 0
    for kc in range(kw):
        off = kc - pl
        for j in range(jlo[kc], jhi[kc]):
            grow[j * sw + off] += v[j]


def backward(
    const real_t[:, :, ::1] grad_output, real_t[:, :, ::1] grad_input, real_t[:, ::1] work,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
    const Py_ssize_t[::1] jlo, const Py_ssize_t[::1] jhi,
    const real_t[::1] rch, const real_t[::1] rcw, int num_threads,
):
    """Gradient of :func:`forward` w.r.t. its input.

    ``work`` is ``(num_threads, L)``, zero, ``L >= kw - 1 + max(Wo, W + pl)``;
    ``num_threads`` is the most to use, small calls run on the calling thread (pool_team).
    """
    cdef Py_ssize_t P = grad_input.shape[0], H = grad_input.shape[1], W = grad_input.shape[2]
    cdef Py_ssize_t Ho = grad_output.shape[1], Wo = grad_output.shape[2]
    cdef Py_ssize_t u, p, r, a, ilo, ihi
    cdef real_t scale = _uniform_scale(rch, rcw)
    if P == 0 or H == 0 or W == 0:
        return
    cdef int nt = pool_team(num_threads, P * H * W * kw + P * Ho * Wo * kh)
    with nogil:
        if nt == 1:
            for u in range(P * H):
                p = u // H
                r = u - p * H
                a = r + pt - kh + 1
                ilo = 0 if a <= 0 else (a + sh - 1) // sh
                ihi = min(Ho, (r + pt) // sh + 1)
                _backward_row(&grad_output[p, 0, 0], &grad_input[p, r, 0], &work[0, 0], Wo, W,
                              ilo, ihi, kw, sw, pl, &jlo[0], &jhi[0], &rch[0], &rcw[0], scale)
        else:
            for u in prange(P * H, schedule="static", num_threads=nt):
                p = u // H
                r = u - p * H
                # Output rows i whose window rows [i*sh - pt, i*sh - pt + kh) contain r.
                a = r + pt - kh + 1
                ilo = 0 if a <= 0 else (a + sh - 1) // sh
                ihi = min(Ho, (r + pt) // sh + 1)
                _backward_row(&grad_output[p, 0, 0], &grad_input[p, r, 0], &work[threadid(), 0], Wo, W,
                              ilo, ihi, kw, sw, pl, &jlo[0], &jhi[0], &rch[0], &rcw[0], scale)
