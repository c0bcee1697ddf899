"""cyconv.nn: layer gradients vs float64 finite differences, losses, SGD, init, summary, errors."""

import io
import math

import numpy as np
import pytest

from cyconv import demo, nn

RNG = np.random.default_rng(20240521)


# ----------------------------------------------------------------- finite differences


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function f() with respect to the array x (in place)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def check_layer(layer, x, *, rtol=1e-6, atol=1e-8):
    """backward(g) and parameter .grad vs finite differences of sum(layer(x) * g)."""
    x = np.array(x, dtype=np.float64)
    y = layer.forward(x)
    g = RNG.standard_normal(y.shape)

    def loss():
        return float(np.sum(layer.forward(x) * g))

    layer.forward(x)
    layer.zero_grad()
    gx = layer.backward(g)
    analytic = [p.grad.copy() for p in layer.parameters()]
    np.testing.assert_allclose(gx, numerical_gradient(loss, x), rtol=rtol, atol=atol)
    for p, a in zip(layer.parameters(), analytic):
        assert p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype
        np.testing.assert_allclose(a, numerical_gradient(loss, p.data), rtol=rtol, atol=atol)
    return gx


CONV_CASES = [
    dict(),
    dict(stride=2, padding=1),
    dict(padding=((2, 0), (1, 1)), dilation=(2, 1)),
    dict(groups=2, bias=False),
    dict(padding="same", dilation=2),
    dict(padding=1, padding_mode="reflect"),
    dict(padding=(1, 2), padding_mode="circular", stride=(1, 2)),
]


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=str)
def test_conv2d_backward_matches_finite_differences(kwargs):
    layer = nn.Conv2d(4, 6, (3, 2), dtype=np.float64, rng=1, **kwargs)
    check_layer(layer, RNG.standard_normal((2, 4, 7, 6)))


def test_conv2d_unbatched_input():
    layer = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=2)
    gx = check_layer(layer, RNG.standard_normal((2, 5, 5)))
    assert gx.shape == (2, 5, 5)


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear_backward_matches_finite_differences(shape):
    check_layer(nn.Linear(4, 3, dtype=np.float64, rng=3), RNG.standard_normal(shape))


def _distinct(shape):
    """Values at least 0.1 apart, so a finite-difference step never changes a maximum."""
    return RNG.permutation(math.prod(shape)).reshape(shape) * 0.1


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=2), dict(kernel_size=3, stride=1), dict(kernel_size=3, stride=2, padding=1),
     dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1)), dict(kernel_size=2, ceil_mode=True)],
    ids=str,
)
def test_max_pool2d_backward_matches_finite_differences(kwargs):
    check_layer(nn.MaxPool2d(**kwargs), _distinct((2, 3, 7, 5)))


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
     dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
     dict(kernel_size=2, ceil_mode=True), dict(kernel_size=(3, 2), divisor_override=5)],
    ids=str,
)
def test_avg_pool2d_backward_matches_finite_differences(kwargs):
    check_layer(nn.AvgPool2d(**kwargs), RNG.standard_normal((2, 3, 7, 5)))


