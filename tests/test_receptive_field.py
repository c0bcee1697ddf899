"""cyconv.receptive_field: closed form vs brute-force index propagation, layers, specs, errors."""

import itertools

import numpy as np
import pytest

import cyconv
from cyconv import nn, receptive_field
from cyconv._receptive_field import ReceptiveField


# ----------------------------------------------------------------- brute-force reference


def _dependencies(layers, i):
    """Input positions (padding included) output element ``i`` of a 1-D stack reads.

    ``layers`` are ``(k, s, p_before, d)``; window ``o`` of a layer reads positions
    ``o*s - p_before + t*d`` for ``t < k``: walk that back from the last layer.
    """
    positions = {i}
    for k, s, before, d in reversed(layers):
        positions = {o * s - before + t * d for o in positions for t in range(k)}
    return positions


def _reference(layers):
    """(size, jump, start) of one axis from the dependency sets of outputs 0 and 1."""
    first, second = _dependencies(layers, 0), _dependencies(layers, 1)
    return max(first) - min(first) + 1, min(second) - min(first), min(first)


GEOMETRIES = [  # (kernel, stride, padding before, dilation) of one axis
    (1, 1, 0, 1), (2, 1, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), (2, 2, 0, 1),
    (5, 1, 2, 1), (3, 1, 2, 2), (4, 3, 1, 1), (3, 2, 0, 3),
]


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_matches_brute_force_on_a_grid(depth):
    rng = np.random.default_rng(depth)
    stacks = list(itertools.product(GEOMETRIES, repeat=depth))
    for idx in rng.choice(len(stacks), size=min(len(stacks), 120), replace=False):
        rows = stacks[idx]
        # the width axis gets a different stack (reversed) to catch axis mix-ups
        cols = rows[::-1]
        specs = [
            {"kernel_size": (r[0], c[0]), "stride": (r[1], c[1]),
             "padding": ((r[2], 0), (c[2], 1)), "dilation": (r[3], c[3])}
            for r, c in zip(rows, cols)
        ]
        rf = receptive_field(specs)
        h, w = _reference(rows), _reference(cols)
        assert rf == ReceptiveField((h[0], w[0]), (h[1], w[1]), (h[2], w[2])), (rows, cols)


def test_per_layer_matches_prefixes():
    specs = [(3, 1, 1), (2, 2), (3, 1, 0, 2), (2, 2)]
    per = receptive_field(specs, per_layer=True)
    assert len(per) == len(specs)
    for i in range(len(specs)):
        assert per[i] == receptive_field(specs[: i + 1])


# ----------------------------------------------------------------- known numbers


def test_two_3x3_convs_see_5x5_and_pooling_doubles_the_jump():
    assert receptive_field([(3,), (3,)]) == ((5, 5), (1, 1), (0, 0))
    pooled = receptive_field([(3,), (3,), (2, 2)])
    assert pooled.jump == (2, 2)
    assert pooled.size == (6, 6)
    # a further 3x3 conv after the pool grows the field by (3-1)*jump = 4
    assert receptive_field([(3,), (3,), (2, 2), (3,)]).size == (10, 10)


def test_padding_moves_the_start_into_the_padding():
    assert receptive_field([(3, 1, 1), (3, 1, 1)]) == ((5, 5), (1, 1), (-2, -2))
    assert receptive_field([(3, 1, 1), (3, 1, 1)]).center == (0.0, 0.0)
    # padding after a stride-2 layer counts double
    assert receptive_field([(2, 2), (3, 1, 1)]).start == (-2, -2)


def test_per_axis_geometry():
    rf = receptive_field([{"kernel_size": (5, 3), "stride": (2, 1), "padding": (2, 1)}])
    assert rf == ((5, 3), (2, 1), (-2, -1))
    assert rf.center == (0.0, 0.0)


def test_dilation_widens_the_field():
    assert receptive_field([{"kernel_size": 3, "dilation": 2}]).size == (5, 5)
    assert receptive_field([(3, 1, 0, 2), (3, 1, 0, 4)]).size == (13, 13)


def test_padding_strings():
    # 'same' for an even kernel puts the extra padding first (the notes' rule)
    assert receptive_field([{"kernel_size": 4, "padding": "same"}]).start == (-2, -2)
    assert receptive_field([{"kernel_size": 4, "padding": "same_upper"}]).start == (-1, -1)
    assert receptive_field([{"kernel_size": 3, "padding": "full"}]).start == (-2, -2)
    assert receptive_field([{"kernel_size": 3, "padding": "valid"}]).start == (0, 0)
    center = receptive_field([{"kernel_size": 4, "padding": "same"}]).center
    assert center == (-0.5, -0.5)


def test_empty_stack_is_the_identity():
    assert receptive_field([]) == ((1, 1), (1, 1), (0, 0))
    assert receptive_field([], per_layer=True) == []


# ----------------------------------------------------------------- nn layers


