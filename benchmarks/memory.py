"""Peak extra memory of one convolution call: bytes above its input and output.

Two views, both reported:

* ``tracemalloc`` in this process: sees every NumPy array allocation (NumPy reports its data
  buffers to tracemalloc), not C ``malloc`` inside compiled code and not PyTorch's allocator.
  Extra = traced peak during the call - output bytes (inputs exist before tracing starts).
* peak RSS in a fresh process per library: the kernel's high-water mark (``VmHWM``, reset
  through ``/proc/self/clear_refs`` just before the call) minus the resident size just
  before the call, minus the output bytes. Sees everything, including C workspaces and
  PyTorch, at page granularity. Libraries are first run on a tiny input so one-time set-up
  (thread pools, code paths) is not counted, without leaving freed big blocks to reuse.

Both are compared with the whole-batch im2col buffer (N * C_in*kh*kw * H_out*W_out items).
"""

import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np

import baselines
import cases

MEMORY_CASES = ("resnet", "large")

_CHILD = r"""
import json, sys
sys.path.insert(0, {here!r})
if {lib!r} != "torch":
    sys.modules["torch"] = None  # keep PyTorch out of the cyconv/numpy processes
import numpy as np
import cases, baselines
from threadpoolctl import threadpool_limits
threadpool_limits({threads})
x, w, b, pad, groups = cases.conv_arrays({name!r}, {dtype!r})
if {lib!r} == "cyconv":
    import cyconv
    cyconv.set_num_threads({threads})
    f = lambda x, w, b: cyconv.conv2d(x, w, b, padding=pad, groups=groups)
elif {lib!r} == "torch":
    import torch, torch.nn.functional as F
    torch.set_num_threads({threads})
    f = lambda x, w, b: F.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                 None if b is None else torch.from_numpy(b), padding=pad, groups=groups)
else:
    f = lambda x, w, b: baselines.numpy_conv2d(x, w, b, pad, groups)
f(np.ascontiguousarray(x[:1, :, :8, :8]), w, b)  # one-time set-up on a tiny input

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status("VmRSS")
y = f(x, w, b)
peak = status("VmHWM")
y = np.asarray(y)
print(json.dumps({{"extra": peak - before - y.nbytes, "out": y.nbytes}}))
"""


def _rss_extra(lib, name, dtype, threads):
    here = os.path.dirname(os.path.abspath(__file__))
    code = _CHILD.format(here=here, lib=lib, name=name, dtype=dtype, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
        return None, "not implemented" if "NotImplementedError" in last else last[:120]
    return json.loads(out.stdout.strip().splitlines()[-1])["extra"], None


def _traced_extra(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        y = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - np.asarray(y).nbytes


def measure(cyconv, threads, *, use_rss=True, dtypes=cases.DTYPES, names=MEMORY_CASES):
    rows = []
    for name in names:
        for dtype in dtypes:
            x, w, b, pad, groups = cases.conv_arrays(name, dtype)
            ho, wo = cases.conv_output_hw(x.shape, w.shape, pad)
            row = {
                "case": name,
                "dtype": dtype,
                "input_bytes": x.nbytes + w.nbytes + (b.nbytes if b is not None else 0),
                "output_bytes": x.shape[0] * w.shape[0] * ho * wo * x.itemsize,
                "im2col_bytes": cases.im2col_bytes(x.shape, w.shape, pad, x.itemsize),
                "tracemalloc_extra": {},
                "rss_extra": {},
                "errors": {},
            }
            fns = {
                "cyconv": lambda: cyconv.conv2d(x, w, b, padding=pad, groups=groups),
                "numpy": lambda: baselines.numpy_conv2d(x, w, b, pad, groups),
            }
            for lib, fn in fns.items():
                try:
                    row["tracemalloc_extra"][lib] = _traced_extra(fn)
                except Exception as exc:  # placeholder kernels: report, don't crash
                    row["errors"][lib] = "not implemented" if isinstance(exc, NotImplementedError) else repr(exc)[:120]
            if use_rss:
                for lib in ("cyconv", "torch", "numpy"):
                    extra, err = _rss_extra(lib, name, dtype, threads)
                    if err:
                        row["errors"][lib] = err
                    else:
                        row["rss_extra"][lib] = extra
            rows.append(row)
    return rows
