/* The forward convolution driver, written once for both dtypes: conv_fwd.c includes it
 * with T, FN(name) and DT (CYC_F32 / CYC_F64).
 *
 * NCHW: per (image, group): C[co, q] = W_g[co, k] x patches[k, q], q = output position,
 *   k = (c, i, j) -- A = the group's weights, packed once per call (full-K panels);
 *   B = patches, packed per tile by nchw_pack_b straight from x (the implicit im2col).
 * NHWC: C[m, co] = patches[m, k] x W_g^T[k, co], m = (image, position) flattened over the
 *   batch, k = (i, j, c) -- A = patch rows copied channel-run by channel-run (a_rows),
 *   B = the weights, packed once per call. A 1x1 stride-1 conv is then exactly a GEMM.
 * Tiles: NCHW (image, group, block of positions, block of output channels); NHWC
 *   (group, block of rows m, block of output channels). One parallel region, dynamic
 *   schedule, one workspace per thread. Bias is added by the GEMM's epilogue. */

typedef struct {
    const cyc_conv_geom *g;
    const T *x;      /* NCHW: this image's first channel of the group; NHWC: all of x */
    const T *bias;   /* this tile's first output channel, or NULL */
    T *y;            /* C(0, 0) of the tile */
    cyc_int ldy;
    cyc_int q0;      /* NCHW: first position (in the image); NHWC: first row m */
    cyc_int c0;      /* NHWC: the group's first input channel */
    int nr, mr;
} FN(fwd_ctx);

static inline cyc_int FN(ceil_div)(cyc_int a, cyc_int b) { return (a + b - 1) / b; }

/* B[kk, q] for k in [p0, p0+kc), positions q in [q0+j0, q0+j0+nc), as kc rows of
 * ldb = round_up(nc, NR) (the b_rows layout): each row is a few contiguous runs of x. */
static void FN(nchw_pack_b)(void *ctx_, cyc_int j0, cyc_int nc, cyc_int p0, cyc_int kc,
                            void *dst_) {
    const FN(fwd_ctx) *t = (const FN(fwd_ctx) *)ctx_;
    const cyc_conv_geom *g = t->g;
    T *dst = (T *)dst_;
    const int NR = t->nr;
    const cyc_int khw = g->kh * g->kw, hw = g->h * g->w, wo = g->wo, sw = g->sw;
    const cyc_int ldb = FN(ceil_div)(nc, NR) * NR;
    const cyc_int qa = t->q0 + j0;
    cyc_int c = p0 / khw, tap = p0 % khw;
    for (cyc_int kk = 0; kk < kc; kk++) {
        const cyc_int i = tap / g->kw, j = tap % g->kw;
        const T *plane = t->x + c * hw;
        const cyc_int ih_off = i * g->dh - g->pt, iw_off = j * g->dw - g->pl;
        /* output columns whose input column is inside [0, w) for this tap */
        cyc_int owlo = iw_off >= 0 ? 0 : FN(ceil_div)(-iw_off, sw);
        cyc_int owhi = g->w - 1 - iw_off < 0 ? 0 : (g->w - 1 - iw_off) / sw + 1;
        if (owlo > wo) owlo = wo;
        if (owhi > wo) owhi = wo;
        if (owhi < owlo) owhi = owlo;
        T *d = dst + kk * ldb;
        cyc_int oh = qa / wo, ow = qa % wo;
        cyc_int rel = 0;
        while (rel < nc) {
            cyc_int seg = nc - rel;
            if (seg > wo - ow) seg = wo - ow;
            T *dd = d + rel;
            const cyc_int ih = oh * g->sh + ih_off;
            if (ih < 0 || ih >= g->h) {
                for (cyc_int e = 0; e < seg; e++) dd[e] = 0;
            } else {
                const T *row = plane + ih * g->w;
                cyc_int a = owlo - ow, b = owhi - ow;
                if (a < 0) a = 0;
                if (a > seg) a = seg;
                if (b > seg) b = seg;
                if (b < a) b = a;
                for (cyc_int e = 0; e < a; e++) dd[e] = 0;
                if (sw == 1) {
                    memcpy(dd + a, row + (ow + a + iw_off), (size_t)(b - a) * sizeof(T));
                } else {
                    const T *s = row + (ow + a) * sw + iw_off;
                    for (cyc_int e = 0; e < b - a; e++) dd[a + e] = s[e * sw];
                }
                for (cyc_int e = b; e < seg; e++) dd[e] = 0;
            }
            rel += seg;
            ow = 0;
            oh++;
        }
        for (cyc_int e = nc; e < ldb; e++) d[e] = 0;
        if (++tap == khw) { tap = 0; c++; }
    }
}

