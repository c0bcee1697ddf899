"""unfold / fold: plain-loop references, PyTorch's F.unfold/F.fold, NHWC, the adjoint
identity, finite differences, dtypes and the error table."""

import numpy as np
import pytest

import cyconv
from reference_unfold import fold as ref_fold
from reference_unfold import nchw_cols_to_nhwc, out_hw
from reference_unfold import unfold as ref_unfold

# (H, W), kernel, stride, padding ((t, b), (l, r)), dilation
GEOMS = [
    ((5, 5), (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    ((6, 7), (2, 3), (2, 1), ((1, 1), (0, 2)), (1, 1)),
    ((7, 6), (3, 2), (2, 3), ((2, 0), (1, 1)), (2, 1)),
    ((4, 9), (1, 1), (1, 2), ((0, 0), (0, 0)), (1, 1)),
    ((3, 3), (3, 3), (1, 1), ((2, 2), (2, 2)), (1, 1)),
    ((8, 5), (2, 2), (3, 3), ((0, 1), (1, 0)), (3, 2)),
    ((1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1)),
]


def _kw(k, s, p, d, layout="NCHW"):
    return dict(stride=s, padding=p, dilation=d, layout=layout)


@pytest.mark.parametrize("hw, k, s, p, d", GEOMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_reference(hw, k, s, p, d, dtype):
    rng = np.random.default_rng(0)
    C = 3
    x = rng.standard_normal((2, C) + hw).astype(dtype)
    cols = cyconv.unfold(x, k, **_kw(k, s, p, d))
    ref = ref_unfold(x.astype(np.float64), k, s, p, d)
    assert cols.dtype == dtype and cols.shape == ref.shape
    np.testing.assert_array_equal(cols, ref.astype(dtype))
    g = rng.standard_normal(ref.shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    folded = cyconv.fold(g, hw, k, **_kw(k, s, p, d))
    assert folded.dtype == dtype and folded.shape == x.shape
    np.testing.assert_allclose(folded, ref_fold(g.astype(np.float64), *hw, k, s, p, d), rtol=tol, atol=tol)
    # NHWC: the same patches, channels fastest
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    colsh = cyconv.unfold(xh, k, **_kw(k, s, p, d, "NHWC"))
    np.testing.assert_array_equal(colsh, nchw_cols_to_nhwc(cols, C, *k))
    gh = nchw_cols_to_nhwc(g, C, *k)
    np.testing.assert_allclose(cyconv.fold(gh, hw, k, **_kw(k, s, p, d, "NHWC")),
                               folded.transpose(0, 2, 3, 1), rtol=tol, atol=tol)


@pytest.mark.parametrize("hw, k, s, p, d", [g for g in GEOMS if g[3][0][0] == g[3][0][1] and g[3][1][0] == g[3][1][1]])
def test_against_torch(hw, k, s, p, d):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4) + hw)
    tp = (p[0][0], p[1][0])
    t = F.unfold(torch.tensor(x), k, dilation=d, padding=tp, stride=s).numpy()
    np.testing.assert_array_equal(cyconv.unfold(x, k, stride=s, padding=tp, dilation=d), t)
    g = rng.standard_normal(t.shape)
    tf = F.fold(torch.tensor(g), hw, k, dilation=d, padding=tp, stride=s).numpy()
    np.testing.assert_allclose(cyconv.fold(g, hw, k, stride=s, padding=tp, dilation=d), tf, rtol=1e-13, atol=1e-14)
    # unbatched forms, as torch accepts them
    np.testing.assert_array_equal(cyconv.unfold(x[0], k, stride=s, padding=tp, dilation=d), t[0])
    np.testing.assert_allclose(cyconv.fold(g[0], hw, k, stride=s, padding=tp, dilation=d), tf[0], rtol=1e-13,
                               atol=1e-14)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_adjoint_identity_and_finite_differences(layout):
    rng = np.random.default_rng(2)
    k, s, p, d = (3, 2), (2, 1), ((1, 2), (0, 1)), (1, 2)
    shape = (2, 3, 7, 6) if layout == "NCHW" else (2, 7, 6, 3)
    x = rng.standard_normal(shape)
    cols = cyconv.unfold(x, k, stride=s, padding=p, dilation=d, layout=layout)
    c = rng.standard_normal(cols.shape)
    fx = cyconv.fold(c, (7, 6), k, stride=s, padding=p, dilation=d, layout=layout)
    assert np.isclose(np.sum(cols * c), np.sum(x * fx), rtol=1e-12)
    # unfold and fold are each other's gradient: d<unfold(x), c>/dx = fold(c), by differences
    # (both are linear: a large step has no truncation error, only rounding)
    eps = 1e-2
    for flat in rng.choice(x.size, 12, replace=False):
        e = np.zeros(x.size)
        e[flat] = eps
        e = e.reshape(shape)
        num = (np.sum(cyconv.unfold(x + e, k, stride=s, padding=p, dilation=d, layout=layout) * c)
               - np.sum(cyconv.unfold(x - e, k, stride=s, padding=p, dilation=d, layout=layout) * c)) / (2 * eps)
        assert np.isclose(num, fx.flat[flat], rtol=1e-9, atol=1e-11)
    for flat in rng.choice(c.size, 12, replace=False):
        e = np.zeros(c.size)
        e[flat] = eps
        e = e.reshape(c.shape)
        num = (np.sum(cyconv.fold(c + e, (7, 6), k, stride=s, padding=p, dilation=d, layout=layout) * x)
               - np.sum(cyconv.fold(c - e, (7, 6), k, stride=s, padding=p, dilation=d, layout=layout) * x)) / (2 * eps)
        assert np.isclose(num, cols.flat[flat], rtol=1e-9, atol=1e-11)


def test_padding_strings_and_counts():
    x = np.ones((1, 1, 4, 5))
    cols = cyconv.unfold(x, 3, padding="same")
    assert cols.shape == (1, 9, 20)
    counts = cyconv.fold(np.ones_like(cols), (4, 5), 3, padding="same")
    np.testing.assert_array_equal(counts, cyconv.fold(cyconv.unfold(x, 3, padding="same"), (4, 5), 3,
                                                      padding="same"))
    assert counts[0, 0, 1, 1] == 9 and counts[0, 0, 0, 0] == 4


@pytest.mark.parametrize("dtype, expect", [(np.float16, np.float16), (np.int64, np.float64),
                                           (np.bool_, np.float64), (np.float32, np.float32)])
def test_dtype_rules(dtype, expect):
    x = (np.arange(2 * 3 * 4 * 4) % 7).reshape(2, 3, 4, 4).astype(dtype)
    cols = cyconv.unfold(x, 2)
    assert cols.dtype == expect
    np.testing.assert_array_equal(cols.astype(np.float64), ref_unfold(x.astype(np.float64), (2, 2), (1, 1),
                                                                    ((0, 0), (0, 0)), (1, 1)))
    assert cyconv.fold(cols.astype(dtype), (4, 4), 2).dtype == expect


def test_memory_orders_and_inputs_untouched():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 3, 6, 5))
    expect = cyconv.unfold(base, 2, stride=2, padding=1)
    ro = base.copy()
    ro.flags.writeable = False
    for v in [np.asfortranarray(base), base[:, :, ::-1].copy()[:, :, ::-1], ro,
              base.astype(base.dtype.newbyteorder())]:
        before = v.copy()
        np.testing.assert_array_equal(cyconv.unfold(v, 2, stride=2, padding=1), expect)
        np.testing.assert_array_equal(v, before)
    c = rng.standard_normal(expect.shape)
    f = cyconv.fold(c, (6, 5), 2, stride=2, padding=1)
    np.testing.assert_array_equal(cyconv.fold(np.asfortranarray(c), (6, 5), 2, stride=2, padding=1), f)


