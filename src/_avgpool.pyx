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


cdef inline void _sum_rows(const real_t* xp, Py_ssize_t W, Py_ssize_t rlo, Py_ssize_t rhi,
                           real_t* v) noexcept nogil:
    """v[c] = sum of rows rlo..rhi-1 of the plane at xp (at least one row)."""
    cdef Py_ssize_t c, r, n = rhi - rlo
    cdef const real_t* a = xp + rlo * W
    cdef const real_t* b
    cdef const real_t* d
    if n == 1:
        for c in range(W):
            v[c] = a[c]
    elif n == 2:
        b = a + W
        for c in range(W):
            v[c] = a[c] + b[c]
    else:
        b = a + W
        d = b + W
        for c in range(W):
            v[c] = a[c] + b[c] + d[c]
        for r in range(rlo + 3, rhi):
            a = xp + r * W
            for c in range(W):
                v[c] += a[c]


cdef inline void _forward_row(
    const real_t* xp, real_t* orow, real_t* vs, Py_ssize_t W, Py_ssize_t Wo,
    Py_ssize_t rlo, Py_ssize_t rhi, Py_ssize_t kw, Py_ssize_t sw, Py_ssize_t pl,
    real_t f, const real_t* rcw, real_t scale,
) noexcept nogil:
    """One output row; vs is zero outside [pl, pl + W) and long enough for every window.

    ``scale`` is the one reciprocal divisor of every window, or 0 when they differ.
    """
    cdef Py_ssize_t j, kc
    cdef const real_t* v1 = vs
    cdef const real_t* v2
    _sum_rows(xp, W, rlo, rhi, vs + pl)
    if kw > 1:
        v1 = vs + 1
    if sw == 1 and kw == 3:
        v2 = vs + 2  # the buffer has room for (Wo - 1)*sw + kw cells
        if scale != 0:
            for j in range(Wo):
                orow[j] = (vs[j] + v1[j] + v2[j]) * scale
        else:
            for j in range(Wo):
                orow[j] = (vs[j] + v1[j] + v2[j]) * (f * rcw[j])
    elif sw == 1 and kw == 2:
        for j in range(Wo):
            orow[j] = (vs[j] + v1[j]) * (f * rcw[j])
    elif sw == 2 and kw == 2:
        for j in range(Wo):
            orow[j] = (vs[2 * j] + vs[2 * j + 1]) * (f * rcw[j])
    elif kw == 1:
        for j in range(Wo):
            orow[j] = vs[j * sw] * (f * rcw[j])
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
        for j in range(Wo):
            orow[j] *= f * rcw[j]


def forward(
    const real_t[:, :, ::1] x, real_t[:, :, ::1] out, real_t[:, ::1] work,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
    const real_t[::1] rch, const real_t[::1] rcw, int num_threads,
):
    """Average pool every plane of ``x`` into ``out``.

    ``work`` is ``(num_threads, L)``, zero, ``L >= max(pl + W, (Wo - 1)*sw + kw)``.
    """
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t Ho = out.shape[1], Wo = out.shape[2]
    cdef Py_ssize_t u, p, i, r0
    cdef real_t scale = _uniform_scale(rch, rcw)
    if P == 0:
        return
    with nogil:
        for u in prange(P * Ho, schedule="static", num_threads=num_threads):
            p = u // Ho
            i = u - p * Ho
            r0 = i * sh - pt
            _forward_row(&x[p, 0, 0], &out[p, i, 0], &work[threadid(), 0], W, Wo,
                         max(r0, 0), min(r0 + kh, H), kw, sw, pl, rch[i], &rcw[0], scale)


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

    ``work`` is ``(num_threads, L)``, zero, ``L >= kw - 1 + max(Wo, W + pl)``.
    """
    cdef Py_ssize_t P = grad_input.shape[0], H = grad_input.shape[1], W = grad_input.shape[2]
    cdef Py_ssize_t Ho = grad_output.shape[1], Wo = grad_output.shape[2]
    cdef Py_ssize_t u, p, r, a, ilo, ihi
    cdef real_t scale = _uniform_scale(rch, rcw)
    if P == 0:
        return
    with nogil:
        for u in prange(P * H, schedule="static", num_threads=num_threads):
            p = u // H
            r = u - p * H
            # Output rows i whose window rows [i*sh - pt, i*sh - pt + kh) contain r.
            a = r + pt - kh + 1
            ilo = 0 if a <= 0 else (a + sh - 1) // sh
            ihi = min(Ho, (r + pt) // sh + 1)
            _backward_row(&grad_output[p, 0, 0], &grad_input[p, r, 0], &work[threadid(), 0], Wo, W,
                          ilo, ihi, kw, sw, pl, &jlo[0], &jhi[0], &rch[0], &rcw[0], scale)
