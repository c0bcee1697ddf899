"""correlate2d / convolve2d: the notes' examples, fast vs reference, SciPy as an oracle,
leading axes, dtypes, layouts, out= and errors."""

import itertools

import numpy as np
import pytest
from reference_conv import corr2d, ref_correlate2d

import cyconv
from cyconv._shapes import _padding

TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5, np.dtype(np.float16): 4e-3}


def assert_close(got, ref, dtype=None):
    tol = TOL[np.dtype(dtype or got.dtype)]
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=tol,
                               atol=tol * max(1.0, float(np.abs(ref).max(initial=0.0))))


def pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def reference(x, k, *, stride=1, padding=0, dilation=1, padding_mode="zeros", flip=False):
    k = np.asarray(k)
    if flip:
        k = k[::-1, ::-1]
    d = pairs(dilation)
    return ref_correlate2d(x, k, pairs(stride), _padding(padding, k.shape, d), d, padding_mode)


# ----------------------------------------------------------------------------- notes


def test_corr2d_example(kernel_set):
    X = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
    K = [[0.0, 1.0], [2.0, 3.0]]
    np.testing.assert_array_equal(cyconv.correlate2d(X, K), [[19.0, 25.0], [37.0, 43.0]])
    np.testing.assert_array_equal(corr2d(X, K), [[19.0, 25.0], [37.0, 43.0]])


def test_edge_detection(kernel_set):
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    K = np.array([[1.0, -1.0]])
    Y = cyconv.correlate2d(X, K)
    expected = np.zeros((6, 7))
    expected[:, 1] = 1
    expected[:, 5] = -1
    np.testing.assert_array_equal(Y, expected)
    # The transposed image has no vertical edges left for K to find.
    np.testing.assert_array_equal(cyconv.correlate2d(X.T, K), np.zeros((8, 5)))
    # The same edge through conv2d with the notes' (1, 1, 6, 8) layout.
    np.testing.assert_array_equal(cyconv.conv2d(X.reshape(1, 1, 6, 8), K.reshape(1, 1, 1, 2)),
                                  expected.reshape(1, 1, 6, 7))


@pytest.mark.parametrize("kernel, kwargs, shape", [
    ((3, 3), dict(padding=1), (8, 8)),
    ((5, 3), dict(padding=(2, 1)), (8, 8)),
    ((3, 3), dict(padding=1, stride=2), (4, 4)),
    ((3, 5), dict(padding=(0, 1), stride=(3, 4)), (2, 2)),
])
def test_notes_shapes(kernel, kwargs, shape):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(8, 8))
    K = rng.normal(size=kernel)
    Y = cyconv.correlate2d(X, K, **kwargs)
    assert Y.shape == shape
    assert_close(Y, reference(X, K, **kwargs))


# ------------------------------------------------------------------------------ grid

PLANES = [(), (3,), (2, 3), (1,)]
SIZES = [(7, 9), (1, 6), (5, 1), (4, 4), (12, 11)]
KERNELS = [(1, 1), (3, 3), (2, 3), (1, 4), (4, 4), (5, 2)]
PADDINGS = [0, 1, (2, 1), ((0, 2), (3, 1)), "valid", "same", "same_upper", "full"]


def _grid():
    cases = []
    for k, (lead, hw, ks, padding) in enumerate(itertools.product(PLANES, SIZES, KERNELS, PADDINGS)):
        if k % 5:  # a fifth of the product, spread evenly over every axis
            continue
        stride = [1, 2, (1, 3), (2, 1)][k % 4]
        dilation = [1, (1, 2), 2][k % 3]
        try:
            cyconv.output_size(hw[0], ks[0], stride=pairs(stride)[0], dilation=pairs(dilation)[0],
                               padding=_padding(padding, ks, pairs(dilation))[0])
            cyconv.output_size(hw[1], ks[1], stride=pairs(stride)[1], dilation=pairs(dilation)[1],
                               padding=_padding(padding, ks, pairs(dilation))[1])
        except ValueError:
            continue
        cases.append((lead + hw, ks, padding, stride, dilation))
    return cases


GRID = _grid()


def test_grid_is_large():
    assert len(GRID) >= 60


