"""conv_transpose2d: plain-loop reference, adjoint of conv2d, PyTorch oracle, errors."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reference_conv_grad import conv2d_fast_ref, conv_transpose2d_ref  # noqa: E402

from engine_routes import engine_route  # noqa: E402
from cyconv import conv2d_backward, conv_transpose2d  # noqa: E402
from cyconv._shapes import _padding  # noqa: E402

TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.fixture(params=["auto", "gemm", "portable", "avx2"])
def strategy(request):
    yield from engine_route(request.param)


# (x shape, weight shape (C_in, C_out/groups, kh, kw), stride, padding, output_padding, dilation, groups)
CONFIGS = [
    ((1, 1, 2, 2), (1, 1, 2, 2), 1, 0, 0, 1, 1),
    ((2, 3, 4, 5), (3, 2, 3, 3), 2, 1, 1, 1, 1),
    ((2, 4, 3, 4), (4, 3, 2, 3), (2, 3), (1, 2), (1, 2), 1, 2),
    ((1, 2, 4, 4), (2, 2, 3, 2), 1, ((2, 0), (1, 3)), 0, (2, 1), 1),
    ((2, 4, 5, 5), (4, 1, 3, 3), 1, 1, 0, 1, 4),  # depthwise
    ((2, 3, 4, 3), (3, 2, 3, 3), 1, 0, (1, 0), (2, 1), 1),  # output_padding < dilation
    ((2, 6, 4, 4), (6, 2, 1, 1), 2, 0, 1, 1, 3),  # 1x1 grouped, upsampling
    ((1, 2, 5, 5), (2, 3, 3, 3), 1, "same", 0, 1, 1),
    ((1, 2, 5, 5), (2, 3, 3, 3), 2, "valid", 1, 1, 1),
    ((1, 2, 6, 6), (2, 1, 3, 3), 1, "full", 0, 1, 1),
    ((1, 2, 6, 5), (2, 1, 4, 3), 1, "same_upper", 0, (1, 2), 1),
]


def _ids(cfg):
    return f"x{cfg[0]}-w{cfg[1]}-s{cfg[2]}-p{cfg[3]}-op{cfg[4]}-d{cfg[5]}-g{cfg[6]}"


def _case(cfg, rng, dtype=np.float64):
    xs, ws, stride, padding, op, dilation, groups = cfg
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1] * groups).astype(dtype)
    kwargs = dict(stride=stride, padding=padding, output_padding=op, dilation=dilation, groups=groups)
    ref_kwargs = dict(stride=_pair(stride), padding=_padding(padding, ws[2:], _pair(dilation)),
                      output_padding=_pair(op), dilation=_pair(dilation), groups=groups)
    return x, w, b, kwargs, ref_kwargs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_matches_plain_loop_reference(cfg, dtype, strategy):
    rng = np.random.default_rng(abs(hash(_ids(cfg))) % 2**32)
    x, w, b, kwargs, ref_kwargs = _case(cfg, rng, dtype)
    for bias in (None, b):
        got = conv_transpose2d(x, w, bias, **kwargs)
        want = conv_transpose2d_ref(x, w, bias, **ref_kwargs)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * np.abs(want).max())


def test_d2l_example_numbers():
    """D2L 13.10's trans_conv example and its stride-2 version."""
    x = np.array([[0.0, 1.0], [2.0, 3.0]])[None, None]
    k = np.array([[0.0, 1.0], [2.0, 3.0]])[None, None]
    np.testing.assert_array_equal(conv_transpose2d(x, k)[0, 0], [[0, 0, 1], [0, 4, 6], [4, 12, 9]])
    np.testing.assert_array_equal(conv_transpose2d(x, k, padding=1)[0, 0], [[4]])
    np.testing.assert_array_equal(conv_transpose2d(x, k, stride=2)[0, 0],
                                  [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]])


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_adjoint_of_conv2d(cfg):
    """<conv2d(y, w), x> == <y, conv_transpose2d(x, w)> and the transpose is conv2d's input gradient."""
    rng = np.random.default_rng(12)
    x, w, _, kwargs, ref_kwargs = _case(cfg, rng)
    y_t = conv_transpose2d(x, w, **kwargs)
    y = rng.standard_normal(y_t.shape)
    conv_kwargs = {k: v for k, v in ref_kwargs.items() if k != "output_padding"}
    forward = conv2d_fast_ref(y, w, None, conv_kwargs["stride"], conv_kwargs["padding"],
                              conv_kwargs["dilation"], conv_kwargs["groups"])
    if forward.shape != x.shape:  # output_padding >= stride: conv2d reaches further
        forward = forward[:, :, :x.shape[2], :x.shape[3]]
    np.testing.assert_allclose(np.sum(forward * x), np.sum(y * y_t), rtol=1e-11)
    if conv2d_fast_ref(y, w, None, *conv_kwargs.values()).shape == x.shape:
        dx = conv2d_backward(x, y, w, stride=kwargs["stride"], padding=kwargs["padding"],
                             dilation=kwargs["dilation"], groups=kwargs["groups"], compute="input").input
        np.testing.assert_allclose(y_t, dx, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype,expected", [
    (np.float16, np.float16), (np.int64, np.float64), (np.float32, np.float32),
])
def test_dtypes_unbatched_and_empty(dtype, expected):
    x = np.arange(2 * 3 * 3).reshape(2, 3, 3).astype(dtype)
    w = np.ones((2, 2, 2, 2), dtype)
    got = conv_transpose2d(x, w, np.ones(2, dtype), stride=2)
    assert got.dtype == expected and got.shape == (2, 6, 6)
    want = conv_transpose2d_ref(x[None], w, np.ones(2), stride=(2, 2))[0]
    np.testing.assert_allclose(got, want, rtol=1e-3)
    empty = conv_transpose2d(np.zeros((0, 2, 3, 3), dtype), w, stride=2)
    assert empty.shape == (0, 2, 6, 6) and empty.dtype == expected


