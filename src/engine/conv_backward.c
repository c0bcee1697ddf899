/* The convolution gradients on the engine: see conv_backward.h. */
#include <stdlib.h>
#include <string.h>

#include "conv_backward.h"

/* Tests only (cyconv._engine._backward_force_gemm): every geometry on the GEMM paths. */
static int force_gemm = 0;

void cyc_bwd_force_gemm(int on) { force_gemm = on; }

int cyc_bwd_is_direct(const cyc_bwd_geom *g) {
    /* one input channel per group and few output channels per group: the GEMMs would be
     * thinner than a register tile (K = C_out/groups for the input gradient, M for the
     * weight gradient) */
    return !force_gemm && g->c_in == g->groups && g->c_out / g->groups <= 8;
}

#define T float
#define FN(name) name##_f32
#define DT CYC_F32
#include "conv_backward_tpl.h"
#undef T
#undef FN
#undef DT
#define T double
#define FN(name) name##_f64
#define DT CYC_F64
#include "conv_backward_tpl.h"
#undef T
#undef FN
#undef DT

int cyc_bwd_data(int dtype, const cyc_bwd_geom *g, const void *dy, const void *w,
                 const void *bias, void *dx, cyc_interrupt *intr) {
    if (dtype == CYC_F64)
        return bw_data_f64(g, (const double *)dy, (const double *)w, (const double *)bias,
                           (double *)dx, intr);
    return bw_data_f32(g, (const float *)dy, (const float *)w, (const float *)bias, (float *)dx,
                       intr);
}

int cyc_bwd_weight(int dtype, const cyc_bwd_geom *g, const void *dy, const void *x, void *dw,
                   cyc_interrupt *intr) {
    if (dtype == CYC_F64)
        return bw_weight_f64(g, (const double *)dy, (const double *)x, (double *)dw, intr);
    return bw_weight_f32(g, (const float *)dy, (const float *)x, (float *)dw, intr);
}

int cyc_bwd_bias(int dtype, const cyc_bwd_geom *g, const void *dy, void *db) {
    if (dtype == CYC_F64)
        return bw_bias_f64(g, (const double *)dy, (double *)db);
    return bw_bias_f32(g, (const float *)dy, (float *)db);
}
