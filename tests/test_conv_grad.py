"""conv2d_backward: plain-loop reference, finite differences, adjoint identity, PyTorch, errors."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reference_conv_grad import (  # noqa: E402
    conv2d_fast_ref,
    conv2d_grads_ref,
    conv_transpose2d_ref,
    out_hw,
)

import cyconv  # noqa: E402
from engine_routes import engine_route, kernel_sets  # noqa: E402
from cyconv import conv2d_backward, conv_transpose2d  # noqa: E402
from cyconv._shapes import _padding  # noqa: E402

RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ATOL = {np.float32: 2e-5, np.float64: 1e-12}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _geometry(w_shape, stride, padding, dilation):
    stride, dilation = _pair(stride), _pair(dilation)
    return stride, _padding(padding, w_shape[2:], dilation), dilation


@pytest.fixture(params=["auto", "gemm", "portable", "avx2"])
def strategy(request):
    """Run a test on each engine route: the automatic choice, every geometry on the GEMM
    drivers (also those the direct loops serve), and the portable and AVX2 kernel sets
    (the automatic choice is the best the CPU has)."""
    yield from engine_route(request.param)


# (x shape, weight shape, stride, padding, dilation, groups, padding_mode)
CONFIGS = [
    ((1, 1, 6, 8), (1, 1, 1, 2), 1, 0, 1, 1, "zeros"),  # the notes' edge detector
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1, 1, "zeros"),
    ((2, 3, 7, 6), (4, 3, 3, 3), 2, 0, 1, 1, "zeros"),
    ((2, 4, 8, 7), (6, 2, 2, 3), (2, 3), ((1, 0), (2, 1)), (2, 1), 2, "zeros"),
    ((1, 2, 7, 7), (3, 2, 3, 2), 1, "same", 1, 1, "zeros"),
    ((1, 2, 7, 7), (3, 2, 3, 2), 2, "same_upper", (1, 2), 1, "zeros"),
    ((2, 2, 4, 5), (2, 2, 3, 3), 1, "full", 1, 1, "zeros"),
    ((1, 2, 6, 6), (2, 2, 3, 3), 3, "valid", 1, 1, "zeros"),
    ((2, 4, 6, 5), (4, 1, 3, 3), (2, 1), 2, 1, 4, "zeros"),  # depthwise
    ((2, 3, 6, 6), (6, 1, 3, 2), 1, 1, 2, 3, "zeros"),  # depthwise, multiplier 2
    ((1, 4, 3, 20), (4, 1, 2, 17), 1, (1, 2), (1, 1), 4, "zeros"),  # a kernel row wider than 16
    ((2, 4, 7, 8), (4, 1, 3, 3), 1, ((2, 0), (1, 2)), (2, 1), 4, "zeros"),  # depthwise 3x3, stride 1
    ((1, 4, 5, 6), (8, 1, 3, 3), 1, 1, 1, 4, "reflect"),
    ((1, 5, 4, 12), (5, 1, 3, 3), 1, ((0, 3), (3, 0)), (1, 3), 5, "zeros"),
    ((2, 4, 7, 9), (8, 1, 3, 3), (1, 2), ((2, 0), (3, 1)), (2, 3), 4, "zeros"),
    ((2, 1, 7, 7), (5, 1, 5, 5), 1, 2, 1, 1, "zeros"),  # LeNet-like single channel
    ((2, 6, 5, 5), (6, 2, 1, 1), 1, 0, 1, 3, "zeros"),  # 1x1 grouped
    ((2, 4, 5, 6), (8, 4, 1, 1), 2, 1, 1, 1, "zeros"),  # 1x1 strided and padded
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, ((1, 2), (2, 0)), 1, 1, "reflect"),
    ((1, 2, 6, 7), (2, 2, 3, 3), 2, "same", (2, 1), 1, "reflect"),
    ((2, 3, 7, 6), (4, 3, 3, 3), 2, 2, 1, 1, "circular"),
    ((1, 2, 4, 4), (2, 1, 3, 3), 1, 4, 1, 2, "circular"),  # padding == size
    ((2, 2, 5, 6), (2, 1, 2, 2), 1, ((0, 1), (1, 0)), 1, 2, "replicate"),
    ((1, 2, 5, 5), (3, 2, 3, 3), 1, "full", 1, 1, "replicate"),
]


def _ids(cfg):
    return f"x{cfg[0]}-w{cfg[1]}-s{cfg[2]}-p{cfg[3]}-d{cfg[4]}-g{cfg[5]}-{cfg[6]}"


def _random_case(cfg, rng, dtype=np.float64):
    xs, ws, stride, padding, dilation, groups, mode = cfg
    s, p, d = _geometry(ws, stride, padding, dilation)
    ho, wo = out_hw(xs[2:], ws[2:], s, p, d)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    gy = rng.standard_normal((xs[0], ws[0], ho, wo)).astype(dtype)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    return x, w, gy, (s, p, d, groups, mode), kwargs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_matches_plain_loop_reference(cfg, dtype, strategy):
    rng = np.random.default_rng(abs(hash(_ids(cfg))) % 2**32)
    x, w, gy, geo, kwargs = _random_case(cfg, rng, dtype)
    got = conv2d_backward(gy, x, w, **kwargs)
    want = conv2d_grads_ref(gy, x, w, *geo)
    for name, g, r in zip(("input", "weight", "bias"), got, want):
        assert g.dtype == dtype and g.shape == r.shape, name
        scale = max(1.0, np.abs(r).max())
        np.testing.assert_allclose(g, r, rtol=RTOL[dtype], atol=ATOL[dtype] * scale, err_msg=name)


def _loss(x, w, b, gy, geo):
    return float(np.sum(conv2d_fast_ref(x, w, b, *geo) * gy))


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_finite_differences_directional(cfg):
    """<grad, v> equals the central difference of L = sum(conv2d(x, w, b) * g) along v."""
    rng = np.random.default_rng(7)
    x, w, gy, geo, kwargs = _random_case(cfg, rng)
    b = rng.standard_normal(w.shape[0])
    dx, dw, db = conv2d_backward(gy, x, w, **kwargs)
    eps = 1e-3
    for _ in range(2):
        vx, vw, vb = rng.standard_normal(x.shape), rng.standard_normal(w.shape), rng.standard_normal(b.shape)
        fd_x = (_loss(x + eps * vx, w, b, gy, geo) - _loss(x - eps * vx, w, b, gy, geo)) / (2 * eps)
        fd_w = (_loss(x, w + eps * vw, b, gy, geo) - _loss(x, w - eps * vw, b, gy, geo)) / (2 * eps)
        fd_b = (_loss(x, w, b + eps * vb, gy, geo) - _loss(x, w, b - eps * vb, gy, geo)) / (2 * eps)
        np.testing.assert_allclose(np.sum(dx * vx), fd_x, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(np.sum(dw * vw), fd_w, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(np.sum(db * vb), fd_b, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_finite_differences_every_element(mode):
    """Element-by-element central differences for a small padded, strided, dilated case."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 5, 4))
    w = rng.standard_normal((2, 2, 2, 3))
    b = rng.standard_normal(2)
    kwargs = dict(stride=(1, 2), padding=((2, 1), (1, 2)), dilation=(2, 1), padding_mode=mode)
    geo = ((1, 2), ((2, 1), (1, 2)), (2, 1), 1, mode)
    ho, wo = out_hw(x.shape[2:], w.shape[2:], *geo[:3])
    gy = rng.standard_normal((1, 2, ho, wo))
    dx, dw, db = conv2d_backward(gy, x, w, **kwargs)
    eps = 1e-4
    for arr, grad, which in ((x, dx, 0), (w, dw, 1), (b, db, 2)):
        fd = np.empty_like(arr)
        for idx in np.ndindex(arr.shape):
            args = [x.copy(), w.copy(), b.copy()]
            args[which][idx] += eps
            up = _loss(*args, gy, geo)
            args[which][idx] -= 2 * eps
            fd[idx] = (up - _loss(*args, gy, geo)) / (2 * eps)
        np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("compute", [("input",), ("weight",), ("bias",), ("weight", "bias"),
                                     ["input", "bias"], {"input", "weight"}, (), "weight",
                                     iter(("bias", "input"))])
