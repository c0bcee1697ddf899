"""cyconv.nn layers with layout='NHWC': the same model as NCHW on permuted inputs (outputs,
input gradients, parameter gradients, running statistics, optimiser steps), float64 finite
differences in NHWC, identical state_dicts, the Flatten -> Linear column order, errors."""


import numpy as np
import pytest

from cyconv import nn
from test_nn import check_layer

RNG = np.random.default_rng(20261202)


def nhwc(a):
    """An NCHW (or CHW) array in NHWC (HWC) order, C-contiguous (a flat (N, F) one unchanged)."""
    a = np.asarray(a)
    return np.ascontiguousarray(np.moveaxis(a, -3, -1) if a.ndim >= 3 else a)


def _tol(dtype):
    return dict(rtol=1e-11, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)


def assert_same_model(make, x, *, dtype=np.float64, steps=1, grad_seed=0):
    """make(layout) -> layer; NCHW on x and NHWC on nhwc(x) agree in everything."""
    a, b = make("NCHW"), make("NHWC")
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].shape == sb[k].shape and sa[k].dtype == sb[k].dtype
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    x = np.asarray(x, dtype)
    rng = np.random.default_rng(grad_seed)
    for _ in range(steps):
        ya = a(x)
        yb = b(nhwc(x))
        assert yb.shape == nhwc(ya).shape == b.output_shape(nhwc(x).shape)
        assert yb.dtype == ya.dtype
        np.testing.assert_allclose(yb, nhwc(ya), **_tol(dtype))
        g = rng.standard_normal(ya.shape).astype(ya.dtype)
        a.zero_grad()
        b.zero_grad()
        ga = a.backward(g)
        gb = b.backward(nhwc(g))
        assert gb.shape == nhwc(x).shape
        np.testing.assert_allclose(gb, nhwc(ga), **_tol(dtype))
        for (name, p), (name_b, q) in zip(a.named_parameters(), b.named_parameters()):
            assert name == name_b
            np.testing.assert_allclose(q.grad, p.grad, **_tol(dtype), err_msg=name)
    for k, v in a.state_dict().items():  # running statistics too
        np.testing.assert_allclose(b.state_dict()[k], v, **_tol(dtype), err_msg=k)
    return a, b


# ----------------------------------------------------------------- per layer

