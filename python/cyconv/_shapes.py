"""Shape arithmetic: argument normalisation and the output-size formula.

Everything here is pure Python on integers. Each public function validates its
arguments and explains a failure with the caller's own numbers.
"""

import operator
import sys

__all__ = [
    "output_size",
    "conv2d_output_shape",
    "pool2d_output_shape",
]

_AXES = ("height", "width")
_PADDING_STRINGS = ("valid", "same", "same_lower", "same_upper", "full")


_MAXSIZE = sys.maxsize


def _int(value, name):
    """An exact Python/NumPy integer (not bool, not float), as a Python int."""
    if type(value) is int and -_MAXSIZE <= value <= _MAXSIZE:  # the common case, cheaply
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, got {value!r} of type {type(value).__name__}"
        ) from None
    # The kernels do index arithmetic in Py_ssize_t: refuse what it cannot hold
    # (an OverflowError at the kernel call otherwise).
    if not -sys.maxsize <= v <= sys.maxsize:
        raise ValueError(f"{name} must fit in a C index (|value| <= {sys.maxsize}), got {v}")
    return v


def _positive(value, name):
    """One integer >= 1."""
    v = _int(value, name)
    if v < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return v


def _pair(value, name, *, minimum=1):
    """Normalise an int or an (h, w) pair to a tuple of two ints >= minimum."""
    if type(value) is int and minimum <= value <= _MAXSIZE:  # the common case, cheaply
        return (value, value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"{name} must be an int or a pair (h, w), got a sequence of length {len(value)}: {value!r}"
            )
        pair = (_int(value[0], name), _int(value[1], name))
    else:
        v = _int(value, name)
        pair = (v, v)
    if pair[0] < minimum or pair[1] < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def _side_pair(value, name):
    """One axis of explicit padding: int p -> (p, p), (before, after) -> as is."""
    if type(value) is int and 0 <= value <= _MAXSIZE:  # the common case, cheaply
        return (value, value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"{name} must be an int or a (before, after) pair, got a sequence of length {len(value)}: {value!r}"
            )
        pair = (_int(value[0], name), _int(value[1], name))
    else:
        v = _int(value, name)
        pair = (v, v)
    if pair[0] < 0 or pair[1] < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return pair


