"""Max and average pooling: fast kernels against the plain-loop references in reference_pool.py."""

import itertools

import numpy as np
import pytest
import reference_pool as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import cyconv
from cyconv._shapes import _pool_args

# Per-dtype tolerances for the averaging functions (max pooling must match exactly).
TOL = {
    np.float16: dict(rtol=2e-3, atol=2e-3),
    np.float32: dict(rtol=2e-6, atol=2e-6),
    np.float64: dict(rtol=1e-13, atol=1e-13),
}

# (shape, kernel_size, stride, padding, dilation, ceil_mode): a grid of geometries.
SHAPES = [(5, 7), (8, 8), (1, 4), (9, 6), (3, 3)]
KERNELS = [1, 2, 3, (2, 3), (3, 1), 4]
STRIDES = [None, 1, 2, (1, 3)]
PADDINGS = [0, 1, "same", "same_upper", ((1, 0), (0, 1)), "full", "valid"]


def _geometries(dilations):
    for hw, k, s, p, d, cm in itertools.product(SHAPES, KERNELS, STRIDES, PADDINGS, dilations,
                                                (False, True)):
        try:
            cyconv.pool2d_output_shape(hw, k, stride=s, padding=p, dilation=d, ceil_mode=cm)
            kk, ss, pp, dd = _pool_args(k, s, p, d)
            # a dilated window may miss the input entirely (max_pool2d rejects it)
            for n, kn, sn, (b, _), dn in zip(hw, kk, ss, pp, dd):
                ho = ref.out_size(n, kn, sn, b, _, dn, cm)
                for i in range(ho):
                    if not any(0 <= i * sn - b + t * dn < n for t in range(kn)):
                        raise ValueError
        except ValueError:
            continue
        yield hw, k, s, p, d, cm


MAX_CASES = list(_geometries((1, 2)))
AVG_CASES = list(_geometries((1,)))


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_grid_is_large():
    assert len(MAX_CASES) > 400 and len(AVG_CASES) > 250


