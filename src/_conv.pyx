"""Forward convolution kernels (compiled twice: baseline and AVX2+FMA, see CMakeLists).

Two strategies, chosen by the Python layer (cyconv._convolution):

* GEMM: ``im2col_images`` gathers the patches of a block of images (or of a block
  of output rows of one image) into a workspace; NumPy's matmul (multithreaded
  BLAS) multiplies the weight matrix with it; ``scatter_bias`` / ``add_bias`` move
  the product into the (N, C_out, Ho*Wo) result and add the bias.
* Direct: ``direct_conv`` computes every output row as a sum of scaled, shifted
  input rows (copied zero-padded into a small per-thread scratch) -- no workspace,
  vectorisable inner loops, parallel over (image, group, block of output rows).
  It wins with few output channels per group (depthwise, LeNet-sized layers,
  3-channel images) and for tiny inputs. float32 with unit column stride does four
  output channels per pass with the sums in registers (``_tile4``); depthwise 3x3
  with unit strides has its own two-rows-per-pass loop (``_rows3x3``).

Arrays arrive canonical (C-contiguous, native, float32/float64, validated shapes);
zero padding is virtual (top/left offsets; reads past the bottom/right edge are 0). The
offsets may be negative: the Python layer drops kernel rows/columns that only read
padding, and the remaining taps then start inside the input.
"""
from cython.parallel cimport prange, parallel, threadid
from libc.stdlib cimport calloc, free

from _types cimport real_t
from _im2col cimport ConvGeom, make_geom, im2col, im2col_row


cdef ConvGeom _geom(tuple geom):
    """(kh, kw, sh, sw, dh, dw, pt, pl, ho, wo) -> ConvGeom."""
    return make_geom(geom[0], geom[1], geom[2], geom[3], geom[4], geom[5],
                     geom[6], geom[7], geom[8], geom[9])


def im2col_images(const real_t[:, :, :, ::1] x, real_t[:, ::1] cols, tuple geom,
                  Py_ssize_t n0, Py_ssize_t nb, Py_ssize_t c0, Py_ssize_t cn,
                  Py_ssize_t oh0, Py_ssize_t oh1, int nthreads):
    """Columns of images [n0, n0+nb), channels [c0, c0+cn), output rows [oh0, oh1).

    cols has cn*kh*kw rows; image b's block starts at column b*(oh1-oh0)*wo.
    """
    cdef ConvGeom g = _geom(geom)
    cdef Py_ssize_t h = x.shape[2], w = x.shape[3], c_in = x.shape[1]
    cdef Py_ssize_t taps = g.kh * g.kw, rows = cn * taps
    cdef Py_ssize_t span = (oh1 - oh0) * g.wo, ld = cols.strides[0] // sizeof(real_t)
    cdef Py_ssize_t item, b, r, c, t
    cdef const real_t* base = &x[0, 0, 0, 0]
    cdef real_t* dst = &cols[0, 0]
    with nogil:
        for item in prange(nb * rows, schedule="static", num_threads=nthreads):
            r = item % rows
            b = item // rows
            c = c0 + r // taps
            t = r % taps
            im2col_row(base + ((n0 + b) * c_in + c) * h * w, h, w, &g, t // g.kw, t % g.kw,
                       oh0, oh1, dst + r * ld + b * span)


def im2col_image(const real_t[:, :, ::1] x, real_t[:, ::1] cols, tuple geom,
                 Py_ssize_t c0, Py_ssize_t cn, Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t col0):
    """The shared _im2col.pxd routine on one image (for its tests)."""
    cdef ConvGeom g = _geom(geom)
    with nogil:
        im2col(x, &g, c0, cn, oh0, oh1, cols, col0)


def scatter_bias(const real_t[:, ::1] prod, real_t[:, :, ::1] out, const real_t[::1] bias,
                 bint has_bias, Py_ssize_t n0, Py_ssize_t nb, Py_ssize_t c0, int nthreads):
    """out[n0+b, c0+co, :] = prod[co, b*L:(b+1)*L] (+ bias[c0+co]), L = out.shape[2]."""
    cdef Py_ssize_t cn = prod.shape[0], L = out.shape[2]
    cdef Py_ssize_t item, b, co, p
    cdef real_t v
    cdef const real_t* src
    cdef real_t* dst
    with nogil:
        for item in prange(nb * cn, schedule="static", num_threads=nthreads):
            b = item // cn
            co = item % cn
            src = &prod[co, b * L]
            dst = &out[n0 + b, c0 + co, 0]
            v = bias[c0 + co] if has_bias else 0
            for p in range(L):
                dst[p] = src[p] + v


