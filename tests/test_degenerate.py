"""Degenerate sizes (SPEC): N = 0, C_in = 0, empty spatial axes that padding fills, and
``divisor_override`` of either sign. Oracles: PyTorch (its empty_channel and
divisor_override behaviour), JAX's ``conv_general_dilated`` (padding-only windows), the
plain-loop references."""

import numpy as np
import pytest
from reference_conv_grad import conv2d_ref
from reference_pool import avg_pool, avg_pool_backward

import cyconv
import cyconv.nn


# ------------------------------------------------------------------------- N = 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_batch_everywhere(dtype):
    x = np.zeros((0, 3, 7, 6), dtype)
    w = np.ones((4, 3, 3, 2), dtype)
    y = cyconv.conv2d(x, w, padding=((2, 1), (0, 3)), stride=2)
    assert y.shape == (0, 4) + cyconv.conv2d_output_shape((1, 3, 7, 6), w.shape, padding=((2, 1), (0, 3)),
                                                          stride=2)[2:] and y.dtype == dtype
    g = cyconv.conv2d_backward(np.zeros((0, 4, 4, 4), dtype), x, w, stride=2, padding=((2, 1), (0, 3)),
                               padding_mode="circular")
    assert g.input.shape == x.shape and g.weight.shape == w.shape and not g.weight.any() and not g.bias.any()
    assert cyconv.correlate2d(np.zeros((0, 2, 5, 5), dtype), np.ones((2, 2)), padding=9,
                              padding_mode="reflect").shape == (0, 2, 22, 22)
    assert cyconv.max_pool2d(x, 2).shape == (0, 3, 3, 3)
    assert cyconv.avg_pool2d(x, 3, padding=1, divisor_override=-2).shape == (0, 3, 3, 2)


