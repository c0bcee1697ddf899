"""Forward convolutions: correlate2d, convolve2d and conv2d.

The Python layer normalises and validates (``_conv_args.conv_setup``; for the common
already-canonical call, a compiled check, ``_fastpath.fast_geometry``, that
correlate2d/convolve2d share), allocates the result, and makes ONE call into the
compiled engine, ``cyconv._engine.conv2d_forward`` (src/engine/, see engine.h): a
blocked, packed GEMM whose image-panel packing is the patch gather (implicit im2col:
stride, dilation, zero padding and groups handled while packing, no column matrix for a
whole image), in one OpenMP parallel region over tiles of the output, with its own
per-thread panels. NCHW and NHWC are both computed natively. There is no strategy to
pick here and no BLAS call: the engine's tiling, thread count and kernel set (chosen at
import from the CPU) are its own.

Zero padding behaves as stored zeros under IEEE arithmetic (an inf weight on a tap that
reads only padding gives NaN, as in PyTorch).
"""

import operator

import numpy as np

from . import _engine
from ._arrays import as_array, canonical, compute_dtypes, finish, result_buffer
from ._conv_args import PADDING_MODES, _check_mode_padding, conv_setup, fast_geometry, padding_mode_of
from ._padding_modes import pad as _pad_mode
from ._shapes import _conv_out_hw, _padding, _pair, _spatial
from ._workspace import get_workspace_limit

__all__ = ["conv2d", "convolve2d", "correlate2d"]

_conv2d_forward = _engine.conv2d_forward


def _forward(x, w, b, stride, pads, dilation, groups, buf, nhwc=False):
    """conv2d of canonical 4-D arrays into the canonical result buffer ``buf``: one engine call."""
    if nhwc:
        ho, wo = buf.shape[1], buf.shape[2]
    else:
        ho, wo = buf.shape[2], buf.shape[3]
    _conv2d_forward(x, w, b, buf, (w.shape[2], w.shape[3], stride[0], stride[1], dilation[0],
                                   dilation[1], pads[0][0], pads[1][0], ho, wo),
                    groups, nhwc, get_workspace_limit())


def _inputs(*arrays):
    return [a for a in arrays if isinstance(a, np.ndarray)]