def add_bias(real_t[:, :, ::1] out, const real_t[::1] bias, Py_ssize_t n0, Py_ssize_t nb,
             Py_ssize_t p0, Py_ssize_t p1, int nthreads):
    """out[n0:n0+nb, c, p0:p1] += bias[c] for every channel c."""
    cdef Py_ssize_t cn = out.shape[1]
    cdef Py_ssize_t item, b, c, p
    cdef real_t v
    cdef real_t* dst
    with nogil:
        for item in prange(nb * cn, schedule="static", num_threads=nthreads):
            b = item // cn
            c = item % cn
            v = bias[c]
            dst = &out[n0 + b, c, 0]
            for p in range(p0, p1):
                dst[p] += v


# ---------------------------------------------------------------------------------
# Direct kernel. A work unit is (image, group, block of output rows): the input rows
# the block needs are copied, zero padded, into the thread's scratch
# (cg x rows x wp, wp = the padded width the taps reach), so every tap is in range;
# then, for each output channel of the group, each output row is the bias plus the
# taps (every channel's kh*kw of them) as scaled scratch rows, added several taps per
# pass over the row so the row is loaded and stored once per several multiply-adds.

cdef enum:
    # Narrower outputs are computed as one long row per block (then copied out): the
    # per-row loops would be too short to vectorise well.
    _LONG_ROW_MAX_WO = 48
    # Scratch elements past the end that _tile4 may read (its widest chunk - 1, rounded).
    _TILE_PAD = 16


cdef inline void _fill_scratch(const real_t* xg, Py_ssize_t cg, Py_ssize_t h, Py_ssize_t w,
                               Py_ssize_t ih0, Py_ssize_t rows, Py_ssize_t pl, Py_ssize_t wp,
                               real_t* scr) noexcept nogil:
    """scr[c, r, q] = xg[c, ih0 + r, q - pl], 0 outside the plane."""
    cdef Py_ssize_t c, r, q, ih, lo, hi
    cdef const real_t* src
    # pl < 0 (kernel columns that only read padding were dropped): starts inside the plane.
    lo = pl if pl < wp else wp                     # first column inside the plane
    if lo < 0:
        lo = 0
    hi = pl + w if pl + w < wp else wp             # one past the last
    if hi < lo:
        hi = lo
    for c in range(cg):
        for r in range(rows):
            ih = ih0 + r
            if ih < 0 or ih >= h:
                for q in range(wp):
                    scr[q] = 0
            else:
                src = xg + (c * h + ih) * w - pl
                for q in range(lo):
                    scr[q] = 0
                for q in range(lo, hi):
                    scr[q] = src[q]
                for q in range(hi, wp):
                    scr[q] = 0
            scr += wp


