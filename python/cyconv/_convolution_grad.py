"""Gradients of conv2d (``conv2d_backward``) and its adjoint, ``conv_transpose2d``.

Both are the engine's (``cyconv._engine``, src/engine/conv_backward.h), one kernel call
for every requested gradient, NCHW or NHWC natively:

* the input gradient: ``weight^T x grad_output`` through the engine's packed GEMM, the
  products scatter-added onto the input cells they came from (col2im) as each block is
  finished; tiles of (image, group, input channels) own their part of the result;
* the weight gradient: ``grad_output x patches^T`` summed over images and positions,
  the patches gathered while packing (implicit im2col, padding as stored zeros); the sum
  runs in chunks fixed by the problem alone, added in order, so that the result is the
  same bits for every thread count;
* the bias gradient: a float64 sum per channel, in a fixed order;
* one input channel per group with few output channels (depthwise, single-channel
  images): direct loops, same rules.

A transposed convolution is exactly the input gradient of the convolution with the
same stride, padding, dilation and groups (its bias the initial value), so it is the
same kernel call. Non-zero padding modes run on the padded input (``conv_setup`` pads
it); the gradient of the padded input is then folded back onto the cells each padded
cell copies (the adjoint of ``np.pad``). The common call (ndarrays of one float dtype,
int options; ``cyconv._fastpath.fast_geometry``) skips ``conv_setup`` altogether.
"""

from typing import NamedTuple

import numpy as np

from . import _engine
from ._arrays import as_array, canonical, check_size, compute_dtypes
from ._conv_args import conv_setup, fast_geometry
from ._shapes import _AXES, _int, _padding, _pair, _spatial

__all__ = ["Conv2dGradients", "conv2d_backward", "conv_transpose2d"]

_COMPUTE_NAMES = ("input", "weight", "bias")
_ALL = frozenset(_COMPUTE_NAMES)
_LAYOUTS = ("NCHW", "NHWC")


class Conv2dGradients(NamedTuple):
    """The gradients of :func:`cyconv.conv2d` (``None`` for those not computed)."""

    input: object
    weight: object
    bias: object


def _compute_set(compute):
    if compute is _COMPUTE_NAMES:
        return _ALL
    if isinstance(compute, str):
        compute = (compute,)
    try:
        names = list(compute)
    except TypeError:
        raise TypeError(
            f"compute must be an iterable of names from {_COMPUTE_NAMES}, "
            f"got {type(compute).__name__} {compute!r}"
        ) from None
    bad = [n for n in names if not isinstance(n, str) or n not in _COMPUTE_NAMES]
    if bad:
        raise ValueError(
            f"compute may only name {', '.join(map(repr, _COMPUTE_NAMES))}; got {bad[0]!r} in {compute!r}"
        )
    return frozenset(names)


def _nhwc_of(layout):
    """True for 'NHWC', False for 'NCHW'; anything else is an error."""
    if layout == "NCHW" and type(layout) is str:
        return False
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a string, 'NCHW' or 'NHWC', got {layout!r} of type {type(layout).__name__}")
    if layout == "NHWC":
        return True
    raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")


def _to_nchw_shape(shape):
    """The (N, C, H, W) / (C, H, W) reading of an NHWC / HWC shape (for the checks)."""
    if len(shape) == 4:
        return (shape[0], shape[3], shape[1], shape[2])
    if len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    return tuple(shape)


def _to_nhwc_shape(shape):
    if len(shape) == 4:
        return (shape[0], shape[2], shape[3], shape[1])
    return (shape[1], shape[2], shape[0])


def _gradients(gy, x, weight, groups, geom, want, nhwc=False):
    """(dx, dweight, dbias) on canonical 4-D arrays in one engine call; dx has x's shape.

    ``x`` is already padded for non-zero padding modes; geom = (kh, kw, sh, sw, dh, dw,
    pad_top, pad_left, ho, wo).
    """
    dtype = gy.dtype
    dx = np.empty(x.shape, dtype) if "input" in want else None
    dweight = np.empty(weight.shape, dtype) if "weight" in want else None
    dbias = np.empty(weight.shape[0], dtype) if "bias" in want else None
    if dx is not None or dweight is not None or dbias is not None:
        _engine.conv2d_backward(gy, x, weight, dx, dweight, dbias, geom, groups, nhwc)
    return dx, dweight, dbias


