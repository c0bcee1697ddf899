"""The speed targets (issue 8, issue 10, and the earlier ones that stay), checked against a run.

Every target is a rule over the run's rows: which rows it applies to, the figure it reads,
and the limit. ``check(payload)`` returns one entry per target with every figure it checked,
so the table can say met/missed with the figure, and name the worst case. Ratios are of
medians of interleaved rounds in the same run; rates are fractions of the roof probe timed in
the same rounds as the row.
"""

from dataclasses import dataclass
from typing import Callable

from cases import SMALL

IMPORT_LIMIT_MS = 30.0


@dataclass
class Target:
    source: str
    text: str
    applies: Callable[[dict], bool]  # row -> does the target apply
    figure: Callable[[dict], float]  # row -> the figure (None: not measured)
    limit: float
    at_most: bool = True  # figure <= limit (else >=)
    fmt: str = "{:.2f}"


def _ratio(peer):
    def fig(row):
        return row["ratios"].get(peer)
    return fig


def _roof(row):
    return row.get("fraction_of_roof")


def _sec(*sections):
    return lambda r: r["section"] in sections


def _and(*preds):
    return lambda r: all(p(r) for p in preds)


def _dt(dtype):
    return lambda r: r["dtype"] == dtype


def _flag(key):
    return lambda r: bool(r["spec"].get(key))


def _figure(key):
    return lambda r: r.get(key)


TARGETS = [
    Target("issue 8", "float32 forward: cyconv/PyTorch <= 1.0 on every case",
           _and(_sec("conv2d"), _dt("float32")), _ratio("torch"), 1.0),
    Target("issue 8", "float32 forward, GEMM-bound (>= 32 out channels/group, >= 64 taps): >= 85 % of sgemm",
           _and(_sec("conv2d"), _dt("float32"), _flag("gemm_bound")), _roof, 0.85, False, "{:.0%}"),
    Target("issue 8", "float32 forward, 1x1: >= 80 % of sgemm",
           _and(_sec("conv2d"), _dt("float32"), _flag("is_1x1")), _roof, 0.80, False, "{:.0%}"),
    Target("issue 8", "float64 forward, GEMM-bound: >= 85 % of dgemm",
           _and(_sec("conv2d"), _dt("float64"), _flag("gemm_bound")), _roof, 0.85, False, "{:.0%}"),
    Target("issue 8", "float64 forward: cyconv/PyTorch <= 0.5 on every case",
           _and(_sec("conv2d"), _dt("float64")), _ratio("torch"), 0.5),
    Target("issue 8", "backward (input+weight+bias) float32: cyconv/PyTorch <= 1.0",
           _and(_sec("conv2d_backward"), _dt("float32")), _ratio("torch"), 1.0),
    Target("issue 8", "backward float64: cyconv/PyTorch <= 0.5",
           _and(_sec("conv2d_backward"), _dt("float64")), _ratio("torch"), 0.5),
    Target("issue 8", "small cases (notes 6x8, LeNet conv1/conv2, batch 1), forward and backward: "
           "cyconv/PyTorch <= 0.5",
           _and(_sec("conv2d", "conv2d_backward"), lambda r: r["case"] in SMALL), _ratio("torch"), 0.5),
    Target("issue 8", "under load (two busy processes): cyconv slowdown <= 3x",
           _sec("load"), _figure("slowdown_cyconv"), 3.0, fmt="{:.1f}x"),
    Target("issue 8", "under load: cyconv slowdown no worse than PyTorch's (slowdown ratio <= 1)",
           _sec("load"), _figure("slowdown_ratio"), 1.0),
    Target("issue 8", "portable build >= 40 % of the AVX2 build's rate on the ResNet block "
           "(of the default build where no AVX2 one is forced)",
           _sec("build"), _figure("baseline_fraction"), 0.40, False, "{:.0%}"),
    Target("issue 8", "training loop: the demo's network trains with the default threads at least as fast as "
           "with one (step time ratio <= 1)", _sec("train"), _figure("threads_over_one"), 1.0),
    Target("issue 8", "the README's loop runs as the README says: the demo's 12 epochs of 43 steps in "
           "'about 2 s' (<= 2.5 s, from the measured step time)", _sec("train"), _figure("demo_training_s"), 2.5,
           fmt="{:.2f} s"),
    Target("issue 10", "NHWC within 1.1x of NCHW (cyconv NHWC / cyconv NCHW)",
           _sec("nhwc", "nhwc_backward"), _figure("nhwc_over_nchw"), 1.1),
    Target("issue 10", "NHWC no slower than PyTorch channels_last",
           _sec("nhwc", "nhwc_backward"), _figure("nhwc_over_torch_cl"), 1.0),
    Target("issue 10", "Dask, batch chunked along N, threaded scheduler: within 1.3x of one in-memory call",
           _sec("dask", "dask_backward"), _figure("dask_over_inmemory"), 1.3),
    Target("earlier", "pooling forward: cyconv/PyTorch <= 0.33",
           _sec("max_pool2d", "avg_pool2d"), _ratio("torch"), 0.33),
    Target("earlier", "pooling backward: cyconv/PyTorch <= 0.5",
           _sec("max_pool2d_backward", "avg_pool2d_backward"), _ratio("torch"), 0.5),
    Target("earlier", "pooling forward and backward: >= 50 % of copy bandwidth",
           _sec("max_pool2d", "avg_pool2d", "max_pool2d_backward", "avg_pool2d_backward"), _roof, 0.5, False,
           "{:.0%}"),
    Target("earlier", "import cyconv after numpy: <= 30 ms",
           _sec("imports"), _figure("cyconv_added_ms"), IMPORT_LIMIT_MS, fmt="{:.1f} ms"),
]
NOT_MEASURED_HERE = []  # (source, text) of targets this harness cannot check


def check(rows):
    """Each target with its checks: [{"target", "source", "checks": [(id, figure, met)], "met", ...}]."""
    out = []
    for t in TARGETS:
        checks = []
        for row in rows:
            if not t.applies(row):
                continue
            v = t.figure(row)
            if row.get("wrong", {}).get("cyconv"):
                checks.append((row["id"], v, False))  # a wrong result fails every target
            elif v is None:
                checks.append((row["id"], None, None))
            else:
                checks.append((row["id"], v, v <= t.limit if t.at_most else v >= t.limit))
        measured = [c for c in checks if c[2] is not None]
        worst = None
        if measured:
            worst = max(measured, key=lambda c: c[1]) if t.at_most else min(measured, key=lambda c: c[1])
        out.append({
            "source": t.source, "target": t.text, "limit": t.limit, "at_most": t.at_most,
            "checks": [{"id": i, "figure": v, "met": m} for i, v, m in checks],
            "met": sum(1 for c in checks if c[2]), "missed": sum(1 for c in checks if c[2] is False),
            "not_measured": sum(1 for c in checks if c[2] is None),
            "worst": {"id": worst[0], "figure": worst[1]} if worst else None,
            "fmt": t.fmt,
        })
    return out


def verdict(entry):
    if not entry["checks"]:
        return "not in run"
    if entry["met"] + entry["missed"] == 0:
        return "not measured"
    return "met" if entry["missed"] == 0 else "MISSED"
