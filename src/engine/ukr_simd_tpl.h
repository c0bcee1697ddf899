/* An MR x NR micro-kernel over SIMD vectors of VL lanes (NR = NV * VL), written once for
 * every ISA and dtype: kernels_avx2.c / kernels_avx512.c include it with T, MR, NV, VL,
 * the vector type VEC and the intrinsics VLOAD, VSTORE, VSET1, VFMA (a*b + c), VADD,
 * VZERO, and UKR_NAME. Per k step: NV vector loads of B, MR broadcasts of A,
 * MR*NV fused multiply-adds into MR*NV accumulator registers. */
#if defined(__GNUC__) && !defined(__clang__)
#define CYC_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define CYC_UNROLL _Pragma("unroll")
#else
#define CYC_UNROLL
#endif

static void UKR_NAME(cyc_int kc, const void *a_, const void *b_, cyc_int ldb, void *c_, cyc_int ldc, int acc) {
    const T *a = (const T *)a_;
    const T *b = (const T *)b_;
    T *c = (T *)c_;
    VEC r[MR][NV];
    CYC_UNROLL for (int i = 0; i < MR; i++)
        CYC_UNROLL for (int v = 0; v < NV; v++)
            r[i][v] = VZERO();
    for (cyc_int p = 0; p < kc; p++) {
        VEC bv[NV];
        CYC_UNROLL for (int v = 0; v < NV; v++)
            bv[v] = VLOAD(b + v * VL);
        CYC_UNROLL for (int i = 0; i < MR; i++) {
            const VEC av = VSET1(a[i]);
            CYC_UNROLL for (int v = 0; v < NV; v++)
                r[i][v] = VFMA(av, bv[v], r[i][v]);
        }
        a += MR;
        b += ldb;
    }
    if (acc) {
        CYC_UNROLL for (int i = 0; i < MR; i++)
            CYC_UNROLL for (int v = 0; v < NV; v++)
                VSTORE(c + i * ldc + v * VL, VADD(VLOAD(c + i * ldc + v * VL), r[i][v]));
    } else {
        CYC_UNROLL for (int i = 0; i < MR; i++)
            CYC_UNROLL for (int v = 0; v < NV; v++)
                VSTORE(c + i * ldc + v * VL, r[i][v]);
    }
}
static void UKR_ROWS_NAME(cyc_int kc, const void *a_, cyc_int lda, const void *b_, cyc_int ldb, void *c_, cyc_int ldc, int acc) {
    const T *a = (const T *)a_;
    const T *b = (const T *)b_;
    T *c = (T *)c_;
    VEC r[MR][NV];
    CYC_UNROLL for (int i = 0; i < MR; i++)
        CYC_UNROLL for (int v = 0; v < NV; v++)
            r[i][v] = VZERO();
    for (cyc_int p = 0; p < kc; p++) {
        VEC bv[NV];
        CYC_UNROLL for (int v = 0; v < NV; v++)
            bv[v] = VLOAD(b + v * VL);
        CYC_UNROLL for (int i = 0; i < MR; i++) {
            const VEC av = VSET1(a[i * lda]);
            CYC_UNROLL for (int v = 0; v < NV; v++)
                r[i][v] = VFMA(av, bv[v], r[i][v]);
        }
        a += 1;
        b += ldb;
    }
    if (acc) {
        CYC_UNROLL for (int i = 0; i < MR; i++)
            CYC_UNROLL for (int v = 0; v < NV; v++)
                VSTORE(c + i * ldc + v * VL, VADD(VLOAD(c + i * ldc + v * VL), r[i][v]));
    } else {
        CYC_UNROLL for (int i = 0; i < MR; i++)
            CYC_UNROLL for (int v = 0; v < NV; v++)
                VSTORE(c + i * ldc + v * VL, r[i][v]);
    }
}
#undef CYC_UNROLL
