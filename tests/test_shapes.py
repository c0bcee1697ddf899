"""Shape arithmetic: the output-size formula, argument forms and their error messages."""

import math
import re

import pytest

import cyconv
from cyconv import conv2d_output_shape, output_size, pool2d_output_shape


def brute_force_size(n, k, s, before, after, d):
    """Count the window starts that fit inside the padded input."""
    k_eff = d * (k - 1) + 1
    return len(range(-before, n + after - k_eff + 1, s))


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("pad", [(0, 0), (1, 1), (2, 0), (0, 3)])
def test_output_size_counts_the_windows(n, k, s, d, pad):
    expected = brute_force_size(n, k, s, pad[0], pad[1], d)
    if expected < 1:
        with pytest.raises(ValueError, match="< 1"):
            output_size(n, k, stride=s, padding=pad, dilation=d)
    else:
        assert output_size(n, k, stride=s, padding=pad, dilation=d) == expected


@pytest.mark.parametrize("n", [1, 4, 5, 7, 8])
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("p", [0, 1])
def test_ceil_mode_follows_pytorch_rule(n, k, s, p):
    if 2 * p > k:
        return
    floor_size = (n + 2 * p - k) // s + 1
    if floor_size < 1:
        return
    expected = math.ceil((n + 2 * p - k) / s) + 1
    if (expected - 1) * s >= n + p:
        expected -= 1
    assert output_size(n, k, stride=s, padding=p, ceil_mode=True) == expected
    assert output_size(n, k, stride=s, padding=p) == floor_size


def test_ceil_mode_drops_window_starting_in_right_padding():
    # n=4, k=2, s=3, p=1: ceil((4+2-2)/3)+1 = 3, but the 3rd window starts at 5 >= 4+1.
    assert output_size(4, 2, stride=3, padding=1, ceil_mode=True) == 2
    assert output_size(5, 2, stride=2, ceil_mode=True) == 3


