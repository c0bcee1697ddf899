/* The convolution gradients, written once for both dtypes: conv_backward.c includes this
 * file twice with T (float / double), FN(name) (name##_f32 / name##_f64) and DT (CYC_F32 /
 * CYC_F64). See conv_backward.h for the design. */

#ifndef BW_MIN_TASKS
/* Tiles and reduction chunks: at least this many tasks when the problem has them
 * (problem-only: the answer never depends on the thread count). */
#define BW_MIN_TASKS 8
/* The input gradient's C block (one tile's rows x a block of positions), bytes. */
#define BW_CBUF_BYTES (256 * 1024)
#endif

/* ---- packing a strided matrix for cyc_gemm's callbacks ------------------------------ */

typedef struct {
    const T *src;      /* element (i, p) at src + i*rs + p*cs */
    cyc_int rs, cs;
    int mr, nr;
} FN(bw_mat);

/* A micro-panels: dst[(i/MR)*kc*MR + p*MR + i%MR] = A[i0 + i, p0 + p], rows past mc zero. */
static void FN(bw_pack_a_mat)(void *vctx, cyc_int i0, cyc_int mc, cyc_int p0, cyc_int kc,
                              void *vdst) {
    const FN(bw_mat) *m = (const FN(bw_mat) *)vctx;
    const int MR = m->mr;
    const cyc_int rs = m->rs, cs = m->cs;
    T *dst = (T *)vdst;
    for (cyc_int ib = 0; ib < mc; ib += MR) {
        T *restrict d = dst + (ib / MR) * kc * MR;
        const int rows = mc - ib < MR ? (int)(mc - ib) : MR;
        const T *s = m->src + (i0 + ib) * rs + p0 * cs;
        if (cs == 1) {
            for (int i = 0; i < rows; i++) {
                const T *restrict si = s + i * rs;
                for (cyc_int p = 0; p < kc; p++)
                    d[p * MR + i] = si[p];
            }
        } else {
            for (cyc_int p = 0; p < kc; p++) {
                const T *restrict sp = s + p * cs;
                for (int i = 0; i < rows; i++)
                    d[p * MR + i] = sp[i * rs];
            }
        }
        for (int i = rows; i < MR; i++)
            for (cyc_int p = 0; p < kc; p++)
                d[p * MR + i] = 0;
    }
}

/* B micro-panels: dst[(j/NR)*kc*NR + p*NR + j%NR] = B[p0 + p, j0 + j], columns past nc zero. */
static void FN(bw_pack_b_mat)(void *vctx, cyc_int j0, cyc_int nc, cyc_int p0, cyc_int kc,
                              void *vdst) {
    const FN(bw_mat) *m = (const FN(bw_mat) *)vctx;
    const int NR = m->nr;
    const cyc_int rs = m->rs, cs = m->cs;
    T *dst = (T *)vdst;
    for (cyc_int jb = 0; jb < nc; jb += NR) {
        T *restrict d = dst + (jb / NR) * kc * NR;
        const int cols = nc - jb < NR ? (int)(nc - jb) : NR;
        const T *s = m->src + p0 * rs + (j0 + jb) * cs;
        if (cs == 1) {
            for (cyc_int p = 0; p < kc; p++) {
                const T *restrict sp = s + p * rs;
                for (int j = 0; j < cols; j++)
                    d[p * NR + j] = sp[j];
                for (int j = cols; j < NR; j++)
                    d[p * NR + j] = 0;
            }
        } else {
            for (int j = 0; j < cols; j++) {
                const T *restrict sj = s + j * cs;
                for (cyc_int p = 0; p < kc; p++)
                    d[p * NR + j] = sj[p * rs];
            }
            for (cyc_int p = 0; p < kc; p++)
                for (int j = cols; j < NR; j++)
                    d[p * NR + j] = 0;
        }
    }
}

/* ---- the input gradient ------------------------------------------------------------- */

static void FN(bw_fill)(T *dst, cyc_int count, T value) {
    for (cyc_int i = 0; i < count; i++)
        dst[i] = value;
}

/* col2im, NCHW: C rows m = cl*taps + t (channel cl of the tile, tap t), columns = the
 * positions [pos0, pos0 + npos); each value is added onto the dX cell its tap reads. */
static void FN(bw_scatter_nchw)(const cyc_bwd_geom *g, const T *cbuf, cyc_int ldc,
                                cyc_int pos0, cyc_int npos, cyc_int cb, T *planes) {
    const cyc_int taps = g->kh * g->kw, H = g->h, W = g->w, HW = H * W, wo = g->wo;
    const cyc_int sw = g->sw;
    for (cyc_int m = 0; m < cb * taps; m++) {
        const cyc_int cl = m / taps, t = m % taps, i = t / g->kw, j = t % g->kw;
        T *plane = planes + cl * HW;
        const T *row = cbuf + m * ldc;
        const cyc_int jo = j * g->dw - g->pl;  /* iw = ow*sw + jo */
        const cyc_int lo = jo >= 0 ? 0 : (-jo + sw - 1) / sw;
        cyc_int hi = W - jo <= 0 ? 0 : (W - jo + sw - 1) / sw;
        if (hi > wo)
            hi = wo;
        cyc_int p = pos0, oh = pos0 / wo, ow = pos0 % wo;
        const cyc_int end = pos0 + npos;
        while (p < end) {
            cyc_int seg = wo - ow;
            if (seg > end - p)
                seg = end - p;
            const cyc_int ih = oh * g->sh - g->pt + i * g->dh;
            if (ih >= 0 && ih < H) {
                const cyc_int a = ow > lo ? ow : lo, b = ow + seg < hi ? ow + seg : hi;
                T *restrict dst = plane + ih * W + jo;
                const T *restrict src = row + (p - pos0) - ow;
                if (sw == 1) {
                    for (cyc_int x = a; x < b; x++)
                        dst[x] += src[x];
                } else {
                    for (cyc_int x = a; x < b; x++)
                        dst[x * sw] += src[x];
                }
            }
            p += seg;
            ow = 0;
            oh++;
        }
    }
}

/* col2im, NHWC: C rows = positions, columns c = t*cb + cl; dX channel slice of the tile. */
static void FN(bw_scatter_nhwc)(const cyc_bwd_geom *g, const T *cbuf, cyc_int ldc,
                                cyc_int pos0, cyc_int npos, cyc_int cb, T *img) {
    const cyc_int H = g->h, W = g->w, C = g->c_in, wo = g->wo;
    cyc_int oh = pos0 / wo, ow = pos0 % wo;
    for (cyc_int r = 0; r < npos; r++) {
        const T *row = cbuf + r * ldc;
        for (cyc_int i = 0; i < g->kh; i++) {
            const cyc_int ih = oh * g->sh - g->pt + i * g->dh;
            if (ih < 0 || ih >= H)
                continue;
            for (cyc_int j = 0; j < g->kw; j++) {
                const cyc_int iw = ow * g->sw - g->pl + j * g->dw;
                if (iw < 0 || iw >= W)
                    continue;
                T *restrict dst = img + (ih * W + iw) * C;
                const T *restrict src = row + (i * g->kw + j) * cb;
                for (cyc_int c = 0; c < cb; c++)
                    dst[c] += src[c];
            }
        }
        if (++ow == wo) {
            ow = 0;
            oh++;
        }
    }
}

