"""Pool throughput against the plane's aspect ratio (issue 10): the same 2**24 float32
elements as one column, one row, a square, narrow planes and batches of small planes.

Prints the median (and range) of 7 runs per call. ``python benchmarks/pool_aspect.py 1`` uses
one thread and the calling thread's CPU time (robust on a shared machine); with a larger
thread count it reports wall time. Run it under two builds (e.g. main and a branch) side by
side to compare them.
"""
import sys
import time

import numpy as np

import cyconv

nt = int(sys.argv[1]) if len(sys.argv) > 1 else 1
cyconv.set_num_threads(nt)
clock = time.thread_time if nt == 1 else time.perf_counter
def med(f, n=7):
    ts=[]
    for _ in range(n):
        t=clock(); f(); ts.append(clock()-t)
    ts.sort(); return ts[len(ts)//2]*1e3, ts[0]*1e3, ts[-1]*1e3
E = 1 << 24
rng = np.random.default_rng(0)
cases = [((E + 1, 1), (2, 1)), ((4096, 4096), (2, 1)), ((1, E + 1), (1, 2)), ((4096, 4096), (1, 2)), ((4096, 4096), 2),
         ((E // 2, 2), 2), ((E // 4, 4), 2), ((E // 16, 16), 2), ((2, E // 2), 2), ((E // 64, 8, 8), 2), ((E // 256, 16, 16), 2)]
for shape, k in cases:
    x = rng.standard_normal(shape).astype(np.float32)
    y, i = cyconv.max_pool2d(x, k, return_indices=True)
    g = np.ones_like(y)
    fs = [lambda: cyconv.avg_pool2d(x, k), lambda: cyconv.max_pool2d(x, k),
          lambda: cyconv.max_pool2d(x, k, return_indices=True),
          lambda: cyconv.avg_pool2d_backward(g, x.shape, k), lambda: cyconv.max_pool2d_backward(g, i, x.shape)]
    r = [med(f) for f in fs]
    print(f"{str(shape):22s} k={str(k):7s} " + "  ".join(f"{n} {m[0]:6.1f} [{m[1]:.1f}-{m[2]:.1f}]" for n, m in zip(("avg", "max", "max+idx", "avg_bwd", "max_bwd"), r)), flush=True)
