"""conv2d: the notes' examples, fast vs reference over a grid, dtypes, layouts, out=,
workspace blocking, threads, PyTorch as a second oracle, and the error table."""

import itertools

import numpy as np
import pytest
from reference_conv import ref_conv2d

import cyconv
import cyconv._convolution as impl
from cyconv import _engine
from cyconv._shapes import _padding

# Per-dtype tolerance, relative to the largest reference magnitude.
TOL = {
    np.dtype(np.float64): 1e-12,
    np.dtype(np.float32): 2e-5,
    np.dtype(np.float16): 4e-3,
}


def assert_close(got, ref, dtype=None):
    dtype = np.dtype(dtype or got.dtype)
    tol = TOL[dtype]
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=tol,
                               atol=tol * max(1.0, float(np.abs(ref).max(initial=0.0))))


def pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def reference(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """ref_conv2d with the user-facing option forms."""
    s, d = pairs(stride), pairs(dilation)
    pads = _padding(padding, np.shape(w)[2:], d)
    return ref_conv2d(x, w, b, s, pads, d, groups, padding_mode)


# ----------------------------------------------------------------------------- notes


def test_multi_in_example():
    X = np.array([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                  [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
    K = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_array_equal(cyconv.conv2d(X, K[np.newaxis]), [[[56, 72], [104, 120]]])


def test_multi_out_example(kernel_set):
    X = np.array([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                  [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
    K = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    K = np.stack((K, K + 1, K + 2))
    assert K.shape == (3, 2, 2, 2)
    np.testing.assert_array_equal(
        cyconv.conv2d(X, K),
        [[[56, 72], [104, 120]], [[76, 100], [148, 172]], [[96, 128], [192, 224]]],
    )


def test_1x1_is_matrix_product(kernel_set):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(3, 3, 3))
    K = rng.normal(size=(2, 3, 1, 1))
    expected = (K.reshape(2, 3) @ X.reshape(3, 9)).reshape(2, 3, 3)
    np.testing.assert_allclose(cyconv.conv2d(X, K), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("kernel, kwargs, shape", [
    ((3, 3), dict(padding=1), (8, 8)),
    ((5, 3), dict(padding=(2, 1)), (8, 8)),
    ((3, 3), dict(padding=1, stride=2), (4, 4)),
    ((3, 5), dict(padding=(0, 1), stride=(3, 4)), (2, 2)),
])
def test_notes_padding_stride_shapes(kernel, kwargs, shape):
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(1, 1, 8, 8))
    W = rng.normal(size=(1, 1) + kernel)
    Y = cyconv.conv2d(X, W, **kwargs)
    assert Y.shape == (1, 1) + shape
    assert_close(Y, reference(X, W, **kwargs))


# ------------------------------------------------------------------------------ grid

# (N, C_in, H, W, C_out, kh, kw, groups)
SHAPES = [
    (2, 3, 7, 9, 4, 3, 3, 1),
    (1, 4, 5, 6, 6, 1, 1, 2),  # grouped 1x1
    (2, 4, 6, 5, 4, 3, 2, 4),  # depthwise, even kernel
    (2, 4, 6, 6, 8, 3, 3, 4),  # depthwise, channel multiplier 2
    (1, 2, 4, 4, 3, 4, 4, 1),  # kernel == input size
    (2, 3, 1, 9, 2, 1, 3, 1),  # H == 1
    (1, 2, 8, 1, 3, 3, 1, 1),  # W == 1
    (3, 6, 9, 7, 4, 2, 3, 2),  # non-square, grouped
    (1, 1, 10, 12, 3, 5, 5, 1),  # single input channel
    (2, 8, 11, 10, 5, 3, 3, 1),
]
PADDINGS = [0, 1, (1, 2), ((2, 0), (1, 3)), "valid", "same", "same_lower", "same_upper", "full"]
STRIDES = [1, 2, (2, 3), (1, 2)]
DILATIONS = [1, (2, 1), 1, (1, 2), 2]


def _grid():
    cases = []
    for k, (shape, padding) in enumerate(itertools.product(SHAPES, PADDINGS)):
        stride = STRIDES[k % len(STRIDES)]
        dilation = DILATIONS[k % len(DILATIONS)]
        if isinstance(padding, str) and padding.startswith("same"):
            stride = 1 if k % 2 else stride
        cases.append((shape, padding, stride, dilation, k % 3 != 0))
    return cases


def _fits(shape, padding, stride, dilation):
    n, c, h, w, co, kh, kw, g = shape
    try:
        cyconv.conv2d_output_shape((n, c, h, w), (co, c // g, kh, kw), stride=stride,
                                   padding=padding, dilation=dilation, groups=g)
    except ValueError:
        return False
    return True


GRID = [case for case in _grid() if _fits(*case[:4])]


def make(shape, dtype=np.float64, seed=0, bias=True):
    n, c, h, w, co, kh, kw, g = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((co, c // g, kh, kw)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype) if bias else None
    return x, wt, b


def test_grid_is_large():
    assert len(GRID) >= 70


@pytest.mark.parametrize("shape, padding, stride, dilation, bias", GRID)
def test_grid_vs_reference(shape, padding, stride, dilation, bias, kernel_set):
    x, w, b = make(shape, bias=bias)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=shape[-1])
    got = cyconv.conv2d(x, w, b, **kw)
    ref = reference(x, w, b, **kw)
    assert got.shape == ref.shape and got.dtype == np.float64
    assert_close(got, ref)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (1, 2), ((2, 0), (1, 3)), "same", "full"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 7, 4, 3, 3, 1), (1, 4, 5, 8, 4, 3, 2, 4)])
def test_padding_modes(shape, padding, padding_mode, kernel_set):
    x, w, b = make(shape, seed=3)
    if padding == "full" and padding_mode == "reflect" and shape[5] > shape[2]:
        pytest.skip("reflect needs padding < size")
    kw = dict(padding=padding, padding_mode=padding_mode, groups=shape[-1], dilation=1)
    assert_close(cyconv.conv2d(x, w, b, **kw), reference(x, w, b, **kw))


def test_padding_mode_with_stride_and_dilation():
    x, w, b = make((2, 2, 9, 8, 3, 3, 3, 1), seed=4)
    kw = dict(padding=((2, 1), (0, 3)), padding_mode="circular", stride=(2, 1), dilation=(1, 2))
    assert_close(cyconv.conv2d(x, w, b, **kw), reference(x, w, b, **kw))


@pytest.mark.parametrize("shape, padding, stride, dilation, bias", GRID[::7])
def test_kernel_builds_agree(shape, padding, stride, dilation, bias, kernel_set):
    """Every compiled kernel set (portable, AVX2+FMA, AVX-512F) gives the reference answer."""
    x, w, b = make(shape, np.float32, bias=bias)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=shape[-1])
    assert_close(cyconv.conv2d(x, w, b, **kw), reference(x, w, b, **kw), np.float32)


def _padding_heavy_cases(count, seed):
    """Small inputs under dilations/paddings large enough that whole kernel rows or
    columns read only padding (and the top/left offsets of the rest turn negative)."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        h, w = rng.integers(1, 6, size=2)
        kh, kw = rng.integers(1, 5, size=2)
        d = tuple(int(v) for v in rng.choice([1, 2, 3, 7, 11], size=2))
        s = tuple(int(v) for v in rng.choice([1, 2, 5, 13], size=2))
        pads = tuple(tuple(int(v) for v in rng.integers(0, 3 * dd * (k - 1) + 3, size=2))
                     for dd, k in zip(d, (kh, kw)))
        try:
            out = cyconv.conv2d_output_shape((1, 2, h, w), (2, 2, kh, kw), stride=s,
                                             padding=pads, dilation=d)
        except ValueError:
            continue
        if out[2] * out[3] <= 400:
            cases.append(((int(h), int(w)), (int(kh), int(kw)), s, pads, d))
    return cases


@pytest.mark.parametrize("hw, k, stride, padding, dilation", _padding_heavy_cases(40, 31) + [
    # the remaining taps start inside the input (negative top/left offsets)
    ((5, 5), (3, 3), (2, 3), ((5, 0), (6, 1)), (4, 5)),
    ((5, 4), (2, 2), (1, 1), ((4, 0), (1, 1)), (7, 1)),
    ((3, 5), (1, 2), (1, 1), ((0, 0), (4, 0)), (1, 7)),
])
def test_taps_in_padding_only(hw, k, stride, padding, dilation, kernel_set):
    rng = np.random.default_rng(sum(hw + k + stride + dilation))
    groups = 2
    x = rng.standard_normal((2, 4) + hw)
    wgt = rng.standard_normal((6, 2) + k)
    b = rng.standard_normal(6)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_close(cyconv.conv2d(x, wgt, b, **kw), reference(x, wgt, b, **kw))
    got = cyconv.correlate2d(x, wgt[0, 0], stride=stride, padding=padding, dilation=dilation)
    ref = reference(x.reshape((8, 1) + hw), wgt[:1, :1], stride=stride, padding=padding,
                    dilation=dilation)
    assert_close(got, ref.reshape(got.shape))


@pytest.mark.parametrize("hw, k, stride, padding, dilation", [
    ((3, 3), (3, 3), 1, 5, 5),  # the corner taps read only padding
    ((2, 5), (2, 3), 2, 4, 6),
    ((1, 1), (3, 3), 1, 3, 3),  # only the centre tap reads the input
])
def test_int_options_with_taps_in_padding_only(hw, k, stride, padding, dilation, kernel_set):
    """The same with int options (conv2d's fast path hands these to the general path)."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3) + hw), rng.standard_normal((4, 3) + k), rng.standard_normal(4)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    assert impl._conv2d_fast(x, w, b, stride, padding, dilation, 1) is None
    assert_close(cyconv.conv2d(x, w, b, **kw), reference(x, w, b, **kw))


def test_huge_strided_padding_needs_no_scratch(workspace):
    """Large strides over a large padding: the packing skips the padded columns between
    taps, so nothing grows with the padding, and no workspace limit (not even 0) fails."""
    x = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    w = np.array([[[[1.0, 2.0]]]])
    kw = dict(stride=(1, 10**7), padding=((0, 0), (10**7, 10**7)), dilation=(1, 10**7))
    # output column 0 reads x[:, 0] with tap 1, column 1 reads it with tap 0
    expected = [[[[2.0, 1.0], [8.0, 4.0]]]]
    np.testing.assert_array_equal(cyconv.conv2d(x, w, **kw), expected)
    workspace(0)
    np.testing.assert_array_equal(cyconv.conv2d(x, w, **kw), expected)


def test_forward_runs_on_the_engine_alone():
    """conv2d makes one engine call: no BLAS (np.matmul), no Python-side strategies."""
    import cyconv._convolution_grad as grad_mod
    from cyconv import _engine

    assert impl._conv2d_forward is _engine.conv2d_forward
    for name in ("_conv", "_run", "_gemm", "_direct", "_FORCE", "_tap_range", "_needs_clipping"):
        assert not hasattr(impl, name), name
    with open(impl.__file__) as f:
        assert "matmul" not in f.read()
    assert grad_mod._engine is _engine  # the gradients are the engine's too


@pytest.mark.parametrize("stride", [1, (1, 2), (2, 1)])
def test_wide_rows(stride, kernel_set):
    """Outputs wide enough for the direct kernel's per-row loops."""
    x, w, b = make((2, 3, 5, 70, 4, 3, 3, 1), np.float32, seed=13)
    kw = dict(padding=1, stride=stride)
    assert_close(cyconv.conv2d(x, w, b, **kw), reference(x, w, b, **kw), np.float32)


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("xdt, wdt, expected", [
    (np.float32, np.float32, np.float32),
    (np.float64, np.float64, np.float64),
    (np.float16, np.float16, np.float16),
    (np.float16, np.float32, np.float32),
    (np.float32, np.float64, np.float64),
    (np.int32, np.int32, np.float64),
    (np.uint8, np.int64, np.float64),
    (np.int16, np.float32, np.float32),
    (np.bool_, np.bool_, np.float64),
    (np.float32, np.int64, np.float64),
])
def test_dtypes(xdt, wdt, expected, kernel_set):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, size=(2, 4, 7, 6)).astype(xdt)
    w = rng.integers(-2, 3, size=(6, 2, 3, 3)).astype(wdt)
    got = cyconv.conv2d(x, w, padding=1, groups=2)
    assert got.dtype == expected
    ref = reference(x, w, padding=1, groups=2)
    if expected == np.float16:
        assert_close(got, ref, np.float16)
    else:
        np.testing.assert_array_equal(got, ref)  # small integers: exact in any float dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_low_precision_random(dtype, kernel_set):
    x, w, b = make((2, 6, 9, 8, 5, 3, 3, 1), dtype, seed=6)
    got = cyconv.conv2d(x, w, b, padding=1)
    assert got.dtype == dtype
    assert_close(got, reference(x, w, b, padding=1), dtype)


def test_inputs_not_modified():
    x, w, b = make((2, 3, 6, 6, 4, 3, 3, 1))
    copies = [a.copy() for a in (x, w, b)]
    cyconv.conv2d(x, w, b, padding=1)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------- layouts


def test_unbatched():
    x, w, b = make((1, 3, 7, 6, 4, 3, 2, 1))
    got = cyconv.conv2d(x[0], w, b, padding=(1, 0), stride=2)
    assert got.shape == (4, 4, 3)
    np.testing.assert_array_equal(got, cyconv.conv2d(x, w, b, padding=(1, 0), stride=2)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.float16])
def test_empty_batch(dtype):
    x = np.zeros((0, 3, 7, 6), dtype)
    w = np.ones((4, 3, 3, 3), dtype)
    got = cyconv.conv2d(x, w, padding=1, stride=2)
    assert got.shape == (0, 4, 4, 3)
    assert got.dtype == (np.float64 if dtype == np.int32 else dtype)


def _layouts(a):
    swapped = a.astype(a.dtype.newbyteorder())
    readonly = a.copy()
    readonly.flags.writeable = False
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return {
        "fortran": np.asfortranarray(a),
        "swapped": swapped,
        "readonly": readonly,
        "strided": big[..., ::2],
        "list": a.tolist(),
    }


@pytest.mark.parametrize("which", ["x", "w", "b"])
@pytest.mark.parametrize("layout", ["fortran", "swapped", "readonly", "strided", "list"])
def test_memory_layouts(which, layout, kernel_set):
    x, w, b = make((2, 4, 7, 8, 6, 3, 3, 2), np.float32)
    expected = cyconv.conv2d(x, w, b, padding=1, groups=2)
    args = {"x": x, "w": w, "b": b}
    args[which] = _layouts(args[which])[layout]
    got = cyconv.conv2d(args["x"], args["w"], args["b"], padding=1, groups=2)
    if layout == "list":  # Python floats: float64, as np.asarray gives
        assert got.dtype == np.float64
        assert_close(got, expected.astype(np.float64), np.float32)
    else:
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


def test_negative_strides(kernel_set):
    x, w, b = make((2, 3, 7, 8, 4, 3, 2, 1))
    xv, wv = x[::-1, :, ::-1, ::-2], w[:, ::-1, ::-1]
    got = cyconv.conv2d(xv, wv, b, padding=1)
    assert_close(got, reference(xv, wv, b, padding=1))


# -------------------------------------------------------------------------------- out=


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_out_contiguous(dtype, kernel_set):
    x, w, b = make((2, 3, 6, 6, 4, 3, 3, 1), dtype)
    out = np.empty((2, 4, 6, 6), dtype)
    got = cyconv.conv2d(x, w, b, padding=1, out=out)
    assert got is out
    np.testing.assert_array_equal(out, cyconv.conv2d(x, w, b, padding=1))


def test_out_non_contiguous(kernel_set):
    x, w, b = make((2, 3, 6, 6, 4, 3, 3, 1))
    big = np.full((2, 8, 6, 12), 7.0)
    out = big[:, ::2, :, ::2]
    got = cyconv.conv2d(x, w, b, padding=1, out=out)
    assert got is out
    np.testing.assert_array_equal(out, cyconv.conv2d(x, w, b, padding=1))
    assert (big[:, 1::2] == 7).all() and (big[..., 1::2] == 7).all()


def test_out_unbatched():
    x, w, b = make((1, 3, 6, 6, 4, 3, 3, 1))
    out = np.empty((4, 4, 4))
    assert cyconv.conv2d(x[0], w, b, out=out) is out
    np.testing.assert_array_equal(out, cyconv.conv2d(x[0], w, b))


# ------------------------------------------------------------- workspace and threads


@pytest.fixture
def workspace():
    old = cyconv.get_workspace_limit()
    yield cyconv.set_workspace_limit
    cyconv.set_workspace_limit(old)


def test_workspace_limit_api(workspace):
    assert cyconv.get_workspace_limit() == 64 << 20
    assert workspace(1000) == 64 << 20
    assert cyconv.get_workspace_limit() == 1000
    workspace(None)
    assert cyconv.get_workspace_limit() == 64 << 20
    with pytest.raises(ValueError, match="nbytes must be >= 0"):
        workspace(-1)
    with pytest.raises(TypeError, match="nbytes must be an integer"):
        workspace(1.5)


@pytest.mark.parametrize("limit", [0, 1, 3000, 20000, 40000, 1 << 20])
def test_workspace_blocking(limit, workspace):
    """Any workspace limit (the engine's panels shrink, never below one micro-panel)
    gives the reference answer."""
    workspace(limit)
    x, w, b = make((5, 4, 13, 11, 6, 3, 3, 2), seed=7)
    kw = dict(padding=(2, 1), stride=(1, 2), groups=2)
    assert_close(cyconv.conv2d(x, w, b, **kw), reference(x, w, b, **kw))


@pytest.mark.parametrize("limit", [0, 256 << 10, 64 << 20])
def test_peak_memory_is_output_plus_workspace(limit, workspace):
    """No whole-batch patch matrix: the engine's extra memory is the packed weights plus
    per-thread panels within the limit (never below one micro-panel per thread)."""
    workspace(limit)
    x, w, b = make((16, 16, 24, 24, 32, 3, 3, 1), np.float32, seed=15)
    y = np.empty((16, 32, 24, 24), np.float32)
    used = _engine.conv2d_forward(x, w, b, y, (3, 3, 1, 1, 1, 1, 1, 1, 24, 24), 1, False, limit)
    workspace(None)
    np.testing.assert_array_equal(y, cyconv.conv2d(x, w, b, padding=1))  # the limit changes nothing
    # Whole-batch columns would be 16 * 144 * 576 * 4 bytes = 5.3 MB.
    name, f32, _ = _engine.kernel_info()
    threads = cyconv.get_num_threads()
    one_panel = f32[2] * f32[1] * 4  # KC x NR float32
    tile_and_weights = threads * 64 * 64 * 4 + 2 * w.nbytes
    assert used <= max(limit, threads * one_panel) + tile_and_weights, (used, limit)
    assert used < 1 << 20


def test_workspace_row_blocks_large_image(workspace):
    workspace(1 << 14)  # 16 KiB: a few output rows per block
    x, w, b = make((1, 8, 40, 37, 16, 3, 3, 1), np.float32, seed=8)
    got = cyconv.conv2d(x, w, b, padding=1)
    workspace(None)
    np.testing.assert_allclose(got, cyconv.conv2d(x, w, b, padding=1), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("shape, kw", [
    ((4, 16, 20, 20, 16, 3, 3, 1), dict(padding=1)),  # GEMM
    ((4, 16, 20, 20, 16, 3, 3, 16), dict(padding=1)),  # depthwise, direct
    ((2, 1, 40, 40, 6, 5, 5, 1), dict(padding=2, stride=2)),  # single channel, direct
    ((8, 32, 8, 8, 64, 1, 1, 1), {}),  # pointwise
])
def test_threads_identical(shape, kw):
    x, w, b = make(shape, np.float32, seed=9)
    old = cyconv.get_num_threads()
    try:
        cyconv.set_num_threads(1)
        one = cyconv.conv2d(x, w, b, groups=shape[-1], **kw)
        cyconv.set_num_threads(2)
        two = cyconv.conv2d(x, w, b, groups=shape[-1], **kw)
    finally:
        cyconv.set_num_threads(old)
    np.testing.assert_array_equal(one, two)


# ----------------------------------------------------------------------- PyTorch oracle


def _torch_cases(count=40, seed=2024):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(rng.choice([1, 1, 2, 3]))
        cg = int(rng.integers(1, 4))
        cog = int(rng.integers(1, 4))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        dh, dw = (int(v) for v in rng.integers(1, 3, size=2))
        h, w = (int(v) for v in rng.integers(3, 13, size=2))
        mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
        same = rng.uniform() < 0.2
        ph, pw = (int(v) for v in rng.integers(0, 3, size=2))
        if mode == "reflect":
            ph, pw = min(ph, h - 1), min(pw, w - 1)
        padding = "same" if same else (ph, pw)
        stride = (1, 1) if same else (sh, sw)
        n = int(rng.integers(1, 4))
        case = dict(n=n, c=cg * groups, h=h, w=w, co=cog * groups, k=(kh, kw), stride=stride,
                    padding=padding, dilation=(dh, dw), groups=groups, mode=mode,
                    bias=bool(rng.uniform() < 0.6))
        if same and mode != "zeros":
            continue
        if not _fits((n, cg * groups, h, w, cog * groups, kh, kw, groups), padding, stride, (dh, dw)):
            continue
        cases.append(case)
    return cases


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("case", _torch_cases(), ids=lambda c: f"{c['k']}-{c['padding']}-{c['mode']}")
def test_vs_torch(case, kernel_set):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    w = rng.standard_normal((case["co"], case["c"] // case["groups"]) + case["k"])
    b = rng.standard_normal(case["co"]) if case["bias"] else None
    conv = torch.nn.Conv2d(case["c"], case["co"], case["k"], stride=case["stride"],
                           padding=case["padding"], dilation=case["dilation"],
                           groups=case["groups"], bias=case["bias"],
                           padding_mode=case["mode"], dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
        if b is not None:
            conv.bias.copy_(torch.from_numpy(b))
        expected = conv(torch.from_numpy(x)).numpy()
    got = cyconv.conv2d(x, w, b, stride=case["stride"], padding=case["padding"],
                        dilation=case["dilation"], groups=case["groups"], padding_mode=case["mode"])
    if case["padding"] == "same":
        # PyTorch puts an odd total padding's extra row/column at the bottom/right.
        got = cyconv.conv2d(x, w, b, stride=1, padding="same_upper", dilation=case["dilation"],
                            groups=case["groups"])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_vs_torch_float32_large():
    torch = pytest.importorskip("torch")
    x, w, b = make((2, 16, 30, 30, 24, 3, 3, 1), np.float32, seed=12)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                          torch.from_numpy(b), padding=1, stride=(1, 2)).numpy()
    assert_close(cyconv.conv2d(x, w, b, padding=1, stride=(1, 2)), expected.astype(np.float64),
                 np.float32)


# --------------------------------------------------------------------------- errors

X = np.zeros((2, 4, 6, 6))
W = np.zeros((6, 4, 3, 3))

ERRORS = [
    (dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    (dict(stride=-2), ValueError, r"stride must be >= 1"),
    (dict(stride=(1, 0)), ValueError, r"stride must be >= 1"),
    (dict(stride=(1, 2, 3)), ValueError, r"stride must be an int or a pair"),
    (dict(stride=1.5), TypeError, r"stride must be an integer, got 1.5"),
    (dict(stride=True), TypeError, r"stride must be an integer, got the bool"),
    (dict(dilation=0), ValueError, r"dilation must be >= 1"),
    (dict(dilation=(2, -1)), ValueError, r"dilation must be >= 1"),
    (dict(dilation=2.0), TypeError, r"dilation must be an integer"),
    (dict(padding=-1), ValueError, r"padding must be >= 0, got -1"),
    (dict(padding=(1, -1)), ValueError, r"padding \(width\) must be >= 0"),
    (dict(padding=((1, 0), (0, -2))), ValueError, r"padding \(width\) must be >= 0"),
    (dict(padding="sam"), ValueError, r"padding must be .*'same'.*got 'sam'"),
    (dict(padding=(1, 2, 3)), ValueError, r"padding must be .*length 3"),
    (dict(padding=((1, 2, 3), (0, 0))), ValueError, r"padding \(height\) must be an int or a \(before, after\) pair"),
    (dict(padding=1.0), TypeError, r"padding must be an integer"),
    (dict(padding=None), TypeError, r"padding must be an integer"),
    (dict(groups=0), ValueError, r"groups must be >= 1"),
    (dict(groups=3), ValueError, r"groups=3 must divide the 4 input channels"),
    (dict(groups=1.0), TypeError, r"groups must be an integer"),
    (dict(groups=True), TypeError, r"groups must be an integer, got the bool"),
    (dict(padding_mode="mirror"), ValueError, r"padding_mode must be one of 'zeros', 'reflect'.*got 'mirror'"),
    (dict(padding_mode=None), TypeError, r"padding_mode must be a string"),
    (dict(padding=6, padding_mode="reflect"), ValueError, r"reflect.*padding < the input height \(6\)"),
    (dict(padding=7, padding_mode="circular"), ValueError, r"circular.*<= the input height \(6\)"),
]


@pytest.mark.parametrize("kwargs, exc, match", ERRORS, ids=[str(e[0]) for e in ERRORS])
def test_option_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cyconv.conv2d(X, W, **kwargs)


ARRAY_ERRORS = [
    ((np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 7, 7))), {}, ValueError,
     r"output height = floor\(\(4 - 7 \+ 0 \+ 1\)/1\) = -2 < 1: the 7-row kernel is taller than the 4-row padded input"),
    ((np.zeros((1, 1, 8, 4)), np.zeros((1, 1, 3, 3))), dict(dilation=(1, 2)), ValueError,
     r"output width = .* < 1: the 5-column \(dilated: 2\*\(3-1\)\+1\) kernel is wider"),
    ((np.zeros((4, 6, 6)), np.zeros((6, 4, 3))), {}, ValueError, r"weight must have shape \(C_out, C_in/groups, kh, kw\)"),
    ((np.zeros((6, 6)), W), {}, ValueError, r"input must have shape \(N, C_in, H, W\) or \(C_in, H, W\)"),
    ((np.zeros((1, 2, 4, 6, 6)), W), {}, ValueError, r"input must have shape"),
    ((np.zeros((2, 3, 6, 6)), W), {}, ValueError, r"input has 3 channels but weight expects"),
    ((X, np.zeros((5, 2, 3, 3))), dict(groups=2), ValueError, r"groups=2 must divide the 5 output channels"),
    ((X, np.zeros((0, 4, 3, 3))), {}, ValueError, r"weight has an empty axis"),
    ((X, np.zeros((6, 4, 0, 3))), {}, ValueError, r"weight has an empty axis"),
    ((np.zeros((2, 4, 0, 6)), W), {}, ValueError, r"input has an empty spatial axis"),
    ((np.zeros((2, 4, 6, 0)), W), {}, ValueError, r"input has an empty spatial axis"),
    ((X, W, np.zeros(5)), {}, ValueError, r"bias must have shape \(6,\)"),
    ((X, W, np.zeros((6, 1))), {}, ValueError, r"bias must have shape \(6,\)"),
    ((X.astype(complex), W), {}, TypeError, r"input must have a real numeric dtype .* got dtype complex128"),
    ((X, W.astype(object)), {}, TypeError, r"weight must have a real numeric dtype"),
    ((X, W, np.array(["a"] * 6)), {}, TypeError, r"bias must have a real numeric dtype"),
    ((X, "abc"), {}, TypeError, r"weight must have a real numeric dtype"),
]


@pytest.mark.parametrize("args, kwargs, exc, match", ARRAY_ERRORS)
def test_array_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cyconv.conv2d(*args, **kwargs)


def test_bias_by_keyword():
    x, w, b = make((1, 2, 5, 5, 3, 3, 3, 1))
    np.testing.assert_array_equal(cyconv.conv2d(x, w, bias=b), cyconv.conv2d(x, w, b))


def test_out_errors():
    x, w, _ = make((2, 3, 6, 6, 4, 3, 3, 1))
    with pytest.raises(ValueError, match=r"out has shape \(2, 4, 6, 6\), expected the result shape \(2, 4, 4, 4\)"):
        cyconv.conv2d(x, w, out=np.empty((2, 4, 6, 6)))
    with pytest.raises(ValueError, match=r"out has dtype float32, expected the result dtype float64"):
        cyconv.conv2d(x, w, out=np.empty((2, 4, 4, 4), np.float32))
    ro = np.empty((2, 4, 4, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out is read-only"):
        cyconv.conv2d(x, w, out=ro)
    with pytest.raises(TypeError, match=r"out must be a numpy.ndarray, got list"):
        cyconv.conv2d(x, w, out=[[0.0]])
    # Overlap: the output buffer is a view of the input.
    big = np.zeros((2, 4, 6, 6))
    with pytest.raises(ValueError, match=r"out overlaps an input"):
        cyconv.conv2d(big[:, :3], w, out=big[:, :, :4, :4])


def test_absurd_sizes_fail_up_front():
    x = np.broadcast_to(np.zeros(1), (10**6, 1, 10**5, 10**5))
    with pytest.raises((MemoryError, ValueError)):
        cyconv.conv2d(x, np.ones((1, 1, 1, 1)))
    with pytest.raises((MemoryError, ValueError)):
        cyconv.conv2d(np.zeros((1, 1, 4, 4)), np.broadcast_to(np.ones(1), (2**40, 1, 1, 1)))
