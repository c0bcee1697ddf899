"""The project's speed targets, and which of them a row of results meets.

Ratios are cyconv time / PyTorch time, both medians of the same run; rates are fractions of
the machine's matmul rate or copy bandwidth, also measured in the same run.
"""

from dataclasses import dataclass


@dataclass
class Target:
    kind: str  # "ratio" (cyconv/torch <=), "roof" (>= fraction of machine rate), "speedup" (>= x vs a library)
    limit: float
    against: str = "torch"  # library for ratio/speedup; "matmul"/"copy" for roof

    def label(self):
        if self.kind == "ratio":
            return f"cy/pt<={self.limit:g}"
        if self.kind == "roof":
            return f">={self.limit:.0%} {self.against}"
        return f">={self.limit:g}x {self.against}"


def targets_for(section, name, dtype):
    """Targets that apply to one case; the strictest ratio target only."""
    ratios, out = [], []
    f32, f64 = dtype == "float32", dtype == "float64"
    if section == "conv2d":
        if f32 and name in ("resnet", "1x1", "large", "lenet2"):
            ratios.append(1.25)
        if f64:
            ratios.append(0.4 if name in ("resnet", "large", "depthwise") else 1.0)
        if name in ("notes6x8", "lenet1") or (f32 and name == "depthwise"):
            ratios.append(0.5)
        if name in ("resnet", "1x1", "large"):
            out.append(Target("roof", 0.8, "matmul"))
    elif section == "conv2d_backward":
        ratios.append(0.5 if name in ("notes6x8", "lenet1") else 1.0)
    elif section in ("max_pool2d", "avg_pool2d"):
        ratios.append(0.33)
        out.append(Target("roof", 0.5, "copy"))
    elif section in ("max_pool2d_backward", "avg_pool2d_backward"):
        ratios.append(0.5)
        out.append(Target("roof", 0.5, "copy"))
    elif section == "correlate2d":
        out += [Target("speedup", 5.0, "scipy"), Target("speedup", 5.0, "numpy")]
    if ratios:
        out.insert(0, Target("ratio", min(ratios)))
    return out


def evaluate(target, medians, rate, roof_rate):
    """(value, met) for one target; value None (not measured) when a needed time is missing."""
    cy = medians.get("cyconv")
    if target.kind == "ratio":
        pt = medians.get("torch")
        if cy is None or pt is None:
            return None, None
        v = cy / pt
        return v, v <= target.limit
    if target.kind == "roof":
        if rate is None or not roof_rate:
            return None, None
        v = rate / roof_rate
        return v, v >= target.limit
    other = medians.get(target.against)
    if cy is None or other is None:
        return None, None
    v = other / cy
    return v, v >= target.limit


IMPORT_LIMIT_MS = 30.0