@pytest.mark.parametrize("hw,k,s,p,d,cm", MAX_CASES[::3])
def test_max_pool_grid(hw, k, s, p, d, cm):
    rng = _rng(hash((hw, str(k), str(s), str(p), d, cm)) % 2**32)
    # small integers: many ties, which must go to the first maximum
    x = rng.integers(-3, 4, (2,) + hw).astype(np.float64)
    kk, ss, pp, dd = _pool_args(k, s, p, d)
    want_v, want_i = ref.max_pool(x, kk, ss, pp, dd, cm)
    v, i = cyconv.max_pool2d(x, k, stride=s, padding=p, dilation=d, ceil_mode=cm, return_indices=True)
    np.testing.assert_array_equal(v, want_v)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_array_equal(cyconv.max_pool2d(x, k, stride=s, padding=p, dilation=d, ceil_mode=cm),
                                  want_v)
    g = rng.standard_normal(v.shape)
    np.testing.assert_allclose(cyconv.max_pool2d_backward(g, i, x.shape),
                               ref.max_pool_backward(g, want_i, x.shape), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("hw,k,s,p,d,cm", AVG_CASES[::2])
@pytest.mark.parametrize("cip,dov", [(True, None), (False, None), (True, 5)])
def test_avg_pool_grid(hw, k, s, p, d, cm, cip, dov):
    rng = _rng(hash((hw, str(k), str(s), str(p), cm, cip)) % 2**32)
    x = rng.standard_normal((2,) + hw)
    kk, ss, pp, _ = _pool_args(k, s, p, 1)
    opts = dict(stride=s, padding=p, ceil_mode=cm, count_include_pad=cip, divisor_override=dov)
    y = cyconv.avg_pool2d(x, k, **opts)
    np.testing.assert_allclose(y, ref.avg_pool(x, kk, ss, pp, cm, cip, dov), **TOL[np.float64])
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(cyconv.avg_pool2d_backward(g, x.shape, k, **opts),
                               ref.avg_pool_backward(g, x.shape, kk, ss, pp, cm, cip, dov),
                               **TOL[np.float64])


def test_larger_planes_and_kernels():
    """Rows longer than the fused-loop cases: kernels of 5 and 7 taps, many rows."""
    rng = _rng(1)
    x = rng.standard_normal((3, 23, 31))
    for k, s, p in [(5, 1, 2), (7, 2, 3), ((5, 7), (1, 2), (2, 3)), (4, 3, 2)]:
        kk, ss, pp, dd = _pool_args(k, s, p, 1)
        v, i = cyconv.max_pool2d(x, k, stride=s, padding=p, return_indices=True)
        want_v, want_i = ref.max_pool(x, kk, ss, pp, dd, False)
        np.testing.assert_array_equal(v, want_v)
        np.testing.assert_array_equal(i, want_i)
        for cip in (True, False):
            y = cyconv.avg_pool2d(x, k, stride=s, padding=p, count_include_pad=cip)
            np.testing.assert_allclose(y, ref.avg_pool(x, kk, ss, pp, False, cip, None), **TOL[np.float64])
            g = rng.standard_normal(y.shape)
            np.testing.assert_allclose(
                cyconv.avg_pool2d_backward(g, x.shape, k, stride=s, padding=p, count_include_pad=cip),
                ref.avg_pool_backward(g, x.shape, kk, ss, pp, False, cip, None), **TOL[np.float64])


# ---- the chapter's examples -------------------------------------------------------------


def test_chapter_examples():
    X = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(cyconv.max_pool2d(X, 3), [[[[10.0]]]])
    np.testing.assert_array_equal(cyconv.max_pool2d(X, 3, padding=1, stride=2), [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(cyconv.max_pool2d(X, (2, 3), stride=(2, 3), padding=(0, 1)),
                                  [[[[5, 7], [13, 15]]]])
    X2 = np.concatenate((X, X + 1), axis=1)
    np.testing.assert_array_equal(cyconv.max_pool2d(X2, 3, padding=1, stride=2),
                                  [[[[5, 7], [13, 15]], [[6, 8], [14, 16]]]])
    Y = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    np.testing.assert_array_equal(cyconv.max_pool2d(Y, 2, stride=1), [[4, 5], [7, 8]])
    np.testing.assert_array_equal(cyconv.avg_pool2d(Y, 2, stride=1), [[2, 3], [5, 6]])
    assert cyconv.max_pool2d(X, 3).dtype == np.float32


# ---- dtypes -------------------------------------------------------------------------------

INT_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64]


@pytest.mark.parametrize("dtype", INT_DTYPES + [np.float16, np.float32, np.float64, np.longdouble])
def test_max_pool_keeps_dtype_exactly(dtype):
    rng = _rng(2)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.finfo(dtype)
    # the extremes of the dtype, which a detour through float64 would round (64-bit ints)
    x = rng.integers(-5, 6, (2, 3, 7, 9)).astype(dtype) if info.min < 0 else \
        rng.integers(0, 11, (2, 3, 7, 9)).astype(dtype)
    x[0, 0, 0, 0] = info.max
    x[0, 0, 1, 1] = info.min
    x[1, 2, 3, 3] = info.max - 1 if np.issubdtype(dtype, np.integer) else info.max
    for k, s, p, d in [(2, None, 0, 1), (3, 1, 1, 1), ((2, 3), (2, 1), (1, 1), (2, 1))]:
        kk, ss, pp, dd = _pool_args(k, s, p, d)
        v, i = cyconv.max_pool2d(x, k, stride=s, padding=p, dilation=d, return_indices=True)
        want_v, want_i = ref.max_pool(x, kk, ss, pp, dd, False)
        assert v.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(v, want_v)
        np.testing.assert_array_equal(i, want_i)


@pytest.mark.parametrize("dtype", INT_DTYPES + [np.float32, np.float64, np.longdouble])
def test_max_pool_windows_at_the_dtype_minimum(dtype):
    """A window holding only the dtype's smallest value returns it (and its first cell)."""
    low = np.iinfo(dtype).min if np.issubdtype(dtype, np.integer) else -np.inf
    x = np.full((4, 6), low, dtype)
    x[3, 5] = low + 1 if np.issubdtype(dtype, np.integer) else -1.0
    for k, s, p in [(2, 2, 0), (2, 1, 1), (3, 2, 1), (2, 3, 0)]:
        v, i = cyconv.max_pool2d(x, k, stride=s, padding=p, return_indices=True)
        kk, ss, pp, dd = _pool_args(k, s, p, 1)
        want_v, want_i = ref.max_pool(x, kk, ss, pp, dd, False)
        np.testing.assert_array_equal(v, want_v)
        np.testing.assert_array_equal(i, want_i)
        np.testing.assert_array_equal(cyconv.max_pool2d(x, k, stride=s, padding=p), want_v)


def test_max_pool_bool():
    x = np.array([[False, False, True], [False, False, False], [True, True, False]])
    v, i = cyconv.max_pool2d(x, 2, stride=1, return_indices=True)
    assert v.dtype == np.bool_
    np.testing.assert_array_equal(v, [[False, True], [True, True]])
    np.testing.assert_array_equal(i, [[0, 2], [6, 7]])


def test_uint8_image_stays_uint8():
    img = np.array([[[10, 200], [255, 0]]], np.uint8)
    out = cyconv.max_pool2d(img, 2)
    assert out.dtype == np.uint8 and out[0, 0, 0] == 255


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_avg_pool_float_dtypes(dtype):
    rng = _rng(3)
    x = rng.standard_normal((2, 9, 11)).astype(dtype)
    y = cyconv.avg_pool2d(x, 3, stride=1, padding=1)
    assert y.dtype == dtype
    want = ref.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), False, True, None)
    np.testing.assert_allclose(y.astype(np.float64), want, **TOL[dtype])
    g = rng.standard_normal(y.shape).astype(dtype)
    gi = cyconv.avg_pool2d_backward(g, x.shape, 3, stride=1, padding=1)
    assert gi.dtype == dtype
    np.testing.assert_allclose(gi.astype(np.float64),
                               ref.avg_pool_backward(g, x.shape, (3, 3), (1, 1), ((1, 1), (1, 1)),
                                                     False, True, None), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32, np.bool_])
