/* The AVX-512F kernel set (compiled with -mavx512f -mfma, /arch:AVX512 on MSVC).
 * Register tiles: float32 8x32 and float64 8x16 = 16 zmm accumulators, 2 B loads and 8
 * broadcasts per k step (16 FMAs: FMA-bound, not load-bound, with 2 loads per cycle).
 * Blocks: KC so that the A micro-panel (8 x KC) stays in L1 (8 KiB of a 32-48 KiB L1);
 * KC x NC (B block, 384 KiB) and MC x KC (A block) share a 1-2 MiB L2, as on AVX-512 cores. */
#include <immintrin.h>
#include <math.h>

#include "engine.h"

#define T float
#define MR 8
#define NV 2
#define VL 16
#define VEC __m512
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VSET1 _mm512_set1_ps
#define VFMA _mm512_fmadd_ps
#define VADD _mm512_add_ps
#define VZERO _mm512_setzero_ps
#define UKR_NAME ukr_avx512_f32
#define UKR_ROWS_NAME ukr_avx512_f32_rows
#include "ukr_simd_tpl.h"
#define DW_NAME(name) name##_avx512_f32
#define DWS_NAME(name) name##_avx512_f32_simd
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
#define MR 8
#define NV 2
#define VL 8
#define VEC __m512d
#define VLOAD _mm512_loadu_pd
#define VSTORE _mm512_storeu_pd
#define VSET1 _mm512_set1_pd
#define VFMA _mm512_fmadd_pd
#define VADD _mm512_add_pd
#define VZERO _mm512_setzero_pd
#define UKR_NAME ukr_avx512_f64
#define UKR_ROWS_NAME ukr_avx512_f64_rows
#include "ukr_simd_tpl.h"
#define DW_NAME(name) name##_avx512_f64
#define DWS_NAME(name) name##_avx512_f64_simd
#define SFMA fma
#include "dw_tpl.h"
#include "dw_simd_tpl.h"
#undef DW_NAME
#undef DWS_NAME
#undef SFMA
#undef T


const cyc_kernel_set cyc_kernels_avx512 = {
    "avx512",
    /* f32: kc 256 (A micro-panel 8 KiB), mc 128 (A block 128 KiB), nc 384 (B block 384 KiB) */
    {8, 32, 256, 128, 384, ukr_avx512_f32, ukr_avx512_f32_rows, dw_row_avx512_f32_simd, dw_pos_avx512_f32_simd},
    /* f64: kc 128 (8 KiB), mc 128 (128 KiB), nc 384 (B block 384 KiB) */
    {8, 16, 128, 128, 384, ukr_avx512_f64, ukr_avx512_f64_rows, dw_row_avx512_f64_simd, dw_pos_avx512_f64_simd},
};
