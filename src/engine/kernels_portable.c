/* The portable kernel set: plain C, compiled with the platform's baseline flags (SSE2 on
 * x86-64, NEON on aarch64). Also the fallback on every non-x86 host.
 * Register tiles: float32 4x8, float64 4x4 (8 accumulators of 4 / 2 lanes on SSE2):
 * 6x8 measured 26 GF/s on the ResNet block against 31 for 4x8 (GCC spilled 6x8's sums
 * to the stack on SSE2's 16 registers); 8x4 and 4x12 were slower too.
 * Blocks: KC keeps the A micro-panel (MR x KC) in a 32 KiB L1 with room for the B panel
 * it meets; KC x NC (B block) fits a 256 KiB-1 MiB L2; MC x KC (A block) the L2 too. */
#include "engine.h"

#define T float
#define MR 4
#define NR 8
#define UKR_NAME ukr_portable_f32
#define UKR_ROWS_NAME ukr_portable_f32_rows
#include "ukr_portable_tpl.h"
#undef T
#undef MR
#undef NR
#undef UKR_NAME
#undef UKR_ROWS_NAME

#define T double
#define MR 4
#define NR 4
#define UKR_NAME ukr_portable_f64
#define UKR_ROWS_NAME ukr_portable_f64_rows
#include "ukr_portable_tpl.h"
#undef T
#undef MR
#undef NR
#undef UKR_NAME
#undef UKR_ROWS_NAME

#define T float
#define DW_NAME(name) name##_portable_f32
#include "dw_tpl.h"
#undef T
#undef DW_NAME
#define T double
#define DW_NAME(name) name##_portable_f64
#include "dw_tpl.h"
#undef T
#undef DW_NAME

const cyc_kernel_set cyc_kernels_portable = {
    "portable",
    /* f32: kc 256 (A micro-panel 4 KiB), mc 144 (A block 144 KiB), nc 192 (B block 192 KiB) */
    {4, 8, 256, 144, 192, ukr_portable_f32, ukr_portable_f32_rows, dw_row_portable_f32, dw_pos_portable_f32},
    /* f64: kc 128 (4 KiB), mc 144 (144 KiB), nc 192 (192 KiB) */
    {4, 4, 128, 144, 192, ukr_portable_f64, ukr_portable_f64_rows, dw_row_portable_f64, dw_pos_portable_f64},
};
