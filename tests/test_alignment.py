"""Contiguous arrays whose items are not aligned (a view at an odd byte offset).

NumPy calls such arrays C-contiguous and ``np.ascontiguousarray`` returns them as they
are, but the kernels' vector loads need aligned items (UBSan reported the misaligned loads).
Every entry point must copy them first (or, for ``out=``, write through an aligned buffer)
and give the same result as for an aligned copy.
"""

import numpy as np
import pytest

import cyconv
from cyconv._arrays import canonical


def unaligned(a):
    """A C-contiguous copy of ``a`` whose data pointer is one byte past an aligned address."""
    a = np.asarray(a)
    raw = np.zeros(a.nbytes + a.itemsize + 1, np.uint8)
    start = (-raw.ctypes.data) % a.itemsize + 1
    view = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    view[...] = a
    assert view.flags.c_contiguous and not view.flags.aligned
    return view


RNG = np.random.default_rng(0)
DTYPES = [np.float32, np.float64]


def _arrays(dtype):
    x = RNG.standard_normal((2, 4, 9, 8)).astype(dtype)
    w = RNG.standard_normal((6, 4, 3, 3)).astype(dtype)
    b = RNG.standard_normal(6).astype(dtype)
    return x, w, b


def test_canonical_copies_unaligned_arrays():
    a = unaligned(np.arange(12.0))
    c = canonical(a, a.dtype)
    assert c.flags.aligned and c.flags.c_contiguous
    np.testing.assert_array_equal(c, a)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_conv2d_and_backward(dtype, layout):
    x, w, b = _arrays(dtype)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    want = cyconv.conv2d(x, w, b, padding=1, layout=layout)
    got = cyconv.conv2d(unaligned(x), unaligned(w), unaligned(b), padding=1, layout=layout)
    np.testing.assert_array_equal(got, want)
    g = RNG.standard_normal(want.shape).astype(dtype)
    want_g = cyconv.conv2d_backward(g, x, w, padding=1, layout=layout)
    got_g = cyconv.conv2d_backward(unaligned(g), unaligned(x), unaligned(w), padding=1, layout=layout)
    for a, e in zip(got_g, want_g):
        np.testing.assert_array_equal(a, e)
    # (the transposed convolution's weight (C_in, C_out/groups, kh, kw) is w itself here)
    np.testing.assert_array_equal(
        cyconv.conv_transpose2d(unaligned(want), unaligned(w), padding=1, layout=layout),
        cyconv.conv_transpose2d(want, w, padding=1, layout=layout))


@pytest.mark.parametrize("dtype", DTYPES)
def test_plane_functions_and_pools(dtype):
    x = RNG.standard_normal((3, 10, 11)).astype(dtype)
    k = RNG.standard_normal((3, 2)).astype(dtype)
    ux = unaligned(x)
    np.testing.assert_array_equal(cyconv.correlate2d(ux, unaligned(k)), cyconv.correlate2d(x, k))
    np.testing.assert_array_equal(cyconv.convolve2d(ux, k, padding="same"), cyconv.convolve2d(x, k, padding="same"))
    p, idx = cyconv.max_pool2d(x, 2, return_indices=True)
    up, uidx = cyconv.max_pool2d(ux, 2, return_indices=True)
    np.testing.assert_array_equal(up, p)
    np.testing.assert_array_equal(uidx, idx)
    np.testing.assert_array_equal(
        cyconv.max_pool2d_backward(unaligned(p), unaligned(idx), x.shape),
        cyconv.max_pool2d_backward(p, idx, x.shape))
    a = cyconv.avg_pool2d(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(cyconv.avg_pool2d(ux, 3, stride=1, padding=1), a)
    np.testing.assert_array_equal(
        cyconv.avg_pool2d_backward(unaligned(a), x.shape, 3, stride=1, padding=1),
        cyconv.avg_pool2d_backward(a, x.shape, 3, stride=1, padding=1))
    np.testing.assert_array_equal(cyconv.adaptive_avg_pool2d(ux, 3), cyconv.adaptive_avg_pool2d(x, 3))
    np.testing.assert_array_equal(cyconv.unfold(ux[None], 2), cyconv.unfold(x[None], 2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_unaligned_out(dtype):
    x, w, b = _arrays(dtype)
    want = cyconv.conv2d(x, w, b, padding=1)
    out = unaligned(np.zeros_like(want))
    assert cyconv.conv2d(x, w, b, padding=1, out=out) is out
    np.testing.assert_array_equal(out, want)
    pooled = cyconv.max_pool2d(x, 2)
    out = unaligned(np.zeros_like(pooled))
    cyconv.max_pool2d(x, 2, out=out)
    np.testing.assert_array_equal(out, pooled)