# ----------------------------------------------------------------------- C_in = 0


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("with_bias", [True, False])
def test_zero_input_channels_is_the_bias(groups, with_bias):
    rng = np.random.default_rng(0)
    x = np.zeros((2, 0, 6, 5))
    w = np.zeros((4, 0, 3, 2))
    b = rng.standard_normal(4) if with_bias else None
    y = cyconv.conv2d(x, w, b, padding=1, stride=(2, 1), groups=groups)
    assert y.shape == (2, 4, 3, 6)
    expected = np.broadcast_to((b if with_bias else np.zeros(4))[:, None, None], (2, 4, 3, 6))
    np.testing.assert_array_equal(y, expected)
    one = cyconv.conv2d(x[0], w, b, padding=1, stride=(2, 1), groups=groups)
    np.testing.assert_array_equal(one, expected[0])
    out = np.full((2, 4, 3, 6), np.nan, np.float32)
    cyconv.conv2d(x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32),
                  padding=1, stride=(2, 1), groups=groups, out=out)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_zero_input_channels_vs_torch():
    """PyTorch's empty_channel tests: the module runs and the gradients are the bias's.

    PyTorch does not fix the output's shape for C_in = 0 (its test skips the size check), so
    the value oracle is the same convolution with one all-zero input channel."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    b = rng.standard_normal(8)
    x = np.zeros((2, 0, 15, 9))
    w = np.zeros((8, 0, 2, 3))
    y = cyconv.conv2d(x, w, b, stride=2)
    xt = torch.zeros((2, 1, 15, 9), dtype=torch.float64)
    wt = torch.from_numpy(rng.standard_normal((8, 1, 2, 3)))
    bt = torch.from_numpy(b).requires_grad_()
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=2)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-15)
    g = rng.standard_normal(y.shape)
    yt.backward(torch.from_numpy(g))
    grads = cyconv.conv2d_backward(g, x, w, stride=2)
    assert grads.input.shape == x.shape and grads.weight.shape == w.shape
    np.testing.assert_allclose(grads.bias, bt.grad.numpy(), rtol=1e-12)
    # and PyTorch's own empty-channel call runs (its result shape is not checked upstream)
    torch.nn.functional.conv2d(torch.zeros((2, 0, 15, 9)), torch.zeros((8, 0, 2, 3)), torch.zeros(8))


def test_zero_input_channels_layer_and_errors():
    w = np.zeros((3, 0, 2, 2))
    assert cyconv.conv2d_output_shape((1, 0, 4, 4), w.shape) == (1, 3, 3, 3)
    with pytest.raises(ValueError, match=r"weight has an empty axis"):
        cyconv.conv2d(np.zeros((1, 2, 4, 4)), np.zeros((0, 2, 2, 2)))  # C_out = 0: PyTorch refuses too
    with pytest.raises(ValueError, match=r"input has 2 channels but weight expects"):
        cyconv.conv2d(np.zeros((1, 2, 4, 4)), w)


# ------------------------------------------------------- empty spatial axes + padding


def _jax_conv(x, w, b, pads, stride=(1, 1)):
    jax = pytest.importorskip("jax")
    from jax import lax
    y = lax.conv_general_dilated(x.astype(np.float32), w.astype(np.float32), stride, pads)
    return np.asarray(jax.device_get(y)) + b.astype(np.float32)[:, None, None]


@pytest.mark.parametrize("xshape, pads, stride", [
    ((2, 3, 4, 0), ((1, 1), (7, 13)), (1, 1)),  # JAX's width-0 input with padding 7/13
    ((1, 2, 0, 5), ((2, 3), (1, 1)), (2, 1)),
    ((1, 1, 0, 0), ((3, 3), (4, 4)), (1, 3)),
])
def test_empty_axis_conv_vs_jax(xshape, pads, stride):
    rng = np.random.default_rng(2)
    x = np.zeros(xshape)
    w = rng.standard_normal((4, xshape[1], 3, 3))
    b = rng.standard_normal(4)
    y = cyconv.conv2d(x, w, b, padding=pads, stride=stride)
    np.testing.assert_allclose(y, _jax_conv(x, w, b, pads, stride), rtol=1e-6)
    np.testing.assert_allclose(y, conv2d_ref(x, w, b, stride, pads), rtol=1e-15)
    g = rng.standard_normal(y.shape)
    grads = cyconv.conv2d_backward(g, x, w, padding=pads, stride=stride)
    assert grads.input.shape == x.shape
    np.testing.assert_array_equal(grads.weight, np.zeros_like(w))  # every tap read a zero
    np.testing.assert_allclose(grads.bias, g.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_empty_axis_is_ieee_zero_padding():
    """The window reads stored zeros: an inf weight gives 0*inf = NaN, as PyTorch would."""
    x = np.zeros((1, 1, 3, 0))
    w = np.array([[[[1.0, np.inf]]]])
    y = cyconv.conv2d(x, w, padding=((0, 0), (1, 1)))
    with np.errstate(invalid="ignore"):
        ref = conv2d_ref(x, w, None, (1, 1), ((0, 0), (1, 1)))
    assert y.shape == (1, 1, 3, 1)
    np.testing.assert_array_equal(y, ref)
    assert np.isnan(y).all()


def test_empty_axis_correlate_and_output_size():
    y = cyconv.correlate2d(np.zeros((2, 3, 0)), np.ones((2, 3)), padding=((0, 0), (2, 2)))
    assert y.shape == (2, 2, 2) and not y.any()
    assert cyconv.output_size(0, 3, padding=(7, 13)) == 18
    assert cyconv.conv2d_output_shape((1, 2, 4, 0), (4, 2, 3, 3), padding=((1, 1), (7, 13))) == (1, 4, 4, 18)
    assert cyconv.pool2d_output_shape((3, 0, 5), 2, padding=1) == (3, 1, 3)
    with pytest.raises(ValueError, match=r"padding_mode='circular' copies input cells into the padding"):
        cyconv.correlate2d(np.zeros((3, 0)), np.ones((1, 1)), padding=1, padding_mode="circular")


def test_empty_axis_pools():
    # k = 2, p = 1: one window of padding per axis
    x = np.zeros((3, 0, 5))
    np.testing.assert_array_equal(cyconv.avg_pool2d(x, 2, padding=1), np.zeros((3, 1, 3)))
    np.testing.assert_array_equal(cyconv.avg_pool2d(x, 2, padding=1, divisor_override=-3), np.zeros((3, 1, 3)))
    with np.errstate(all="raise"):  # silently NaN: 0 / 0 real cells
        nan = cyconv.avg_pool2d(x.astype(np.float32), 2, padding=1, count_include_pad=False)
    assert nan.shape == (3, 1, 3) and nan.dtype == np.float32 and np.isnan(nan).all()
    assert cyconv.avg_pool2d_backward(np.ones((3, 1, 3)), (3, 0, 5), 2, padding=1).shape == (3, 0, 5)
    with pytest.raises(ValueError, match=r"every window covers only padding"):
        cyconv.max_pool2d(x, 2, padding=1)


# ----------------------------------------------------------------- divisor_override


@pytest.mark.parametrize("divisor", [-1, -3, -7, 1, 5, 2 ** 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_divisor_override_any_nonzero_vs_torch(divisor, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 8)).astype(dtype)
    kw = dict(stride=(2, 3), padding=(1, 1), ceil_mode=True)
    y = cyconv.avg_pool2d(x, 3, divisor_override=divisor, **kw)
    xt = torch.from_numpy(x).requires_grad_()
    yt = torch.nn.functional.avg_pool2d(xt, 3, divisor_override=divisor, **kw)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=rtol, atol=rtol * 1e-3)
    ref = avg_pool(x, (3, 3), (2, 3), ((1, 1), (1, 1)), True, True, divisor)
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=rtol * 1e-3)
    g = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(g))
    dx = cyconv.avg_pool2d_backward(g, x.shape, 3, divisor_override=divisor, **kw)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)
    ref = avg_pool_backward(g, x.shape, (3, 3), (2, 3), ((1, 1), (1, 1)), True, True, divisor)
    np.testing.assert_allclose(dx, ref, rtol=rtol, atol=rtol * 1e-3)


def test_divisor_override_negative_layer():
    layer = cyconv.nn.AvgPool2d(2, divisor_override=-4)
    x = np.ones((1, 1, 4, 4))
    np.testing.assert_array_equal(layer.forward(x), -np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 2, 2))), -0.25 * np.ones((1, 1, 4, 4)))
