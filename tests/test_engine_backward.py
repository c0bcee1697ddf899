"""The engine's convolution gradients (src/engine/conv_backward.*): edge tiles, every
padding/stride/dilation/groups path through the packing, NCHW and NHWC, both dtypes,
every kernel set, thread counts, non-finite values, workspace limits, degenerate sizes.

Oracles: the plain-loop references (tests/reference_conv_grad.py), PyTorch autograd, the
adjoint identities with the vectorised reference forward, float64 finite differences.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from engine_routes import engine_route, kernel_sets  # noqa: E402
from reference_conv_grad import (  # noqa: E402
    conv2d_fast_ref,
    conv2d_grads_ref,
    conv_transpose2d_ref,
    out_hw,
)

import cyconv  # noqa: E402
from cyconv import _engine, conv2d_backward, conv_transpose2d  # noqa: E402
from cyconv._shapes import _padding  # noqa: E402

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float32: 3e-5, np.float64: 1e-12}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def nchw(a):
    return a.transpose(0, 3, 1, 2)


# (x shape, weight shape, stride, padding, dilation, groups): chosen so that M, N and K of
# every GEMM miss the blocking (MR, NR, KC, MC, NC of every kernel set) and every packing
# branch runs (padding on all sides, stride > kernel, dilation, groups, 1x1, one input
# channel per group on both routes).
EDGE = [
    ((2, 13, 23, 19), (37, 13, 3, 3), 1, 1, 1, 1),       # positions > NC, M = 117
    ((1, 5, 9, 9), (300, 5, 2, 2), 1, 0, 1, 1),          # K = C_out > KC, M = C_out > MC
    ((1, 50, 8, 8), (4, 50, 3, 3), 1, 1, 1, 1),          # C_in*taps > NC
    ((2, 12, 11, 10), (18, 4, 3, 2), (2, 1), ((2, 0), (1, 3)), (1, 2), 3),
    ((2, 40, 7, 9), (33, 40, 1, 1), 1, 0, 1, 1),         # 1x1
    ((2, 6, 9, 8), (10, 3, 1, 1), 2, 1, 1, 2),           # 1x1 strided, padded, grouped
    ((1, 3, 10, 10), (4, 3, 2, 2), 3, 0, 1, 1),          # stride > kernel: cells no tap reads
    ((2, 8, 10, 9), (8, 1, 3, 3), 2, 1, 1, 8),           # depthwise
    ((2, 4, 9, 7), (12, 1, 3, 3), 1, ((0, 2), (2, 1)), (2, 1), 4),  # depthwise x3
    ((2, 6, 9, 11), (6, 1, 3, 3), 1, ((1, 2), (2, 1)), (2, 1), 6),  # depthwise, interior + borders
    ((3, 1, 12, 12), (6, 1, 5, 5), 1, 2, 1, 1),          # one input channel (direct)
    ((2, 1, 9, 10), (16, 1, 3, 3), 1, 1, 1, 1),          # one input channel (GEMM)
    ((2, 3, 5, 4), (4, 3, 3, 3), 1, "full", 1, 1),       # windows mostly in padding
    ((1, 2, 3, 3), (3, 2, 3, 3), 2, 3, 1, 1),            # taps reading only padding
]


def _ids(c):
    return f"x{c[0]}-w{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-g{c[5]}"


def _case(cfg, dtype, seed=0):
    xs, ws, stride, padding, dilation, groups = cfg
    s, d = _pair(stride), _pair(dilation)
    p = _padding(padding, ws[2:], d)
    ho, wo = out_hw(xs[2:], ws[2:], s, p, d)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    gy = rng.standard_normal((xs[0], ws[0], ho, wo)).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, w, gy, (s, p, d, groups), kw


def _torch_grads(x, w, gy, geo):
    s, p, d, groups = geo
    (t, b), (l, r) = p
    X = torch.tensor(x.astype(np.float64), requires_grad=True)
    W = torch.tensor(w.astype(np.float64), requires_grad=True)
    B = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    Y = F.conv2d(F.pad(X, (l, r, t, b)), W, B, stride=s, dilation=d, groups=groups)
    Y.backward(torch.tensor(gy.astype(np.float64)))
    return X.grad.numpy(), W.grad.numpy(), B.grad.numpy()


def _close(got, want, dtype, what=""):
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def _backward(gy, x, w, kw, layout):
    if layout == "NHWC":
        g = conv2d_backward(nhwc(gy), nhwc(x), w, layout="NHWC", **kw)
        assert g.input.shape == nhwc(x).shape and g.input.flags.c_contiguous
        return nchw(g.input), g.weight, g.bias
    return conv2d_backward(gy, x, w, **kw)


@pytest.fixture(params=["auto", "gemm"] + [k for k in ("portable", "avx2") if k in kernel_sets()])
def route(request):
    yield from engine_route(request.param)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", EDGE, ids=_ids)
def test_edge_tiles_against_torch(cfg, dtype, layout, route):
    if route in ("portable", "avx2") and EDGE.index(cfg) % 2:
        pytest.skip("the kernel sets run every other case (suite time)")
    x, w, gy, geo, kw = _case(cfg, dtype)
    got = _backward(gy, x, w, kw, layout)
    for name, g, t in zip(("input", "weight", "bias"), got, _torch_grads(x, w, gy, geo)):
        assert g.dtype == dtype
        _close(g, t, dtype, name)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("cfg", [c for c in EDGE if np.prod(c[1]) * np.prod(c[0][2:]) < 40000], ids=_ids)
def test_small_cases_against_plain_loops(cfg, layout):
    x, w, gy, geo, kw = _case(cfg, np.float64, seed=1)
    got = _backward(gy, x, w, kw, layout)
    for g, r in zip(got, conv2d_grads_ref(gy, x, w, *geo)):
        _close(g, r, np.float64)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("cfg", EDGE, ids=_ids)
def test_adjoint_identities(cfg, layout):
    """<conv(x; w), g> == <x, dL/dx> == <w, dL/dw> (conv is linear in each), float64."""
    x, w, gy, geo, kw = _case(cfg, np.float64, seed=2)
    y = conv2d_fast_ref(x, w, None, *geo)
    lhs = np.sum(y * gy)
    dx, dw, db = _backward(gy, x, w, kw, layout)
    np.testing.assert_allclose(np.sum(x * dx), lhs, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(np.sum(w * dw), lhs, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(db, gy.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", [EDGE[3], EDGE[9], EDGE[11]], ids=_ids)
def test_finite_differences_nhwc(cfg):
    """Directional central differences of L = sum(conv2d(x, w) * g), in NHWC."""
    x, w, gy, geo, kw = _case(cfg, np.float64, seed=3)
    dx, dw, _ = _backward(gy, x, w, kw, "NHWC")
    rng = np.random.default_rng(4)
    eps = 1e-3

    def loss(xx, ww):
        return float(np.sum(conv2d_fast_ref(xx, ww, None, *geo) * gy))

    for _ in range(2):
        vx, vw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
        fd_x = (loss(x + eps * vx, w) - loss(x - eps * vx, w)) / (2 * eps)
        fd_w = (loss(x, w + eps * vw) - loss(x, w - eps * vw)) / (2 * eps)
        np.testing.assert_allclose(np.sum(dx * vx), fd_x, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(np.sum(dw * vw), fd_w, rtol=1e-7, atol=1e-7)


def test_routes_agree_on_direct_geometries():
    """The direct loops and the GEMM drivers give the same gradients (one input channel
    per group: depthwise, single channel)."""
    for cfg in (EDGE[7], EDGE[8], EDGE[9], EDGE[10]):
        for layout in ("NCHW", "NHWC"):
            x, w, gy, _, kw = _case(cfg, np.float64, seed=5)
            assert _engine.backward_is_direct((x.shape[1], w.shape[0], cfg[5]))
            direct = _backward(gy, x, w, kw, layout)
            for _ in engine_route("gemm"):
                gemm = _backward(gy, x, w, kw, layout)
            for a, b in zip(direct, gemm):
                _close(a, b, np.float64)


# ---------------------------------------------------------------------------------
# conv_transpose2d (the same kernel call, the bias its initial value)

TRANSPOSE = [
    ((2, 37, 6, 7), (37, 13, 3, 3), 2, 1, 1, 1, 1),
    ((1, 300, 4, 5), (300, 5, 2, 2), 1, 0, 0, 1, 1),
    ((2, 12, 5, 6), (12, 6, 3, 2), (2, 1), ((1, 0), (0, 1)), (1, 0), (1, 2), 2),
    ((2, 8, 5, 5), (8, 1, 3, 3), 2, 1, 1, 1, 8),   # depthwise (direct loops)
    ((2, 6, 4, 4), (6, 3, 1, 1), 2, 0, 1, 1, 2),
    ((2, 40, 5, 7), (40, 9, 1, 1), 1, 0, 0, 1, 2),  # 1x1 stride 1: the GEMM writes the result
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", TRANSPOSE, ids=[str(c[:2]) for c in TRANSPOSE])
def test_conv_transpose_against_torch(cfg, dtype, layout, route):
    xs, ws, stride, padding, op, dilation, groups = cfg
    rng = np.random.default_rng(6)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1] * groups).astype(dtype)
    kw = dict(stride=stride, padding=padding, output_padding=op, dilation=dilation, groups=groups)
    pads = _padding(padding, ws[2:], _pair(dilation))
    want = conv_transpose2d_ref(x, w, b, _pair(stride), pads, _pair(op), _pair(dilation), groups) \
        if np.prod(xs) * np.prod(ws[1:]) < 200000 else None
    if pads[0][0] == pads[0][1] and pads[1][0] == pads[1][1]:
        t = F.conv_transpose2d(torch.tensor(x.astype(np.float64)), torch.tensor(w.astype(np.float64)),
                               torch.tensor(b.astype(np.float64)), stride=stride,
                               padding=(pads[0][0], pads[1][0]), output_padding=op,
                               dilation=dilation, groups=groups).numpy()
        want = t if want is None else want
        _close(want, t, np.float64)
    if layout == "NHWC":
        got = conv_transpose2d(nhwc(x), w, b, layout="NHWC", **kw)
        assert got.flags.c_contiguous
        got = nchw(got)
    else:
        got = conv_transpose2d(x, w, b, **kw)
    assert got.dtype == dtype
    _close(got, want, dtype)


# ---------------------------------------------------------------------------------
# Threads: bit-identical at every count (the tiles and the reduction chunks depend on
# the problem alone)

@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("cfg", [
    ((4, 16, 20, 20), (24, 16, 3, 3), 1, 1, 1, 1),
    ((3, 8, 17, 15), (8, 1, 3, 3), 2, 1, 1, 8),
    ((2, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1, 1),
    ((2, 64, 9, 9), (64, 64, 1, 1), 1, 0, 1, 1),
], ids=_ids)
def test_thread_counts_give_the_same_bits(cfg, layout):
    x, w, gy, geo, kw = _case(cfg, np.float32, seed=7)
    old = cyconv.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3, 4):
            cyconv.set_num_threads(n)
            first = _backward(gy, x, w, kw, layout)
            again = _backward(gy, x, w, kw, layout)
            for a, b in zip(first, again):
                np.testing.assert_array_equal(a, b)
            results.append(first)
    finally:
        cyconv.set_num_threads(old)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    for g, t in zip(results[0], _torch_grads(x, w, gy, geo)):
        _close(g, t, np.float32)


# ---------------------------------------------------------------------------------
# Non-finite values: padding behaves as stored zeros (0 * inf = NaN), on every route


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("cfg", [
    ((1, 4, 6, 6), (6, 4, 3, 3), 1, 1, 1, 1),    # GEMM
    ((1, 4, 6, 6), (4, 1, 3, 3), 1, 1, 1, 4),    # depthwise (direct)
    ((2, 1, 6, 7), (3, 1, 3, 3), 2, 2, 1, 1),    # one input channel (direct)
    ((1, 2, 3, 3), (3, 2, 3, 3), 2, 3, 1, 1),    # taps reading only padding
], ids=_ids)
@pytest.mark.parametrize("where", ["grad_output", "x", "weight"])
def test_non_finite_values_as_torch(cfg, layout, where, route):
    x, w, gy, geo, kw = _case(cfg, np.float64, seed=8)
    if where == "grad_output":
        gy[0, 0, 0, 0] = np.inf   # next to the zero padding: dW gets 0*inf = NaN
        gy[-1, -1, -1, -1] = -np.inf
    elif where == "x":
        x[0, 0, 0, 0] = np.inf
        x[-1, -1, -1, -1] = np.nan
    else:
        w[0, 0, 0, 0] = np.inf
    with np.errstate(all="ignore"):
        want = _torch_grads(x, w, gy, geo)
    with np.errstate(all="raise"):  # the kernels are silent
        got = _backward(gy, x, w, kw, layout)
    for name, g, t in zip(("input", "weight", "bias"), got, want):
        np.testing.assert_allclose(g, t, rtol=1e-10, atol=1e-10, equal_nan=True, err_msg=name)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(t), err_msg=name)
    if where == "grad_output":
        assert np.isnan(got[1]).any()


# ---------------------------------------------------------------------------------
# The workspace limit never fails and never changes a bit (issue 12, defect 3)


def test_workspace_limit_sweep():
    cases = [
        (np.ones((1, 1, 2, 2)), np.ones((1, 2, 3, 3)), np.ones((1, 2, 2, 2)), {}),  # the call
    ]
    rng = np.random.default_rng(9)
    for cfg in (EDGE[0], EDGE[7], EDGE[10]):
        x, w, gy, _, kw = _case(cfg, np.float32, seed=9)
        cases.append((gy, x, w, kw))
    x, w, gy, _, kw = _case(EDGE[3], np.float64, seed=10)
    cases.append((gy, x, w, kw))
    cases.append((rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((2, 6, 7, 3)),
                  rng.standard_normal((4, 3, 3, 3)), {"layout": "NHWC"}))
    base = [conv2d_backward(*c[:3], **c[3]) for c in cases]
    tbase = conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 2, 2, 2)))
    old = cyconv.get_workspace_limit()
    try:
        for limit in list(range(0, 4097, 16)) + [127, 128, 191, 8191, 1 << 16, 1 << 20, 1 << 30]:
            cyconv.set_workspace_limit(limit)
            for c, want in zip(cases, base):
                for a, b in zip(conv2d_backward(*c[:3], **c[3]), want):
                    np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 2, 2, 2))),
                                          tbase)
    finally:
        cyconv.set_workspace_limit(old)
    g = base[0]
    counts = np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]])  # the taps reading each cell
    np.testing.assert_array_equal(g.input, np.broadcast_to(counts, (1, 2, 3, 3)))
    np.testing.assert_array_equal(g.weight, np.full((1, 2, 2, 2), 4.0))
    np.testing.assert_array_equal(g.bias, [4.0])


# ---------------------------------------------------------------------------------
# Degenerate sizes, at the kernel (the shape checks may or may not let them through)


def _kernel(gy, x, w, geom, groups, layout_nhwc):
    dx = np.full(x.shape, np.nan, gy.dtype)
    dw = np.full(w.shape, np.nan, gy.dtype)
    db = np.full(w.shape[0], np.nan, gy.dtype)
    _engine.conv2d_backward(gy, x, w, dx, dw, db, geom, groups, layout_nhwc)
    return dx, dw, db


@pytest.mark.parametrize("nhwc_", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c_in, c_out, groups", [(3, 4, 1), (2, 2, 2), (1, 16, 1)])
def test_degenerate_sizes_at_the_kernel(nhwc_, dtype, c_in, c_out, groups):
    geom = (3, 3, 1, 1, 1, 1, 2, 2, 2, 3)  # 3x3, padding 2: a (0, 1) input gives (2, 3)
    cg = c_in // groups
    w = np.ones((c_out, cg, 3, 3), dtype)
    # no images
    x = np.ones((0, 0, 1, c_in) if nhwc_ else (0, c_in, 0, 1), dtype)
    gy = np.ones((0, 2, 3, c_out) if nhwc_ else (0, c_out, 2, 3), dtype)
    dx, dw, db = _kernel(gy, x, w, geom, groups, nhwc_)
    assert dx.size == 0
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    # an empty spatial axis: every window reads only padding
    x = np.ones((2, 0, 1, c_in) if nhwc_ else (2, c_in, 0, 1), dtype)
    gy = np.full((2, 2, 3, c_out) if nhwc_ else (2, c_out, 2, 3), 1.5, dtype)
    dx, dw, db = _kernel(gy, x, w, geom, groups, nhwc_)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, np.full(c_out, 18.0))
    gy[(0,) * 4] = np.inf
    dx, dw, db = _kernel(gy, x, w, geom, groups, nhwc_)
    oc = 0  # the inf is in output channel 0 (NCHW: [0, 0, 0, 0]; NHWC: channel axis last)
    assert np.isnan(dw[oc]).all() and not np.isnan(dw[oc + 1:]).any()
    # no input channels: dx and dw are empty, db still the sums
    x = np.ones((2, 4, 5, 0) if nhwc_ else (2, 0, 4, 5), dtype)
    w0 = np.ones((c_out, 0, 3, 3), dtype)
    gy = np.ones((2, 6, 7, c_out) if nhwc_ else (2, c_out, 6, 7), dtype)
    dx, dw, db = _kernel(gy, x, w0, (3, 3, 1, 1, 1, 1, 2, 2, 6, 7), groups, nhwc_)
    assert dx.size == dw.size == 0
    np.testing.assert_array_equal(db, np.full(c_out, 84.0))
    # no output channels: dx is zeros (K = 0)
    x = np.ones((2, 4, 5, c_in) if nhwc_ else (2, c_in, 4, 5), dtype)
    wz = np.ones((0, cg, 3, 3), dtype)
    gy = np.ones((2, 6, 7, 0) if nhwc_ else (2, 0, 6, 7), dtype)
    dx, dw, db = _kernel(gy, x, wz, (3, 3, 1, 1, 1, 1, 2, 2, 6, 7), groups, nhwc_)
    np.testing.assert_array_equal(dx, 0)
    assert dw.size == db.size == 0


def test_zero_images_both_layouts():
    w = np.ones((4, 3, 3, 3))
    for layout, xs, gs in (("NCHW", (0, 3, 6, 5), (0, 4, 6, 5)), ("NHWC", (0, 6, 5, 3), (0, 6, 5, 4))):
        g = conv2d_backward(np.zeros(gs), np.zeros(xs), w, padding=1, layout=layout)
        assert g.input.shape == xs
        np.testing.assert_array_equal(g.weight, 0)
        np.testing.assert_array_equal(g.bias, 0)


# ---------------------------------------------------------------------------------
# Layout option


def test_layout_errors_and_unbatched():
    x = np.ones((5, 6, 3))  # (H, W, C)
    w = np.ones((2, 3, 3, 3))
    g = conv2d_backward(np.ones((3, 4, 2)), x, w, layout="NHWC")
    ref = conv2d_backward(np.ones((1, 2, 3, 4)), np.ones((1, 3, 5, 6)), w)
    assert g.input.shape == (5, 6, 3)
    np.testing.assert_allclose(g.input, ref.input[0].transpose(1, 2, 0), rtol=1e-14)
    np.testing.assert_allclose(g.weight, ref.weight, rtol=1e-14)
    with pytest.raises(ValueError, match="layout must be 'NCHW' or 'NHWC'"):
        conv2d_backward(np.ones((3, 4, 2)), x, w, layout="nhwc")
    with pytest.raises(TypeError, match="layout must be a string"):
        conv_transpose2d(np.ones((1, 2, 3, 4)), w, layout=None)
    with pytest.raises(ValueError, match="forward output shape"):
        conv2d_backward(np.ones((1, 2, 3, 4)), np.ones((1, 5, 6, 3)), w, layout="NHWC")


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_nhwc_padding_modes(mode):
    x, w, gy, geo, kw = _case(((2, 3, 7, 6), (4, 3, 3, 3), 1, ((1, 2), (2, 0)), 1, 1), np.float64, 11)
    kw["padding_mode"] = mode
    want = conv2d_backward(gy, x, w, **kw)
    got = _backward(gy, x, w, kw, "NHWC")
    for a, b in zip(got, want):
        _close(a, b, np.float64)


# ---------------------------------------------------------------------------------
# Ctrl-C: a long backward stops promptly (the tiles poll, also inside a long tile)

_CHILD = """
import sys, time
import numpy as np
import cyconv
which = sys.argv[1]
shape = (2, 96, 96, 256) if sys.argv[2] == "NHWC" else (2, 256, 96, 96)
x = np.ones(shape)
w = np.ones((256, 256, 7, 7))
g = np.ones(shape)
print("started", flush=True)
t0 = time.perf_counter()
try:
    if which == "transpose":
        cyconv.conv_transpose2d(g, w, padding=3)
    else:
        cyconv.conv2d_backward(g, x, w, padding=3, compute=(which,), layout=sys.argv[2])
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - t0, flush=True)
    sys.exit(3)
print("finished", time.perf_counter() - t0, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child differs on Windows")
@pytest.mark.parametrize("which,layout", [("input", "NCHW"), ("weight", "NCHW"), ("weight", "NHWC"),
                                          ("transpose", "NCHW")])
def test_sigint_stops_a_long_backward(which, layout):
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen([sys.executable, "-c", _CHILD, which, layout], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(1.0)
        assert proc.poll() is None, "the call ended before the signal"
        os.kill(proc.pid, signal.SIGINT)
        t0 = time.perf_counter()
        out, err = proc.communicate(timeout=60)
        elapsed = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, (proc.returncode, out, err)
    assert out.startswith("interrupted"), out
    assert elapsed < 0.5, f"{elapsed:.2f} s from SIGINT to exit"
