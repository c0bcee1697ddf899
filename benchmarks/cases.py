"""The benchmark cases: shapes, the libraries compared on each, and the work each does.

Every case builds its arrays only when it runs (``Case.setup``) and returns the callables to
time plus a reference result. The reference is PyTorch's (autograd's for the backward
passes), so every library's output is checked before its time counts.

How PyTorch is timed
--------------------
Forward: ``torch.nn.functional`` on tensors that share memory with the NumPy inputs
(``torch.from_numpy``, converted once, outside the timing) and do not require grad, so no
graph is recorded. Backward: the ATen backward operators that autograd itself dispatches to
(``aten.convolution_backward``, ``aten.max_pool2d_with_indices_backward``,
``aten.avg_pool2d_backward``), called directly, so only the backward computation is timed,
never the forward that builds the graph. The reference for the check is a real
``Tensor.backward`` through autograd, which confirms in every run that the operator timed
computes what autograd computes.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

import baselines

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the table then shows n/a for PyTorch
    torch = F = None

DTYPES = ("float32", "float64")

# name, input (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), padding, groups, bias
CONV_CASES = [
    ("notes6x8", (1, 1, 6, 8), (1, 1, 1, 2), 0, 1, False),
    ("lenet1", (64, 1, 28, 28), (6, 1, 5, 5), 2, 1, True),
    ("lenet2", (64, 6, 14, 14), (16, 6, 5, 5), 0, 1, True),
    ("resnet", (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, True),
    ("1x1", (8, 256, 14, 14), (256, 256, 1, 1), 0, 1, True),
    ("large", (1, 3, 512, 512), (16, 3, 3, 3), 1, 1, True),
    ("depthwise", (8, 64, 56, 56), (64, 1, 3, 3), 1, 64, True),
]
GEMM_BOUND = ("resnet", "1x1", "large")
POOL_SHAPE = (8, 64, 112, 112)
MAX_POOL = dict(kernel=2, stride=2)
AVG_POOL = dict(kernel=3, stride=1, padding=1)
# name, plane (H, W), kernel (kh, kw)
PLANE_CASES = [("notes6x8", (6, 8), (1, 2)), ("512k3", (512, 512), (3, 3)), ("512k5", (512, 512), (5, 5))]
SCIPY_CONV_MAX_PLANES = 10_000  # scipy_conv2d loops over planes in Python: skip where hopeless


@dataclass
class Setup:
    contenders: dict  # library -> zero-argument callable
    reference: object  # tuple of arrays, or None when PyTorch is missing
    skipped: dict  # library -> why it is not run on this case


@dataclass
class Case:
    section: str  # conv2d, conv2d_backward, max_pool2d, ..., correlate2d
    name: str
    dtype: str
    shape: str
    work: float  # FLOPs (convolutions) or bytes moved (pooling)
    unit: str  # "GFLOP/s" or "GB/s"
    roof: str | None  # "matmul", "copy" or None: the machine rate the achieved rate is compared with
    setup: Callable[[], Setup]

    @property
    def id(self):
        return f"{self.section}/{self.name}/{self.dtype}"


def _rng():
    return np.random.default_rng(20240522)


def _notes_image(dtype):
    """The notes' 6x8 black-and-white image (ones, columns 2..5 zero) and edge kernel [[1, -1]]."""
    x = np.ones((6, 8), dtype=dtype)
    x[:, 2:6] = 0
    return x, np.array([[1.0, -1.0]], dtype=dtype)


def _t(a):
    return torch.from_numpy(a) if torch is not None else None


def _as_tuple(result):
    """Normalise a result (array, tensor, tuple of either, None members dropped) to arrays."""
    if not isinstance(result, tuple):
        result = (result,)
    out = []
    for r in result:
        if r is None:
            continue
        if torch is not None and isinstance(r, torch.Tensor):
            r = r.detach().numpy()
        out.append(np.asarray(r))
    return tuple(out)


def conv_output_hw(x_shape, w_shape, padding):
    return x_shape[2] + 2 * padding - w_shape[2] + 1, x_shape[3] + 2 * padding - w_shape[3] + 1


def conv_flops(x_shape, w_shape, padding):
    ho, wo = conv_output_hw(x_shape, w_shape, padding)
    return 2.0 * x_shape[0] * w_shape[0] * ho * wo * w_shape[1] * w_shape[2] * w_shape[3]


def im2col_bytes(x_shape, w_shape, padding, itemsize):
    """Size of a whole-batch im2col buffer (N * C_in*kh*kw * H_out*W_out elements)."""
    ho, wo = conv_output_hw(x_shape, w_shape, padding)
    return x_shape[0] * x_shape[1] * w_shape[2] * w_shape[3] * ho * wo * itemsize


def conv_arrays(name, dtype):
    """Inputs of a conv case: x, w, b (or None), padding, groups."""
    _, xs, ws, pad, groups, bias = next(c for c in CONV_CASES if c[0] == name)
    if name == "notes6x8":
        x, k = _notes_image(dtype)
        return x.reshape(xs), k.reshape(ws), None, pad, groups
    rng = _rng()
    x = rng.standard_normal(xs, dtype=np.float64).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    return x, w, b, pad, groups


