"""Adaptive pooling kernels: average (forward, backward) and max (values and indices).

The Python layer (cyconv._adaptive_pooling) has validated and normalised everything. The
input is C-contiguous, native byte order, and viewed as ``(P, A, Q, B, R)``: the two pooled
axes are ``A`` and ``B`` (in memory order), ``P``, ``Q`` and ``R`` are the products of the
axes before, between and after them. ``(N, C, H, W)`` with the default axes is
``(N*C, H, 1, W, 1)``; an ``(H, W, C)`` image pooled over ``axes=(0, 1)`` is
``(1, H, 1, W, C)``, and is computed in place, channels fastest, without a transpose.

Bins are PyTorch's, worked out once per axis by the caller: output ``i`` of an axis of
``n`` cells pooled to ``o`` covers ``start[i] = floor(i*n/o) <= a < end[i] = ceil((i+1)*n/o)``,
never empty. Bins of neighbouring outputs may share a cell.

One work unit is one output row ``(p, i)`` of the forward pass (one input row ``(p, a)``
of the backward pass, which gathers from the bins that contain it), so units write
disjoint memory and run on the OpenMP threads with a static schedule.

Max selection rule (PyTorch's, as in cyconv.max_pool2d): a cell replaces the current
maximum when it is larger or NaN, scanning the bin in row-major order of the pooled plane.
Ties keep the first maximum; a NaN propagates and its index is the bin's last NaN (in that
order, whichever order the cells are visited in: see _takes).
"""
from cython.parallel cimport prange
from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
                          uint64_t)

from _types cimport real_t

ctypedef long double longdouble_t

# Every dtype max pooling keeps exactly (bool is pooled as uint8, float16 as float32).
ctypedef fused pool_t:
    uint8_t
    int8_t
    uint16_t
    int16_t
    uint32_t
    int32_t
    uint64_t
    int64_t
    float
    double
    longdouble_t


cdef inline void _avg_row(const real_t* x, real_t* out, Py_ssize_t A, Py_ssize_t Q,
                          Py_ssize_t B, Py_ssize_t R, Py_ssize_t Ob,
                          Py_ssize_t a0, Py_ssize_t a1,
                          const Py_ssize_t* bs, const Py_ssize_t* be) noexcept nogil:
    """Output row ``i`` (bin rows ``[a0, a1)``) of one ``p``: ``out[q, j, r]`` for every q, j, r.

    ``x`` points at ``x[p, 0, 0, 0, 0]``, ``out`` at ``out[p, i, 0, 0, 0]``.
    """
    cdef Py_ssize_t q, j, a, b, r
    cdef const real_t* xr
    cdef real_t* o
    cdef real_t acc, cnt
    for q in range(Q):
        for j in range(Ob):
            cnt = <real_t>((a1 - a0) * (be[j] - bs[j]))
            o = out + (q * Ob + j) * R
            if R == 1:
                acc = 0
                for a in range(a0, a1):
                    xr = x + (a * Q + q) * B
                    for b in range(bs[j], be[j]):
                        acc = acc + xr[b]
                o[0] = acc / cnt
            else:
                for r in range(R):
                    o[r] = 0
                for a in range(a0, a1):
                    for b in range(bs[j], be[j]):
                        xr = x + ((a * Q + q) * B + b) * R
                        for r in range(R):
                            o[r] = o[r] + xr[r]
                for r in range(R):
                    o[r] = o[r] / cnt


def avg_forward(const real_t[:, :, :, :, ::1] x, real_t[:, :, :, :, ::1] out,
                const Py_ssize_t[::1] a_start, const Py_ssize_t[::1] a_end,
                const Py_ssize_t[::1] b_start, const Py_ssize_t[::1] b_end, int num_threads):
    """``out[p, i, q, j, r]`` = mean of ``x[p, a_start[i]:a_end[i], q, b_start[j]:b_end[j], r]``."""
    cdef Py_ssize_t P = x.shape[0], A = x.shape[1], Q = x.shape[2], B = x.shape[3], R = x.shape[4]
    cdef Py_ssize_t Oa = out.shape[1], Ob = out.shape[3]
    cdef Py_ssize_t u, p, i
    if P == 0 or Q == 0 or R == 0 or Oa == 0 or Ob == 0:
        return
    with nogil:
        for u in prange(P * Oa, schedule="static", num_threads=num_threads):
            p = u // Oa
            i = u - p * Oa
            _avg_row(&x[p, 0, 0, 0, 0], &out[p, i, 0, 0, 0], A, Q, B, R, Ob,
                     a_start[i], a_end[i], &b_start[0], &b_end[0])