def _padding(padding, kernel_size, dilation):
    """Normalise every padding form to ((top, bottom), (left, right)).

    ``kernel_size`` and ``dilation`` are normalised pairs; they fix the string forms.
    """
    if type(padding) is int and 0 <= padding <= _MAXSIZE:  # the common case, cheaply
        return ((padding, padding), (padding, padding))
    if isinstance(padding, str):
        mode = padding
        if mode not in _PADDING_STRINGS:
            raise ValueError(_padding_string_error(padding))
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "full":
            return tuple((t, t) for t in totals)
        if mode == "same_upper":
            return tuple((t // 2, t - t // 2) for t in totals)
        # 'same' == 'same_lower': the notes' rule, the extra row/column at the top/left.
        return tuple((t - t // 2, t // 2) for t in totals)
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(
                "padding must be an int, a pair (ph, pw) or ((top, bottom), (left, right)); "
                f"got a sequence of length {len(padding)}: {padding!r}"
            )
        return (
            _side_pair(padding[0], "padding (height)"),
            _side_pair(padding[1], "padding (width)"),
        )
    p = _int(padding, "padding")
    if p < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return ((p, p), (p, p))


def _padding_string_error(padding):
    """The message for an unknown padding string; other libraries' spellings explained."""
    known = ", ".join(repr(s) for s in _PADDING_STRINGS)
    msg = (f"padding must be an int, a pair, ((top, bottom), (left, right)) or one of {known} "
           f"(exact, lower-case); got {padding!r}")
    low = padding.strip().lower()
    if low == "same":
        return (
            f"{msg}. cyconv's 'same' (= 'same_lower', ONNX's SAME_LOWER, the notes' rule) puts the "
            f"extra row/column of an even kernel at the top/left; TensorFlow's and JAX's 'SAME' "
            f"(and PyTorch's padding='same') put it at the bottom/right, which is cyconv's "
            f"'same_upper' at stride 1. With stride > 1 TensorFlow's total padding also depends "
            f"on the input size (cyconv's is d*(k-1) whatever the stride): pass the explicit "
            f"((top, bottom), (left, right)) TensorFlow uses to match it exactly"
        )
    if low == "valid":
        return f"{msg}. TensorFlow's 'VALID' (no padding) is cyconv's 'valid', or padding=0"
    if low in _PADDING_STRINGS:
        return f"{msg}. Did you mean {low!r}?"
    return msg


def _axis_size(n, k, s, pad, d, ceil_mode, axis):
    """Output size of one axis; a ValueError with the formula if it is < 1."""
    before, after = pad
    k_eff = d * (k - 1) + 1
    total = before + after
    if k_eff > _MAXSIZE or n + total > _MAXSIZE:
        # Past this the kernels' Py_ssize_t index arithmetic would wrap around.
        raise ValueError(
            f"{axis}: the {k_eff}-cell effective kernel (dilation {d}) or the {n + total}-cell "
            f"padded input exceeds the largest index {sys.maxsize}"
        )
    if ceil_mode:
        out = -((n - k_eff + total) // -s) + 1
        # PyTorch's rule: the last window must start inside the input or the left padding.
        if out >= 1 and (out - 1) * s >= n + before:
            out -= 1
    else:
        out = (n - k_eff + total + s) // s
    if out < 1:
        if ceil_mode:
            formula = f"ceil(({n} - {k_eff} + {total})/{s}) + 1"
        else:
            formula = f"floor(({n} - {k_eff} + {total} + {s})/{s})"
        rows = "row" if axis == "height" else "column"
        bigger = "taller" if axis == "height" else "wider"
        kernel = f"{k_eff}-{rows}"
        if d > 1:
            kernel += f" (dilated: {d}*({k}-1)+1)"
        raise ValueError(
            f"output {axis} = {formula} = {out} < 1: the {kernel} kernel is {bigger} than "
            f"the {n + total}-{rows} padded input"
        )
    return out


def output_size(n, kernel_size, *, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Output length of one axis of a convolution or pooling.

    ``floor((n - d*(k-1) - 1 + P) / s) + 1`` with ``P`` the total padding
    (``ceil`` instead of ``floor`` with ``ceil_mode``, dropping a last window
    that would start inside the right padding, as PyTorch does).

    Parameters
    ----------
    n : int
        Input length (>= 1).
    kernel_size, stride, dilation : int
        Each >= 1.
    padding : int or (int, int)
        Padding on each side, or a ``(before, after)`` pair.
    ceil_mode : bool
        Round up instead of down (pooling).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If the kernel does not fit into the padded input.

    See Also
    --------
    conv2d_output_shape : The whole result shape of conv2d.
    pool2d_output_shape : The whole result shape of the pools.

    Examples
    --------
    >>> output_size(8, 3, padding=1)
    8
    >>> output_size(8, 3, stride=3)
    2
    >>> output_size(5, 2, stride=2, ceil_mode=True)
    3
    """
    n = _int(n, "n")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k, s, d = (_positive(v, name) for v, name in
               ((kernel_size, "kernel_size"), (stride, "stride"), (dilation, "dilation")))
    pad = _side_pair(padding, "padding")
    return _axis_size(n, k, s, pad, d, bool(ceil_mode), "size")


def _spatial(shape, name):
    """(H, W) of a shape (..., H, W), each >= 1."""
    if len(shape) < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (..., H, W), got shape {tuple(shape)}")
    h, w = shape[-2], shape[-1]
    if h < 1 or w < 1:
        raise ValueError(f"{name} has an empty spatial axis: shape {tuple(shape)} (H and W must be >= 1)")
    return h, w


def _conv_out_hw(hw, kernel_size, stride, padding, dilation):
    """(Ho, Wo) for normalised arguments."""
    return (_axis_size(hw[0], kernel_size[0], stride[0], padding[0], dilation[0], False, "height"),
            _axis_size(hw[1], kernel_size[1], stride[1], padding[1], dilation[1], False, "width"))


def _pool_out_hw(hw, kernel_size, stride, padding, dilation, ceil_mode):
    for pad, k, d, axis in zip(padding, kernel_size, dilation, _AXES):
        half = (d * (k - 1) + 1) // 2
        if max(pad) > half:
            raise ValueError(
                f"pooling padding must be at most half the effective kernel on each side: "
                f"{axis} padding {pad} > {half} = ({d}*({k}-1)+1)//2"
            )
    return tuple(
        _axis_size(n, k, s, p, d, ceil_mode, axis)
        for n, k, s, p, d, axis in zip(hw, kernel_size, stride, padding, dilation, _AXES)
    )


def _shape_tuple(shape, name):
    try:
        return tuple(_int(v, name) for v in shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of integers, got {shape!r}") from None


def conv2d_output_shape(input_shape, weight_shape, *, stride=1, padding=0, dilation=1, groups=1):
    """Output shape of :func:`cyconv.conv2d` for the given input and weight shapes.

    Parameters
    ----------
    input_shape : tuple of int
        ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
    weight_shape : tuple of int
        ``(C_out, C_in/groups, kh, kw)``.
    stride, padding, dilation, groups
        As for :func:`cyconv.conv2d`.

    Returns
    -------
    tuple of int
        ``(N, C_out, Ho, Wo)`` (or ``(C_out, Ho, Wo)`` for an unbatched input).

    See Also
    --------
    conv2d : The convolution itself.
    output_size : One axis.
    pool2d_output_shape : The same for pooling.
    receptive_field : What each output element sees.

    Examples
    --------
    >>> conv2d_output_shape((1, 1, 8, 8), (1, 1, 3, 3), padding=1)
    (1, 1, 8, 8)
    >>> conv2d_output_shape((1, 1, 8, 8), (1, 1, 3, 5), padding=(0, 1), stride=(3, 4))
    (1, 1, 2, 2)
    """
    input_shape = _shape_tuple(input_shape, "input_shape")
    weight_shape = _shape_tuple(weight_shape, "weight_shape")
    stride = _pair(stride, "stride")
    dilation = _pair(dilation, "dilation")
    groups = _int(groups, "groups")
    lead, hw = _check_conv_shapes(input_shape, weight_shape, groups, "input", "weight")
    pads = _padding(padding, weight_shape[2:], dilation)
    return lead + (weight_shape[0],) + _conv_out_hw(hw, weight_shape[2:], stride, pads, dilation)


def _check_conv_shapes(input_shape, weight_shape, groups, xname, wname, layout="NCHW"):
    """Check conv2d shapes (``input_shape`` in NCHW order); return (batch prefix, (H, W)).

    ``layout`` is the caller's layout, for the hint of a channel mismatch only.
    """
    if len(input_shape) not in (3, 4):
        raise ValueError(
            f"{xname} must have shape (N, C_in, H, W) or (C_in, H, W), got {len(input_shape)} "
            f"dimensions: {input_shape}"
        )
    if len(weight_shape) != 4:
        raise ValueError(
            f"{wname} must have shape (C_out, C_in/groups, kh, kw), got {len(weight_shape)} "
            f"dimensions: {weight_shape}"
        )
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    c_out, c_per_group, kh, kw = weight_shape
    if min(weight_shape) < 1:
        raise ValueError(f"{wname} has an empty axis: shape {weight_shape}")
    c_in = input_shape[-3]
    if c_in % groups:
        raise ValueError(f"groups={groups} must divide the {c_in} input channels"
                         + _channel_hint(input_shape, weight_shape, groups, xname, layout))
    if c_out % groups:
        raise ValueError(f"groups={groups} must divide the {c_out} output channels ({wname} shape {weight_shape})")
    if c_per_group * groups != c_in:
        raise ValueError(
            f"{xname} has {c_in} channels but {wname} expects C_in/groups * groups = "
            f"{c_per_group} * {groups} = {c_per_group * groups} (shape {weight_shape})"
            + _channel_hint(input_shape, weight_shape, groups, xname, layout)
        )
    hw = _spatial(input_shape, xname)
    return input_shape[:-3], hw


def _channel_hint(input_shape, weight_shape, groups, xname, layout="NCHW"):
    """'' or a sentence on the likely cause of a channel mismatch: a channels-last input
    given as NCHW (or a channels-first one given as NHWC), or a weight in another library's
    layout. ``input_shape`` is in NCHW order, (N, C, H, W) or (C, H, W), as
    _check_conv_shapes sees it; ``layout`` is what the caller passed, and the axes named in
    the message are those of the caller's array."""
    c_out, c_per_group, kh, kw = weight_shape
    want = c_per_group * groups
    nd = len(input_shape)
    c_in = input_shape[nd - 3]
    if layout == "NCHW" and input_shape[nd - 1] == want and c_in != want:
        return (f": {xname} has {c_in} channels on axis {nd - 3} but {want} on axis {nd - 1}: "
                f"is it NHWC (channels last)? pass layout='NHWC'")
    if layout == "NHWC" and input_shape[nd - 2] == want and c_in != want:
        # the caller's (.., H, W, C) is (.., C, H, W) here: its axis nd-3 is our H axis
        return (f": {xname} has {c_in} channels on axis {nd - 1} (layout='NHWC') but {want} on "
                f"axis {nd - 3}: is it NCHW (channels first)? pass layout='NCHW'")
    if groups == 1 and c_out == c_in and c_per_group != c_in:
        return (f"; weight axis 0 has the input's {c_in} channels: cyconv's conv2d weight is "
                f"(C_out, C_in/groups, kh, kw), PyTorch's layout. Is it a (C_in, C_out, kh, kw) "
                f"conv_transpose2d weight? pass weight.transpose(1, 0, 2, 3)")
    if groups == 1 and kh == c_in:
        return (f"; weight axis 2 has the input's {c_in} channels: is it TensorFlow's "
                f"(kh, kw, C_in, C_out) layout? pass weight.transpose(3, 2, 0, 1)")
    return ""


def pool2d_output_shape(input_shape, kernel_size, *, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Output shape of :func:`cyconv.max_pool2d` / :func:`cyconv.avg_pool2d`.

    Pooling acts on the last two axes; the leading axes are kept. Each spatial axis is
    :func:`output_size` of the normalised options.

    Parameters
    ----------
    input_shape : tuple of int
        ``(..., H, W)``, H and W >= 1.
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int, (int, int), ((int, int), (int, int)) or str
        As for the pools: at most half the effective kernel per side.
    dilation : int or (int, int)
        Spacing of the window cells (max pooling).
    ceil_mode : bool
        Round the output size up, dropping a last window that would start inside the
        right padding (PyTorch's rule).

    Returns
    -------
    tuple of int
        ``input_shape[:-2] + (Ho, Wo)``.

    Raises
    ------
    TypeError
        Non-integer sizes.
    ValueError
        Too much padding, or a window larger than the padded input (the message shows
        the formula with these numbers).

    See Also
    --------
    max_pool2d, avg_pool2d : The pools themselves.
    output_size : One axis.
    conv2d_output_shape : The same for conv2d.

    Examples
    --------
    >>> pool2d_output_shape((1, 1, 4, 4), 3, padding=1, stride=2)
    (1, 1, 2, 2)
    >>> pool2d_output_shape((1, 1, 4, 4), (2, 3), stride=(2, 3), padding=(0, 1))
    (1, 1, 2, 2)
    """
    input_shape = _shape_tuple(input_shape, "input_shape")
    k, s, pads, d = _pool_args(kernel_size, stride, padding, dilation)
    hw = _spatial(input_shape, "input")
    return input_shape[:-2] + _pool_out_hw(hw, k, s, pads, d, bool(ceil_mode))


def _pool_args(kernel_size, stride, padding, dilation):
    """Normalise pooling arguments: stride defaults to the kernel size."""
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    d = _pair(dilation, "dilation")
    return k, s, _padding(padding, k, d), d
