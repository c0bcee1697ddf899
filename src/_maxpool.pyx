"""Max pooling kernels: forward (values, or values and indices) and backward (scatter-add).

The Python layer (cyconv._pooling) has validated and normalised everything: arrays are
C-contiguous, native byte order, viewed as planes ``(P, H, W)``; every window holds at
least one real (unpadded) cell; indices given to the backward pass are in range.

Layout of the forward pass: one work unit is one output row of one plane, so the units
are independent and spread over the threads with a static schedule. For a unit, each
output value starts as the first real cell of its window, then every kernel tap
``(kr, kc)`` in row-major order sweeps the output row (the columns of that tap whose
input cell is real were worked out once, ``jlo[kc] <= j < jhi[kc]``). The inner loop is
the same select for every column: no per-element border test, so the compiler can
vectorise it.

Selection rule (PyTorch's): a cell replaces the current maximum when it is larger or
NaN. Starting from the first cell, ties therefore keep the first maximum in row-major
window order, and NaN wins and propagates, the index pointing at the last NaN.
"""
from cython.parallel cimport prange
from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
                          uint64_t)
from libc.string cimport memset

from _types cimport real_t

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
    long double


cdef inline void _row_values(
    const pool_t* xp, pool_t* orow, Py_ssize_t W, Py_ssize_t Wo,
    Py_ssize_t r0, Py_ssize_t krlo, Py_ssize_t krhi, Py_ssize_t dh,
    Py_ssize_t kw, Py_ssize_t sw, Py_ssize_t dw, Py_ssize_t pl,
    const Py_ssize_t* jlo, const Py_ssize_t* jhi, const Py_ssize_t* cfirst,
) noexcept nogil:
    """One output row, values only."""
    cdef Py_ssize_t j, kr, kc, off
    cdef const pool_t* xr = xp + (r0 + krlo * dh) * W
    cdef pool_t v, m
    for j in range(Wo):
        orow[j] = xr[cfirst[j]]
    for kr in range(krlo, krhi):
        xr = xp + (r0 + kr * dh) * W
        for kc in range(kw):
            off = kc * dw - pl
            if sw == 1:
                for j in range(jlo[kc], jhi[kc]):
                    v = xr[j + off]
                    m = orow[j]
                    orow[j] = v if (v > m) | (v != v) else m
            else:
                for j in range(jlo[kc], jhi[kc]):
                    v = xr[j * sw + off]
                    m = orow[j]
                    orow[j] = v if (v > m) | (v != v) else m


cdef inline void _row_indices(
    const pool_t* xp, const pool_t* orow, int64_t* irow, Py_ssize_t W, Py_ssize_t Wo,
    Py_ssize_t r0, Py_ssize_t krlo, Py_ssize_t krhi, Py_ssize_t dh,
    Py_ssize_t kw, Py_ssize_t sw, Py_ssize_t dw, Py_ssize_t pl,
    const Py_ssize_t* jlo, const Py_ssize_t* jhi,
) noexcept nogil:
    """The flat indices ``h*W + w`` of one output row whose maxima ``orow`` are known.

    The maximum's cell is the first cell equal to it (ties) or, for a NaN maximum, the
    last NaN. Scanning the window in row-major order from ``irow = -1``, a cell is taken
    when it is NaN or when it equals the maximum and nothing was taken yet. The update is
    integer arithmetic, not a branch: random data would mispredict every other branch.
    """
    cdef Py_ssize_t j, kr, kc, off, r
    cdef const pool_t* xr
    cdef int64_t here, cur, take
    cdef pool_t v
    for j in range(Wo):
        irow[j] = -1
    for kr in range(krlo, krhi):
        r = r0 + kr * dh
        xr = xp + r * W
        for kc in range(kw):
            off = kc * dw - pl
            for j in range(jlo[kc], jhi[kc]):
                v = xr[j * sw + off]
                cur = irow[j]
                take = (v != v) | ((v == orow[j]) & (cur < 0))
                here = r * W + j * sw + off
                irow[j] = cur + take * (here - cur)


cdef inline void _row_2x2_indices(const pool_t* x0, const pool_t* orow, int64_t* irow, int64_t base,
                                  Py_ssize_t W, Py_ssize_t Wo) noexcept nogil:
    """:func:`_row_indices` for the 2x2, stride 2, unpadded window.

    Cell ``q`` of the window (0, 1 on the top row, 2, 3 below) is picked by two select
    chains the compiler can vectorise: the first cell equal to the maximum (chain run
    backwards, so the earliest match is the last assignment) and the last NaN.
    """
    cdef const pool_t* x1 = x0 + W
    cdef Py_ssize_t j
    cdef int q, qnan
    cdef pool_t a, b, c, d, m
    for j in range(Wo):
        a = x0[2 * j]
        b = x0[2 * j + 1]
        c = x1[2 * j]
        d = x1[2 * j + 1]
        m = orow[j]
        q = 2 if c == m else 3
        q = 1 if b == m else q
        q = 0 if a == m else q
        qnan = 1 if b != b else 0
        qnan = 2 if c != c else qnan
        qnan = 3 if d != d else qnan
        q = qnan if m != m else q
        irow[j] = base + 2 * j + (q & 1) + (q >> 1) * W


