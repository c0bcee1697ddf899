/* The engine's macro-kernel, workspace, packing helpers and thread heuristics. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(_WIN32)
#include <windows.h>
#endif

#include "engine.h"

#define T float
#define FN(name) name##_f32
#include "gemm_tpl.h"
#undef T
#undef FN
#define T double
#define FN(name) name##_f64
#include "gemm_tpl.h"
#undef T
#undef FN

void cyc_gemm(const cyc_ukernel *uk, int dtype, const cyc_gemm_op *op, cyc_workspace *ws) {
    if (dtype == CYC_F64)
        gemm_f64(uk, op, ws);
    else
        gemm_f32(uk, op, ws);
}

size_t cyc_full_a_elems(const cyc_ukernel *uk, cyc_int m, cyc_int k) {
    return (size_t)((m + uk->mr - 1) / uk->mr) * uk->mr * (size_t)k;
}

size_t cyc_full_b_elems(const cyc_ukernel *uk, cyc_int k, cyc_int n) {
    return (size_t)((n + uk->nr - 1) / uk->nr) * uk->nr * (size_t)k;
}

void cyc_pack_a_full(const cyc_ukernel *uk, int dtype, const void *src, cyc_int rs, cyc_int cs,
                     cyc_int m, cyc_int k, void *dst) {
    if (dtype == CYC_F64)
        pack_a_full_f64(uk, (const double *)src, rs, cs, m, k, (double *)dst);
    else
        pack_a_full_f32(uk, (const float *)src, rs, cs, m, k, (float *)dst);
}

void cyc_pack_b_full(const cyc_ukernel *uk, int dtype, const void *src, cyc_int rs, cyc_int cs,
                     cyc_int k, cyc_int n, void *dst) {
    if (dtype == CYC_F64)
        pack_b_full_f64(uk, (const double *)src, rs, cs, k, n, (double *)dst);
    else
        pack_b_full_f32(uk, (const float *)src, rs, cs, k, n, (float *)dst);
}

void *cyc_aligned_alloc(size_t bytes) {
    if (bytes == 0)
        bytes = 1;
    bytes = (bytes + CYC_ALIGN - 1) / CYC_ALIGN * CYC_ALIGN;
#if defined(_WIN32)
    return _aligned_malloc(bytes, CYC_ALIGN);
#else
    void *p = NULL;
    if (posix_memalign(&p, CYC_ALIGN, bytes) != 0)
        return NULL;
    return p;
#endif
}

void cyc_aligned_free(void *p) {
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

int cyc_nc_for_budget(const cyc_ukernel *uk, int dtype, size_t budget_bytes) {
    size_t item = dtype == CYC_F64 ? sizeof(double) : sizeof(float);
    size_t per_col = (size_t)uk->kc * item;
    size_t cols = budget_bytes / per_col;
    cols = cols / uk->nr * uk->nr;
    if (cols < (size_t)uk->nr)
        cols = uk->nr;
    if (cols > (size_t)uk->nc)
        cols = uk->nc;
    return (int)cols;
}

int cyc_ws_init(cyc_workspace *ws, const cyc_ukernel *uk, int dtype, int mc, int nc,
                int with_a, size_t extra_bytes) {
    size_t item = dtype == CYC_F64 ? sizeof(double) : sizeof(float);
    memset(ws, 0, sizeof *ws);
    if (mc <= 0)
        mc = uk->mc;
    mc = (mc + uk->mr - 1) / uk->mr * uk->mr;
    if (nc <= 0 || nc > uk->nc)
        nc = uk->nc;
    nc = (nc + uk->nr - 1) / uk->nr * uk->nr;
    ws->mc = mc;
    ws->nc = nc;
    ws->b = cyc_aligned_alloc((size_t)uk->kc * nc * item);
    ws->tile = cyc_aligned_alloc((size_t)uk->mr * uk->nr * item);
    if (with_a)
        ws->a = cyc_aligned_alloc((size_t)uk->kc * mc * item);
    if (extra_bytes) {
        ws->extra = cyc_aligned_alloc(extra_bytes);
        ws->extra_bytes = extra_bytes;
    }
    ws->bytes = (size_t)uk->kc * nc * item + (size_t)uk->mr * uk->nr * item
              + (with_a ? (size_t)uk->kc * mc * item : 0) + extra_bytes;
    if (!ws->b || !ws->tile || (with_a && !ws->a) || (extra_bytes && !ws->extra)) {
        cyc_ws_free(ws);
        return -1;
    }
    return 0;
}

size_t cyc_ws_bytes(const cyc_workspace *ws) { return ws->bytes; }

void cyc_ws_free(cyc_workspace *ws) {
    cyc_aligned_free(ws->a);
    cyc_aligned_free(ws->b);
    cyc_aligned_free(ws->tile);
    cyc_aligned_free(ws->extra);
    memset(ws, 0, sizeof *ws);
}

double cyc_now(void) {
#ifdef _OPENMP
    return omp_get_wtime();
#elif defined(_WIN32)
    return (double)GetTickCount64() * 1e-3;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

/* Below this many multiply-adds a call runs on one thread: waking the second thread
 * costs more than it saves. Measured (2 cores, float32 3x3 convs, medians of 300 calls):
 * 0.29 M FMA 13.6 us on one thread vs 17.9 us on two; 1.2 M FMA 46.7 vs 39.3 us. */
#define CYC_PARALLEL_MIN_FLOPS (1 << 19)

int cyc_threads_for(double flops, cyc_int tiles) {
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    if (flops < (double)CYC_PARALLEL_MIN_FLOPS || tiles < 2)
        return 1;
    if (tiles < nt)
        nt = (int)tiles;
    return nt < 1 ? 1 : nt;
}
