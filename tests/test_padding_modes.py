"""Padding modes for every padding size: numpy.pad's semantics, forward and backward.

References: numpy.pad itself, plain loops (reference_conv / reference_conv_grad), SciPy's
``correlate2d(boundary='wrap'/'symm')``, PyTorch where it accepts the padding size;
gradients by finite differences and the adjoint identity.
"""

import itertools

import numpy as np
import pytest
from reference_conv import ref_correlate2d
from reference_conv_grad import conv2d_ref, fold_padding

import cyconv
import cyconv.nn
from cyconv._padding_modes import PADDING_MODES, pad, pad_adjoint, source_index

NP = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap",
      "symmetric": "symmetric"}
MODES = list(PADDING_MODES)


def test_mode_table_is_complete():
    assert MODES == ["zeros", "reflect", "replicate", "circular", "symmetric"]
    assert set(cyconv._conv_args.PADDING_MODES) == set(MODES)
    for name in MODES + ["'constant'", "'edge'", "'wrap'", "'mirror'", "'nearest'", "'symm'", "'fill'"]:
        assert name in cyconv._padding_modes.__doc__


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_source_index_is_numpy_pad(mode, n):
    """Every padding size up to several periods, on both sides independently."""
    for before, after in itertools.product([0, 1, n - 1, n, n + 1, 2 * n + 1, 3 * n + 2], repeat=2):
        if min(before, after) < 0:
            continue
        got = source_index(n, before, after, mode)
        if mode == "zeros":
            ref = np.pad(np.arange(n), (before, after), constant_values=-1)
        else:
            ref = np.pad(np.arange(n), (before, after), mode=NP[mode])
        np.testing.assert_array_equal(got, ref, err_msg=f"{mode} n={n} pads={(before, after)}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("axes", [(-2, -1), (2, 3), (1, 2), (0, 2)])
def test_pad_is_numpy_pad_on_any_axes(mode, axes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 2, 5))
    for pads in [((1, 2), (0, 3)), ((9, 0), (4, 11)), ((0, 0), (13, 1)), ((7, 7), (0, 0))]:
        widths = [(0, 0)] * 4
        widths[axes[0]], widths[axes[1]] = pads
        ref = np.pad(x, widths, mode=NP[mode])
        got = pad(x, pads, mode, axes=axes)
        np.testing.assert_array_equal(got, ref)
        assert got.flags.c_contiguous


def _fold_loops(g, pads, mode, hw, axes):
    """Plain-loop adjoint: each padded cell's gradient added onto the cell it copies."""
    ah, aw = axes
    gm = np.moveaxis(g, (ah, aw), (-2, -1))
    rows = source_index(hw[0], *pads[0], mode)
    cols = source_index(hw[1], *pads[1], mode)
    out = np.zeros(gm.shape[:-2] + tuple(hw))
    for a in range(gm.shape[-2]):
        for b in range(gm.shape[-1]):
            if rows[a] >= 0 and cols[b] >= 0:
                out[..., rows[a], cols[b]] += gm[..., a, b]
    return np.moveaxis(out, (-2, -1), (ah, aw))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("axes", [(2, 3), (1, 2)])
@pytest.mark.parametrize("pads", [((1, 1), (1, 1)), ((2, 0), (0, 3)), ((7, 5), (9, 12)), ((0, 0), (4, 0))])
def test_pad_adjoint(mode, axes, pads):
    rng = np.random.default_rng(1)
    shape = [2, 3, 4, 3]
    hw = (shape[axes[0]], shape[axes[1]])
    x = rng.standard_normal(shape)
    y = pad(x, pads, mode, axes=axes)
    g = rng.standard_normal(y.shape)
    dx = pad_adjoint(g, pads, mode, hw, axes=axes)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, _fold_loops(g, pads, mode, hw, axes), rtol=1e-13, atol=1e-13)
    # the adjoint identity <pad(x), g> == <x, pad^T(g)>
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, dx), rtol=1e-12)
    if axes == (2, 3):
        np.testing.assert_allclose(dx, fold_padding(g, pads, mode, hw), rtol=1e-13, atol=1e-13)


def test_pad_adjoint_keeps_ieee():
    g = np.array([[np.inf, np.inf, -np.inf, -np.inf]])  # circular (1, 1) pad of [a, b]: b a b a
    with np.errstate(all="raise"):
        dx = pad_adjoint(g, ((0, 0), (1, 1)), "circular", (1, 2))
    assert np.isnan(dx).all()