def test_avg_pool_ints_compute_in_float64(dtype):
    x = (np.arange(30) % 7).reshape(5, 6).astype(dtype)
    y = cyconv.avg_pool2d(x, 2, stride=1)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref.avg_pool(x, (2, 2), (1, 1), ((0, 0), (0, 0)), False, True, None),
                               **TOL[np.float64])


@pytest.mark.parametrize("dtype,result", [(np.float16, np.float16), (np.float32, np.float32),
                                          (np.int32, np.float64), (np.float64, np.float64)])
def test_max_pool_backward_dtypes(dtype, result):
    x = np.arange(16.0).reshape(4, 4)
    _, i = cyconv.max_pool2d(x, 2, return_indices=True)
    g = np.ones((2, 2), dtype)
    gi = cyconv.max_pool2d_backward(g, i, x.shape)
    assert gi.dtype == result
    want = np.zeros((4, 4))
    want[1::2, 1::2] = 1
    np.testing.assert_array_equal(gi, want)


# ---- leading axes and memory layouts -------------------------------------------------------

@pytest.mark.parametrize("lead", [(), (3,), (2, 3), (2, 3, 1)])
def test_leading_axes(lead):
    rng = _rng(4)
    x = rng.standard_normal(lead + (7, 6))
    v, i = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    y = cyconv.avg_pool2d(x, 3, stride=2, padding=1)
    assert v.shape == i.shape == y.shape == lead + (4, 3)
    planes = x.reshape((-1, 7, 6))
    for n, plane in enumerate(planes):
        pv, pi = cyconv.max_pool2d(plane, 3, stride=2, padding=1, return_indices=True)
        np.testing.assert_array_equal(v.reshape((-1, 4, 3))[n], pv)
        np.testing.assert_array_equal(i.reshape((-1, 4, 3))[n], pi)
        np.testing.assert_array_equal(y.reshape((-1, 4, 3))[n], cyconv.avg_pool2d(plane, 3, stride=2, padding=1))
    g = rng.standard_normal(v.shape)
    assert cyconv.max_pool2d_backward(g, i, x.shape).shape == x.shape
    assert cyconv.avg_pool2d_backward(g, x.shape, 3, stride=2, padding=1).shape == x.shape


