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

/* The direct depthwise path where it beats the GEMM (measured single-threaded, AVX-512
 * and portable: cog 1 2-3x faster, cog 2 ~10% faster, cog 4 1.5x slower; dev-notes/e1-forward.md):
 * one input channel per group and few outputs per group (NCHW), exactly one (NHWC). */
#define CYC_DIRECT_MAX_COUT 2

int cyc_conv_is_direct(const cyc_conv_geom *g) {
    if (g->c_in <= 0 || g->c_in != g->groups)
        return 0;
    const cyc_int cog = g->c_out / g->groups;
    return g->nhwc ? cog == 1 : cog <= CYC_DIRECT_MAX_COUT;
}

int cyc_conv2d_forward(int dtype, const cyc_conv_geom *g, const void *x, const void *w,
                       const void *bias, void *y, size_t ws_limit, int nthreads,
                       cyc_interrupt *intr, size_t *ws_bytes) {
    return cyc_conv2d_forward_path(dtype, g, x, w, bias, y, ws_limit, nthreads, intr, ws_bytes,
                                   CYC_PATH_AUTO);
}

int cyc_conv2d_forward_path(int dtype, const cyc_conv_geom *g, const void *x, const void *w,
                            const void *bias, void *y, size_t ws_limit, int nthreads,
                            cyc_interrupt *intr, size_t *ws_bytes, int path) {
    if (ws_bytes)
        *ws_bytes = 0;
    if (g->n <= 0 || g->c_out <= 0 || g->ho <= 0 || g->wo <= 0)
        return CYC_OK;
    const cyc_ukernel *uk = cyc_ukernel_of(cyc_kernels(), dtype);
    cyc_conv_geom g1;
    if (!g->nhwc && g->h == 1 && g->w == 1 && g->ho == 1 && g->wo == 1) {
        /* (N, C, 1, 1) in and out is the same memory as NHWC: the images become the
         * GEMM's rows (a Linear layer's product) instead of N products of one column */
        g1 = *g;
        g1.nhwc = 1;
        g = &g1;
    }
    const int direct_ok = g->c_in > 0 && g->c_in == g->groups
                          && (!g->nhwc || g->c_out == g->groups);
    if (path == CYC_PATH_AUTO ? cyc_conv_is_direct(g) : path == CYC_PATH_DIRECT && direct_ok) {
        if (dtype == CYC_F64)
            return forward_direct_f64(uk, g, (const double *)x, (const double *)w,
                                      (const double *)bias, (double *)y, nthreads, intr, ws_bytes);
        return forward_direct_f32(uk, g, (const float *)x, (const float *)w, (const float *)bias,
                                  (float *)y, nthreads, intr, ws_bytes);
    }
    if (dtype == CYC_F64)
        return forward_gemm_f64(uk, g, (const double *)x, (const double *)w,
                                (const double *)bias, (double *)y, ws_limit, nthreads, intr, ws_bytes);
    return forward_gemm_f32(uk, g, (const float *)x, (const float *)w, (const float *)bias,
                            (float *)y, ws_limit, nthreads, intr, ws_bytes);
}