@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
@pytest.mark.parametrize("shape, ks, padding, stride, dilation", GRID)
def test_grid_vs_reference(shape, ks, padding, stride, dilation, flip, kernel_set):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    k = rng.standard_normal(ks)
    f = cyconv.convolve2d if flip else cyconv.correlate2d
    got = f(x, k, stride=stride, padding=padding, dilation=dilation)
    ref = reference(x, k, stride=stride, padding=padding, dilation=dilation, flip=flip)
    assert got.shape == ref.shape
    assert_close(got, ref)


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), ((0, 2), (3, 1)), "same", "full"])
def test_padding_modes(padding, padding_mode, kernel_set):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 7))
    k = rng.standard_normal((3, 4))
    kw = dict(padding=padding, padding_mode=padding_mode, stride=(1, 2))
    assert_close(cyconv.correlate2d(x, k, **kw), reference(x, k, **kw))
    assert_close(cyconv.convolve2d(x, k, **kw), reference(x, k, flip=True, **kw))


def test_convolve_is_flipped_correlate():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, 8))
    k = rng.standard_normal((3, 2))
    for padding in ("same", "same_upper", "full", 1):
        np.testing.assert_array_equal(cyconv.convolve2d(x, k, padding=padding, dilation=(2, 1)),
                                      cyconv.correlate2d(x, k[::-1, ::-1], padding=padding, dilation=(2, 1)))


# ------------------------------------------------------------------------------ SciPy


@pytest.mark.parametrize("ks", [(1, 1), (3, 3), (2, 2), (4, 3), (2, 5), (1, 4), (5, 5)])
@pytest.mark.parametrize("hw", [(7, 9), (5, 5), (9, 4)])
def test_vs_scipy(hw, ks):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(4)
    x = rng.standard_normal(hw)
    k = rng.standard_normal(ks)
    odd = ks[0] % 2 and ks[1] % 2
    for mode in ("full", "same", "valid"):
        if mode == "valid" and (ks[0] > hw[0] or ks[1] > hw[1]):
            continue
        np.testing.assert_allclose(cyconv.convolve2d(x, k, padding=mode), signal.convolve2d(x, k, mode),
                                   rtol=1e-12, atol=1e-12)
        expected = signal.correlate2d(x, k, mode)
        np.testing.assert_allclose(cyconv.correlate2d(x, k, padding="same_upper" if mode == "same" else mode),
                                   expected, rtol=1e-12, atol=1e-12)
        if odd or mode != "same":
            np.testing.assert_allclose(cyconv.correlate2d(x, k, padding=mode), expected,
                                       rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------- dtypes, layouts


@pytest.mark.parametrize("xdt, kdt, expected", [
    (np.float32, np.float32, np.float32),
    (np.float16, np.float16, np.float16),
    (np.float64, np.float32, np.float64),
    (np.int64, np.int8, np.float64),
    (np.bool_, np.float32, np.float32),
    (np.uint16, np.uint16, np.float64),
])
def test_dtypes(xdt, kdt, expected):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=(2, 6, 7)).astype(xdt)
    k = rng.integers(0, 3, size=(3, 2)).astype(kdt)
    got = cyconv.correlate2d(x, k, padding=1)
    assert got.dtype == expected
    np.testing.assert_array_equal(got, reference(x, k, padding=1))


def test_float32_random():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 20, 17)).astype(np.float32)
    k = rng.standard_normal((5, 4)).astype(np.float32)
    assert_close(cyconv.correlate2d(x, k, padding="same"), reference(x, k, padding="same"), np.float32)


@pytest.mark.parametrize("layout", ["fortran", "negative", "swapped", "readonly", "strided"])
def test_layouts(layout):
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3, 8, 10))
    k = rng.standard_normal((3, 3))
    if layout == "fortran":
        x = np.asfortranarray(base)
    elif layout == "negative":
        x = base[::-1, ::-1, ::-2]
    elif layout == "swapped":
        x = base.astype(base.dtype.newbyteorder())
    elif layout == "readonly":
        x = base.copy()
        x.flags.writeable = False
    else:
        x = base[:, ::2, 1:]
    expected = cyconv.correlate2d(np.ascontiguousarray(x, dtype=np.float64), k, padding=1)
    np.testing.assert_array_equal(cyconv.correlate2d(x, k, padding=1), expected)
    kf = np.asfortranarray(k)[::-1]
    np.testing.assert_array_equal(cyconv.correlate2d(x, kf, padding=1),
                                  cyconv.correlate2d(np.ascontiguousarray(x, dtype=np.float64),
                                                     np.ascontiguousarray(kf), padding=1))