def test_relu_sigmoid_flatten_backward():
    x = RNG.standard_normal((3, 2, 4, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from ReLU's kink
    check_layer(nn.ReLU(), x)
    check_layer(nn.Sigmoid(), x * 5)
    gx = check_layer(nn.Flatten(), x)
    assert gx.shape == x.shape


def test_relu_propagates_nan_and_flatten_takes_an_empty_batch():
    relu = nn.ReLU()
    y = relu(np.array([np.nan, -1.0, 0.0, 1.0], np.float32))
    assert y.dtype == np.float32 and np.isnan(y[0])
    np.testing.assert_array_equal(y[1:], [0.0, 0.0, 1.0])
    # PyTorch's threshold_backward: the gradient passes where not x <= 0 (NaN included)
    np.testing.assert_array_equal(relu.backward(np.ones(4, np.float32)), [1.0, 0.0, 0.0, 1.0])
    flat = nn.Flatten()
    assert flat(np.ones((0, 2, 3), np.float32)).shape == (0, 6)
    assert flat.backward(np.ones((0, 6))).shape == (0, 2, 3)
    assert flat.output_shape((0, 2, 3)) == (0, 6)


def test_sigmoid_is_stable_for_huge_inputs():
    y = nn.Sigmoid()(np.array([-1e4, -40.0, 0.0, 40.0, 1e4], np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [0.0, 4.248354e-18, 0.5, 1.0, 1.0], rtol=1e-6)


def small_cnn(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, dtype=dtype, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, dtype=dtype, rng=rng), nn.Sigmoid(), nn.AvgPool2d(2, stride=1),
        nn.Flatten(), nn.Linear(4, 3, dtype=dtype, rng=rng),
    )


def test_sequential_backward_matches_finite_differences():
    check_layer(small_cnn(), _distinct((2, 2, 8, 8)) - 1.5, rtol=1e-5, atol=1e-7)


def test_first_layer_can_skip_the_input_gradient():
    model = small_cnn()
    x = RNG.standard_normal((2, 2, 8, 8))
    g = RNG.standard_normal((2, 3))
    model(x)
    model.zero_grad()
    full = model.backward(g)
    grads = [p.grad.copy() for p in model.parameters()]
    model(x)
    model.zero_grad()
    assert model.backward(g, input_grad=False) is None
    for p, expected in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, expected)
    assert full.shape == x.shape


def test_gradients_accumulate_until_zero_grad():
    layer = nn.Linear(3, 2, dtype=np.float64, rng=0)
    x, g = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2))
    layer(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_float32_stays_float32():
    model = small_cnn(np.float32)
    x = RNG.standard_normal((2, 2, 8, 8)).astype(np.float32)
    y = model(x)
    loss, g = nn.cross_entropy(y, [0, 2])
    assert y.dtype == np.float32 and g.dtype == np.float32
    gx = model.backward(g)
    assert gx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    model = small_cnn()
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 4, 3), torch.nn.Sigmoid(), torch.nn.AvgPool2d(2, stride=1),
        torch.nn.Flatten(), torch.nn.Linear(4, 3),
    ).double()
    with torch.no_grad():
        for p, tp in zip(model.parameters(), tmodel.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    x = RNG.standard_normal((3, 2, 8, 8))
    labels = np.array([0, 2, 1])
    loss, g = nn.cross_entropy(model(x), labels)
    model.zero_grad()
    gx = model.backward(g)
    tx = torch.from_numpy(x).requires_grad_()
    tloss = torch.nn.functional.cross_entropy(tmodel(tx), torch.from_numpy(labels))
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------- init and parameters


def test_default_init_is_pytorchs_uniform():
    conv = nn.Conv2d(8, 64, (3, 5), groups=2, rng=np.random.default_rng(0))
    bound = 1 / math.sqrt(4 * 3 * 5)  # fan_in = in/groups * kh * kw
    w = conv.weight.data
    assert w.shape == (64, 4, 3, 5) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert np.abs(conv.bias.data).max() <= bound and conv.bias.data.shape == (64,)
    fc = nn.Linear(100, 50, dtype=np.float64, rng=1)
    assert fc.weight.data.dtype == np.float64 and fc.weight.data.shape == (50, 100)
    assert np.abs(fc.weight.data).max() <= 0.1 and np.abs(fc.weight.data).max() > 0.099
    assert np.abs(fc.bias.data).max() <= 0.1


def test_same_seed_same_weights():
    a = small_cnn(seed=5)
    b = small_cnn(seed=5)
    c = small_cnn(seed=6)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(a.parameters()[0].data, c.parameters()[0].data)
    # None draws fresh entropy
    assert not np.array_equal(nn.Linear(10, 10).weight.data, nn.Linear(10, 10).weight.data)


def test_parameters_and_bias_false():
    conv = nn.Conv2d(1, 2, 3, bias=False, rng=0)
    assert conv.bias is None and conv.parameters() == [conv.weight]
    fc = nn.Linear(3, 2, bias=False, rng=0)
    assert fc.bias is None and fc.parameters() == [fc.weight]
    model = small_cnn()
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(4, 2, 3, 3), (4,), (4, 4, 3, 3), (4,), (3, 4), (3,)]
    p = nn.Parameter(np.ones((2, 2), np.float32))
    assert p.grad.shape == (2, 2) and p.grad.dtype == np.float32 and not p.grad.any()


