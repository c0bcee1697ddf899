"""Extra memory of one conv2d call: bytes it needs beyond its inputs and its output.

Measured in a fresh process per (library, case): the kernel's resident high-water mark
(``VmHWM``, reset through ``/proc/self/clear_refs`` just before the call) minus the resident
size just before it, minus the output's bytes. That sees everything (C workspaces, PyTorch's
allocator, NumPy arrays) at page granularity. For cyconv, ``tracemalloc`` (NumPy allocations
only) is reported too. Each library first runs once on a small slice of the input, so one-time
set-up (thread pools, code paths) is not counted, without leaving big freed blocks to reuse.

Both are set against the whole-batch im2col buffer (N * C_in*kh*kw * H_out*W_out items); the
ResNet block at batch 8 and 16 shows whether the extra memory grows with the batch.
"""

import json
import os
import subprocess
import sys

import cases

MEMORY_CASES = ("resnet", "resnet-b16", "large")

_CHILD = r"""
import json, sys, tracemalloc
sys.path.insert(0, {here!r})
import numpy as np
import cases, worker
from cases import Conv
info = worker._setup({lib!r}, {threads})
spec = {spec!r}
case = cases.Case("conv2d", {dtype!r}, spec, ())
a = cases.arrays(case)
opts = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups)
if {lib!r} == "cyconv":
    import cyconv
    f = lambda x: cyconv.conv2d(x, a.w, a.b, **opts)
else:
    import torch, torch.nn.functional as F
    tw, tb = torch.from_numpy(a.w), None if a.b is None else torch.from_numpy(a.b)
    f = lambda x: F.conv2d(torch.from_numpy(x), tw, tb, **opts).numpy()
f(np.ascontiguousarray(a.x[:1, :, :8, :8]))  # one-time set-up on a tiny input

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status("VmRSS")
y = f(a.x)
peak = status("VmHWM")
res = {{"rss_extra": peak - before - y.nbytes, "out": y.nbytes}}
del y
if {lib!r} == "cyconv":
    tracemalloc.start()
    y = f(a.x)
    res["trace_extra"] = tracemalloc.get_traced_memory()[1] - y.nbytes
print(json.dumps(res))
"""


def _child(lib, spec, dtype, threads):
    code = _CHILD.format(here=os.path.dirname(os.path.abspath(__file__)), lib=lib, spec=spec, dtype=dtype,
                         threads=threads)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
        return None, "not implemented" if "NotImplementedError" in last else last[:120]
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def spec_of(name):
    return cases.DASK_CONV if name == cases.DASK_CONV.name else cases.CONV[name]


def measure(threads, *, dtypes=cases.DTYPES, names=MEMORY_CASES, libs=("cyconv", "torch")):
    rows = []
    for name in names:
        spec = spec_of(name)
        for dtype in dtypes:
            isz = 4 if dtype == "float32" else 8
            n_in = spec.x[0] * spec.x[1] * spec.x[2] * spec.x[3] + spec.w[0] * spec.w[1] * spec.w[2] * spec.w[3]
            n_out = spec.out_shape[0] * spec.out_shape[1] * spec.out_shape[2] * spec.out_shape[3]
            row = {"case": name, "dtype": dtype, "shape": spec.text, "input_bytes": n_in * isz,
                   "output_bytes": n_out * isz, "im2col_bytes": spec.im2col_bytes(isz),
                   "rss_extra": {}, "tracemalloc_extra": {}, "errors": {}}
            for lib in libs:
                res, err = _child(lib, spec, dtype, threads)
                if err:
                    row["errors"][lib] = err
                    continue
                row["rss_extra"][lib] = res["rss_extra"]
                if "trace_extra" in res:
                    row["tracemalloc_extra"][lib] = res["trace_extra"]
            rows.append(row)
    return rows
