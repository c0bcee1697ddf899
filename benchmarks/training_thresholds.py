"""Which thread thresholds would make the training loops meet issue 11's targets?

    [BUSY=1] [REPS=3] python benchmarks/training_thresholds.py ["as built"] ["pools 1"] ["pools 1, T=16777216"]

Runs the workloads of training_threads.py with the default threads, emulating, by wrapping
the functions cyconv.nn calls (nothing in the package is changed): "pools 1" = the pools on
one thread; "T=<n>" = conv2d / conv2d_backward calls with fewer than n multiply-adds per pass
(the engine's own measure: output elements * C_in/groups * kh * kw) on one thread. Prints
medians [min-max] and the ratio to everything on one thread. BUSY=1 adds a CPU burner.
"""
import os, sys, time, statistics, functools
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import cyconv
from cyconv import nn
import training_threads as tt

orig = {k: getattr(nn, k) for k in ("conv2d", "conv2d_backward", "conv_transpose2d", "max_pool2d",
                                    "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward")}
NT = cyconv.get_num_threads()
def one(fn):
    @functools.wraps(fn)
    def w(*a, **k):
        cyconv.set_num_threads(1)
        try: return fn(*a, **k)
        finally: cyconv.set_num_threads(NT)
    return w
def by_macs(fn, T, backward=False):
    @functools.wraps(fn)
    def w(*a, **k):
        if backward:
            g, wt = a[0], a[2]
            out_size = g.size
        else:
            x, wt = a[0], a[1]
            o = {kk: k[kk] for kk in ("stride", "padding", "dilation", "groups") if kk in k}
            out_size = int(np.prod(nn.conv2d_output_shape(x.shape, wt.shape, **o)))
        macs = out_size * wt.shape[1] * wt.shape[2] * wt.shape[3]  # the engine's flops of one pass
        if macs < T:
            cyconv.set_num_threads(1)
            try: return fn(*a, **k)
            finally: cyconv.set_num_threads(NT)
        return fn(*a, **k)
    return w
def setup(mode):
    for k, v in orig.items(): setattr(nn, k, v)
    if mode == "as built": return
    T = float(mode.split("T=")[1]) if "T=" in mode else None
    if "pools 1" in mode:
        for k in ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"):
            setattr(nn, k, one(orig[k]))
    if T is not None:
        nn.conv2d = by_macs(orig["conv2d"], T); nn.conv2d_backward = by_macs(orig["conv2d_backward"], T, True)

modes = sys.argv[1:] or ["as built", "pools 1", "pools 1, T=4194304", "pools 1, T=16777216", "pools 1, T=1e18"]
works = [("README loop", tt.readme_loop), ("LeNet epoch", tt.lenet_epoch), ("ResNet epoch", tt.resnet_epoch)]
reps = int(os.environ.get("REPS", 3))
res = {(m, n): [] for m in modes for n, _ in works}
single = {n: [] for n, _ in works}
burner = None
if os.environ.get("BUSY"):
    import subprocess
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
print("load", os.getloadavg(), "busy", bool(burner))
for n, w in works: w()
for r in range(reps):
    for n, w in works:
        for m in modes:
            setup(m); t = time.perf_counter(); w(); res[(m, n)].append(time.perf_counter() - t)
        setup("as built")
        with tt.one_thread():
            t = time.perf_counter(); w(); single[n].append(time.perf_counter() - t)
for n, _ in works:
    s = statistics.median(single[n])
    print(f"{n:13s} one thread {s*1e3:8.1f} ms [{min(single[n])*1e3:.1f}-{max(single[n])*1e3:.1f}]")
    for m in modes:
        v = res[(m, n)]
        print(f"   {m:22s} {statistics.median(v)*1e3:8.1f} ms [{min(v)*1e3:.1f}-{max(v)*1e3:.1f}]  ratio {statistics.median(v)/s:5.2f}")
print("load", os.getloadavg())
if burner: burner.kill(); burner.wait()
