/* A portable MR x NR micro-kernel in plain C that compilers vectorise (the inner j loops
 * run over NR contiguous elements; the MR x NR sums stay in registers once the constant
 * loops are unrolled). Included by kernels_portable.c with T, MR, NR and UKR_NAME. */
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
    T r[MR][NR];
    CYC_UNROLL for (int i = 0; i < MR; i++)
        CYC_UNROLL for (int j = 0; j < NR; j++)
            r[i][j] = 0;
    for (cyc_int p = 0; p < kc; p++) {
        CYC_UNROLL for (int i = 0; i < MR; i++) {
            const T av = a[i];
            CYC_UNROLL for (int j = 0; j < NR; j++)
                r[i][j] += av * b[j];
        }
        a += MR;
        b += ldb;
    }
    if (acc) {
        CYC_UNROLL for (int i = 0; i < MR; i++)
            CYC_UNROLL for (int j = 0; j < NR; j++)
                c[i * ldc + j] += r[i][j];
    } else {
        CYC_UNROLL for (int i = 0; i < MR; i++)
            CYC_UNROLL for (int j = 0; j < NR; j++)
                c[i * ldc + j] = r[i][j];
    }
}
static void UKR_ROWS_NAME(cyc_int kc, const void *a_, cyc_int lda, const void *b_, cyc_int ldb, void *c_, cyc_int ldc, int acc) {
    const T *a = (const T *)a_;
    const T *b = (const T *)b_;
    T *c = (T *)c_;
    T r[MR][NR];
    CYC_UNROLL for (int i = 0; i < MR; i++)
        CYC_UNROLL for (int j = 0; j < NR; j++)
            r[i][j] = 0;
    for (cyc_int p = 0; p < kc; p++) {
        CYC_UNROLL for (int i = 0; i < MR; i++) {
            const T av = a[i * lda];
            CYC_UNROLL for (int j = 0; j < NR; j++)
                r[i][j] += av * b[j];
        }
        a += 1;
        b += ldb;
    }
    if (acc) {
        CYC_UNROLL for (int i = 0; i < MR; i++)
            CYC_UNROLL for (int j = 0; j < NR; j++)
                c[i * ldc + j] += r[i][j];
    } else {
        CYC_UNROLL for (int i = 0; i < MR; i++)
            CYC_UNROLL for (int j = 0; j < NR; j++)
                c[i * ldc + j] = r[i][j];
    }
}
#undef CYC_UNROLL