/* Rows m in [q0+i0, q0+i0+mc) of the NHWC patch matrix, k in [p0, p0+kc), k = (i, j, c):
 * row r at dst + r*kc (the a_rows layout); rows up to the next multiple of MR are zero.
 * The k range splits into the same runs for every row, worked out once: a run is the
 * channels of one or more taps of one kernel row that are adjacent in x (dw == 1 and all
 * channels in one group: a 7x7 stem over 3 channels copies 21 values per run, not 3). */
#define CYC_MAX_RUNS 64
static inline void FN(copy_run)(T *d, const T *s, cyc_int len) {
    if (len >= 16)
        memcpy(d, s, (size_t)len * sizeof(T));
    else
        for (cyc_int e = 0; e < len; e++) d[e] = s[e];
}

static void FN(nhwc_pack_a)(void *ctx_, cyc_int i0, cyc_int mc, cyc_int p0, cyc_int kc,
                            void *dst_) {
    const FN(fwd_ctx) *t = (const FN(fwd_ctx) *)ctx_;
    const cyc_conv_geom *g = t->g;
    T *dst = (T *)dst_;
    const int mr = t->mr;
    const cyc_int cg = g->c_in / g->groups, P = g->ho * g->wo;
    const cyc_int rows = FN(ceil_div)(mc, mr) * mr;
    const int mergeable = g->dw == 1 && cg == g->c_in;
    /* runs: input row offset, first column offset, channel, length, taps (all adjacent) */
    cyc_int r_di[CYC_MAX_RUNS], r_dj[CYC_MAX_RUNS], r_c[CYC_MAX_RUNS], r_len[CYC_MAX_RUNS];
    cyc_int r_nt[CYC_MAX_RUNS];
    cyc_int kdone = 0;
    cyc_int tap = p0 / cg, c = p0 % cg;
    while (kdone < kc) {
        int nruns = 0;
        const cyc_int kstart = kdone;
        while (kdone < kc && nruns < CYC_MAX_RUNS) {
            cyc_int len = cg - c;
            if (len > kc - kdone) len = kc - kdone;
            const cyc_int di = (tap / g->kw) * g->dh - g->pt, dj = (tap % g->kw) * g->dw - g->pl;
            if (mergeable && nruns > 0 && r_di[nruns - 1] == di
                && r_dj[nruns - 1] + r_nt[nruns - 1] == dj && c == 0
                && r_len[nruns - 1] == r_nt[nruns - 1] * cg - (r_c[nruns - 1] - t->c0)) {
                /* this tap continues the previous run in memory */
                r_len[nruns - 1] += len;
                r_nt[nruns - 1]++;
            } else {
                r_di[nruns] = di;
                r_dj[nruns] = dj;
                r_c[nruns] = t->c0 + c;
                r_len[nruns] = len;
                r_nt[nruns] = 1;
                nruns++;
            }
            kdone += len;
            c += len;
            if (c == cg) { c = 0; tap++; }
        }
        cyc_int m = t->q0 + i0, img = m / P, q = m % P;
        cyc_int oh = q / g->wo, ow = q % g->wo;
        for (cyc_int r = 0; r < mc; r++) {
            T *d = dst + r * kc + kstart;
            const T *ximg = t->x + img * g->h * g->w * g->c_in;
            const cyc_int ih0 = oh * g->sh, iw0 = ow * g->sw;
            for (int u = 0; u < nruns; u++) {
                const cyc_int ih = ih0 + r_di[u], iw = iw0 + r_dj[u];
                const cyc_int iw_last = iw + (r_nt[u] - 1);
                if (ih < 0 || ih >= g->h || iw_last < 0 || iw >= g->w) {
                    for (cyc_int e = 0; e < r_len[u]; e++) d[e] = 0;
                } else if (iw >= 0 && iw_last < g->w) {
                    FN(copy_run)(d, ximg + (ih * g->w + iw) * g->c_in + r_c[u], r_len[u]);
                } else {  /* a merged run across the left/right edge: tap by tap */
                    cyc_int e = 0, cc = r_c[u] - t->c0;
                    for (cyc_int tt = 0; tt < r_nt[u]; tt++) {
                        const cyc_int n1 = cg - cc < r_len[u] - e ? cg - cc : r_len[u] - e;
                        const cyc_int iwt = iw + tt;
                        if (iwt < 0 || iwt >= g->w)
                            for (cyc_int z = 0; z < n1; z++) d[e + z] = 0;
                        else
                            FN(copy_run)(d + e, ximg + (ih * g->w + iwt) * g->c_in + t->c0 + cc, n1);
                        e += n1;
                        cc = 0;
                    }
                }
                d += r_len[u];
            }
            if (++ow == g->wo) {
                ow = 0;
                if (++oh == g->ho) { oh = 0; img++; }
            }
        }
    }
    for (cyc_int r = mc; r < rows; r++)
        memset(dst + r * kc, 0, (size_t)kc * sizeof(T));
}

