/* The macro-kernel and packing helpers, written once for both dtypes: gemm.c includes
 * this file twice with T (float / double) and FN(name) (name##_f32 / name##_f64). */

static void FN(edge_store)(const T *tile, int nr, cyc_int mr_eff, cyc_int nr_eff, T *c,
                           cyc_int rs_c, cyc_int cs_c, int acc) {
    for (cyc_int i = 0; i < mr_eff; i++) {
        T *ci = c + i * rs_c;
        const T *ti = tile + (cyc_int)i * nr;
        if (acc) {
            for (cyc_int j = 0; j < nr_eff; j++)
                ci[j * cs_c] += ti[j];
        } else {
            for (cyc_int j = 0; j < nr_eff; j++)
                ci[j * cs_c] = ti[j];
        }
    }
}

static void FN(gemm)(const cyc_ukernel *uk, const cyc_gemm_op *op, cyc_workspace *ws) {
    const int MR = uk->mr, NR = uk->nr;
    const cyc_int m = op->m, n = op->n, k = op->k;
    const cyc_int KC = uk->kc, MC = ws->mc > 0 ? ws->mc : uk->mc, NC = ws->nc;
    T *c = (T *)op->c;
    const cyc_int rs_c = op->rs_c, cs_c = op->cs_c;
    T *tile = (T *)ws->tile;
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {  /* no products: C = 0 (or unchanged), then the epilogue */
        if (!op->accumulate)
            for (cyc_int i = 0; i < m; i++)
                for (cyc_int j = 0; j < n; j++)
                    c[i * rs_c + j * cs_c] = 0;
        if (op->epilogue)
            op->epilogue(op->ctx, 0, m, 0, n);
        return;
    }
    for (cyc_int jc = 0; jc < n; jc += NC) {
        const cyc_int nc = n - jc < NC ? n - jc : NC;
        for (cyc_int pc = 0; pc < k; pc += KC) {
            if (op->intr && cyc_tile_skip(op->intr))
                return;
            const cyc_int kc = k - pc < KC ? k - pc : KC;
            const int acc = op->accumulate || pc > 0;
            const int last = pc + kc >= k;
            const T *bblk;
            cyc_int bstride;  /* elements between B micro-panels */
            cyc_int ldb = NR; /* elements between the k rows of a micro-panel */
            if (op->b_rows) {
                op->pack_b(op->ctx, jc, nc, pc, kc, ws->b);
                bblk = (const T *)ws->b;
                bstride = NR;
                ldb = (nc + NR - 1) / NR * NR;
            } else if (op->pack_b) {
                op->pack_b(op->ctx, jc, nc, pc, kc, ws->b);
                bblk = (const T *)ws->b;
                bstride = kc * NR;
            } else {
                bblk = (const T *)op->b_full + (jc / NR) * k * NR + pc * NR;
                bstride = k * NR;
            }
            for (cyc_int ic = 0; ic < m; ic += MC) {
                const cyc_int mc = m - ic < MC ? m - ic : MC;
                const T *ablk;
                cyc_int astride;
                cyc_int lda = kc;
                if (op->a_rows && op->a_direct) {
                    ablk = (const T *)op->a_direct + ic * op->lda + pc;
                    lda = op->lda;
                    astride = MR * lda;
                } else if (op->a_rows) {
                    op->pack_a(op->ctx, ic, mc, pc, kc, ws->a);
                    ablk = (const T *)ws->a;
                    astride = kc * MR;  /* MR rows of kc */
                } else if (op->pack_a) {
                    op->pack_a(op->ctx, ic, mc, pc, kc, ws->a);
                    ablk = (const T *)ws->a;
                    astride = kc * MR;
                } else {
                    ablk = (const T *)op->a_full + (ic / MR) * k * MR + pc * MR;
                    astride = k * MR;
                }
                for (cyc_int ir = 0; ir < mc; ir += MR) {
                    const T *ap = ablk + (ir / MR) * astride;
                    const cyc_int mr_eff = mc - ir < MR ? mc - ir : MR;
                    cyc_int lda_p = lda;
                    if (op->a_rows && op->a_direct && mr_eff < MR) {
                        /* the last partial panel: its rows copied, the rest zero */
                        T *dst = (T *)ws->a;
                        for (cyc_int i = 0; i < MR; i++)
                            for (cyc_int p = 0; p < kc; p++)
                                dst[i * kc + p] = i < mr_eff ? ap[i * lda + p] : (T)0;
                        ap = dst;
                        lda_p = kc;
                    }
                    for (cyc_int jr = 0; jr < nc; jr += NR) {
                        const T *bp = bblk + (jr / NR) * bstride;
                        const cyc_int nr_eff = nc - jr < NR ? nc - jr : NR;
                        T *cp = c + (ic + ir) * rs_c + (jc + jr) * cs_c;
                        const int full = mr_eff == MR && nr_eff == NR && cs_c == 1;
                        T *dst = full ? cp : tile;
                        const cyc_int ldd = full ? rs_c : NR;
                        const int accd = full ? acc : 0;
                        if (op->a_rows)
                            uk->ukr_rows(kc, ap, lda_p, bp, ldb, dst, ldd, accd);
                        else
                            uk->ukr(kc, ap, bp, ldb, dst, ldd, accd);
                        if (!full)
                            FN(edge_store)(tile, NR, mr_eff, nr_eff, cp, rs_c, cs_c, acc);
                    }
                }
                if (last && op->epilogue)
                    op->epilogue(op->ctx, ic, mc, jc, nc);
            }
        }
    }
}

static void FN(pack_a_full)(const cyc_ukernel *uk, const T *src, cyc_int rs, cyc_int cs,
                            cyc_int m, cyc_int k, T *dst) {
    const int MR = uk->mr;
    for (cyc_int i0 = 0; i0 < m; i0 += MR) {
        T *d = dst + (i0 / MR) * k * MR;
        for (cyc_int p = 0; p < k; p++)
            for (int i = 0; i < MR; i++)
                d[p * MR + i] = i0 + i < m ? src[(i0 + i) * rs + p * cs] : (T)0;
    }
}

static void FN(pack_b_full)(const cyc_ukernel *uk, const T *src, cyc_int rs, cyc_int cs,
                            cyc_int k, cyc_int n, T *dst) {
    const int NR = uk->nr;
    for (cyc_int j0 = 0; j0 < n; j0 += NR) {
        T *d = dst + (j0 / NR) * k * NR;
        for (cyc_int p = 0; p < k; p++)
            for (int j = 0; j < NR; j++)
                d[p * NR + j] = j0 + j < n ? src[p * rs + (j0 + j) * cs] : (T)0;
    }
}
