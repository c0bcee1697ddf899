"""Max and average pooling over the last two axes, and their gradients.

The functions here normalise and validate their arguments, pick the kernel's dtype and
layout, work out the per-axis plans the kernels rely on (which output columns each kernel
tap reaches, the window divisors), and call the compiled kernels in ``_maxpool`` and
``_avgpool``.
"""

import math

import numpy as np

from . import _avgpool, _maxpool
from ._arrays import as_array, canonical, check_size, compute_dtypes, finish, result_buffer
from ._config import get_num_threads
from ._shapes import _AXES, _int, _pool_args, _pool_out_hw, _shape_tuple, _spatial

__all__ = ["max_pool2d", "avg_pool2d", "max_pool2d_backward", "avg_pool2d_backward"]


_I64 = np.dtype(np.int64)
_F32 = np.dtype(np.float32)


def _flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r} of type {type(value).__name__}")
    return bool(value)


def _planes(arr, swap=False):
    """View a C-contiguous ``(..., H, W)`` array as planes ``(P, H, W)`` (``(P, W, H)``
    with ``swap``: for one-column planes, the same memory as one-row planes)."""
    h, w = arr.shape[-2:]
    return arr.reshape((-1, w, h) if swap else (-1, h, w))


def _swap(*pairs):
    """Each (h, w) pair as (w, h)."""
    return tuple((p[1], p[0]) for p in pairs)