static void FN(bias_rows)(void *ctx_, cyc_int i0, cyc_int mc, cyc_int j0, cyc_int nc) {
    const FN(fwd_ctx) *t = (const FN(fwd_ctx) *)ctx_;
    for (cyc_int i = i0; i < i0 + mc; i++) {
        const T b = t->bias[i];
        T *r = t->y + i * t->ldy + j0;
        for (cyc_int j = 0; j < nc; j++) r[j] += b;
    }
}

static void FN(bias_cols)(void *ctx_, cyc_int i0, cyc_int mc, cyc_int j0, cyc_int nc) {
    const FN(fwd_ctx) *t = (const FN(fwd_ctx) *)ctx_;
    const T *b = t->bias + j0;
    for (cyc_int i = i0; i < i0 + mc; i++) {
        T *r = t->y + i * t->ldy + j0;
        for (cyc_int j = 0; j < nc; j++) r[j] += b[j];
    }
}

/* NHWC weights as B[k, co] per group, k = (i, j, c), in full-K NR panels. */
static void FN(pack_w_nhwc)(const cyc_ukernel *uk, const cyc_conv_geom *g, const T *w,
                            cyc_int grp, T *dst) {
    const int NR = uk->nr;
    const cyc_int cg = g->c_in / g->groups, cog = g->c_out / g->groups;
    const cyc_int khw = g->kh * g->kw, K = cg * khw;
    for (cyc_int j0 = 0; j0 < cog; j0 += NR) {
        T *d = dst + (j0 / NR) * K * NR;
        for (cyc_int tap = 0; tap < khw; tap++)
            for (cyc_int c = 0; c < cg; c++) {
                T *dk = d + (tap * cg + c) * NR;
                for (int j = 0; j < NR; j++) {
                    const cyc_int co = j0 + j;
                    dk[j] = co < cog ? w[((grp * cog + co) * cg + c) * khw + tap] : (T)0;
                }
            }
    }
}