def test_degenerate_sizes():
    assert cyconv.unfold(np.zeros((0, 3, 5, 5)), 2).shape == (0, 12, 16)
    assert cyconv.unfold(np.zeros((2, 0, 5, 5)), 2).shape == (2, 0, 16)
    # an empty spatial axis whose padding still gives patches: they read only padding
    cols = cyconv.unfold(np.zeros((1, 2, 0, 3)), (1, 2), padding=((1, 0), (0, 0)))
    assert cols.shape == (1, 4, 2) and not cols.any()
    assert cyconv.fold(np.ones((0, 12, 16)), (5, 5), 2).shape == (0, 3, 5, 5)
    assert cyconv.fold(np.ones((1, 4, 2)), (0, 3), (1, 2), padding=((1, 0), (0, 0))).shape == (1, 2, 0, 3)
    assert cyconv.unfold(np.zeros((0, 5, 5, 3)), 2, layout="NHWC").shape == (0, 16, 12)


def test_threads_do_not_change_the_result():
    x = np.random.default_rng(4).standard_normal((2, 16, 30, 31))
    before = cyconv.get_num_threads()
    res = []
    try:
        for n in (1, 2):
            cyconv.set_num_threads(n)
            cols = cyconv.unfold(x, 3, padding=1, stride=(1, 2))
            xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
            colsh = cyconv.unfold(xh, 3, padding=1, stride=(1, 2), layout="NHWC")
            res.append((cols, cyconv.fold(cols, (30, 31), 3, padding=1, stride=(1, 2)),
                        colsh, cyconv.fold(colsh, (30, 31), 3, padding=1, stride=(1, 2), layout="NHWC")))
    finally:
        cyconv.set_num_threads(before)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