# ----------------------------------------------------------------- losses


def test_mse_loss_and_gradient():
    pred = RNG.standard_normal((3, 4))
    target = RNG.standard_normal((3, 4))
    for reduction, scale in (("mean", 1 / 12), ("sum", 1.0)):
        loss, grad = nn.mse_loss(pred, target, reduction=reduction)
        assert loss == pytest.approx(scale * np.sum((pred - target) ** 2), rel=1e-12)
        num = numerical_gradient(lambda: nn.mse_loss(pred, target, reduction=reduction)[0], pred)
        np.testing.assert_allclose(grad, num, rtol=1e-6)


def test_cross_entropy_gradient_and_value():
    logits = RNG.standard_normal((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    loss, grad = nn.cross_entropy(logits, labels)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-log_softmax[np.arange(5), labels].mean(), rel=1e-12)
    num = numerical_gradient(lambda: nn.cross_entropy(logits, labels)[0], logits)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    logits = np.array([[1e30, 0.0, -1e30], [3e4, 3e4, 0.0], [-1e4, -1e4 + 2, -1e4]], dtype)
    loss, grad = nn.cross_entropy(logits, np.array([0, 1, 2]))
    expected = (0.0 + math.log(2) + (2 + math.log(1 + 2 * math.exp(-2)))) / 3
    assert math.isfinite(loss) and loss == pytest.approx(expected, rel=1e-6)
    assert grad.dtype == dtype and np.isfinite(grad).all()
    np.testing.assert_allclose(grad[0], [0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(grad[1], [0.5 / 3, -0.5 / 3, 0], atol=1e-7)


def test_cross_entropy_matches_pytorch():
    torch = pytest.importorskip("torch")
    logits = RNG.standard_normal((6, 5)) * 10
    labels = RNG.integers(0, 5, 6)
    loss, grad = nn.cross_entropy(logits, labels)
    t = torch.from_numpy(logits).requires_grad_()
    tl = torch.nn.functional.cross_entropy(t, torch.from_numpy(labels))
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-10, atol=1e-15)


# ----------------------------------------------------------------- SGD


def test_sgd_momentum_and_weight_decay_by_hand():
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = nn.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    grads = [np.array([0.5, 1.0]), np.array([-1.0, 0.25])]
    w = np.array([1.0, -2.0])
    buf = None
    for g in grads:
        p.grad[...] = g
        opt.step()
        d = g + 0.01 * w
        buf = d if buf is None else 0.9 * buf + d
        w = w - 0.1 * buf
        np.testing.assert_allclose(p.data, w, rtol=1e-15)
    # step 1: d = [0.51, 0.98], w = [0.949, -2.098]
    # step 2: d = [-0.99051, 0.22902], buf = [-0.53151, 1.11102], w = [1.002151, -2.209102]
    np.testing.assert_allclose(p.data, [1.002151, -2.209102], rtol=1e-12)


def test_sgd_plain_and_zero_grad():
    p = nn.Parameter(np.array([[1.0, 2.0]], np.float32))
    p.grad[...] = [[1.0, -1.0]]
    opt = nn.SGD([p], lr=0.5)
    opt.step()
    np.testing.assert_array_equal(p.data, [[0.5, 2.5]])
    assert p.data.dtype == np.float32
    opt.zero_grad()
    assert not p.grad.any()


def test_sgd_matches_pytorch():
    torch = pytest.importorskip("torch")
    data = RNG.standard_normal((3, 4))
    p = nn.Parameter(data.copy())
    tp = torch.nn.Parameter(torch.from_numpy(data.copy()))
    opt = nn.SGD([p], lr=0.05, momentum=0.8, weight_decay=0.1)
    topt = torch.optim.SGD([tp], lr=0.05, momentum=0.8, weight_decay=0.1)
    for _ in range(5):
        g = RNG.standard_normal((3, 4))
        p.grad[...] = g
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-13)


# ----------------------------------------------------------------- training


def test_tiny_network_learns():
    """Vertical vs horizontal bars: the loss must fall to a fraction of its start."""
    rng = np.random.default_rng(0)
    n = 64
    x = rng.normal(0, 0.1, (n, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 2, n)
    pos = rng.integers(0, 6, n)
    for i in range(n):
        if y[i]:
            x[i, 0, :, pos[i]] += 1
        else:
            x[i, 0, pos[i], :] += 1
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(36, 2, rng=rng))
    opt = nn.SGD(model.parameters(), lr=0.2, momentum=0.9)
    losses = []
    for _ in range(40):
        loss, g = nn.cross_entropy(model(x), y)
        losses.append(loss)
        opt.zero_grad()
        model.backward(g, input_grad=False)
        opt.step()
    assert losses[-1] < 0.2 * losses[0]
    assert (model(x).argmax(axis=1) == y).mean() > 0.95


def test_learned_edge_kernel_is_close_to_1_minus_1():
    out = io.StringIO()
    kernel, losses = demo.learn_edge_kernel(seed=0, file=out)
    assert kernel.shape == (1, 2)
    np.testing.assert_allclose(kernel, [[1.0, -1.0]], atol=0.05)
    assert losses[-1] < losses[0] / 20
    lines = [line for line in out.getvalue().splitlines() if line.startswith("epoch")]
    assert [line.split(",")[0] for line in lines] == [f"epoch {i}" for i in (2, 4, 6, 8, 10)]


# ----------------------------------------------------------------- summary and shapes


def test_summary_table():
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, rng=0), nn.Sigmoid(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5, rng=0), nn.Sigmoid(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120, rng=0), nn.Sigmoid(), nn.Linear(120, 10, rng=0),
    )
    table = model.summary((2, 1, 28, 28))
    rows = [line.split() for line in table.splitlines()]
    assert rows[0][:3] == ["#", "layer", "output"]
    by_index = {r[0]: r for r in rows[2:-1]}
    # the last four cells: params, RF size, jump, start
    assert by_index["0"][-4:] == ["156", "5x5", "1x1", "-2,-2"]
    assert by_index["2"][-4:] == ["0", "6x6", "2x2", "-2,-2"]
    assert by_index["3"][-4:] == ["2416", "14x14", "2x2", "-2,-2"]
    assert by_index["5"][-4:] == ["0", "16x16", "4x4", "-2,-2"]
    assert by_index["7"][-4:] == ["48120", "all", "-", "-"]
    assert "(2, 16, 5, 5)" in table and "(2, 400)" in table and "(2, 10)" in table
    assert rows[-1] == ["total", "parameters:", "51902"]  # 156 + 2416 + 48120 + 1210
    assert model.output_shape((2, 1, 28, 28)) == (2, 10)