static int FN(forward_gemm)(const cyc_ukernel *uk, const cyc_conv_geom *g, const T *x,
                            const T *w, const T *bias, T *y, size_t limit, int nthreads,
                            cyc_interrupt *intr, size_t *ws_bytes) {
    const int MR = uk->mr, NR = uk->nr;
    const cyc_int G = g->groups, cg = g->c_in / G, cog = g->c_out / G;
    const cyc_int khw = g->kh * g->kw, K = cg * khw, P = g->ho * g->wo;
    const double flops = (double)g->n * g->c_out * P * (K > 0 ? K : 1);
    intr = cyc_interrupt_for(intr, flops);
    int maxt = 1;
#ifdef _OPENMP
    maxt = nthreads > 0 ? nthreads : omp_get_max_threads();
#endif
    const cyc_int want = maxt > 1 ? 4 * maxt : 1;  /* tiles wanted for the dynamic schedule */
    size_t per_thread = limit / (size_t)maxt;
    size_t item = sizeof(T);

    /* the shared operand: the weights, packed once */
    size_t wsz = g->nhwc ? cyc_full_b_elems(uk, K, cog) : cyc_full_a_elems(uk, cog, K);
    T *wp = (T *)cyc_aligned_alloc((size_t)G * wsz * item);
    if (!wp)
        return CYC_NOMEM;
    for (cyc_int grp = 0; grp < G; grp++) {
        if (g->nhwc)
            FN(pack_w_nhwc)(uk, g, w, grp, wp + grp * wsz);
        else
            cyc_pack_a_full(uk, DT, w + grp * cog * K, K, 1, cog, K, wp + grp * wsz);
    }

    cyc_int rb, nrb, cb, ncb, tiles;  /* rows/positions per tile, output channels per tile */
    int ws_mc = 0, ws_nc = 0;
    if (!g->nhwc) {
        const int ncap = cyc_nc_for_budget(uk, DT, per_thread);
        rb = FN(ceil_div)(P, NR) * NR;
        if (rb > ncap) rb = ncap;
        if (g->n * G * FN(ceil_div)(P, rb) < want) {
            cyc_int parts = FN(ceil_div)(want, g->n * G);
            cyc_int r2 = FN(ceil_div)(FN(ceil_div)(P, parts), NR) * NR;
            if (r2 < rb) rb = r2;
        }
        nrb = FN(ceil_div)(P, rb);
        cb = cog;
        if (g->n * G * nrb < want && cog > MR) {
            cyc_int parts = FN(ceil_div)(want, g->n * G * nrb);
            cb = FN(ceil_div)(FN(ceil_div)(cog, parts), MR) * MR;
        }
        ncb = cog > 0 ? FN(ceil_div)(cog, cb) : 0;
        tiles = g->n * G * nrb * ncb;
        ws_nc = (int)rb;
        ws_mc = MR;
    } else {
        const cyc_int M = g->n * P;
        /* A block (MC x KC) per thread within the budget, never below one micro-panel */
        cyc_int mcap = (cyc_int)(per_thread / ((size_t)uk->kc * item)) / MR * MR;
        if (mcap > uk->mc) mcap = uk->mc;
        if (mcap < MR) mcap = MR;
        rb = mcap;
        if (FN(ceil_div)(M, rb) * G < want) {
            cyc_int r2 = FN(ceil_div)(FN(ceil_div)(M, FN(ceil_div)(want, G)), MR) * MR;
            if (r2 < rb) rb = r2;
        }
        nrb = FN(ceil_div)(M, rb);
        cb = cog;
        if (nrb * G < want && cog > NR) {
            cyc_int parts = FN(ceil_div)(want, nrb * G);
            cb = FN(ceil_div)(FN(ceil_div)(cog, parts), NR) * NR;
        }
        ncb = cog > 0 ? FN(ceil_div)(cog, cb) : 0;
        tiles = G * nrb * ncb;
        ws_mc = (int)rb;
        ws_nc = NR;
    }
    int nt = nthreads > 0 ? (tiles < nthreads ? (int)(tiles > 0 ? tiles : 1) : nthreads)
                          : cyc_threads_for(cyc_gemm_work(flops, cog), tiles);
    const int pointwise = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0
                          && g->pl == 0 && g->ho == g->h && g->wo == g->w;
    int fail = 0;
    size_t used = (size_t)G * wsz * item;
    const double team_t0 = nt > 1 ? cyc_now() : 0.0;  /* see cyc_team_arrived */
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+:used) if(nt > 1)
#endif
    {
        CYC_TEAM_ARRIVE(team_t0);
        cyc_workspace ws;
        int ok = cyc_ws_init(&ws, uk, DT, ws_mc, ws_nc, g->nhwc, 0) == 0;
        used += ws.bytes;
        if (!ok) {
            CYC_ATOMIC_WRITE
            fail = 1;
        }
        cyc_int tix;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (tix = 0; tix < tiles; tix++) {
            int failed;
            CYC_ATOMIC_READ
            failed = fail;
            if (failed || (intr && cyc_tile_skip(intr)))
                continue;
            FN(fwd_ctx) ctx;
            cyc_gemm_op op;
            memset(&op, 0, sizeof op);
            ctx.g = g;
            ctx.nr = NR;
            ctx.mr = MR;
            cyc_int rest = tix;
            const cyc_int ci = rest % ncb; rest /= ncb;
            const cyc_int ri = rest % nrb; rest /= nrb;
            const cyc_int co0 = ci * cb, ncols = cog - co0 < cb ? cog - co0 : cb;
            if (!g->nhwc) {
                const cyc_int grp = rest % G, img = rest / G;
                const cyc_int q0 = ri * rb, nq = P - q0 < rb ? P - q0 : rb;
                ctx.x = x + (img * g->c_in + grp * cg) * g->h * g->w;
                ctx.bias = bias ? bias + grp * cog + co0 : NULL;
                ctx.y = y + (img * g->c_out + grp * cog + co0) * P + q0;
                ctx.ldy = P;
                ctx.q0 = q0;
                ctx.c0 = 0;
                op.m = ncols; op.n = nq; op.k = K;
                op.a_full = wp + grp * wsz + (co0 / MR) * K * MR;
                op.pack_b = FN(nchw_pack_b);
                op.b_rows = 1;
                op.c = ctx.y; op.rs_c = P; op.cs_c = 1;
                op.epilogue = bias ? FN(bias_rows) : NULL;
            } else {
                const cyc_int grp = rest;
                const cyc_int M = g->n * P;
                const cyc_int m0 = ri * rb, nm = M - m0 < rb ? M - m0 : rb;
                ctx.x = x;
                ctx.bias = bias ? bias + grp * cog + co0 : NULL;
                ctx.y = y + m0 * g->c_out + grp * cog + co0;
                ctx.ldy = g->c_out;
                ctx.q0 = m0;
                ctx.c0 = grp * cg;
                op.m = nm; op.n = ncols; op.k = K;
                op.a_rows = 1;
                op.pack_a = FN(nhwc_pack_a);
                if (pointwise) {  /* the patch rows are x's rows: read in place */
                    op.a_direct = x + m0 * g->c_in + grp * cg;
                    op.lda = g->c_in;
                }
                op.b_full = wp + grp * wsz + (co0 / NR) * K * NR;
                op.c = ctx.y; op.rs_c = g->c_out; op.cs_c = 1;
                op.epilogue = bias ? FN(bias_cols) : NULL;
            }
            op.ctx = &ctx;
            op.intr = intr;
            cyc_gemm(uk, DT, &op, &ws);
        }
        cyc_ws_free(&ws);
    }
    cyc_aligned_free(wp);
    if (ws_bytes)
        *ws_bytes = used;
    if (fail)
        return CYC_NOMEM;
    return intr && intr->stop ? CYC_INTERRUPTED : CYC_OK;
}

