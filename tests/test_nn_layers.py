"""cyconv.nn's newer layers (BatchNorm2d, Dropout, AdaptiveAvgPool2d, ConvTranspose2d, Residual)
and Adam: against PyTorch (module and autograd) and float64 finite differences."""

import math

import numpy as np
import pytest

import cyconv
from cyconv import nn
from test_nn import check_layer, numerical_gradient

RNG = np.random.default_rng(20261201)


def _torch():
    return pytest.importorskip("torch")


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)


# ----------------------------------------------------------------- BatchNorm2d


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batchnorm_matches_pytorch_in_both_modes(dtype, momentum):
    torch = _torch()
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    bn = nn.BatchNorm2d(3, momentum=momentum, dtype=dtype)
    tbn = torch.nn.BatchNorm2d(3, momentum=momentum).to(tdtype)
    w, b = RNG.uniform(0.5, 2, 3).astype(dtype), RNG.standard_normal(3).astype(dtype)
    bn.weight.data[...] = w
    bn.bias.data[...] = b
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(w))
        tbn.bias.copy_(torch.from_numpy(b))
    for step in range(3):  # several batches: the running statistics accumulate
        x = (RNG.standard_normal((4, 3, 5, 6)) * [[[3.0]], [[0.5]], [[1.0]]] + step).astype(dtype)
        g = RNG.standard_normal(x.shape).astype(dtype)
        y = bn(x)
        bn.zero_grad()
        gx = bn.backward(g)
        tx = torch.from_numpy(x).requires_grad_()
        ty = tbn(tx)
        ty.backward(torch.from_numpy(g))
        assert y.dtype == dtype and gx.dtype == dtype
        np.testing.assert_allclose(y, ty.detach().numpy(), **_tol(dtype))
        np.testing.assert_allclose(gx, tx.grad.numpy(), **_tol(dtype))
        np.testing.assert_allclose(bn.weight.grad, tbn.weight.grad.numpy(), **_tol(dtype))
        np.testing.assert_allclose(bn.bias.grad, tbn.bias.grad.numpy(), **_tol(dtype))
        tbn.weight.grad = tbn.bias.grad = None
        # running_var uses the unbiased batch variance, as PyTorch's
        np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), **_tol(dtype))
        np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), **_tol(dtype))
        assert int(bn.num_batches_tracked) == int(tbn.num_batches_tracked) == step + 1
    bn.eval()
    tbn.eval()
    x = RNG.standard_normal((2, 3, 4, 4)).astype(dtype)
    with torch.no_grad():
        expected = tbn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(bn(x), expected, **_tol(dtype))
    # evaluation uses the running statistics: a single image is fine, nothing changes
    before = bn.state_dict()
    bn(x[:1, :, :1, :1])
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_batchnorm_running_variance_is_unbiased():
    bn = nn.BatchNorm2d(1, momentum=1.0, dtype=np.float64)
    x = RNG.standard_normal((3, 1, 2, 2))
    y = bn(x)
    assert bn.running_var[0] == pytest.approx(x.var(ddof=1), rel=1e-12)
    assert bn.running_mean[0] == pytest.approx(x.mean(), rel=1e-12)
    # ... while the normalisation uses the biased one
    np.testing.assert_allclose(y, (x - x.mean()) / np.sqrt(x.var() + 1e-5), rtol=1e-12)


def test_batchnorm_backward_matches_finite_differences():
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    bn.weight.data[...] = [0.5, 1.5, -2.0]
    bn.bias.data[...] = [0.1, 0.0, -0.3]
    check_layer(bn, RNG.standard_normal((2, 3, 3, 4)), rtol=1e-5, atol=1e-7)