@pytest.mark.parametrize("lead", [(0,), (2, 0), (0, 3)])
def test_empty_leading_axes(lead):
    x = np.zeros(lead + (5, 5), np.float32)
    v, i = cyconv.max_pool2d(x, 2, return_indices=True)
    assert v.shape == i.shape == lead + (2, 2) and v.dtype == np.float32 and i.dtype == np.int64
    y = cyconv.avg_pool2d(x, 2)
    assert y.shape == lead + (2, 2)
    assert cyconv.max_pool2d_backward(v, i, x.shape).shape == x.shape
    assert cyconv.avg_pool2d_backward(y, x.shape, 2).shape == x.shape


def _layouts(x):
    """The same values in other memory layouts."""
    yield "fortran", np.asfortranarray(x)
    yield "negative strides", x[..., ::-1, ::-1].copy()[..., ::-1, ::-1]
    yield "non-contiguous", np.repeat(x, 2, axis=-1)[..., ::2]
    swapped = x.astype(x.dtype.newbyteorder(">" if x.dtype.byteorder != ">" else "<"))
    yield "byte-swapped", swapped
    ro = x.copy()
    ro.flags.writeable = False
    yield "read-only", ro


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_memory_layouts(dtype):
    rng = _rng(5)
    x = (rng.standard_normal((2, 3, 8, 9)) * 10).astype(dtype)
    base_v, base_i = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    base_a = cyconv.avg_pool2d(x, 3, stride=2, padding=1)
    g = rng.standard_normal(base_a.shape).astype(np.float64)
    base_ga = cyconv.avg_pool2d_backward(g, x.shape, 3, stride=2, padding=1)
    base_gm = cyconv.max_pool2d_backward(g, base_i, x.shape)
    before = x.copy()
    for name, y in _layouts(x):
        np.testing.assert_array_equal(y, x)  # the layouts hold the same values
        v, i = cyconv.max_pool2d(y, 3, stride=2, padding=1, return_indices=True)
        np.testing.assert_array_equal(v, base_v, err_msg=name)
        np.testing.assert_array_equal(i, base_i, err_msg=name)
        np.testing.assert_array_equal(cyconv.avg_pool2d(y, 3, stride=2, padding=1), base_a, err_msg=name)
    for name, gl in _layouts(g):
        np.testing.assert_array_equal(cyconv.avg_pool2d_backward(gl, x.shape, 3, stride=2, padding=1),
                                      base_ga, err_msg=name)
        np.testing.assert_array_equal(cyconv.max_pool2d_backward(gl, np.asfortranarray(base_i), x.shape),
                                      base_gm, err_msg=name)
    np.testing.assert_array_equal(x, before)  # inputs are never modified


# ---- ties, NaN, infinities ----------------------------------------------------------------