@pytest.mark.parametrize("cfg", [CONFIGS[3], CONFIGS[8], CONFIGS[0]], ids=_ids)  # GEMM, per-channel, tiny
def test_compute_subsets(compute, cfg):
    rng = np.random.default_rng(1)
    x, w, gy, _, kwargs = _random_case(cfg, rng)
    full = conv2d_backward(gy, x, w, **kwargs)
    names = {compute} if isinstance(compute, str) else None
    got = conv2d_backward(gy, x, w, compute=compute, **kwargs)
    if names is None:
        names = set(got._fields) - {f for f, v in zip(got._fields, got) if v is None}
    for field, g, f in zip(got._fields, got, full):
        if field in names:
            np.testing.assert_allclose(g, f, rtol=1e-14, atol=1e-14)
        else:
            assert g is None, field
    assert type(got).__name__ == "Conv2dGradients" and got._fields == ("input", "weight", "bias")


def test_compute_subset_exact_names():
    rng = np.random.default_rng(2)
    x, w, gy, _, kwargs = _random_case(CONFIGS[1], rng)
    got = conv2d_backward(gy, x, w, compute=("bias", "input"), **kwargs)
    assert got.weight is None and got.input is not None and got.bias is not None
    got = conv2d_backward(gy, x, w, compute=(), **kwargs)
    assert got == (None, None, None)