def test_nn_layers_and_pass_through():
    layers = [
        nn.Conv2d(1, 6, 5, padding=2, rng=0), nn.Sigmoid(), nn.AvgPool2d(2, stride=2),
        nn.Conv2d(6, 16, 5, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    ]
    per = receptive_field(layers, per_layer=True)
    assert [f.size[0] for f in per] == [5, 5, 6, 14, 14, 16, 16]
    assert [f.jump[0] for f in per] == [1, 1, 2, 2, 2, 4, 4]
    assert all(f.start == (-2, -2) for f in per)
    specs = [(5, 1, 2), (2, 2), (5, 1), (2, 2)]
    assert receptive_field(layers) == receptive_field(specs)
    assert receptive_field(nn.Sequential(*layers)) == receptive_field(specs)


def test_nested_sequential_is_expanded():
    block = nn.Sequential(nn.Conv2d(1, 1, 3, rng=0), nn.ReLU())
    per = receptive_field([block, nn.MaxPool2d(2), block], per_layer=True)
    assert len(per) == 5
    assert per[-1] == receptive_field([(3,), (2, 2), (3,)])


def test_pool_layer_stride_defaults_to_kernel_and_dilation_counts():
    assert receptive_field([nn.MaxPool2d(3)]).jump == (3, 3)
    assert receptive_field([nn.MaxPool2d(3, stride=1, dilation=2)]).size == (5, 5)
    assert receptive_field([nn.AvgPool2d((2, 4), padding=(1, 2))]) == ((2, 4), (2, 4), (-1, -2))


def test_torch_layers_are_accepted():
    torch = pytest.importorskip("torch")
    layers = [torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
              torch.nn.Conv2d(2, 2, 3, dilation=2, padding="same")]
    assert receptive_field(layers) == receptive_field([(3, 1, 1), (2, 2), (3, 1, "same", 2)])


@pytest.mark.parametrize(
    "layers",
    [
        [nn.Conv2d(1, 1, 3, rng=0), nn.Conv2d(1, 1, 3, rng=0)],
        [nn.Conv2d(1, 1, 3, padding=1, rng=0), nn.AvgPool2d(2), nn.Conv2d(1, 1, (3, 2), stride=2, rng=0)],
        [nn.Conv2d(1, 1, 2, stride=2, padding=1, rng=0), nn.Sigmoid(), nn.Conv2d(1, 1, 3, rng=0)],
        [nn.AvgPool2d(3, stride=2, padding=1), nn.Conv2d(1, 1, (1, 3), rng=0), nn.AvgPool2d(2)],
    ],
)
def test_field_is_where_the_input_gradient_lives(layers):
    """Backpropagate one output element with positive weights: the nonzero input
    gradient must fill exactly the reported field (clipped to the input)."""
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            layer.weight.data[...] = 1.0
            layer.bias.data[...] = 0.0
    model = nn.Sequential(*layers)
    x = np.ones((1, 1, 23, 21))
    y = model(x)
    rf = receptive_field(layers)
    for i, j in [(0, 0), (y.shape[2] // 2, y.shape[3] // 2), (y.shape[2] - 1, y.shape[3] - 1)]:
        grad = np.zeros_like(y)
        grad[0, 0, i, j] = 1.0
        model.zero_grad()
        gx = model.backward(grad)[0, 0]
        rows, cols = np.nonzero(gx)
        top, left = rf.start[0] + i * rf.jump[0], rf.start[1] + j * rf.jump[1]
        assert rows.min() == max(top, 0) and rows.max() == min(top + rf.size[0] - 1, 22)
        assert cols.min() == max(left, 0) and cols.max() == min(left + rf.size[1] - 1, 20)


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "layers, exc, match",
    [
        ([nn.Linear(4, 2, rng=0)], ValueError, "Linear connects every input element"),
        ([(3,), 3], TypeError, r"layers\[1\]: expected a layer"),
        ([{"kernel_size": 3, "strides": 2}], ValueError, r"unknown key\(s\) \['strides'\]"),
        ([{"stride": 2}], ValueError, "needs 'kernel_size'"),
        ([(3, 1, 0, 1, 9)], ValueError, r"\(kernel_size\[, stride\[, padding\[, dilation\]\]\]\), got 5"),
        ([()], ValueError, "got 0 items"),
        ([(1.5,)], TypeError, "kernel_size must be an integer"),
        ([(True,)], TypeError, "kernel_size must be an integer"),
        ([(0,)], ValueError, "kernel_size must be >= 1"),
        ([(3, 0)], ValueError, "stride must be >= 1"),
        ([(3, 1, -1)], ValueError, "padding must be >= 0"),
        ([(3, 1, "middle")], ValueError, "padding must be an int"),
        (3, TypeError, "layers must be a sequence of layers or a Sequential"),
    ],
)
def test_errors(layers, exc, match):
    with pytest.raises(exc, match=match):
        receptive_field(layers)


def test_is_exported():
    assert cyconv.receptive_field is receptive_field
