"""Adaptive average and max pooling over two axes, and the average's gradient.

The output size is fixed and the windows (bins) follow from it, as in PyTorch: output
``i`` of an axis of ``n`` cells pooled to ``o`` covers cells ``floor(i*n/o)`` up to, not
including, ``ceil((i+1)*n/o)``. The functions here validate the arguments, work out each
axis' bins once, and call the compiled kernels in ``_adaptive_pool`` on the array viewed
as ``(P, A, Q, B, R)`` (the two pooled axes ``A``, ``B`` in memory order): any pair of
axes, e.g. an ``(H, W, C)`` image with ``axes=(0, 1)``, is pooled in place, without a
transpose.
"""

import math

import numpy as np

from . import _adaptive_pool
from ._arrays import as_array, canonical, check_size, compute_dtypes, finish
from ._config import get_num_threads
from ._shapes import _int, _shape_tuple

__all__ = ["adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d_backward"]

# Below this many elements touched, one thread is faster than waking the pool.
_PARALLEL_MIN = 1 << 15

_I64 = np.dtype(np.int64)
_F32 = np.dtype(np.float32)


def _threads(work):
    return get_num_threads() if work >= _PARALLEL_MIN else 1


def _axes(axes, ndim, name="x"):
    """Normalise ``axes`` to two distinct non-negative axis numbers of an ``ndim``-array."""
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise ValueError(f"axes must be a pair of two distinct axes, got {axes!r}")
    if ndim < 2:
        raise ValueError(f"{name} must have at least 2 dimensions to pool over two axes, got {ndim}")
    out = []
    for a in axes:
        a = _int(a, "axes")
        if not -ndim <= a < ndim:
            raise ValueError(f"axes {tuple(axes)!r} out of range for {name} with {ndim} dimensions")
        out.append(a % ndim)
    if out[0] == out[1]:
        raise ValueError(f"axes must name two different axes, got {tuple(axes)!r} (both axis {out[0]})")
    return tuple(out)


