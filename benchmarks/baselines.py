"""The plain NumPy and SciPy ways of computing each benchmarked operation.

These are what a user without cyconv (or PyTorch) would write; they are checked against
PyTorch in every run before they are timed, so a fast but wrong baseline cannot slip in.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# --- single planes -------------------------------------------------------------------------


def numpy_correlate2d(x, k):
    """Valid 2-D cross-correlation of one plane: window view + einsum (no copy of the windows)."""
    return np.einsum("ijkl,kl->ij", sliding_window_view(x, k.shape), k)


def scipy_correlate2d(x, k):
    from scipy import signal

    return signal.correlate2d(x, k, mode="valid")


# --- batched multi-channel convolution -----------------------------------------------------


def _pad(x, p):
    return x if p == 0 else np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def numpy_conv2d(x, w, b, padding, groups):
    """conv2d via sliding_window_view + einsum (BLAS through einsum's tensordot when groups == 1)."""
    win = sliding_window_view(_pad(x, padding), w.shape[2:], axis=(2, 3))  # N C Ho Wo kh kw
    if groups == 1:
        y = np.einsum("nchwij,ocij->nohw", win, w, optimize=True)
    else:
        n, c, ho, wo, kh, kw = win.shape
        cg, og = c // groups, w.shape[0] // groups
        y = np.einsum(
            "ngchwij,gocij->ngohw",
            win.reshape(n, groups, cg, ho, wo, kh, kw),
            w.reshape(groups, og, cg, kh, kw),
            optimize=True,
        ).reshape(n, w.shape[0], ho, wo)
    if b is not None:
        y = y + b[:, None, None]
    return y


def scipy_conv2d(x, w, b, padding, groups):
    """conv2d as a loop of scipy.signal.correlate2d over (sample, out channel, in channel)."""
    from scipy import signal

    xp = _pad(x, padding)
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    og = o // groups
    ho, wo = xp.shape[2] - w.shape[2] + 1, xp.shape[3] - w.shape[3] + 1
    y = np.zeros((n, o, ho, wo), dtype=np.result_type(x, w))
    for i in range(n):
        for j in range(o):
            g = j // og
            acc = y[i, j]
            for cc in range(cg):
                acc += signal.correlate2d(xp[i, g * cg + cc], w[j, cc], mode="valid")
            if b is not None:
                acc += b[j]
    return y


def scipy_conv2d_plane_count(x_shape, w_shape):
    """How many correlate2d calls scipy_conv2d makes (used to skip hopeless cases)."""
    return x_shape[0] * w_shape[0] * w_shape[1]


# --- pooling -------------------------------------------------------------------------------


def numpy_max_pool2d(x, k, s):
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(-2, -1))


def scipy_max_pool2d(x, k, s):
    from scipy import ndimage

    # origin -(k//2) (even k: -(k//2) is the most negative allowed) puts the window at [i, i+k)
    y = ndimage.maximum_filter(x, size=(1, 1, k, k), origin=(0, 0, -(k // 2), -(k // 2)))
    return y[:, :, : (x.shape[2] - k) + 1 : s, : (x.shape[3] - k) + 1 : s]


def numpy_avg_pool2d(x, k, p):
    """Stride-1 average pool, zero padding counted in the divisor (PyTorch's default)."""
    return sliding_window_view(_pad(x, p), (k, k), axis=(2, 3)).mean(axis=(-2, -1), dtype=x.dtype)


def scipy_avg_pool2d(x, k, p):
    """Stride-1, padding k//2: scipy.ndimage.uniform_filter with zero ('constant') borders."""
    from scipy import ndimage

    assert p == k // 2 and k % 2 == 1
    return ndimage.uniform_filter(x, size=(1, 1, k, k), mode="constant", cval=0.0)


def numpy_max_pool2d_backward(grad_output, indices, input_shape):
    """Scatter for non-overlapping windows (each input cell is the argmax of at most one window)."""
    n, c, h, w = input_shape
    grad = np.zeros((n * c, h * w), dtype=grad_output.dtype)
    np.put_along_axis(grad, indices.reshape(n * c, -1), grad_output.reshape(n * c, -1), axis=1)
    return grad.reshape(input_shape)


def numpy_avg_pool2d_backward(grad_output, input_shape, k, p):
    """Stride-1 average-pool gradient: k*k shifted adds into a padded buffer, then crop."""
    n, c, h, w = input_shape
    g = grad_output / grad_output.dtype.type(k * k)
    acc = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=grad_output.dtype)
    ho, wo = grad_output.shape[2:]
    for i in range(k):
        for j in range(k):
            acc[:, :, i : i + ho, j : j + wo] += g
    return acc[:, :, p : p + h, p : p + w]


def scipy_avg_pool2d_backward(grad_output, input_shape, k, p):
    """The zero-bordered, stride-1 box filter with a symmetric kernel is its own adjoint."""
    return scipy_avg_pool2d(grad_output, k, p)
