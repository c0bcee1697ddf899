/* Depthwise kernels with the sums of VL outputs in one vector register, for the SIMD
 * kernel sets: included after dw_tpl.h (whose portable versions, DW_NAME(dw_row) and
 * DW_NAME(dw_pos), handle strides != 1 and the edge outputs) with the macros of
 * ukr_simd_tpl.h and DWS_NAME(name). Each output's taps are summed in tap order with
 * fused multiply-adds in both the vector and the edge code, as in the portable version. */

#ifndef DW_NV
#define DW_NV 4 /* column vectors in flight */
#endif

static void DWS_NAME(dw_row)(cyc_int wo, cyc_int sw, int ntaps, const cyc_dw_tap *taps,
                             const void *wt_, const void *bias_, void *out_) {
    if (sw != 1 || wo < VL) {
        DW_NAME(dw_row)(wo, sw, ntaps, taps, wt_, bias_, out_);
        return;
    }
    const T *wt = (const T *)wt_;
    const T bias = bias_ ? *(const T *)bias_ : (T)0;
    T *out = (T *)out_;
    /* [olo, ohi): columns where every tap that reads a row reads inside it */
    cyc_int olo = 0, ohi = wo;
    for (int t = 0; t < ntaps; t++) {
        if (!taps[t].row)
            continue;
        if (taps[t].lo > olo) olo = taps[t].lo;
        if (taps[t].hi < ohi) ohi = taps[t].hi;
    }
    /* vectors over [olo, ohi), DW_NV at a time: independent sums, so that the fused
     * multiply-adds of one tap need not wait on each other's latency (10 % faster than
     * one vector at a time, one thread, both dtypes). The last vector
     * overlaps its neighbour instead of leaving a scalar tail (an output's sum does not
     * depend on the vector that computes it). */
    const int vec = ohi - olo >= VL;
    if (vec) {
        const cyc_int nvec = (ohi - olo + VL - 1) / VL;
        for (cyc_int v0 = 0; v0 < nvec; v0 += DW_NV) {
            const int nv = nvec - v0 < DW_NV ? (int)(nvec - v0) : DW_NV;
            cyc_int at[DW_NV];
            VEC acc[DW_NV];
            for (int u = 0; u < DW_NV; u++) {
                const cyc_int ow = olo + (v0 + (u < nv ? u : 0)) * VL;
                at[u] = ow > ohi - VL ? ohi - VL : ow;
                acc[u] = VSET1(bias);
            }
            for (int t = 0; t < ntaps; t++) {
                const T *row = (const T *)taps[t].row;
                const VEC wv = VSET1(wt[t]);
                if (row) {
                    const T *r = row + taps[t].off;
                    for (int u = 0; u < DW_NV; u++)
                        acc[u] = VFMA(wv, VLOAD(r + at[u]), acc[u]);
                } else {
                    for (int u = 0; u < DW_NV; u++)
                        acc[u] = VFMA(wv, VZERO(), acc[u]);
                }
            }
            for (int u = nv - 1; u >= 0; u--)  /* (u >= nv repeat vector v0: not stored) */
                VSTORE(out + at[u], acc[u]);
        }
    }
    /* the edges: one output at a time, taps in order */
    for (cyc_int ow = 0; ow < wo; ow++) {
        if (vec && ow == olo)
            ow = ohi;
        if (ow >= wo)
            break;
        T a = bias;
        for (int t = 0; t < ntaps; t++) {
            const T *row = (const T *)taps[t].row;
            const T v = row && ow >= taps[t].lo && ow < taps[t].hi ? row[ow + taps[t].off] : (T)0;
            a = SFMA(wt[t], v, a);
        }
        out[ow] = a;
    }
}

static void DWS_NAME(dw_pos)(cyc_int c_n, int ntaps, const void *const *src, const void *wt_,
                             const void *bias_, void *out_) {
    const T *wt = (const T *)wt_;
    const T *bias = (const T *)bias_;
    T *out = (T *)out_;
    if (c_n < VL) {
        DW_NAME(dw_pos)(c_n, ntaps, src, wt_, bias_, out_);
        return;
    }
    for (cyc_int c0 = 0;; c0 += VL) {
        if (c0 > c_n - VL)
            c0 = c_n - VL;  /* the last vector overlaps its neighbour */
        VEC acc = bias ? VLOAD(bias + c0) : VZERO();
        for (int t = 0; t < ntaps; t++) {
            const T *s = (const T *)src[t];
            const VEC wv = VLOAD(wt + t * c_n + c0);
            acc = VFMA(wv, s ? VLOAD(s + c0) : VZERO(), acc);
        }
        VSTORE(out + c0, acc);
        if (c0 == c_n - VL)
            break;
    }
}