def test_ties_go_to_first_in_row_major_order():
    x = np.array([[1.0, 5.0, 5.0], [5.0, 5.0, 0.0], [5.0, 0.0, 5.0]])
    v, i = cyconv.max_pool2d(x, 3, return_indices=True)
    assert v[0, 0] == 5 and i[0, 0] == 1
    v, i = cyconv.max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(i, [[1, 1], [3, 4]])
    # +0.0 and -0.0 tie: the first one wins
    z = np.array([[-0.0, 0.0], [0.0, -0.0]])
    v, i = cyconv.max_pool2d(z, 2, return_indices=True)
    assert i[0, 0] == 0 and np.signbit(v[0, 0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_nan_propagates_and_points_at_the_last_nan(dtype):
    nan = np.nan
    x = np.array([[1.0, nan, 3.0], [nan, 5.0, nan], [0.0, 1.0, 2.0]], dtype)
    v, i = cyconv.max_pool2d(x, 3, return_indices=True)
    assert np.isnan(v[0, 0]) and i[0, 0] == 5
    v, i = cyconv.max_pool2d(x, (1, 3), return_indices=True)
    assert np.isnan(v[0, 0]) and np.isnan(v[1, 0]) and v[2, 0] == 2
    np.testing.assert_array_equal(i[:, 0], [1, 5, 8])
    # the 2x2/stride-2 fast path and the general path agree
    y = np.full((4, 4), 1.0, dtype)
    y[0, 1] = y[1, 0] = nan
    y[3, 3] = nan
    v, i = cyconv.max_pool2d(y, 2, return_indices=True)
    np.testing.assert_array_equal(i, [[4, 2], [8, 15]])
    assert np.isnan(v[0, 0]) and np.isnan(v[1, 1]) and v[0, 1] == 1
    np.testing.assert_array_equal(cyconv.max_pool2d(y, 2), v)
    # NaN propagates through the average
    assert np.isnan(cyconv.avg_pool2d(x, 2)[0, 0])


def test_negative_infinity():
    x = np.full((3, 3), -np.inf)
    v, i = cyconv.max_pool2d(x, 2, stride=1, padding=1, return_indices=True)
    assert np.all(v == -np.inf)
    # each window's index is its first real cell
    np.testing.assert_array_equal(i, [[0, 0, 1, 2], [0, 0, 1, 2], [3, 3, 4, 5], [6, 6, 7, 8]])
    x[2, 2] = -1e300
    v, i = cyconv.max_pool2d(x, 3, return_indices=True)
    assert v[0, 0] == -1e300 and i[0, 0] == 8
    x[0, 0] = np.inf
    v, i = cyconv.max_pool2d(x, 3, return_indices=True)
    assert v[0, 0] == np.inf and i[0, 0] == 0


def test_padding_never_wins():
    x = -np.ones((1, 3, 3)) * np.arange(1, 10).reshape(3, 3)
    v, i = cyconv.max_pool2d(x, 3, stride=1, padding=1, return_indices=True)
    assert np.all(v < 0)  # the (implicit) zero padding never shows up
    np.testing.assert_array_equal(i[0], [[0, 0, 1], [0, 0, 1], [3, 3, 4]])


# ---- out= ----------------------------------------------------------------------------------

def test_out_argument():
    rng = _rng(6)
    x = rng.standard_normal((2, 6, 6)).astype(np.float32)
    out = np.empty((2, 3, 3), np.float32)
    r = cyconv.max_pool2d(x, 2, out=out)
    assert r is out
    np.testing.assert_array_equal(out, cyconv.max_pool2d(x, 2))
    r, i = cyconv.max_pool2d(x, 2, out=out, return_indices=True)
    assert r is out and i.dtype == np.int64
    out2 = np.empty((2, 3, 3), np.float32)
    assert cyconv.avg_pool2d(x, 2, out=out2) is out2
    np.testing.assert_array_equal(out2, cyconv.avg_pool2d(x, 2))
    # non-contiguous and float16 destinations go through a scratch buffer
    big = np.zeros((2, 3, 6), np.float32)
    cyconv.avg_pool2d(x, 2, out=big[:, :, ::2])
    np.testing.assert_array_equal(big[:, :, ::2], out2)
    assert np.all(big[:, :, 1::2] == 0)
    h = np.empty((2, 3, 3), np.float16)
    cyconv.avg_pool2d(x.astype(np.float16), 2, out=h)
    np.testing.assert_allclose(h, out2, **TOL[np.float16])
    u = np.empty((3, 3), np.uint8)
    cyconv.max_pool2d(np.arange(36, dtype=np.uint8).reshape(6, 6), 2, out=u)
    assert u[2, 2] == 35


# ---- threads -------------------------------------------------------------------------------

def test_one_and_two_threads_agree():
    rng = _rng(7)
    x = rng.standard_normal((4, 16, 40, 40))  # large enough to run in parallel
    before = cyconv.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            cyconv.set_num_threads(n)
            v, i = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
            v2, i2 = cyconv.max_pool2d(x, 2, return_indices=True)
            a = cyconv.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
            ga = cyconv.avg_pool2d_backward(a, x.shape, 3, stride=1, padding=1, count_include_pad=False)
            gm = cyconv.max_pool2d_backward(v, i, x.shape)
            results.append((v, i, v2, i2, a, ga, gm))
    finally:
        cyconv.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


# ---- gradients by finite differences --------------------------------------------------------

def _numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("k,s,p,cm,cip,dov", [
    (2, 1, 0, False, True, None), (3, 2, 1, True, False, None), ((2, 3), (1, 2), (1, 1), True, True, None),
    (3, 1, 1, False, True, 4),
])
def test_avg_pool_backward_finite_differences(k, s, p, cm, cip, dov):
    rng = _rng(8)
    x = rng.standard_normal((2, 5, 6))
    opts = dict(stride=s, padding=p, ceil_mode=cm, count_include_pad=cip, divisor_override=dov)
    w = rng.standard_normal(cyconv.avg_pool2d(x, k, **opts).shape)
    num = _numeric_grad(lambda z: float(np.sum(cyconv.avg_pool2d(z, k, **opts) * w)), x)
    np.testing.assert_allclose(cyconv.avg_pool2d_backward(w, x.shape, k, **opts), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("k,s,p,d,cm", [(2, 2, 0, 1, False), (3, 1, 1, 1, False), (3, 2, 1, 2, True),
                                        ((2, 3), (2, 1), (1, 1), 1, True)])
def test_max_pool_backward_finite_differences(k, s, p, d, cm):
    rng = _rng(9)
    x = rng.permutation(60).reshape(2, 5, 6) / 7.0  # distinct values: no ties, so differentiable
    opts = dict(stride=s, padding=p, dilation=d, ceil_mode=cm)
    v, i = cyconv.max_pool2d(x, k, return_indices=True, **opts)
    w = rng.standard_normal(v.shape)
    num = _numeric_grad(lambda z: float(np.sum(cyconv.max_pool2d(z, k, **opts) * w)), x)
    np.testing.assert_allclose(cyconv.max_pool2d_backward(w, i, x.shape), num, rtol=1e-6, atol=1e-8)


def test_max_pool_backward_overlapping_windows_add_up():
    x = np.array([[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]])
    v, i = cyconv.max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(i, [[4, 4], [4, 4]])
    g = cyconv.max_pool2d_backward(np.array([[1.0, 2.0], [3.0, 4.0]]), i, x.shape)
    assert g[1, 1] == 10 and g.sum() == 10


def test_max_pool_backward_accepts_other_integer_index_dtypes():
    x = np.arange(16.0).reshape(4, 4)
    _, i = cyconv.max_pool2d(x, 2, return_indices=True)
    g = np.ones((2, 2))
    want = cyconv.max_pool2d_backward(g, i, x.shape)
    for dt in (np.int32, np.uint16, np.uint64):
        np.testing.assert_array_equal(cyconv.max_pool2d_backward(g, i.astype(dt), x.shape), want)


# ---- properties (hypothesis) ---------------------------------------------------------------

@st.composite
def _pool_problem(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    cm = draw(st.booleans())
    hw = (draw(st.integers(max(1, k[0] - 2 * p[0]), 9)), draw(st.integers(max(1, k[1] - 2 * p[1]), 9)))
    lead = draw(st.sampled_from([(), (2,), (1, 2)]))
    seed = draw(st.integers(0, 2**32 - 1))
    return lead + hw, k, s, p, cm, seed


@settings(max_examples=60, deadline=None)
@given(_pool_problem(), st.booleans())
def test_avg_pool_backward_is_the_adjoint(problem, cip):
    """<avg_pool(x), g> == <x, avg_pool_backward(g)> for every geometry."""
    shape, k, s, p, cm, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    opts = dict(stride=s, padding=p, ceil_mode=cm, count_include_pad=cip)
    y = cyconv.avg_pool2d(x, k, **opts)
    g = rng.standard_normal(y.shape)
    lhs = np.sum(y * g)
    rhs = np.sum(x * cyconv.avg_pool2d_backward(g, shape, k, **opts))
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs))


@settings(max_examples=60, deadline=None)
@given(_pool_problem())
def test_max_pool_indices_point_at_the_maxima(problem):
    """x.flat[index] is the pooled value, and the backward pass is the adjoint of that gather."""
    shape, k, s, p, cm, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, shape).astype(np.float32)
    v, i = cyconv.max_pool2d(x, k, stride=s, padding=p, ceil_mode=cm, return_indices=True)
    planes = x.reshape((-1, shape[-2] * shape[-1]))
    gathered = np.take_along_axis(planes, i.reshape(planes.shape[0], -1), axis=1)
    np.testing.assert_array_equal(gathered.reshape(v.shape), v)
    g = rng.integers(-3, 4, v.shape).astype(np.float64)
    assert np.sum(v * g) == np.sum(x * cyconv.max_pool2d_backward(g, i, shape))


# ---- max_pool2d_backward with arbitrary indices ------------------------------------------

@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("order", ["random", "descending", "jumps", "repeated"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_backward_any_index_order(threads, order, dtype):
    # The kernel zeroes each plane lazily, a chunk ahead of the largest index so far; the
    # result must not depend on the order of the indices. Planes of 48x50 cells span
    # several chunks; 16 planes of 7x9 indices (groups of four plus a tail) run threaded.
    rng = _rng(11)
    H, W, n = 48, 50, 48 * 50
    g = rng.standard_normal((2, 8, 7, 9)).astype(dtype)
    L = 7 * 9
    if order == "random":
        idx = rng.integers(0, n, g.shape)
    elif order == "descending":
        idx = np.broadcast_to(np.linspace(n - 1, 0, L).astype(np.int64).reshape(7, 9), g.shape)
    elif order == "jumps":  # last cell first, then low cells, then the middle
        flat = np.concatenate([[n - 1], np.arange(0, 31 * (L - 1) // 2, 31), n // 2 + np.arange(L - 1 - (L - 1) // 2)])
        idx = np.broadcast_to(flat[:L].reshape(7, 9), g.shape)
    else:  # few cells, each hit many times
        idx = rng.choice([0, 5, n - 1, n // 3], g.shape)
    expect = np.zeros((16, n), dtype)
    for p in range(16):
        np.add.at(expect[p], idx.reshape(16, L)[p], g.reshape(16, L)[p])
    before = cyconv.get_num_threads()
    cyconv.set_num_threads(threads)
    try:
        got = cyconv.max_pool2d_backward(g, idx, (2, 8, H, W))
    finally:
        cyconv.set_num_threads(before)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.reshape(16, n), expect, rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_max_backward_no_windows_gives_zeros():
    junk = np.full((2, 3, 5, 5), 7.0)  # freed memory the result may reuse
    del junk
    got = cyconv.max_pool2d_backward(np.zeros((2, 3, 0, 4)), np.zeros((2, 3, 0, 4), np.int64), (2, 3, 5, 5))
    np.testing.assert_array_equal(got, np.zeros((2, 3, 5, 5)))
