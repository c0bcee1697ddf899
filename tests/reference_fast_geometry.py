"""The check of the common convolution call in plain Python: the oracle for the compiled
``cyconv._fastpath.fast_geometry`` (the two must agree on every input)."""

import numpy as np

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
MAX_RESULT_BYTES = 1 << 46  # cyconv._arrays.MAX_RESULT_BYTES
_FAST_BITS = 20
_AXIS_LIMIT = 1 << 40


def fast_geometry_ref(x, weight, stride, padding, dilation, groups):
    """The kernels' geom for a call that needs no normalisation, else None.

    ``x`` and ``weight`` ndarrays of one dtype, float32 or float64, C-contiguous and
    4-D; stride, padding, dilation and groups Python ints below 2**20; no axis longer
    than 2**40; no kernel row/column reads only padding.
    """
    if type(x) is not np.ndarray:
        return None
    dt = x.dtype
    if (
        (dt is not _F32 and dt is not _F64)
        or type(weight) is not np.ndarray
        or weight.dtype is not dt
        or x.ndim != 4
        or weight.ndim != 4
        or type(stride) is not int
        or type(padding) is not int
        or type(dilation) is not int
        or type(groups) is not int
        or not x.flags.c_contiguous
        or not weight.flags.c_contiguous
    ):
        return None
    n, c, h, w = x.shape
    co, cg, kh, kw = weight.shape
    # Options of 2**_FAST_BITS or more take the general path, which refuses what the
    # kernels' Py_ssize_t arithmetic cannot hold; below it (with the shapes of real
    # arrays) every index fits.
    if (
        stride < 1 or dilation < 1 or padding < 0 or (stride | dilation | padding) >> _FAST_BITS
        or groups < 1 or groups >> _FAST_BITS or cg * groups != c
        or max(x.shape + weight.shape) > _AXIS_LIMIT
        or co % groups or h < 1 or w < 1 or co < 1 or cg < 1 or kh < 1 or kw < 1
    ):
        return None
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    if ho < 1 or wo < 1 or n * co * ho * wo * dt.itemsize > MAX_RESULT_BYTES:
        return None
    if padding and (  # kernel rows/columns reading only padding: conv2d drops them
        (ho - 1) * stride < padding or (kh - 1) * dilation - padding >= h
        or (wo - 1) * stride < padding or (kw - 1) * dilation - padding >= w
    ):
        return None
    return (kh, kw, stride, stride, dilation, dilation, padding, padding, ho, wo)
