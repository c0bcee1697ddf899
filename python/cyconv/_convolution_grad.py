"""Gradients of conv2d (``conv2d_backward``) and its adjoint, ``conv_transpose2d``.

Both reduce to the same two computations on canonical arrays:

* the input gradient: every grad_output value, times every weight tap, added back onto
  the input cell the forward pass read it from (``weight^T @ grad_output`` and col2im);
* the weight gradient: grad_output correlated with the (padded) input, summed over
  the batch (``grad_output @ im2col(x)^T``).

A transposed convolution is exactly the input gradient of the convolution with the
same stride, padding, dilation and groups, so it shares that code. Non-zero padding
modes run on the padded input (``conv_setup`` pads it); the gradient of the padded
input is then folded back onto the cells each padded cell copies (the adjoint of
``np.pad``). The kernels live in ``cyconv._conv_grad`` (``_conv_grad_avx2`` on CPUs
with AVX2+FMA); the strategies:

* direct (no workspace): one input channel per group with few (output channel, tap)
  pairs -- depthwise, single-channel images, tiny problems -- one OpenMP task per
  input channel computes both gradients while its planes are in cache; also whenever
  one output row's columns would not fit :func:`cyconv.get_workspace_limit`;
* GEMM: blocks of images (or of one image's output rows) whose columns fit the
  workspace; ``np.matmul`` (NumPy's threaded BLAS) for the products, the gathers and
  scatters on the calling thread between them (OpenMP workers spinning next to BLAS's
  threads slow both down). 1x1 convolutions use the arrays themselves as columns;
  stride-1 convolutions with narrow outputs use "wide" rows (contiguous gathers);
* the bias gradient: a sum over N, H, W per channel, accumulated in float64;
* tiny problems (one input channel per group, few multiply-adds: all per-call
  overhead) run the fused per-input-channel direct kernel, one pass for every
  requested gradient. The common call (ndarrays of one float dtype, int options;
  ``cyconv._fastpath.fast_geometry``) skips ``conv_setup`` altogether.
"""

from typing import NamedTuple

import numpy as np

from . import _runtime
from ._arrays import as_array, canonical, check_size, compute_dtypes
from ._conv_args import PADDING_MODES, conv_setup, fast_geometry
from ._dispatch import load_kernels
from ._shapes import _AXES, _int, _padding, _pair, _spatial
from ._workspace import get_workspace_limit

_conv_grad = load_kernels("_conv_grad")

__all__ = ["Conv2dGradients", "conv2d_backward", "conv_transpose2d"]

_COMPUTE_NAMES = ("input", "weight", "bias")

# A GEMM block's column workspace, at most (cache-friendly; bounded by the workspace limit).
_BLOCK_BYTES = 1 << 20
# A 1x1 convolution with at least this many output positions per image runs one GEMM
# per image on the arrays themselves (no gathering into blocks).
_POINTWISE_PER_IMAGE = 128
# Stride 1: GEMMs on rows widened to the padded width (contiguous gathers, a little
# more GEMM work) when that is at most this factor wider than the output, and the
# output rows are narrow enough that per-row overheads dominate the plain gather.
_WIDE_MAX = 1.5
_WIDE_MAX_WO = 40
# Threads of the gather/scatter kernels between the GEMMs (0: all). One: NumPy's BLAS
# threads the GEMMs, and alternating between its pool and OpenMP's on few cores makes
# each pool's idle-spinning threads slow the other down.
_GEMM_KERNEL_THREADS = 1
# One input channel per group with at most this many (output channel, tap) pairs per
# input cell: the direct kernels beat a GEMM whose inner dimension is that thin.
_DIRECT_MAX_TAPS = 32


# A backward with fewer multiply-adds than this is all per-call overhead (_fast_gradients).
_TINY_BACKWARD = 1 << 14

_ALL = frozenset(_COMPUTE_NAMES)


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