CONV_CASES = [
    dict(),
    dict(stride=2, padding=1),
    dict(padding=((2, 0), (1, 1)), dilation=(2, 1)),
    dict(groups=2, bias=False),
    dict(padding="same", dilation=2),
    dict(padding=1, padding_mode="reflect"),
    dict(padding=(1, 2), padding_mode="circular", stride=(1, 2)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", CONV_CASES, ids=str)
def test_conv2d_nhwc_is_the_nchw_model(kwargs, dtype):
    assert_same_model(lambda layout: nn.Conv2d(4, 6, (3, 2), dtype=dtype, rng=1, layout=layout, **kwargs),
                      RNG.standard_normal((3, 4, 7, 6)), dtype=dtype)


def test_conv2d_nhwc_depthwise_and_unbatched():
    assert_same_model(lambda layout: nn.Conv2d(4, 8, 3, padding=1, groups=4, dtype=np.float64, rng=2,
                                               layout=layout), RNG.standard_normal((2, 4, 6, 6)))
    _, b = assert_same_model(lambda layout: nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=2, layout=layout),
                             RNG.standard_normal((2, 5, 5)))
    assert b.output_shape((5, 5, 2)) == (5, 5, 3)
    assert repr(b) == "Conv2d(2, 3, kernel_size=(3, 3), padding=1, layout='NHWC')"


TRANSPOSE_CASES = [
    dict(),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
    dict(stride=2, dilation=3, output_padding=2, bias=False),  # output_padding >= stride: x padded
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES, ids=str)
def test_conv_transpose_nhwc_is_the_nchw_model(kwargs, dtype):
    assert_same_model(lambda layout: nn.ConvTranspose2d(4, 6, 3, dtype=dtype, rng=3, layout=layout, **kwargs),
                      RNG.standard_normal((2, 4, 5, 4)), dtype=dtype)


def test_conv_transpose_nhwc_unbatched_and_repr():
    _, b = assert_same_model(lambda layout: nn.ConvTranspose2d(3, 2, 2, stride=2, dtype=np.float64, rng=0,
                                                               layout=layout), RNG.standard_normal((3, 4, 4)))
    assert b.output_shape((4, 4, 3)) == (8, 8, 2)
    assert repr(b) == "ConvTranspose2d(3, 2, kernel_size=(2, 2), stride=(2, 2), layout='NHWC')"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_nhwc_is_the_nchw_model_in_both_modes(dtype, momentum):
    def make(layout):
        bn = nn.BatchNorm2d(5, momentum=momentum, dtype=dtype, layout=layout)
        bn.weight.data[...] = np.linspace(0.5, 1.5, 5)
        bn.bias.data[...] = np.linspace(-1, 1, 5)
        return bn

    x = RNG.standard_normal((4, 5, 3, 6)) * 3 + 1
    a, b = assert_same_model(make, x, dtype=dtype, steps=3)
    assert int(b.num_batches_tracked) == 3
    a.eval()
    b.eval()
    x = RNG.standard_normal((2, 5, 3, 3)).astype(dtype)
    np.testing.assert_allclose(b(nhwc(x)), nhwc(a(x)), **_tol(dtype))
    assert repr(b) == "BatchNorm2d(5, layout='NHWC')" if momentum == 0.1 else True


def test_batchnorm_nhwc_errors():
    bn = nn.BatchNorm2d(3, layout="NHWC")
    with pytest.raises(ValueError, match="3 channels|channels"):
        bn(np.ones((2, 3, 4, 4), np.float32))  # NCHW given to an NHWC layer: 4 channels
    with pytest.raises(ValueError, match="N, H, W, C"):
        bn(np.ones((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="layout='NHWC'"):  # the hint for channels-last input
        nn.BatchNorm2d(3)(np.ones((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="more than 1 value"):
        bn(np.ones((1, 1, 1, 3), np.float32))


@pytest.mark.parametrize("size", [1, 2, (3, None), (None, 2)], ids=str)
def test_adaptive_avg_pool_nhwc_is_the_nchw_model(size):
    _, b = assert_same_model(lambda layout: nn.AdaptiveAvgPool2d(size, layout=layout),
                             RNG.standard_normal((2, 3, 5, 4)))
    assert b.output_shape((2, 5, 4, 3))[-1] == 3


def test_adaptive_avg_pool_nhwc_unbatched_and_repr():
    _, b = assert_same_model(lambda layout: nn.AdaptiveAvgPool2d(1, layout=layout), RNG.standard_normal((3, 5, 4)))
    assert b.output_shape((5, 4, 3)) == (1, 1, 3)
    assert repr(b) == "AdaptiveAvgPool2d(output_size=1, layout='NHWC')"


POOL_CASES = [
    (nn.MaxPool2d, dict(kernel_size=2)),
    (nn.MaxPool2d, dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)),
    (nn.AvgPool2d, dict(kernel_size=2)),
    (nn.AvgPool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
]


@pytest.mark.parametrize("cls,kwargs", POOL_CASES, ids=str)
def test_pools_nhwc_are_the_nchw_model(cls, kwargs):
    _, b = assert_same_model(lambda layout: cls(layout=layout, **kwargs), RNG.standard_normal((2, 3, 7, 6)))
    assert "layout='NHWC'" in repr(b)
    assert_same_model(lambda layout: cls(layout=layout, **kwargs), RNG.standard_normal((3, 7, 6)))


def test_flatten_nhwc_order_and_layout_free_layers():
    x = np.arange(2 * 3 * 2 * 2.0).reshape(2, 3, 2, 2)
    f = nn.Flatten(layout="NHWC")
    xt = nhwc(x)
    y = f(xt)
    assert y.shape == (2, 12) and np.shares_memory(y, xt)  # a view: nothing transposed
    np.testing.assert_array_equal(y[1], [12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23])  # (h, w, c) order
    np.testing.assert_array_equal(f.backward(y), xt)
    assert repr(f) == "Flatten(layout='NHWC')" and repr(nn.Flatten()) == "Flatten()"
    for layer in (nn.ReLU(), nn.Sigmoid(), nn.Dropout(0.0)):  # element-wise: no layout to state
        np.testing.assert_array_equal(layer(nhwc(x)), nhwc(layer(x)))


def test_flatten_linear_weights_convert_between_layouts():
    """The documented column permutation makes an NHWC Flatten -> Linear the NCHW model."""
    c, h, w, out = 3, 4, 5, 7

    def make(layout):
        return nn.Sequential(nn.Conv2d(2, c, 3, padding=1, dtype=np.float64, rng=4, layout=layout),
                             nn.ReLU(), nn.Flatten(layout=layout), nn.Linear(c * h * w, out, dtype=np.float64, rng=5))

    a, b = make("NCHW"), make("NHWC")
    wa = a[3].weight.data
    b[3].weight.data[...] = wa.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, c * h * w)
    np.testing.assert_array_equal(
        b[3].weight.data.reshape(out, h, w, c).transpose(0, 3, 1, 2).reshape(out, -1), wa)  # and back
    x = RNG.standard_normal((3, 2, h, w))
    np.testing.assert_allclose(b(nhwc(x)), a(x), rtol=1e-12, atol=1e-13)
    g = RNG.standard_normal((3, out))
    np.testing.assert_allclose(b.backward(g), nhwc(a.backward(g)), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(b[0].weight.grad, a[0].weight.grad, rtol=1e-12, atol=1e-13)
    # without the permutation the models differ (the test above could fail)
    b[3].weight.data[...] = wa
    assert not np.allclose(b(nhwc(x)), a(x))


def test_layout_argument_is_checked_everywhere():
    makers = [lambda L: nn.Conv2d(1, 1, 1, layout=L), lambda L: nn.ConvTranspose2d(1, 1, 1, layout=L),
              lambda L: nn.BatchNorm2d(1, layout=L), lambda L: nn.AdaptiveAvgPool2d(1, layout=L),
              lambda L: nn.Flatten(layout=L), lambda L: nn.MaxPool2d(2, layout=L),
              lambda L: nn.AvgPool2d(2, layout=L)]
    for make in makers:
        with pytest.raises(ValueError, match="did you mean 'NHWC'"):
            make("nhwc")
        with pytest.raises(ValueError, match="'NCHW' or 'NHWC'"):
            make("CHW")
        with pytest.raises(TypeError, match="layout must be a string"):
            make(1)
        assert make("NCHW").layout == "NCHW"


# ----------------------------------------------------------------- finite differences in NHWC


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=str)
def test_conv2d_nhwc_finite_differences(kwargs):
    layer = nn.Conv2d(4, 6, (3, 2), dtype=np.float64, rng=1, layout="NHWC", **kwargs)
    gx = check_layer(layer, RNG.standard_normal((2, 7, 6, 4)))
    assert gx.shape == (2, 7, 6, 4)


def test_batchnorm_nhwc_finite_differences():
    bn = nn.BatchNorm2d(3, dtype=np.float64, layout="NHWC")
    bn.weight.data[...] = [0.5, 2.0, -1.0]
    bn.bias.data[...] = [0.1, 0.2, 0.3]
    check_layer(bn, RNG.standard_normal((3, 4, 2, 3)), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES[1:], ids=str)
def test_conv_transpose_nhwc_finite_differences(kwargs):
    layer = nn.ConvTranspose2d(4, 2, 3, dtype=np.float64, rng=6, layout="NHWC", **kwargs)
    check_layer(layer, RNG.standard_normal((2, 4, 3, 4)), rtol=1e-5, atol=1e-7)


def test_adaptive_avg_pool_nhwc_finite_differences():
    check_layer(nn.AdaptiveAvgPool2d((2, 3), layout="NHWC"), RNG.standard_normal((2, 5, 4, 3)))


# ----------------------------------------------------------------- whole networks


def small_resnet(layout, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)

    def block(c_in, c_out, stride):
        body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, dtype=dtype, rng=rng, layout=layout),
            nn.BatchNorm2d(c_out, dtype=dtype, layout=layout), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False, dtype=dtype, rng=rng, layout=layout),
            nn.BatchNorm2d(c_out, dtype=dtype, layout=layout))
        shortcut = None
        if stride != 1 or c_in != c_out:
            shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False, dtype=dtype, rng=rng, layout=layout),
                nn.BatchNorm2d(c_out, dtype=dtype, layout=layout))
        return nn.Residual(body, shortcut)

    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False, dtype=dtype, rng=rng, layout=layout),
        nn.BatchNorm2d(4, dtype=dtype, layout=layout), nn.ReLU(),
        block(4, 4, 1), nn.ReLU(), block(4, 8, 2), nn.ReLU(),
        nn.ConvTranspose2d(8, 8, 2, stride=2, dtype=dtype, rng=rng, layout=layout), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1, layout=layout), nn.Flatten(layout=layout), nn.Dropout(0.0),
        nn.Linear(8, 3, dtype=dtype, rng=rng),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_resnet_nhwc_trains_as_the_nchw_model(dtype):
    a, b = small_resnet("NCHW", dtype), small_resnet("NHWC", dtype)
    assert list(a.state_dict()) == list(b.state_dict())
    opt_a, opt_b = nn.Adam(a.parameters(), lr=1e-2), nn.Adam(b.parameters(), lr=1e-2)
    labels = np.array([0, 2, 1, 1, 0, 2])
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for _ in range(4):
        x = RNG.standard_normal((6, 1, 8, 8)).astype(dtype)
        loss_a, ga = nn.cross_entropy(a(x), labels)
        loss_b, gb = nn.cross_entropy(b(nhwc(x)), labels)
        assert loss_b == pytest.approx(loss_a, rel=1e-10 if dtype == np.float64 else 1e-5)
        a.zero_grad()
        b.zero_grad()
        gxa, gxb = a.backward(ga), b.backward(gb)
        np.testing.assert_allclose(gxb, nhwc(gxa), **tol)
        for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
            np.testing.assert_allclose(q.grad, p.grad, **tol, err_msg=name)
        opt_a.step()
        opt_b.step()
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:  # weights and running statistics after the steps
        np.testing.assert_allclose(sb[k], sa[k], **tol, err_msg=k)
    a.eval()
    b.eval()
    x = RNG.standard_normal((3, 1, 8, 8)).astype(dtype)
    np.testing.assert_allclose(b(nhwc(x)), a(x), **tol)