def test_batchnorm_errors():
    bn = nn.BatchNorm2d(2)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(np.ones((1, 2, 1, 1), np.float32))
    with pytest.raises(ValueError, match="2 channels|3 channels"):
        bn(np.ones((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        bn(np.ones((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm2d(2, momentum=1.5)
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm2d(0)
    assert repr(nn.BatchNorm2d(4, eps=1e-3)) == "BatchNorm2d(4, eps=0.001)"


# ----------------------------------------------------------------- Dropout


def test_dropout_statistics_and_gradient():
    drop = nn.Dropout(0.3, rng=1)
    x = np.ones((200, 500), np.float32)
    y = drop(x)
    assert y.dtype == np.float32
    kept = y != 0
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.7)}
    assert kept.mean() == pytest.approx(0.7, abs=0.005)  # 100000 draws: sd 0.0015
    assert y.mean() == pytest.approx(1.0, abs=0.01)  # inverted dropout keeps the mean
    g = RNG.standard_normal(x.shape).astype(np.float32)
    gx = drop.backward(g)
    np.testing.assert_array_equal(gx, np.where(kept, g * np.float32(1 / 0.7), 0))
    # a new mask every call
    assert not np.array_equal(drop(x) != 0, kept)


def test_dropout_gradient_matches_finite_differences():
    # the same mask on every forward call: reseed before each
    drop = nn.Dropout(0.4)
    x = RNG.standard_normal((3, 4, 5))
    g = RNG.standard_normal(x.shape)

    def forward():
        drop.rng = np.random.default_rng(9)
        return drop.forward(x)

    def loss():
        return float(np.sum(forward() * g))

    forward()
    gx = drop.backward(g)
    assert (gx == 0).any() and (gx != 0).any()
    np.testing.assert_allclose(gx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


def test_dropout_eval_extremes_and_errors():
    x = RNG.standard_normal((4, 5))
    drop = nn.Dropout(0.5, rng=0)
    np.testing.assert_array_equal(drop.eval()(x), x)
    np.testing.assert_array_equal(nn.Dropout(0.0, rng=0)(x), x)
    assert not nn.Dropout(1.0, rng=0)(x).any()
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="p must"):
            nn.Dropout(p)
    with pytest.raises(TypeError):
        nn.Dropout("0.5")
    a, b = nn.Dropout(rng=3), nn.Dropout(rng=3)
    np.testing.assert_array_equal(a(np.ones(50)), b(np.ones(50)))


def test_dropout_p1_gradient_is_zero():
    drop = nn.Dropout(1.0, rng=0)
    drop(np.ones((2, 3)))
    assert not drop.backward(np.ones((2, 3))).any()


# ----------------------------------------------------------------- AdaptiveAvgPool2d


ADAPTIVE_SIZES = [1, (1, 1), (2, 3), (3, None), 4]


def _adaptive_available(size):
    return hasattr(cyconv, "adaptive_avg_pool2d") or nn._output_size(size) == (1, 1)


@pytest.mark.parametrize("size", ADAPTIVE_SIZES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adaptive_avg_pool_matches_pytorch(size, dtype):
    torch = _torch()
    pool = nn.AdaptiveAvgPool2d(size)
    x = RNG.standard_normal((2, 3, 7, 5)).astype(dtype)
    if not _adaptive_available(size):
        with pytest.raises(NotImplementedError, match="adaptive_avg_pool2d"):
            pool(x)
        return
    y = pool(x)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.nn.AdaptiveAvgPool2d(size)(tx)
    assert y.shape == tuple(ty.shape) == pool.output_shape(x.shape) and y.dtype == dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), **_tol(dtype))
    g = RNG.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(pool.backward(g), tx.grad.numpy(), **_tol(dtype))


@pytest.mark.parametrize("size", ADAPTIVE_SIZES, ids=str)
def test_adaptive_avg_pool_finite_differences(size):
    if not _adaptive_available(size):
        pytest.skip("this cyconv has no adaptive_avg_pool2d (only output_size 1 is available)")
    check_layer(nn.AdaptiveAvgPool2d(size), RNG.standard_normal((2, 2, 6, 5)))


def test_adaptive_avg_pool_global_shape_and_repr():
    pool = nn.AdaptiveAvgPool2d(1)
    assert pool(np.ones((3, 4, 5, 6), np.float32)).shape == (3, 4, 1, 1)
    assert repr(pool) == "AdaptiveAvgPool2d(output_size=1)"
    assert repr(nn.AdaptiveAvgPool2d((2, None))) == "AdaptiveAvgPool2d(output_size=(2, None))"
    with pytest.raises(ValueError):
        nn.AdaptiveAvgPool2d(0)
    with pytest.raises(ValueError):
        nn.AdaptiveAvgPool2d((1, 2, 3))


# ----------------------------------------------------------------- ConvTranspose2d


TRANSPOSE_CASES = [
    dict(),
    dict(stride=2),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2)),
    dict(groups=2, bias=False),
    dict(stride=1, dilation=3, output_padding=2),  # output_padding >= stride (allowed below dilation)
    dict(stride=2, dilation=3, padding=2, output_padding=2),
]


@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_transpose_matches_pytorch(kwargs, dtype):
    torch = _torch()
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    layer = nn.ConvTranspose2d(4, 6, (3, 2), dtype=dtype, rng=2, **kwargs)
    tlayer = torch.nn.ConvTranspose2d(4, 6, (3, 2), **kwargs).to(tdtype)
    with torch.no_grad():
        for p, tp in zip(layer.parameters(), tlayer.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    x = RNG.standard_normal((2, 4, 5, 4)).astype(dtype)
    y = layer(x)
    tx = torch.from_numpy(x).requires_grad_()
    ty = tlayer(tx)
    assert y.shape == tuple(ty.shape) == layer.output_shape(x.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), **_tol(dtype))
    g = RNG.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    gx = layer.backward(g)
    assert gx.dtype == dtype
    np.testing.assert_allclose(gx, tx.grad.numpy(), **_tol(dtype))
    for p, tp in zip(layer.parameters(), tlayer.parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), **_tol(dtype))


