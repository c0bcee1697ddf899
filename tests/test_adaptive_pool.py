"""Adaptive average/max pooling and the average's gradient: plain-loop references, PyTorch,
finite differences, dtypes, memory orders, axes and the error table."""

import numpy as np
import pytest

import cyconv
from reference_adaptive import avg_backward_planes, avg_planes, max_planes

SIZES = [(1, 1), (4, 4), (5, 7), (7, 5), (9, 13)]
OUTS = [1, 2, 3, (2, 5), (4, 1), (11, 6)]  # divisible, non-divisible, larger than the input


def _norm(o, hw):
    o = (o, o) if isinstance(o, int) else o
    return tuple(n if v is None else v for v, n in zip(o, hw))


@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("o", OUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_reference(hw, o, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + hw).astype(dtype)
    oh, ow = _norm(o, hw)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    avg = cyconv.adaptive_avg_pool2d(x, o)
    assert avg.dtype == dtype and avg.shape == (2, 3, oh, ow)
    np.testing.assert_allclose(avg, avg_planes(x, oh, ow), rtol=tol, atol=tol)
    values, indices = cyconv.adaptive_max_pool2d(x, o, return_indices=True)
    ref_v, ref_i = max_planes(x, oh, ow)
    assert values.dtype == dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(values, ref_v)
    np.testing.assert_array_equal(indices, ref_i)
    np.testing.assert_array_equal(cyconv.adaptive_max_pool2d(x, o), ref_v)
    g = rng.standard_normal((2, 3, oh, ow)).astype(dtype)
    gi = cyconv.adaptive_avg_pool2d_backward(g, x.shape)
    assert gi.dtype == dtype and gi.shape == x.shape
    np.testing.assert_allclose(gi, avg_backward_planes(g, x.shape), rtol=tol, atol=tol)


def test_none_keeps_an_axis():
    x = np.arange(30.0).reshape(5, 6)
    assert cyconv.adaptive_avg_pool2d(x, (None, 2)).shape == (5, 2)
    assert cyconv.adaptive_max_pool2d(x, (3, None)).shape == (3, 6)
    np.testing.assert_array_equal(cyconv.adaptive_avg_pool2d(x, (None, None)), x)


def test_ties_first_maximum_and_nan_last():
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 2.0]])
    v, i = cyconv.adaptive_max_pool2d(x, 1, return_indices=True)
    assert v[0, 0] == 3.0 and i[0, 0] == 1
    x = np.array([[np.nan, 5.0], [np.nan, 9.0]])
    v, i = cyconv.adaptive_max_pool2d(x, 1, return_indices=True)
    assert np.isnan(v[0, 0]) and i[0, 0] == 2
    assert np.isnan(cyconv.adaptive_avg_pool2d(x, 1)[0, 0])


torch_cases = [((6, 8), (4, 3)), ((7, 5), (3, 3)), ((3, 4), (7, 9)), ((10, 10), (1, 1)), ((13, 7), (5, 7))]


@pytest.mark.parametrize("hw, o", torch_cases)
def test_against_torch(hw, o):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    # small integers: many ties; a few NaN and inf
    x = rng.integers(0, 4, (2, 3) + hw).astype(np.float64)
    x.flat[rng.integers(0, x.size, 5)] = np.nan
    x.flat[rng.integers(0, x.size, 3)] = np.inf
    t = torch.tensor(x, requires_grad=True)
    tv, ti = F.adaptive_max_pool2d(t, o, return_indices=True)
    v, i = cyconv.adaptive_max_pool2d(x, o, return_indices=True)
    np.testing.assert_array_equal(v, tv.detach().numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d(x, o),
                               F.adaptive_avg_pool2d(torch.tensor(x), o).numpy(), rtol=1e-14)
    # the max gradient is max_pool2d_backward with these indices
    finite = np.nan_to_num(x, nan=0.5, posinf=2.5)
    t = torch.tensor(finite, requires_grad=True)
    tv, _ = F.adaptive_max_pool2d(t, o, return_indices=True)
    g = rng.standard_normal(tv.shape)
    tv.backward(torch.tensor(g))
    _, i = cyconv.adaptive_max_pool2d(finite, o, return_indices=True)
    np.testing.assert_allclose(cyconv.max_pool2d_backward(g, i, x.shape), t.grad.numpy(), rtol=1e-14)
    t = torch.tensor(finite, requires_grad=True)
    F.adaptive_avg_pool2d(t, o).backward(torch.tensor(g))
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d_backward(g, x.shape), t.grad.numpy(),
                               rtol=1e-13, atol=1e-15)


def test_float32_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(2).standard_normal((4, 16, 17, 23)).astype(np.float32)
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d(x, (5, 7)),
                               F.adaptive_avg_pool2d(torch.tensor(x), (5, 7)).numpy(), rtol=1e-5, atol=1e-6)


