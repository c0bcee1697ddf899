/* The forward convolution (conv2d), NCHW and NHWC, on the engine's GEMM. */
#include <string.h>

#include "engine.h"

#define T float
#define FN(name) name##_f32
#define DT CYC_F32
#include "conv_fwd_tpl.h"
#undef T
#undef FN
#undef DT
#define T double
#define FN(name) name##_f64
#define DT CYC_F64
#include "conv_fwd_tpl.h"
#undef T
#undef FN
#undef DT

int cyc_conv2d_forward(int dtype, const cyc_conv_geom *g, const void *x, const void *w,
                       const void *bias, void *y, size_t ws_limit, int nthreads,
                       cyc_interrupt *intr, size_t *ws_bytes) {
    if (ws_bytes)
        *ws_bytes = 0;
    if (g->n <= 0 || g->c_out <= 0 || g->ho <= 0 || g->wo <= 0)
        return CYC_OK;
    const cyc_ukernel *uk = cyc_ukernel_of(cyc_kernels(), dtype);
    if (dtype == CYC_F64)
        return forward_gemm_f64(uk, g, (const double *)x, (const double *)w,
                                (const double *)bias, (double *)y, ws_limit, nthreads, intr, ws_bytes);
    return forward_gemm_f32(uk, g, (const float *)x, (const float *)w, (const float *)bias,
                            (float *)y, ws_limit, nthreads, intr, ws_bytes);
}
