"""cyconv.d2l: every chapter example with its exact numbers, and the notes' loops as references."""

import numpy as np
import pytest

from cyconv import d2l, nn

# ----------------------------------------------------------------- the notes' loop code (fixed)


def corr2d_loops(X, K):
    h, w = K.shape
    Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def pool2d_loops(X, pool_size, mode="max"):
    p_h, p_w = pool_size
    Y = np.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            if mode == "max":
                Y[i, j] = X[i:i + p_h, j:j + p_w].max()
            elif mode == "avg":
                Y[i, j] = X[i:i + p_h, j:j + p_w].mean()
    return Y  # outside the loops (the notes indent it into them)


X3 = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]], np.float32)
K2 = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
X_MULTI = np.array([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], np.float32)
K_MULTI = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]], np.float32)


def edge_image():
    X = np.ones((6, 8), np.float32)
    X[:, 2:6] = 0
    return X, np.array([[1.0, -1.0]], np.float32)


# ----------------------------------------------------------------- 6.2


def test_corr2d_example():
    Y = d2l.corr2d(X3, K2)
    np.testing.assert_array_equal(Y, [[19.0, 25.0], [37.0, 43.0]])
    assert Y.dtype == np.float32


def test_edge_detection():
    X, K = edge_image()
    Y = d2l.corr2d(X, K)
    expected = np.zeros((6, 7))
    expected[:, 1] = 1
    expected[:, 5] = -1
    np.testing.assert_array_equal(Y, expected)
    np.testing.assert_array_equal(d2l.corr2d(X.T, K), np.zeros((8, 5)))


@pytest.mark.parametrize("shape, kshape", [((3, 3), (2, 2)), ((7, 5), (3, 2)), ((4, 9), (1, 1)), ((5, 5), (5, 5))])
def test_corr2d_matches_the_loops(shape, kshape):
    rng = np.random.default_rng(sum(shape + kshape))
    X, K = rng.standard_normal(shape), rng.standard_normal(kshape)
    np.testing.assert_allclose(d2l.corr2d(X, K), corr2d_loops(X, K), rtol=1e-12, atol=1e-12)


def test_corr2d_accepts_lists_and_integers():
    Y = d2l.corr2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
    assert Y.dtype == np.float64
    np.testing.assert_array_equal(Y, [[19, 25], [37, 43]])


# ----------------------------------------------------------------- 6.3


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(kernel_size=3, padding=1), (8, 8)),
        (dict(kernel_size=(5, 3), padding=(2, 1)), (8, 8)),
        (dict(kernel_size=3, padding=1, stride=2), (4, 4)),
        (dict(kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)), (2, 2)),
    ],
)
def test_comp_conv2d_shapes(kwargs, shape):
    X = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    k = kwargs.pop("kernel_size")
    conv = nn.Conv2d(1, 1, k, rng=0, **kwargs)
    Y = d2l.comp_conv2d(conv, X)
    assert Y.shape == shape
    np.testing.assert_array_equal(Y, conv(X.reshape(1, 1, 8, 8)).reshape(shape))


# ----------------------------------------------------------------- 6.4


def test_corr2d_multi_in_example():
    Y = d2l.corr2d_multi_in(X_MULTI, K_MULTI)
    np.testing.assert_array_equal(Y, [[56.0, 72.0], [104.0, 120.0]])
    expected = sum(corr2d_loops(x, k) for x, k in zip(X_MULTI, K_MULTI))
    np.testing.assert_array_equal(Y, expected)


def test_corr2d_multi_in_out_example():
    K = np.stack((K_MULTI, K_MULTI + 1, K_MULTI + 2), 0)
    assert K.shape == (3, 2, 2, 2)
    Y = d2l.corr2d_multi_in_out(X_MULTI, K)
    np.testing.assert_array_equal(
        Y, [[[56, 72], [104, 120]], [[76, 100], [148, 172]], [[96, 128], [192, 224]]])
    assert Y.shape == (3, 2, 2)