/* The tiles of the input gradient: per (image, group) `ncb` blocks of `cbs` channels.
 * One block holds every channel of the group (the grad_output panel is then packed once
 * per block of positions, for all of them), unless the problem has fewer than BW_MIN_TASKS
 * (image, group) pairs: then the channels are split too (a problem-only rule). */
static void FN(bw_channel_blocks)(const cyc_bwd_geom *g, cyc_int *cbs, cyc_int *ncb) {
    const cyc_int cg = g->c_in / g->groups;
    const cyc_int planes = g->n * g->groups;
    cyc_int nb = 1;
    if (planes < BW_MIN_TASKS) {
        nb = (BW_MIN_TASKS + planes - 1) / planes;
        if (nb > cg)
            nb = cg;
    }
    const cyc_int per = (cg + nb - 1) / nb;
    *cbs = per;
    *ncb = (cg + per - 1) / per;
}

static int FN(bw_data_gemm)(const cyc_ukernel *uk, const cyc_bwd_geom *g, const T *dy,
                            const T *w, const T *bias, T *dx, cyc_interrupt *intr) {
    const cyc_int G = g->groups, cg = g->c_in / G, cog = g->c_out / G;
    const cyc_int taps = g->kh * g->kw, P = g->ho * g->wo, HW = g->h * g->w;
    const cyc_int wrow = cg * taps;  /* elements per output channel of w */
    const int nhwc = g->nhwc;
    const int pointwise = taps == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0
                          && g->ho == g->h && g->wo == g->w;
    cyc_int cbs, ncb;
    FN(bw_channel_blocks)(g, &cbs, &ncb);
    const cyc_int nblk = G * ncb;
    /* NCHW: C is (cb*taps) x (positions block), the block at most one B block (NC);
     * NHWC: C is (positions block) x (taps*cb), the block at most one A block (MC);
     * either way C stays about BW_CBUF_BYTES (the scatter reads it from the cache). */
    const cyc_int unit = nhwc ? uk->mr : uk->nr, cap = nhwc ? uk->mc : uk->nc;
    cyc_int pblk = (cyc_int)(BW_CBUF_BYTES / sizeof(T)) / (cbs * taps) / unit * unit;
    if (pblk < unit)
        pblk = unit;
    if (pblk > cap)
        pblk = cap;
    size_t *off = (size_t *)malloc((size_t)(nblk + 1) * sizeof(size_t));
    if (!off)
        return -1;
    off[0] = 0;
    for (cyc_int b = 0; b < nblk; b++) {
        const cyc_int c0 = (b % ncb) * cbs, cb = cg - c0 < cbs ? cg - c0 : cbs;
        off[b + 1] = off[b] + (nhwc ? cyc_full_b_elems(uk, cog, cb * taps)
                                    : cyc_full_a_elems(uk, cb * taps, cog));
    }
    T *wpack = (T *)cyc_aligned_alloc(off[nblk] * sizeof(T));
    if (!wpack) {
        free(off);
        return -1;
    }
    const cyc_int tiles = g->n * nblk;
    const int nt = cyc_threads_for(cyc_gemm_work((double)g->n * g->c_in * taps * cog * P, cog), tiles);
    const size_t cbuf_bytes = (size_t)pblk * cbs * taps * sizeof(T);
    int err = 0;
    const double team_t0 = nt > 1 ? cyc_now() : 0.0;  /* see cyc_team_arrived */
#pragma omp parallel num_threads(nt)
    {
        CYC_TEAM_ARRIVE(team_t0);
        /* 1. W^T (NCHW, the A panels) or W (NHWC, the B panels), once per call. */
#pragma omp for schedule(static)
        for (cyc_int b = 0; b < nblk; b++) {
            const cyc_int gi = b / ncb, c0 = (b % ncb) * cbs, cb = cg - c0 < cbs ? cg - c0 : cbs;
            const T *wg = w + gi * cog * wrow + c0 * taps;
            T *dst = wpack + off[b];
            if (!nhwc) {  /* A[m = cl*taps + t, k = o] = w[o, c0 + cl, t] */
                cyc_pack_a_full(uk, DT, wg, 1, wrow, cb * taps, cog, dst);
            } else {      /* B[k = o, col = t*cb + cl] = w[o, c0 + cl, t] */
                const int NR = uk->nr;
                const cyc_int ncol = cb * taps;
                for (cyc_int j0 = 0; j0 < ncol; j0 += NR) {
                    T *d = dst + (j0 / NR) * cog * NR;
                    for (cyc_int o = 0; o < cog; o++)
                        for (int jj = 0; jj < NR; jj++) {
                            const cyc_int col = j0 + jj;
                            d[o * NR + jj] = col < ncol
                                ? wg[o * wrow + (col % cb) * taps + col / cb] : (T)0;
                        }
                }
            }
        }
        cyc_workspace ws;
        const int ok = cyc_ws_init(&ws, uk, DT, nhwc ? pblk : 0, nhwc ? 0 : pblk, nhwc,
                                   cbuf_bytes) == 0;
        if (!ok) {
            CYC_ATOMIC_WRITE
            err = 1;
        }
        T *cbuf = ok ? (T *)ws.extra : NULL;
#pragma omp for schedule(dynamic, 1)
        for (cyc_int tile = 0; tile < tiles; tile++) {
            int failed;
            CYC_ATOMIC_READ
            failed = err;
            if (failed || cyc_tile_skip(intr))
                continue;
            const cyc_int n = tile / nblk, b = tile % nblk, gi = b / ncb;
            const cyc_int c0 = (b % ncb) * cbs, cb = cg - c0 < cbs ? cg - c0 : cbs;
            const cyc_int ch0 = gi * cg + c0;  /* the tile's first dX channel */
            T *img = nhwc ? dx + n * HW * g->c_in + ch0 : dx + (n * g->c_in + ch0) * HW;
            if (!(pointwise && cog > 0 && !bias)) {  /* (else the GEMM writes every cell) */
                if (!nhwc) {
                    for (cyc_int cl = 0; cl < cb; cl++)
                        FN(bw_fill)(img + cl * HW, HW, bias ? bias[ch0 + cl] : (T)0);
                } else {
                    for (cyc_int px = 0; px < HW; px++)
                        for (cyc_int cl = 0; cl < cb; cl++)
                            img[px * g->c_in + cl] = bias ? bias[ch0 + cl] : (T)0;
                }
            }
            if (cog == 0)
                continue;
            if (pointwise) {
                /* 1x1, stride 1, no padding: dX's positions are the GEMM's columns (NCHW)
                 * or rows (NHWC): C is dX itself, no scatter */
                FN(bw_mat) mat;
                cyc_gemm_op op;
                memset(&op, 0, sizeof op);
                mat.mr = uk->mr;
                mat.nr = uk->nr;
                op.k = cog;
                op.cs_c = 1;
                op.ctx = &mat;
                op.accumulate = bias != NULL;
                if (!nhwc) {
                    mat.src = dy + (n * g->c_out + gi * cog) * P;
                    mat.rs = P;
                    mat.cs = 1;
                    op.m = cb;
                    op.n = P;
                    op.a_full = wpack + off[b];
                    op.pack_b = FN(bw_pack_b_mat);
                    op.c = img;
                    op.rs_c = HW;
                } else {
                    mat.src = dy + n * P * g->c_out + gi * cog;
                    mat.rs = g->c_out;
                    mat.cs = 1;
                    op.m = P;
                    op.n = cb;
                    op.pack_a = FN(bw_pack_a_mat);
                    op.b_full = wpack + off[b];
                    op.c = img;
                    op.rs_c = g->c_in;
                }
                cyc_gemm(uk, DT, &op, &ws);
                continue;
            }
            for (cyc_int pos0 = 0; pos0 < P; pos0 += pblk) {
                if (pos0 && cyc_tile_skip(intr))  /* (a tile may be a long image) */
                    break;
                const cyc_int npos = P - pos0 < pblk ? P - pos0 : pblk;
                FN(bw_mat) mat;
                cyc_gemm_op op;
                memset(&op, 0, sizeof op);
                mat.mr = uk->mr;
                mat.nr = uk->nr;
                op.k = cog;
                op.c = cbuf;
                op.cs_c = 1;
                op.ctx = &mat;
                if (!nhwc) {  /* B[k = o, j = position] = dy[n, gi*cog + o, pos0 + j] */
                    mat.src = dy + (n * g->c_out + gi * cog) * P + pos0;
                    mat.rs = P;
                    mat.cs = 1;
                    op.m = cb * taps;
                    op.n = npos;
                    op.a_full = wpack + off[b];
                    op.pack_b = FN(bw_pack_b_mat);
                    op.rs_c = npos;
                    cyc_gemm(uk, DT, &op, &ws);
                    FN(bw_scatter_nchw)(g, cbuf, npos, pos0, npos, cb, img);
                } else {      /* A[i = position, k = o] = dy[n, pos0 + i, gi*cog + o] */
                    mat.src = dy + (n * P + pos0) * g->c_out + gi * cog;
                    mat.rs = g->c_out;
                    mat.cs = 1;
                    op.m = npos;
                    op.n = cb * taps;
                    op.pack_a = FN(bw_pack_a_mat);
                    op.b_full = wpack + off[b];
                    op.rs_c = cb * taps;
                    cyc_gemm(uk, DT, &op, &ws);
                    FN(bw_scatter_nhwc)(g, cbuf, cb * taps, pos0, npos, cb, img);
                }
            }
        }
        if (ok)
            cyc_ws_free(&ws);
    }
    cyc_aligned_free(wpack);
    free(off);
    if (err)
        return -1;
    return intr->stop ? 1 : 0;
}

