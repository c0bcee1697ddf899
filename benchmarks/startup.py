"""Import cost: wall time and peak RSS of importing numpy, cyconv and torch in fresh processes.

Each sample is a new interpreter that times its own imports with ``time.perf_counter`` (so
interpreter start-up is excluded) and reports its peak resident size at the end: ``VmHWM``
from ``/proc/self/status``, the per-process high-water mark that ``getrusage``'s
``ru_maxrss`` is built from (``ru_maxrss`` itself is carried across fork+exec on Linux, so
in a child of a big benchmark process it shows the parent's size; it is the fallback where
``/proc`` is missing). The variants run round-robin, like the kernels; medians are reported.
"""

import json
import statistics
import subprocess
import sys

_PROBE = r"""
import json, resource, time
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
try:
    with open("/proc/self/status") as fh:
        peak_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"ms": [(t1 - t0) * 1e3, {split}], "maxrss_kb": peak_kb}}))
"""

VARIANTS = {
    # name: (statements, statement after which a split time is taken, or None)
    "python": ("pass", None),
    "numpy": ("import numpy", None),
    "numpy+cyconv": ("import numpy\nts = time.perf_counter()\nimport cyconv", "(t1 - ts) * 1e3"),
    "cyconv": ("import cyconv", None),
    "torch": ("import torch", None),
}


def _once(name):
    imports, split = VARIANTS[name]
    code = _PROBE.format(imports=imports, split=split or "None")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(repeat, variants=tuple(VARIANTS)):
    """Median import time (ms) and peak RSS (MiB) per variant, plus what cyconv adds to numpy."""
    samples = {name: [] for name in variants}
    errors = {}
    for r in range(repeat):
        names = list(variants)
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if name in errors:
                continue
            try:
                samples[name].append(_once(name))
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                errors[name] = str(exc)
    result = {"repeat": repeat, "errors": errors, "variants": {}}
    for name, s in samples.items():
        if not s:
            continue
        result["variants"][name] = {
            "import_ms": statistics.median(x["ms"][0] for x in s),
            "import_ms_all": [x["ms"][0] for x in s],
            "maxrss_mib": statistics.median(x["maxrss_kb"] for x in s) / 1024,
        }
        if name == "numpy+cyconv":
            added = [x["ms"][1] for x in s]
            result["cyconv_added_ms"] = statistics.median(added)
            result["cyconv_added_ms_all"] = added
    v = result["variants"]
    if "numpy" in v and "numpy+cyconv" in v:
        result["cyconv_added_maxrss_mib"] = v["numpy+cyconv"]["maxrss_mib"] - v["numpy"]["maxrss_mib"]
    return result