def test_backward_finite_differences_and_adjoint():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 7))
    g = rng.standard_normal((2, 3, 4))
    grad = cyconv.adaptive_avg_pool2d_backward(g, x.shape)
    eps = 1e-6
    num = np.empty_like(x)
    for k in range(x.size):
        d = np.zeros(x.size)
        d[k] = eps
        d = d.reshape(x.shape)
        num.flat[k] = (np.sum(g * cyconv.adaptive_avg_pool2d(x + d, (3, 4)))
                       - np.sum(g * cyconv.adaptive_avg_pool2d(x - d, (3, 4)))) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-7, atol=1e-9)
    # <pool(x), g> == <x, pool^T(g)>, with axes in the middle of the array too
    x = rng.standard_normal((3, 6, 2, 11, 4))
    g = rng.standard_normal((3, 4, 2, 3, 4))
    lhs = np.sum(cyconv.adaptive_avg_pool2d(x, (4, 3), axes=(1, 3)) * g)
    rhs = np.sum(x * cyconv.adaptive_avg_pool2d_backward(g, x.shape, axes=(1, 3)))
    assert np.isclose(lhs, rhs, rtol=1e-12)


@pytest.mark.parametrize("axes", [(0, 1), (1, 2), (-3, -1), (2, 0), (-1, -2)])
def test_axes_equal_moving_the_axes(axes):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, (6, 7, 5)).astype(np.float64)
    a0, a1 = (a % 3 for a in axes)
    moved = np.moveaxis(x, (a0, a1), (-2, -1))
    back = (lambda r: np.moveaxis(r, (-2, -1), (a0, a1)))
    o = (3, 2)
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d(x, o, axes=axes),
                               back(avg_planes(moved, *o)), rtol=1e-14)
    v, i = cyconv.adaptive_max_pool2d(x, o, axes=axes, return_indices=True)
    rv, ri = max_planes(moved, *o)
    np.testing.assert_array_equal(v, back(rv))
    np.testing.assert_array_equal(i, back(ri))  # h*W + w with h along axes[0]
    g = rng.standard_normal(v.shape)
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d_backward(g, x.shape, axes=axes),
                               back(avg_backward_planes(np.moveaxis(g, (a0, a1), (-2, -1)), moved.shape)),
                               rtol=1e-13)


def test_hwc_image():
    rgb = np.random.default_rng(5).integers(0, 256, (37, 29, 3)).astype(np.uint8)
    out = cyconv.adaptive_max_pool2d(rgb, (4, 4), axes=(0, 1))
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.moveaxis(max_planes(np.moveaxis(rgb, 2, 0), 4, 4)[0], 0, 2))
    avg = cyconv.adaptive_avg_pool2d(rgb, 2, axes=(0, 1))
    assert avg.shape == (2, 2, 3) and avg.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int8, np.uint16, np.int32, np.uint64,
                                   np.int64, np.float16, np.float32, np.longdouble])
def test_max_keeps_every_dtype(dtype):
    rng = np.random.default_rng(6)
    x = rng.integers(0, 100, (3, 5, 6)).astype(dtype)
    if np.dtype(dtype).kind == "u" and np.dtype(dtype).itemsize == 8:
        x[0, 0, 0] = np.iinfo(np.uint64).max  # beyond int64 and float64
    v, i = cyconv.adaptive_max_pool2d(x, (2, 4), return_indices=True)
    assert v.dtype == dtype
    rv, ri = max_planes(x, 2, 4)
    np.testing.assert_array_equal(v, rv)
    np.testing.assert_array_equal(i, ri)


@pytest.mark.parametrize("dtype, expect", [(np.float16, np.float16), (np.int32, np.float64),
                                           (np.bool_, np.float64), (np.uint8, np.float64)])
def test_avg_dtype_rules(dtype, expect):
    x = np.arange(24).reshape(4, 6).astype(dtype)
    out = cyconv.adaptive_avg_pool2d(x, (2, 3))
    assert out.dtype == expect
    np.testing.assert_allclose(out.astype(np.float64), avg_planes(x.astype(np.float64), 2, 3), rtol=1e-3)
    assert cyconv.adaptive_avg_pool2d_backward(np.ones((2, 3), dtype), (4, 6)).dtype == expect


def test_memory_orders_and_inputs_untouched():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3, 9, 8))
    expect_avg = cyconv.adaptive_avg_pool2d(base, (4, 3))
    expect_max = cyconv.adaptive_max_pool2d(base, (4, 3), return_indices=True)
    ro = base.copy()
    ro.flags.writeable = False
    variants = [np.asfortranarray(base), base[:, ::-1, ::-1].copy()[:, ::-1, ::-1], ro,
                base.astype(base.dtype.newbyteorder()), np.swapaxes(np.swapaxes(base, 1, 2).copy(), 1, 2)]
    for v in variants:
        before = v.copy()
        np.testing.assert_array_equal(cyconv.adaptive_avg_pool2d(v, (4, 3)), expect_avg)
        got = cyconv.adaptive_max_pool2d(v, (4, 3), return_indices=True)
        np.testing.assert_array_equal(got[0], expect_max[0])
        np.testing.assert_array_equal(got[1], expect_max[1])
        np.testing.assert_array_equal(v, before)
    # list input
    np.testing.assert_array_equal(cyconv.adaptive_avg_pool2d([[1.0, 3.0]], 1), [[2.0]])


