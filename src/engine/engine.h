/* cyconv's compiled convolution engine: one blocked, packed GEMM that every
 * convolution (forward, input gradient, weight gradient) is a use of.
 *
 * Design (after BLIS's five loops around a micro-kernel):
 *
 *   for jc in [0, n) step NC             B block (KC x NC) lives in the L2 cache
 *     for pc in [0, k) step KC           (KC fixed per kernel: results never depend on NC)
 *       B panels <- pack_b(jc, pc)       or a pre-packed B (e.g. weights packed once per call)
 *       for ic in [0, m) step MC         A block (MC x KC) in L2 / L3
 *         A panels <- pack_a(ic, pc)     or a pre-packed A
 *         for ir in [0, mc) step MR      A micro-panel (MR x KC) stays in L1
 *           for jr in [0, nc) step NR    B micro-panels stream from L2
 *             C[ir:ir+MR, jr:jr+NR] (+)= A_panel * B_panel      <- the micro-kernel
 *         (after the last pc) epilogue(ic, jc) on the finished MC x NC block (bias, ...)
 *
 * Packed layouts (the micro-kernel contract):
 *   A micro-panel: MR rows x kc, k-major: a[p*MR + i] = A[i, p]; rows past m are zero.
 *   B micro-panel: kc x NR, k-major:      b[p*NR + j] = B[p, j]; columns past n are zero.
 *   A block from pack_a: ceil(mc/MR) micro-panels one after another (panel r at r*kc*MR).
 *   A pre-packed "full-K" matrix: panel r covers all k (at r*k*MR; its KC slice pc at
 *   r*k*MR + pc*MR, so a micro-panel row stride stays MR); likewise B (panel j at j*k*NR).
 *   (or, op->a_rows: A as plain rows of kc, read by ukr_rows: NHWC patches pack by copies)
 *   (or, op->b_rows: B as plain rows of round_up(nc, NR): NCHW patches pack by row copies)
 *   ukr(kc, a, b, ldb, c, ldc, acc): B row p of the micro-panel at b + p*ldb (NR when
 *   packed); C tile row i, column j at c[i*ldc + j] (unit column
 *   stride); acc = 0: C = A*B, acc = 1: C += A*B. Every element is one k-ordered sum in
 *   registers, so the result of an element depends only on KC and the kernel, never on
 *   the tile it falls in, the thread, NC or the workspace limit. Partial tiles and C with
 *   a column stride != 1 go through a small per-thread tile buffer.
 *   The packing callbacks turn a convolution into a GEMM: packing the image panel IS the
 *   patch gather (implicit im2col: stride, dilation, zero padding, groups).
 *
 * Kernel sets: one per ISA (portable C, AVX2+FMA, AVX-512F), each file compiled with its
 * own flags; cyc_kernels() is the set chosen once at import (CPU features checked in C,
 * CYCONV_KERNELS=portable|avx2|avx512 forces one; see select.c).
 *
 * How a driver uses it (see conv_fwd.c):
 *   1. ks = cyc_kernels(); uk = &ks->f32 or &ks->f64.
 *   2. Pre-pack the operand shared by all tiles (weights) with cyc_pack_*_full or its own loop.
 *   3. ONE "#pragma omp parallel": each thread gets a cyc_workspace (cyc_ws_init/cyc_ws_free),
 *      then "#pragma omp for schedule(dynamic, 1)" over its tiles; each tile starts with
 *      "if (cyc_tile_skip(&intr)) continue;" and runs cyc_gemm() on a cyc_gemm_op whose
 *      callbacks know the tile (ctx).
 *   4. After the region: if intr.stop, the call was interrupted (the wrapper raises).
 */
#ifndef CYCONV_ENGINE_H
#define CYCONV_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t cyc_int;

enum { CYC_F32 = 0, CYC_F64 = 1 };

