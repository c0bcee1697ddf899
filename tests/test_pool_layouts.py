"""Pooling ``axes=`` (per-channel pooling of (H, W, C) images, any two axes) and the
kernels' plane-shape routes: one-column planes (pooled as the one-row plane they are in
memory), long rows split into column blocks, narrow tall planes through transposed
blocks, small calls on one thread. Each against the plain-loop reference (and PyTorch)."""

import numpy as np
import pytest
from reference_pool import avg_pool, avg_pool_backward, max_pool, max_pool_backward

import cyconv
from cyconv._shapes import _padding, _pair


def _norm(k, s, p, d=1):
    k = _pair(k, "k")
    s = k if s is None else _pair(s, "s")
    d = _pair(d, "d")
    return k, s, _padding(p, k, d), d


# ------------------------------------------------------------------------------ axes


@pytest.mark.parametrize("shape, axes", [((6, 7, 3), (0, 1)), ((2, 5, 9, 4), (1, 2)), ((5, 2, 6), (-1, 0)),
                                         ((4, 3, 5, 6), (3, 1)), ((5, 6), (0, 1)), ((5, 6), (1, 0))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_max_pool_axes(shape, axes, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, shape).astype(dtype)  # ties
    kw = dict(stride=(2, 1), padding=(1, 0), ceil_mode=True)
    v, i = cyconv.max_pool2d(x, (3, 2), return_indices=True, axes=axes, **kw)
    xm = np.moveaxis(x, axes, (-2, -1))
    rv, ri = max_pool(xm, *_norm((3, 2), (2, 1), (1, 0)), True)
    np.testing.assert_array_equal(v, np.moveaxis(rv, (-2, -1), axes))
    np.testing.assert_array_equal(i, np.moveaxis(ri, (-2, -1), axes))  # still h*W + w per plane
    assert v.dtype == dtype and v.flags.c_contiguous
    np.testing.assert_array_equal(cyconv.max_pool2d(x, (3, 2), axes=axes, **kw), v)
    g = rng.standard_normal(v.shape)
    got = cyconv.max_pool2d_backward(g, i, x.shape, axes=axes)
    ref = max_pool_backward(np.moveaxis(g, axes, (-2, -1)), np.moveaxis(i, axes, (-2, -1)), xm.shape)
    np.testing.assert_allclose(got, np.moveaxis(ref, (-2, -1), axes), rtol=1e-12)


@pytest.mark.parametrize("shape, axes", [((7, 6, 3), (0, 1)), ((3, 5, 8, 2), (2, 1)), ((6, 3, 5), (0, 2))])
def test_avg_pool_axes(shape, axes):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    opts = dict(stride=(1, 2), padding=1, ceil_mode=True, count_include_pad=False, divisor_override=None)
    y = cyconv.avg_pool2d(x, 3, axes=axes, **opts)
    xm = np.moveaxis(x, axes, (-2, -1))
    k, s, p, _ = _norm(3, (1, 2), 1)
    ref = avg_pool(xm, k, s, p, True, False, None)
    np.testing.assert_allclose(y, np.moveaxis(ref, (-2, -1), axes), rtol=1e-12)
    g = rng.standard_normal(y.shape)
    got = cyconv.avg_pool2d_backward(g, x.shape, 3, axes=axes, **opts)
    ref = avg_pool_backward(np.moveaxis(g, axes, (-2, -1)), xm.shape, k, s, p, True, False, None)
    np.testing.assert_allclose(got, np.moveaxis(ref, (-2, -1), axes), rtol=1e-12)


def test_rgb_image_per_channel_and_out():
    rgb = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)
    y = cyconv.max_pool2d(rgb, 2, axes=(0, 1))
    assert y.shape == (4, 3, 3)
    for c in range(3):
        np.testing.assert_array_equal(y[..., c], cyconv.max_pool2d(rgb[..., c], 2))
    out = np.empty((4, 3, 3), np.float64)
    res = cyconv.avg_pool2d(rgb, 2, axes=(0, 1), out=out)
    assert res is out
    np.testing.assert_allclose(out[..., 1], cyconv.avg_pool2d(rgb[..., 1], 2))
    with pytest.raises(ValueError, match=r"out has shape"):
        cyconv.avg_pool2d(rgb, 2, axes=(0, 1), out=np.empty((3, 4, 3)))
    with pytest.raises(ValueError, match=r"overlaps an input"):
        cyconv.max_pool2d(rgb, 1, axes=(0, 1), out=rgb)


def test_axes_vs_torch_channels_last():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 9, 10, 4)).astype(np.float32)  # NHWC
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    tv, ti = torch.nn.functional.max_pool2d(tx, 3, stride=2, padding=1, return_indices=True)
    v, i = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True, axes=(1, 2))
    np.testing.assert_array_equal(v, tv.numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(i, ti.numpy().transpose(0, 2, 3, 1))
    ta = torch.nn.functional.avg_pool2d(tx, 2, divisor_override=-3)
    np.testing.assert_allclose(cyconv.avg_pool2d(x, 2, divisor_override=-3, axes=(1, 2)),
                               ta.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axes, exc, match", [
    ((0, 0), ValueError, r"two different axes"),
    ((0, 3), ValueError, r"out of range for x with 3 dimensions"),
    ((0,), TypeError, r"axes must be a pair"),
    ((0.0, 1), TypeError, r"axes must be an integer"),
    ("hw", TypeError, r"axes must be a pair"),
])
def test_axes_errors(axes, exc, match):
    with pytest.raises(exc, match=match):
        cyconv.max_pool2d(np.zeros((4, 4, 3)), 2, axes=axes)
    with pytest.raises(exc, match=match.replace("for x", "for grad_output")):
        cyconv.avg_pool2d_backward(np.zeros((2, 2, 3)), (4, 4, 3), 2, axes=axes)