cdef inline void _avg_back_row(const real_t* g, real_t* gi, Py_ssize_t Oa, Py_ssize_t Q,
                               Py_ssize_t B, Py_ssize_t R, Py_ssize_t Ob,
                               Py_ssize_t i0, Py_ssize_t i1,
                               const Py_ssize_t* as_, const Py_ssize_t* ae,
                               const Py_ssize_t* bs, const Py_ssize_t* be,
                               const Py_ssize_t* jlo, const Py_ssize_t* jhi) noexcept nogil:
    """Input row ``a`` of one ``p``: gather ``g[p, i, q, j, r] / |bin(i, j)|`` over the bins
    ``i0 <= i < i1``, ``jlo[b] <= j < jhi[b]`` that contain the cell."""
    cdef Py_ssize_t q, b, i, j, r
    cdef const real_t* gr
    cdef real_t* o
    cdef real_t acc, ca
    for q in range(Q):
        for b in range(B):
            o = gi + (q * B + b) * R
            for r in range(R):
                o[r] = 0
            for i in range(i0, i1):
                ca = <real_t>(ae[i] - as_[i])
                for j in range(jlo[b], jhi[b]):
                    gr = g + ((i * Q + q) * Ob + j) * R
                    if R == 1:
                        o[0] = o[0] + gr[0] / (ca * <real_t>(be[j] - bs[j]))
                    else:
                        for r in range(R):
                            o[r] = o[r] + gr[r] / (ca * <real_t>(be[j] - bs[j]))


def avg_backward(const real_t[:, :, :, :, ::1] grad_output, real_t[:, :, :, :, ::1] grad_input,
                 const Py_ssize_t[::1] a_start, const Py_ssize_t[::1] a_end,
                 const Py_ssize_t[::1] b_start, const Py_ssize_t[::1] b_end,
                 const Py_ssize_t[::1] ilo, const Py_ssize_t[::1] ihi,
                 const Py_ssize_t[::1] jlo, const Py_ssize_t[::1] jhi, int num_threads):
    """The adjoint of :func:`avg_forward`; every ``grad_input`` cell is written once.

    ``ilo[a] <= i < ihi[a]`` are the output bins of the first pooled axis that contain
    input cell ``a``, ``jlo``/``jhi`` the same for the second.
    """
    cdef Py_ssize_t P = grad_input.shape[0], A = grad_input.shape[1], Q = grad_input.shape[2]
    cdef Py_ssize_t B = grad_input.shape[3], R = grad_input.shape[4]
    cdef Py_ssize_t Oa = grad_output.shape[1], Ob = grad_output.shape[3]
    cdef Py_ssize_t u, p, a
    if P == 0 or A == 0 or Q == 0 or B == 0 or R == 0:
        return
    with nogil:
        for u in prange(P * A, schedule="static", num_threads=num_threads):
            p = u // A
            a = u - p * A
            _avg_back_row(&grad_output[p, 0, 0, 0, 0], &grad_input[p, a, 0, 0, 0], Oa, Q, B, R, Ob,
                          ilo[a], ihi[a], &a_start[0], &a_end[0], &b_start[0], &b_end[0],
                          &jlo[0], &jhi[0])


cdef inline bint _takes(pool_t v, pool_t m, int64_t here, int64_t at) noexcept nogil:
    """Does cell ``v`` at ``here`` replace the maximum ``m`` found at ``at``?

    PyTorch's rule in row-major order of the pooled plane, whatever order the cells are
    visited in (the bins are scanned in memory order, which is column-major when the
    height axis comes after the width axis): larger wins; of equal values the smaller
    index; a NaN beats any number, and of NaNs the larger index (the last NaN).
    """
    if v != v:
        return (m == m) | (here > at)
    return (v > m) | ((v == m) & (here < at))