cdef inline void _direct_rows(const real_t* scr, const Py_ssize_t* offs, const real_t* wt,
                              Py_ssize_t taps, real_t b, Py_ssize_t nrows, Py_ssize_t step,
                              Py_ssize_t wo, Py_ssize_t sw, real_t* dst) noexcept nogil:
    """nrows output rows (each wo wide, stored consecutively at dst) from the scratch.

    Tap t of output row r reads scr[r*step + offs[t] + ow*sw] with weight wt[t]. The
    first pass takes taps % 4 taps (or 4), then eight (and a last four) at a time,
    so each pass over the output row (in L1) does four
    multiply-adds per element. sw is passed separately so that the sw == 1 call
    compiles to contiguous vector loops.
    """
    cdef Py_ssize_t r, ow, t
    cdef real_t w0, w1, w2, w3, w4, w5, w6, w7
    cdef const real_t* p0
    cdef const real_t* p1
    cdef const real_t* p2
    cdef const real_t* p3
    cdef const real_t* p4
    cdef const real_t* p5
    cdef const real_t* p6
    cdef const real_t* p7
    cdef Py_ssize_t first = taps % 4
    if first == 0:
        first = 4
    for r in range(nrows):
        # The first pass initialises the row with the bias and taps % 4 (or 4) taps.
        w0 = wt[0]
        p0 = scr + offs[0]
        if first == 1:
            for ow in range(wo):
                dst[ow] = b + w0 * p0[ow * sw]
        elif first == 2:
            w1 = wt[1]
            p1 = scr + offs[1]
            for ow in range(wo):
                dst[ow] = b + w0 * p0[ow * sw] + w1 * p1[ow * sw]
        elif first == 3:
            w1 = wt[1]
            w2 = wt[2]
            p1 = scr + offs[1]
            p2 = scr + offs[2]
            for ow in range(wo):
                dst[ow] = b + w0 * p0[ow * sw] + w1 * p1[ow * sw] + w2 * p2[ow * sw]
        else:
            w1 = wt[1]
            w2 = wt[2]
            w3 = wt[3]
            p1 = scr + offs[1]
            p2 = scr + offs[2]
            p3 = scr + offs[3]
            for ow in range(wo):
                dst[ow] = b + w0 * p0[ow * sw] + w1 * p1[ow * sw] + w2 * p2[ow * sw] + w3 * p3[ow * sw]
        t = first
        while t + 8 <= taps:
            w0 = wt[t]
            w1 = wt[t + 1]
            w2 = wt[t + 2]
            w3 = wt[t + 3]
            w4 = wt[t + 4]
            w5 = wt[t + 5]
            w6 = wt[t + 6]
            w7 = wt[t + 7]
            p0 = scr + offs[t]
            p1 = scr + offs[t + 1]
            p2 = scr + offs[t + 2]
            p3 = scr + offs[t + 3]
            p4 = scr + offs[t + 4]
            p5 = scr + offs[t + 5]
            p6 = scr + offs[t + 6]
            p7 = scr + offs[t + 7]
            for ow in range(wo):
                dst[ow] += (w0 * p0[ow * sw] + w1 * p1[ow * sw] + w2 * p2[ow * sw] + w3 * p3[ow * sw]
                            + w4 * p4[ow * sw] + w5 * p5[ow * sw] + w6 * p6[ow * sw] + w7 * p7[ow * sw])
            t += 8
        if t + 4 <= taps:
            w0 = wt[t]
            w1 = wt[t + 1]
            w2 = wt[t + 2]
            w3 = wt[t + 3]
            p0 = scr + offs[t]
            p1 = scr + offs[t + 1]
            p2 = scr + offs[t + 2]
            p3 = scr + offs[t + 3]
            for ow in range(wo):
                dst[ow] += w0 * p0[ow * sw] + w1 * p1[ow * sw] + w2 * p2[ow * sw] + w3 * p3[ow * sw]
            t += 4
        scr += step
        dst += wo


cdef inline void _tile4(const real_t* scr, const Py_ssize_t* offs, const real_t* wt,
                        Py_ssize_t taps, const real_t* b, Py_ssize_t span,
                        real_t* o0, real_t* o1, real_t* o2, real_t* o3) noexcept nogil:
    """Four output channels' row of span outputs (unit stride) from the scratch.

    Tap t of channel k reads scr[offs[t] + ow] with weight wt[k*taps + t]. The row is
    done lanes outputs at a time, the 4 x lanes sums staying in vector registers over
    all taps (gcc unrolls and vectorises the constant-length lane loops): one load of
    the input per four multiply-adds. The last chunk reads up to lanes - 1 elements
    past the scratch row (the caller pads the scratch) and stores only span's outputs.
    """
    cdef real_t a0[16]
    cdef real_t a1[16]
    cdef real_t a2[16]
    cdef real_t a3[16]
    cdef real_t w0, w1, w2, w3, v
    cdef const real_t* p
    cdef Py_ssize_t ow0, t, m
    cdef int l, lanes
    # Two AVX2 vectors per channel: eight accumulators, the weights and the input fit the
    # 16 registers (a constant, so the lane loops unroll). Only float calls it.
    lanes = 16 if real_t is float else 8
    ow0 = 0
    while ow0 < span:
        for l in range(lanes):
            a0[l] = b[0]
            a1[l] = b[1]
            a2[l] = b[2]
            a3[l] = b[3]
        for t in range(taps):
            p = scr + offs[t] + ow0
            w0 = wt[t]
            w1 = wt[taps + t]
            w2 = wt[2 * taps + t]
            w3 = wt[3 * taps + t]
            for l in range(lanes):
                v = p[l]
                a0[l] += w0 * v
                a1[l] += w1 * v
                a2[l] += w2 * v
                a3[l] += w3 * v
        m = span - ow0
        if m >= lanes:
            for l in range(lanes):
                o0[ow0 + l] = a0[l]
                o1[ow0 + l] = a1[l]
                o2[ow0 + l] = a2[l]
                o3[ow0 + l] = a3[l]
        else:
            for l in range(m):
                o0[ow0 + l] = a0[l]
                o1[ow0 + l] = a1[l]
                o2[ow0 + l] = a2[l]
                o3[ow0 + l] = a3[l]
        ow0 += lanes


