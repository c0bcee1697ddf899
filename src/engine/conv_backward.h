/* The convolution gradients on the engine (engine.h): the input gradient (= the
 * transposed convolution), the weight gradient and the bias gradient.
 *
 * Input gradient dX (one tile = image, group, block of input channels; the tile owns
 * its dX planes (NCHW) or channel slice (NHWC), so tiles never race):
 *   NCHW: C (cb*taps x positions) = W^T (cb*taps x Cog) * dY (Cog x positions), the W^T
 *         panels packed once per call, dY packed per block of positions (the B panel);
 *   NHWC: C (positions x taps*cb) = dY (positions x Cog) * W (Cog x taps*cb);
 *   then col2im: every C block is scatter-added onto the tile's dX (the store step).
 *   The transposed convolution is this computation with its bias as the initial value.
 * Weight gradient dW = sum over images and positions of dY x patches^T: tiles of dW
 *   (group, rows, columns) times a fixed number of reduction chunks chosen from the
 *   problem alone, each chunk's partial sum reduced in chunk order: bit-identical for
 *   every thread count. Packing the patches is the gather from x (zeros for padding).
 * Bias gradient: float64 sums per channel, in a fixed order.
 * One input channel per group with few output channels per group (depthwise, single
 * channel images): direct loops instead of a degenerate GEMM, same rules.
 *
 * Every function returns 0, 1 when interrupted (intr->stop), -1 when out of memory.
 */
#ifndef CYCONV_CONV_BACKWARD_H
#define CYCONV_CONV_BACKWARD_H

#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    cyc_int n, c_in, h, w;   /* x and dX: (N, C_in, H, W), or (N, H, W, C_in) when nhwc */
    cyc_int c_out, ho, wo;   /* grad_output: (N, C_out, Ho, Wo) or (N, Ho, Wo, C_out) */
    cyc_int kh, kw, sh, sw, dh, dw, pt, pl;
    cyc_int groups;
    int nhwc;
} cyc_bwd_geom;

/* dx = the input gradient (+ bias[c] per channel when bias is not NULL: conv_transpose2d).
 * w is (C_out, C_in/groups, kh, kw) whatever the layout. */
int cyc_bwd_data(int dtype, const cyc_bwd_geom *g, const void *dy, const void *w,
                 const void *bias, void *dx, cyc_interrupt *intr);
/* dw (C_out, C_in/groups, kh, kw) = the weight gradient. */
int cyc_bwd_weight(int dtype, const cyc_bwd_geom *g, const void *dy, const void *x, void *dw,
                   cyc_interrupt *intr);
/* db (C_out) = sum of dy over images and positions. */
int cyc_bwd_bias(int dtype, const cyc_bwd_geom *g, const void *dy, void *db);
/* Whether the direct (no-GEMM) loops serve this geometry. */
int cyc_bwd_is_direct(const cyc_bwd_geom *g);
/* Tests: 1 sends every geometry through the GEMM drivers (the same answers). */
void cyc_bwd_force_gemm(int on);

#ifdef __cplusplus
}
#endif
#endif