/* Largest register tile of any kernel set (sizes the per-thread tile buffer). */
#define CYC_MAX_MR 16
#define CYC_MAX_NR 64
#define CYC_ALIGN 64

/* ---- micro-kernels and kernel sets ------------------------------------------------- */

/* C[MR x NR] (+)= A_panel[MR x kc] * B_panel[kc x NR]; a, b packed as above; kc >= 0
 * (kc == 0 with acc == 0 writes zeros). a and b are float* or double* per dtype. */
typedef void (*cyc_ukr_fn)(cyc_int kc, const void *a, const void *b, cyc_int ldb, void *c,
                           cyc_int ldc, int acc);
/* The same product with A in rows (row i of the micro-panel at a + i*lda, k contiguous):
 * for operands whose k axis is contiguous in memory (NHWC patches: channels), which then
 * pack by plain copies. Same k-ordered sums as ukr: the results are identical. */
typedef void (*cyc_ukr_rows_fn)(cyc_int kc, const void *a, cyc_int lda, const void *b,
                                cyc_int ldb, void *c, cyc_int ldc, int acc);

/* One tap of a depthwise output row (dw_row): the value for output column ow is
 * row[ow*sw + off] when lo <= ow < hi, else padding (row NULL: padding for every ow). */
typedef struct {
    const void *row;
    cyc_int off, lo, hi;
} cyc_dw_tap;

typedef struct {
    int mr, nr;      /* register tile */
    int kc;          /* depth of a packed block: A micro-panel (MR x KC) fits L1 */
    int mc;          /* rows per A block (MC x KC in L2) */
    int nc;          /* columns per B block (KC x NC in L2), a multiple of nr */
    cyc_ukr_fn ukr;
    cyc_ukr_rows_fn ukr_rows;
    /* Direct depthwise kernels (one input channel per group), vectorised for the ISA:
     * dw_row: out[ow] = bias + sum_t wt[t] * tap_t(ow) over ow in [0, wo) (NCHW rows);
     * dw_pos: out[c] = bias[c] + sum_t wt[t*c_n + c] * src[t][c] (NHWC, src[t] NULL =
     * padding). bias may be NULL. Padding adds wt*0 (IEEE: inf weights give NaN). */
    void (*dw_row)(cyc_int wo, cyc_int sw, int ntaps, const cyc_dw_tap *taps, const void *wt,
                   const void *bias, void *out);
    void (*dw_pos)(cyc_int c_n, int ntaps, const void *const *src, const void *wt,
                   const void *bias, void *out);
} cyc_ukernel;

typedef struct {
    const char *name; /* "portable", "avx2", "avx512" */
    cyc_ukernel f32, f64;
} cyc_kernel_set;

/* The set in use (chosen at import by cyc_select_kernels; portable before that). */
const cyc_kernel_set *cyc_kernels(void);
/* Select a set: name NULL or "" = the best the CPU and OS support, else "portable",
 * "avx2" or "avx512". Returns 0, or -1 for an unknown name, -2 when this build or CPU
 * lacks it (the selection is then unchanged). */
int cyc_select_kernels(const char *name);
/* Whether the CPU (and OS register saving) supports a set, and whether it was compiled. */
int cyc_kernels_supported(const char *name);
/* A set by name regardless of the selection (NULL if unknown / not compiled / unsupported):
 * for tests that compare builds in one process. */
const cyc_kernel_set *cyc_kernel_set_by_name(const char *name);

extern const cyc_kernel_set cyc_kernels_portable;
#if defined(CYCONV_HAVE_X86_KERNELS)
extern const cyc_kernel_set cyc_kernels_avx2;
extern const cyc_kernel_set cyc_kernels_avx512;
#endif

static inline const cyc_ukernel *cyc_ukernel_of(const cyc_kernel_set *ks, int dtype) {
    return dtype == CYC_F64 ? &ks->f64 : &ks->f32;
}

/* ---- per-thread workspace ---------------------------------------------------------- */