cdef inline void _row_2x2(const pool_t* x0, pool_t* orow, Py_ssize_t W, Py_ssize_t Wo) noexcept nogil:
    """One output row of the 2x2, stride 2, unpadded window, values only."""
    cdef const pool_t* x1 = x0 + W
    cdef Py_ssize_t j
    cdef pool_t a, b, c, d
    for j in range(Wo):
        a = x0[2 * j]
        b = x0[2 * j + 1]
        c = x1[2 * j]
        d = x1[2 * j + 1]
        a = b if (b > a) | (b != b) else a
        a = c if (c > a) | (c != c) else a
        orow[j] = d if (d > a) | (d != d) else a


cdef inline Py_ssize_t _first_tap(Py_ssize_t r0, Py_ssize_t d) noexcept nogil:
    """The first kernel tap whose cell ``r0 + k*d`` is >= 0."""
    return 0 if r0 >= 0 else (-r0 + d - 1) // d


def forward(
    const pool_t[:, :, ::1] x, pool_t[:, :, ::1] out, int64_t[:, :, ::1] indices,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
    const Py_ssize_t[::1] jlo, const Py_ssize_t[::1] jhi, const Py_ssize_t[::1] cfirst,
    int num_threads,
):
    """Max pool every plane of ``x`` into ``out`` (and ``indices`` unless it is None)."""
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t Ho = out.shape[1], Wo = out.shape[2]
    cdef Py_ssize_t u, p, i, r0, krlo, krhi
    cdef bint with_indices = indices is not None
    cdef bint fast2x2 = (kh == 2 and kw == 2 and sh == 2 and sw == 2 and pt == 0 and pl == 0
                         and dh == 1 and dw == 1 and 2 * Ho <= H and 2 * Wo <= W)
    if P == 0:
        return
    with nogil:
        for u in prange(P * Ho, schedule="static", num_threads=num_threads):
            p = u // Ho
            i = u - p * Ho
            r0 = i * sh - pt
            if fast2x2:
                _row_2x2(&x[p, 2 * i, 0], &out[p, i, 0], W, Wo)
                if with_indices:
                    _row_2x2_indices(&x[p, 2 * i, 0], &out[p, i, 0], &indices[p, i, 0], 2 * i * W, W, Wo)
                continue
            krlo = _first_tap(r0, dh)
            krhi = min(kh, (H - 1 - r0) // dh + 1)
            _row_values(&x[p, 0, 0], &out[p, i, 0], W, Wo, r0, krlo, krhi,
                        dh, kw, sw, dw, pl, &jlo[0], &jhi[0], &cfirst[0])
            if with_indices:
                _row_indices(&x[p, 0, 0], &out[p, i, 0], &indices[p, i, 0], W, Wo, r0, krlo, krhi,
                             dh, kw, sw, dw, pl, &jlo[0], &jhi[0])


def backward(const real_t[:, ::1] grad_output, const int64_t[:, ::1] indices,
             real_t[:, ::1] grad_input, int num_threads):
    """Scatter-add each plane's ``grad_output`` to ``grad_input[p, indices]`` (zeroed first).

    Planes are independent, so threads never write to the same plane.
    """
    cdef Py_ssize_t P = grad_input.shape[0], HW = grad_input.shape[1], L = grad_output.shape[1]
    cdef Py_ssize_t p, k
    cdef int64_t a0, a1, a2, a3
    cdef real_t* gi
    cdef const real_t* go
    cdef const int64_t* ix
    if P == 0 or HW == 0:
        return
    with nogil:
        for p in prange(P, schedule="static", num_threads=num_threads):
            gi = &grad_input[p, 0]
            memset(gi, 0, HW * sizeof(real_t))
            if L == 0:
                continue
            go = &grad_output[p, 0]
            ix = &indices[p, 0]
            # Four at a time: the loads of a group issue together (the adds stay in order,
            # so windows sharing a maximum still add up correctly).
            for k in range(0, L - 3, 4):
                a0 = ix[k]
                a1 = ix[k + 1]
                a2 = ix[k + 2]
                a3 = ix[k + 3]
                gi[a0] += go[k]
                gi[a1] += go[k + 1]
                gi[a2] += go[k + 2]
                gi[a3] += go[k + 3]
            for k in range(L - L % 4, L):
                gi[ix[k]] += go[k]


def count_out_of_range(const int64_t[::1] indices, int64_t n, int num_threads):
    """How many of ``indices`` fall outside ``[0, n)``."""
    cdef Py_ssize_t k, bad = 0
    with nogil:
        for k in prange(indices.shape[0], schedule="static", num_threads=num_threads):
            bad += <uint64_t>indices[k] >= <uint64_t>n
    return bad
