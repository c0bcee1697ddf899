"""Pooling against PyTorch (CPU) as a second oracle: random configurations, forward and autograd."""

import numpy as np
import pytest

import cyconv

torch = pytest.importorskip("torch")
F = torch.nn.functional

N_CASES = 60


def _max_config(rng):
    """A random max_pool2d configuration PyTorch accepts (symmetric padding)."""
    while True:
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        # PyTorch allows padding up to half the (undilated) kernel; cyconv up to half the
        # effective kernel, a superset
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        hw = tuple(int(v) for v in rng.integers(1, 12, 2))
        cm = bool(rng.integers(0, 2))
        try:
            cyconv.pool2d_output_shape(hw, k, stride=s, padding=p, dilation=d, ceil_mode=cm)
        except ValueError:
            continue
        # PyTorch returns -inf with an out-of-range index for windows that only see
        # padding; cyconv refuses those configurations (tested in the error table).
        try:
            cyconv.max_pool2d(np.zeros(hw), k, stride=s, padding=p, dilation=d, ceil_mode=cm)
        except ValueError:
            continue
        return hw, k, s, p, d, cm


def _avg_config(rng):
    while True:
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        hw = tuple(int(v) for v in rng.integers(1, 12, 2))
        cm = bool(rng.integers(0, 2))
        cip = bool(rng.integers(0, 2))
        dov = None if rng.integers(0, 3) else int(rng.integers(1, 10))
        try:
            cyconv.pool2d_output_shape(hw, k, stride=s, padding=p, ceil_mode=cm)
        except ValueError:
            continue
        return hw, k, s, p, cm, cip, dov


@pytest.mark.parametrize("seed", range(N_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_matches_torch(seed, dtype):
    rng = np.random.default_rng(seed)
    hw, k, s, p, d, cm = _max_config(rng)
    # small integers make ties; sprinkle NaN into some cases
    x = rng.integers(-3, 4, (2, 3) + hw).astype(dtype)
    if seed % 4 == 0:
        x[rng.random(x.shape) < 0.15] = np.nan
    tx = torch.from_numpy(x).requires_grad_(True)
    ty, ti = F.max_pool2d(tx, k, stride=s, padding=p, dilation=d, ceil_mode=cm, return_indices=True)
    v, i = cyconv.max_pool2d(x, k, stride=s, padding=p, dilation=d, ceil_mode=cm, return_indices=True)
    np.testing.assert_array_equal(v, ty.detach().numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    g = rng.standard_normal(v.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(cyconv.max_pool2d_backward(g, i, x.shape), tx.grad.numpy(),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", range(N_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool_matches_torch(seed, dtype):
    rng = np.random.default_rng(1000 + seed)
    hw, k, s, p, cm, cip, dov = _avg_config(rng)
    x = rng.standard_normal((2, 3) + hw).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = F.avg_pool2d(tx, k, stride=s, padding=p, ceil_mode=cm, count_include_pad=cip, divisor_override=dov)
    opts = dict(stride=s, padding=p, ceil_mode=cm, count_include_pad=cip, divisor_override=dov)
    y = cyconv.avg_pool2d(x, k, **opts)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(cyconv.avg_pool2d_backward(g, x.shape, k, **opts), tx.grad.numpy(), **tol)


def test_nan_ties_and_infinities_match_torch():
    nan, inf = np.nan, np.inf
    x = np.array([[[[1.0, nan, 3.0, nan], [nan, 5.0, nan, 2.0], [0.0, 1.0, 2.0, 2.0], [-inf, -inf, 2.0, 2.0]]]])
    for k, s, p in [(3, 1, 1), (2, 2, 0), (2, 1, 1), ((1, 3), 1, 0), (4, 1, 2)]:
        ty, ti = F.max_pool2d(torch.from_numpy(x), k, stride=s, padding=p, return_indices=True)
        v, i = cyconv.max_pool2d(x, k, stride=s, padding=p, return_indices=True)
        np.testing.assert_array_equal(v, ty.numpy())
        np.testing.assert_array_equal(i, ti.numpy())
    y = np.full((1, 1, 3, 3), -inf)
    ty, ti = F.max_pool2d(torch.from_numpy(y), 2, stride=1, padding=1, return_indices=True)
    v, i = cyconv.max_pool2d(y, 2, stride=1, padding=1, return_indices=True)
    np.testing.assert_array_equal(v, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy())


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32, np.int64, np.float16])
def test_max_pool_integer_dtypes_match_torch(dtype):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 100, (2, 3, 9, 8)).astype(dtype)
    ty, ti = F.max_pool2d(torch.from_numpy(x), 3, stride=2, padding=1, return_indices=True)
    v, i = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    assert v.dtype == dtype
    np.testing.assert_array_equal(v, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy())
