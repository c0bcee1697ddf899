"""Thread wake-ups in the pooling kernels (issue 11): ``a @ b`` then a pool, per iteration.

NumPy's BLAS threads keep spinning after a matmul; an OpenMP team woken right after it
fights them for the cores. The pooling kernels therefore run on the calling thread below
``POOL_PARALLEL_MIN`` elements touched (src/_pool_team.pxd). This script prints, for
(N, C, H, W) batches of growing size, the time per iteration of ``a @ b`` + the pool with
cyconv's default threads and with ``set_num_threads(1)``: the threshold is where the
default starts to win. Run: ``python benchmarks/pool_threads.py`` (medians of 5 runs).
"""

import time

import numpy as np

import cyconv


def per_iteration(op, mm, iters):
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(iters):
            mm()
            op()
        runs.append((time.perf_counter() - t) / iters)
    runs.sort()
    return runs[2], runs[0], runs[-1]


def main():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256), dtype=np.float32)
    b = rng.standard_normal((256, 256), dtype=np.float32)
    default = cyconv.get_num_threads()
    print(f"threads: {default}")
    for n in (32, 128, 512):
        x = rng.standard_normal((n, 32, 8, 8), dtype=np.float32)
        y, idx = cyconv.max_pool2d(x, 2, return_indices=True)
        g = np.ones_like(y)
        ops = {
            "max_pool2d": lambda: cyconv.max_pool2d(x, 2),
            "avg_pool2d": lambda: cyconv.avg_pool2d(x, 2),
            "max_pool2d_backward": lambda: cyconv.max_pool2d_backward(g, idx, x.shape),
            "avg_pool2d_backward": lambda: cyconv.avg_pool2d_backward(g, x.shape, 2),
        }
        for name, op in ops.items():
            iters = max(5, 1600 // n)
            cyconv.set_num_threads(default)
            d = per_iteration(op, lambda: a @ b, iters)
            cyconv.set_num_threads(1)
            one = per_iteration(op, lambda: a @ b, iters)
            cyconv.set_num_threads(default)
            print(f"{str(x.shape):18s} {x.size:>9d} el  {name:20s} default {d[0] * 1e3:7.3f} ms "
                  f"[{d[1] * 1e3:.3f}-{d[2] * 1e3:.3f}]  one thread {one[0] * 1e3:7.3f} ms "
                  f"[{one[1] * 1e3:.3f}-{one[2] * 1e3:.3f}]", flush=True)


if __name__ == "__main__":
    main()
