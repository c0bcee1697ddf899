"""cyconv.nn state and modes: state_dict / load_state_dict (also with PyTorch), train() / eval()."""

import io
import pickle

import numpy as np
import pytest

from cyconv import demo, nn
from test_nn_layers import small_resnet, torch_small_resnet

RNG = np.random.default_rng(7)


def _torch():
    return pytest.importorskip("torch")


def test_state_dict_names_order_and_copies():
    model = small_resnet()
    sd = model.state_dict()
    names = list(sd)
    assert names[:6] == ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                         "1.num_batches_tracked"]
    assert "3.body.0.weight" in names and "5.shortcut.1.running_var" in names and names[-1] == "10.bias"
    assert sd["1.num_batches_tracked"].dtype == np.int64 and sd["1.num_batches_tracked"].shape == ()
    assert [n for n, _ in model.named_parameters()] == [n for n in names if "running" not in n and "num_" not in n]
    assert [p for _, p in model.named_parameters()] == model.parameters()
    sd["0.weight"][...] = 0  # a copy: the model is untouched
    assert model[0].weight.data.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_loads_into_pytorch_and_back(dtype):
    torch = _torch()
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    model = small_resnet(dtype, seed=3)
    x = RNG.standard_normal((6, 1, 8, 8)).astype(dtype)
    model(x)  # running statistics away from their initial values
    tmodel = torch_small_resnet(torch).to(tdtype)
    result = tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    x = RNG.standard_normal((4, 1, 8, 8)).astype(dtype)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        getattr(tmodel, mode)()
        with torch.no_grad():
            expected = tmodel(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(model(x), expected, **tol, err_msg=mode)
    # and back: a fresh cyconv model takes PyTorch's state_dict, running statistics included
    fresh = small_resnet(dtype, seed=99).eval()
    fresh.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    with torch.no_grad():
        np.testing.assert_allclose(fresh(x), tmodel(torch.from_numpy(x)).numpy(), **tol)
    for k, v in tmodel.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v.numpy())


def test_load_state_dict_checks_names_shapes_dtypes_and_changes_nothing_on_error():
    model = small_resnet()
    good = small_resnet(seed=1).state_dict()
    before = model.state_dict()

    def unchanged():
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(v, before[k])

    missing = dict(good)
    del missing["1.running_mean"]
    with pytest.raises(KeyError, match=r"missing keys \['1.running_mean'\]"):
        model.load_state_dict(missing)
    extra = dict(good, **{"11.weight": np.zeros(3, np.float32)})
    with pytest.raises(KeyError, match=r"unexpected keys \['11.weight'\]"):
        model.load_state_dict(extra)
    shape = dict(good, **{"10.bias": np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match=r"'10.bias' has shape \(4,\), expected \(3,\)"):
        model.load_state_dict(shape)
    dtype = dict(good, **{"10.bias": good["10.bias"].astype(np.float64)})
    with pytest.raises(ValueError, match="'10.bias' has dtype float64, expected float32"):
        model.load_state_dict(dtype)
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([1, 2])
    unchanged()
    params = model.parameters()
    model.load_state_dict(good)
    assert model.parameters() == params  # the same Parameter objects: an optimiser keeps working
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, good[k])


def test_state_dict_round_trips_through_npz(tmp_path):
    model = small_resnet(seed=2)
    model(RNG.standard_normal((4, 1, 8, 8)).astype(np.float32))
    np.savez(tmp_path / "model.npz", **model.state_dict())
    fresh = small_resnet(seed=5)
    with np.load(tmp_path / "model.npz") as data:
        fresh.load_state_dict(data)
    x = RNG.standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(fresh.eval()(x), model.eval()(x))


def test_eval_keeps_nothing_for_backward():
    model = demo.lenet(np.random.default_rng(0))
    x = RNG.standard_normal((512, 1, 8, 8)).astype(np.float32)
    model.eval()
    empty = len(pickle.dumps(model))
    model(x)
    assert len(pickle.dumps(model)) == empty
    model.train()
    model(x)
    assert len(pickle.dumps(model)) > 10 * empty  # training keeps the activations
    model.eval()  # ... and eval() drops them
    assert len(pickle.dumps(model)) == empty
    resnet = small_resnet().eval()
    empty = len(pickle.dumps(resnet))
    resnet(x[:8])
    assert len(pickle.dumps(resnet)) == empty


def test_backward_in_eval_mode_is_a_clear_error():
    model = small_resnet()
    x = RNG.standard_normal((4, 1, 8, 8)).astype(np.float32)
    model.eval()
    y = model(x)
    with pytest.raises(RuntimeError, match=r"evaluation mode.*call train\(\)"):
        model.backward(np.ones_like(y))
    for layer in (nn.Conv2d(1, 2, 3, rng=0), nn.Linear(3, 2, rng=0), nn.MaxPool2d(2), nn.AvgPool2d(2),
                  nn.ReLU(), nn.Sigmoid(), nn.Flatten(), nn.BatchNorm2d(1), nn.Dropout(),
                  nn.AdaptiveAvgPool2d(1), nn.ConvTranspose2d(1, 1, 2, rng=0),
                  nn.Residual(nn.ReLU())):
        z = np.ones((2, 1, 4, 4) if not isinstance(layer, nn.Linear) else (2, 3), np.float32)
        layer.train()(z)
        layer.eval()
        out = layer(z)
        with pytest.raises(RuntimeError, match="evaluation mode"):
            layer.backward(np.ones_like(out))
    # train() again: forward and backward work as before
    model.train()
    y = model(x)
    assert model.backward(np.ones_like(y)).shape == x.shape


def test_modes_propagate_and_return_the_layer():
    model = small_resnet()
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    inner = model[3].body[1]
    assert not inner.training
    assert model.train() is model and inner.training
    model[3].eval()  # a part can be frozen on its own
    assert model.training and not model[3].body[1].training and model[1].training
    with pytest.raises(TypeError, match="bool"):
        model.train("yes")


def test_eval_mode_results_equal_training_results_without_batch_statistics():
    model = demo.lenet(np.random.default_rng(1))
    x = RNG.standard_normal((9, 1, 8, 8)).astype(np.float32)
    train_out = model(x)
    np.testing.assert_array_equal(model.eval()(x), train_out)
    out = io.StringIO()
    print(model, file=out)
    assert "Conv2d(1, 32" in out.getvalue()


def test_a_layer_not_derived_from_module_works_in_sequential():
    class Scale:
        """A layer of one's own: forward, backward, parameters; no Module base class."""

        def __init__(self):
            self.s = nn.Parameter(np.array([2.0]))
            self.modes = []

        def forward(self, x):
            self.x = x
            return x * self.s.data

        def backward(self, grad, *, input_grad=True):
            self.s.grad += np.sum(grad * self.x)
            return grad * self.s.data

        def parameters(self):
            return [self.s]

        def train(self, mode=True):
            self.modes.append(mode)

    scale = Scale()
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64, rng=0), scale)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.0"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.0"]
    model.eval()
    model.train()
    assert scale.modes == [False, True]
    sd = model.state_dict()
    sd["1.0"] = np.array([3.0])
    model.load_state_dict(sd)
    assert scale.s.data[0] == 3.0
    y = model(np.ones((4, 3)))
    model.backward(np.ones_like(y))
    assert scale.s.grad[0] != 0
