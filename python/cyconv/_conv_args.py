"""Normalisation of convolution arguments, shared by the forward and backward passes.

``conv_setup`` turns what the user passed into a :class:`ConvSetup`: canonical
(C-contiguous, native, compute-dtype) 4-D arrays, normalised geometry, and the
output shape. Padding modes other than zeros are applied here with ``np.pad``, so
the kernels only ever see zero padding.
"""

from typing import NamedTuple

import numpy as np

from ._arrays import as_array, canonical, check_size, compute_dtypes
from ._fastpath import fast_geometry  # noqa: F401  (the common call's check, in C)
from ._shapes import _check_conv_shapes, _conv_out_hw, _int, _padding, _pair

PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_NO_PADS = ((0, 0), (0, 0))


class ConvSetup(NamedTuple):
    x: np.ndarray  # (N, C_in, H', W'): canonical, already padded unless mode is 'zeros'
    weight: np.ndarray  # (C_out, C_in/groups, kh, kw), canonical
    bias: object  # (C_out,) canonical, or None
    stride: tuple
    padding: tuple  # ((top, bottom), (left, right)) still to apply as zeros
    dilation: tuple
    groups: int
    padding_mode: str
    mode_padding: tuple  # ((t, b), (l, r)) applied by np.pad for a non-zero mode
    out_shape: tuple  # (N, C_out, Ho, Wo)
    batched: bool  # False: the user passed (C, H, W) and gets (C_out, Ho, Wo)
    input_shape: tuple  # the user's (N, C_in, H, W), before any mode padding
    compute_dtype: np.dtype
    result_dtype: np.dtype
    layout: str = "NCHW"  # 'NHWC': x (N, H', W', C_in), out_shape (N, Ho, Wo, C_out)


def padding_mode_of(padding_mode):
    if not isinstance(padding_mode, str):
        raise TypeError(f"padding_mode must be a string, got {padding_mode!r} of type {type(padding_mode).__name__}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"padding_mode must be one of {', '.join(repr(m) for m in PADDING_MODES)}; got {padding_mode!r}"
        )
    return padding_mode


def _check_mode_padding(mode, pads, hw):
    """PyTorch's limits: reflect needs pad < size, circular pad <= size."""
    for (before, after), n, axis in zip(pads, hw, ("height", "width")):
        limit = n - 1 if mode == "reflect" else n
        if mode in ("reflect", "circular") and max(before, after) > limit:
            raise ValueError(
                f"padding_mode={mode!r} needs padding {'<' if mode == 'reflect' else '<='} the input "
                f"{axis} ({n}) on each side, got {axis} padding {(before, after)}"
            )


LAYOUTS = ("NCHW", "NHWC")


def layout_of(layout):
    """The validated ``layout`` argument: 'NCHW' or 'NHWC' (exact, upper-case)."""
    if type(layout) is str and (layout == "NCHW" or layout == "NHWC"):
        return layout
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a string, 'NCHW' or 'NHWC', got {layout!r} of type {type(layout).__name__}")
    hint = f" (did you mean {layout.upper()!r}?)" if layout.upper() in LAYOUTS else ""
    raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}{hint}")


def conv_setup(x, weight, bias, *, stride, padding, dilation, groups, padding_mode,
               extra_arrays=(), layout="NCHW"):
    """Validate and normalise conv2d arguments (see :func:`cyconv.conv2d`).

    ``extra_arrays`` take part in dtype promotion only (e.g. a backward's grad_output).
    With ``layout='NHWC'``, x is (N, H, W, C_in) or (H, W, C_in) and out_shape is
    (N, Ho, Wo, C_out).
    """
    layout = layout_of(layout)
    nhwc = layout == "NHWC"
    x = as_array(x, "input")
    weight = as_array(weight, "weight")
    if bias is not None:
        bias = as_array(bias, "bias")
    stride = _pair(stride, "stride")
    dilation = _pair(dilation, "dilation")
    groups = _int(groups, "groups")
    zeros = type(padding_mode) is str and padding_mode == "zeros"
    mode = padding_mode if zeros else padding_mode_of(padding_mode)

    batched = x.ndim == 4
    if nhwc:
        if x.ndim not in (3, 4):
            raise ValueError(
                f"input must have shape (N, H, W, C_in) or (H, W, C_in) with layout='NHWC', got "
                f"{x.ndim} dimensions: {x.shape}"
            )
        # the shape checks in NCHW order; their messages name channels and sizes only
        nchw_shape = x.shape[:-3] + (x.shape[-1],) + x.shape[-3:-1]
    else:
        nchw_shape = x.shape
    lead, hw = _check_conv_shapes(nchw_shape, weight.shape, groups, "input", "weight", layout)
    c_out = weight.shape[0]
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) (one per output channel), got {bias.shape}")
    kernel = weight.shape[2:]
    pads = _padding(padding, kernel, dilation)
    out_hw = _conv_out_hw(hw, kernel, stride, pads, dilation)

    if bias is None:
        compute_dtype, result_dtype = compute_dtypes(x, weight, *extra_arrays)
    else:
        compute_dtype, result_dtype = compute_dtypes(x, weight, bias, *extra_arrays)
    # Refuse an impossible result before copying any input.
    check_size(lead + (c_out,) + out_hw, compute_dtype.itemsize, "the result")
    x4 = x if batched else x[np.newaxis]
    input_shape = x4.shape
    x4 = canonical(x4, compute_dtype)
    mode_pads = _NO_PADS
    if mode != "zeros" and (pads[0] != (0, 0) or pads[1] != (0, 0)):
        _check_mode_padding(mode, pads, hw)
        widths = ((0, 0), (0, 0)) + pads if not nhwc else ((0, 0),) + pads + ((0, 0),)
        x4 = np.pad(x4, widths, mode=PADDING_MODES[mode])
        mode_pads, pads = pads, _NO_PADS
    # (positional: a NamedTuple built from keywords costs twice as much)
    return ConvSetup(
        x4, canonical(weight, compute_dtype),
        None if bias is None else canonical(bias, compute_dtype),
        stride, pads, dilation, groups, mode, mode_pads,
        (input_shape[0],) + out_hw + (c_out,) if nhwc else (input_shape[0], c_out) + out_hw,
        batched, input_shape, compute_dtype, result_dtype, layout,
    )