# ------------------------------------------------------------------ correlate2d / conv2d


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hw, pads", [
    ((3, 4), ((5, 2), (9, 4))),  # several periods on the left
    ((1, 2), ((3, 3), (5, 0))),  # a one-row input
    ((2, 2), ((6, 6), (6, 6))),
    ((5, 3), ((0, 0), (7, 8))),
])
def test_correlate_padding_larger_than_input(mode, hw, pads):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2,) + hw)
    k = rng.standard_normal((3, 2))
    for stride, dilation in [((1, 1), (1, 1)), ((2, 3), (2, 1))]:
        kw = dict(stride=stride, padding=pads, dilation=dilation, padding_mode=mode)
        ref = ref_correlate2d(x, k, stride=stride, pads=pads, dilation=dilation, padding_mode=mode)
        np.testing.assert_allclose(cyconv.correlate2d(x, k, **kw), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cyconv.convolve2d(x, k[::-1, ::-1], **kw), ref, rtol=1e-12, atol=1e-12)
        f32 = cyconv.correlate2d(x.astype(np.float32), k.astype(np.float32), **kw)
        assert f32.dtype == np.float32
        np.testing.assert_allclose(f32, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("boundary, mode", [("wrap", "circular"), ("symm", "symmetric")])
@pytest.mark.parametrize("hw, ks", [((5, 6), (3, 3)), ((2, 3), (5, 7)), ((1, 4), (4, 9)), ((3, 3), (8, 2))])
def test_vs_scipy_boundary(boundary, mode, hw, ks):
    """SciPy wraps/mirrors as often as needed, e.g. 'full' with a kernel larger than the input."""
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    x = rng.standard_normal(hw)
    k = rng.standard_normal(ks)
    for scipy_mode, padding in (("full", "full"), ("same", "same_upper")):
        ref = signal.correlate2d(x, k, mode=scipy_mode, boundary=boundary)
        got = cyconv.correlate2d(x, k, padding=padding, padding_mode=mode)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
        ref = signal.convolve2d(x, k, mode=scipy_mode, boundary=boundary)
        # SciPy's convolve centres the flipped kernel on the other side
        got = cyconv.convolve2d(x, k, padding="full" if scipy_mode == "full" else "same", padding_mode=mode)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def _torch_fits(mode, pads, hw):
    limit = {"reflect": lambda n: n - 1, "circular": lambda n: n, "replicate": lambda n: 10 ** 9,
             "zeros": lambda n: 10 ** 9}
    return all(max(p) <= limit[mode](n) for p, n in zip(pads, hw))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("hw, pads", [((5, 6), ((4, 1), (2, 5))), ((3, 3), ((2, 2), (3, 0))),
                                      ((4, 2), ((9, 9), (1, 1)))])
def test_conv2d_vs_torch(mode, hw, pads):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3) + hw)
    w = rng.standard_normal((4, 3, 2, 3))
    b = rng.standard_normal(4)
    got = cyconv.conv2d(x, w, b, padding=pads, padding_mode=mode, stride=(1, 2))
    np.testing.assert_allclose(got, conv2d_ref(x, w, b, (1, 2), pads, (1, 1), 1, mode), rtol=1e-12, atol=1e-12)
    if not _torch_fits(mode, pads, hw):
        return  # PyTorch refuses this size; the plain-loop reference above is the oracle
    torch_mode = {"zeros": "constant"}.get(mode, mode)
    xp = F.pad(torch.from_numpy(x), (pads[1][0], pads[1][1], pads[0][0], pads[0][1]), mode=torch_mode)
    ref = F.conv2d(xp, torch.from_numpy(w), torch.from_numpy(b), stride=(1, 2)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_nn_conv2d_symmetric():
    rng = np.random.default_rng(5)
    layer = cyconv.nn.Conv2d(2, 3, 3, padding=4, padding_mode="symmetric", dtype=np.float64, rng=rng)
    x = rng.standard_normal((1, 2, 3, 3))
    ref = conv2d_ref(x, layer.weight.data, layer.bias.data, (1, 1), ((4, 4), (4, 4)), (1, 1), 1, "symmetric")
    np.testing.assert_allclose(layer.forward(x), ref, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- gradients


def _loss(x, w, b, gy, kw):
    return float(np.vdot(cyconv.conv2d(x, w, b, **kw), gy))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pads", [((5, 3), (2, 7)), ((1, 0), (4, 4))])
def test_backward_finite_differences_large_padding(mode, pads):
    """Every element by central differences, for paddings larger than the 2x3 input."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 2, 3))
    w = rng.standard_normal((2, 2, 2, 3))
    b = rng.standard_normal(2)
    kw = dict(stride=(2, 1), padding=pads, dilation=(1, 2), padding_mode=mode)
    gy = rng.standard_normal(cyconv.conv2d(x, w, b, **kw).shape)
    dx, dw, db = cyconv.conv2d_backward(gy, x, w, **kw)
    eps = 1e-5
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        fd = np.empty_like(arr)
        for idx in np.ndindex(arr.shape):
            keep = arr[idx]
            arr[idx] = keep + eps
            up = _loss(x, w, b, gy, kw)
            arr[idx] = keep - eps
            fd[idx] = (up - _loss(x, w, b, gy, kw)) / (2 * eps)
            arr[idx] = keep
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("groups", [1, 2])
def test_backward_adjoint_identity(mode, groups):
    """conv2d is linear in x: <conv2d(x), g> == <x, dx>, also when the padding wraps twice."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 3, 2))
    w = rng.standard_normal((4, 4 // groups, 3, 2))
    kw = dict(padding=((7, 2), (5, 6)), groups=groups, padding_mode=mode, stride=(1, 2))
    y = cyconv.conv2d(x, w, **kw)
    g = rng.standard_normal(y.shape)
    dx = cyconv.conv2d_backward(g, x, w, compute=("input",), **kw).input
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, dx), rtol=1e-11)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_backward_vs_torch(mode):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((2, 3, 3, 3))
    pads = ((4, 2), (3, 5))
    y = cyconv.conv2d(x, w, padding=pads, padding_mode=mode)
    g = rng.standard_normal(y.shape)
    dx, dw, _ = cyconv.conv2d_backward(g, x, w, padding=pads, padding_mode=mode)
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    yt = F.conv2d(F.pad(xt, (3, 5, 4, 2), mode=mode), wt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_correlate_float32_symmetric_nonfinite():
    """inf in the input is copied into the padding like any value (0*inf only in 'zeros')."""
    x = np.ones((3, 3), np.float32)
    x[0, 0] = np.inf
    y = cyconv.correlate2d(x, np.ones((2, 2), np.float32), padding=1, padding_mode="symmetric")
    ref = ref_correlate2d(x, np.ones((2, 2)), pads=((1, 1), (1, 1)), padding_mode="symmetric")
    np.testing.assert_array_equal(y, ref.astype(np.float32))