def test_summary_of_nested_sequential_and_its_repr():
    block = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2))
    model = nn.Sequential(block, nn.Flatten())
    table = model.summary((1, 1, 6, 6))
    assert len(table.splitlines()) == 5  # header, input, two layers, total
    assert "Sequential(3 layers)  (1, 2, 3, 3)" in table
    assert table.splitlines()[2].split()[-3:] == ["4x4", "2x2", "-1,-1"]
    assert repr(table) == table  # shows as a table at the prompt


def test_summary_rejects_a_mismatched_input_shape():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.Flatten(), nn.Linear(10, 2, rng=0))
    with pytest.raises(ValueError, match="input has 1 channels"):
        model.summary((1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(\.\.\., 10\), got \(1, 36\)"):
        model.summary((1, 3, 5, 5))


def test_reprs():
    assert repr(nn.Conv2d(1, 6, 5, padding=2, rng=0)) == "Conv2d(1, 6, kernel_size=(5, 5), padding=2)"
    assert repr(nn.Conv2d(2, 2, 3, stride=2, groups=2, bias=False, rng=0)) == (
        "Conv2d(2, 2, kernel_size=(3, 3), stride=(2, 2), groups=2, bias=False)")
    assert repr(nn.MaxPool2d(3, padding=1, stride=2)) == "MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=1)"
    assert repr(nn.Linear(3, 2, rng=0)) == "Linear(3, 2)"
    assert "(1): ReLU()" in repr(nn.Sequential(nn.Flatten(), nn.ReLU()))


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, "groups=2 must divide in_channels=3"),
        (lambda: nn.Conv2d(0, 4, 3), ValueError, "in_channels must be >= 1"),
        (lambda: nn.Conv2d(1, 4, 1.5), TypeError, "kernel_size must be an integer"),
        (lambda: nn.Conv2d(1, 4, 3, padding="half"), ValueError, "padding must be"),
        (lambda: nn.Conv2d(1, 4, 3, padding_mode="mirror"), ValueError, "padding_mode must be one of"),
        (lambda: nn.Conv2d(1, 4, 3, dtype=np.int32), TypeError, "dtype must be a floating dtype"),
        (lambda: nn.Conv2d(1, 4, 3, rng="seed"), TypeError, "rng must be a numpy.random.Generator"),
        (lambda: nn.Linear(3, True), TypeError, "out_features must be an integer"),
        (lambda: nn.MaxPool2d(0), ValueError, "kernel_size must be >= 1"),
        (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, "divisor_override must be a nonzero integer or None, got 0"),
        (lambda: nn.Sequential(nn.ReLU(), "relu"), TypeError, r"layers\[1\] must be a layer"),
        (lambda: nn.SGD([np.zeros(2)], lr=0.1), TypeError, "must be a cyconv.nn.Parameter"),
        (lambda: nn.SGD([], lr=-1), ValueError, "lr must be >= 0"),
        (lambda: nn.SGD([], lr=0.1, momentum="high"), TypeError, "momentum must be a real number"),
        (lambda: nn.ReLU().backward(np.zeros(2)), RuntimeError, "backward called before forward"),
        (lambda: nn.Linear(3, 2, rng=0)(np.zeros((2, 4))), ValueError, r"expects inputs of shape \(\.\.\., 3\)"),
        (lambda: nn.mse_loss(np.zeros(2), np.zeros(3)), ValueError, "target must have pred's shape"),
        (lambda: nn.mse_loss(np.zeros(2), np.zeros(2), reduction="none"), ValueError, "reduction must be"),
        (lambda: nn.cross_entropy(np.zeros((2, 3)), [0.0, 1.0]), TypeError, "labels must be integer"),
        (lambda: nn.cross_entropy(np.zeros((2, 3)), [0, 3]), ValueError, r"labels must lie in \[0, 3\)"),
        (lambda: nn.cross_entropy(np.zeros((2, 3)), [0]), ValueError, r"labels must have shape \(2,\)"),
        (lambda: nn.cross_entropy(np.zeros(3), [0]), ValueError, r"logits must have shape \(N, C\)"),
        (lambda: nn.cross_entropy(np.zeros((2, 3), complex), [0, 1]), TypeError, "real numeric dtype"),
    ],
)
def test_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