def test_degenerate_sizes():
    assert cyconv.adaptive_avg_pool2d(np.zeros((0, 3, 5, 5)), 2).shape == (0, 3, 2, 2)
    v, i = cyconv.adaptive_max_pool2d(np.zeros((2, 0, 5, 5)), 2, return_indices=True)
    assert v.shape == i.shape == (2, 0, 2, 2)
    assert cyconv.adaptive_avg_pool2d(np.ones((2, 5, 5)), 0).shape == (2, 0, 0)  # PyTorch's answer
    assert cyconv.adaptive_max_pool2d(np.ones((2, 5, 5)), (0, 3)).shape == (2, 0, 3)
    np.testing.assert_array_equal(cyconv.adaptive_avg_pool2d_backward(np.ones((2, 0, 3)), (2, 5, 5)),
                                  np.zeros((2, 5, 5)))
    assert cyconv.adaptive_avg_pool2d_backward(np.ones((0, 2, 2)), (0, 5, 5)).shape == (0, 5, 5)


def test_threads_do_not_change_the_result():
    x = np.random.default_rng(8).standard_normal((8, 16, 33, 35))
    before = cyconv.get_num_threads()
    try:
        cyconv.set_num_threads(1)
        one = (cyconv.adaptive_avg_pool2d(x, 5), cyconv.adaptive_max_pool2d(x, 5, return_indices=True),
               cyconv.adaptive_avg_pool2d_backward(x[..., :5, :5], x.shape))
        cyconv.set_num_threads(2)
        two = (cyconv.adaptive_avg_pool2d(x, 5), cyconv.adaptive_max_pool2d(x, 5, return_indices=True),
               cyconv.adaptive_avg_pool2d_backward(x[..., :5, :5], x.shape))
    finally:
        cyconv.set_num_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1][0], two[1][0])
    np.testing.assert_array_equal(one[1][1], two[1][1])
    np.testing.assert_array_equal(one[2], two[2])


ERRORS = [
    (lambda: cyconv.adaptive_avg_pool2d(np.ones(4), 2), ValueError, "at least 2 dimensions"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4), complex), 2), TypeError, "real numeric dtype"),
    (lambda: cyconv.adaptive_max_pool2d(np.array([["a"]]), 2), TypeError, "real numeric dtype"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), 1.5), TypeError, "output_size must be an integer"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), True), TypeError, "bool"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), None), TypeError, "None is only allowed inside"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), -1), ValueError, "output_size must be >= 0"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), (1, 2, 3)), ValueError, "length 3"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((0, 4)), 2), ValueError, "empty pooled axis"),
    (lambda: cyconv.adaptive_max_pool2d(np.ones((4, 4)), 2, return_indices=1), TypeError, "must be a bool"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), 2, axes=(0, 0)), ValueError, "two different axes"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), 2, axes=(0, 2)), ValueError, "out of range"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), 2, axes=0), ValueError, "pair of two distinct"),
    (lambda: cyconv.adaptive_avg_pool2d(np.ones((4, 4)), 2, axes=(0.0, 1)), TypeError, "axes must be an integer"),
    (lambda: cyconv.adaptive_avg_pool2d_backward(np.ones((2, 2)), (4, 4, 4)), ValueError, "3 dimensions"),
    (lambda: cyconv.adaptive_avg_pool2d_backward(np.ones((3, 2, 2)), (4, 4, 4)), ValueError, "must match"),
    (lambda: cyconv.adaptive_avg_pool2d_backward(np.ones((2, 2)), (4, -4)), ValueError, "negative"),
    (lambda: cyconv.adaptive_avg_pool2d_backward(np.ones((2, 2)), (4, 0)), ValueError, "empty pooled axis"),
    (lambda: cyconv.adaptive_avg_pool2d_backward(np.ones((2, 2)), (4, 4.0)), TypeError, "input_shape"),
    (lambda: cyconv.adaptive_avg_pool2d_backward(np.ones((2, 2), complex), (4, 4)), TypeError, "real numeric"),
]


@pytest.mark.parametrize("call, exc, match", ERRORS)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("seed", range(40))
def test_random_against_reference(seed):
    """Random sizes, output sizes (None included), leading axes (empty included)."""
    rng = np.random.default_rng(1000 + seed)
    H, W = (int(v) for v in rng.integers(1, 10, 2))
    oh = None if seed % 5 == 0 else int(rng.integers(1, 12))
    ow = int(rng.integers(1, 12))
    lead = tuple(int(v) for v in rng.integers(0, 4, int(rng.integers(0, 3))))
    x = rng.integers(-3, 4, lead + (H, W)).astype(np.float64)
    o = (oh, ow)
    roh = H if oh is None else oh
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d(x, o), avg_planes(x, roh, ow), rtol=1e-14, atol=1e-15)
    v, i = cyconv.adaptive_max_pool2d(x, o, return_indices=True)
    rv, ri = max_planes(x, roh, ow)
    np.testing.assert_array_equal(v, rv)
    np.testing.assert_array_equal(i, ri)
    g = rng.standard_normal(v.shape)
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d_backward(g, x.shape), avg_backward_planes(g, x.shape),
                               rtol=1e-13, atol=1e-15)
