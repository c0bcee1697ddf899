/* Direct depthwise kernels (one input channel per group), plain C compiled with each
 * kernel set's flags so that the compiler vectorises them for that ISA (simple loops over
 * a chunk of outputs: the form compilers vectorise best). Included by the kernels_*.c
 * files with T and DW_NAME(name). Zero padding is arithmetic, not skipped: a tap over
 * padding adds w*0, so an inf or NaN weight gives NaN there, as stored zeros would.
 * Every output element sums its taps in tap order: the result does not depend on the
 * chunking, the tile or the thread. */
#ifndef CYC_DW_CHUNK
#define CYC_DW_CHUNK 128
#endif

/* out[ow] = bias + sum_t wt[t] * tap_t(ow), ow in [0, wo); tap_t(ow) is
 * row_t[ow*sw + off_t] for lo_t <= ow < hi_t and 0 elsewhere (row_t NULL: 0 everywhere). */
static void DW_NAME(dw_row)(cyc_int wo, cyc_int sw, int ntaps, const cyc_dw_tap *taps,
                            const void *wt_, const void *bias_, void *out_) {
    const T *wt = (const T *)wt_;
    const T bias = bias_ ? *(const T *)bias_ : (T)0;
    T *out = (T *)out_;
    T acc[CYC_DW_CHUNK];
    for (cyc_int o0 = 0; o0 < wo; o0 += CYC_DW_CHUNK) {
        const cyc_int n = wo - o0 < CYC_DW_CHUNK ? wo - o0 : CYC_DW_CHUNK;
        for (cyc_int e = 0; e < n; e++) acc[e] = bias;
        for (int t = 0; t < ntaps; t++) {
            const T wv = wt[t], z = wv * (T)0;
            const T *row = (const T *)taps[t].row;
            cyc_int lo = taps[t].lo - o0, hi = taps[t].hi - o0;
            if (!row) lo = hi = n;
            if (lo < 0) lo = 0;
            if (lo > n) lo = n;
            if (hi > n) hi = n;
            if (hi < lo) hi = lo;
            for (cyc_int e = 0; e < lo; e++) acc[e] += z;
            if (sw == 1) {
                if (lo < hi) {  /* (row is NULL for a tap that reads only padding) */
                    const T *s = row + (o0 + taps[t].off);
                    for (cyc_int e = lo; e < hi; e++) acc[e] += wv * s[e];
                }
            } else {
                for (cyc_int e = lo; e < hi; e++) acc[e] += wv * row[(o0 + e) * sw + taps[t].off];
            }
            for (cyc_int e = hi; e < n; e++) acc[e] += z;
        }
        for (cyc_int e = 0; e < n; e++) out[o0 + e] = acc[e];
    }
}

/* NHWC, one output position: out[c] = bias[c] + sum_t wt[t*c_n + c] * src_t[c] for
 * c in [0, c_n); src_t NULL = the tap reads padding (adds wt*0). */
static void DW_NAME(dw_pos)(cyc_int c_n, int ntaps, const void *const *src, const void *wt_,
                            const void *bias_, void *out_) {
    const T *wt = (const T *)wt_;
    const T *bias = (const T *)bias_;
    T *out = (T *)out_;
    T acc[CYC_DW_CHUNK];
    for (cyc_int c0 = 0; c0 < c_n; c0 += CYC_DW_CHUNK) {
        const cyc_int n = c_n - c0 < CYC_DW_CHUNK ? c_n - c0 : CYC_DW_CHUNK;
        if (bias)
            for (cyc_int e = 0; e < n; e++) acc[e] = bias[c0 + e];
        else
            for (cyc_int e = 0; e < n; e++) acc[e] = 0;
        for (int t = 0; t < ntaps; t++) {
            const T *w = wt + t * c_n + c0;
            const T *s = (const T *)src[t];
            if (s) {
                s += c0;
                for (cyc_int e = 0; e < n; e++) acc[e] += w[e] * s[e];
            } else {
                for (cyc_int e = 0; e < n; e++) acc[e] += w[e] * (T)0;
            }
        }
        for (cyc_int e = 0; e < n; e++) out[c0 + e] = acc[e];
    }
}