def _fold_mode_padding(dxp, mode, pads, hw, axes=(2, 3)):
    """The adjoint of padding ``x`` by ``pads`` in ``mode`` on its spatial ``axes``.

    Every padded cell is a copy of some input cell; its gradient is added back there
    (:func:`cyconv._padding_modes.pad_adjoint`; for 'zeros' the padding is dropped).
    """
    from ._padding_modes import pad_adjoint
    return pad_adjoint(dxp, pads, mode, hw, axes=axes)


def conv2d_backward(grad_output, x, weight, /, *, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", compute=_COMPUTE_NAMES, layout="NCHW"):
    """Gradients of :func:`cyconv.conv2d` with respect to its input, weight and bias.

    Given ``grad_output`` = dL/dy for ``y = conv2d(x, weight, bias, ...)``, returns
    dL/dx, dL/dweight and dL/dbias. Only the members named in ``compute`` are
    computed (the others are ``None``): a network's first layer needs no input
    gradient, a layer without bias no bias gradient.

    Parameters
    ----------
    grad_output : array_like
        ``(N, C_out, Ho, Wo)``, or ``(C_out, Ho, Wo)`` for an unbatched ``x``: exactly
        the shape of the forward output.
    x : array_like
        The forward input, ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
    weight : array_like
        ``(C_out, C_in/groups, kh, kw)``.
    stride, padding, dilation, groups, padding_mode
        As for :func:`cyconv.conv2d`. For ``'reflect'``, ``'replicate'`` and
        ``'circular'`` padding the gradient that reaches a padded cell is added to the
        input cell it was copied from.
    compute : iterable of str, optional
        Which of ``'input'``, ``'weight'``, ``'bias'`` to compute (a single name may be
        passed as a string). Default: all three.
    layout : {'NCHW', 'NHWC'}, optional
        The layout of ``grad_output``, ``x`` and the input gradient: ``'NHWC'`` means
        ``(N, H, W, C)`` (or ``(H, W, C)``), computed natively. The weight and its
        gradient keep ``(C_out, C_in/groups, kh, kw)``.

    Returns
    -------
    Conv2dGradients
        Named tuple ``(input, weight, bias)``: shapes of ``x``, ``weight`` and
        ``(C_out,)``, in the result dtype of the forward pass (float16 inputs give
        float16, computed in float32; integers give float64).

    Raises
    ------
    TypeError
        For non-numeric arrays, non-integer options or a non-iterable ``compute``.
    ValueError
        For a ``grad_output`` whose shape is not the forward output shape, unknown
        names in ``compute``, and every invalid forward argument.

    See Also
    --------
    conv2d : The forward pass.
    conv_transpose2d : The input gradient alone, as a layer of its own.
    Conv2dGradients : The named tuple returned.
    conv2d_output_shape : The shape grad_output must have.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import conv2d_backward
    >>> x = np.arange(12.0).reshape(1, 1, 3, 4)
    >>> w = np.array([[[[1.0, -1.0]]]])
    >>> g = conv2d_backward(np.ones((1, 1, 3, 3)), x, w)
    >>> g.input[0, 0]
    array([[ 1.,  0.,  0., -1.],
           [ 1.,  0.,  0., -1.],
           [ 1.,  0.,  0., -1.]])
    >>> g.weight.ravel(), g.bias
    (array([45., 54.]), array([9.]))
    >>> conv2d_backward(np.ones((1, 1, 3, 3)), x, w, compute=("weight",)).input is None
    True
    """
    want = _compute_set(compute)
    if (type(grad_output) is np.ndarray and type(x) is np.ndarray and type(padding_mode) is str
            and padding_mode == "zeros" and layout == "NCHW" and type(layout) is str):
        # The common call needs no normalisation (see fast_geometry): straight to the kernels.
        one = x.ndim == 3  # one (C, H, W) image: a batch of one
        x4 = x[np.newaxis] if one else x
        gy4 = grad_output[np.newaxis] if one else grad_output
        geom = fast_geometry(x4, weight, stride, padding, dilation, groups)
        if (
            geom is not None
            and gy4.dtype is x.dtype
            and gy4.shape == (x4.shape[0], weight.shape[0], geom[8], geom[9])
            and gy4.flags.c_contiguous
            and gy4.flags.aligned
        ):
            dx, dweight, dbias = _gradients(gy4, x4, weight, groups, geom, want)
            return Conv2dGradients(dx[0] if one and dx is not None else dx, dweight, dbias)
    nhwc = _nhwc_of(layout)
    gy = as_array(grad_output, "grad_output")
    s = conv_setup(x, weight, None, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, padding_mode=padding_mode, extra_arrays=(gy,),
                   layout="NHWC" if nhwc else "NCHW")
    expected = s.out_shape if s.batched else s.out_shape[1:]
    if gy.shape != expected:
        raise ValueError(
            f"grad_output must have the forward output shape {expected}, got shape {gy.shape}"
        )
    gy4 = canonical(gy if s.batched else gy[np.newaxis], s.compute_dtype)
    (pt, _), (pl, _) = s.padding
    kh, kw = s.weight.shape[2:]
    geom = (kh, kw) + s.stride + s.dilation + (pt, pl) + (gy4.shape[1:3] if nhwc else gy4.shape[2:])
    dx, dweight, dbias = _gradients(gy4, s.x, s.weight, s.groups, geom, want, nhwc)
    if dx is not None:
        if s.mode_padding != ((0, 0), (0, 0)):
            hw = s.input_shape[1:3] if nhwc else s.input_shape[2:]
            with np.errstate(all="ignore"):  # the folded sums may meet inf + -inf
                dx = _fold_mode_padding(dx, s.padding_mode, s.mode_padding, hw,
                                        (1, 2) if nhwc else (2, 3))
        if not s.batched:
            dx = dx[0]
    rt = s.result_dtype
    if rt != s.compute_dtype:
        dx, dweight, dbias = (None if a is None else a.astype(rt) for a in (dx, dweight, dbias))
    return Conv2dGradients(dx, dweight, dbias)


def _transpose_axis(n, k, s, pad, d, op, axis):
    before, after = pad
    out = (n - 1) * s - before - after + d * (k - 1) + op + 1
    if out < 1:
        raise ValueError(
            f"output {axis} = ({n} - 1)*{s} - {before + after} + {d}*({k} - 1) + {op} + 1 = {out} < 1: "
            f"the padding removes more than the transposed convolution produces"
        )
    return out


def conv_transpose2d(x, weight, /, bias=None, *, stride=1, padding=0, output_padding=0,
                     dilation=1, groups=1, layout="NCHW"):
    """Transposed convolution: the adjoint of :func:`cyconv.conv2d` w.r.t. its input.

    PyTorch's semantics: every input value, times the kernel, is added onto a
    stride-spaced window of the output, and ``padding`` is then cropped from the
    borders. It equals ``conv2d_backward(x, y, weight, ...).input`` for an input
    ``y`` of the output's shape, and upsamples by ``stride``. Per axis the output is

        ``(n - 1)*stride - pad_total + dilation*(k - 1) + output_padding + 1``.

    Parameters
    ----------
    x : array_like
        ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
    weight : array_like
        ``(C_in, C_out/groups, kh, kw)`` (PyTorch's layout for transposed convolution:
        the same array as the weight of the convolution it is the adjoint of).
    bias : array_like, optional
        ``(C_out,)``, added to every output position (may be passed by keyword).
    stride, dilation : int or (int, int)
        As for conv2d.
    padding : int, (int, int), ((int, int), (int, int)) or str
        The padding of the convolution this is the adjoint of, normalised exactly as
        for conv2d: cropped from the output, ``(top, bottom), (left, right)`` may be
        asymmetric. The strings mean the same padding as in conv2d (``'valid'``: none,
        the full transposed output; ``'full'``: ``dilation*(k-1)`` cropped from every
        side; ``'same'``/``'same_upper'``: ``dilation*(k-1)`` in total, so that with
        stride 1 the output has the input's size).
    output_padding : int or (int, int)
        Extra rows/columns at the bottom/right, ``0 <= output_padding < max(stride,
        dilation)`` per axis (picks one of the input sizes a strided conv2d maps onto
        the same output size).
    groups : int
        ``C_in`` and ``C_out`` are split into ``groups`` independent groups.
    layout : {'NCHW', 'NHWC'}, optional
        The layout of ``x`` and the result (``'NHWC'``: ``(N, H, W, C)``, computed
        natively); the weight keeps ``(C_in, C_out/groups, kh, kw)``.

    Returns
    -------
    ndarray
        ``(N, C_out, Ho, Wo)`` (or ``(C_out, Ho, Wo)``; NHWC: ``(N, Ho, Wo, C_out)``),
        dtype as for conv2d.

    Raises
    ------
    TypeError
        For non-numeric arrays and non-integer options.
    ValueError
        For inconsistent shapes (``weight.shape[0]`` must equal ``C_in``), a too large
        ``output_padding``, or an output size < 1.

    See Also
    --------
    conv2d : The convolution it is the adjoint of.
    conv2d_backward : The same input gradient, with the weight and bias gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import conv_transpose2d
    >>> x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> k = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> conv_transpose2d(x, k)[0, 0]
    array([[ 0.,  0.,  1.],
           [ 0.,  4.,  6.],
           [ 4., 12.,  9.]])
    >>> conv_transpose2d(x, k, stride=2, output_padding=1).shape
    (1, 1, 5, 5)
    """
    nhwc = _nhwc_of(layout)
    x = as_array(x, "input")
    weight = as_array(weight, "weight")
    arrays = [x, weight]
    if bias is not None:
        bias = as_array(bias, "bias")
        arrays.append(bias)
    stride = _pair(stride, "stride")
    dilation = _pair(dilation, "dilation")
    output_padding = _pair(output_padding, "output_padding", minimum=0)
    groups = _int(groups, "groups")
    if x.ndim not in (3, 4):
        raise ValueError(
            f"input must have shape (N, C_in, H, W) or (C_in, H, W), got {x.ndim} dimensions: {x.shape}"
        )
    if weight.ndim != 4:
        raise ValueError(
            f"weight must have shape (C_in, C_out/groups, kh, kw), got {weight.ndim} dimensions: {weight.shape}"
        )
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if min(weight.shape) < 1:
        raise ValueError(f"weight has an empty axis: shape {weight.shape}")
    xshape = _to_nchw_shape(x.shape) if nhwc else x.shape
    c_in = xshape[-3]
    if weight.shape[0] != c_in:
        raise ValueError(
            f"input has {c_in} channels but weight (C_in, C_out/groups, kh, kw) has shape "
            f"{weight.shape}: expected weight.shape[0] == {c_in}"
        )
    if c_in % groups:
        raise ValueError(f"groups={groups} must divide the {c_in} input channels")
    c_out = weight.shape[1] * groups
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) (one per output channel), got {bias.shape}")
    hw = _spatial(xshape, "input")
    kernel = weight.shape[2:]
    pads = _padding(padding, kernel, dilation)
    for op, s, d, axis in zip(output_padding, stride, dilation, _AXES):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than stride or dilation: {axis} output_padding "
                f"{op} >= max(stride={s}, dilation={d})"
            )
    out_hw = tuple(_transpose_axis(n, k, s, p, d, op, axis) for n, k, s, p, d, op, axis in
                   zip(hw, kernel, stride, pads, dilation, output_padding, _AXES))

    compute_dtype, result_dtype = compute_dtypes(*arrays)
    batched = x.ndim == 4
    n_img = xshape[0] if batched else 1
    out_shape = (n_img,) + out_hw + (c_out,) if nhwc else (n_img, c_out) + out_hw
    check_size(out_shape, compute_dtype.itemsize, "the result")
    x4 = canonical(x if batched else x[np.newaxis], compute_dtype)
    w = canonical(weight, compute_dtype)
    b = None if bias is None else canonical(bias, compute_dtype)
    geom = tuple(kernel) + stride + dilation + (pads[0][0], pads[1][0]) + tuple(hw)
    # The transposed input plays the part of conv2d's grad_output, weight that of its
    # weight, the bias that of the input gradient's initial value.
    y = np.empty(out_shape, compute_dtype)
    _engine.conv2d_backward(x4, None, w, y, None, None, geom, groups, nhwc, b)
    if not batched:
        y = y[0]
    return y.astype(result_dtype, copy=False)