cdef inline void _max_row(const pool_t* x, pool_t* out, int64_t* idx, bint with_idx,
                          Py_ssize_t Q, Py_ssize_t B, Py_ssize_t R, Py_ssize_t Ob,
                          Py_ssize_t a0, Py_ssize_t a1,
                          const Py_ssize_t* bs, const Py_ssize_t* be,
                          Py_ssize_t sa, Py_ssize_t sb) noexcept nogil:
    """Output row ``i`` (bin rows ``[a0, a1)``) of one ``p``: the maxima and, with ``with_idx``,
    their positions ``a*sa + b*sb`` in the pooled plane.

    Each bin starts from its first cell (bins are never empty), then every further cell
    replaces the maximum as :func:`_takes` says (values only: when it is larger or NaN).
    """
    cdef Py_ssize_t q, j, a, b, r, k
    cdef const pool_t* xr
    cdef pool_t* o
    cdef int64_t* ix
    cdef pool_t v, m
    cdef int64_t at, here
    cdef bint take
    for q in range(Q):
        for j in range(Ob):
            k = (q * Ob + j) * R
            o = out + k
            ix = idx + k
            if R == 1:
                xr = x + (a0 * Q + q) * B
                m = xr[bs[j]]
                at = a0 * sa + bs[j] * sb
                for a in range(a0, a1):
                    xr = x + (a * Q + q) * B
                    for b in range(bs[j], be[j]):
                        v = xr[b]
                        here = a * sa + b * sb
                        if _takes(v, m, here, at):
                            m = v
                            at = here
                o[0] = m
                if with_idx:
                    ix[0] = at
            else:
                xr = x + ((a0 * Q + q) * B + bs[j]) * R
                at = a0 * sa + bs[j] * sb
                for r in range(R):
                    o[r] = xr[r]
                if with_idx:
                    for r in range(R):
                        ix[r] = at
                for a in range(a0, a1):
                    for b in range(bs[j], be[j]):
                        xr = x + ((a * Q + q) * B + b) * R
                        here = a * sa + b * sb
                        if with_idx:
                            for r in range(R):
                                v = xr[r]
                                m = o[r]
                                take = _takes(v, m, here, ix[r])
                                o[r] = v if take else m
                                ix[r] = here if take else ix[r]
                        else:
                            for r in range(R):
                                v = xr[r]
                                m = o[r]
                                o[r] = v if (v > m) | (v != v) else m


def max_forward(const pool_t[:, :, :, :, ::1] x, pool_t[:, :, :, :, ::1] out,
                int64_t[:, :, :, :, ::1] indices,
                const Py_ssize_t[::1] a_start, const Py_ssize_t[::1] a_end,
                const Py_ssize_t[::1] b_start, const Py_ssize_t[::1] b_end,
                Py_ssize_t sa, Py_ssize_t sb, int num_threads):
    """Maxima of the bins of ``x`` into ``out``; with ``indices`` (not None) also their flat
    positions ``a*sa + b*sb`` in the pooled plane (the caller picks ``sa``, ``sb`` so that
    this is ``h*W + w``)."""
    cdef Py_ssize_t P = x.shape[0], Q = x.shape[2], B = x.shape[3], R = x.shape[4]
    cdef Py_ssize_t Oa = out.shape[1], Ob = out.shape[3]
    cdef Py_ssize_t u, p, i
    cdef bint with_idx = indices is not None
    cdef int64_t dummy = 0
    cdef int64_t* ip
    if P == 0 or Q == 0 or R == 0 or Oa == 0 or Ob == 0:
        return
    with nogil:
        for u in prange(P * Oa, schedule="static", num_threads=num_threads):
            p = u // Oa
            i = u - p * Oa
            if with_idx:
                ip = &indices[p, i, 0, 0, 0]
            else:
                ip = &dummy
            _max_row(&x[p, 0, 0, 0, 0], &out[p, i, 0, 0, 0], ip, with_idx, Q, B, R, Ob,
                     a_start[i], a_end[i], &b_start[0], &b_end[0], sa, sb)
