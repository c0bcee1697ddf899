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
from cython.parallel cimport prange, threadid
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


cdef inline real_t _run_sum(const real_t* v, Py_ssize_t n) noexcept nogil:
    """Sum of ``v[0:n]`` in four interleaved partial sums (independent adds pipeline; a
    global pooling sums whole planes)."""
    cdef real_t s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t k
    for k in range(0, n - 3, 4):
        s0 = s0 + v[k]
        s1 = s1 + v[k + 1]
        s2 = s2 + v[k + 2]
        s3 = s3 + v[k + 3]
    for k in range(n - n % 4, n):
        s0 = s0 + v[k]
    return (s0 + s1) + (s2 + s3)


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
                if Q == 1 and bs[j] == 0 and be[j] == B:  # whole rows: one contiguous run
                    acc = _run_sum(x + a0 * B, (a1 - a0) * B)
                else:
                    for a in range(a0, a1):
                        acc = acc + _run_sum(x + (a * Q + q) * B + bs[j], be[j] - bs[j])
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


def avg_forward(x, out, a_start, a_end, b_start, b_end, int num_threads):
    """``out[p, i, q, j, r]`` = mean of ``x[p, a_start[i]:a_end[i], q, b_start[j]:b_end[j], r]``."""
    if x.itemsize == 4:
        _avg_forward[float](x, out, a_start, a_end, b_start, b_end, num_threads)
    else:
        _avg_forward[double](x, out, a_start, a_end, b_start, b_end, num_threads)


cdef void _avg_forward(const real_t[:, :, :, :, ::1] x, real_t[:, :, :, :, ::1] out,
                       const Py_ssize_t[::1] a_start, const Py_ssize_t[::1] a_end,
                       const Py_ssize_t[::1] b_start, const Py_ssize_t[::1] b_end,
                       int num_threads) noexcept:
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


cdef inline void _avg_back_row(const real_t* g, real_t* gi, real_t* tmp, Py_ssize_t Q,
                               Py_ssize_t B, Py_ssize_t R, Py_ssize_t Ob,
                               Py_ssize_t i0, Py_ssize_t i1, const real_t* ra, const real_t* rb,
                               const Py_ssize_t* jlo, const Py_ssize_t* jhi) noexcept nogil:
    """Input row ``a`` of one ``p``: ``sum_i sum_j g[p, i, q, j, r] * ra[i] * rb[j]`` over the bins
    ``i0 <= i < i1``, ``jlo[b] <= j < jhi[b]`` that contain the cell (``ra``, ``rb``: the
    reciprocal bin sizes).

    Separable: first the bins of the first axis are summed into ``tmp[j, r]`` (this
    thread's scratch row), then each cell sums its bins of the second axis from it. Both
    inner loops run over contiguous memory.
    """
    cdef Py_ssize_t q, b, i, j, r, t, L = Ob * R
    cdef const real_t* gr
    cdef real_t* o
    cdef real_t wgt, acc
    for q in range(Q):
        for t in range(L):
            tmp[t] = 0
        for i in range(i0, i1):
            wgt = ra[i]
            gr = g + (i * Q + q) * L
            for t in range(L):
                tmp[t] = tmp[t] + gr[t] * wgt
        if R == 1:  # NCHW: one value per cell, summed in a register
            o = gi + q * B
            for b in range(B):
                acc = 0
                for j in range(jlo[b], jhi[b]):
                    acc = acc + tmp[j] * rb[j]
                o[b] = acc
            continue
        for b in range(B):
            o = gi + (q * B + b) * R
            for r in range(R):
                o[r] = 0
            for j in range(jlo[b], jhi[b]):
                wgt = rb[j]
                for r in range(R):
                    o[r] = o[r] + tmp[j * R + r] * wgt


def avg_backward(grad_output, grad_input, work, ra, rb, ilo, ihi, jlo, jhi, int num_threads):
    """The adjoint of :func:`avg_forward` (see :func:`_avg_backward`)."""
    if grad_input.itemsize == 4:
        _avg_backward[float](grad_output, grad_input, work, ra, rb, ilo, ihi, jlo, jhi, num_threads)
    else:
        _avg_backward[double](grad_output, grad_input, work, ra, rb, ilo, ihi, jlo, jhi, num_threads)


