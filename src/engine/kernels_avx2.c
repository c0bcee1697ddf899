/* The AVX2+FMA kernel set (compiled with -mavx2 -mfma, /arch:AVX2 on MSVC).
 * Register tiles: float32 6x16 and float64 6x8 = 12 ymm accumulators, 2 B loads and one
 * broadcast per k step (15 of the 16 ymm registers): with 2 FMA ports of latency 4-5,
 * 12 independent sums keep both busy.
 * Blocks: KC so that the A micro-panel (6 x KC) stays in L1 (32 KiB) beside the B
 * micro-panel it meets; KC x NC (B block) in half of a 256 KiB-1 MiB L2. */
#include <immintrin.h>
#include <math.h>

#include "engine.h"

#define T float
#define MR 6
#define NV 2
#define VL 8
#define VEC __m256
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VSET1 _mm256_set1_ps
#define VFMA _mm256_fmadd_ps
#define VADD _mm256_add_ps
#define VZERO _mm256_setzero_ps
#define UKR_NAME ukr_avx2_f32
#define UKR_ROWS_NAME ukr_avx2_f32_rows
#include "ukr_simd_tpl.h"
#define DW_NAME(name) name##_avx2_f32
#define DWS_NAME(name) name##_avx2_f32_simd
#define SFMA fmaf
#include "dw_tpl.h"
#include "dw_simd_tpl.h"
#undef DW_NAME
#undef DWS_NAME
#undef SFMA
#undef T
#undef MR
#undef NV
#undef VL
#undef VEC
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VFMA
#undef VADD
#undef VZERO
#undef UKR_NAME
#undef UKR_ROWS_NAME

#define T double
#define MR 6
#define NV 2
#define VL 4
#define VEC __m256d
#define VLOAD _mm256_loadu_pd
#define VSTORE _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VFMA _mm256_fmadd_pd
#define VADD _mm256_add_pd
#define VZERO _mm256_setzero_pd
#define UKR_NAME ukr_avx2_f64
#define UKR_ROWS_NAME ukr_avx2_f64_rows
#include "ukr_simd_tpl.h"
#define DW_NAME(name) name##_avx2_f64
#define DWS_NAME(name) name##_avx2_f64_simd
#define SFMA fma
#include "dw_tpl.h"
#include "dw_simd_tpl.h"
#undef DW_NAME
#undef DWS_NAME
#undef SFMA
#undef T


const cyc_kernel_set cyc_kernels_avx2 = {
    "avx2",
    /* f32: kc 256 (A micro-panel 6 KiB), mc 144 (A block 144 KiB), nc 192 (B block 192 KiB) */
    {6, 16, 256, 144, 192, ukr_avx2_f32, ukr_avx2_f32_rows, dw_row_avx2_f32_simd, dw_pos_avx2_f32_simd},
    /* f64: kc 128 (6 KiB), mc 144 (144 KiB), nc 192 (192 KiB) */
    {6, 8, 128, 144, 192, ukr_avx2_f64, ukr_avx2_f64_rows, dw_row_avx2_f64_simd, dw_pos_avx2_f64_simd},
};