@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES, ids=str)
def test_conv_transpose_finite_differences(kwargs):
    layer = nn.ConvTranspose2d(4, 2, (3, 2), dtype=np.float64, rng=3, **kwargs)
    check_layer(layer, RNG.standard_normal((2, 4, 4, 3)), rtol=1e-5, atol=1e-7)


def test_conv_transpose_unbatched_init_and_repr():
    layer = nn.ConvTranspose2d(8, 6, 3, groups=2, rng=np.random.default_rng(0))
    w = layer.weight.data
    assert w.shape == (8, 3, 3, 3) and w.dtype == np.float32
    bound = 1 / math.sqrt(3 * 3 * 3)  # PyTorch: fan_in = weight.shape[1] * kh * kw
    assert bound * 0.98 < np.abs(w).max() <= bound and np.abs(layer.bias.data).max() <= bound
    x = RNG.standard_normal((8, 4, 4))
    layer2 = nn.ConvTranspose2d(8, 6, 3, groups=2, dtype=np.float64, rng=0)
    gx = check_layer(layer2, x, rtol=1e-5, atol=1e-7)
    assert gx.shape == x.shape
    assert repr(nn.ConvTranspose2d(2, 3, 2, stride=2, bias=False)) == \
        "ConvTranspose2d(2, 3, kernel_size=(2, 2), stride=(2, 2), bias=False)"
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="groups"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)


# ----------------------------------------------------------------- Residual


class _TorchResidual:
    """The equivalent torch module (state_dict names body.* / shortcut.*)."""

    @staticmethod
    def make(torch, body, shortcut=None):
        class Residual(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = body
                self.shortcut = shortcut

            def forward(self, x):
                return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

        return Residual()


def _block(rng, c_in, c_out, stride, dtype=np.float32):
    body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, dtype=dtype, rng=rng),
                         nn.BatchNorm2d(c_out, dtype=dtype), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False, dtype=dtype, rng=rng),
                         nn.BatchNorm2d(c_out, dtype=dtype))
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False, dtype=dtype, rng=rng),
                                 nn.BatchNorm2d(c_out, dtype=dtype))
    return nn.Residual(body, shortcut)


def _torch_block(torch, c_in, c_out, stride):
    T = torch.nn
    body = T.Sequential(T.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), T.BatchNorm2d(c_out),
                        T.ReLU(), T.Conv2d(c_out, c_out, 3, padding=1, bias=False), T.BatchNorm2d(c_out))
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = T.Sequential(T.Conv2d(c_in, c_out, 1, stride=stride, bias=False), T.BatchNorm2d(c_out))
    return _TorchResidual.make(torch, body, shortcut)


