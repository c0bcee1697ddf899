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
 * The k range splits into the same runs of channels for every row, worked out once. */
#define CYC_MAX_RUNS 64
static void FN(nhwc_pack_a)(void *ctx_, cyc_int i0, cyc_int mc, cyc_int p0, cyc_int kc,
                            void *dst_) {
    const FN(fwd_ctx) *t = (const FN(fwd_ctx) *)ctx_;
    const cyc_conv_geom *g = t->g;
    T *dst = (T *)dst_;
    const int mr = t->mr;
    const cyc_int cg = g->c_in / g->groups, P = g->ho * g->wo;
    const cyc_int rows = FN(ceil_div)(mc, mr) * mr;
    /* runs of k: (input row offset, input column offset, channel, length), in chunks */
    cyc_int r_di[CYC_MAX_RUNS], r_dj[CYC_MAX_RUNS], r_c[CYC_MAX_RUNS], r_len[CYC_MAX_RUNS];
    cyc_int kdone = 0;
    cyc_int tap = p0 / cg, c = p0 % cg;
    while (kdone < kc) {
        int nruns = 0;
        const cyc_int kstart = kdone;
        while (kdone < kc && nruns < CYC_MAX_RUNS) {
            cyc_int len = cg - c;
            if (len > kc - kdone) len = kc - kdone;
            r_di[nruns] = (tap / g->kw) * g->dh - g->pt;
            r_dj[nruns] = (tap % g->kw) * g->dw - g->pl;
            r_c[nruns] = t->c0 + c;
            r_len[nruns] = len;
            nruns++;
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
                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w)
                    memset(d, 0, (size_t)r_len[u] * sizeof(T));
                else
                    memcpy(d, ximg + (ih * g->w + iw) * g->c_in + r_c[u],
                           (size_t)r_len[u] * sizeof(T));
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
                          : cyc_threads_for(flops, tiles);
    int fail = 0;
    size_t used = (size_t)G * wsz * item;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+:used)
#endif
    {
        cyc_workspace ws;
        int ok = cyc_ws_init(&ws, uk, DT, ws_mc, ws_nc, g->nhwc, 0) == 0;
        used += ws.bytes;
        if (!ok) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            fail = 1;
        }
        cyc_int tix;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (tix = 0; tix < tiles; tix++) {
            int failed;
#ifdef _OPENMP
#pragma omp atomic read
#endif
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
                op.b_full = wp + grp * wsz + (co0 / NR) * K * NR;
                op.c = ctx.y; op.rs_c = g->c_out; op.cs_c = 1;
                op.epilogue = bias ? FN(bias_cols) : NULL;
            }
            op.ctx = &ctx;
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