@pytest.mark.parametrize("seed", range(16))
def test_against_torch(seed):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(200 + seed)
    groups = int(rng.integers(1, 4))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    op = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    padding = tuple(int(rng.integers(0, 3)) for _ in range(2))
    h, w_ = (int(v) for v in rng.integers(2, 7, 2))
    dtype = np.float64 if seed % 2 else np.float32
    x = rng.standard_normal((int(rng.integers(1, 3)), cin, h, w_)).astype(dtype)
    wt = rng.standard_normal((cin, cout // groups, kh, kw)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if seed % 3 else None
    want = F.conv_transpose2d(torch.tensor(x), torch.tensor(wt), None if b is None else torch.tensor(b),
                              stride=stride, padding=padding, output_padding=op, groups=groups,
                              dilation=dilation).numpy()
    if min(want.shape[2:]) < 1:
        with pytest.raises(ValueError, match="< 1"):
            conv_transpose2d(x, wt, b, stride=stride, padding=padding, output_padding=op,
                             groups=groups, dilation=dilation)
        return
    got = conv_transpose2d(x, wt, b, stride=stride, padding=padding, output_padding=op,
                           groups=groups, dilation=dilation)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10 * np.abs(want).max())


ERRORS = [
    (dict(output_padding=2, stride=2), ValueError, r"output_padding must be smaller than stride or dilation: height output_padding 2 >= max\(stride=2, dilation=1\)"),
    (dict(output_padding=1), ValueError, r"output_padding must be smaller"),
    (dict(output_padding=-1), ValueError, r"output_padding must be >= 0"),
    (dict(output_padding=0.5), TypeError, r"output_padding must be an integer"),
    (dict(weight=np.ones((3, 2, 3, 3))), ValueError, r"input has 2 channels but weight .* expected weight.shape\[0\] == 2"),
    (dict(weight=np.ones((2, 2, 3))), ValueError, r"weight must have shape \(C_in, C_out/groups, kh, kw\)"),
    (dict(x=np.ones((3, 4, 4))), ValueError, r"input has 3 channels"),
    (dict(x=np.ones((4, 4))), ValueError, r"input must have shape"),
    (dict(groups=3), ValueError, r"groups=3 must divide"),
    (dict(groups=0), ValueError, r"groups must be >= 1"),
    (dict(bias=np.ones(3)), ValueError, r"bias must have shape \(1,\) \(one per output channel\), got \(3,\)"),
    (dict(bias=np.ones(1, complex)), TypeError, r"bias must have a real numeric dtype"),
    (dict(x=np.ones((1, 2, 4, 4), object)), TypeError, r"input must have a real numeric dtype"),
    (dict(padding=4), ValueError, r"output height = \(4 - 1\)\*1 - 8 \+ 1\*\(3 - 1\) \+ 0 \+ 1 = -2 < 1"),
    (dict(padding="middle"), ValueError, r"padding must be"),
    (dict(stride=(1, 0)), ValueError, r"stride must be >= 1"),
    (dict(dilation=True), TypeError, r"dilation must be an integer"),
]


@pytest.mark.parametrize("overrides,exc,match", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors(overrides, exc, match):
    args = dict(x=np.ones((1, 2, 4, 4)), weight=np.ones((2, 1, 3, 3)), bias=None)
    for key in ("x", "weight", "bias"):
        if key in overrides:
            args[key] = overrides.pop(key)
    with pytest.raises(exc, match=match):
        conv_transpose2d(args["x"], args["weight"], args["bias"], **overrides)
