"""Pooling error table: every bad input -> the exception type and a message that explains it."""

import numpy as np
import pytest

import cyconv

X = np.zeros((1, 1, 4, 4))
G = np.zeros((1, 1, 2, 2))
IDX = np.zeros((1, 1, 2, 2), np.int64)


def _readonly(shape, dtype=np.float64):
    a = np.zeros(shape, dtype)
    a.flags.writeable = False
    return a


# (id, call, exception, message regex)
CASES = [
    # kernel_size / stride / dilation values and types
    ("kernel 0", lambda: cyconv.max_pool2d(X, 0), ValueError, r"kernel_size must be >= 1, got 0"),
    ("kernel negative", lambda: cyconv.avg_pool2d(X, -2), ValueError, r"kernel_size must be >= 1"),
    ("kernel pair with 0", lambda: cyconv.max_pool2d(X, (2, 0)), ValueError, r"kernel_size must be >= 1"),
    ("stride 0", lambda: cyconv.max_pool2d(X, 2, stride=0), ValueError, r"stride must be >= 1, got 0"),
    ("stride negative", lambda: cyconv.avg_pool2d(X, 2, stride=(1, -1)), ValueError, r"stride must be >= 1"),
    ("dilation 0", lambda: cyconv.max_pool2d(X, 2, dilation=0), ValueError, r"dilation must be >= 1"),
    ("kernel float", lambda: cyconv.max_pool2d(X, 1.5), TypeError, r"kernel_size must be an integer, got 1\.5"),
    ("kernel bool", lambda: cyconv.avg_pool2d(X, True), TypeError, r"kernel_size must be an integer, got the bool"),
    ("stride float", lambda: cyconv.max_pool2d(X, 2, stride=2.0), TypeError, r"stride must be an integer"),
    ("dilation bool", lambda: cyconv.max_pool2d(X, 2, dilation=(1, False)), TypeError, r"dilation must be an integer"),
    ("padding float", lambda: cyconv.max_pool2d(X, 2, padding=0.5), TypeError, r"padding must be an integer"),
    ("kernel length 3", lambda: cyconv.max_pool2d(X, (2, 2, 2)), ValueError, r"kernel_size .* length 3"),
    ("stride length 1", lambda: cyconv.avg_pool2d(X, 2, stride=(2,)), ValueError, r"stride .* length 1"),
    ("padding length 3", lambda: cyconv.max_pool2d(X, 2, padding=(0, 0, 0)), ValueError, r"padding .* length 3"),
    ("padding string", lambda: cyconv.max_pool2d(X, 2, padding="half"), ValueError, r"padding must be .*'same'"),
    ("padding negative", lambda: cyconv.avg_pool2d(X, 2, padding=-1), ValueError, r"padding must be >= 0"),
    # padding more than half the effective kernel
    ("padding > half", lambda: cyconv.max_pool2d(X, 2, padding=2), ValueError,
     r"at most half the effective kernel.*height padding \(2, 2\) > 1 = \(1\*\(2-1\)\+1\)//2"),
    ("padding > half avg", lambda: cyconv.avg_pool2d(X, 3, padding=(0, 2)), ValueError, r"width padding \(2, 2\) > 1"),
    ("padding full is too much", lambda: cyconv.avg_pool2d(X, 3, padding="full"), ValueError, r"at most half"),
    # kernel larger than the padded input: the formula with the user's numbers
    ("kernel too tall", lambda: cyconv.max_pool2d(X, (7, 1)), ValueError,
     r"output height = floor\(\(4 - 7 \+ 0 \+ 7\)/7\) = 0 < 1: the 7-row kernel is taller than the 4-row padded input"),
    ("kernel too wide", lambda: cyconv.avg_pool2d(X, (1, 7), stride=1, padding=(0, 1)), ValueError,
     r"output width = floor\(\(4 - 7 \+ 2 \+ 1\)/1\) = 0 < 1: the 7-column kernel is wider than the "
     r"6-column padded input"),
    ("dilated kernel too tall", lambda: cyconv.max_pool2d(X, 3, dilation=2), ValueError,
     r"dilated: 2\*\(3-1\)\+1"),
    ("ceil mode too big", lambda: cyconv.max_pool2d(X, 6, stride=1, ceil_mode=True), ValueError,
     r"output height = ceil\(\(4 - 6 \+ 0\)/1\) \+ 1 = -1 < 1"),
    ("window only padding", lambda: cyconv.max_pool2d(np.zeros((1, 3)), 2, dilation=3, padding=2), ValueError,
     r"window 0 along the height covers only padding"),
    # dtypes
    ("complex", lambda: cyconv.max_pool2d(X.astype(complex), 2), TypeError, r"x must have a real numeric dtype.*complex128"),
    ("object", lambda: cyconv.avg_pool2d(np.array([[1, None]], dtype=object), 1), TypeError, r"dtype object"),
    ("string", lambda: cyconv.max_pool2d(np.array([["a", "b"]]), 1), TypeError, r"real numeric dtype"),
    ("complex avg", lambda: cyconv.avg_pool2d(X.astype(np.complex64), 2), TypeError, r"real numeric dtype"),
    # shapes
    ("1-D input", lambda: cyconv.max_pool2d(np.zeros(4), 1), ValueError, r"x must have at least 2 dimensions.*\(4,\)"),
    ("0-D input", lambda: cyconv.avg_pool2d(3.0, 1), ValueError, r"at least 2 dimensions"),
    ("empty H", lambda: cyconv.max_pool2d(np.zeros((2, 0, 4)), 1), ValueError,
     r"output height = floor\(\(0 - 1 \+ 0 \+ 1\)/1\) = 0 < 1.*input height is 0"),
    ("empty W", lambda: cyconv.avg_pool2d(np.zeros((3, 0)), 1), ValueError, r"output width = .* = 0 < 1"),
    ("empty H, max, padded", lambda: cyconv.max_pool2d(np.zeros((2, 0, 4)), 2, padding=1), ValueError,
     r"max pooling of an input with no rows \(input height 0\): every window covers only padding"),
    # flags and divisor_override
    ("ceil_mode int", lambda: cyconv.max_pool2d(X, 2, ceil_mode=1), TypeError, r"ceil_mode must be a bool, got 1"),
    ("return_indices str", lambda: cyconv.max_pool2d(X, 2, return_indices="yes"), TypeError, r"return_indices must be a bool"),
    ("count_include_pad None", lambda: cyconv.avg_pool2d(X, 2, count_include_pad=None), TypeError,
     r"count_include_pad must be a bool"),
    ("divisor 0", lambda: cyconv.avg_pool2d(X, 2, divisor_override=0), ValueError,
     r"divisor_override must be a nonzero integer or None, got 0"),
    ("divisor 0 backward", lambda: cyconv.avg_pool2d_backward(G, X.shape, 2, divisor_override=0), ValueError,
     r"divisor_override must be a nonzero"),
    ("divisor float", lambda: cyconv.avg_pool2d(X, 2, divisor_override=2.0), TypeError, r"divisor_override must be an integer"),
    ("divisor bool", lambda: cyconv.avg_pool2d(X, 2, divisor_override=True), TypeError, r"divisor_override .* bool"),
    # out=
    ("out shape", lambda: cyconv.max_pool2d(X, 2, out=np.zeros((1, 1, 3, 3))), ValueError,
     r"out has shape \(1, 1, 3, 3\), expected the result shape \(1, 1, 2, 2\)"),
    ("out dtype", lambda: cyconv.max_pool2d(X, 2, out=np.zeros((1, 1, 2, 2), np.float32)), ValueError,
     r"out has dtype float32, expected the result dtype float64"),
    ("out dtype uint8", lambda: cyconv.max_pool2d(X.astype(np.uint8), 2, out=np.zeros((1, 1, 2, 2))), ValueError,
     r"expected the result dtype uint8"),
    ("out dtype avg int", lambda: cyconv.avg_pool2d(X.astype(int), 2, out=np.zeros((1, 1, 2, 2), int)), ValueError,
     r"expected the result dtype float64"),
    ("out read-only", lambda: cyconv.avg_pool2d(X, 2, out=_readonly((1, 1, 2, 2))), ValueError, r"out is read-only"),
    ("out overlaps", lambda: cyconv.max_pool2d(X, 2, out=X[:, :, :2, :2]), ValueError, r"out overlaps an input"),
    ("out overlaps avg", lambda: cyconv.avg_pool2d(X, 2, out=X[:, :, ::2, ::2]), ValueError, r"overlaps"),
    ("out list", lambda: cyconv.max_pool2d(X, 2, out=[[0, 0], [0, 0]]), TypeError, r"out must be a numpy.ndarray"),
    # max_pool2d_backward
    ("index too big", lambda: cyconv.max_pool2d_backward(G, IDX + 16, X.shape), ValueError,
     r"indices\[0, 0, 0, 0\] = 16 is out of range for input planes of 4x4 = 16 cells \(expected 0 <= index < 16\)"),
    ("index negative", lambda: cyconv.max_pool2d_backward(G, np.where(np.arange(4).reshape(G.shape) == 3, -1, IDX),
                                                          X.shape), ValueError, r"indices\[0, 0, 1, 1\] = -1 is out of range"),
    ("index huge uint64", lambda: cyconv.max_pool2d_backward(G, np.full(G.shape, 2**63 + 1, np.uint64), X.shape),
     ValueError, r"= 9223372036854775809 is out of range"),
    ("index float", lambda: cyconv.max_pool2d_backward(G, IDX.astype(float), X.shape), TypeError,
     r"indices must have an integer dtype, got dtype float64"),
    ("index bool", lambda: cyconv.max_pool2d_backward(G, IDX.astype(bool), X.shape), TypeError, r"integer dtype"),
    ("index shape", lambda: cyconv.max_pool2d_backward(G, IDX[..., :1], X.shape), ValueError,
     r"indices has shape \(1, 1, 2, 1\), expected the grad_output shape \(1, 1, 2, 2\)"),
    ("grad leading axes", lambda: cyconv.max_pool2d_backward(G, IDX, (2, 1, 4, 4)), ValueError,
     r"leading axes \(1, 1\) must be those of input_shape \(2, 1, 4, 4\)"),
    ("grad complex", lambda: cyconv.max_pool2d_backward(G.astype(complex), IDX, X.shape), TypeError, r"grad_output must have a real"),
    ("grad 1-D", lambda: cyconv.max_pool2d_backward(np.zeros(2), np.zeros(2, int), (4,)), ValueError,
     r"grad_output must have at least 2 dimensions"),
    ("input_shape floats", lambda: cyconv.max_pool2d_backward(G, IDX, (1, 1, 4.0, 4)), TypeError,
     r"input_shape must be a tuple of integers"),
    ("input_shape 1-D", lambda: cyconv.max_pool2d_backward(np.zeros((2, 2)), np.zeros((2, 2), int), (4,)), ValueError,
     r"input_shape must have at least 2 dimensions"),
    ("input_shape negative", lambda: cyconv.max_pool2d_backward(G, IDX, (1, -1, 4, 4)), ValueError, r"negative"),
    ("input_shape empty plane", lambda: cyconv.max_pool2d_backward(G, IDX, (1, 1, 0, 4)), ValueError,
     r"out of range for input planes of 0x4 = 0 cells"),
    # avg_pool2d_backward
    ("avg grad shape", lambda: cyconv.avg_pool2d_backward(np.zeros((1, 1, 3, 3)), X.shape, 2), ValueError,
     r"grad_output has shape \(1, 1, 3, 3\), expected the forward output shape \(1, 1, 2, 2\)"),
    ("avg grad leading", lambda: cyconv.avg_pool2d_backward(np.zeros((2, 2)), X.shape, 2), ValueError,
     r"grad_output has shape \(2, 2\), expected the forward output shape \(1, 1, 2, 2\)"),
    ("avg grad object", lambda: cyconv.avg_pool2d_backward(G.astype(object), X.shape, 2), TypeError, r"real numeric"),
    ("avg backward kernel", lambda: cyconv.avg_pool2d_backward(G, X.shape, 0), ValueError, r"kernel_size must be >= 1"),
    ("avg backward too big", lambda: cyconv.avg_pool2d_backward(G, X.shape, 5), ValueError, r"output height = "),
    ("avg backward divisor", lambda: cyconv.avg_pool2d_backward(G, X.shape, 2, divisor_override=0), ValueError,
     r"divisor_override"),
]


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_table(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_errors_leave_out_untouched():
    out = np.full((1, 1, 2, 2), 7.0)
    with pytest.raises(ValueError):
        cyconv.max_pool2d(X, 2, padding=2, out=out)
    assert np.all(out == 7.0)


def test_bad_index_in_a_later_plane_is_found():
    x = np.arange(2 * 3 * 16.0).reshape(2, 3, 4, 4)
    _, i = cyconv.max_pool2d(x, 2, return_indices=True)
    i[1, 2, 1, 0] = 99
    with pytest.raises(ValueError, match=r"indices\[1, 2, 1, 0\] = 99"):
        cyconv.max_pool2d_backward(np.ones(i.shape), i, x.shape)


def test_large_results_refused_up_front():
    big = np.broadcast_to(np.zeros(1), (2**20, 2**20, 2**10, 1))  # 2**53 bytes, never materialised
    with pytest.raises(MemoryError, match="would need"):
        cyconv.max_pool2d(big, 1)
    with pytest.raises(MemoryError, match="would need"):
        cyconv.avg_pool2d(big, 1)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("pos", [0, 1, 2, 3, 4, 5])  # every slot of a group of four, and the tail
@pytest.mark.parametrize("bad", [-1, 25, 2**62])
def test_bad_index_found_inside_the_scatter(threads, pos, bad):
    # The kernel checks while it scatters: any slot, any thread, must be caught and not
    # written; planes of 6 indices (one group of four and a tail of two), enough of them
    # to use the thread pool.
    g = np.ones((2, 4000, 2, 3))
    i = np.zeros(g.shape, np.int64)
    i.reshape(-1, 6)[-1, pos] = bad
    before = cyconv.get_num_threads()
    cyconv.set_num_threads(threads)
    try:
        with pytest.raises(ValueError, match=rf"indices\[1, 3999, {pos // 3}, {pos % 3}\] = {bad} is out of range "
                                             r"for input planes of 5x5 = 25 cells"):
            cyconv.max_pool2d_backward(g, i, (2, 4000, 5, 5))
    finally:
        cyconv.set_num_threads(before)
