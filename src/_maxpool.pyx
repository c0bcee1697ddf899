"""Max pooling kernels: forward (values, or values and indices) and backward (scatter-add).

The Python layer (cyconv._pooling) has validated and normalised everything: arrays are
C-contiguous, native byte order, viewed as planes ``(P, H, W)``; every window holds at
least one real (unpadded) cell. The backward pass checks each index as it scatters: it
skips (never writes) one out of range and returns their count, for the caller to raise.

Layout of the forward pass: one work unit is one output row of one plane, so the units
are independent and spread over the threads with a static schedule. A unit first finds
its maxima: the output row starts at the dtype's lowest value, then every kernel tap
``(kr, kc)`` sweeps it (the columns whose tap cell is real were worked out once,
``jlo[kc] <= j < jhi[kc]``), so the inner loop is one select with no border test and the
compiler vectorises it. With ``return_indices`` a second scan over the same taps finds
where each maximum came from.

Selection rule (PyTorch's): a cell replaces the current maximum when it is larger or
NaN. Ties therefore keep the first maximum in row-major window order, and NaN wins and
propagates; its index is the window's last NaN. The index scan applies the same rule to
the known maxima: the first cell equal to the maximum, or the last NaN.

The 2x2, stride-2, unpadded window (the common downsampling layer) has its own fused
row loops.
"""
from cython.parallel cimport prange
from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
                          uint64_t)
from libc.math cimport INFINITY, NAN
from libc.string cimport memset
from libc.stdlib cimport free, malloc
from libc.stdint cimport INT64_MAX

from _types cimport real_t
from _pool_team cimport pool_team

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


cdef inline pool_t _lowest(pool_t like) noexcept nogil:
    """The smallest value of the type: -inf, 0 (unsigned) or the most negative integer."""
    cdef pool_t zero = 0
    if pool_t is float or pool_t is double or pool_t is longdouble_t:
        return -INFINITY
    elif <pool_t>(zero - 1) > zero:  # unsigned
        return zero
    else:
        return <pool_t>(<uint64_t>1 << (8 * sizeof(pool_t) - 1))  # wraps to the minimum


cdef inline void _row_values(
    const pool_t* xp, pool_t* orow, Py_ssize_t W, Py_ssize_t j0, Py_ssize_t j1,
    Py_ssize_t r0, Py_ssize_t krlo, Py_ssize_t krhi, Py_ssize_t dh,
    Py_ssize_t kw, Py_ssize_t sw, Py_ssize_t dw, Py_ssize_t pl,
    const Py_ssize_t* jlo, const Py_ssize_t* jhi,
) noexcept nogil:
    """Output columns ``j0 <= j < j1`` of one output row, values only.

    Starting from the type's lowest value is exact: every window holds a real cell, and
    a window of lowest values keeps it.
    """
    cdef Py_ssize_t j, kr, kc, off, lo, hi
    cdef const pool_t* xr
    cdef pool_t v, m, low = _lowest(orow[0])
    for j in range(j0, j1):
        orow[j] = low
    for kr in range(krlo, krhi):
        xr = xp + (r0 + kr * dh) * W
        for kc in range(kw):
            off = kc * dw - pl
            lo = max(jlo[kc], j0)
            hi = min(jhi[kc], j1)
            # constant strides 1 and 2 get their own loops: those the compiler vectorises
            if sw == 1:
                for j in range(lo, hi):
                    v = xr[j + off]
                    m = orow[j]
                    orow[j] = v if (v > m) | (v != v) else m
            elif sw == 2:
                for j in range(lo, hi):
                    v = xr[2 * j + off]
                    m = orow[j]
                    orow[j] = v if (v > m) | (v != v) else m
            else:
                for j in range(lo, hi):
                    v = xr[j * sw + off]
                    m = orow[j]
                    orow[j] = v if (v > m) | (v != v) else m