/* ---- the weight gradient ------------------------------------------------------------ */

typedef struct {
    const cyc_bwd_geom *g;
    const T *x;        /* NCHW: x[n, gi*cg]; NHWC: &x[n, 0, 0, gi*cg] */
    cyc_int q0;        /* first column of the tile */
    cyc_int pa;        /* first position of the op (in the image) */
    int nr;
} FN(bw_patch);

/* Split `total` into parts of at most about `target`, each a multiple of `unit`. */
static void FN(bw_split)(cyc_int total, cyc_int target, cyc_int unit, cyc_int *size,
                         cyc_int *count) {
    cyc_int parts = (total + target - 1) / target;
    if (parts < 1)
        parts = 1;
    cyc_int s = (total + parts - 1) / parts;
    s = (s + unit - 1) / unit * unit;
    if (s < 1)
        s = 1;
    *size = s;
    *count = (total + s - 1) / s;
}

/* One NCHW patch column: d[p*step], p < kc, is the input cell that column q (a (channel,
 * tap) pair) reads at position pstart + p (the implicit im2col): runs of an input row
 * (copies for unit strides), zeros where the tap reads padding. step 1 fills a row of the
 * a_rows layout, step NR a column of an NR-interleaved panel. */
static inline void FN(bw_patch_column)(const FN(bw_patch) *c, cyc_int q, cyc_int pstart,
                                       cyc_int kc, T *restrict d, cyc_int step) {
    const cyc_bwd_geom *g = c->g;
    const cyc_int taps = g->kh * g->kw, H = g->h, W = g->w, wo = g->wo, sw = g->sw;
    const cyc_int ch = q / taps, t = q % taps, i = t / g->kw, j = t % g->kw;
    const T *plane = c->x + ch * H * W;
    const cyc_int jo = j * g->dw - g->pl;
    const cyc_int lo = jo >= 0 ? 0 : (-jo + sw - 1) / sw;
    cyc_int hi = W - jo <= 0 ? 0 : (W - jo + sw - 1) / sw;
    if (hi > wo)
        hi = wo;
    cyc_int p = 0, oh = pstart / wo, ow = pstart % wo;
    while (p < kc) {
        cyc_int seg = wo - ow;
        if (seg > kc - p)
            seg = kc - p;
        const cyc_int ih = oh * g->sh - g->pt + i * g->dh;
        T *restrict dd = d + (p - ow) * step;  /* dd[x*step] is output column x */
        cyc_int x = ow;
        if (ih >= 0 && ih < H) {
            const T *restrict src = plane + ih * W + jo;
            const cyc_int a = ow > lo ? ow : lo, b = ow + seg < hi ? ow + seg : hi;
            for (; x < a && x < ow + seg; x++)
                dd[x * step] = 0;
            if (sw == 1 && step == 1 && b > x) {
                memcpy(dd + x, src + x, (size_t)(b - x) * sizeof(T));
                x = b;
            }
            for (; x < b; x++)
                dd[x * step] = src[x * sw];
        }
        for (; x < ow + seg; x++)
            dd[x * step] = 0;
        p += seg;
        ow = 0;
        oh++;
    }
}

/* Patch rows, NCHW (a_rows): row i of dst (kc elements at dst + i*kc) is column
 * q0 + i0 + i over the positions pa + p0 ... + kc. Rows past mc are zero. */
static void FN(bw_pack_patch_rows)(void *vctx, cyc_int i0, cyc_int mc, cyc_int p0, cyc_int kc,
                                   void *vdst) {
    const FN(bw_patch) *c = (const FN(bw_patch) *)vctx;
    const cyc_int rows = (mc + c->nr - 1) / c->nr * c->nr;  /* nr holds MR here */
    T *dst = (T *)vdst;
    for (cyc_int r = 0; r < rows; r++) {
        if (r < mc)
            FN(bw_patch_column)(c, c->q0 + i0 + r, c->pa + p0, kc, dst + r * kc, 1);
        else
            FN(bw_fill)(dst + r * kc, kc, (T)0);
    }
}