def _output_size(output_size, hw):
    """``output_size`` (int, pair, ``None`` in a pair = keep) -> (oh, ow), each >= 0
    (0 gives an empty result, as in PyTorch)."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(
                f"output_size must be an int or a pair (oh, ow) (None keeps an axis), "
                f"got a sequence of length {len(output_size)}: {output_size!r}"
            )
        pair = tuple(n if v is None else _int(v, "output_size") for v, n in zip(output_size, hw))
    elif output_size is None:
        raise TypeError("output_size must be an int or a pair (oh, ow); None is only allowed inside a pair")
    else:
        v = _int(output_size, "output_size")
        pair = (v, v)
    if pair[0] < 0 or pair[1] < 0:
        raise ValueError(f"output_size must be >= 0, got {output_size!r}")
    return pair


def _bins(n, o):
    """PyTorch's bins of one axis: start = floor(i*n/o), end = ceil((i+1)*n/o)."""
    i = np.arange(o, dtype=object) if n * o > 2**62 else np.arange(o, dtype=np.int64)
    start = (i * n) // o
    end = -((-(i + 1) * n) // o)
    return np.ascontiguousarray(start, np.intp), np.ascontiguousarray(end, np.intp)


def _five(shape, lo, hi):
    """(P, A, Q, B, R) for pooled axes lo < hi."""
    return (math.prod(shape[:lo]), shape[lo], math.prod(shape[lo + 1:hi]), shape[hi],
            math.prod(shape[hi + 1:]))


def _setup(x, output_size, axes):
    x = as_array(x, "x")
    ax = _axes(axes, x.ndim)
    hw = (x.shape[ax[0]], x.shape[ax[1]])
    if hw[0] < 1 or hw[1] < 1:
        raise ValueError(
            f"x has an empty pooled axis: shape {x.shape}, axes {ax} have sizes {hw} "
            f"(adaptive pooling needs at least one cell per bin)"
        )
    ohw = _output_size(output_size, hw)
    shape = list(x.shape)
    shape[ax[0]], shape[ax[1]] = ohw
    return x, ax, hw, ohw, tuple(shape)


def _plan(ax, hw, ohw):
    """Bins in memory order (lo axis first) and the index multipliers of ``h*W + w``."""
    bh, bw = _bins(hw[0], ohw[0]), _bins(hw[1], ohw[1])
    if ax[0] < ax[1]:
        return ax[0], ax[1], bh, bw, hw[1], 1
    return ax[1], ax[0], bw, bh, 1, hw[1]


def adaptive_avg_pool2d(x, output_size, /, *, axes=(-2, -1)):
    """Adaptive 2-D average pooling: each plane of ``x`` pooled to ``output_size``.

    Parameters
    ----------
    x : array_like
        At least two dimensions; the two ``axes`` are pooled, the others kept. float32 and
        float64 stay as they are; integers and bool compute in float64; float16 computes
        in float32 and returns float16.
    output_size : int or (int or None, int or None)
        Output height and width (>= 0); ``None`` in a pair keeps that axis' size. May
        exceed the input size (bins then repeat cells).
    axes : (int, int)
        The height and width axes of ``x``; ``(0, 1)`` for an ``(H, W, C)`` image.

    Returns
    -------
    ndarray
        ``x``'s shape with the two axes replaced by ``output_size``. Output ``(i, j)`` is the
        mean of rows ``floor(i*H/oh) <= h < ceil((i+1)*H/oh)`` and the same rule for columns
        (PyTorch's bins).

    Raises
    ------
    TypeError
        Non-real dtypes, non-integer sizes.
    ValueError
        Fewer than two dimensions, bad ``axes``, an empty pooled axis, ``output_size < 0``.

    Examples
    --------
    >>> import numpy as np
    >>> adaptive_avg_pool2d(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    >>> adaptive_avg_pool2d(np.arange(5.0).reshape(1, 5), (None, 2))
    array([[1., 3.]])
    """
    x, ax, hw, ohw, shape = _setup(x, output_size, axes)
    cdt, rdt = compute_dtypes(x)
    check_size(shape, max(cdt.itemsize, rdt.itemsize), "the result")
    lo, hi, (as_, ae), (bs, be), _, _ = _plan(ax, hw, ohw)
    xc = canonical(x, cdt)
    buf = np.empty(shape, cdt)
    _adaptive_pool.avg_forward(xc.reshape(_five(x.shape, lo, hi)), buf.reshape(_five(shape, lo, hi)),
                               as_, ae, bs, be, _threads(x.size + buf.size))
    return finish(buf, None, rdt)


def adaptive_max_pool2d(x, output_size, /, *, return_indices=False, axes=(-2, -1)):
    """Adaptive 2-D max pooling: each plane of ``x`` pooled to ``output_size``.

    Parameters
    ----------
    x : array_like
        At least two dimensions. Any real dtype; the result has the same dtype (values are
        never rounded), as with :func:`cyconv.max_pool2d`.
    output_size : int or (int or None, int or None)
        Output height and width; ``None`` in a pair keeps that axis' size.
    return_indices : bool
        Also return the int64 position ``h*W + w`` of each maximum in its ``(H, W)`` plane
        (``H``, ``W`` the sizes of ``axes``), the indices
        :func:`cyconv.max_pool2d_backward` takes.
    axes : (int, int)
        The height and width axes of ``x``.

    Returns
    -------
    ndarray or (ndarray, ndarray)
        The maxima (``x``'s shape with the two axes replaced by ``output_size``), and with
        ``return_indices`` their indices. Bins as in :func:`adaptive_avg_pool2d`; ties go
        to the first maximum in row-major order, NaN propagates (the index points at the
        bin's last NaN), as in PyTorch.

    Raises
    ------
    TypeError
        Non-real dtypes, non-integer sizes, a non-bool ``return_indices``.
    ValueError
        Fewer than two dimensions, bad ``axes``, an empty pooled axis, ``output_size < 0``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1, 7, 2], [4, 0, 7]], np.uint8)
    >>> adaptive_max_pool2d(x, (1, 2), return_indices=True)
    (array([[7, 7]], dtype=uint8), array([[1, 1]]))
    """
    if not isinstance(return_indices, (bool, np.bool_)):
        raise TypeError(f"return_indices must be a bool, got {return_indices!r} of type "
                        f"{type(return_indices).__name__}")
    x, ax, hw, ohw, shape = _setup(x, output_size, axes)
    dtype = x.dtype.newbyteorder("=")
    kdt = _F32 if (dtype.kind == "f" and dtype.itemsize == 2) else dtype
    check_size(shape, kdt.itemsize, "the result")
    lo, hi, (as_, ae), (bs, be), sa, sb = _plan(ax, hw, ohw)
    xc = canonical(x, kdt)
    buf = np.empty(shape, kdt)
    indices = None
    if return_indices:
        check_size(shape, 8, "the indices")
        indices = np.empty(shape, _I64)
    kx, kbuf = (xc.view(np.uint8), buf.view(np.uint8)) if kdt.kind == "b" else (xc, buf)
    five_in, five_out = _five(x.shape, lo, hi), _five(shape, lo, hi)
    _adaptive_pool.max_forward(kx.reshape(five_in), kbuf.reshape(five_out),
                               None if indices is None else indices.reshape(five_out),
                               as_, ae, bs, be, sa, sb, _threads(x.size + buf.size))
    result = finish(buf, None, dtype)
    return (result, indices) if return_indices else result


def adaptive_avg_pool2d_backward(grad_output, input_shape, /, *, axes=(-2, -1)):
    """Gradient of :func:`adaptive_avg_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the pooled values; its sizes along ``axes``
        are the forward ``output_size``, its other axes those of ``input_shape``.
    input_shape : tuple of int
        Shape of the pooled input.
    axes : (int, int)
        The forward call's ``axes``.

    Returns
    -------
    ndarray of shape ``input_shape``
        Each input cell receives ``grad_output[i, j] / |bin(i, j)|`` from every bin that
        contains it. float32/float64 as ``grad_output``; integer/bool -> float64;
        float16 -> float16.

    Raises
    ------
    TypeError
        Non-real ``grad_output``, a non-integer shape.
    ValueError
        Mismatched shapes, bad ``axes``, an empty pooled axis.

    Examples
    --------
    >>> import numpy as np
    >>> adaptive_avg_pool2d_backward(np.ones((1, 1)), (2, 2))
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    g = as_array(grad_output, "grad_output")
    shape = _shape_tuple(input_shape, "input_shape")
    if any(v < 0 for v in shape):
        raise ValueError(f"input_shape must not have negative sizes, got {shape}")
    ax = _axes(axes, len(shape), "input_shape")
    hw = (shape[ax[0]], shape[ax[1]])
    if hw[0] < 1 or hw[1] < 1:
        raise ValueError(f"input_shape {shape} has an empty pooled axis: axes {ax} have sizes {hw}")
    if g.ndim != len(shape):
        raise ValueError(f"grad_output has shape {g.shape}, expected {len(shape)} dimensions as "
                         f"input_shape {shape}")
    ohw = (g.shape[ax[0]], g.shape[ax[1]])
    expect = list(shape)
    expect[ax[0]], expect[ax[1]] = ohw
    if tuple(expect) != g.shape:
        raise ValueError(
            f"grad_output has shape {g.shape}: outside the pooled axes {ax} it must match "
            f"input_shape {shape}"
        )
    cdt, rdt = compute_dtypes(g)
    check_size(shape, max(cdt.itemsize, rdt.itemsize), "the gradient")
    if min(ohw) == 0:  # an empty forward result: nothing flows back
        return np.zeros(shape, rdt)
    lo, hi, (as_, ae), (bs, be), _, _ = _plan(ax, hw, ohw)
    n_lo, n_hi = shape[lo], shape[hi]
    # The output bins that contain each input cell: ends and starts are nondecreasing.
    cells_lo, cells_hi = np.arange(n_lo), np.arange(n_hi)
    ilo = np.searchsorted(ae, cells_lo, side="right").astype(np.intp)
    ihi = np.searchsorted(as_, cells_lo, side="right").astype(np.intp)
    jlo = np.searchsorted(be, cells_hi, side="right").astype(np.intp)
    jhi = np.searchsorted(bs, cells_hi, side="right").astype(np.intp)
    ra = (1.0 / (ae - as_)).astype(cdt)
    rb = (1.0 / (be - bs)).astype(cdt)
    gc = canonical(g, cdt)
    result = np.empty(shape, cdt)
    g5, r5 = gc.reshape(_five(g.shape, lo, hi)), result.reshape(_five(shape, lo, hi))
    nt = _threads(result.size + g.size)
    work = np.empty((nt, g5.shape[3] * g5.shape[4]), cdt)  # one scratch row per thread
    _adaptive_pool.avg_backward(g5, r5, work, ra, rb, ilo, ihi, jlo, jhi, nt)
    return finish(result, None, rdt)