cdef inline void _tile4_rows(const real_t* scr, const Py_ssize_t* offs, const real_t* wt,
                             Py_ssize_t taps, const real_t* b, Py_ssize_t nrows,
                             Py_ssize_t step, Py_ssize_t wo, real_t* dst,
                             Py_ssize_t plane) noexcept nogil:
    """_tile4 over nrows rows (input step apart, outputs wo apart; channels plane apart)."""
    cdef Py_ssize_t r
    for r in range(nrows):
        _tile4(scr + r * step, offs, wt, taps, b, wo, dst + r * wo, dst + plane + r * wo,
               dst + 2 * plane + r * wo, dst + 3 * plane + r * wo)


cdef void _rows3x3(const real_t* scr, Py_ssize_t wp, const real_t* wk, real_t b,
                   Py_ssize_t nr, Py_ssize_t wo, real_t* out) noexcept nogil:
    """nr output rows of one input channel's 3x3, stride-1, undilated taps (depthwise).

    Output row r reads scratch rows r..r+2 (wp apart). Two rows per pass share the
    loads of their two common input rows (12 loads for 18 multiply-adds), with the
    nine weights in registers; one contiguous loop per pass, so it vectorises.
    """
    cdef real_t w00 = wk[0], w01 = wk[1], w02 = wk[2]
    cdef real_t w10 = wk[3], w11 = wk[4], w12 = wk[5]
    cdef real_t w20 = wk[6], w21 = wk[7], w22 = wk[8]
    cdef const real_t* s0
    cdef const real_t* s1
    cdef const real_t* s2
    cdef const real_t* s3
    cdef real_t* o0
    cdef real_t* o1
    cdef Py_ssize_t r = 0, q
    while r + 2 <= nr:
        s0 = scr + r * wp
        s1 = s0 + wp
        s2 = s1 + wp
        s3 = s2 + wp
        o0 = out + r * wo
        o1 = o0 + wo
        for q in range(wo):
            o0[q] = (b + w00 * s0[q] + w01 * s0[q + 1] + w02 * s0[q + 2]
                     + w10 * s1[q] + w11 * s1[q + 1] + w12 * s1[q + 2]
                     + w20 * s2[q] + w21 * s2[q + 1] + w22 * s2[q + 2])
            o1[q] = (b + w00 * s1[q] + w01 * s1[q + 1] + w02 * s1[q + 2]
                     + w10 * s2[q] + w11 * s2[q + 1] + w12 * s2[q + 2]
                     + w20 * s3[q] + w21 * s3[q + 1] + w22 * s3[q + 2])
        r += 2
    if r < nr:
        s0 = scr + r * wp
        s1 = s0 + wp
        s2 = s1 + wp
        o0 = out + r * wo
        for q in range(wo):
            o0[q] = (b + w00 * s0[q] + w01 * s0[q + 1] + w02 * s0[q + 2]
                     + w10 * s1[q] + w11 * s1[q + 1] + w12 * s1[q + 2]
                     + w20 * s2[q] + w21 * s2[q + 1] + w22 * s2[q + 2])