def _plan(n_img, k, ho, wo, itemsize, pointwise, direct):
    """How to run one backward: None for the direct kernels, else (nb, rows) GEMM blocks."""
    limit = get_workspace_limit()
    if direct or k * wo * itemsize > limit:
        return None
    target = min(limit, _BLOCK_BYTES)
    plane = ho * wo
    max_cols = max(wo, target // (k * itemsize))
    if pointwise and plane >= _POINTWISE_PER_IMAGE:
        return 1, ho  # the columns are the input itself: no workspace at all
    if plane <= max_cols:
        nb = max(1, min(n_img, max_cols // plane))
        return nb, ho
    if pointwise:
        return 1, ho  # the columns are the input itself: no workspace at all
    return 1, max(1, max_cols // wo)


def _gradients(gy, x, weight, image_hw, groups, geom, want_input, want_weight, want_bias):
    """(dx, dweight, dbias) on canonical 4-D arrays; dx has spatial shape image_hw.

    ``x`` (needed only for the weight gradient) is already padded for non-zero
    padding modes; geom = (kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo).
    """
    n_img, c_out, ho, wo = gy.shape
    cin_g, kh, kw = weight.shape[1:]
    dtype = gy.dtype
    dx = dweight = dbias = None
    if want_input:
        shape = (n_img, cin_g * groups) + tuple(image_hw)
        check_size(shape, dtype.itemsize, "the input gradient")
        dx = np.zeros(shape, dtype)
    if n_img == 0:
        return (dx, np.zeros(weight.shape, dtype) if want_weight else None,
                np.zeros(c_out, dtype) if want_bias else None)
    if want_weight:
        dweight = np.empty(weight.shape, dtype)
    if want_bias:
        dbias = np.empty(c_out, dtype)
    if not (want_input or want_weight):
        if want_bias:
            _conv_grad.bias_grad(gy, dbias)
        return dx, dweight, dbias
    _, _, sh, sw, _, _, pt, pl, _, _ = geom
    pointwise = (kh, kw, sh, sw, pt, pl) == (1, 1, 1, 1, 0, 0) and tuple(image_hw) == (ho, wo)
    direct = cin_g == 1 and (c_out // groups) * kh * kw <= _DIRECT_MAX_TAPS
    plan = _plan(n_img, cin_g * kh * kw, ho, wo, dtype.itemsize, pointwise, direct)
    if plan is None:
        threads = _runtime.get_num_threads()
        acc = tot = None
        if cin_g == 1 and cin_g * groups >= 2 * threads:
            # one task per input channel: both gradients while its planes are in cache
            tot = np.empty((threads, (c_out // groups) * (kh * kw + 1)))
        elif want_weight:
            acc = np.empty((threads, kh * kw * wo), dtype)
        _conv_grad.direct_backward(gy, x, weight, dx, dweight, dbias, acc, tot, groups, geom)
    else:
        with np.errstate(all="ignore"):  # matmul's inf*0 warnings: the direct kernels are silent
            _gemm_gradients(gy, x if want_weight else None, weight, dx, dweight, groups, geom,
                            plan, pointwise)
        if want_bias:  # on this thread too: OpenMP workers would spin into the next BLAS call
            _conv_grad.bias_grad(gy, dbias, _GEMM_KERNEL_THREADS)
    return dx, dweight, dbias


def _fast_gradients(gy, x, weight, groups, geom, want):
    """:func:`_gradients` for conv2d_backward; tiny problems in one kernel pass.

    ``x`` is canonical (and already padded for non-zero padding modes: dx has its
    shape). A tiny direct-kernel problem is all per-call overhead: rather than the
    separate input, weight and bias kernels (three passes, a per-thread row
    workspace), the fused per-input-channel kernel computes every requested gradient
    in one pass. Both of conv2d_backward's routes come here, so that they agree to
    the last bit.
    """
    want_input, want_weight, want_bias = "input" in want, "weight" in want, "bias" in want
    n_img, c_out, ho, wo = gy.shape
    cin_g, kh, kw = weight.shape[1], geom[0], geom[1]
    if (
        cin_g == 1 and n_img and (want_input or want_weight)
        and (c_out // groups) * kh * kw <= _DIRECT_MAX_TAPS
        and n_img * c_out * ho * wo * kh * kw < _TINY_BACKWARD
    ):
        dtype = gy.dtype
        dx = np.zeros(x.shape, dtype) if want_input else None
        dweight = np.empty(weight.shape, dtype) if want_weight else None
        dbias = np.empty(c_out, dtype) if want_bias else None
        tot = np.empty((1, (c_out // groups) * (kh * kw + 1)))  # one row: one thread
        _conv_grad.direct_backward(gy, x, weight, dx, dweight, dbias, None, tot, groups, geom)
        return dx, dweight, dbias
    return _gradients(gy, x, weight, x.shape[2:], groups, geom,
                      want_input, want_weight, want_bias)


def _gemm_gradients(gy, x, weight, dx, dweight, groups, geom, plan, pointwise):
    """The GEMM strategies of :func:`_gradients`: plain or "wide" rows, ``plan`` blocks."""
    n_img, _, ho, wo = gy.shape
    cin_g, kh, kw = weight.shape[1:]
    _, _, sh, sw, _, dwl, _, _, _, _ = geom
    wide_w = wo + dwl * (kw - 1)
    nb, rows = plan
    if (
        sh == sw == 1 and not pointwise and wo <= _WIDE_MAX_WO and wide_w <= _WIDE_MAX * wo
        # Wide rows multiply the discarded columns' zeros with real cells: inf*0 would be
        # NaN where the true gradient is finite. A sum is finite iff no inf/NaN (or it
        # overflowed: then the plain path, which is right anyway).
        and (x is None or np.isfinite(np.add.reduce(x, axis=None)))
        and (dx is None or np.isfinite(np.add.reduce(weight, axis=None)))
    ):
        nb, rows = _plan(n_img, cin_g * kh * kw, ho, wide_w, gy.dtype.itemsize, False, False)
        _conv_grad.gemm_backward_wide(gy, x, weight, dx, dweight, groups, geom, nb, rows)
    else:
        _conv_grad.gemm_backward(gy, x, weight, dx, dweight, groups, geom, nb, rows, pointwise,
                                 _GEMM_KERNEL_THREADS)


def _fold_mode_padding(dxp, mode, pads, hw):
    """The adjoint of ``np.pad(x, pads, mode)`` on the last two axes.

    Every padded cell is a copy of some input cell; its gradient is added back there.
    """
    np_mode = PADDING_MODES[mode]
    for axis, (before, after), n in zip((2, 3), pads, hw):
        if before == 0 and after == 0:
            continue
        source = np.pad(np.arange(n), (before, after), mode=np_mode)
        index = [slice(None)] * 4
        index[axis] = slice(before, before + n)
        folded = dxp[tuple(index)].copy()
        for pos in list(range(before)) + list(range(before + n, before + n + after)):
            index[axis] = source[pos]
            dst = tuple(index)
            index[axis] = pos
            folded[dst] += dxp[tuple(index)]
        dxp = folded
    return dxp


def conv2d_backward(grad_output, x, weight, /, *, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", compute=_COMPUTE_NAMES):
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
            and padding_mode == "zeros"):
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
        ):
            dx, dweight, dbias = _fast_gradients(gy4, x4, weight, groups, geom, want)
            return Conv2dGradients(dx[0] if one and dx is not None else dx, dweight, dbias)
    gy = as_array(grad_output, "grad_output")
    s = conv_setup(x, weight, None, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, padding_mode=padding_mode, extra_arrays=(gy,))
    expected = s.out_shape if s.batched else s.out_shape[1:]
    if gy.shape != expected:
        raise ValueError(
            f"grad_output must have the forward output shape {expected}, got shape {gy.shape}"
        )
    gy4 = canonical(gy if s.batched else gy[np.newaxis], s.compute_dtype)
    (pt, _), (pl, _) = s.padding
    kh, kw = s.weight.shape[2:]
    geom = (kh, kw) + s.stride + s.dilation + (pt, pl) + gy4.shape[2:]
    dx, dweight, dbias = _fast_gradients(gy4, s.x, s.weight, s.groups, geom, want)
    if dx is not None:
        if s.mode_padding != ((0, 0), (0, 0)):
            with np.errstate(all="ignore"):  # the folded sums may meet inf + -inf
                dx = _fold_mode_padding(dx, s.padding_mode, s.mode_padding, s.input_shape[2:])
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
                     dilation=1, groups=1):
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

    Returns
    -------
    ndarray
        ``(N, C_out, Ho, Wo)`` (or ``(C_out, Ho, Wo)``), dtype as for conv2d.

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
    c_in = x.shape[-3]
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
    hw = _spatial(x.shape, "input")
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
    x4 = canonical(x if batched else x[np.newaxis], compute_dtype)
    w = canonical(weight, compute_dtype)
    geom = tuple(kernel) + stride + dilation + (pads[0][0], pads[1][0]) + tuple(hw)
    # The transposed input plays the part of conv2d's grad_output, weight that of its weight.
    y = _gradients(x4, None, w, out_hw, groups, geom, True, False, False)[0]
    if bias is not None:
        with np.errstate(all="ignore"):  # inf + -inf is NaN silently, as in conv2d
            y += canonical(bias, compute_dtype)[:, None, None]
    if not batched:
        y = y[0]
    return y.astype(result_dtype, copy=False)
