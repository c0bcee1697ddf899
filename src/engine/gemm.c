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

/* Each thread of a call gets at least this much work (the grain, in the GEMM's
 * multiply-adds; see cyc_gemm_work and CYC_DIRECT_COST for the other loops); smaller calls
 * run on fewer threads, below twice the grain on one. On an idle 2-core machine a second
 * thread pays for itself from about 1 M multiply-adds (0.29 M: 13.6 us on one thread vs
 * 17.9 us on two; 1.2 M: 46.7 vs 39.3 us); 8 M (about 0.1 ms) leaves a margin.
 *
 * A busy machine is different: a team of two has to wait for the OS to run its second
 * thread, and with other processes on the cores that wait was 27-90 ms per call, so small
 * calls ran 5-14x slower on two threads than on one (LeNet conv2, batch 64: 2.5-3.3 ms per
 * call on two threads beside two busy processes, 1.2 ms on one). So the engine watches its
 * teams: when threads join their parallel regions more than CYC_LATE_SECONDS after the
 * call opened them CYC_LATE_CALLS times in a row, the machine is marked busy for a hold of
 * CYC_HOLD_MIN seconds, doubled at each renewal (up to CYC_HOLD_MAX) until an on-time join
 * resets it. One late join is no sign: a worker asleep after
 * a pause takes up to a few ms to wake (3.3 ms measured in this VM, idle). While it is
 * busy the grain is CYC_GRAIN_BUSY (about 1.3 ms): only calls long enough to absorb a late
 * thread take a team (a ResNet block still does, and its teams keep the mark fresh). When
 * the hold runs out the next calls take teams again and so probe the machine: a loop of
 * back-to-back calls on an idle machine finds its workers awake and on time, and keeps
 * them. The thread count never changes a result (see the drivers), only the time. */
#define CYC_GRAIN_FLOPS (1 << 23)
#define CYC_GRAIN_BUSY (1 << 26)
#define CYC_LATE_SECONDS 2e-3
#define CYC_LATE_CALLS 2
#define CYC_HOLD_MIN 0.1
#define CYC_HOLD_MAX 5.0

static double cyc_busy_until = 0.0;
static int cyc_late_calls = 0;  /* late arrivals in a row (an on-time one resets it) */
static double cyc_hold = CYC_HOLD_MIN;

/* A thread's first region is excused: creating the pool's threads (at the first parallel
 * call, after a fork, when the thread count grows) takes time that says nothing of the
 * machine's load. */
#if defined(_MSC_VER)
#define CYC_TLS __declspec(thread)
#else
#define CYC_TLS __thread
#endif
static CYC_TLS int cyc_joined_before = 0;

/* The state is shared by all threads and changes only on late or on-time joins: one
 * critical section (OpenMP 2.0, so MSVC too) guards it. */
void cyc_team_arrived(double t0, int tid) {
    if (tid == 0)
        return;
    if (!cyc_joined_before) {
        cyc_joined_before = 1;
        return;
    }
    const double now = cyc_now();
    const int late = now - t0 > CYC_LATE_SECONDS;
#ifdef _OPENMP
#pragma omp critical(cyc_team_state)
#endif
    {
        if (!late) {  /* on time: forget the late ones, shortest hold */
            cyc_late_calls = 0;
            cyc_hold = CYC_HOLD_MIN;
        } else if (++cyc_late_calls >= CYC_LATE_CALLS) {
            cyc_busy_until = now + cyc_hold;
            cyc_hold = 2 * cyc_hold < CYC_HOLD_MAX ? 2 * cyc_hold : CYC_HOLD_MAX;
            cyc_late_calls = 0;
        }
    }
}

void cyc_set_busy(double seconds) {
    const double until = seconds > 0 ? cyc_now() + seconds : 0.0;
#ifdef _OPENMP
#pragma omp critical(cyc_team_state)
#endif
    {
        cyc_busy_until = until;
        cyc_late_calls = 0;
        cyc_hold = CYC_HOLD_MIN;
    }
}

int cyc_machine_busy(void) {
    double until;
#ifdef _OPENMP
#pragma omp critical(cyc_team_state)
#endif
    until = cyc_busy_until;
    return until > 0 && cyc_now() < until;
}

int cyc_threads_for(double flops, cyc_int tiles) {
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    if (tiles < nt)
        nt = (int)tiles;
    if (nt > 1) {
        const double grain = cyc_machine_busy() ? CYC_GRAIN_BUSY : CYC_GRAIN_FLOPS;
        if ((double)nt * grain > flops)
            nt = (int)(flops / grain);
    }
    return nt < 1 ? 1 : nt;
}