cdef inline void _row_indices(
    const pool_t* xp, const pool_t* orow, int64_t* irow, Py_ssize_t W, Py_ssize_t j0, Py_ssize_t j1,
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
    for j in range(j0, j1):
        irow[j] = -1
    for kr in range(krlo, krhi):
        r = r0 + kr * dh
        xr = xp + r * W
        for kc in range(kw):
            off = kc * dw - pl
            for j in range(max(jlo[kc], j0), min(jhi[kc], j1)):
                v = xr[j * sw + off]
                cur = irow[j]
                take = (v != v) | ((v == orow[j]) & (cur < 0))
                here = r * W + j * sw + off
                irow[j] = cur + take * (here - cur)


cdef inline void _row_indices_float(
    const pool_t* xp, const pool_t* orow, int64_t* irow, Py_ssize_t W, Py_ssize_t jbeg, Py_ssize_t jend,
    Py_ssize_t r0, Py_ssize_t krlo, Py_ssize_t krhi,
    Py_ssize_t kw, Py_ssize_t sw, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw, int shift,
    const Py_ssize_t* jlo, const Py_ssize_t* jhi,
) noexcept nogil:
    """:func:`_row_indices` for float32/float64, vectorisable.

    Same rule, but what is tracked per column is the tap ``(kr << shift) + kc`` of the
    chosen cell (``2**shift >= kw``), held in the data's own type (exact below 2**24) so
    that every statement of the scan has one width; blocks of 256 columns keep it on the
    stack. A last scalar pass turns taps into flat indices.
    """
    cdef pool_t code[256]
    cdef Py_ssize_t j, j0, n, kr, kc, lo, hi, off, t
    cdef Py_ssize_t mask = (<Py_ssize_t>1 << shift) - 1
    cdef const pool_t* xs
    cdef const pool_t* mrow
    cdef pool_t v, tap
    cdef int64_t corner = r0 * W - pl
    for j0 in range(jbeg, jend, 256):
        n = min(256, jend - j0)
        mrow = orow + j0
        for j in range(n):
            code[j] = -1
        for kr in range(krlo, krhi):
            for kc in range(kw):
                tap = (kr << shift) + kc
                off = (r0 + kr * dh) * W + kc * dw - pl
                lo = max(jlo[kc], j0) - j0
                hi = min(jhi[kc], j0 + n) - j0
                if sw == 1:
                    xs = xp + off + j0
                    for j in range(lo, hi):
                        v = xs[j]
                        code[j] = tap if (v != v) | ((v == mrow[j]) & (code[j] < 0)) else code[j]
                elif sw == 2:
                    xs = xp + off + 2 * j0
                    for j in range(lo, hi):
                        v = xs[2 * j]
                        code[j] = tap if (v != v) | ((v == mrow[j]) & (code[j] < 0)) else code[j]
                else:
                    xs = xp + off + sw * j0
                    for j in range(lo, hi):
                        v = xs[sw * j]
                        code[j] = tap if (v != v) | ((v == mrow[j]) & (code[j] < 0)) else code[j]
        for j in range(n):
            t = <Py_ssize_t>code[j]
            irow[j0 + j] = corner + (j0 + j) * sw + (t >> shift) * dh * W + (t & mask) * dw


cdef inline void _row_2x2_indices(const pool_t* xp, const pool_t* orow, int64_t* irow, Py_ssize_t r0,
                                  Py_ssize_t W, Py_ssize_t jbeg, Py_ssize_t jend) noexcept nogil:
    """:func:`_row_indices` for the 2x2, stride 2, unpadded window (float32/float64).

    Without NaN the maximum's cell is the first of the four equal to it: a select chain
    run backwards, so the earliest match is the last assignment. The chain's integers
    have the width of the data (the compiler vectorises it only then): cell offsets
    themselves for float64, codes 0..3 looked up in a second pass for float32. A row
    whose maxima include a NaN is redone by the general routine.
    """
    cdef const pool_t* x0 = xp + r0 * W
    cdef const pool_t* x1 = x0 + W
    cdef int64_t base = r0 * W
    cdef Py_ssize_t j, j0, n
    cdef int64_t q
    cdef int64_t offs[4]
    cdef int32_t code[256]
    cdef int32_t q32
    cdef pool_t a, b, c, m
    cdef bint has_nan = False
    cdef Py_ssize_t jlo[2]
    cdef Py_ssize_t jhi[2]
    for j in range(jbeg, jend):
        has_nan |= orow[j] != orow[j]
    if has_nan:
        jlo[0] = jlo[1] = jbeg
        jhi[0] = jhi[1] = jend
        _row_indices(xp, orow, irow, W, jbeg, jend, r0, 0, 2, 1, 2, 2, 1, 0, jlo, jhi)
        return
    if pool_t is double:
        for j in range(jbeg, jend):
            a = x0[2 * j]
            b = x0[2 * j + 1]
            c = x1[2 * j]
            m = orow[j]
            q = W if c == m else W + 1
            q = 1 if b == m else q
            q = 0 if a == m else q
            irow[j] = base + 2 * j + q
    else:
        offs[0] = 0
        offs[1] = 1
        offs[2] = W
        offs[3] = W + 1
        for j0 in range(jbeg, jend, 256):
            n = min(256, jend - j0)
            for j in range(n):
                a = x0[2 * (j0 + j)]
                b = x0[2 * (j0 + j) + 1]
                c = x1[2 * (j0 + j)]
                m = orow[j0 + j]
                q32 = 2 if c == m else 3
                q32 = 1 if b == m else q32
                q32 = 0 if a == m else q32
                code[j] = q32
            for j in range(n):
                irow[j0 + j] = base + 2 * (j0 + j) + offs[code[j]]


cdef inline void _row_2x2(const pool_t* x0, pool_t* orow, Py_ssize_t W, Py_ssize_t Wo) noexcept nogil:
    """One output row of the 2x2, stride 2, unpadded window, values only.

    The top input row, then the bottom one: each is read front to back (the prefetcher
    sees plain streams, not two interleaved ones), and the selects keep row-major order,
    as in the general path. Blocks of 256 columns keep the bottom row's maxima on the stack.
    """
    cdef const pool_t* x1 = x0 + W
    cdef pool_t low[256]
    cdef Py_ssize_t j, j0, n
    cdef pool_t a, b
    for j in range(Wo):
        a = x0[2 * j]
        b = x0[2 * j + 1]
        orow[j] = b if (b > a) | (b != b) else a
    for j0 in range(0, Wo, 256):
        n = min(256, Wo - j0)
        for j in range(n):
            a = x1[2 * (j0 + j)]
            b = x1[2 * (j0 + j) + 1]
            low[j] = b if (b > a) | (b != b) else a
        for j in range(n):
            a = orow[j0 + j]
            b = low[j]
            orow[j0 + j] = b if (b > a) | (b != b) else a


cdef inline Py_ssize_t _first_tap(Py_ssize_t r0, Py_ssize_t d) noexcept nogil:
    """The first kernel tap whose cell ``r0 + k*d`` is >= 0."""
    return 0 if r0 >= 0 else (-r0 + d - 1) // d


cdef inline void _narrow_rows(
    const pool_t* xp, pool_t* op, int64_t* ip, Py_ssize_t H, Py_ssize_t W, Py_ssize_t Wo,
    Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t kh, Py_ssize_t sh, Py_ssize_t pt, Py_ssize_t dh,
    Py_ssize_t sw, Py_ssize_t pl, Py_ssize_t dw, const Py_ssize_t* kclo, const Py_ssize_t* kchi,
) noexcept nogil:
    """Output rows ``i0 <= i < i1`` of a narrow plane (few output columns), values and,
    unless ``ip`` is NULL, indices, in one scalar pass per window.

    A narrow plane has too few columns for the row sweeps of :func:`_row_values` to pay
    their set-up per row; here a window is one tight loop nest. ``kclo[j] <= kc < kchi[j]``
    are output column ``j``'s real taps. Same rule as the sweeps, written without
    data-dependent branches (random data would mispredict every other one): the running
    maximum is ``v if v > m else m`` (a max instruction: ties keep the first), NaN is
    tracked on the side (any NaN makes the result NaN, its index the window's last NaN).
    """
    cdef Py_ssize_t i, j, kr, kc, r0, c0, krlo, krhi, r
    cdef const pool_t* xr
    cdef pool_t v, m, low = _lowest(op[0])
    cdef int64_t best, nan_at, here
    cdef int take, anynan
    for i in range(i0, i1):
        r0 = i * sh - pt
        krlo = _first_tap(r0, dh)
        krhi = min(kh, (H - 1 - r0) // dh + 1)
        for j in range(Wo):
            c0 = j * sw - pl
            m = low
            best = -1
            nan_at = -1
            anynan = 0
            for kr in range(krlo, krhi):
                r = r0 + kr * dh
                xr = xp + r * W + c0
                here = r * W + c0
                if ip == NULL:
                    for kc in range(kclo[j], kchi[j]):
                        v = xr[kc * dw]
                        anynan = anynan | (v != v)
                        m = v if v > m else m
                else:
                    for kc in range(kclo[j], kchi[j]):
                        v = xr[kc * dw]
                        take = (v > m) | (best < 0)
                        best = here + kc * dw if take else best
                        nan_at = here + kc * dw if v != v else nan_at
                        m = v if v > m else m
            if pool_t is float or pool_t is double or pool_t is longdouble_t:
                if ip != NULL:
                    anynan = nan_at >= 0
                if anynan:
                    m = NAN
                    best = nan_at
            op[i * Wo + j] = m
            if ip != NULL:
                ip[i * Wo + j] = best


cdef inline void _transposed_indices(
    const pool_t* T, const pool_t* orow, int64_t* irow, Py_ssize_t R, Py_ssize_t n,
    Py_ssize_t r0T, Py_ssize_t krlo, Py_ssize_t krhi, Py_ssize_t dw,
    Py_ssize_t kh, Py_ssize_t sh, Py_ssize_t dh, Py_ssize_t plT,
    const Py_ssize_t* jlo, const Py_ssize_t* jhi, Py_ssize_t ra, Py_ssize_t W,
) noexcept nogil:
    """Indices for one row of a transposed block (one output column of the plane).

    The scan runs in the block's order (original columns outer), not row-major, so the
    rule is stated on the original flat index ``h*W + w``, which grows in row-major window
    order: the smallest index holding the maximum, or for a NaN maximum the largest NaN.
    """
    cdef Py_ssize_t j, kr, kc, off, trow
    cdef const pool_t* xr
    cdef int64_t here, cur, step = sh * W, base
    cdef pool_t v, mx
    cdef bint mnan
    for j in range(n):
        mx = orow[j]
        irow[j] = -1 if mx != mx else INT64_MAX
    for kr in range(krlo, krhi):
        trow = r0T + kr * dw
        xr = T + trow * R
        for kc in range(kh):
            off = kc * dh - plT
            base = (ra + off) * W + trow
            for j in range(jlo[kc], jhi[kc]):
                v = xr[j * sh + off]
                mx = orow[j]
                cur = irow[j]
                here = base + j * step
                mnan = mx != mx
                if mnan:
                    irow[j] = here if (v != v) & (here > cur) else cur
                else:
                    irow[j] = here if (v == mx) & (here < cur) else cur


cdef bint _narrow_block(
    const pool_t* xp, pool_t* op, int64_t* ip, Py_ssize_t H, Py_ssize_t W, Py_ssize_t Wo,
    Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
) noexcept nogil:
    """Output rows ``i0 <= i < i1`` of a narrow plane, through a transposed block.

    The block's input rows are copied transposed (W rows of R cells), pooled with the
    row sweeps of the wide path (long rows: vectorised), and the result copied back.
    False (nothing written) if the scratch cannot be allocated.
    """
    cdef Py_ssize_t ra = max(<Py_ssize_t>0, i0 * sh - pt)
    cdef Py_ssize_t rb = min(H, (i1 - 1) * sh - pt + (kh - 1) * dh + 1)
    cdef Py_ssize_t R = rb - ra, n = i1 - i0, plT = ra - (i0 * sh - pt)
    cdef Py_ssize_t r, c, kr, off, lo, hi, io, jj, r0T, krlo, krhi
    cdef size_t nbytes = (W * R + Wo * n) * sizeof(pool_t) + 2 * kh * sizeof(Py_ssize_t)
    if ip != NULL:
        nbytes += Wo * n * sizeof(int64_t)
    cdef char* mem = <char*>malloc(nbytes)
    if mem == NULL:
        return False
    # the 8-byte index arrays first (malloc's alignment), then the values: a pool_t of 1, 2
    # or 4 bytes before them would misalign them
    cdef Py_ssize_t* jloT = <Py_ssize_t*>mem
    cdef Py_ssize_t* jhiT = jloT + kh
    cdef int64_t* IT = <int64_t*>(jhiT + kh)
    cdef pool_t* T = <pool_t*>(IT + (Wo * n if ip != NULL else 0))
    cdef pool_t* OT = T + W * R
    cdef const pool_t* xr
    for c in range(W):  # contiguous stores, reads strided by the (small) width
        xr = xp + ra * W + c
        for r in range(R):
            T[c * R + r] = xr[r * W]
    # the block's column plan: output jj's tap kr reads block column jj*sh - plT + kr*dh
    for kr in range(kh):
        off = kr * dh - plT
        lo = (-off + sh - 1) // sh if off < 0 else 0
        hi = min(n, max(<Py_ssize_t>0, (R - 1 - off) // sh + 1)) if R - 1 - off >= 0 else 0
        jloT[kr] = min(lo, max(hi, lo))
        jhiT[kr] = max(hi, lo)
    for io in range(Wo):
        r0T = io * sw - pl
        krlo = _first_tap(r0T, dw)
        krhi = min(kw, (W - 1 - r0T) // dw + 1)
        _row_values(T, OT + io * n, R, 0, n, r0T, krlo, krhi, dw, kh, sh, dh, plT, jloT, jhiT)
        if ip != NULL:
            _transposed_indices(T, OT + io * n, IT + io * n, R, n, r0T, krlo, krhi, dw, kh, sh, dh,
                                plT, jloT, jhiT, ra, W)
    for jj in range(n):
        for io in range(Wo):
            op[(i0 + jj) * Wo + io] = OT[io * n + jj]
    if ip != NULL:
        for jj in range(n):
            for io in range(Wo):
                ip[(i0 + jj) * Wo + io] = IT[io * n + jj]
    free(mem)
    return True


# Output columns per work unit of the row sweeps (a wide plane's rows are split in blocks
# of this many, so that one long row still spreads over the threads), and the widest
# output that takes the narrow path instead.
cdef enum:
    COLUMN_BLOCK = 4096
    NARROW_WO = 4
    NARROW_ROWS = 512


cdef inline void _forward_unit(
    const pool_t* xp, pool_t* op, int64_t* ip, Py_ssize_t H, Py_ssize_t W, Py_ssize_t Ho,
    Py_ssize_t Wo, Py_ssize_t i, Py_ssize_t j0, Py_ssize_t j1,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
    Py_ssize_t dh, Py_ssize_t dw, const Py_ssize_t* jlo, const Py_ssize_t* jhi,
    bint fast2x2, bint small_kernel, int shift,
) noexcept nogil:
    """Columns ``j0 <= j < j1`` of output row ``i`` of one plane (values, and indices
    unless ``ip`` is NULL)."""
    cdef Py_ssize_t r0 = i * sh - pt, krlo, krhi
    cdef pool_t* orow = op + i * Wo
    cdef int64_t* irow = NULL if ip == NULL else ip + i * Wo
    if fast2x2 and (pool_t is float or pool_t is double or ip == NULL):
        _row_2x2(xp + 2 * i * W + 2 * j0, orow + j0, W, j1 - j0)
        if ip != NULL:
            _row_2x2_indices(xp, orow, irow, 2 * i, W, j0, j1)
        return
    krlo = _first_tap(r0, dh)
    krhi = min(kh, (H - 1 - r0) // dh + 1)
    _row_values(xp, orow, W, j0, j1, r0, krlo, krhi, dh, kw, sw, dw, pl, jlo, jhi)
    if ip != NULL:
        if (pool_t is float or pool_t is double) and small_kernel:
            _row_indices_float(xp, orow, irow, W, j0, j1, r0, krlo, krhi, kw, sw, pl, dh, dw,
                               shift, jlo, jhi)
        else:
            _row_indices(xp, orow, irow, W, j0, j1, r0, krlo, krhi, dh, kw, sw, dw, pl, jlo, jhi)


cdef inline void _work_unit(
    Py_ssize_t u, bint narrow, Py_ssize_t nb, const pool_t* xp0, pool_t* op0, int64_t* ip0,
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t Ho, Py_ssize_t Wo,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl,
    Py_ssize_t dh, Py_ssize_t dw, const Py_ssize_t* jlo, const Py_ssize_t* jhi,
    const Py_ssize_t* kclo, const Py_ssize_t* kchi, bint fast2x2, bint small_kernel, int shift,
) noexcept nogil:
    """Work unit ``u`` of :func:`forward` (its docstring gives the units)."""
    cdef Py_ssize_t p, i, b, rest
    if narrow:
        p = u // nb
        b = u - p * nb
        if not _narrow_block(xp0 + p * H * W, op0 + p * Ho * Wo,
                             NULL if ip0 == NULL else ip0 + p * Ho * Wo, H, W, Wo,
                             b * NARROW_ROWS, min(Ho, (b + 1) * NARROW_ROWS),
                             kh, kw, sh, sw, pt, pl, dh, dw):
            _narrow_rows(xp0 + p * H * W, op0 + p * Ho * Wo,
                         NULL if ip0 == NULL else ip0 + p * Ho * Wo, H, W, Wo,
                         b * NARROW_ROWS, min(Ho, (b + 1) * NARROW_ROWS),
                         kh, sh, pt, dh, sw, pl, dw, kclo, kchi)
    elif nb == 1:  # (integer divisions cost tens of cycles: one per unit)
        p = u // Ho
        i = u - p * Ho
        _forward_unit(xp0 + p * H * W, op0 + p * Ho * Wo,
                      NULL if ip0 == NULL else ip0 + p * Ho * Wo, H, W, Ho, Wo, i, 0, Wo,
                      kh, kw, sh, sw, pt, pl, dh, dw, jlo, jhi,
                      fast2x2, small_kernel, shift)
    else:
        p = u // (Ho * nb)
        rest = u - p * (Ho * nb)
        i = rest // nb
        b = rest - i * nb
        _forward_unit(xp0 + p * H * W, op0 + p * Ho * Wo,
                      NULL if ip0 == NULL else ip0 + p * Ho * Wo, H, W, Ho, Wo, i,
                      b * COLUMN_BLOCK, min(Wo, (b + 1) * COLUMN_BLOCK),
                      kh, kw, sh, sw, pt, pl, dh, dw, jlo, jhi,
                      fast2x2, small_kernel, shift)


def forward(
    const pool_t[:, :, ::1] x, pool_t[:, :, ::1] out, int64_t[:, :, ::1] indices,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
    const Py_ssize_t[::1] jlo, const Py_ssize_t[::1] jhi, int num_threads,
):
    """Max pool every plane of ``x`` into ``out`` (and ``indices`` unless it is None).

    Work units: blocks of ``NARROW_ROWS`` output rows of a narrow, tall plane (``Wo <=
    NARROW_WO``, ``Ho >= NARROW_ROWS``), else (plane, output row, block of ``COLUMN_BLOCK`` output columns), so
    that the throughput does not depend on the planes' aspect ratio. ``num_threads`` is
    the most to use; small calls run on the calling thread (:func:`pool_team`).
    """
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t Ho = out.shape[1], Wo = out.shape[2]
    cdef Py_ssize_t u, j, c0, nb, units
    cdef bint with_indices = indices is not None
    cdef int64_t* ip0 = NULL
    # tap numbers (kr << shift) + kc of the vectorisable index scan must be exact in float32
    cdef int shift = 0
    while (<Py_ssize_t>1 << shift) < kw:
        shift += 1
    cdef bint small_kernel = (kh << shift) < (1 << 24)
    cdef bint fast2x2 = (kh == 2 and kw == 2 and sh == 2 and sw == 2 and pt == 0 and pl == 0
                         and dh == 1 and dw == 1 and 2 * Ho <= H and 2 * Wo <= W)
    # small planes: the row sweeps; with indices only one-column results pay for the block
    cdef bint narrow = (Wo <= NARROW_WO if not with_indices else Wo == 1) and Ho >= NARROW_ROWS
    cdef Py_ssize_t kclo[NARROW_WO]
    cdef Py_ssize_t kchi[NARROW_WO]
    if P == 0 or Ho == 0 or Wo == 0:
        return
    if with_indices:
        ip0 = &indices[0, 0, 0]
    cdef const pool_t* xp0 = &x[0, 0, 0]
    cdef pool_t* op0 = &out[0, 0, 0]
    cdef int nt = pool_team(num_threads, P * H * W + P * Ho * Wo * kh * kw)
    if narrow:
        for j in range(Wo):
            c0 = j * sw - pl
            kclo[j] = _first_tap(c0, dw)
            kchi[j] = min(kw, (W - 1 - c0) // dw + 1)
        nb = (Ho + NARROW_ROWS - 1) // NARROW_ROWS
    else:
        nb = (Wo + COLUMN_BLOCK - 1) // COLUMN_BLOCK
    units = P * (nb if narrow else Ho * nb)
    with nogil:
        if nt == 1:  # (no parallel region for a call that runs on the calling thread)
            for u in range(units):
                _work_unit(u, narrow, nb, xp0, op0, ip0, H, W, Ho, Wo, kh, kw, sh, sw, pt, pl,
                           dh, dw, &jlo[0], &jhi[0], kclo, kchi, fast2x2, small_kernel, shift)
        else:
            for u in prange(units, schedule="static", num_threads=nt):
                _work_unit(u, narrow, nb, xp0, op0, ip0, H, W, Ho, Wo, kh, kw, sh, sw, pt, pl,
                           dh, dw, &jlo[0], &jhi[0], kclo, kchi, fast2x2, small_kernel, shift)


cdef inline Py_ssize_t _zero_to(real_t* gi, Py_ssize_t zeroed, uint64_t a, Py_ssize_t HW) noexcept nogil:
    """Extend the zeroed prefix ``gi[:zeroed]`` past cell ``a`` (< HW) by at least a chunk."""
    cdef Py_ssize_t hi = max(<Py_ssize_t>a + 1, zeroed + 2048 // <Py_ssize_t>sizeof(real_t))
    hi = min(hi, HW)
    memset(gi + zeroed, 0, (hi - zeroed) * sizeof(real_t))
    return hi


cdef inline Py_ssize_t _scatter_plane(const real_t* go, const int64_t* ix, real_t* gi,
                                      Py_ssize_t L, Py_ssize_t HW) noexcept nogil:
    """Zero ``gi[:HW]`` and add ``go[k]`` to ``gi[ix[k]]``; returns how many indices were
    outside ``[0, HW)`` (skipped, never written).

    The plane is zeroed lazily, a chunk ahead of the largest index seen so far: pooling
    indices mostly grow, so a line is zeroed just before it is added to, while in L1.
    ``gi[:zeroed]`` is always zero or already added to, so any index order is correct.
    One unsigned compare of the group's largest index against ``zeroed`` serves both the
    zeroing and the bounds check (negative indices are huge as unsigned).
    """
    cdef Py_ssize_t k, zeroed = 0, nbad = 0
    cdef int64_t a0, a1, a2, a3
    cdef uint64_t n = <uint64_t>HW, top
    # Four at a time: the loads of a group issue together (the adds stay in order, so
    # windows sharing a maximum still add up correctly).
    for k in range(0, L - 3, 4):
        a0 = ix[k]
        a1 = ix[k + 1]
        a2 = ix[k + 2]
        a3 = ix[k + 3]
        top = max(max(<uint64_t>a0, <uint64_t>a1), max(<uint64_t>a2, <uint64_t>a3))
        if top >= <uint64_t>zeroed:
            if top >= n:
                nbad = nbad + (<uint64_t>a0 >= n) + (<uint64_t>a1 >= n) \
                    + (<uint64_t>a2 >= n) + (<uint64_t>a3 >= n)
                continue
            zeroed = _zero_to(gi, zeroed, top, HW)
        gi[a0] += go[k]
        gi[a1] += go[k + 1]
        gi[a2] += go[k + 2]
        gi[a3] += go[k + 3]
    for k in range(L - L % 4, L):
        top = <uint64_t>ix[k]
        if top >= <uint64_t>zeroed:
            if top >= n:
                nbad = nbad + 1
                continue
            zeroed = _zero_to(gi, zeroed, top, HW)
        gi[top] += go[k]
    memset(gi + zeroed, 0, (HW - zeroed) * sizeof(real_t))
    return nbad


def backward(const real_t[:, ::1] grad_output, const int64_t[:, ::1] indices,
             real_t[:, ::1] grad_input, int num_threads):
    """(``num_threads``: the most to use, see :func:`pool_team`.) Scatter-add each plane's ``grad_output`` to ``grad_input[p, indices]`` (zeroed first).

    Returns how many indices fall outside ``[0, H*W)``: those are skipped, never written,
    and the caller raises when the count is not zero (the check rides along with the
    scatter instead of costing a pass of its own). Each thread zeroes and fills its own
    planes, so a plane is written while it is in cache, and planes are independent:
    threads never write to the same one.
    """
    cdef Py_ssize_t P = grad_input.shape[0], HW = grad_input.shape[1], L = grad_output.shape[1]
    cdef Py_ssize_t p, bad = 0
    if P == 0:
        return 0
    if HW == 0:
        return P * L  # no cell to point at (0 when there is no index either)
    cdef int nt = pool_team(num_threads, P * (HW + 2 * L))
    with nogil:
        if nt == 1:
            for p in range(P):
                bad += _scatter_plane(&grad_output[p, 0], &indices[p, 0], &grad_input[p, 0], L, HW)
        else:
            for p in prange(P, schedule="static", num_threads=nt):
                bad += _scatter_plane(&grad_output[p, 0], &indices[p, 0], &grad_input[p, 0], L, HW)
    return bad
