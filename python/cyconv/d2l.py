"""Drop-ins for the chapter's loop implementations (Dive into Deep Learning, ch. 6).

Same names, arguments and results as the functions in the notes, computed by
cyconv's kernels instead of Python loops. Inputs are array-likes (NumPy arrays,
nested lists, CPU tensors); results are NumPy arrays. Integer inputs compute in
float64, as everywhere in cyconv.

>>> X = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
>>> corr2d(X, [[0.0, 1.0], [2.0, 3.0]])
array([[19., 25.],
       [37., 43.]])
"""

import numpy as np

from ._arrays import as_array, compute_dtypes
from ._convolution import conv2d, correlate2d
from ._pooling import avg_pool2d, max_pool2d
from ._shapes import _pair

__all__ = [
    "corr2d",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "corr2d_multi_in_out_1x1",
    "pool2d",
    "comp_conv2d",
]


def _ndim(value, ndim, name, layout):
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {arr.shape}")
    return arr


def corr2d(X, K):
    """2-D cross-correlation of one plane with one kernel (notes 6.2.1).

    Parameters
    ----------
    X : array_like, shape (n_h, n_w)
    K : array_like, shape (k_h, k_w)

    Returns
    -------
    numpy.ndarray, shape (n_h - k_h + 1, n_w - k_w + 1)
        ``Y[i, j] = (X[i:i+k_h, j:j+k_w] * K).sum()``.

    Raises
    ------
    ValueError
        If an argument is not 2-D or ``K`` is larger than ``X``.

    Examples
    --------
    Edge detection: the kernel ``[[1, -1]]`` marks where a row changes value.

    >>> X = np.ones((2, 6)); X[:, 2:4] = 0
    >>> corr2d(X, [[1.0, -1.0]])
    array([[ 0.,  1.,  0., -1.,  0.],
           [ 0.,  1.,  0., -1.,  0.]])
    """
    X = _ndim(X, 2, "X", "(n_h, n_w)")
    K = _ndim(K, 2, "K", "(k_h, k_w)")
    return correlate2d(X, K)


def corr2d_multi_in(X, K):
    """Cross-correlation summed over input channels (notes 6.4.1).

    Parameters
    ----------
    X : array_like, shape (c_i, n_h, n_w)
    K : array_like, shape (c_i, k_h, k_w)

    Returns
    -------
    numpy.ndarray, shape (n_h - k_h + 1, n_w - k_w + 1)
        ``sum(corr2d(x, k) for x, k in zip(X, K))``.

    Examples
    --------
    >>> X = np.stack([np.arange(9.0).reshape(3, 3), np.arange(1.0, 10.0).reshape(3, 3)])
    >>> K = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    >>> corr2d_multi_in(X, K)
    array([[ 56.,  72.],
           [104., 120.]])
    """
    X = _ndim(X, 3, "X", "(c_i, n_h, n_w)")
    K = _ndim(K, 3, "K", "(c_i, k_h, k_w)")
    if X.shape[0] != K.shape[0]:
        raise ValueError(f"X has {X.shape[0]} channels but K has {K.shape[0]} (shapes {X.shape}, {K.shape})")
    return conv2d(X, K[np.newaxis])[0]


def corr2d_multi_in_out(X, K):
    """One :func:`corr2d_multi_in` per output channel, stacked (notes 6.4.2).

    Parameters
    ----------
    X : array_like, shape (c_i, n_h, n_w)
    K : array_like, shape (c_o, c_i, k_h, k_w)

    Returns
    -------
    numpy.ndarray, shape (c_o, n_h - k_h + 1, n_w - k_w + 1)

    Examples
    --------
    >>> X = np.stack([np.arange(9.0).reshape(3, 3), np.arange(1.0, 10.0).reshape(3, 3)])
    >>> K = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    >>> corr2d_multi_in_out(X, np.stack((K, K + 1, K + 2)))[2]
    array([[ 96., 128.],
           [192., 224.]])
    """
    X = _ndim(X, 3, "X", "(c_i, n_h, n_w)")
    K = _ndim(K, 4, "K", "(c_o, c_i, k_h, k_w)")
    if X.shape[0] != K.shape[1]:
        raise ValueError(f"X has {X.shape[0]} channels but K expects {K.shape[1]} (shapes {X.shape}, {K.shape})")
    return conv2d(X, K)