ERRORS = [
    (lambda: cyconv.unfold(np.ones((4, 4)), 2), ValueError, r"\(N, C, H, W\) or \(C, H, W\).*2 dimensions"),
    (lambda: cyconv.unfold(np.ones((1, 1, 4, 4)), 5), ValueError,
     r"output height = floor\(\(4 - 5 \+ 0 \+ 1\)/1\) = 0 < 1"),
    (lambda: cyconv.unfold(np.ones((1, 1, 4, 4)), 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda: cyconv.unfold(np.ones((1, 1, 4, 4)), 2.0), TypeError, "kernel_size must be an integer"),
    (lambda: cyconv.unfold(np.ones((1, 1, 4, 4)), 2, layout="nhwc"), ValueError, "upper case"),
    (lambda: cyconv.unfold(np.ones((1, 1, 4, 4)), 2, layout=None), TypeError, "layout"),
    (lambda: cyconv.unfold(np.ones((1, 1, 4, 4), complex), 2), TypeError, "real numeric dtype"),
    (lambda: cyconv.fold(np.ones((1, 5, 9)), (4, 4), 2), ValueError, "not a multiple of the 2x2 = 4"),
    (lambda: cyconv.fold(np.ones((1, 4, 8)), (4, 4), 2), ValueError, r"8 patches.*3 x 3 = 9"),
    (lambda: cyconv.fold(np.ones((1, 8, 4)), (4, 4), 2, layout="NHWC"), ValueError, r"axis 1 has 8 patches"),
    (lambda: cyconv.fold(np.ones(4), (4, 4), 2), ValueError, "2 dimensions|1 dimensions"),
    (lambda: cyconv.fold(np.ones((1, 4, 9)), (4, -1), 2), ValueError, "output_size must be >= 0"),
    (lambda: cyconv.fold(np.ones((1, 4, 9)), (4, 4), 2, dilation=(1, True)), TypeError, "bool"),
]


@pytest.mark.parametrize("call, exc, match", ERRORS)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("seed", range(40))
def test_random_against_reference(seed):
    """Random sizes, kernels, strides, dilations and asymmetric paddings, both layouts."""
    rng = np.random.default_rng(2000 + seed)
    H, W = (int(v) for v in rng.integers(1, 9, 2))
    k = tuple(int(v) for v in rng.integers(1, 4, 2))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    d = tuple(int(v) for v in rng.integers(1, 3, 2))
    p = tuple(tuple(int(v) for v in rng.integers(0, 3, 2)) for _ in range(2))
    C = int(rng.integers(1, 4))
    Ho, Wo = out_hw(H, W, k, s, p, d)
    if Ho < 1 or Wo < 1:
        with pytest.raises(ValueError, match="output"):
            cyconv.unfold(np.zeros((1, C, H, W)), k, stride=s, padding=p, dilation=d)
        return
    x = rng.standard_normal((2, C, H, W))
    cols = cyconv.unfold(x, k, stride=s, padding=p, dilation=d)
    np.testing.assert_array_equal(cols, ref_unfold(x, k, s, p, d))
    c = rng.standard_normal(cols.shape)
    f = cyconv.fold(c, (H, W), k, stride=s, padding=p, dilation=d)
    np.testing.assert_allclose(f, ref_fold(c, H, W, k, s, p, d), rtol=1e-13, atol=1e-14)
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    colsh = cyconv.unfold(xh, k, stride=s, padding=p, dilation=d, layout="NHWC")
    np.testing.assert_array_equal(colsh, nchw_cols_to_nhwc(cols, C, *k))
    np.testing.assert_allclose(cyconv.fold(nchw_cols_to_nhwc(c, C, *k), (H, W), k, stride=s, padding=p, dilation=d,
                                           layout="NHWC"), f.transpose(0, 2, 3, 1), rtol=1e-13, atol=1e-14)
