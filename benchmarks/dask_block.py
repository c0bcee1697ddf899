"""cyconv.dask against one in-memory call: a ResNet-block batch on the threaded scheduler.

    python benchmarks/dask_block.py [--repeat 9] [--json PATH]

The batch (8, 64, 56, 56) x (64, 64, 3, 3), padding 1, float32, as one cyconv.conv2d
call on the whole array (all cores) and as cyconv.dask.conv2d on the same data chunked
along the batch (1, 2 and 4 images per chunk) and spatially (2 x 2 chunks of 28 x 28),
computed with Dask's threaded scheduler (one worker per core, each task's kernels on
cores // workers threads). Rounds are interleaved: each round times every variant once,
starting with a different one. Reported: the median, +- half the inter-quartile range,
and the ratio of medians to the in-memory call; the goal is <= 1.3x. The load average
at start and end is printed with the figures: quote it with them.
"""

import argparse
import json
import os
import statistics
import time

import numpy as np

import cyconv

GOAL = 1.3


def _spread(samples):
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return (q3 - q1) / 2 / statistics.median(samples)


def main():
    import dask.array as da

    import cyconv.dask as cd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32)
    ref = cyconv.conv2d(x, w, padding=1)
    variants = {"in-memory conv2d": lambda: cyconv.conv2d(x, w, padding=1)}
    for chunks in [(1, 64, 56, 56), (2, 64, 56, 56), (4, 64, 56, 56), (8, 64, 28, 28)]:
        y = cd.conv2d(da.from_array(x, chunks=chunks), w, padding=1)
        got = y.compute(scheduler="threads")
        assert np.allclose(got, ref, rtol=1e-4, atol=1e-4), chunks
        variants[f"dask chunks {chunks}"] = (lambda y=y: y.compute(scheduler="threads"))
    load0 = os.getloadavg()
    samples = {k: [] for k in variants}
    names = list(variants)
    for r in range(args.repeat):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t0 = time.perf_counter()
            variants[k]()
            samples[k].append(time.perf_counter() - t0)
    load1 = os.getloadavg()
    base = statistics.median(samples[names[0]])
    print(f"cores {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}, "
          f"cyconv threads {cyconv.get_num_threads()}, tasks' kernel threads {cd.task_threads()} (main thread: "
          f"sync), load average at start {load0[0]:.1f}, at end {load1[0]:.1f}")
    rows = {}
    for k in names:
        m = statistics.median(samples[k])
        ok = "" if k == names[0] else ("  ok" if m / base <= GOAL else f"  > {GOAL}x")
        print(f"{k:34s} {m * 1e3:8.1f} ms +-{_spread(samples[k]) * 100:4.0f}%   {m / base:5.2f}x{ok}")
        rows[k] = {"median_s": m, "spread": _spread(samples[k]), "ratio": m / base, "samples_s": samples[k]}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_start": load0, "load_end": load1, "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()