typedef struct {
    void *a;          /* MC x KC packed A block (NULL if the op never packs A) */
    void *b;          /* KC x NC packed B block */
    void *tile;       /* MR x NR tile buffer for edge tiles */
    void *extra;      /* driver scratch (e.g. a depthwise row), `extra_bytes` long */
    size_t extra_bytes;
    int nc;           /* the NC this workspace was sized for (<= uk->nc, >= uk->nr) */
    int mc;
    size_t bytes;     /* allocated in all */
} cyc_workspace;

/* Size a workspace for ukernel uk: mc rows (0: uk->mc), nc columns (0: uk->nc; rounded up
 * to a multiple of nr, at least nr), with or without an A block; plus extra_bytes of
 * driver scratch. Returns 0, or -1 when out of memory (all pointers NULL then). */
int cyc_ws_init(cyc_workspace *ws, const cyc_ukernel *uk, int dtype, int mc, int nc,
                int with_a, size_t extra_bytes);
void cyc_ws_free(cyc_workspace *ws);
size_t cyc_ws_bytes(const cyc_workspace *ws);  /* what cyc_ws_init allocated */
/* The NC honouring a byte budget per thread for packed B (never below one micro-panel). */
int cyc_nc_for_budget(const cyc_ukernel *uk, int dtype, size_t budget_bytes);
void *cyc_aligned_alloc(size_t bytes);   /* CYC_ALIGN-aligned; NULL when out of memory */
void cyc_aligned_free(void *p);

/* ---- the macro-kernel: one single-threaded GEMM ------------------------------------ */

typedef struct cyc_interrupt cyc_interrupt;

typedef struct cyc_gemm_op {
    cyc_int m, n, k;
    /* a_rows = 0: A micro-panels MR-interleaved (the layout above). a_rows = 1: pack_a
     * writes round_up(mc, MR) rows of kc elements, row i at dst + i*kc (rows past m zero),
     * and the ukr_rows kernel reads them (a_full is not used then). */
    int a_rows;
    /* a_rows with A already in memory as rows (row i at a_direct + i*lda, i < m, k
     * contiguous): full MR panels are read in place, no packing at all (a 1x1 stride-1
     * NHWC conv, a Linear layer); only a last partial panel is copied (pack_a unused). */
    const void *a_direct;
    cyc_int lda;
    /* A: either pack_a (fills dst with ceil(mc/MR) micro-panels of kc, rows past m
     * zero) or a_full (pre-packed full-K panels, panel r at a_full + r*k*MR). */
    void (*pack_a)(void *ctx, cyc_int i0, cyc_int mc, cyc_int p0, cyc_int kc, void *dst);
    const void *a_full;
    /* b_rows = 0: B micro-panels NR-interleaved. b_rows = 1: pack_b writes kc rows of
     * ldb = round_up(nc, NR) elements (row p at dst + p*ldb, columns past nc zero): for
     * operands whose n axis is contiguous (NCHW patches: positions), packed by row copies. */
    int b_rows;
    /* B: either pack_b (ceil(nc/NR) micro-panels of kc, columns past n zero) or b_full
     * (panel j at b_full + j*k*NR). */
    void (*pack_b)(void *ctx, cyc_int j0, cyc_int nc, cyc_int p0, cyc_int kc, void *dst);
    const void *b_full;
    /* C(i, j) at c + i*rs_c + j*cs_c (elements). */
    void *c;
    cyc_int rs_c, cs_c;
    int accumulate;   /* 0: C = A*B; 1: C += A*B */
    /* Optional: called once per finished block C[i0:i0+mc, j0:j0+nc] (e.g. bias). */
    void (*epilogue)(void *ctx, cyc_int i0, cyc_int mc, cyc_int j0, cyc_int nc);
    void *ctx;
    /* Optional: polled (cyc_tile_skip) before every KC block, so that a tile with a long
     * k does not hold up Ctrl-C; on a stop the GEMM returns with C unfinished. */
    cyc_interrupt *intr;
} cyc_gemm_op;