def test_state_dict_moves_between_layouts():
    a, b = small_resnet("NCHW", seed=1), small_resnet("NHWC", seed=2)
    x = RNG.standard_normal((4, 1, 8, 8))
    a(x)  # training steps change the running statistics
    b.load_state_dict(a.state_dict())
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
    a.eval()
    b.eval()
    np.testing.assert_allclose(b(nhwc(x)), a(x), rtol=1e-12, atol=1e-13)
    c = small_resnet("NCHW", seed=3)
    c.load_state_dict(b.state_dict())
    c.eval()
    np.testing.assert_array_equal(c(x), a(x))


def test_small_resnet_nhwc_matches_pytorch():
    torch = pytest.importorskip("torch")
    b = small_resnet("NHWC")
    T = torch.nn

    class Res(T.Module):
        def __init__(self, body, shortcut=None):
            super().__init__()
            self.body, self.shortcut = body, shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    def block(c_in, c_out, stride):
        body = T.Sequential(T.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), T.BatchNorm2d(c_out),
                            T.ReLU(), T.Conv2d(c_out, c_out, 3, padding=1, bias=False), T.BatchNorm2d(c_out))
        shortcut = None
        if stride != 1 or c_in != c_out:
            shortcut = T.Sequential(T.Conv2d(c_in, c_out, 1, stride=stride, bias=False), T.BatchNorm2d(c_out))
        return Res(body, shortcut)

    t = T.Sequential(T.Conv2d(1, 4, 3, padding=1, bias=False), T.BatchNorm2d(4), T.ReLU(),
                     block(4, 4, 1), T.ReLU(), block(4, 8, 2), T.ReLU(),
                     T.ConvTranspose2d(8, 8, 2, stride=2), T.ReLU(),
                     T.AdaptiveAvgPool2d(1), T.Flatten(), T.Dropout(0.0), T.Linear(8, 3)).double()
    t.load_state_dict({k: torch.from_numpy(v) for k, v in b.state_dict().items()})
    x = RNG.standard_normal((5, 1, 8, 8))
    labels = np.array([0, 1, 2, 0, 1])
    loss, g = nn.cross_entropy(b(nhwc(x)), labels)
    b.zero_grad()
    gx = b.backward(g)
    tx = torch.from_numpy(x).to(memory_format=torch.channels_last).requires_grad_()
    tloss = torch.nn.functional.cross_entropy(t(tx), torch.from_numpy(labels))
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(gx, nhwc(tx.grad.numpy()), rtol=1e-10, atol=1e-12)
    named = dict(t.named_parameters())
    for name, p in b.named_parameters():
        np.testing.assert_allclose(p.grad, named[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_summary_in_nhwc():
    text = small_resnet("NHWC").summary((2, 8, 8, 1))
    assert "(2, 8, 8, 4)" in text and "(2, 4, 4, 8)" in text and "(2, 1, 1, 8)" in text
    assert "layout='NHWC'" in text


def test_lenet_nhwc_with_pools_is_the_nchw_model():
    def make(layout):
        return nn.Sequential(nn.Conv2d(1, 4, 5, padding=2, dtype=np.float64, rng=7, layout=layout), nn.ReLU(),
                             nn.MaxPool2d(2, layout=layout), nn.Conv2d(4, 6, 3, dtype=np.float64, rng=8, layout=layout),
                             nn.Sigmoid(), nn.AvgPool2d(2, layout=layout), nn.AdaptiveAvgPool2d(1, layout=layout),
                             nn.Flatten(layout=layout), nn.Linear(6, 3, dtype=np.float64, rng=9))

    assert_same_model(make, RNG.standard_normal((3, 1, 12, 12)), steps=2)