def test_notes_edge_detector_numbers():
    """The notes' 6x8 example: X has a 0-band in the middle, K = [1, -1]."""
    x = np.ones((1, 1, 6, 8))
    x[:, :, :, 2:6] = 0
    k = np.array([[[[1.0, -1.0]]]])
    y = conv2d_fast_ref(x, k)
    assert y[0, 0, 0].tolist() == [0, 1, 0, 0, 0, -1, 0]
    g = conv2d_backward(2 * y, x, k)  # gradient of sum(y**2)
    # d/dk0 = sum 2*y*x[:, j], d/dk1 = sum 2*y*x[:, j+1]: each row gives 2*(0*..) ...
    np.testing.assert_allclose(g.weight.ravel(), [12.0, -12.0])
    np.testing.assert_allclose(g.bias, [0.0])
    np.testing.assert_allclose(g.input[0, 0, 0], [0, 2, -2, 0, 0, -2, 2, 0])


def test_adjoint_identity_and_transpose_is_input_gradient():
    rng = np.random.default_rng(5)
    for cfg in CONFIGS:
        x, w, gy, geo, kwargs = _random_case(cfg, rng)
        if kwargs["padding_mode"] != "zeros":
            continue
        lhs = np.sum(conv2d_fast_ref(x, w, None, *geo) * gy)
        del kwargs["padding_mode"]
        # output_padding recovers the input size that the strided forward rounded away
        ho, wo = gy.shape[2:]
        s, p, d = geo[:3]
        op = tuple(n - ((o - 1) * st - sum(pp) + dd * (k - 1) + 1)
                   for n, o, st, pp, dd, k in zip(x.shape[2:], (ho, wo), s, p, d, w.shape[2:]))
        xt = conv_transpose2d(gy, w, output_padding=op, **kwargs) if max(
            o - max(st, dd) for o, st, dd in zip(op, s, d)) < 0 else None
        dx = conv2d_backward(gy, x, w, compute="input", **kwargs).input
        np.testing.assert_allclose(np.sum(x * dx), lhs, rtol=1e-11)
        if xt is not None:
            np.testing.assert_allclose(xt, dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,expected", [
    (np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float16),
    (np.int32, np.float64), (np.uint8, np.float64), (np.bool_, np.float64),
])
def test_dtypes(dtype, expected):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((2, 2, 5, 5)) * 3).astype(dtype)
    w = (rng.standard_normal((3, 2, 3, 3)) * 3).astype(dtype)
    gy = (rng.standard_normal((2, 3, 5, 5)) * 3).astype(dtype)
    got = conv2d_backward(gy, x, w, padding=1)
    want = conv2d_grads_ref(gy, x, w, padding=((1, 1), (1, 1)))
    tol = {np.float16: 2e-2, np.float32: 1e-5}.get(expected, 1e-12)
    for g, r in zip(got, want):
        assert g.dtype == expected
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol * np.abs(r).max())


def test_mixed_dtypes_promote():
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 2, 2), np.float32)
    got = conv2d_backward(np.ones((1, 1, 3, 3), np.float64), x, w)
    assert all(g.dtype == np.float64 for g in got)
    got = conv2d_backward(np.ones((1, 1, 3, 3), np.float16), x, w)
    assert all(g.dtype == np.float32 for g in got)


def test_unbatched_and_empty_batch():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((4, 6, 5))
    got = conv2d_backward(gy, x, w, padding=1)
    want = conv2d_backward(gy[None], x[None], w, padding=1)
    assert got.input.shape == (3, 6, 5)
    np.testing.assert_array_equal(got.input, want.input[0])
    np.testing.assert_array_equal(got.weight, want.weight)
    empty = conv2d_backward(np.zeros((0, 4, 6, 5)), np.zeros((0, 3, 6, 5)), w, padding=1)
    assert empty.input.shape == (0, 3, 6, 5)
    np.testing.assert_array_equal(empty.weight, np.zeros_like(w))
    np.testing.assert_array_equal(empty.bias, np.zeros(4))