/* Patch rows, NHWC (b_rows): row p of dst (ldb = round_up(nc, NR) elements) holds the
 * columns q0 + j0 ... (pairs (tap, channel)) at position pa + p0 + p: one copy of a run of
 * channels per tap, zeros where the tap reads padding. */
static void FN(bw_pack_patch_cols)(void *vctx, cyc_int j0, cyc_int nc, cyc_int p0, cyc_int kc,
                                   void *vdst) {
    const FN(bw_patch) *c = (const FN(bw_patch) *)vctx;
    const cyc_bwd_geom *g = c->g;
    const cyc_int H = g->h, W = g->w, wo = g->wo, C = g->c_in, cg = g->c_in / g->groups;
    const cyc_int ldb = (nc + c->nr - 1) / c->nr * c->nr;
    const cyc_int qa = c->q0 + j0, qb = qa + nc;
    const cyc_int pstart = c->pa + p0;
    T *dst = (T *)vdst;
    cyc_int oh = pstart / wo, ow = pstart % wo;
    for (cyc_int p = 0; p < kc; p++) {
        T *restrict d = dst + p * ldb;
        const cyc_int ih0 = oh * g->sh - g->pt, iw0 = ow * g->sw - g->pl;
        for (cyc_int q = qa; q < qb;) {
            const cyc_int t = q / cg, ch = q % cg;
            cyc_int run = cg - ch;
            if (run > qb - q)
                run = qb - q;
            const cyc_int ih = ih0 + (t / g->kw) * g->dh, iw = iw0 + (t % g->kw) * g->dw;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                memcpy(d + (q - qa), c->x + (ih * W + iw) * C + ch, (size_t)run * sizeof(T));
            else
                FN(bw_fill)(d + (q - qa), run, (T)0);
            q += run;
        }
        FN(bw_fill)(d + nc, ldb - nc, (T)0);
        if (++ow == wo) {
            ow = 0;
            oh++;
        }
    }
}

/* B[p, j] = column q0 + j0 + j at position pa + p0 + p, NCHW, in NR-interleaved panels
 * (for the weight gradient with fewer output channels than NR); columns past nc are zero. */
static void FN(bw_pack_patch_panels)(void *vctx, cyc_int j0, cyc_int nc, cyc_int p0, cyc_int kc,
                                     void *vdst) {
    const FN(bw_patch) *c = (const FN(bw_patch) *)vctx;
    const int NR = c->nr;
    const cyc_int ncols = (nc + NR - 1) / NR * NR;
    T *dst = (T *)vdst;
    for (cyc_int jj = 0; jj < ncols; jj++) {
        T *d = dst + (jj / NR) * kc * NR + jj % NR;
        if (jj < nc) {
            FN(bw_patch_column)(c, c->q0 + j0 + jj, c->pa + p0, kc, d, NR);
        } else {
            for (cyc_int p = 0; p < kc; p++)
                d[p * NR] = 0;
        }
    }
}

typedef struct {
    FN(bw_mat) m;      /* the grad_output operand */
    FN(bw_patch) p;    /* the patches */
} FN(bw_wctx);

static void FN(bw_wpack_mat_a)(void *ctx, cyc_int i0, cyc_int mc, cyc_int p0, cyc_int kc, void *dst) {
    FN(bw_pack_a_mat)(&((FN(bw_wctx) *)ctx)->m, i0, mc, p0, kc, dst);
}

static void FN(bw_wpack_mat_b)(void *ctx, cyc_int j0, cyc_int nc, cyc_int p0, cyc_int kc, void *dst) {
    FN(bw_pack_b_mat)(&((FN(bw_wctx) *)ctx)->m, j0, nc, p0, kc, dst);
}

static void FN(bw_wpack_rows)(void *ctx, cyc_int i0, cyc_int mc, cyc_int p0, cyc_int kc, void *dst) {
    FN(bw_pack_patch_rows)(&((FN(bw_wctx) *)ctx)->p, i0, mc, p0, kc, dst);
}

static void FN(bw_wpack_panels)(void *ctx, cyc_int j0, cyc_int nc, cyc_int p0, cyc_int kc, void *dst) {
    FN(bw_pack_patch_panels)(&((FN(bw_wctx) *)ctx)->p, j0, nc, p0, kc, dst);
}

static void FN(bw_wpack_cols)(void *ctx, cyc_int j0, cyc_int nc, cyc_int p0, cyc_int kc, void *dst) {
    FN(bw_pack_patch_cols)(&((FN(bw_wctx) *)ctx)->p, j0, nc, p0, kc, dst);
}

/* The weight gradient as GEMMs over the positions (the reduction):
 *   NCHW: dW^T (columns x Cog) = patches (columns x positions, rows copied from x)
 *         * dY^T (positions x Cog);
 *   NHWC: dW (Cog x columns) = dY (Cog x positions) * patches^T (positions x columns,
 *         each position's row copied from x tap by tap), columns ordered (tap, channel).
 * Tiles of the result times R reduction chunks; each task writes its own partial slab. */