/* Run op on this thread with workspace ws (sized for uk). dtype CYC_F32 / CYC_F64. */
void cyc_gemm(const cyc_ukernel *uk, int dtype, const cyc_gemm_op *op, cyc_workspace *ws);

/* Pack a strided matrix into full-K panels (the a_full / b_full layouts):
 * A[i, p] at src + i*rs + p*cs, m x k, into dst of cyc_full_a_elems() elements. */
size_t cyc_full_a_elems(const cyc_ukernel *uk, cyc_int m, cyc_int k);
size_t cyc_full_b_elems(const cyc_ukernel *uk, cyc_int k, cyc_int n);
void cyc_pack_a_full(const cyc_ukernel *uk, int dtype, const void *src, cyc_int rs, cyc_int cs,
                     cyc_int m, cyc_int k, void *dst);
/* B[p, j] at src + p*rs + j*cs, k x n. */
void cyc_pack_b_full(const cyc_ukernel *uk, int dtype, const void *src, cyc_int rs, cyc_int cs,
                     cyc_int k, cyc_int n, void *dst);

/* ---- interruption (Ctrl-C) --------------------------------------------------------- */

/* poll(arg) returns nonzero when the call must stop (the Cython wrapper's poll takes the
 * GIL and runs PyErr_CheckSignals, leaving the exception set on the calling thread).
 * Only the thread that entered the parallel region (omp thread 0) polls, at most every
 * CYC_POLL_SECONDS; every thread stops taking tiles once stop is set. */
#define CYC_POLL_SECONDS 0.025
struct cyc_interrupt {
    int (*poll)(void *arg);
    void *arg;
    volatile int stop;
    double next;
};

double cyc_now(void);   /* seconds, monotonic */

static inline void cyc_interrupt_init(cyc_interrupt *it, int (*poll)(void *), void *arg) {
    it->poll = poll;
    it->arg = arg;
    it->stop = 0;
    it->next = 0.0;  /* the first tile on thread 0 polls, then every CYC_POLL_SECONDS */
}

/* At the start of every tile: 1 when the tile must be skipped (the call is stopping). */
static inline int cyc_tile_skip(cyc_interrupt *it) {
    if (it->stop)
        return 1;
    if (it->poll) {
#ifdef _OPENMP
        if (omp_get_thread_num() != 0)
            return 0;
#endif
        double t = cyc_now();
        if (t >= it->next) {
            it->next = t + CYC_POLL_SECONDS;
            if (it->poll(it->arg)) {
                it->stop = 1;
                return 1;
            }
        }
    }
    return 0;
}

/* Calls below this many multiply-adds (well under a millisecond) do not poll at all:
 * a poll (clock read, GIL, PyErr_CheckSignals) would cost more than the call. */
#define CYC_POLL_MIN_FLOPS (1 << 22)
static inline cyc_interrupt *cyc_interrupt_for(cyc_interrupt *it, double flops) {
    return flops < (double)CYC_POLL_MIN_FLOPS ? NULL : it;
}

/* Threads for a problem of `flops` multiply-adds split into `tiles` independent tiles:
 * 1 below the measured threshold (a tiny call must not pay thread wake-ups). */
int cyc_threads_for(double flops, cyc_int tiles);

/* OpenMP 3.1's atomic read and write (the tiles' "a thread failed / was interrupted" flags).
 * MSVC's OpenMP 2.0 has neither: there they are plain accesses of an aligned int, which
 * x86-64 (the Windows wheels' target) reads and writes whole. */
#if defined(_OPENMP) && _OPENMP >= 201107
#define CYC_ATOMIC_READ _Pragma("omp atomic read")
#define CYC_ATOMIC_WRITE _Pragma("omp atomic write")
#else
#define CYC_ATOMIC_READ
#define CYC_ATOMIC_WRITE
#endif