def test_notes_shape_examples():
    # Notes 6.3: 8x8 input.
    assert conv2d_output_shape((1, 1, 8, 8), (1, 1, 3, 3), padding=1) == (1, 1, 8, 8)
    assert conv2d_output_shape((1, 1, 8, 8), (1, 1, 5, 3), padding=(2, 1)) == (1, 1, 8, 8)
    assert conv2d_output_shape((1, 1, 8, 8), (1, 1, 3, 3), padding=1, stride=2) == (1, 1, 4, 4)
    assert conv2d_output_shape((1, 1, 8, 8), (1, 1, 3, 5), padding=(0, 1), stride=(3, 4)) == (1, 1, 2, 2)
    # Notes 6.2.1: (n - k + 1), for an unbatched (C, H, W) input.
    assert conv2d_output_shape((1, 3, 3), (1, 1, 2, 2)) == (1, 2, 2)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("n", [5, 8, 9])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_same_padding_gives_ceil_n_over_s(k, d, n, s):
    for mode in ("same", "same_lower", "same_upper"):
        shape = conv2d_output_shape((1, 1, n, n), (1, 1, k, k), padding=mode, dilation=d, stride=s)
        assert shape[2:] == (-(-n // s),) * 2


def test_padding_forms_agree():
    x, w = (2, 3, 9, 7), (4, 3, 3, 2)
    a = conv2d_output_shape(x, w, padding=1)
    assert a == conv2d_output_shape(x, w, padding=(1, 1)) == conv2d_output_shape(x, w, padding=((1, 1), (1, 1)))
    assert conv2d_output_shape(x, w, padding="valid") == conv2d_output_shape(x, w, padding=0)
    # 'full' pads d*(k-1) on every side: n + k - 1.
    assert conv2d_output_shape(x, w, padding="full") == (2, 4, 11, 8)
    # Asymmetric explicit padding.
    assert conv2d_output_shape(x, w, padding=((2, 0), (0, 1))) == (2, 4, 9, 7)


def test_same_lower_puts_the_extra_row_first():
    from cyconv._shapes import _padding

    # kernel 4, dilation 1: total 3 -> lower: (2, 1), upper: (1, 2).
    assert _padding("same", (4, 4), (1, 1)) == ((2, 1), (2, 1))
    assert _padding("same_lower", (4, 2), (1, 1)) == ((2, 1), (1, 0))
    assert _padding("same_upper", (4, 2), (1, 1)) == ((1, 2), (0, 1))
    assert _padding("full", (3, 2), (2, 1)) == ((4, 4), (1, 1))


def test_pool_output_shape_keeps_leading_axes():
    assert pool2d_output_shape((1, 1, 4, 4), 3) == (1, 1, 1, 1)
    assert pool2d_output_shape((1, 1, 4, 4), 3, padding=1, stride=2) == (1, 1, 2, 2)
    assert pool2d_output_shape((1, 1, 4, 4), (2, 3), stride=(2, 3), padding=(0, 1)) == (1, 1, 2, 2)
    assert pool2d_output_shape((5, 2, 3, 6, 6), 2) == (5, 2, 3, 3, 3)
    assert pool2d_output_shape((6, 6), 2, ceil_mode=True, stride=4) == (2, 2)


ERRORS = [
    # (callable, exception, message regex)
    (lambda: output_size(4, 7), ValueError,
     re.escape("output size = floor((4 - 7 + 0 + 1)/1) = -2 < 1")),
    (lambda: conv2d_output_shape((1, 1, 4, 4), (1, 1, 7, 7)), ValueError,
     re.escape("output height = floor((4 - 7 + 0 + 1)/1) = -2 < 1: the 7-row kernel is taller than the 4-row padded input")),
    (lambda: conv2d_output_shape((1, 1, 8, 4), (1, 1, 3, 3), dilation=(1, 3)), ValueError,
     r"output width = .* the 7-column \(dilated: 3\*\(3-1\)\+1\) kernel is wider than the 4-column padded input"),
    (lambda: output_size(5, 0), ValueError, "kernel_size must be >= 1, got 0"),
    (lambda: output_size(5, 2, stride=-1), ValueError, "stride must be >= 1"),
    (lambda: output_size(5, 2, dilation=0), ValueError, "dilation must be >= 1"),
    (lambda: output_size(5, 2, padding=-1), ValueError, "padding must be >= 0"),
    (lambda: output_size(-1, 1), ValueError, "n must be >= 0"),
    (lambda: output_size(0, 1), ValueError, r"output size = floor\(\(0 - 1 \+ 0 \+ 1\)/1\) = 0 < 1"),
    (lambda: output_size(5, 2.0), TypeError, "kernel_size must be an integer, got 2.0"),
    (lambda: output_size(5, True), TypeError, "kernel_size must be an integer, got the bool True"),
    (lambda: output_size(5, 2, stride=1.5), TypeError, "stride must be an integer"),
    (lambda: output_size(5, (2, 2)), TypeError, "kernel_size must be an integer"),
    (lambda: conv2d_output_shape((1, 1, 5, 5), (1, 1, 2, 2), stride=(1, 2, 3)), ValueError,
     "stride must be an int or a pair .* length 3"),
    (lambda: conv2d_output_shape((1, 1, 5, 5), (1, 1, 2, 2), padding="half"), ValueError,
     "padding must be .* got 'half'"),
    (lambda: conv2d_output_shape((1, 1, 5, 5), (1, 1, 2, 2), padding=(1, 2, 3)), ValueError,
     "padding must be .* length 3"),
    (lambda: conv2d_output_shape((1, 1, 5, 5), (1, 1, 2, 2), padding=((1, 2, 3), 0)), ValueError,
     r"padding \(height\) must be an int or a \(before, after\) pair"),
    (lambda: conv2d_output_shape((1, 1, 5, 5), (1, 1, 2, 2), padding=((1, -1), 0)), ValueError,
     r"padding \(height\) must be >= 0"),
    (lambda: conv2d_output_shape((1, 1, 5, 5), (1, 1, 2, 2), padding=1.0), TypeError, "padding must be an integer"),
    (lambda: conv2d_output_shape((1, 5, 5), (1, 5, 5)), ValueError, r"weight must have shape \(C_out, C_in/groups, kh, kw\)"),
    (lambda: conv2d_output_shape((5, 5), (1, 1, 2, 2)), ValueError, r"input must have shape \(N, C_in, H, W\) or \(C_in, H, W\)"),
    (lambda: conv2d_output_shape((1, 3, 5, 5), (2, 2, 2, 2)), ValueError,
     r"input has 3 channels but weight expects C_in/groups \* groups = 2 \* 1 = 2"),
    (lambda: conv2d_output_shape((1, 4, 5, 5), (3, 2, 2, 2), groups=2), ValueError,
     "groups=2 must divide the 3 output channels"),
    (lambda: conv2d_output_shape((1, 3, 5, 5), (3, 1, 2, 2), groups=2), ValueError,
     "groups=2 must divide the 3 input channels"),
    (lambda: conv2d_output_shape((1, 3, 5, 5), (3, 1, 2, 2), groups=0), ValueError, "groups must be >= 1"),
    (lambda: conv2d_output_shape((1, 1, 5, 5), (1, 1, 0, 2)), ValueError, "weight has an empty axis"),
    (lambda: conv2d_output_shape((1, 1, 0, 5), (1, 1, 1, 1)), ValueError, "output height = .* = 0 < 1"),
    (lambda: conv2d_output_shape((1, 1, 5, 5), (1, 1, 2, 2), groups=1.0), TypeError, "groups must be an integer"),
    (lambda: conv2d_output_shape((1, 1, 5.0, 5), (1, 1, 2, 2)), TypeError, "input_shape must be a tuple of integers"),
    (lambda: pool2d_output_shape((4, 4), 2, padding=2), ValueError,
     r"pooling padding must be at most half the effective kernel .* height padding \(2, 2\) > 1"),
    (lambda: pool2d_output_shape((4,), 2), ValueError, r"input must have at least 2 dimensions"),
]


@pytest.mark.parametrize("call, exc, pattern", ERRORS)
def test_error_table(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_public_names_exist():
    for name in cyconv.__all__:
        assert callable(getattr(cyconv, name)), name