# ------------------------------------------------------------------- plane shapes


SHAPES = [
    (3000, 1),  # one column: pooled as one row
    (1, 9000),  # one long row: several column blocks
    (3, 8195),  # column blocks with a ragged last block
    (2100, 2), (1500, 3), (2050, 4), (1200, 9),  # narrow, tall: transposed blocks
    (40, 8, 8),  # batched small planes
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("geom", [((2, 1), None, 0, 1), ((3, 2), (2, 1), (1, 1), 1),
                                  ((2, 2), (1, 3), ((1, 0), (0, 1)), (2, 1))], ids=str)
@pytest.mark.parametrize("threads", [1, 2])
def test_max_pool_plane_shapes(shape, geom, threads, monkeypatch):
    k, s, p, d = geom
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, shape).astype(np.float32)
    x[rng.random(shape) < 0.01] = np.nan
    saved = cyconv.get_num_threads()
    cyconv.set_num_threads(threads)
    try:
        kw = dict(stride=s, padding=p, dilation=d)
        try:
            v, i = cyconv.max_pool2d(x, k, return_indices=True, ceil_mode=True, **kw)
        except ValueError:
            pytest.skip("window larger than this plane")
        rv, ri = max_pool(x, *_norm(k, s, p, d), True)
        np.testing.assert_array_equal(v, rv)
        np.testing.assert_array_equal(i, ri)
        np.testing.assert_array_equal(cyconv.max_pool2d(x, k, ceil_mode=True, **kw), rv)
    finally:
        cyconv.set_num_threads(saved)


@pytest.mark.parametrize("shape", [(1, 3 << 20), (3 << 20, 1), (3 << 19, 2), (1 << 19, 6), (3 << 15, 8, 8)], ids=str)
def test_large_calls_thread_count_and_blocks(shape):
    """Above the one-thread size: the parallel split (column blocks, transposed blocks)
    gives the single-thread result bit for bit, and the 2x2-window values are the
    blockwise maxima / means."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    k = (2, 1) if shape[-1] == 1 else (1, 2) if shape[-2] == 1 else 2
    saved = cyconv.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            cyconv.set_num_threads(n)
            y, i = cyconv.max_pool2d(x, k, return_indices=True)
            a = cyconv.avg_pool2d(x, k)
            ga = cyconv.avg_pool2d_backward(np.ones_like(a), x.shape, k)
            gm = cyconv.max_pool2d_backward(np.ones_like(y), i, x.shape)
            results.append((y, i, a, ga, gm))
    finally:
        cyconv.set_num_threads(saved)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
    kh, kw = _pair(k, "k")
    H, W = shape[-2:]
    blocks = x.reshape(shape[:-2] + (H // kh, kh, W // kw, kw))
    np.testing.assert_array_equal(results[0][0], blocks.max(axis=(-3, -1)))
    np.testing.assert_allclose(results[0][2], blocks.mean(axis=(-3, -1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][3], np.full(shape, 1 / (kh * kw), np.float32))
    assert results[0][4].sum() == y.size


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("geom", [((2, 1), None, 0, True, None), ((3, 2), (2, 1), (1, 1), False, None),
                                  ((2, 2), (1, 3), (1, 0), True, -5)], ids=str)
def test_avg_pool_plane_shapes(shape, geom):
    k, s, p, cip, dov = geom
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    try:
        y = cyconv.avg_pool2d(x, k, stride=s, padding=p, ceil_mode=True, count_include_pad=cip,
                              divisor_override=dov)
    except ValueError:
        pytest.skip("window larger than this plane")
    kk, ss, pp, _ = _norm(k, s, p)
    np.testing.assert_allclose(y, avg_pool(x, kk, ss, pp, True, cip, dov), rtol=1e-12, atol=1e-13)
    g = rng.standard_normal(y.shape)
    got = cyconv.avg_pool2d_backward(g, x.shape, k, stride=s, padding=p, ceil_mode=True,
                                     count_include_pad=cip, divisor_override=dov)
    np.testing.assert_allclose(got, avg_pool_backward(g, x.shape, kk, ss, pp, True, cip, dov),
                               rtol=1e-12, atol=1e-13)