def small_resnet(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False, dtype=dtype, rng=rng), nn.BatchNorm2d(4, dtype=dtype), nn.ReLU(),
        _block(rng, 4, 4, 1, dtype), nn.ReLU(),
        _block(rng, 4, 8, 2, dtype), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.0), nn.Linear(8, 3, dtype=dtype, rng=rng),
    )


def torch_small_resnet(torch):
    T = torch.nn
    return T.Sequential(
        T.Conv2d(1, 4, 3, padding=1, bias=False), T.BatchNorm2d(4), T.ReLU(),
        _torch_block(torch, 4, 4, 1), T.ReLU(),
        _torch_block(torch, 4, 8, 2), T.ReLU(),
        T.AdaptiveAvgPool2d(1), T.Flatten(), T.Dropout(0.0), T.Linear(8, 3),
    )


def test_residual_finite_differences():
    rng = np.random.default_rng(4)
    identity = nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, dtype=np.float64, rng=rng), nn.Sigmoid()))
    check_layer(identity, RNG.standard_normal((2, 2, 5, 5)))
    projected = _block(rng, 2, 3, 2, np.float64)
    check_layer(projected, RNG.standard_normal((3, 2, 6, 6)), rtol=1e-5, atol=1e-7)


def test_residual_input_grad_false_and_shape_error():
    rng = np.random.default_rng(5)
    block = _block(rng, 2, 3, 2, np.float64)
    x = RNG.standard_normal((3, 2, 6, 6))
    g = RNG.standard_normal((3, 3, 3, 3))
    block(x)
    block.zero_grad()
    block.backward(g)
    expected = [p.grad.copy() for p in block.parameters()]
    block(x)
    block.zero_grad()
    assert block.backward(g, input_grad=False) is None
    for p, e in zip(block.parameters(), expected):
        np.testing.assert_allclose(p.grad, e, rtol=1e-12)
    bad = nn.Residual(nn.Conv2d(2, 3, 1, rng=0))
    with pytest.raises(ValueError, match="shortcut"):
        bad(np.ones((1, 2, 3, 3)))
    with pytest.raises(TypeError, match="body"):
        nn.Residual(42)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_resnet_matches_pytorch_train_and_eval(dtype):
    torch = _torch()
    model = small_resnet(dtype)
    tmodel = torch_small_resnet(torch).to(torch.float64 if dtype == np.float64 else torch.float32)
    tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    labels = np.array([0, 2, 1, 1, 0])
    for _ in range(2):
        x = RNG.standard_normal((5, 1, 8, 8)).astype(dtype)
        loss, g = nn.cross_entropy(model(x), labels)
        model.zero_grad()
        gx = model.backward(g)
        tx = torch.from_numpy(x).requires_grad_()
        tmodel.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(tx), torch.from_numpy(labels))
        tloss.backward()
        assert loss == pytest.approx(tloss.item(), rel=1e-5 if dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(gx, tx.grad.numpy(), **_tol(dtype))
        named = dict(tmodel.named_parameters())
        for name, p in model.named_parameters():
            np.testing.assert_allclose(p.grad, named[name].grad.numpy(), **_tol(dtype), err_msg=name)
    for name, value in tmodel.state_dict().items():  # running statistics too
        np.testing.assert_allclose(model.state_dict()[name], value.numpy(), **_tol(dtype), err_msg=name)
    model.eval()
    tmodel.eval()
    x = RNG.standard_normal((3, 1, 8, 8)).astype(dtype)
    with torch.no_grad():
        np.testing.assert_allclose(model(x), tmodel(torch.from_numpy(x)).numpy(), **_tol(dtype))


def test_summary_of_a_residual_network():
    text = small_resnet().summary((2, 1, 8, 8))
    assert "Residual(" in text and "BatchNorm2d(4)" in text and "(2, 8, 4, 4)" in text
    assert "AdaptiveAvgPool2d(output_size=1)" in text and "(2, 8, 1, 1)" in text


# ----------------------------------------------------------------- Adam


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_matches_pytorch_over_20_steps(weight_decay, dtype):
    torch = _torch()
    data = [RNG.standard_normal((3, 4)).astype(dtype), RNG.standard_normal(5).astype(dtype)]
    params = [nn.Parameter(d.copy()) for d in data]
    tparams = [torch.nn.Parameter(torch.from_numpy(d.copy())) for d in data]
    opt = nn.Adam(params, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    topt = torch.optim.Adam(tparams, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    for _ in range(20):
        for p, tp in zip(params, tparams):
            g = RNG.standard_normal(p.shape).astype(dtype)
            p.grad[...] = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, tp in zip(params, tparams):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, tp.detach().numpy(),
                                   rtol=1e-12 if dtype == np.float64 else 1e-5, atol=1e-6 if dtype == np.float32 else 0)
    assert opt.t == 20


def test_adam_defaults_and_errors():
    p = nn.Parameter(np.zeros(3))
    opt = nn.Adam([p])
    assert opt.lr == 1e-3 and opt.betas == (0.9, 0.999) and opt.eps == 1e-8 and opt.weight_decay == 0
    p.grad[:] = [1.0, -1.0, 0.0]
    opt.step()
    np.testing.assert_allclose(p.data, [-1e-3, 1e-3, 0.0], rtol=1e-6)  # the first step is lr * sign
    opt.zero_grad()
    assert not p.grad.any()
    with pytest.raises(ValueError, match="betas"):
        nn.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="betas"):
        nn.Adam([p], betas=0.9)
    with pytest.raises(ValueError, match="lr"):
        nn.Adam([p], lr=-1)
    with pytest.raises(TypeError, match="Parameter"):
        nn.Adam([np.zeros(3)])


def test_adam_trains_the_small_resnet():
    model = small_resnet(np.float64, seed=1)
    opt = nn.Adam(model.parameters(), lr=0.01)
    x = RNG.standard_normal((12, 1, 8, 8))
    labels = np.arange(12) % 3
    x[labels == 1, :, :4] += 2.0
    x[labels == 2, :, :, :4] -= 2.0
    losses = []
    for _ in range(30):
        loss, g = nn.cross_entropy(model(x), labels)
        opt.zero_grad()
        model.backward(g, input_grad=False)
        opt.step()
        losses.append(loss)
    assert losses[-1] < 0.3 * losses[0]


# ----------------------------------------------------------------- Linear's products


def _has_nhwc():
    import inspect

    return "layout" in inspect.signature(cyconv.conv2d).parameters


@pytest.mark.parametrize("shape", [(32, 256, 128), (128, 32, 256), (37, 200, 100), (5, 4, 3), (3, 1100, 300)],
                         ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_product_routes_agree(shape, dtype):
    m, k, n = shape
    a = RNG.standard_normal((m, k)).astype(dtype)
    b = RNG.standard_normal((n, k)).astype(dtype).T  # a transposed view, as Linear passes weight.T
    expected = a.astype(np.float64) @ b.astype(np.float64)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    blas = nn._matmul_blas(a, b)
    assert blas.dtype == dtype and blas.shape == (m, n)
    np.testing.assert_allclose(blas, expected, **tol)
    np.testing.assert_allclose(nn._matmul(a, b), expected, **tol)


@pytest.mark.skipif(not _has_nhwc(), reason="conv2d has no layout='NHWC' here: the cyconv route is not available")
@pytest.mark.parametrize("shape", [(32, 256, 128), (128, 32, 256), (37, 200, 100), (5, 4, 3)], ids=str)
def test_linear_product_cyconv_route_agrees(shape):
    m, k, n = shape
    a = RNG.standard_normal((m, k)).astype(np.float32)
    b = RNG.standard_normal((n, k)).astype(np.float32).T
    np.testing.assert_allclose(nn._matmul_cyconv(a, b), nn._matmul_blas(a, b), rtol=1e-4, atol=1e-4)


def test_linear_blocks_cover_every_row():
    # more than one block and a remainder: 37 rows of 200x100 (2**18 // 20000 = 13 rows per block)
    a = RNG.standard_normal((37, 200))
    b = RNG.standard_normal((200, 100))
    assert 37 * 200 * 100 > nn._BLAS_ONE_THREAD and 37 % (nn._BLAS_ONE_THREAD // 20000)
    np.testing.assert_allclose(nn._matmul_blas(a, b), a @ b, rtol=1e-12, atol=1e-12)