def test_empty_leading_axis():
    got = cyconv.correlate2d(np.zeros((0, 3, 6, 6), np.float32), np.ones((3, 3)), padding=1)
    assert got.shape == (0, 3, 6, 6) and got.dtype == np.float64
    got = cyconv.convolve2d(np.zeros((2, 0, 6, 6), np.float32), np.ones((3, 3), np.float32), stride=2)
    assert got.shape == (2, 0, 2, 2) and got.dtype == np.float32


def test_out():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 5, 6))
    k = rng.standard_normal((2, 2))
    big = np.zeros((2, 4, 10))
    out = big[:, :, ::2]
    assert cyconv.correlate2d(x, k, out=out) is out
    np.testing.assert_array_equal(out, cyconv.correlate2d(x, k))
    out16 = np.empty((4, 5), np.float16)
    assert cyconv.convolve2d(x[0].astype(np.float16), k.astype(np.float16), out=out16) is out16
    assert_close(out16, reference(x[0], k, flip=True), np.float16)
    with pytest.raises(ValueError, match=r"out has shape \(2, 5, 6\), expected the result shape \(2, 4, 5\)"):
        cyconv.correlate2d(x, k, out=np.empty((2, 5, 6)))
    with pytest.raises(ValueError, match=r"out overlaps an input"):
        cyconv.correlate2d(x, k, out=x[:, :4, :5])


# ----------------------------------------------------------------------------- errors

ERRORS = [
    ((np.zeros(5), np.ones((1, 1))), {}, ValueError, r"x must have at least 2 dimensions \(\.\.\., H, W\), got shape \(5,\)"),
    ((np.zeros((4, 4)), np.ones(3)), {}, ValueError, r"kernel must be 2-D \(kh, kw\), got 1 dimensions"),
    ((np.zeros((4, 4)), np.ones((1, 2, 2))), {}, ValueError, r"kernel must be 2-D"),
    ((np.zeros((4, 4)), np.ones((0, 2))), {}, ValueError, r"kernel has an empty axis"),
    ((np.zeros((2, 0, 4)), np.ones((1, 1))), {}, ValueError, r"x has an empty spatial axis"),
    ((np.zeros((4, 4)), np.ones((7, 1))), {}, ValueError,
     r"output height = floor\(\(4 - 7 \+ 0 \+ 1\)/1\) = -2 < 1: the 7-row kernel is taller than the 4-row padded input"),
    ((np.zeros((4, 4)), np.ones((2, 2))), dict(stride=0), ValueError, r"stride must be >= 1"),
    ((np.zeros((4, 4)), np.ones((2, 2))), dict(dilation=(1, 0)), ValueError, r"dilation must be >= 1"),
    ((np.zeros((4, 4)), np.ones((2, 2))), dict(stride=2.0), TypeError, r"stride must be an integer"),
    ((np.zeros((4, 4)), np.ones((2, 2))), dict(padding=-3), ValueError, r"padding must be >= 0"),
    ((np.zeros((4, 4)), np.ones((2, 2))), dict(padding="circular"), ValueError, r"padding must be .* got 'circular'"),
    ((np.zeros((4, 4)), np.ones((2, 2))), dict(padding_mode="wrap"), ValueError, r"padding_mode must be one of"),
    ((np.zeros((4, 4)), np.ones((3, 3))), dict(padding=4, padding_mode="reflect"), ValueError,
     r"reflect.*padding < the input height \(4\)"),
    ((np.zeros((4, 4), complex), np.ones((2, 2))), {}, TypeError, r"x must have a real numeric dtype"),
    ((np.zeros((4, 4)), np.array([["a", "b"]])), {}, TypeError, r"kernel must have a real numeric dtype"),
    ((np.zeros((4, 4)), np.ones((2, 2))), dict(out=np.empty((3, 3), np.float32)), ValueError,
     r"out has dtype float32, expected the result dtype float64"),
]


@pytest.mark.parametrize("args, kwargs, exc, match", ERRORS)
@pytest.mark.parametrize("func", [cyconv.correlate2d, cyconv.convolve2d])
def test_errors(func, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        func(*args, **kwargs)