def _conv_forward(name, dtype, cyconv):
    def setup():
        x, w, b, pad, groups = conv_arrays(name, dtype)
        c = {"cyconv": lambda: cyconv.conv2d(x, w, b, padding=pad, groups=groups)}
        skipped, ref = {}, None
        if torch is not None:
            tx, tw, tb = _t(x), _t(w), (_t(b) if b is not None else None)
            c["torch"] = lambda: F.conv2d(tx, tw, tb, padding=pad, groups=groups)
            ref = _as_tuple(c["torch"]())
        if scipy_available():
            if baselines.scipy_conv2d_plane_count(x.shape, w.shape) <= SCIPY_CONV_MAX_PLANES:
                c["scipy"] = lambda: baselines.scipy_conv2d(x, w, b, pad, groups)
            else:
                skipped["scipy"] = "too slow (a correlate2d call per plane pair)"
        c["numpy"] = lambda: baselines.numpy_conv2d(x, w, b, pad, groups)
        return Setup(c, ref, skipped)

    return setup


def _conv_backward(name, dtype, cyconv):
    def setup():
        x, w, b, pad, groups = conv_arrays(name, dtype)
        ho, wo = conv_output_hw(x.shape, w.shape, pad)
        go = _rng().standard_normal((x.shape[0], w.shape[0], ho, wo)).astype(dtype)
        compute = ("input", "weight", "bias") if b is not None else ("input", "weight")
        c = {"cyconv": lambda: tuple(cyconv.conv2d_backward(go, x, w, padding=pad, groups=groups, compute=compute))}
        ref = None
        if torch is not None:
            tx, tw, tgo = _t(x), _t(w), _t(go)
            bias_sizes = [w.shape[0]] if b is not None else None
            mask = [True, True, b is not None]
            c["torch"] = lambda: torch.ops.aten.convolution_backward(
                tgo, tx, tw, bias_sizes, [1, 1], [pad, pad], [1, 1], False, [0, 0], groups, mask
            )
            # reference: autograd itself
            ax, aw = tx.clone().requires_grad_(), tw.clone().requires_grad_()
            ab = _t(b).clone().requires_grad_() if b is not None else None
            F.conv2d(ax, aw, ab, padding=pad, groups=groups).backward(tgo)
            ref = _as_tuple((ax.grad, aw.grad, ab.grad if ab is not None else None))
        return Setup(c, ref, {"scipy": "no baseline", "numpy": "no baseline"})

    return setup


def pool_arrays(dtype):
    return _rng().standard_normal(POOL_SHAPE, dtype=np.float64).astype(dtype)


def _max_pool(dtype, cyconv, backward):
    k, s = MAX_POOL["kernel"], MAX_POOL["stride"]

    def setup():
        x = pool_arrays(dtype)
        tx = _t(x)
        c, ref = {}, None
        if not backward:
            c["cyconv"] = lambda: cyconv.max_pool2d(x, k, stride=s)
            if torch is not None:
                c["torch"] = lambda: F.max_pool2d(tx, k, s)
                ref = _as_tuple(c["torch"]())
            c["scipy"] = lambda: baselines.scipy_max_pool2d(x, k, s)
            c["numpy"] = lambda: baselines.numpy_max_pool2d(x, k, s)
            return Setup(c, ref, {})
        # indices from PyTorch (same h*W + w convention), so the backward can be timed even
        # while cyconv's forward is missing
        if torch is None:
            return Setup({}, None, {"cyconv": "needs PyTorch for the indices"})
        ty, tidx = F.max_pool2d(tx, k, s, return_indices=True)
        go = _rng().standard_normal(ty.shape).astype(dtype)
        idx, tgo = tidx.numpy(), _t(go)
        c["cyconv"] = lambda: cyconv.max_pool2d_backward(go, idx, x.shape)
        c["torch"] = lambda: torch.ops.aten.max_pool2d_with_indices_backward(
            tgo, tx, [k, k], [s, s], [0, 0], [1, 1], False, tidx
        )
        c["numpy"] = lambda: baselines.numpy_max_pool2d_backward(go, idx, x.shape)
        ax = tx.clone().requires_grad_()
        F.max_pool2d(ax, k, s).backward(tgo)
        return Setup(c, _as_tuple(ax.grad), {"scipy": "no baseline"})

    return setup