def corr2d_multi_in_out_1x1(X, K):
    """A 1x1 convolution written as a matrix product (notes 6.4.3).

    As the chapter: ``X`` becomes a ``(c_i, n_h*n_w)`` matrix, ``K`` a
    ``(c_o, c_i)`` matrix, and ``Y = K @ X`` is reshaped to ``(c_o, n_h, n_w)``.
    It equals ``corr2d_multi_in_out(X, K)`` for a 1x1 kernel.

    Parameters
    ----------
    X : array_like, shape (c_i, n_h, n_w)
    K : array_like, shape (c_o, c_i, 1, 1)

    Returns
    -------
    numpy.ndarray, shape (c_o, n_h, n_w)

    Examples
    --------
    >>> X = np.arange(8.0).reshape(2, 2, 2)
    >>> corr2d_multi_in_out_1x1(X, [[[[1.0]], [[10.0]]]])
    array([[[40., 51.],
            [62., 73.]]])
    """
    X = _ndim(X, 3, "X", "(c_i, n_h, n_w)")
    K = _ndim(K, 4, "K", "(c_o, c_i, 1, 1)")
    c_i, h, w = X.shape
    if K.shape[1:] != (c_i, 1, 1):
        raise ValueError(f"K must have shape (c_o, {c_i}, 1, 1) for X of shape {X.shape}, got {K.shape}")
    compute, result = compute_dtypes(as_array(X, "X"), as_array(K, "K"))
    Y = K.reshape(K.shape[0], c_i).astype(compute) @ X.reshape(c_i, h * w).astype(compute)
    return Y.reshape(K.shape[0], h, w).astype(result, copy=False)


def pool2d(X, pool_size, mode="max"):
    """Max or average pooling of one plane with stride 1 and no padding (notes 6.5.1).

    The notes' listing has ``return Y`` indented into the loop, which would return
    after the first ``avg`` element; this is the intended function: every window,
    both modes. An unknown ``mode`` is an error here (the listing leaves zeros).

    Parameters
    ----------
    X : array_like, shape (n_h, n_w)
    pool_size : int or (int, int)
        ``(p_h, p_w)``.
    mode : {'max', 'avg'}

    Returns
    -------
    numpy.ndarray, shape (n_h - p_h + 1, n_w - p_w + 1)

    Examples
    --------
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> pool2d(X, (2, 2))
    array([[4., 5.],
           [7., 8.]])
    >>> pool2d(X, (2, 2), 'avg')
    array([[2., 3.],
           [5., 6.]])
    """
    X = _ndim(X, 2, "X", "(n_h, n_w)")
    size = _pair(pool_size, "pool_size")
    if mode == "max":
        return max_pool2d(X, size, stride=1)
    if mode == "avg":
        return avg_pool2d(X, size, stride=1)
    raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")


def comp_conv2d(conv2d, X):
    """Apply a convolution layer to one 2-D plane (notes 6.3.1).

    ``X`` is reshaped to ``(1, 1) + X.shape`` (batch size and channels 1), passed
    through ``conv2d``, and the two leading axes are dropped again.

    Parameters
    ----------
    conv2d : cyconv.nn.Conv2d
        With one input and one output channel (any callable on ``(N, C, H, W)``).
    X : array_like, shape (n_h, n_w)

    Returns
    -------
    numpy.ndarray, shape (o_h, o_w)

    Examples
    --------
    >>> from cyconv.nn import Conv2d
    >>> X = np.zeros((8, 8), np.float32)
    >>> comp_conv2d(Conv2d(1, 1, kernel_size=3, padding=1, rng=0), X).shape
    (8, 8)
    >>> comp_conv2d(Conv2d(1, 1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4), rng=0), X).shape
    (2, 2)
    """
    X = _ndim(X, 2, "X", "(n_h, n_w)")
    Y = np.asarray(conv2d(X.reshape((1, 1) + X.shape)))
    return Y.reshape(Y.shape[2:])