cdef void _avg_backward(const real_t[:, :, :, :, ::1] grad_output, real_t[:, :, :, :, ::1] grad_input,
                        real_t[:, ::1] work, const real_t[::1] ra, const real_t[::1] rb,
                        const Py_ssize_t[::1] ilo, const Py_ssize_t[::1] ihi,
                        const Py_ssize_t[::1] jlo, const Py_ssize_t[::1] jhi, int num_threads) noexcept:
    """The adjoint of :func:`avg_forward`; every ``grad_input`` cell is written once.

    ``ilo[a] <= i < ihi[a]`` are the output bins of the first pooled axis that contain
    input cell ``a``, ``jlo``/``jhi`` the same for the second; ``ra``/``rb`` are the bins'
    reciprocal sizes and ``work`` holds one ``Ob*R`` scratch row per thread.
    """
    cdef Py_ssize_t P = grad_input.shape[0], A = grad_input.shape[1], Q = grad_input.shape[2]
    cdef Py_ssize_t B = grad_input.shape[3], R = grad_input.shape[4]
    cdef Py_ssize_t Ob = grad_output.shape[3]
    cdef Py_ssize_t u, p, a
    if P == 0 or A == 0 or Q == 0 or B == 0 or R == 0:
        return
    with nogil:
        for u in prange(P * A, schedule="static", num_threads=num_threads):
            p = u // A
            a = u - p * A
            _avg_back_row(&grad_output[p, 0, 0, 0, 0], &grad_input[p, a, 0, 0, 0], &work[threadid(), 0],
                          Q, B, R, Ob, ilo[a], ihi[a], &ra[0], &rb[0], &jlo[0], &jhi[0])


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


cdef inline void _max_row(const pool_t* x, pool_t* out, int64_t* idx, bint with_idx, bint rowmajor,
                          Py_ssize_t Q, Py_ssize_t B, Py_ssize_t R, Py_ssize_t Ob,
                          Py_ssize_t a0, Py_ssize_t a1,
                          const Py_ssize_t* bs, const Py_ssize_t* be,
                          Py_ssize_t sa, Py_ssize_t sb) noexcept nogil:
    """Output row ``i`` (bin rows ``[a0, a1)``) of one ``p``: the maxima and, with ``with_idx``,
    their positions ``a*sa + b*sb`` in the pooled plane.

    Each bin starts from its first cell (bins are never empty), then every further cell
    replaces the maximum as :func:`_takes` says; when the cells are visited in row-major
    order (``rowmajor``), and for the values alone, that is: when it is larger or NaN.
    """
    cdef Py_ssize_t q, j, a, b, r, k
    cdef const pool_t* xr
    cdef pool_t* o
    cdef int64_t* ix
    cdef pool_t v, m
    cdef int64_t at, here, cur, t
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
                    if rowmajor:  # a later cell never wins a tie, a NaN always wins
                        for b in range(bs[j], be[j]):
                            v = xr[b]
                            t = (v > m) | (v != v)
                            m = v if t else m
                            # arithmetic, not a branch: random data would mispredict half of them
                            at = at + t * (a * sa + b * sb - at)
                    else:
                        for b in range(bs[j], be[j]):
                            v = xr[b]
                            here = a * sa + b * sb
                            take = _takes(v, m, here, at)
                            m = v if take else m
                            at = here if take else at
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
                        if with_idx and rowmajor:
                            for r in range(R):
                                v = xr[r]
                                m = o[r]
                                cur = ix[r]
                                t = (v > m) | (v != v)
                                o[r] = v if t else m
                                ix[r] = cur + t * (here - cur)
                        elif with_idx:
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


cdef void _max_forward(const pool_t[:, :, :, :, ::1] x, pool_t[:, :, :, :, ::1] out,
                       int64_t[:, :, :, :, ::1] indices,
                       const Py_ssize_t[::1] a_start, const Py_ssize_t[::1] a_end,
                       const Py_ssize_t[::1] b_start, const Py_ssize_t[::1] b_end,
                       Py_ssize_t sa, Py_ssize_t sb, int num_threads) noexcept:
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
            _max_row(&x[p, 0, 0, 0, 0], &out[p, i, 0, 0, 0], ip, with_idx, sa >= sb, Q, B, R, Ob,
                     a_start[i], a_end[i], &b_start[0], &b_end[0], sa, sb)


def max_forward(x, out, indices, a_start, a_end, b_start, b_end, Py_ssize_t sa, Py_ssize_t sb,
                int num_threads):
    """Maxima of the bins of ``x`` into ``out``; with ``indices`` (not None) also their flat
    positions ``a*sa + b*sb`` in the pooled plane (the caller picks ``sa``, ``sb`` so that
    this is ``h*W + w``).

    One entry point, dispatching on the dtype here: a ``def`` with fused arguments would
    cost kilobytes of argument-parsing code for each of the eleven types.
    """
    cdef str kind = x.dtype.kind
    cdef Py_ssize_t size = x.dtype.itemsize
    if kind == "f":
        if x.dtype.char == "f":
            _max_forward[float](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
        elif x.dtype.char == "d":
            _max_forward[double](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
        else:
            _max_forward[longdouble_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
    elif kind == "u":
        if size == 1:
            _max_forward[uint8_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
        elif size == 2:
            _max_forward[uint16_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
        elif size == 4:
            _max_forward[uint32_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
        else:
            _max_forward[uint64_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
    elif size == 1:
        _max_forward[int8_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
    elif size == 2:
        _max_forward[int16_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
    elif size == 4:
        _max_forward[int32_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
    else:
        _max_forward[int64_t](x, out, indices, a_start, a_end, b_start, b_end, sa, sb, num_threads)