def _avg_pool(dtype, cyconv, backward):
    k, s, p = AVG_POOL["kernel"], AVG_POOL["stride"], AVG_POOL["padding"]

    def setup():
        x = pool_arrays(dtype)
        tx = _t(x)
        c, ref = {}, None
        if not backward:
            c["cyconv"] = lambda: cyconv.avg_pool2d(x, k, stride=s, padding=p)
            if torch is not None:
                c["torch"] = lambda: F.avg_pool2d(tx, k, s, p)
                ref = _as_tuple(c["torch"]())
            c["scipy"] = lambda: baselines.scipy_avg_pool2d(x, k, p)
            c["numpy"] = lambda: baselines.numpy_avg_pool2d(x, k, p)
            return Setup(c, ref, {})
        go = _rng().standard_normal(x.shape).astype(dtype)  # stride 1, pad 1, k 3: same size
        c["cyconv"] = lambda: cyconv.avg_pool2d_backward(go, x.shape, k, stride=s, padding=p)
        if torch is not None:
            tgo = _t(go)
            c["torch"] = lambda: torch.ops.aten.avg_pool2d_backward(tgo, tx, [k, k], [s, s], [p, p], False, True, None)
            ax = tx.clone().requires_grad_()
            F.avg_pool2d(ax, k, s, p).backward(tgo)
            ref = _as_tuple(ax.grad)
        c["scipy"] = lambda: baselines.scipy_avg_pool2d_backward(go, x.shape, k, p)
        c["numpy"] = lambda: baselines.numpy_avg_pool2d_backward(go, x.shape, k, p)
        return Setup(c, ref, {})

    return setup


def plane_arrays(name, dtype):
    _, hw, khw = next(c for c in PLANE_CASES if c[0] == name)
    if name == "notes6x8":
        return _notes_image(dtype)
    rng = _rng()
    return rng.standard_normal(hw).astype(dtype), rng.standard_normal(khw).astype(dtype)


def _plane(name, dtype, cyconv):
    def setup():
        x, k = plane_arrays(name, dtype)
        c, ref = {"cyconv": lambda: cyconv.correlate2d(x, k)}, None
        if torch is not None:
            tx, tk = _t(x).reshape(1, 1, *x.shape), _t(k).reshape(1, 1, *k.shape)
            c["torch"] = lambda: F.conv2d(tx, tk)
            ref = _as_tuple(c["torch"]()[0, 0])
        c["scipy"] = lambda: baselines.scipy_correlate2d(x, k)
        c["numpy"] = lambda: baselines.numpy_correlate2d(x, k)
        return Setup(c, ref, {})

    return setup


def _only(setup, keep_baselines):
    """Wrap a set-up so that it drops the SciPy/NumPy baselines when ``keep_baselines`` is false."""
    if keep_baselines:
        return setup

    def trimmed():
        s = setup()
        for lib in ("scipy", "numpy"):
            if s.contenders.pop(lib, None) is not None:
                s.skipped[lib] = "skipped in --quick"
        return s

    return trimmed


def scipy_available():
    try:
        import scipy  # noqa: F401
    except ImportError:
        return False
    return True


def all_cases(cyconv, baselines_everywhere=True):
    """Every case, in table order.

    ``baselines_everywhere=False`` (quick runs) keeps SciPy and NumPy only where a target
    compares against them (single planes); elsewhere they are slow extras.
    """
    cases = []
    for section, backward in (("conv2d", False), ("conv2d_backward", True)):
        for name, xs, ws, pad, _, _ in CONV_CASES:
            flops = conv_flops(xs, ws, pad) * (2 if backward else 1)
            shape = f"{xs}*{ws}" + (f" p{pad}" if pad else "")
            for dt in DTYPES:
                make = _conv_backward if backward else _conv_forward
                roof = "matmul" if name in GEMM_BOUND else None
                cases.append(Case(section, name, dt, shape, flops, "GFLOP/s", roof,
                                  _only(make(name, dt, cyconv), baselines_everywhere)))
    n_in = int(np.prod(POOL_SHAPE))
    ho = (POOL_SHAPE[2] - MAX_POOL["kernel"]) // MAX_POOL["stride"] + 1
    n_max_out = POOL_SHAPE[0] * POOL_SHAPE[1] * ho * ho
    for dt in DTYPES:
        isz = np.dtype(dt).itemsize
        cases.append(Case("max_pool2d", "2x2s2", dt, f"{POOL_SHAPE}", (n_in + n_max_out) * isz, "GB/s", "copy",
                          _only(_max_pool(dt, cyconv, False), baselines_everywhere)))
        cases.append(Case("avg_pool2d", "3x3s1p1", dt, f"{POOL_SHAPE}", 2 * n_in * isz, "GB/s", "copy",
                          _only(_avg_pool(dt, cyconv, False), baselines_everywhere)))
    for dt in DTYPES:
        isz = np.dtype(dt).itemsize
        cases.append(Case("max_pool2d_backward", "2x2s2", dt, f"{POOL_SHAPE}",
                          n_max_out * (isz + 8) + n_in * isz, "GB/s", "copy",
                          _only(_max_pool(dt, cyconv, True), baselines_everywhere)))
        cases.append(Case("avg_pool2d_backward", "3x3s1p1", dt, f"{POOL_SHAPE}", 2 * n_in * isz, "GB/s", "copy",
                          _only(_avg_pool(dt, cyconv, True), baselines_everywhere)))
    for name, hw, khw in PLANE_CASES:
        flops = 2.0 * (hw[0] - khw[0] + 1) * (hw[1] - khw[1] + 1) * khw[0] * khw[1]
        for dt in DTYPES:
            cases.append(Case("correlate2d", name, dt, f"{hw}*{khw}", flops, "GFLOP/s", None, _plane(name, dt, cyconv)))
    return cases