cdef void _depthwise_unit(Py_ssize_t unit, const real_t* xbase, const real_t* wbase,
                          const real_t* bias, real_t* obase, Py_ssize_t c_in,
                          Py_ssize_t h, Py_ssize_t w, Py_ssize_t c_out, Py_ssize_t ho,
                          Py_ssize_t groups, Py_ssize_t nblocks, Py_ssize_t block_rows,
                          Py_ssize_t wp, const ConvGeom* g, real_t* scr) noexcept nogil:
    """_direct_unit for one input channel per group, 3x3 taps, unit strides and dilations.

    (Kept out of _direct_unit: gcc then keeps that one's vector code as it was.)
    """
    cdef Py_ssize_t wo = g.wo, cog = c_out // groups
    cdef Py_ssize_t blk = unit % nblocks
    cdef Py_ssize_t grp = (unit // nblocks) % groups
    cdef Py_ssize_t img = unit // (nblocks * groups)
    cdef Py_ssize_t oh0 = blk * block_rows
    cdef Py_ssize_t nr = ho - oh0 if ho - oh0 < block_rows else block_rows
    cdef Py_ssize_t co
    _fill_scratch(xbase + (img * c_in + grp) * h * w, 1, h, w, oh0 - g.pt, nr + 2, g.pl, wp, scr)
    for co in range(grp * cog, (grp + 1) * cog):
        _rows3x3(scr, wp, wbase + co * 9, bias[co] if bias != NULL else 0, nr, wo,
                 obase + ((img * c_out + co) * ho + oh0) * wo)


cdef inline void _direct_unit(Py_ssize_t unit, const real_t* xbase, const real_t* wbase,
                              const real_t* bias, real_t* obase, Py_ssize_t c_in,
                              Py_ssize_t h, Py_ssize_t w, Py_ssize_t c_out, Py_ssize_t ho,
                              Py_ssize_t cg, Py_ssize_t groups, Py_ssize_t nblocks,
                              Py_ssize_t block_rows, Py_ssize_t wp, const ConvGeom* g,
                              real_t* scr, real_t* tmp, Py_ssize_t* offs) noexcept nogil:
    """Work unit (image, group, block of output rows) of the direct kernel.

    scr: the zero-padded input rows; tmp: block_rows * wp outputs; offs: one per tap.
    """
    cdef Py_ssize_t wo = g.wo, cog = c_out // groups, taps = cg * g.kh * g.kw
    cdef Py_ssize_t blk = unit % nblocks
    cdef Py_ssize_t grp = (unit // nblocks) % groups
    cdef Py_ssize_t img = unit // (nblocks * groups)
    cdef Py_ssize_t oh0 = blk * block_rows
    cdef Py_ssize_t nr = ho - oh0 if ho - oh0 < block_rows else block_rows
    cdef Py_ssize_t rows = (nr - 1) * g.sh + (g.kh - 1) * g.dh + 1
    cdef Py_ssize_t co, ci, i, j
    _fill_scratch(xbase + (img * c_in + grp * cg) * h * w, cg, h, w,
                  oh0 * g.sh - g.pt, rows, g.pl, wp, scr)
    for ci in range(cg):
        for i in range(g.kh):
            for j in range(g.kw):
                offs[(ci * g.kh + i) * g.kw + j] = (ci * rows + i * g.dh) * wp + j * g.dw
    cdef Py_ssize_t r, q, k, span = (nr - 1) * wp + wo, plane = block_rows * wp
    cdef real_t* orow
    cdef real_t bb[4]
    co = grp * cog
    if real_t is float and g.sw == 1:
        # Four output channels per pass over the scratch (see _tile4; gcc 12 does not
        # vectorise its double lane loops: double keeps _direct_rows).
        while co + 4 <= (grp + 1) * cog:
            for k in range(4):
                bb[k] = bias[co + k] if bias != NULL else 0
            orow = obase + ((img * c_out + co) * ho + oh0) * wo
            if g.sh == 1 and wo < _LONG_ROW_MAX_WO:
                _tile4_rows(scr, offs, wbase + co * taps, taps, bb, 1, 0, span, tmp, plane)
                for k in range(4):
                    for r in range(nr):
                        for q in range(wo):
                            orow[k * ho * wo + r * wo + q] = tmp[k * plane + r * wp + q]
            else:
                _tile4_rows(scr, offs, wbase + co * taps, taps, bb, nr, g.sh * wp, wo, orow,
                            ho * wo)
            co += 4
    cdef Py_ssize_t co0 = co
    for co in range(co0, (grp + 1) * cog):
        orow = obase + ((img * c_out + co) * ho + oh0) * wo
        if g.sw == 1 and g.sh == 1 and wo < _LONG_ROW_MAX_WO:
            # Unit strides: output row r, column ow reads scratch r*wp + ow + offs[t], so
            # the whole block is one long row of span outputs (wp - wo of every wp are
            # discarded) -- long vector loops even for narrow images.
            _direct_rows(scr, offs, wbase + co * taps, taps, bias[co] if bias != NULL else 0,
                         1, 0, span, 1, tmp)
            for r in range(nr):
                for q in range(wo):
                    orow[r * wo + q] = tmp[r * wp + q]
        elif g.sw == 1:
            _direct_rows(scr, offs, wbase + co * taps, taps, bias[co] if bias != NULL else 0,
                         nr, g.sh * wp, wo, 1, orow)
        else:
            _direct_rows(scr, offs, wbase + co * taps, taps, bias[co] if bias != NULL else 0,
                         nr, g.sh * wp, wo, g.sw, orow)


def direct_conv(const real_t[:, :, :, ::1] x, const real_t[:, :, :, ::1] weight,
                const real_t[::1] bias, real_t[:, :, :, ::1] out, Py_ssize_t groups,
                tuple geom, Py_ssize_t block_rows, int nthreads):
    """out = conv2d(x, weight) (+ bias, which may be None) without GEMM.

    Work units (image, group, block of block_rows output rows) run on nthreads
    threads, each with a scratch of cg * in_rows * wp elements (allocated here),
    in_rows = (block_rows-1)*sh + (kh-1)*dh + 1, wp = (wo-1)*sw + (kw-1)*dw + 1.
    """
    cdef ConvGeom g = _geom(geom)
    cdef Py_ssize_t n = out.shape[0], c_out = out.shape[1], ho = out.shape[2], wo = out.shape[3]
    cdef Py_ssize_t c_in = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t cg = weight.shape[1]
    cdef Py_ssize_t taps = cg * g.kh * g.kw
    cdef Py_ssize_t nblocks = (ho + block_rows - 1) // block_rows
    cdef Py_ssize_t wp = (wo - 1) * g.sw + (g.kw - 1) * g.dw + 1
    # (+ _TILE_PAD: _tile4's last chunk reads past the scratch's end)
    cdef Py_ssize_t scr_len = cg * ((block_rows - 1) * g.sh + (g.kh - 1) * g.dh + 1) * wp + _TILE_PAD
    cdef Py_ssize_t units = n * groups * nblocks
    cdef Py_ssize_t unit, tid
    cdef Py_ssize_t per_thread = (scr_len + 4 * block_rows * wp) * sizeof(real_t) + taps * sizeof(Py_ssize_t)
    cdef const real_t* bp = NULL
    cdef real_t* scr
    cdef real_t* tmp
    cdef Py_ssize_t* offs
    # Depthwise 3x3, unit strides and dilations: _rows3x3 (few output channels per group).
    cdef bint dw3 = (cg == 1 and c_out // groups < 4 and g.kh == 3 and g.kw == 3
                     and g.sh == 1 and g.sw == 1 and g.dh == 1 and g.dw == 1)
    if units == 0:
        return
    if bias is not None:
        bp = &bias[0]
    cdef char* mem = <char*> calloc(nthreads, per_thread)  # zeros: the pad past the scratch
    if mem == NULL:
        raise MemoryError("direct convolution: cannot allocate the per-thread scratch")
    cdef const real_t* xbase = &x[0, 0, 0, 0]
    cdef const real_t* wbase = &weight[0, 0, 0, 0]
    cdef real_t* obase = &out[0, 0, 0, 0]
    try:
        with nogil:
            if nthreads == 1:
                scr = <real_t*> mem
                tmp = scr + scr_len
                offs = <Py_ssize_t*> (tmp + 4 * block_rows * wp)
                for unit in range(units):
                    if dw3:
                        _depthwise_unit(unit, xbase, wbase, bp, obase, c_in, h, w, c_out, ho,
                                        groups, nblocks, block_rows, wp, &g, scr)
                        continue
                    _direct_unit(unit, xbase, wbase, bp, obase, c_in, h, w, c_out, ho, cg,
                                 groups, nblocks, block_rows, wp, &g, scr, tmp, offs)
            else:
                with parallel(num_threads=nthreads):
                    tid = threadid()
                    scr = <real_t*> (mem + tid * per_thread)
                    tmp = scr + scr_len
                    offs = <Py_ssize_t*> (tmp + 4 * block_rows * wp)
                    for unit in prange(units, schedule="static"):
                        if dw3:
                            _depthwise_unit(unit, xbase, wbase, bp, obase, c_in, h, w, c_out,
                                            ho, groups, nblocks, block_rows, wp, &g, scr)
                            continue
                        _direct_unit(unit, xbase, wbase, bp, obase, c_in, h, w, c_out, ho, cg,
                                     groups, nblocks, block_rows, wp, &g, scr, tmp, offs)
    finally:
        free(mem)