/* Team lateness (gemm.c): every thread of a parallel region calls cyc_team_arrived(t0,
 * its thread number) first, t0 = cyc_now() read before the region; workers late twice in
 * a row mark the machine busy for a while, and cyc_threads_for then uses a coarser grain.
 * cyc_set_busy(s) marks it busy for s seconds (0: idle), for the tests. */
void cyc_team_arrived(double t0, int tid);
void cyc_set_busy(double seconds);
int cyc_machine_busy(void);
#ifdef _OPENMP
#define CYC_TEAM_ARRIVE(t0) cyc_team_arrived((t0), omp_get_thread_num())
#else
#define CYC_TEAM_ARRIVE(t0) ((void)(t0))
#endif

/* The grain is in the GEMM's multiply-adds. The direct loops (depthwise, bias, the
 * direct gradients) do a multiply-add in about 8 times the GEMM's time (AVX-512 host, one
 * thread: the depthwise 3x3 at 14 GFLOP/s against the engine's GEMM at ~100), so their
 * multiply-adds count 8 times: each thread still gets the grain's time of work. */
#define CYC_DIRECT_COST 8.0

/* A GEMM driver's time grows with its packing too: a convolution gathers (forward, weight
 * gradient) or scatters (input gradient) about flops / (output channels per group) panel
 * elements, and one costs about 16 multiply-adds' time (LeNet conv2 on one thread: 0.37 ns
 * per packed element against 0.027 ns per multiply-add). Thin products (LeNet's 6 or 16
 * output channels) are mostly packing: their work is counted with it. */
#define CYC_PACK_COST 16.0
static inline double cyc_gemm_work(double flops, cyc_int cog) {
    return flops * (1.0 + CYC_PACK_COST / (double)(cog > 0 ? cog : 1));
}

/* ---- convolution geometry and the forward driver ----------------------------------- */

typedef struct {
    cyc_int n, c_in, h, w;      /* input: (N, C_in, H, W) or, nhwc, (N, H, W, C_in) */
    cyc_int c_out, kh, kw;      /* weight (C_out, C_in/groups, kh, kw) in both layouts */
    cyc_int groups;
    cyc_int sh, sw, dh, dw;
    cyc_int pt, pl;             /* top/left zero padding; bottom/right follow from ho, wo */
    cyc_int ho, wo;             /* output: (N, C_out, Ho, Wo) or, nhwc, (N, Ho, Wo, C_out) */
    int nhwc;
} cyc_conv_geom;

enum { CYC_OK = 0, CYC_INTERRUPTED = 1, CYC_NOMEM = -1 };

/* y = conv2d(x, w) + bias (bias may be NULL). ws_limit: bytes of per-thread panels for all
 * threads together (shrinks NC, never below one micro-panel; never changes results).
 * nthreads: 0 = the OpenMP default (omp_get_max_threads()). intr may be NULL.
 * *ws_bytes (if not NULL) receives the bytes the call allocated (packed weights + panels). */
/* The same with the path forced (tests, measurements): CYC_PATH_GEMM always works;
 * CYC_PATH_DIRECT where the direct path applies (else the GEMM). */
enum { CYC_PATH_AUTO = 0, CYC_PATH_GEMM = 1, CYC_PATH_DIRECT = 2 };
int cyc_conv2d_forward_path(int dtype, const cyc_conv_geom *g, const void *x, const void *w,
                            const void *bias, void *y, size_t ws_limit, int nthreads,
                            cyc_interrupt *intr, size_t *ws_bytes, int path);
/* Whether the forward runs the direct depthwise path (else the GEMM). */
int cyc_conv_is_direct(const cyc_conv_geom *g);
int cyc_conv2d_forward(int dtype, const cyc_conv_geom *g, const void *x, const void *w,
                       const void *bias, void *y, size_t ws_limit, int nthreads,
                       cyc_interrupt *intr, size_t *ws_bytes);

#ifdef __cplusplus
}
#endif
#endif