def test_1x1_convolution_is_a_matrix_product():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (3, 3, 3))
    K = rng.normal(0, 1, (2, 3, 1, 1))
    Y1 = d2l.corr2d_multi_in_out_1x1(X, K)
    Y2 = d2l.corr2d_multi_in_out(X, K)
    assert Y1.shape == (2, 3, 3)
    assert float(np.abs(Y1 - Y2).sum()) < 1e-6
    expected = np.einsum("oc,chw->ohw", K[:, :, 0, 0], X)
    np.testing.assert_allclose(Y1, expected, rtol=1e-12)
    assert d2l.corr2d_multi_in_out_1x1(X.astype(np.float32), K.astype(np.float32)).dtype == np.float32


# ----------------------------------------------------------------- 6.5


def test_pool2d_examples():
    np.testing.assert_array_equal(d2l.pool2d(X3, (2, 2)), [[4.0, 5.0], [7.0, 8.0]])
    np.testing.assert_array_equal(d2l.pool2d(X3, (2, 2), "avg"), [[2.0, 3.0], [5.0, 6.0]])


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size", [(2, 2), (1, 3), (3, 1), 2])
def test_pool2d_matches_the_loops(mode, size):
    X = np.random.default_rng(1).standard_normal((5, 6))
    pair = size if isinstance(size, tuple) else (size, size)
    np.testing.assert_allclose(d2l.pool2d(X, size, mode), pool2d_loops(X, pair, mode), rtol=1e-12)


def test_pool_layer_examples():
    X = np.arange(16, dtype=np.float32).reshape((1, 1, 4, 4))
    np.testing.assert_array_equal(nn.MaxPool2d(3)(X), [[[[10.0]]]])
    np.testing.assert_array_equal(nn.MaxPool2d(3, padding=1, stride=2)(X), [[[[5.0, 7.0], [13.0, 15.0]]]])
    np.testing.assert_array_equal(
        nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))(X), [[[[5.0, 7.0], [13.0, 15.0]]]])
    X2 = np.concatenate((X, X + 1), 1)
    np.testing.assert_array_equal(
        nn.MaxPool2d(3, padding=1, stride=2)(X2),
        [[[[5.0, 7.0], [13.0, 15.0]], [[6.0, 8.0], [14.0, 16.0]]]])


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: d2l.corr2d(X_MULTI, K2), ValueError, r"X must be 2-D \(n_h, n_w\), got shape \(2, 3, 3\)"),
        (lambda: d2l.corr2d(X3, K_MULTI), ValueError, r"K must be 2-D"),
        (lambda: d2l.corr2d(X3, np.ones((4, 1))), ValueError, "output height"),
        (lambda: d2l.corr2d_multi_in(X_MULTI, K_MULTI[:1]), ValueError, "X has 2 channels but K has 1"),
        (lambda: d2l.corr2d_multi_in(X3, K_MULTI), ValueError, "X must be 3-D"),
        (lambda: d2l.corr2d_multi_in_out(X_MULTI, K_MULTI), ValueError, "K must be 4-D"),
        (lambda: d2l.corr2d_multi_in_out(X_MULTI, np.ones((3, 1, 2, 2))), ValueError,
         "X has 2 channels but K expects 1"),
        (lambda: d2l.corr2d_multi_in_out_1x1(X_MULTI, np.ones((3, 2, 2, 2))), ValueError,
         r"K must have shape \(c_o, 2, 1, 1\)"),
        (lambda: d2l.pool2d(X3, (2, 2), "min"), ValueError, "mode must be 'max' or 'avg', got 'min'"),
        (lambda: d2l.pool2d(X3, (2, 2, 2)), ValueError, "pool_size must be an int or a pair"),
        (lambda: d2l.comp_conv2d(nn.Conv2d(1, 1, 3, rng=0), X_MULTI), ValueError, "X must be 2-D"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
