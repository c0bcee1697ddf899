"""The convolution engine (cyconv._engine, src/engine/): edge tiles, every packing path,
NCHW and NHWC, each kernel set, thread counts, non-finite values, workspace limits and
degenerate sizes, against the plain-loop reference and PyTorch."""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from reference_conv import ref_conv2d

import cyconv
from cyconv import _engine

torch = pytest.importorskip("torch")

TOL = {np.dtype(np.float64): 1e-11, np.dtype(np.float32): 3e-5}


def close(got, ref):
    tol = TOL[np.dtype(got.dtype)]
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=tol, atol=tol * scale)


def torch_conv(x, w, b, stride, pads, dilation, groups):
    """PyTorch's conv2d in float64, asymmetric zero padding applied with np.pad."""
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    return torch.nn.functional.conv2d(
        torch.from_numpy(xp), torch.from_numpy(w.astype(np.float64)),
        None if b is None else torch.from_numpy(b.astype(np.float64)),
        stride=stride, dilation=dilation, groups=groups).numpy()


def engine(x, w, b, stride, pads, dilation, groups, nhwc, limit=64 << 20, path=0):
    """One engine call on NCHW arrays (NHWC: permuted in, the result permuted back)."""
    n, _, h, wd = x.shape
    kh, kw = w.shape[2:]
    (pt, pb), (pl, pr) = pads
    ho = (h + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    geom = (kh, kw, stride[0], stride[1], dilation[0], dilation[1], pt, pl, ho, wo)
    if nhwc:
        xi = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        y = np.full((n, ho, wo, w.shape[0]), np.nan, x.dtype)
        _engine.conv2d_forward(xi, w, b, y, geom, groups, True, limit, path)
        return y.transpose(0, 3, 1, 2)
    y = np.full((n, w.shape[0], ho, wo), np.nan, x.dtype)
    _engine.conv2d_forward(x, w, b, y, geom, groups, False, limit, path)
    return y


def make(n, c, h, w, co, kh, kw, groups, dtype, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((co, c // groups, kh, kw)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype) if bias else None
    return x, wt, b


# Shapes whose M (output channels per group), N (positions) and K (taps) straddle the
# register tiles (MR 6/8, NR 4..32) and the cache blocks (KC 128/256): K = 270, 513, ...
EDGE = [
    # n, c, h, w, co, kh, kw, groups, stride, pads, dilation
    (2, 30, 9, 11, 13, 3, 3, 1, (1, 1), ((1, 1), (1, 1)), (1, 1)),   # K 270 > KC
    (1, 57, 7, 5, 9, 3, 3, 1, (1, 1), ((2, 0), (0, 2)), (1, 1)),     # K 513: 3 KC blocks f64
    (3, 4, 13, 17, 70, 2, 3, 2, (2, 1), ((0, 1), (2, 1)), (1, 2)),   # M 35 per group
    (2, 6, 5, 33, 7, 1, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1)),     # 1x1, N 165
    (1, 3, 1, 97, 1, 1, 5, 1, (1, 3), ((0, 0), (4, 4)), (1, 1)),     # M 1, stride 3
    (2, 9, 10, 10, 33, 3, 3, 3, (3, 2), ((4, 2), (1, 3)), (2, 3)),   # groups 3, big pads
    (1, 2, 4, 4, 5, 3, 3, 1, (1, 1), ((3, 3), (3, 3)), (3, 3)),      # taps reading only padding
    (5, 1, 6, 6, 3, 5, 5, 1, (1, 1), ((2, 2), (2, 2)), (1, 1)),      # one input channel, 3 outs
    (2, 8, 9, 7, 16, 3, 3, 8, (1, 2), ((1, 1), (0, 1)), (1, 1)),     # cg 1, 2 outs per group
    (2, 8, 9, 7, 8, 3, 3, 8, (2, 1), ((1, 0), (1, 1)), (2, 1)),      # depthwise
    (1, 64, 3, 3, 40, 3, 3, 1, (1, 1), ((1, 1), (1, 1)), (1, 1)),    # N 9 < NR
    (2, 3, 12, 30, 5, 9, 11, 1, (1, 2), ((4, 4), (5, 5)), (1, 1)),   # NHWC runs merged over taps, K 297
    (37, 70, 1, 1, 45, 1, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1)),   # (N, C, 1, 1): a Linear layer
    (9, 12, 1, 1, 6, 1, 1, 3, (1, 1), ((0, 0), (0, 0)), (1, 1)),     # the same, grouped
    # depthwise rows and channel runs wide enough for the vector kernels: 4 vectors in
    # flight and a partial group of them, the last vector overlapping its neighbour
    (2, 40, 5, 70, 40, 3, 3, 40, (1, 1), ((1, 1), (1, 1)), (1, 1)),  # 68 inner columns, 40 ch
    (1, 17, 6, 18, 17, 3, 3, 17, (1, 1), ((1, 1), (1, 1)), (1, 1)),  # exactly 16 inner columns
    (1, 130, 3, 35, 260, 3, 5, 130, (1, 1), ((0, 2), (2, 2)), (1, 2)),  # 2 outs per group, dilated
]


@pytest.mark.parametrize("case", EDGE, ids=lambda c: "x".join(map(str, c[:8])))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nhwc", [False, True], ids=["NCHW", "NHWC"])
def test_edge_tiles_vs_torch(case, dtype, nhwc, kernel_set):
    n, c, h, w, co, kh, kw, groups, stride, pads, dilation = case
    x, wt, b = make(n, c, h, w, co, kh, kw, groups, dtype, seed=sum(case[:8]))
    ref = torch_conv(x, wt, b, stride, pads, dilation, groups)
    for limit in (64 << 20, 0):  # the default panels and the smallest (one micro-panel)
        close(engine(x, wt, b, stride, pads, dilation, groups, nhwc, limit), ref)


@pytest.mark.parametrize("case", EDGE[::3], ids=lambda c: "x".join(map(str, c[:8])))
def test_plain_loop_reference(case):
    n, c, h, w, co, kh, kw, groups, stride, pads, dilation = case
    x, wt, b = make(n, c, h, w, co, kh, kw, groups, np.float64, seed=3)
    ref = ref_conv2d(x, wt, b, stride, pads, dilation, groups)
    for nhwc in (False, True):
        close(engine(x, wt, b, stride, pads, dilation, groups, nhwc), ref)


def _random_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(rng.choice([1, 1, 2, 3, 4]))
        cg, cog = (int(v) for v in rng.integers(1, 7, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        d = tuple(int(v) for v in rng.integers(1, 4, size=2))
        h, w = (int(v) for v in rng.integers(1, 14, size=2))
        pads = tuple(tuple(int(v) for v in rng.integers(0, 5, size=2)) for _ in range(2))
        ho = (h + sum(pads[0]) - d[0] * (kh - 1) - 1) // s[0] + 1
        wo = (w + sum(pads[1]) - d[1] * (kw - 1) - 1) // s[1] + 1
        if ho >= 1 and wo >= 1:
            cases.append((int(rng.integers(1, 4)), cg * groups, h, w, cog * groups, kh, kw,
                          groups, s, pads, d))
    return cases


@pytest.mark.parametrize("case", _random_cases(60, 8), ids=lambda c: "x".join(map(str, c[:8])))
def test_packing_paths_vs_torch(case):
    """Random stride / dilation / asymmetric padding / groups, both layouts, both paths."""
    n, c, h, w, co, kh, kw, groups, stride, pads, dilation = case
    for dtype in (np.float64, np.float32):
        x, wt, b = make(n, c, h, w, co, kh, kw, groups, dtype, seed=len(case))
        ref = torch_conv(x, wt, b, stride, pads, dilation, groups)
        for nhwc, path in itertools.product((False, True), (0, 1, 2)):
            close(engine(x, wt, b, stride, pads, dilation, groups, nhwc, path=path), ref)


def test_nhwc_public_api_matches_nchw():
    x, w, b = make(3, 6, 9, 8, 10, 3, 2, 2, np.float32, seed=4)
    kw = dict(stride=(2, 1), padding=((1, 2), (0, 1)), dilation=(1, 2), groups=2)
    nchw = cyconv.conv2d(x, w, b, **kw)
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    nhwc = cyconv.conv2d(xh, w, b, layout="NHWC", **kw)
    assert nhwc.shape == (3,) + nchw.shape[2:] + (10,)
    close(nhwc.transpose(0, 3, 1, 2), nchw.astype(np.float64))
    one = cyconv.conv2d(xh[0], w, b, layout="NHWC", **kw)  # an unbatched (H, W, C) image
    np.testing.assert_array_equal(one, nhwc[0])
    out = np.empty_like(nhwc)
    assert cyconv.conv2d(xh, w, b, layout="NHWC", out=out, **kw) is out
    np.testing.assert_array_equal(out, nhwc)
    for mode in ("reflect", "replicate", "circular"):
        ref = cyconv.conv2d(x, w, b, padding=1, padding_mode=mode, groups=2)
        got = cyconv.conv2d(xh, w, b, padding=1, padding_mode=mode, groups=2, layout="NHWC")
        close(got.transpose(0, 3, 1, 2), ref.astype(np.float64))


def test_nhwc_pointwise_is_a_linear_layer():
    """A 1x1 stride-1 NHWC conv over (N, 1, 1, C) is x @ W.T + b."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 1, 1, 70))
    w = rng.standard_normal((45, 70, 1, 1))
    b = rng.standard_normal(45)
    y = cyconv.conv2d(x, w, b, layout="NHWC")
    close(y.reshape(37, 45), x.reshape(37, 70) @ w.reshape(45, 70).T + b)


@pytest.mark.parametrize("layout, exc, match", [
    ("nhwc", ValueError, "did you mean 'NHWC'"),
    ("CHW", ValueError, "layout must be 'NCHW' or 'NHWC'"),
    (1, TypeError, "layout must be a string"),
])
def test_layout_errors(layout, exc, match):
    with pytest.raises(exc, match=match):
        cyconv.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), layout=layout)


def test_nhwc_shape_errors():
    with pytest.raises(ValueError, match=r"\(N, H, W, C_in\)"):
        cyconv.conv2d(np.ones((3, 3)), np.ones((1, 1, 2, 2)), layout="NHWC")
    with pytest.raises(ValueError, match="channels"):
        cyconv.conv2d(np.ones((1, 4, 4, 3)), np.ones((1, 2, 2, 2)), layout="NHWC")


# ------------------------------------------------------------------- kernel sets


@pytest.mark.parametrize("name", _engine.KERNEL_SETS)
def test_each_build_forced_by_environment(name):
    """CYCONV_KERNELS forces a build at import; show_config names it; a build the CPU
    lacks is an ImportError that says so."""
    code = ("import numpy as np, cyconv\n"
            "cyconv.show_config()\n"
            "x = np.arange(2*3*9*9, dtype=np.float32).reshape(2, 3, 9, 9) / 100\n"
            "w = np.arange(5*3*3*3, dtype=np.float32).reshape(5, 3, 3, 3) / 50\n"
            "np.save(__import__('sys').stdout.buffer, cyconv.conv2d(x, w, padding=1))\n")
    env = dict(os.environ, CYCONV_KERNELS=name)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    if name not in _engine.supported_kernels():
        assert proc.returncode != 0
        assert b"ImportError" in proc.stderr and b"cannot run the" in proc.stderr
        pytest.skip(f"this CPU or build cannot run the {name} kernels (ImportError checked)")
    assert proc.returncode == 0, proc.stderr.decode()
    text, _, data = proc.stdout.partition(b"\x93NUMPY")
    assert f"kernels:     {name} (float32 ".encode() in text
    import io

    got = np.load(io.BytesIO(b"\x93NUMPY" + data))
    x = np.arange(2 * 3 * 9 * 9, dtype=np.float32).reshape(2, 3, 9, 9) / 100
    w = np.arange(5 * 3 * 3 * 3, dtype=np.float32).reshape(5, 3, 3, 3) / 50
    close(got, torch_conv(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1))


def test_unknown_kernel_set_is_an_import_error():
    env = dict(os.environ, CYCONV_KERNELS="sse9")
    proc = subprocess.run([sys.executable, "-c", "import cyconv"], env=env, capture_output=True)
    assert proc.returncode != 0 and b"unknown kernel set" in proc.stderr


def test_kernel_sets_agree():
    x, w, b = make(2, 40, 11, 13, 24, 3, 3, 1, np.float64, seed=5)
    results = {}
    for name in _engine.supported_kernels():
        old = _engine._select_for_tests(name)
        try:
            results[name] = cyconv.conv2d(x, w, b, padding=1)
        finally:
            _engine._select_for_tests(old)
    ref = torch_conv(x, w, b, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    for got in results.values():
        close(got, ref)


# ------------------------------------------------------------------------ threads


@pytest.mark.parametrize("case", [
    (4, 32, 20, 20, 48, 3, 3, 1, False),   # GEMM
    (4, 32, 20, 20, 48, 3, 3, 1, True),
    (3, 16, 30, 30, 16, 3, 3, 16, False),  # depthwise, direct
    (3, 16, 30, 30, 16, 3, 3, 16, True),
    (1, 64, 14, 14, 96, 3, 3, 1, False),   # batch 1: tiles split over channels
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_counts(case, dtype):
    *shape, groups, nhwc = case
    x, w, b = make(*shape, groups, dtype, seed=6)
    if nhwc:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    layout = "NHWC" if nhwc else "NCHW"
    old = cyconv.get_num_threads()
    results = []
    try:
        for t in (1, 2, 3, 4):
            cyconv.set_num_threads(t)
            first = cyconv.conv2d(x, w, b, padding=1, groups=groups, layout=layout)
            again = cyconv.conv2d(x, w, b, padding=1, groups=groups, layout=layout)
            np.testing.assert_array_equal(first, again)  # bit-identical when repeated
            results.append(first)
    finally:
        cyconv.set_num_threads(old)
    for r in results[1:]:
        close(r, results[0].astype(np.float64))


# ----------------------------------------------------------------- non-finite values


@pytest.mark.parametrize("where", ["x_edge", "x_mid", "w_corner", "w_nan", "bias"])
@pytest.mark.parametrize("groups, co", [(1, 5), (4, 4), (4, 8)])
@pytest.mark.parametrize("nhwc", [False, True], ids=["NCHW", "NHWC"])
def test_non_finite_like_torch(where, groups, co, nhwc):
    """Padding is stored zeros under IEEE arithmetic: inf * 0 = NaN, as in PyTorch."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 5, 6))
    w = rng.standard_normal((co, 4 // groups, 3, 3))
    b = rng.standard_normal(co)
    if where == "x_edge":
        x[0, 1, 0, 0] = np.inf
        x[1, 0, 4, 5] = -np.inf
    elif where == "x_mid":
        x[0, 2, 2, 3] = np.nan
    elif where == "w_corner":
        w[1, 0, 0, 0] = np.inf  # reads padding on the top row / left column: NaN there
    elif where == "w_nan":
        w[0, 0, 2, 1] = np.nan
    else:
        b[2] = np.inf
    pads = ((1, 1), (2, 1))
    ref = torch_conv(x, w, b, (1, 1), pads, (1, 1), groups)
    for path in (1, 2):
        got = engine(x, w, b, (1, 1), pads, (1, 1), groups, nhwc, path=path)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(ref))
        finite = np.isfinite(ref)
        close(got[finite], ref[finite])


def test_inf_weight_over_padding_only_gives_nan():
    """A tap that reads only padding is not dropped: its inf weight makes NaN (PyTorch)."""
    x = np.ones((1, 1, 2, 2))
    w = np.zeros((1, 1, 3, 3))
    w[0, 0, 0, 0] = np.inf  # with padding 3 and dilation 3 this tap only reads padding
    got = cyconv.conv2d(x, w, padding=3, dilation=3)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=3,
                                     dilation=3).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert np.isnan(got).any()


# ---------------------------------------------------------------- workspace limits


@pytest.mark.parametrize("nhwc", [False, True], ids=["NCHW", "NHWC"])
def test_workspace_limit_sweep_identical(nhwc):
    x, w, b = make(3, 20, 15, 17, 24, 3, 3, 2, np.float32, seed=9)
    args = (x, w, b, (1, 2), ((1, 0), (2, 1)), (1, 1), 2, nhwc)
    ref = engine(*args)
    for limit in list(range(0, 4097, 64)) + [1, 3, 5000, 1 << 16, 1 << 20, 1 << 30, 1 << 62]:
        np.testing.assert_array_equal(engine(*args, limit=limit), ref)
    old = cyconv.set_workspace_limit(0)
    try:
        np.testing.assert_array_equal(cyconv.conv2d(x, w, b, stride=(1, 2), groups=2,
                                                    padding=((1, 0), (2, 1))),
                                      ref if not nhwc else engine(*args[:-1], False))
    finally:
        cyconv.set_workspace_limit(old)


# ------------------------------------------------------------------ degenerate sizes


@pytest.mark.parametrize("nhwc", [False, True])
def test_empty_batch(nhwc):
    x = np.ones((0, 6, 7) + (3,)) if nhwc else np.ones((0, 3, 6, 7))
    y = cyconv.conv2d(x, np.ones((4, 3, 3, 3)), padding=1, layout="NHWC" if nhwc else "NCHW")
    assert y.shape == ((0, 6, 7, 4) if nhwc else (0, 4, 6, 7))


@pytest.mark.parametrize("nhwc", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_no_input_channels_gives_the_bias(nhwc, bias):
    """C_in = 0 (weight (C_out, 0, kh, kw)): K = 0, the result is the bias broadcast."""
    x = np.ones((2, 0, 5, 4))
    w = np.ones((3, 0, 2, 2))
    b = np.array([1.5, -2.0, 0.25]) if bias else None
    y = engine(x, w, b, (1, 1), ((0, 0), (0, 0)), (1, 1), 1, nhwc)
    expected = np.broadcast_to((b if bias else np.zeros(3))[None, :, None, None], (2, 3, 4, 3))
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("nhwc", [False, True])
@pytest.mark.parametrize("groups, co", [(1, 2), (2, 2)])
def test_empty_spatial_axis_reads_only_padding(nhwc, groups, co):
    """H = 0 or W = 0 with padding that still gives outputs: every window reads padding."""
    for h, w in ((0, 4), (3, 0), (0, 0)):
        x = np.ones((2, 2, h, w))
        wt = np.full((co, 2 // groups, 3, 3), 2.0)
        wt[0, 0, 1, 1] = np.inf
        b = np.arange(1.0, co + 1)
        y = engine(x, wt, b, (1, 1), ((2, 2), (1, 1)), (1, 1), groups, nhwc, path=1)
        ho, wo = h + 2, w
        assert y.shape == (2, co, ho, wo)
        expected = np.broadcast_to(b[None, :, None, None], y.shape).copy()
        expected[:, 0] = np.nan  # its inf weight times a padding zero
        np.testing.assert_array_equal(y, expected)


# ------------------------------------------------------------- correlate2d axes


def test_correlate_axes_filters_each_channel():
    rng = np.random.default_rng(10)
    img = rng.standard_normal((9, 11, 3))
    k = rng.standard_normal((3, 2))
    got = cyconv.correlate2d(img, k, axes=(0, 1), padding=1, stride=(1, 2))
    for ch in range(3):
        close(got[..., ch], cyconv.correlate2d(img[..., ch], k, padding=1, stride=(1, 2)))
    conv = cyconv.convolve2d(img, k, axes=(0, 1), padding="full")
    for ch in range(3):
        close(conv[..., ch], cyconv.convolve2d(img[..., ch], k, padding="full"))


@pytest.mark.parametrize("axes", [(1, 2), (-2, -1), (2, 1), (0, 2), (1, 3), (3, 0)])
def test_correlate_axes_any_pair(axes):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 5, 6, 4)).astype(np.float32)
    k = rng.standard_normal((2, 3)).astype(np.float32)
    got = cyconv.correlate2d(x, k, axes=axes, padding=((1, 0), (0, 2)), padding_mode="replicate")
    moved = np.moveaxis(x, axes, (-2, -1))
    ref = np.moveaxis(cyconv.correlate2d(moved, k, padding=((1, 0), (0, 2)),
                                         padding_mode="replicate"), (-2, -1), axes)
    assert got.dtype == np.float32 and got.shape == ref.shape
    close(got, ref.astype(np.float64))
    out = np.empty(ref.shape, np.float32)
    assert cyconv.correlate2d(x, k, axes=axes, padding=((1, 0), (0, 2)),
                              padding_mode="replicate", out=out) is out
    np.testing.assert_array_equal(out, got)


@pytest.mark.parametrize("axes, exc, match", [
    ((0, 0), ValueError, "two different axes"),
    ((0, 3), ValueError, "out of range"),
    ((0,), TypeError, "pair of ints"),
    ((0, 1.0), TypeError, "pair of ints"),
])
def test_correlate_axes_errors(axes, exc, match):
    with pytest.raises(exc, match=match):
        cyconv.correlate2d(np.ones((4, 4, 3)), np.ones((2, 2)), axes=axes)