def test_memory_layouts_and_inputs_untouched():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 4, 7, 6))
    want = conv2d_backward(gy, x, w, padding=1)
    copies = [a.copy() for a in (x, w, gy)]
    xf = np.asfortranarray(x)
    wb = w.astype(w.dtype.newbyteorder())  # same values, swapped byte order
    assert not wb.dtype.isnative
    assert np.array_equal(wb, w)
    gneg = gy[:, :, ::-1, ::-1].copy()[:, :, ::-1, ::-1]  # negative strides
    gro = gy.copy()
    gro.flags.writeable = False
    for args in ((gy, xf, w), (gy, x, wb), (gneg, x, w), (gro, x, w)):
        got = conv2d_backward(*args, padding=1)
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-13)
    for a, c in zip((x, w, gy), copies):
        np.testing.assert_array_equal(a, c)
    got = conv2d_backward(gy.tolist(), x.tolist(), w.tolist(), padding=1)  # array-likes
    np.testing.assert_allclose(got.input, want.input, rtol=1e-13)


@pytest.mark.parametrize("cfg", [
    ((4, 8, 20, 20), (8, 8, 3, 3), 1, 1, 1, 1, "zeros"),
    ((4, 8, 20, 20), (8, 1, 3, 3), 2, 1, 1, 8, "zeros"),
    ((3, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1, 1, "zeros"),
], ids=_ids)
def test_thread_counts_agree(cfg):
    rng = np.random.default_rng(9)
    x, w, gy, _, kwargs = _random_case(cfg, rng, np.float32)
    old = cyconv.get_num_threads()
    try:
        cyconv.set_num_threads(1)
        one = conv2d_backward(gy, x, w, **kwargs)
        cyconv.set_num_threads(2)
        two = conv2d_backward(gy, x, w, **kwargs)
    finally:
        cyconv.set_num_threads(old)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())


@pytest.mark.parametrize("stride", [1, 2])
def test_workspace_limit_changes_nothing(stride):
    """The engine's panels are per thread and cache-sized: any workspace limit gives the
    same bits."""
    rng = np.random.default_rng(10)
    cfg = ((2, 4, 30, 30), (5, 4, 3, 3), stride, 1, 1, 1, "zeros")
    x, w, gy, geo, kwargs = _random_case(cfg, rng)
    want = conv2d_grads_ref(gy, x, w, *geo)
    base = conv2d_backward(gy, x, w, **kwargs)
    old = cyconv.set_workspace_limit(36 * 30 * 8 * 4)
    try:
        got = conv2d_backward(gy, x, w, **kwargs)
    finally:
        cyconv.set_workspace_limit(old)
    for a, b, r in zip(got, base, want):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------
# PyTorch as a second oracle


def _torch_padding(padding):
    """(F.pad argument, conv padding) for torch: explicit pads go through F.pad."""
    (t, b), (l, r) = padding
    return (l, r, t, b)


@pytest.mark.parametrize("seed", range(12))
def test_against_torch_autograd(seed):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(100 + seed)
    groups = int(rng.integers(1, 4))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    stride, dilation = tuple(int(v) for v in rng.integers(1, 3, 2)), tuple(int(v) for v in rng.integers(1, 3, 2))
    h, w_ = (int(v) for v in rng.integers(6, 10, 2))
    mode = ["zeros", "reflect", "replicate", "circular"][seed % 4]
    padding = ((int(rng.integers(0, 3)), int(rng.integers(0, 3))), (int(rng.integers(0, 3)), int(rng.integers(0, 3))))
    dtype = np.float64 if seed % 2 else np.float32
    x = rng.standard_normal((2, cin, h, w_)).astype(dtype)
    wt = rng.standard_normal((cout, cin // groups, kh, kw)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    X, W, B = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    torch_mode = {"zeros": "constant", "replicate": "replicate", "reflect": "reflect", "circular": "circular"}[mode]
    Y = F.conv2d(F.pad(X, _torch_padding(padding), mode=torch_mode), W, B, stride=stride,
                 dilation=dilation, groups=groups)
    G = torch.tensor(rng.standard_normal(tuple(Y.shape)).astype(dtype))
    Y.backward(G)
    got = conv2d_backward(G.numpy(), x, wt, stride=stride, padding=padding, dilation=dilation,
                          groups=groups, padding_mode=mode)
    tol = RTOL[dtype] * 10
    for g, t in zip(got, (X.grad, W.grad, B.grad)):
        t = t.numpy()
        np.testing.assert_allclose(g, t, rtol=tol, atol=tol * max(1.0, np.abs(t).max()))


# ---------------------------------------------------------------------------------
# Errors


def _ok():
    return np.ones((1, 2, 3, 3)), np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3))