/* The direct depthwise path (one input channel per group): no GEMM, whose MR x NR tile
 * an M of 1 would mostly waste. NCHW: tiles (image, output channel, block of output
 * rows), each row one dw_row call vectorised over output columns. NHWC (one output per
 * group): tiles (image, block of output rows), each position one dw_pos call vectorised
 * over channels. */
static int FN(forward_direct)(const cyc_ukernel *uk, const cyc_conv_geom *g, const T *x,
                              const T *w, const T *bias, T *y, int nthreads,
                              cyc_interrupt *intr, size_t *ws_bytes) {
    const cyc_int khw = g->kh * g->kw, cog = g->c_out / g->groups;
    const cyc_int ho = g->ho, wo = g->wo, sw = g->sw;
    const double flops = (double)g->n * g->c_out * ho * wo * khw;
    intr = cyc_interrupt_for(intr, flops);
    int maxt = 1;
#ifdef _OPENMP
    maxt = nthreads > 0 ? nthreads : omp_get_max_threads();
#endif
    const cyc_int want = maxt > 1 ? 4 * maxt : 1;
    const cyc_int units = g->nhwc ? g->n : g->n * g->c_out;
    cyc_int rb = ho;
    if (units * 1 < want) {
        rb = FN(ceil_div)(ho, FN(ceil_div)(want, units));
        if (rb < 1) rb = 1;
    }
    const cyc_int nrb = FN(ceil_div)(ho, rb), tiles = units * nrb;
    /* per tap column: offset and the output columns that read inside the input */
    cyc_int *col_lo = (cyc_int *)cyc_aligned_alloc(3 * (size_t)g->kw * sizeof(cyc_int));
    T *wt = NULL;
    if (!col_lo)
        return CYC_NOMEM;
    cyc_int *col_hi = col_lo + g->kw, *col_off = col_hi + g->kw;
    for (cyc_int j = 0; j < g->kw; j++) {
        const cyc_int iw_off = j * g->dw - g->pl;
        cyc_int lo = iw_off >= 0 ? 0 : FN(ceil_div)(-iw_off, sw);
        cyc_int hi = g->w - 1 - iw_off < 0 ? 0 : (g->w - 1 - iw_off) / sw + 1;
        if (lo > wo) lo = wo;
        if (hi > wo) hi = wo;
        if (hi < lo) hi = lo;
        col_lo[j] = lo; col_hi[j] = hi; col_off[j] = iw_off;
    }
    size_t used = 3 * (size_t)g->kw * sizeof(cyc_int);
    if (g->nhwc) {  /* weights as [tap][channel] */
        wt = (T *)cyc_aligned_alloc((size_t)khw * g->c_out * sizeof(T));
        if (!wt) {
            cyc_aligned_free(col_lo);
            return CYC_NOMEM;
        }
        used += (size_t)khw * g->c_out * sizeof(T);
        for (cyc_int co = 0; co < g->c_out; co++)
            for (cyc_int t = 0; t < khw; t++)
                wt[t * g->c_out + co] = w[co * khw + t];
    }
    const size_t scratch = (size_t)khw * (g->nhwc ? sizeof(void *) : sizeof(cyc_dw_tap));
    int nt = nthreads > 0 ? (tiles < nthreads ? (int)(tiles > 0 ? tiles : 1) : nthreads)
                          : cyc_threads_for(CYC_DIRECT_COST * flops, tiles);
    int fail = 0;
    const double team_t0 = nt > 1 ? cyc_now() : 0.0;  /* see cyc_team_arrived */
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+:used) if(nt > 1)
#endif
    {
        CYC_TEAM_ARRIVE(team_t0);
        void *buf = cyc_aligned_alloc(scratch);
        used += scratch;
        if (!buf) {
            CYC_ATOMIC_WRITE
            fail = 1;
        }
        cyc_int tix;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (tix = 0; tix < tiles; tix++) {
            int failed;
            CYC_ATOMIC_READ
            failed = fail;
            if (failed || (intr && cyc_tile_skip(intr)))
                continue;
            const cyc_int ri = tix % nrb, unit = tix / nrb;
            const cyc_int oh0 = ri * rb, oh1 = oh0 + rb < ho ? oh0 + rb : ho;
            if (!g->nhwc) {
                const cyc_int img = unit / g->c_out, co = unit % g->c_out, grp = co / cog;
                const T *plane = x + (img * g->c_in + grp) * g->h * g->w;
                cyc_dw_tap *taps = (cyc_dw_tap *)buf;
                for (cyc_int oh = oh0; oh < oh1; oh++) {
                    for (cyc_int i = 0; i < g->kh; i++) {
                        const cyc_int ih = oh * g->sh + i * g->dh - g->pt;
                        const int inside = ih >= 0 && ih < g->h;
                        for (cyc_int j = 0; j < g->kw; j++) {
                            cyc_dw_tap *tp = taps + i * g->kw + j;
                            tp->row = inside ? (const void *)(plane + ih * g->w) : NULL;
                            tp->off = col_off[j];
                            tp->lo = col_lo[j];
                            tp->hi = col_hi[j];
                        }
                    }
                    uk->dw_row(wo, sw, (int)khw, taps, w + co * khw, bias ? bias + co : NULL,
                               y + ((img * g->c_out + co) * ho + oh) * wo);
                }
            } else {
                const cyc_int img = unit;
                const void **src = (const void **)buf;
                for (cyc_int oh = oh0; oh < oh1; oh++)
                    for (cyc_int ow = 0; ow < wo; ow++) {
                        for (cyc_int i = 0; i < g->kh; i++) {
                            const cyc_int ih = oh * g->sh + i * g->dh - g->pt;
                            for (cyc_int j = 0; j < g->kw; j++) {
                                const cyc_int iw = ow * sw + col_off[j];
                                src[i * g->kw + j] =
                                    ih >= 0 && ih < g->h && iw >= 0 && iw < g->w
                                        ? (const void *)(x + ((img * g->h + ih) * g->w + iw) * g->c_in)
                                        : NULL;
                            }
                        }
                        uk->dw_pos(g->c_out, (int)khw, src, wt, bias,
                                   y + ((img * ho + oh) * wo + ow) * g->c_out);
                    }
            }
        }
        cyc_aligned_free(buf);
    }
    cyc_aligned_free(col_lo);
    cyc_aligned_free(wt);
    if (ws_bytes)
        *ws_bytes = used;
    if (fail)
        return CYC_NOMEM;
    return intr && intr->stop ? CYC_INTERRUPTED : CYC_OK;
}
