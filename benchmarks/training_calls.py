"""Each kernel call of the README loop / demo ResNet at 1 and at the default cyconv threads.

    REPS=21 python benchmarks/training_calls.py [readme|resnet|all]

Every call (the loops' shapes, batch 32 of 8x8 images) is timed 5 times per sample, at one
thread and then at the default count, cycling through all calls per repetition so that load
bursts hit every call alike. Prints the multiply-adds (MACs) of one pass, median and minimum
ms per call, and the ratio of the medians. dev-notes/nn.md has a run with its load.
"""
import os, sys, time, statistics
import numpy as np
import cyconv
from cyconv import nn

rng = np.random.default_rng(0)
f32 = np.float32
def R(*s): return rng.standard_normal(s).astype(f32)

def conv_case(n, ci, h, co, k, stride=1, pad=1, bias=True, want=("input", "weight", "bias")):
    x = R(n, ci, h, h); w = R(co, ci, k, k); b = R(co) if bias else None
    y = cyconv.conv2d(x, w, b, stride=stride, padding=pad)
    g = R(*y.shape)
    macs = n * co * y.shape[2] * y.shape[3] * ci * k * k
    comp = tuple(c for c in want if c != "bias" or bias)
    return [(f"conv2d fwd {x.shape}->{co} k{k} s{stride}", macs, lambda: cyconv.conv2d(x, w, b, stride=stride, padding=pad)),
            (f"conv2d bwd {x.shape}->{co} k{k} s{stride} {'+'.join(c[0] for c in comp)}", macs * (len([c for c in comp if c != 'bias'])),
             lambda: cyconv.conv2d_backward(g, x, w, stride=stride, padding=pad, compute=comp))]

def pool_case(n, c, h):
    x = R(n, c, h, h)
    y, idx = cyconv.max_pool2d(x, 2, return_indices=True)
    g = R(*y.shape)
    return [(f"max_pool2d fwd+idx {x.shape}", x.size, lambda: cyconv.max_pool2d(x, 2, return_indices=True)),
            (f"max_pool2d bwd {x.shape}", x.size, lambda: cyconv.max_pool2d_backward(g, idx, x.shape))]

def adapt_case(n, c, h):
    x = R(n, c, h, h); g = R(n, c, 1, 1)
    return [(f"adaptive_avg fwd {x.shape}", x.size, lambda: cyconv.adaptive_avg_pool2d(x, 1)),
            (f"adaptive_avg bwd {x.shape}", x.size, lambda: cyconv.adaptive_avg_pool2d_backward(g, x.shape))]

def mm_case(m, k, n):
    a = R(m, k); b = R(k, n)
    return [(f"nn._matmul ({m}x{k})@({k}x{n})", m * k * n, lambda: nn._matmul(a, b)),
            (f"_matmul_cyconv ({m}x{k})@({k}x{n})", m * k * n, lambda: nn._matmul_cyconv(a, b))]

cases = []
which = sys.argv[1] if len(sys.argv) > 1 else "all"
if which in ("all", "readme"):
    cases += conv_case(32, 1, 8, 32, 3, want=("weight", "bias")) + pool_case(32, 32, 8)
    cases += conv_case(32, 32, 4, 64, 3) + pool_case(32, 64, 4) + mm_case(32, 256, 128) + mm_case(32, 128, 10)
if which in ("all", "resnet"):
    cases += conv_case(32, 1, 8, 16, 3, bias=False, want=("weight",))
    cases += conv_case(32, 16, 8, 16, 3, bias=False)
    cases += conv_case(32, 16, 8, 32, 3, stride=2, bias=False)
    cases += conv_case(32, 32, 4, 32, 3, bias=False)
    cases += conv_case(32, 16, 8, 32, 1, stride=2, pad=0, bias=False)
    cases += adapt_case(32, 32, 4)
reps = int(os.environ.get("REPS", 15)); inner = 5
nt = cyconv.get_num_threads()
print("load", os.getloadavg(), "default threads", nt)
print(f"{'call':55s} {'MACs':>9s} {'1 thread ms':>18s} {'2 threads ms':>18s}  ratio(med)")
T1 = {n: [] for n, _, _ in cases}; T2 = {n: [] for n, _, _ in cases}
for name, macs, fn in cases: fn()
for _ in range(reps):
    for name, macs, fn in cases:
        cyconv.set_num_threads(1)
        t = time.perf_counter()
        for _ in range(inner): fn()
        T1[name].append((time.perf_counter() - t) / inner * 1e3)
        cyconv.set_num_threads(nt)
        t = time.perf_counter()
        for _ in range(inner): fn()
        T2[name].append((time.perf_counter() - t) / inner * 1e3)
for name, macs, fn in cases:
    t1, t2 = T1[name], T2[name]
    m1, m2 = statistics.median(t1), statistics.median(t2)
    print(f"{name:55s} {macs:9d} {m1:8.3f} (min {min(t1):6.3f}) {m2:8.3f} (min {min(t2):6.3f})  {m2/m1:6.2f}")
print("load", os.getloadavg())