ERRORS = [
    (dict(grad_output=np.ones((1, 3, 3, 4))), ValueError, r"forward output shape \(1, 3, 3, 3\), got shape \(1, 3, 3, 4\)"),
    (dict(grad_output=np.ones((3, 3, 3))), ValueError, r"forward output shape \(1, 3, 3, 3\)"),
    (dict(grad_output=np.ones((1, 2, 3, 3)), padding=1), ValueError, r"\(1, 3, 5, 5\), got shape \(1, 2, 3, 3\)"),
    (dict(compute=("input", "grad")), ValueError, r"compute may only name .*'grad'"),
    (dict(compute="inputs"), ValueError, r"compute may only name"),
    (dict(compute=("input", 1)), ValueError, r"compute may only name"),
    (dict(compute=5), TypeError, r"compute must be an iterable"),
    (dict(compute=None), TypeError, r"compute must be an iterable"),
    (dict(grad_output=np.ones((1, 3, 3, 3), complex)), TypeError, r"grad_output must have a real numeric dtype"),
    (dict(grad_output=np.array([["a"]])), TypeError, r"grad_output"),
    (dict(x=np.ones((1, 3, 5, 5))), ValueError, r"input has 3 channels"),
    (dict(weight=np.ones((3, 2, 3))), ValueError, r"weight must have shape"),
    (dict(stride=1.5), TypeError, r"stride must be an integer"),
    (dict(stride=0), ValueError, r"stride must be >= 1"),
    (dict(groups=2), ValueError, r"groups=2 must divide"),
    (dict(padding_mode="mirror"), ValueError, r"padding_mode must be one of"),
    (dict(padding=5, padding_mode="reflect", grad_output=np.ones((1, 3, 13, 13))), ValueError, r"reflect"),
    (dict(weight=np.ones((3, 2, 7, 7))), ValueError, r"output height = .* < 1"),
]


@pytest.mark.parametrize("overrides,exc,match", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors(overrides, exc, match):
    gy, x, w = _ok()
    args = dict(grad_output=gy, x=x, weight=w)
    for key in ("grad_output", "x", "weight"):
        if key in overrides:
            args[key] = overrides.pop(key)
    with pytest.raises(exc, match=match):
        conv2d_backward(args["grad_output"], args["x"], args["weight"], **overrides)


def test_reference_transposed_matches_reference_gradient():
    """The two references agree with each other (guards the references themselves)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((4, 2, 3, 2))
    gy = rng.standard_normal((1, 4, 2, 5))
    dx, _, _ = conv2d_grads_ref(gy, x, w, (2, 1), ((1, 0), (0, 0)), (1, 1))
    xt = conv_transpose2d_ref(gy, w, stride=(2, 1), padding=((1, 0), (0, 0)), output_padding=(1, 0))
    assert xt.shape == dx.shape == x.shape
    np.testing.assert_allclose(xt, dx, rtol=1e-13)


@pytest.mark.parametrize("variant", kernel_sets())
@pytest.mark.parametrize("cfg", CONFIGS[::3], ids=_ids)
def test_kernel_builds_agree(cfg, variant):
    """Every kernel set the CPU runs (portable C, AVX2+FMA, AVX-512F), on both routes."""
    rng = np.random.default_rng(13)
    x, w, gy, geo, kwargs = _random_case(cfg, rng, np.float32)
    want = conv2d_grads_ref(gy, x, w, *geo)
    for route in (variant, "gemm"):
        for _ in engine_route(route):
            got = conv2d_backward(gy, x, w, **kwargs)
            for g, r in zip(got, want):
                np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-5 * max(1.0, np.abs(r).max()))


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_adjoint_identity_with_forward_conv2d(cfg):
    """<conv2d(x), g> == <x, dL/dx> and <conv2d(x; w), g> == <w, dL/dw> with cyconv.conv2d."""
    rng = np.random.default_rng(14)
    x, w, gy, _, kwargs = _random_case(cfg, rng)
    y = cyconv.conv2d(x, w, **kwargs)
    assert y.shape == gy.shape
    dx, dw, db = conv2d_backward(gy, x, w, **kwargs)
    lhs = np.sum(y * gy)
    np.testing.assert_allclose(np.sum(dw * w), lhs, rtol=1e-11)  # conv2d is linear in w
    np.testing.assert_allclose(np.sum(dx * x), lhs, rtol=1e-11)  # and in x (every padding mode is linear)
    np.testing.assert_allclose(np.sum(cyconv.conv2d(x, w, np.ones(w.shape[0]), **kwargs) * gy) - lhs,
                               db.sum(), rtol=1e-10, atol=1e-10)