def conv2d(x, weight, /, bias=None, *, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", layout="NCHW", out=None):
    """Multi-channel 2-D convolution (cross-correlation, as in deep learning).

    ``out[n, co] = bias[co] + sum_{ci in group(co)} corr(x[n, ci], weight[co, ci - first])``
    with PyTorch's layout and semantics (``torch.nn.functional.conv2d``).

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W) or (C_in, H, W)
        The input batch (or one image); with ``layout='NHWC'``, (N, H, W, C_in) or
        (H, W, C_in).
    weight : array_like, shape (C_out, C_in/groups, kh, kw)
        The kernels.
    bias : array_like, shape (C_out,), optional
        Added to every output channel (may be passed by keyword).
    stride, dilation : int or (int, int)
        Step between windows, spacing of the kernel taps (each >= 1).
    padding : int, (int, int), ((int, int), (int, int)) or str
        Per side, per axis, explicit ``((top, bottom), (left, right))``, or
        ``'valid'``, ``'same'`` (= ``'same_lower'``), ``'same_upper'``, ``'full'``.
    groups : int
        Input and output channels split into this many independent groups.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}
        numpy.pad's 'constant', 'reflect', 'edge', 'wrap', 'symmetric' for any padding size
        (scipy.ndimage: 'constant', 'mirror', 'nearest', 'wrap', 'reflect'; scipy.signal:
        'fill', -, -, 'wrap', 'symm'; PyTorch: the first four, reflect < size, circular <= size).
    layout : {'NCHW', 'NHWC'}
        The layout of ``x`` and of the result (the weight keeps its layout). NHWC is
        computed natively, not by transposing.
    out : ndarray, optional
        Receives the result (exact shape and dtype, writable, not overlapping an input).
        If the call is interrupted (Ctrl-C raises KeyboardInterrupt), ``out`` is left
        partially written.

    Returns
    -------
    ndarray, shape (N, C_out, Ho, Wo) or (C_out, Ho, Wo); NHWC: (N, Ho, Wo, C_out) or (Ho, Wo, C_out)
        ``Ho = floor((H + top + bottom - dh*(kh-1) - 1)/sh) + 1``, likewise ``Wo``.
        float32 and float64 are kept, float16 is computed in float32, integers and
        bools in float64; mixed dtypes promote as NumPy does.

    Raises
    ------
    TypeError
        Non-integer stride/padding/dilation/groups, complex/object/string arrays,
        ``out`` not an ndarray.
    ValueError
        Bad shapes, channel or group mismatch, a kernel larger than the padded
        input, a bad ``padding``/``padding_mode``/``layout``, a bad ``out``.
    KeyboardInterrupt
        Ctrl-C during the computation: the threads stop within a fraction of a second.

    See Also
    --------
    conv2d_backward : Its gradients with respect to x, weight and bias.
    conv_transpose2d : Its adjoint with respect to the input (upsampling).
    correlate2d : One kernel over every plane (no channel mixing).
    convolve2d : The same with the kernel flipped (true convolution).
    conv2d_output_shape : The result shape, without computing.
    cyconv.nn.Conv2d : The layer (parameters, forward and backward).

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import conv2d
    >>> X = np.array([[[0., 1, 2], [3, 4, 5], [6, 7, 8]],
    ...               [[1., 2, 3], [4, 5, 6], [7, 8, 9]]])
    >>> K = np.array([[[0., 1], [2, 3]], [[1., 2], [3, 4]]])
    >>> conv2d(X, K[np.newaxis])
    array([[[ 56.,  72.],
            [104., 120.]]])
    >>> conv2d(np.ones((1, 3, 8, 8)), np.ones((4, 3, 3, 3)), padding=1, stride=2).shape
    (1, 4, 4, 4)
    >>> conv2d(np.ones((1, 8, 8, 3)), np.ones((4, 3, 3, 3)), padding=1, layout='NHWC').shape
    (1, 8, 8, 4)
    """
    if (type(x) is np.ndarray and out is None and type(padding_mode) is str and padding_mode == "zeros"
            and type(layout) is str and layout == "NCHW"):
        if x.ndim == 3:  # one (C, H, W) image: a batch of one
            result = _conv2d_fast(x[np.newaxis], weight, bias, stride, padding, dilation, groups)
            if result is not None:
                return result[0]
        else:
            result = _conv2d_fast(x, weight, bias, stride, padding, dilation, groups)
            if result is not None:
                return result
    s = conv_setup(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, padding_mode=padding_mode, layout=layout)
    nhwc = s.layout == "NHWC"
    if out is None:  # conv_setup has checked the size: no result_buffer needed
        buf = np.empty(s.out_shape, s.compute_dtype)
        _forward(s.x, s.weight, s.bias, s.stride, s.padding, s.dilation, s.groups, buf, nhwc)
        if not s.batched:
            buf = buf[0]
        return buf if buf.dtype == s.result_dtype else buf.astype(s.result_dtype)
    shape = s.out_shape if s.batched else s.out_shape[1:]
    buf, out = result_buffer(out, shape, s.compute_dtype, s.result_dtype, _inputs(x, weight, bias))
    _forward(s.x, s.weight, s.bias, s.stride, s.padding, s.dilation, s.groups,
             buf.reshape(s.out_shape), nhwc)
    return finish(buf, out, s.result_dtype)


def _conv2d_fast(x, weight, bias, stride, padding, dilation, groups):
    """conv2d (NCHW) for the common call that needs no normalisation, else None.

    Same-dtype float32/float64 C-contiguous 4-D arrays and valid int options: checked
    in C (``fast_geometry``); anything else (including every error) takes the general
    path, which validates and explains.
    """
    geom = fast_geometry(x, weight, stride, padding, dilation, groups)
    if geom is None:
        return None
    dt = x.dtype
    if bias is not None and (
        type(bias) is not np.ndarray or bias.dtype is not dt or bias.shape != (weight.shape[0],)
        or not (bias.flags.c_contiguous and bias.flags.aligned)
    ):
        return None
    buf = np.empty((x.shape[0], weight.shape[0], geom[8], geom[9]), dt)
    _conv2d_forward(x, weight, bias, buf, geom, groups, False, get_workspace_limit())
    return buf


def _plane_axes(axes, ndim):
    """The two spatial axes of an ndim-D x as non-negative (H axis, W axis)."""
    try:
        a0, a1 = axes
    except (TypeError, ValueError):
        raise TypeError(f"axes must be a pair of ints (the H and W axes of x), got {axes!r}") from None
    result = []
    for a in (a0, a1):
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(f"axes must be a pair of ints (the H and W axes of x), got {axes!r}") from None
        if not -ndim <= a < ndim:
            raise ValueError(f"axes {axes!r} out of range for x with {ndim} dimensions")
        result.append(a % ndim)
    if result[0] == result[1]:
        raise ValueError(f"axes must name two different axes of x, got {axes!r}")
    return tuple(result)


def _plane_conv(x, kernel, stride, padding, dilation, padding_mode, out, flip, axes=(-2, -1)):
    """correlate2d / convolve2d: the 2-D kernel over every (H, W) plane of x."""
    if (
        axes == (-2, -1)
        and type(x) is np.ndarray
        and type(kernel) is np.ndarray
        and out is None
        and type(padding_mode) is str
        and padding_mode == "zeros"
        and x.ndim >= 2
        and x.size
        and kernel.ndim == 2
        and x.flags.c_contiguous
    ):
        # The planes as a batch of one-channel images: conv2d's fast path, which
        # accepts only what it proves valid (anything else falls through to here).
        shape = x.shape
        k = kernel[::-1, ::-1].copy() if flip else kernel
        y = _conv2d_fast(x.reshape((-1, 1) + shape[-2:]), k.reshape((1, 1) + k.shape), None,
                         stride, padding, dilation, 1)
        if y is not None:
            return y.reshape(shape[:-2] + y.shape[2:])
    x = as_array(x, "x")
    kernel = as_array(kernel, "kernel")
    stride = _pair(stride, "stride")
    dilation = _pair(dilation, "dilation")
    mode = padding_mode_of(padding_mode)
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (..., H, W), got shape {x.shape}")
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D (kh, kw), got {kernel.ndim} dimensions: shape {kernel.shape}")
    if min(kernel.shape) < 1:
        raise ValueError(f"kernel has an empty axis: shape {kernel.shape}")
    a0, a1 = _plane_axes(axes, x.ndim)
    if (a0, a1) != (x.ndim - 2, x.ndim - 1):
        if a1 == a0 + 1:
            # (lead..., H, W, trail...): an NHWC depthwise conv2d, trail flattened to channels
            return _plane_conv_nhwc(x, kernel, a0, stride, padding, dilation, mode, out, flip)
        # other orders: the planes moved last (a copy), the result moved back
        xt = np.moveaxis(x, (a0, a1), (-2, -1))
        y = _plane_conv(xt, kernel, stride, padding, dilation, mode, None, flip)
        y = np.moveaxis(y, (-2, -1), (a0, a1))
        if out is None:
            return y
        buf, out = result_buffer(out, y.shape, y.dtype, y.dtype, _inputs(x, kernel))
        buf[...] = y
        return finish(buf, out, y.dtype)
    hw = _spatial(x.shape, "x", empty_ok=True)  # (an empty axis: valid if padding gives outputs)
    pads = _padding(padding, kernel.shape, dilation)
    out_hw = _conv_out_hw(hw, kernel.shape, stride, pads, dilation)
    compute_dtype, result_dtype = compute_dtypes(x, kernel)
    lead = x.shape[:-2]
    buf, out = result_buffer(out, lead + out_hw, compute_dtype, result_dtype, _inputs(x, kernel))
    planes = buf.size // (out_hw[0] * out_hw[1])
    if planes:
        x4 = canonical(x, compute_dtype).reshape((planes, 1) + hw)
        if (PADDING_MODES[mode] is not None or 0 in hw) and any(map(any, pads)):
            _check_mode_padding(mode, pads, hw)
            x4 = _pad_mode(x4, pads, mode, axes=(2, 3))  # (an empty axis: its zeros, explicitly)
            pads = ((0, 0), (0, 0))
        if flip:
            kernel = kernel[::-1, ::-1]
        w4 = canonical(kernel, compute_dtype).reshape((1, 1) + kernel.shape)
        _forward(x4, w4, None, stride, pads, dilation, 1, buf.reshape((planes, 1) + out_hw))
    elif PADDING_MODES[mode] is not None and any(map(any, pads)):
        _check_mode_padding(mode, pads, hw)
    return finish(buf, out, result_dtype)


def _plane_conv_nhwc(x, kernel, a0, stride, padding, dilation, mode, out, flip):
    """Planes on axes (a0, a0+1) of x with axes after them: one NHWC depthwise conv2d."""
    lead, hw, trail = x.shape[:a0], x.shape[a0:a0 + 2], x.shape[a0 + 2:]
    n = int(np.prod(lead, dtype=np.int64))
    c = int(np.prod(trail, dtype=np.int64))
    pads = _padding(padding, kernel.shape, dilation)
    out_hw = _conv_out_hw(hw, kernel.shape, stride, pads, dilation)
    compute_dtype, result_dtype = compute_dtypes(x, kernel)
    buf, out = result_buffer(out, lead + out_hw + trail, compute_dtype, result_dtype,
                             _inputs(x, kernel))
    if flip:
        kernel = kernel[::-1, ::-1]
    if c:
        w4 = np.ascontiguousarray(np.broadcast_to(canonical(kernel, compute_dtype),
                                                  (c, 1) + kernel.shape))
        x4 = canonical(x, compute_dtype).reshape((n,) + hw + (c,))
        conv2d(x4, w4, stride=stride, padding=pads, dilation=dilation, groups=c,
               padding_mode=mode, layout="NHWC", out=buf.reshape((n,) + out_hw + (c,)))
    elif PADDING_MODES[mode] is not None and any(map(any, pads)):
        _check_mode_padding(mode, pads, hw)
    return finish(buf, out, result_dtype)


def correlate2d(x, kernel, /, *, stride=1, padding=0, dilation=1, padding_mode="zeros", axes=(-2, -1),
                out=None):
    """2-D cross-correlation of every (H, W) plane of ``x`` with ``kernel``.

    ``out[..., i, j] = sum_{a,b} xp[..., i*sh + a*dh, j*sw + b*dw] * kernel[a, b]``
    where ``xp`` is ``x`` padded as requested: what deep learning calls convolution
    (the notes' ``corr2d``), with stride, padding and dilation.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
        Any number of leading axes (including none); each plane is correlated.
    kernel : array_like, shape (kh, kw)
    stride, dilation : int or (int, int)
        Each >= 1.
    padding : int, (int, int), ((int, int), (int, int)) or str
        As for :func:`cyconv.conv2d`. ``'full'`` and ``'valid'`` match
        ``scipy.signal.correlate2d``'s modes; SciPy's ``'same'`` is ``'same_upper'``
        here (equal to ``'same'`` for odd kernels; for even ones ``'same'`` puts the
        extra row/column of padding at the top/left, as the notes do).
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}
        numpy.pad's 'constant', 'reflect', 'edge', 'wrap', 'symmetric' for any padding size
        (scipy.ndimage: 'constant', 'mirror', 'nearest', 'wrap', 'reflect'; scipy.signal:
        'fill', -, -, 'wrap', 'symm'; PyTorch: the first four, reflect < size, circular <= size).
    axes : (int, int)
        The two spatial axes (H, W) of ``x``; the kernel is applied to every plane
        along them, e.g. ``axes=(0, 1)`` filters an (H, W, 3) image per channel.
    out : ndarray, optional
        Receives the result.

    Returns
    -------
    ndarray, shape (..., Ho, Wo)

    Raises
    ------
    TypeError, ValueError
        As for :func:`cyconv.conv2d`.

    See Also
    --------
    convolve2d : True convolution (the kernel flipped).
    conv2d : Many input and output channels, groups and bias.
    conv2d_backward : Gradients (give the planes as one-channel images).
    output_size : The output length of one axis.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import correlate2d
    >>> X = np.array([[0., 1, 2], [3, 4, 5], [6, 7, 8]])
    >>> correlate2d(X, [[0., 1], [2, 3]])
    array([[19., 25.],
           [37., 43.]])
    >>> correlate2d(np.ones((2, 5, 8, 8)), np.ones((3, 3)), padding='same').shape
    (2, 5, 8, 8)
    >>> correlate2d(np.ones((8, 8, 3)), np.ones((3, 3)), axes=(0, 1)).shape
    (6, 6, 3)
    """
    return _plane_conv(x, kernel, stride, padding, dilation, padding_mode, out, False, axes)


def convolve2d(x, kernel, /, *, stride=1, padding=0, dilation=1, padding_mode="zeros", axes=(-2, -1),
               out=None):
    """2-D convolution (kernel flipped on both axes) of every (H, W) plane of ``x``.

    Exactly ``correlate2d(x, kernel[::-1, ::-1], ...)`` with the same options: the
    padding strings depend on the kernel size only, so ``padding='full'`` equals
    ``scipy.signal.convolve2d(x, kernel, 'full')``, ``'valid'`` SciPy's ``'valid'``,
    and ``'same'`` (the extra row/column of an even kernel at the top/left) equals
    SciPy's ``'same'`` for odd and even kernels alike; ``'same_upper'`` puts the
    extra row/column at the bottom/right instead.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
    kernel : array_like, shape (kh, kw)
    stride, padding, dilation, padding_mode, axes, out
        As for :func:`correlate2d`.

    Returns
    -------
    ndarray, shape (..., Ho, Wo)

    Raises
    ------
    TypeError, ValueError
        As for :func:`cyconv.conv2d`.

    See Also
    --------
    correlate2d : Cross-correlation (the kernel not flipped).
    conv2d : Multi-channel cross-correlation.
    output_size : The output length of one axis.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import convolve2d
    >>> convolve2d([[1., 2, 3]], [[1., 1]], padding='full')
    array([[1., 3., 5., 3.]])
    >>> convolve2d(np.eye(3), [[0., 1], [0, 0]])
    array([[0., 1.],
           [0., 0.]])
    """
    return _plane_conv(x, kernel, stride, padding, dilation, padding_mode, out, True, axes)