def _column_plan(n, n_out, k, s, before, d):
    """For each kernel tap ``kc``: the output columns ``jlo[kc] <= j < jhi[kc]`` whose tap
    cell ``j*s - before + kc*d`` is inside ``[0, n)``."""
    offsets = np.arange(k) * d - before
    jlo = np.where(offsets < 0, -(offsets // s), 0)  # ceil(-offset/s) for offsets < 0
    jhi = np.clip((n - 1 - offsets) // s + 1, 0, n_out)
    jhi = np.maximum(jhi, jlo)
    jlo = np.minimum(jlo, jhi)
    return np.ascontiguousarray(jlo, np.intp), np.ascontiguousarray(jhi, np.intp)


def _check_taps(hw, ohw, k, s, pads, d):
    """Every window must hold a real cell (only dilation can make one miss the input)."""
    for n, n_out, kk, ss, (before, _), dd, axis in zip(hw, ohw, k, s, pads, d, _AXES):
        if n == 0:
            cells = "rows" if axis == "height" else "columns"
            raise ValueError(
                f"max pooling of an input with no {cells} (input {axis} 0): every window covers "
                f"only padding, and padded cells never win"
            )
        if dd == 1:
            continue
        starts = np.arange(n_out) * ss - before
        first_tap = np.where(starts < 0, (-starts + dd - 1) // dd, 0)
        bad = (first_tap >= kk) | (starts + first_tap * dd > n - 1)
        if bad.any():
            i = int(np.argmax(bad))
            cells = "rows" if axis == "height" else "columns"
            raise ValueError(
                f"max pooling window {i} along the {axis} covers only padding: its {kk} {cells} "
                f"{int(starts[i])}, {int(starts[i]) + dd}, ... (dilation {dd}) all miss the input "
                f"{cells} 0..{n - 1}; use less padding or a smaller dilation"
            )


def _axes_of(axes, ndim, name="x"):
    """Normalise ``axes`` (two distinct axes of an ``ndim``-d array) to non-negative ints;
    None when they are the last two (the kernels' own layout)."""
    if type(axes) is tuple and axes == (-2, -1):
        return None
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise TypeError(f"axes must be a pair of integers (the H and W axes), got {axes!r}")
    pair = tuple(_int(a, "axes") for a in axes)
    if ndim < 2:
        return None  # the usual "at least 2 dimensions" error follows
    norm = tuple(a + ndim if a < 0 else a for a in pair)
    if not all(0 <= a < ndim for a in norm):
        raise ValueError(f"axes {pair} out of range for {name} with {ndim} dimensions")
    if norm[0] == norm[1]:
        raise ValueError(f"axes must be two different axes, got {pair}")
    return None if norm == (ndim - 2, ndim - 1) else norm


def _to_end(a, axes):
    """View ``a`` with ``axes`` moved last (H, W); the kernels' canonical copy follows."""
    return np.moveaxis(a, axes, (-2, -1))


def _from_end(a, axes, out=None, inputs=()):
    """The result back in the caller's layout (a C-contiguous array), or written to ``out``."""
    back = np.moveaxis(a, (-2, -1), axes)
    if out is None:
        return np.ascontiguousarray(back)
    buf, out = result_buffer(out, back.shape, back.dtype, back.dtype, list(inputs))
    np.copyto(out, back)
    return out


def _moved_shape(shape, axes):
    """``shape`` with ``axes`` moved last."""
    rest = [v for i, v in enumerate(shape) if i not in axes]
    return tuple(rest) + (shape[axes[0]], shape[axes[1]])


def _input(x, name="x"):
    x = as_array(x, name)
    hw = _spatial(x.shape, name, empty_ok=True)
    return x, hw


def max_pool2d(x, kernel_size, /, *, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, out=None, axes=(-2, -1)):
    """2-D max pooling of every ``(H, W)`` plane of ``x``.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
        Any real dtype; the result has the same dtype (bool, every integer width,
        float16, float32, float64, longdouble), values are never rounded.
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int, (int, int), ((int, int), (int, int)) or str
        Implicit padding; padded cells never win. At most half the effective kernel per side.
    dilation : int or (int, int)
        Spacing between window cells.
    ceil_mode : bool
        Round the output size up (a last window that would start in the right padding
        is dropped, as in PyTorch).
    return_indices : bool
        Also return the int64 position ``h*W + w`` of each maximum in its input plane.
    out : ndarray, optional
        Where to write the values (exact result shape and dtype, writable, not
        overlapping ``x``).
    axes : (int, int)
        The H and W axes of ``x`` (an ``(H, W, C)`` image is pooled per channel with
        ``axes=(0, 1)``); the result keeps the other axes where they are.

    Returns
    -------
    ndarray or (ndarray, ndarray)
        The pooled values, shape ``(..., Ho, Wo)``, and with ``return_indices`` their indices.
        Ties go to the first maximum in row-major window order; NaN propagates (the index
        points at the window's last NaN).

    Raises
    ------
    TypeError
        Non-real ``x`` or ``out`` dtype, non-integer sizes, non-bool flags.
    ValueError
        Bad sizes, too much padding, a window larger than the padded input, bad ``out``;
        a dilated window whose cells all fall in the padding (PyTorch returns ``-inf``
        with an index outside the plane there).

    See Also
    --------
    max_pool2d_backward : Its gradient, from the indices.
    avg_pool2d : Average pooling.
    pool2d_output_shape : The result shape, without computing.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pool2d(X, 3)
    array([[[[10.]]]])
    >>> max_pool2d(X, 3, padding=1, stride=2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> max_pool2d(np.array([[1, 5], [5, 2]], np.uint8), 2, return_indices=True)
    (array([[5]], dtype=uint8), array([[1]]))
    """
    x, hw = _input(x)
    moved = _axes_of(axes, x.ndim)
    if moved is not None:
        res = max_pool2d(_to_end(x, moved), kernel_size, stride=stride, padding=padding,
                         dilation=dilation, ceil_mode=ceil_mode, return_indices=return_indices)
        if return_indices:
            return _from_end(res[0], moved, out, [x]), _from_end(res[1], moved)
        return _from_end(res, moved, out, [x])
    k, s, pads, d = _pool_args(kernel_size, stride, padding, dilation)
    ceil_mode = _flag(ceil_mode, "ceil_mode")
    return_indices = _flag(return_indices, "return_indices")
    ohw = _pool_out_hw(hw, k, s, pads, d, ceil_mode)
    _check_taps(hw, ohw, k, s, pads, d)
    shape = x.shape[:-2] + ohw

    dtype = x.dtype.newbyteorder("=")
    if dtype.itemsize == 2 and dtype.kind == "f":
        kernel_dtype = _F32  # float16: exact through float32
    else:
        kernel_dtype = dtype
    buf, out = result_buffer(out, shape, kernel_dtype, dtype, [x])
    indices = None
    if return_indices:
        check_size(shape, 8, "the indices")
        indices = np.empty(shape, _I64)
    xc = canonical(x, kernel_dtype)
    if kernel_dtype.kind == "b":
        xc, kbuf = xc.view(np.uint8), buf.view(np.uint8)
    else:
        kbuf = buf
    # A one-column plane (H, 1) with a one-column result is, in memory, the one-row plane (1, H): pooled as such
    # (long rows), with every (h, w) option swapped; its indices h*1 + 0 = 0*H + h agree.
    swap = hw[1] == ohw[1] == 1 and hw[0] > 1
    if swap:
        hw, ohw, k, s, pads, d = _swap(hw, ohw, k, s, pads, d)
    jlo, jhi = _column_plan(hw[1], ohw[1], k[1], s[1], pads[1][0], d[1])
    _maxpool.forward(
        _planes(xc, swap), _planes(kbuf, swap), None if indices is None else _planes(indices, swap),
        k[0], k[1], s[0], s[1], pads[0][0], pads[1][0], d[0], d[1], jlo, jhi, get_num_threads(),
    )
    result = finish(buf, out, dtype)
    return (result, indices) if return_indices else result


def _avg_divisors(n, n_out, k, s, pad, count_include_pad):
    """One axis' factor of each window's divisor (PyTorch's rule), and whether it is k for
    every window.

    Only windows that start before the input or end after it can differ from ``k``: those
    (a few at each end) are worked out, the rest is ``k`` (a long axis costs one fill).
    """
    before, after = pad
    head = min(n_out, before // s + 1)  # windows j with j*s - before < 0, and one more
    tail = max(head, min(n_out, (n + before - k) // s + 1))  # first window ending past n
    j = np.concatenate((np.arange(head), np.arange(tail, n_out)))
    start = j * s - before
    end = np.minimum(start + k, n + after)
    if count_include_pad:
        edge = end - start
    else:
        edge = np.minimum(end, n) - np.maximum(start, 0)
    if (edge == k).all():
        return None, True  # (no array: a long axis would cost a pass for nothing)
    count = np.full(n_out, float(k))
    count[j] = edge
    return count, False


def _divisor_override(value):
    """None, or any nonzero integer (PyTorch accepts negative divisors)."""
    if value is None:
        return None
    value = _int(value, "divisor_override")
    if value == 0:
        raise ValueError("divisor_override must be a nonzero integer or None, got 0")
    return value


def _avg_setup(hw, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    k, s, pads, d = _pool_args(kernel_size, stride, padding, 1)
    ceil_mode = _flag(ceil_mode, "ceil_mode")
    count_include_pad = _flag(count_include_pad, "count_include_pad")
    divisor_override = _divisor_override(divisor_override)
    ohw = _pool_out_hw(hw, k, s, pads, d, ceil_mode)
    return k, s, pads, ohw, count_include_pad, divisor_override


def _avg_plan(hw, ohw, k, s, pads, count_include_pad, divisor_override, dtype, short=False):
    """Column plan and the reciprocals of the divisor's row and column factors.

    With ``short``, one divisor for every window gives length-1 factors (the forward
    kernel reads only those then).
    """
    jlo, jhi = _column_plan(hw[1], ohw[1], k[1], s[1], pads[1][0], 1)
    if divisor_override is not None:
        ch, cw, uniform = None, None, True
        divisor = float(divisor_override)
    else:
        (ch, uh), (cw, uw) = (_avg_divisors(n, n_out, kk, ss, pad, count_include_pad)
                              for n, n_out, kk, ss, pad in zip(hw, ohw, k, s, pads))
        uniform, divisor = uh and uw, float(k[0] * k[1])
    with np.errstate(divide="ignore"):  # a divisor 0 (only padding, count_include_pad=False): inf
        if uniform:
            # One divisor for every window: a single reciprocal, rounded once.
            rch = np.ones(1 if short else ohw[0], dtype)
            rcw = np.full(1 if short else ohw[1], 1.0 / divisor, dtype)
        else:
            ch = np.full(ohw[0], float(k[0])) if ch is None else ch
            cw = np.full(ohw[1], float(k[1])) if cw is None else cw
            rch = (1.0 / ch).astype(dtype)
            rcw = (1.0 / cw).astype(dtype)
    return jlo, jhi, rch, rcw


def avg_pool2d(x, kernel_size, /, *, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, out=None, axes=(-2, -1)):
    """2-D average pooling of every ``(H, W)`` plane of ``x``.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
        float32 and float64 stay as they are; integers and bool compute in float64;
        float16 computes in float32 and returns float16.
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int, (int, int), ((int, int), (int, int)) or str
        Implicit zero padding, at most half the kernel per side.
    ceil_mode : bool
        Round the output size up (PyTorch's rule for the last window).
    count_include_pad : bool
        Divide by the window cells inside ``[-p, n + p)`` (padding included, the
        ceil-mode overhang not) instead of by the real cells only.
    divisor_override : int, optional
        A nonzero divisor used for every window instead (negative allowed, as in PyTorch).
    out : ndarray, optional
        Where to write the result (exact shape and dtype, writable, not overlapping ``x``).
    axes : (int, int)
        The H and W axes of ``x`` (``(0, 1)`` for an ``(H, W, C)`` image).

    Returns
    -------
    ndarray, shape (..., Ho, Wo)

    Raises
    ------
    TypeError
        Non-real dtypes, non-integer sizes, non-bool flags.
    ValueError
        Bad sizes, too much padding, a window larger than the padded input, bad ``out``.

    See Also
    --------
    avg_pool2d_backward : Its gradient.
    max_pool2d : Max pooling.
    pool2d_output_shape : The result shape, without computing.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> avg_pool2d(X, 2, stride=1)
    array([[2., 3.],
           [5., 6.]])
    >>> avg_pool2d(np.ones((1, 3, 3), np.float32), 3, padding=1, stride=2, count_include_pad=False)
    array([[[1., 1.],
            [1., 1.]]], dtype=float32)
    """
    x, hw = _input(x)
    moved = _axes_of(axes, x.ndim)
    if moved is not None:
        res = avg_pool2d(_to_end(x, moved), kernel_size, stride=stride, padding=padding,
                         ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                         divisor_override=divisor_override)
        return _from_end(res, moved, out, [x])
    k, s, pads, ohw, cip, div = _avg_setup(
        hw, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    cdt, rdt = compute_dtypes(x)
    shape = x.shape[:-2] + ohw
    buf, out = result_buffer(out, shape, cdt, rdt, [x])
    xc = canonical(x, cdt)
    swap = hw[1] == ohw[1] == 1 and hw[0] > 1  # a one-column plane (and result) as the one-row plane it is in memory
    if swap:
        hw, ohw, k, s, pads = _swap(hw, ohw, k, s, pads)
    _, _, rch, rcw = _avg_plan(hw, ohw, k, s, pads, cip, div, cdt, short=True)
    if 0 in hw:  # every window reads only padding: 0 / divisor (NaN where the divisor is 0)
        with np.errstate(invalid="ignore"):
            buf[...] = 0 * (rch[:, None] * rcw[None, :])
        return finish(buf, out, rdt)
    nt = get_num_threads()  # the most; the kernel decides from the work size
    # Per-thread buffer for one block of output columns' vertical sums (see the kernel).
    work = np.empty((nt, (min(ohw[1], _avgpool.COLUMN_BLOCK) - 1) * s[1] + k[1]), cdt)
    _avgpool.forward(_planes(xc, swap), _planes(buf, swap), work,
                     k[0], k[1], s[0], s[1], pads[0][0], pads[1][0], rch, rcw, nt)
    return finish(buf, out, rdt)


def _input_shape(input_shape):
    shape = _shape_tuple(input_shape, "input_shape")
    if any(v < 0 for v in shape):
        raise ValueError(f"input_shape must not have negative sizes, got {shape}")
    hw = _spatial(shape, "input_shape", empty_ok=True)
    return shape, hw


def _grad_array(grad_output):
    g = as_array(grad_output, "grad_output")
    if g.ndim < 2:
        raise ValueError(f"grad_output must have at least 2 dimensions (..., Ho, Wo), got shape {g.shape}")
    return g


def max_pool2d_backward(grad_output, indices, input_shape, *, axes=(-2, -1)):
    """Gradient of :func:`max_pool2d` with respect to its input.

    Each ``grad_output`` element is added to the input cell its index names; windows
    that share a maximum add up.

    Parameters
    ----------
    grad_output : array_like, shape (..., Ho, Wo)
        Gradient of the loss with respect to the pooled values.
    indices : array_like of integers, same shape
        The indices returned by ``max_pool2d(..., return_indices=True)``: positions
        ``h*W + w`` in each input plane, each in ``[0, H*W)``.
    input_shape : tuple of int
        Shape ``(..., H, W)`` of the pooled input; its leading axes must be those of
        ``grad_output``.
    axes : (int, int)
        The H and W axes of ``grad_output``, ``indices`` and the input, as given to
        :func:`max_pool2d`.

    Returns
    -------
    ndarray of shape ``input_shape``
        float32/float64 as ``grad_output``; integer/bool -> float64; float16 -> float16.

    Raises
    ------
    TypeError
        Non-real ``grad_output``, non-integer ``indices``.
    ValueError
        Mismatched shapes, or an index outside ``[0, H*W)``.

    See Also
    --------
    max_pool2d : The forward pass (``return_indices=True``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 3.0, 2.0], [0.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    >>> y, idx = max_pool2d(X, 2, stride=1, return_indices=True)
    >>> idx
    array([[1, 1],
           [6, 4]])
    >>> max_pool2d_backward(np.ones((2, 2)), idx, X.shape)
    array([[0., 2., 0.],
           [0., 1., 0.],
           [1., 0., 0.]])
    """
    g = _grad_array(grad_output)
    idx = np.asarray(indices)
    moved = _axes_of(axes, g.ndim, "grad_output")
    if moved is not None:
        shape = _shape_tuple(input_shape, "input_shape")
        if len(shape) != g.ndim or idx.ndim != g.ndim:
            raise ValueError(f"input_shape {shape} and indices (shape {idx.shape}) must have the "
                             f"{g.ndim} dimensions of grad_output")
        res = max_pool2d_backward(_to_end(g, moved), _to_end(idx, moved), _moved_shape(shape, moved))
        return _from_end(res, moved)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must have an integer dtype, got dtype {idx.dtype}")
    shape, (H, W) = _input_shape(input_shape)
    if idx.shape != g.shape:
        raise ValueError(f"indices has shape {idx.shape}, expected the grad_output shape {g.shape}")
    if g.shape[:-2] != shape[:-2]:
        raise ValueError(
            f"grad_output has shape {g.shape}: its leading axes {g.shape[:-2]} must be those of "
            f"input_shape {shape} ({shape[:-2]})"
        )
    cdt, rdt = compute_dtypes(g)
    check_size(shape, cdt.itemsize, "the gradient")
    ic = canonical(idx, _I64)
    if idx.dtype.kind == "u" and idx.dtype.itemsize == 8 and idx.size:
        # uint64 values >= 2**63 would wrap to negative int64 (and be reported as such).
        ic = np.where(idx > np.iinfo(np.int64).max, -1, ic).astype(_I64)
    n = H * W
    gc = canonical(g, cdt)
    result = np.empty(shape, cdt)
    P = math.prod(shape[:-2])
    L = g.shape[-2] * g.shape[-1]
    # The kernel checks every index as it scatters (it skips, never writes, a bad one) and
    # counts the bad ones: the check costs no pass of its own. The error is raised here.
    bad = _maxpool.backward(gc.reshape(P, L), ic.reshape(P, L), result.reshape(P, n), get_num_threads())
    if bad:
        flat = idx.reshape(-1)
        pos = int(np.argmax((flat < 0) | (flat >= n)))
        where = np.unravel_index(pos, idx.shape)
        raise ValueError(
            f"indices[{', '.join(str(int(v)) for v in where)}] = {int(flat[pos])} is out of range "
            f"for input planes of {H}x{W} = {n} cells (expected 0 <= index < {n})"
        )
    return finish(result, None, rdt)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, /, *, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None, axes=(-2, -1)):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the pooled values; exactly the forward
        output shape.
    input_shape : tuple of int
        Shape ``(..., H, W)`` of the pooled input.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, axes
        As for :func:`avg_pool2d`.

    Returns
    -------
    ndarray of shape ``input_shape``
        Each input cell receives ``grad / divisor`` from every window that covers it.

    Raises
    ------
    TypeError, ValueError
        As for :func:`avg_pool2d`; ``ValueError`` when ``grad_output`` does not have the
        forward output shape.

    See Also
    --------
    avg_pool2d : The forward pass.

    Examples
    --------
    >>> import numpy as np
    >>> avg_pool2d_backward(np.ones((2, 2)), (3, 3), 2, stride=1)
    array([[0.25, 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 0.25]])
    """
    g = _grad_array(grad_output)
    moved = _axes_of(axes, g.ndim, "grad_output")
    if moved is not None:
        shape = _shape_tuple(input_shape, "input_shape")
        if len(shape) != g.ndim:
            raise ValueError(f"input_shape {shape} must have the {g.ndim} dimensions of grad_output")
        res = avg_pool2d_backward(_to_end(g, moved), _moved_shape(shape, moved), kernel_size,
                                  stride=stride, padding=padding, ceil_mode=ceil_mode,
                                  count_include_pad=count_include_pad, divisor_override=divisor_override)
        return _from_end(res, moved)
    shape, hw = _input_shape(input_shape)
    k, s, pads, ohw, cip, div = _avg_setup(
        hw, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    expected = shape[:-2] + ohw
    if g.shape != expected:
        raise ValueError(
            f"grad_output has shape {g.shape}, expected the forward output shape {expected} "
            f"(input_shape {shape})"
        )
    cdt, rdt = compute_dtypes(g)
    check_size(shape, cdt.itemsize, "the gradient")
    gc = canonical(g, cdt)
    result = np.empty(shape, cdt)
    if result.size == 0:
        return finish(result, None, rdt)
    swap = hw[1] == ohw[1] == 1 and hw[0] > 1  # a one-column plane (and result) as the one-row plane it is in memory
    if swap:
        hw, ohw, k, s, pads = _swap(hw, ohw, k, s, pads)
    jlo, jhi, rch, rcw = _avg_plan(hw, ohw, k, s, pads, cip, div, cdt)
    nt = get_num_threads()  # the most; the kernel decides from the work size
    # Per-thread row buffer with zero borders (kw - 1 cells before, the padding after).
    work = np.zeros((nt, k[1] - 1 + max(ohw[1], hw[1] + pads[1][0])), cdt)
    _avgpool.backward(_planes(gc, swap), _planes(result, swap), work,
                      k[0], k[1], s[0], s[1], pads[0][0], pads[1][0], jlo, jhi, rch, rcw, nt)
    return finish(result, None, rdt)