static int FN(bw_weight_gemm)(const cyc_ukernel *uk, const cyc_bwd_geom *g, const T *dy,
                              const T *x, T *dw, cyc_interrupt *intr) {
    const cyc_int G = g->groups, cg = g->c_in / G, cog = g->c_out / G;
    const cyc_int taps = g->kh * g->kw, P = g->ho * g->wo, HW = g->h * g->w;
    const cyc_int ncols = cg * taps;
    const int nhwc = g->nhwc;
    /* NCHW with fewer output channels per group than NR: dW = dY * patches^T as for NHWC
     * (Cog as the GEMM's rows), the patches packed in NR-interleaved panels; else the
     * register tile's columns would be mostly padding. */
    const int flip = !nhwc && cog < uk->nr;
    /* the GEMM's rows and columns: NCHW (columns of dW, Cog); NHWC (Cog, columns of dW) */
    const cyc_int gm = nhwc || flip ? cog : ncols, gn = nhwc || flip ? ncols : cog;
    /* row tiles of up to 4 A blocks: the GEMM reuses each packed B block for all of them */
    cyc_int mb, nmb, nb, nnb;
    FN(bw_split)(gm, 4 * (cyc_int)uk->mc, uk->mr, &mb, &nmb);
    FN(bw_split)(gn, uk->nc, uk->nr, &nb, &nnb);
    const cyc_int ntile = G * nmb * nnb;
    const cyc_int L = g->n * P;  /* the reduction: every position of every image */
    const cyc_int wsize = g->c_out * ncols;
    if (L == 0 || wsize == 0) {
        FN(bw_fill)(dw, wsize, (T)0);
        return 0;
    }
    cyc_int R = ntile >= BW_MIN_TASKS ? 1 : (BW_MIN_TASKS + ntile - 1) / ntile;
    if (R > L)
        R = L;
    /* partial sums: R slabs, each per group gm x gn (the GEMM's C) */
    T *part = (T *)cyc_aligned_alloc((size_t)R * wsize * sizeof(T));
    if (!part)
        return -1;
    const cyc_int tasks = ntile * R;
    const int nt = cyc_threads_for(cyc_gemm_work((double)L * g->c_out * ncols, cog), tasks);
    int err = 0;
    const double team_t0 = nt > 1 ? cyc_now() : 0.0;  /* see cyc_team_arrived */
#pragma omp parallel num_threads(nt)
    {
        CYC_TEAM_ARRIVE(team_t0);
        cyc_workspace ws;
        const int ok = cyc_ws_init(&ws, uk, DT, 0, (int)nb, 1, 0) == 0;
        if (!ok) {
            CYC_ATOMIC_WRITE
            err = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (cyc_int task = 0; task < tasks; task++) {
            int failed;
            CYC_ATOMIC_READ
            failed = err;
            if (failed || cyc_tile_skip(intr))
                continue;
            const cyc_int r = task % R, tile = task / R;
            const cyc_int gi = tile / (nmb * nnb), im = (tile / nnb) % nmb, in = tile % nnb;
            const cyc_int i0 = im * mb, j0 = in * nb;
            const cyc_int lo = L * r / R, hi = L * (r + 1) / R;
            FN(bw_wctx) ctx;
            cyc_gemm_op op;
            memset(&op, 0, sizeof op);
            ctx.m.mr = uk->mr;
            ctx.m.nr = uk->nr;
            ctx.p.g = g;
            op.m = gm - i0 < mb ? gm - i0 : mb;
            op.n = gn - j0 < nb ? gn - j0 : nb;
            op.c = part + r * wsize + gi * cog * ncols + i0 * gn + j0;
            op.rs_c = gn;
            op.cs_c = 1;
            op.ctx = &ctx;
            if (flip) {
                ctx.p.q0 = j0;
                ctx.p.nr = uk->nr;
                op.pack_a = FN(bw_wpack_mat_a);
                op.pack_b = FN(bw_wpack_panels);
            } else if (!nhwc) {
                ctx.p.q0 = 0;
                ctx.p.nr = uk->mr;  /* rows are padded to a multiple of MR */
                op.a_rows = 1;
                op.pack_a = FN(bw_wpack_rows);
                op.pack_b = FN(bw_wpack_mat_b);
            } else {
                ctx.p.q0 = j0;
                ctx.p.nr = uk->nr;
                op.b_rows = 1;
                op.pack_a = FN(bw_wpack_mat_a);
                op.pack_b = FN(bw_wpack_cols);
            }
            for (cyc_int s = lo; s < hi;) {
                if (s != lo && cyc_tile_skip(intr))  /* (a chunk may be long) */
                    break;
                const cyc_int img = s / P, pa = s % P;
                cyc_int pb = hi - img * P < P ? hi - img * P : P;
                /* ops of at most 8 KC blocks (a poll between them); split at multiples of
                 * KC, the sums are the same KC blocks in the same order: the same bits */
                if (pb - pa > 8 * (cyc_int)uk->kc)
                    pb = pa + 8 * (cyc_int)uk->kc;
                if (flip) {
                    /* A[i, p] = dy[img, gi*cog + i0 + i, pa + p]; B panels: patches at pa + p */
                    ctx.p.x = x + (img * g->c_in + gi * cg) * HW;
                    ctx.m.src = dy + (img * g->c_out + gi * cog + i0) * P + pa;
                    ctx.m.rs = P;
                    ctx.m.cs = 1;
                } else if (!nhwc) {
                    /* A rows: patch columns q0 = i0 + ...; B[p, j] = dy[img, gi*cog + j0 + j, pa + p] */
                    ctx.p.q0 = i0;
                    ctx.p.x = x + (img * g->c_in + gi * cg) * HW;
                    ctx.m.src = dy + (img * g->c_out + gi * cog + j0) * P + pa;
                    ctx.m.rs = 1;
                    ctx.m.cs = P;
                } else {
                    /* A[i, p] = dy[img, pa + p, gi*cog + i0 + i]; B rows: patches at pa + p */
                    ctx.p.x = x + img * HW * g->c_in + gi * cg;
                    ctx.m.src = dy + (img * P + pa) * g->c_out + gi * cog + i0;
                    ctx.m.rs = 1;
                    ctx.m.cs = g->c_out;
                }
                ctx.p.pa = pa;
                op.k = pb - pa;
                op.accumulate = s != lo;
                cyc_gemm(uk, DT, &op, &ws);
                s = img * P + pb;
            }
        }
        if (ok)
            cyc_ws_free(&ws);
        /* the chunks' partial sums, added in chunk order, into (C_out, C_in/groups, taps) */
#pragma omp for schedule(static)
        for (cyc_int row = 0; row < g->c_out; row++) {
            int failed;
            CYC_ATOMIC_READ
            failed = err;
            if (failed || intr->stop)
                continue;
            const cyc_int gi = row / cog, o = row % cog;
            T *dst = dw + row * ncols;
            for (cyc_int q = 0; q < ncols; q++) {
                /* NCHW slab: [g][q][o] (q = (channel, tap)); NHWC: [g][o][q'] (q' = (tap, channel)) */
                const cyc_int at = nhwc ? gi * cog * ncols + o * ncols + (q % taps) * cg + q / taps
                                 : flip ? gi * cog * ncols + o * ncols + q
                                        : gi * cog * ncols + q * cog + o;
                T s = part[at];
                for (cyc_int r = 1; r < R; r++)
                    s += part[r * wsize + at];
                dst[q] = s;
            }
        }
    }
    cyc_aligned_free(part);
    if (err)
        return -1;
    return intr->stop ? 1 : 0;
}

/* ---- one input channel per group: direct loops -------------------------------------- */

/* NCHW input gradient: one task per (image, channel) plane, scatter form. */
static int FN(bw_data_direct_nchw)(const cyc_bwd_geom *g, const T *dy, const T *w,
                                   const T *bias, T *dx, cyc_interrupt *intr) {
    const cyc_int G = g->groups, cog = g->c_out / G, taps = g->kh * g->kw;
    const cyc_int H = g->h, W = g->w, HW = H * W, ho = g->ho, wo = g->wo, P = ho * wo;
    const cyc_int sw = g->sw, tasks = g->n * G;
    const int nt = cyc_threads_for(CYC_DIRECT_COST * g->n * g->c_out * taps * P, tasks);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (cyc_int task = 0; task < tasks; task++) {
        if (cyc_tile_skip(intr))
            continue;
        const cyc_int n = task / G, gi = task % G;
        T *plane = dx + (n * g->c_in + gi) * HW;
        FN(bw_fill)(plane, HW, bias ? bias[gi] : (T)0);
        for (cyc_int o = 0; o < cog; o++) {
            const T *src = dy + (n * g->c_out + gi * cog + o) * P;
            const T *wt = w + (gi * cog + o) * taps;
            if (sw == 1 && g->kw == 3) {
                /* the three taps of a kernel row in one pass over the dX row */
                cyc_int jo[3], lo[3], hi[3];
                for (int j = 0; j < 3; j++) {
                    /* (saturated at W: a tap that far reads nothing, and j*dw may overflow) */
                    jo[j] = (j && g->dw > (W + g->pl) / j) ? W : j * g->dw - g->pl;
                    lo[j] = jo[j] >= 0 ? 0 : -jo[j];
                    hi[j] = W - jo[j] < wo ? W - jo[j] : wo;
                    if (hi[j] < lo[j])
                        hi[j] = lo[j];
                }
                /* dX columns y = x + jo[j] that all three taps reach */
                cyc_int ya = 0, yb = W;
                for (int j = 0; j < 3; j++) {
                    if (lo[j] + jo[j] > ya) ya = lo[j] + jo[j];
                    if (hi[j] + jo[j] < yb) yb = hi[j] + jo[j];
                }
                for (cyc_int i = 0; i < g->kh; i++) {
                    /* a row tap at or past the padded bottom reaches no dX row (and i*dh may
                     * overflow for huge dilations): the later taps are further still */
                    if (i && g->dh > (H + g->pt) / i)
                        break;
                    const T w0 = wt[i * 3], w1 = wt[i * 3 + 1], w2 = wt[i * 3 + 2];
                    for (cyc_int oh = 0; oh < ho; oh++) {
                        const cyc_int ih = oh * g->sh - g->pt + i * g->dh;
                        if (ih < 0 || ih >= H)
                            continue;
                        T *restrict dst = plane + ih * W;
                        const T *restrict s = src + oh * wo;
                        const T *restrict s0 = s - jo[0], *restrict s1 = s - jo[1], *restrict s2 = s - jo[2];
                        for (cyc_int y = ya; y < yb; y++)
                            dst[y] += w0 * s0[y] + w1 * s1[y] + w2 * s2[y];
                        for (int j = 0; j < 3; j++) {  /* the edges, tap by tap */
                            const T wv = wt[i * 3 + j];
                            const cyc_int ea = ya - jo[j] < hi[j] ? ya - jo[j] : hi[j];
                            const cyc_int eb = yb - jo[j] > lo[j] ? yb - jo[j] : lo[j];
                            for (cyc_int x = lo[j]; x < ea; x++)
                                dst[x + jo[j]] += wv * s[x];
                            for (cyc_int x = eb > ea ? eb : ea; x < hi[j]; x++)
                                dst[x + jo[j]] += wv * s[x];
                        }
                    }
                }
                continue;
            }
            for (cyc_int t = 0; t < taps; t++) {
                const cyc_int i = t / g->kw, j = t % g->kw;
                const T wv = wt[t];
                const cyc_int jo = j * g->dw - g->pl;
                const cyc_int lo = jo >= 0 ? 0 : (-jo + sw - 1) / sw;
                cyc_int hi = W - jo <= 0 ? 0 : (W - jo + sw - 1) / sw;
                if (hi > wo)
                    hi = wo;
                for (cyc_int oh = 0; oh < ho; oh++) {
                    const cyc_int ih = oh * g->sh - g->pt + i * g->dh;
                    if (ih < 0 || ih >= H)
                        continue;
                    T *restrict dst = plane + ih * W + jo;
                    const T *restrict s = src + oh * wo;
                    if (sw == 1) {
                        for (cyc_int x = lo; x < hi; x++)
                            dst[x] += wv * s[x];
                    } else {
                        for (cyc_int x = lo; x < hi; x++)
                            dst[x * sw] += wv * s[x];
                    }
                }
            }
        }
    }
    return intr->stop ? 1 : 0;
}

/* NHWC input gradient: one task per (image, input row), gather form (the row is owned). */
static int FN(bw_data_direct_nhwc)(const cyc_bwd_geom *g, const T *dy, const T *w,
                                   const T *bias, T *dx, cyc_interrupt *intr) {
    const cyc_int G = g->groups, cog = g->c_out / G, taps = g->kh * g->kw;
    const cyc_int H = g->h, W = g->w, ho = g->ho, wo = g->wo, CO = g->c_out;
    const cyc_int tasks = g->n * H;
    /* w transposed to (taps, C_out): the channel loop reads it contiguously */
    T *wt = (T *)cyc_aligned_alloc((size_t)taps * CO * sizeof(T));
    if (!wt)
        return -1;
    for (cyc_int oc = 0; oc < CO; oc++)
        for (cyc_int t = 0; t < taps; t++)
            wt[t * CO + oc] = w[oc * taps + t];
    const int nt = cyc_threads_for(CYC_DIRECT_COST * g->n * CO * taps * ho * wo, tasks);
    /* One output channel per input channel: a pixel all of whose taps read grad_output
     * is the kernel set's vectorised depthwise sum (dw_pos, taps in order); the pixels
     * at the borders, where some taps read nothing (no term, not a zero term), below. */
    const cyc_ukernel *uk = cyc_ukernel_of(cyc_kernels(), DT);
    const int use_pos = cog == 1 && uk->dw_pos != NULL && taps <= 64;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (cyc_int task = 0; task < tasks; task++) {
        if (cyc_tile_skip(intr))
            continue;
        const cyc_int n = task / H, ih = task % H;
        T *row = dx + (n * H + ih) * W * G;
        if (use_pos) {
            const void *srcs[64];
            int rows_ok = 1;
            cyc_int ohs[64];
            for (cyc_int i = 0; i < g->kh && rows_ok; i++) {
                const cyc_int hn = ih + g->pt - i * g->dh;
                rows_ok = hn >= 0 && hn % g->sh == 0 && hn / g->sh < ho;
                ohs[i] = rows_ok ? hn / g->sh : 0;
            }
            if (rows_ok) {
                int done_all = 1;
                for (cyc_int iw = 0; iw < W; iw++) {
                    int ok = 1;
                    for (cyc_int j = 0; j < g->kw && ok; j++) {
                        const cyc_int wn = iw + g->pl - j * g->dw;
                        ok = wn >= 0 && wn % g->sw == 0 && wn / g->sw < wo;
                    }
                    if (!ok) {
                        done_all = 0;
                        continue;
                    }
                    for (cyc_int i = 0; i < g->kh; i++)
                        for (cyc_int j = 0; j < g->kw; j++)
                            srcs[i * g->kw + j] = dy + ((n * ho + ohs[i]) * wo
                                                        + (iw + g->pl - j * g->dw) / g->sw) * CO;
                    uk->dw_pos(G, (int)taps, srcs, wt, bias, row + iw * G);
                }
                if (done_all)
                    continue;
                /* the border pixels of this row: the loops below, skipping those done */
                for (cyc_int iw = 0; iw < W; iw++) {
                    int ok = 1;
                    for (cyc_int j = 0; j < g->kw && ok; j++) {
                        const cyc_int wn = iw + g->pl - j * g->dw;
                        ok = wn >= 0 && wn % g->sw == 0 && wn / g->sw < wo;
                    }
                    if (ok)
                        continue;
                    T *restrict dst = row + iw * G;
                    for (cyc_int c = 0; c < G; c++)
                        dst[c] = bias ? bias[c] : (T)0;
                    for (cyc_int i = 0; i < g->kh; i++)
                        for (cyc_int j = 0; j < g->kw; j++) {
                            const cyc_int wn = iw + g->pl - j * g->dw;
                            if (wn < 0 || wn % g->sw || wn / g->sw >= wo)
                                continue;
                            const T *restrict src = dy + ((n * ho + ohs[i]) * wo + wn / g->sw) * CO;
                            const T *restrict wv = wt + (i * g->kw + j) * CO;
                            for (cyc_int c = 0; c < G; c++)
                                dst[c] += wv[c] * src[c];
                        }
                }
                continue;
            }
        }
        for (cyc_int iw = 0; iw < W; iw++)
            for (cyc_int c = 0; c < G; c++)
                row[iw * G + c] = bias ? bias[c] : (T)0;
        for (cyc_int i = 0; i < g->kh; i++) {
            const cyc_int hn = ih + g->pt - i * g->dh;
            if (hn < 0 || hn % g->sh)
                continue;
            const cyc_int oh = hn / g->sh;
            if (oh >= ho)
                continue;
            for (cyc_int iw = 0; iw < W; iw++) {
                T *restrict dst = row + iw * G;
                for (cyc_int j = 0; j < g->kw; j++) {
                    const cyc_int wn = iw + g->pl - j * g->dw;
                    if (wn < 0 || wn % g->sw)
                        continue;
                    const cyc_int ow = wn / g->sw;
                    if (ow >= wo)
                        continue;
                    const T *restrict src = dy + ((n * ho + oh) * wo + ow) * CO;
                    const T *restrict wv = wt + (i * g->kw + j) * CO;
                    if (cog == 1) {
                        for (cyc_int c = 0; c < G; c++)
                            dst[c] += wv[c] * src[c];
                    } else {
                        for (cyc_int c = 0; c < G; c++)
                            for (cyc_int o = 0; o < cog; o++)
                                dst[c] += wv[c * cog + o] * src[c * cog + o];
                    }
                }
            }
        }
    }
    cyc_aligned_free(wt);
    return intr->stop ? 1 : 0;
}

/* NCHW weight gradient: one task per output channel, images in order; per tap a row of
 * accumulators (added elementwise, so that the compiler vectorises), summed at the end.
 * Taps reading padding: their terms are dy*0, which only matters (NaN) for a non-finite
 * dy; those terms are added explicitly when the plane holds one. */
static int FN(bw_weight_direct_nchw)(const cyc_bwd_geom *g, const T *dy, const T *x, T *dw,
                                     cyc_interrupt *intr) {
    const cyc_int G = g->groups, cog = g->c_out / G, taps = g->kh * g->kw;
    const cyc_int H = g->h, W = g->w, HW = H * W, ho = g->ho, wo = g->wo, P = ho * wo;
    const cyc_int sw = g->sw, CO = g->c_out;
    const int nt = cyc_threads_for(CYC_DIRECT_COST * g->n * CO * taps * P, CO);
    int err = 0;
    const double team_t0 = nt > 1 ? cyc_now() : 0.0;  /* see cyc_team_arrived */
#pragma omp parallel num_threads(nt)
    {
        CYC_TEAM_ARRIVE(team_t0);
        T *acc = (T *)cyc_aligned_alloc((size_t)(taps * wo + taps) * sizeof(T));
        if (!acc) {
            CYC_ATOMIC_WRITE
            err = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (cyc_int oc = 0; oc < CO; oc++) {
            if (!acc || cyc_tile_skip(intr))
                continue;
            T *fix = acc + taps * wo;
            const cyc_int gi = oc / cog;
            FN(bw_fill)(acc, taps * wo + taps, (T)0);
            for (cyc_int n = 0; n < g->n; n++) {
                const T *src = dy + (n * CO + oc) * P;
                const T *plane = x + (n * g->c_in + gi) * HW;
                for (cyc_int t = 0; t < taps; t++) {
                    const cyc_int i = t / g->kw, j = t % g->kw;
                    const cyc_int jo = j * g->dw - g->pl;
                    const cyc_int lo = jo >= 0 ? 0 : (-jo + sw - 1) / sw;
                    cyc_int hi = W - jo <= 0 ? 0 : (W - jo + sw - 1) / sw;
                    if (hi > wo)
                        hi = wo;
                    T *restrict a = acc + t * wo;
                    for (cyc_int oh = 0; oh < ho; oh++) {
                        const cyc_int ih = oh * g->sh - g->pt + i * g->dh;
                        if (ih < 0 || ih >= H)
                            continue;
                        const T *restrict xr = plane + ih * W + jo;
                        const T *restrict s = src + oh * wo;
                        if (sw == 1) {
                            for (cyc_int q = lo; q < hi; q++)
                                a[q] += s[q] * xr[q];
                        } else {
                            for (cyc_int q = lo; q < hi; q++)
                                a[q] += s[q] * xr[q * sw];
                        }
                    }
                }
                int bad = 0;  /* a non-finite dy? (x*0 != 0 only for inf and NaN) */
                for (cyc_int p = 0; p < P; p++)
                    bad |= src[p] * (T)0 != (T)0;
                if (!bad)
                    continue;  /* every dy finite: the padding terms are zeros */
                for (cyc_int t = 0; t < taps; t++) {
                    const cyc_int i = t / g->kw, j = t % g->kw;
                    for (cyc_int oh = 0; oh < ho; oh++) {
                        const cyc_int ih = oh * g->sh - g->pt + i * g->dh;
                        for (cyc_int ow = 0; ow < wo; ow++) {
                            const cyc_int iw = ow * sw - g->pl + j * g->dw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                fix[t] += src[oh * wo + ow] * (T)0;
                        }
                    }
                }
            }
            for (cyc_int t = 0; t < taps; t++) {
                T s = 0;
                for (cyc_int q = 0; q < wo; q++)
                    s += acc[t * wo + q];
                dw[oc * taps + t] = s + fix[t];
            }
        }
        cyc_aligned_free(acc);
    }
    if (err)
        return -1;
    return intr->stop ? 1 : 0;
}

/* NHWC weight gradient: fixed chunks of positions (problem-only), vectorised over the
 * channels; padding reads a row of stored zeros. Partial sums added in chunk order. */
static int FN(bw_weight_direct_nhwc)(const cyc_bwd_geom *g, const T *dy, const T *x, T *dw,
                                     cyc_interrupt *intr) {
    const cyc_int G = g->groups, cog = g->c_out / G, taps = g->kh * g->kw;
    const cyc_int H = g->h, W = g->w, wo = g->wo, P = g->ho * wo, CO = g->c_out;
    const cyc_int L = g->n * P;
    cyc_int R = L < BW_MIN_TASKS ? L : BW_MIN_TASKS;
    if (R < 1) {
        FN(bw_fill)(dw, CO * taps, (T)0);
        return 0;
    }
    const cyc_int wsize = taps * CO;
    T *part = (T *)cyc_aligned_alloc(((size_t)R * wsize + G) * sizeof(T));
    if (!part)
        return -1;
    T *zeros = part + R * wsize;
    FN(bw_fill)(zeros, G, (T)0);
    const int nt = cyc_threads_for(CYC_DIRECT_COST * L * CO * taps, R);
    const double team_t0 = nt > 1 ? cyc_now() : 0.0;  /* see cyc_team_arrived */
#pragma omp parallel num_threads(nt)
    {
        CYC_TEAM_ARRIVE(team_t0);
#pragma omp for schedule(dynamic, 1)
        for (cyc_int r = 0; r < R; r++) {
            T *acc = part + r * wsize;
            FN(bw_fill)(acc, wsize, (T)0);
            if (cyc_tile_skip(intr))
                continue;
            const cyc_int lo = L * r / R, hi = L * (r + 1) / R;
            cyc_int img = lo / P, oh = (lo % P) / wo, ow = lo % wo;
            for (cyc_int s = lo; s < hi; s++) {
                const T *restrict src = dy + s * CO;
                for (cyc_int t = 0; t < taps; t++) {
                    const cyc_int ih = oh * g->sh - g->pt + (t / g->kw) * g->dh;
                    const cyc_int iw = ow * g->sw - g->pl + (t % g->kw) * g->dw;
                    const T *restrict xr = (ih >= 0 && ih < H && iw >= 0 && iw < W)
                        ? x + ((img * H + ih) * W + iw) * G : zeros;
                    T *restrict a = acc + t * CO;
                    if (cog == 1) {
                        for (cyc_int c = 0; c < CO; c++)
                            a[c] += src[c] * xr[c];
                    } else {
                        for (cyc_int c = 0; c < G; c++)
                            for (cyc_int o = 0; o < cog; o++)
                                a[c * cog + o] += src[c * cog + o] * xr[c];
                    }
                }
                if (++ow == wo) {
                    ow = 0;
                    if (++oh == g->ho) {
                        oh = 0;
                        img++;
                    }
                }
            }
        }
#pragma omp for schedule(static)
        for (cyc_int oc = 0; oc < CO; oc++) {
            if (intr->stop)
                continue;
            for (cyc_int t = 0; t < taps; t++) {
                T s = part[t * CO + oc];
                for (cyc_int r = 1; r < R; r++)
                    s += part[r * wsize + t * CO + oc];
                dw[oc * taps + t] = s;
            }
        }
    }
    cyc_aligned_free(part);
    return intr->stop ? 1 : 0;
}

/* ---- the bias gradient ---------------------------------------------------------------- */

static double FN(bw_sum)(const T *restrict p, cyc_int count) {
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    cyc_int i = 0;
    for (; i + 8 <= count; i += 8)
        for (int l = 0; l < 8; l++)
            a[l] += (double)p[i + l];
    for (; i < count; i++)
        a[0] += (double)p[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

static int FN(bw_bias)(const cyc_bwd_geom *g, const T *dy, T *db) {
    const cyc_int CO = g->c_out, P = g->ho * g->wo, L = g->n * P;
    if (!g->nhwc) {
        const int nt = cyc_threads_for(CYC_DIRECT_COST * L * CO, CO);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (cyc_int oc = 0; oc < CO; oc++) {
            double s = 0;
            for (cyc_int n = 0; n < g->n; n++)
                s += FN(bw_sum)(dy + (n * CO + oc) * P, P);
            db[oc] = (T)s;
        }
        return 0;
    }
    cyc_int R = L < BW_MIN_TASKS ? L : BW_MIN_TASKS;
    if (R < 1) {
        FN(bw_fill)(db, CO, (T)0);
        return 0;
    }
    double *part = (double *)cyc_aligned_alloc((size_t)R * CO * sizeof(double));
    if (!part)
        return -1;
    const int nt = cyc_threads_for(CYC_DIRECT_COST * L * CO, R);
    const double team_t0 = nt > 1 ? cyc_now() : 0.0;  /* see cyc_team_arrived */
#pragma omp parallel num_threads(nt)
    {
        CYC_TEAM_ARRIVE(team_t0);
#pragma omp for schedule(dynamic, 1)
        for (cyc_int r = 0; r < R; r++) {
            double *restrict a = part + r * CO;
            for (cyc_int c = 0; c < CO; c++)
                a[c] = 0;
            for (cyc_int s = L * r / R; s < L * (r + 1) / R; s++) {
                const T *restrict src = dy + s * CO;
                for (cyc_int c = 0; c < CO; c++)
                    a[c] += (double)src[c];
            }
        }
#pragma omp for schedule(static)
        for (cyc_int c = 0; c < CO; c++) {
            double s = part[c];
            for (cyc_int r = 1; r < R; r++)
                s += part[r * CO + c];
            db[c] = (T)s;
        }
    }
    cyc_aligned_free(part);
    return 0;
}

/* ---- entry points ----------------------------------------------------------------------- */

/* Calls too small to be worth a poll (a clock read, the GIL, PyErr_CheckSignals) never
 * poll: a copy of the interruption state without the poll function. */
static cyc_interrupt *FN(bw_quiet)(const cyc_bwd_geom *g, cyc_interrupt *intr,
                                   cyc_interrupt *quiet) {
    const double flops = (double)g->n * g->c_out * (g->c_in / (g->groups ? g->groups : 1))
                         * g->kh * g->kw * g->ho * g->wo;
    if (flops >= (double)CYC_POLL_MIN_FLOPS)
        return intr;
    *quiet = *intr;
    quiet->poll = NULL;
    return quiet;
}

static int FN(bw_data)(const cyc_bwd_geom *g, const T *dy, const T *w, const T *bias, T *dx,
                       cyc_interrupt *intr) {
    cyc_interrupt quiet;
    if (g->n == 0 || g->c_in == 0 || g->h == 0 || g->w == 0)
        return 0;  /* dx has no elements */
    intr = FN(bw_quiet)(g, intr, &quiet);
    if (cyc_bwd_is_direct(g))
        return g->nhwc ? FN(bw_data_direct_nhwc)(g, dy, w, bias, dx, intr)
                       : FN(bw_data_direct_nchw)(g, dy, w, bias, dx, intr);
    return FN(bw_data_gemm)(cyc_ukernel_of(cyc_kernels(), DT), g, dy, w, bias, dx, intr);
}

static int FN(bw_weight)(const cyc_bwd_geom *g, const T *dy, const T *x, T *dw,
                         cyc_interrupt *intr) {
    const cyc_int wsize = g->c_out * (g->c_in / g->groups) * g->kh * g->kw;
    cyc_interrupt quiet;
    if (wsize == 0)
        return 0;
    intr = FN(bw_quiet)(g, intr, &quiet);
    if (g->n == 0) {
        FN(bw_fill)(dw, wsize, (T)0);
        return 0;
    }
    if (cyc_bwd_is_direct(g))
        return g->nhwc ? FN(bw_weight_direct_nhwc)(g, dy, x, dw, intr)
                       : FN(bw_weight_direct_nchw)(g, dy, x, dw, intr);
    return FN(bw_weight_gemm)(cyc_ukernel_of(cyc_kernels(), DT), g, dy, x, dw, intr);
}
