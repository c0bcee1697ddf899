"""unfold (the patch matrix, public im2col) and fold (its adjoint), NCHW and NHWC.

The functions validate the arguments with the shape helpers every convolution uses (the
output-size formula, with the caller's numbers in the error), and call the compiled
kernels in ``_patches``, which read the padding as zeros without storing it.
"""

import numpy as np

from . import _patches
from ._arrays import as_array, canonical, check_size, compute_dtypes, finish
from ._config import get_num_threads
from ._shapes import _conv_out_hw, _padding, _pair

__all__ = ["unfold", "fold"]

# Below this many elements touched, one thread is faster than waking the pool.
_PARALLEL_MIN = 1 << 15

_LAYOUTS = ("NCHW", "NHWC")


def _threads(work):
    return get_num_threads() if work >= _PARALLEL_MIN else 1


def _layout(layout):
    if not isinstance(layout, str):
        raise TypeError(f"layout must be 'NCHW' or 'NHWC', got {layout!r} of type {type(layout).__name__}")
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be 'NCHW' or 'NHWC' (upper case), got {layout!r}")
    return layout


def _geometry(kernel_size, stride, padding, dilation):
    k = _pair(kernel_size, "kernel_size")
    s = _pair(stride, "stride")
    d = _pair(dilation, "dilation")
    return k, s, _padding(padding, k, d), d


def unfold(x, kernel_size, /, *, stride=1, padding=0, dilation=1, layout="NCHW"):
    """Extract sliding patches: the patch (im2col) matrix of a batch.

    Parameters
    ----------
    x : array_like
        ``(N, C, H, W)`` (or unbatched ``(C, H, W)``) with ``layout='NCHW'``;
        ``(N, H, W, C)`` (or ``(H, W, C)``) with ``layout='NHWC'``. float32/float64 stay
        as they are, integers and bool compute in float64, float16 returns float16.
    kernel_size, stride, dilation : int or (int, int)
        Patch size, step and spacing between patch cells, each >= 1.
    padding : int, (int, int), ((int, int), (int, int)) or str
        Zero padding, as for :func:`cyconv.conv2d` (``'same'``, ``'full'``, ... included).
    layout : {'NCHW', 'NHWC'}
        Layout of ``x`` and of the result.

    Returns
    -------
    ndarray
        NCHW: ``(N, C*kh*kw, L)``, entry ``[n, (c*kh + i)*kw + j, oh*Wo + ow]`` =
        ``x[n, c, oh*sh - top + i*dh, ow*sw - left + j*dw]`` (0 in the padding), as
        ``torch.nn.functional.unfold``. NHWC: ``(N, L, kh*kw*C)``, entry
        ``[n, oh*Wo + ow, (i*kw + j)*C + c]``, channels fastest, as TensorFlow's
        ``extract_patches`` flattened. ``L = Ho*Wo`` from the output-size formula;
        unbatched inputs give the result without ``N``.

    Raises
    ------
    TypeError
        Non-real dtypes, non-integer sizes, a non-string ``layout``.
    ValueError
        Wrong number of dimensions, bad sizes or padding, a patch larger than the padded
        input (the message shows the formula with your numbers), an unknown ``layout``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> unfold(x, 2)
    array([[[0., 1., 3., 4.],
            [1., 2., 4., 5.],
            [3., 4., 6., 7.],
            [4., 5., 7., 8.]]])
    >>> unfold(np.arange(8.0).reshape(1, 2, 2, 2), 2, layout="NHWC")
    array([[[0., 1., 2., 3., 4., 5., 6., 7.]]])
    """
    layout = _layout(layout)
    x = as_array(x, "x")
    if x.ndim not in (3, 4):
        names = "(N, C, H, W) or (C, H, W)" if layout == "NCHW" else "(N, H, W, C) or (H, W, C)"
        raise ValueError(f"x must have shape {names} for layout={layout!r}, got {x.ndim} dimensions: {x.shape}")
    batched = x.ndim == 4
    xb = x if batched else x[None]
    if layout == "NCHW":
        N, C, H, W = xb.shape
    else:
        N, H, W, C = xb.shape
    k, s, pads, d = _geometry(kernel_size, stride, padding, dilation)
    Ho, Wo = _conv_out_hw((H, W), k, s, pads, d)
    L = Ho * Wo
    taps = C * k[0] * k[1]
    shape = (N, taps, L) if layout == "NCHW" else (N, L, taps)
    cdt, rdt = compute_dtypes(x)
    check_size(shape, max(cdt.itemsize, rdt.itemsize), "the result")
    if xb.size == 0:  # an empty batch or channel axis, or patches that read only padding
        cols = np.zeros(shape, rdt)
    else:
        xc = canonical(xb, cdt)
        buf = np.empty(shape, cdt)
        geom = np.array([k[0], k[1], s[0], s[1], d[0], d[1], pads[0][0], pads[1][0], Ho, Wo], np.intp)
        _patches.unfold(xc, buf, geom, layout == "NHWC", _threads(buf.size))
        cols = finish(buf, None, rdt)
    return cols if batched else cols[0]


def fold(cols, output_size, kernel_size, /, *, stride=1, padding=0, dilation=1, layout="NCHW"):
    """Sum sliding patches back into a batch: the adjoint of :func:`unfold`.

    Every entry of the patch matrix is added to the cell it was taken from (overlapping
    patches add up); entries that came from the padding are dropped.
    ``fold(unfold(x, ...), (H, W), ...)`` is ``x`` times how many patches hold each cell.

    Parameters
    ----------
    cols : array_like
        NCHW: ``(N, C*kh*kw, L)`` (or ``(C*kh*kw, L)``); NHWC: ``(N, L, kh*kw*C)`` (or
        ``(L, kh*kw*C)``), as :func:`unfold` returns them.
    output_size : int or (int, int)
        ``(H, W)`` of the result.
    kernel_size, stride, padding, dilation, layout
        As for :func:`unfold`; ``L`` must be the number of patches they give on an
        ``output_size`` input.

    Returns
    -------
    ndarray
        ``(N, C, H, W)`` (NCHW) or ``(N, H, W, C)`` (NHWC), without ``N`` for unbatched
        ``cols``. dtypes as for :func:`unfold`.

    Raises
    ------
    TypeError
        Non-real dtypes, non-integer sizes, a non-string ``layout``.
    ValueError
        Wrong number of dimensions, a patch axis not a multiple of ``kh*kw``, a number of
        patches that does not match ``output_size``, bad sizes, an unknown ``layout``.

    Examples
    --------
    >>> import numpy as np
    >>> fold(np.ones((1, 4, 4)), (3, 3), 2)
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    """
    layout = _layout(layout)
    c = as_array(cols, "cols")
    if c.ndim not in (2, 3):
        names = "(N, C*kh*kw, L) or (C*kh*kw, L)" if layout == "NCHW" else "(N, L, kh*kw*C) or (L, kh*kw*C)"
        raise ValueError(f"cols must have shape {names} for layout={layout!r}, got {c.ndim} dimensions: {c.shape}")
    batched = c.ndim == 3
    cb = c if batched else c[None]
    k, s, pads, d = _geometry(kernel_size, stride, padding, dilation)
    H, W = _pair(output_size, "output_size", minimum=0)
    if layout == "NCHW":
        N, taps, L = cb.shape
        tap_axis, l_axis = (1, 2) if batched else (0, 1)
    else:
        N, L, taps = cb.shape
        tap_axis, l_axis = (2, 1) if batched else (1, 0)
    if taps % (k[0] * k[1]):
        raise ValueError(
            f"cols axis {tap_axis} has {taps} entries per patch, not a multiple of the "
            f"{k[0]}x{k[1]} = {k[0] * k[1]} kernel cells (shape {c.shape}, layout={layout!r})"
        )
    C = taps // (k[0] * k[1])
    Ho, Wo = _conv_out_hw((H, W), k, s, pads, d)
    if L != Ho * Wo:
        raise ValueError(
            f"cols axis {l_axis} has {L} patches, but output_size {(H, W)} with kernel_size {k}, "
            f"stride {s}, padding {pads}, dilation {d} has {Ho} x {Wo} = {Ho * Wo} patches"
        )
    shape = (N, C, H, W) if layout == "NCHW" else (N, H, W, C)
    cdt, rdt = compute_dtypes(c)
    check_size(shape, max(cdt.itemsize, rdt.itemsize), "the result")
    if N * C * H * W == 0:
        out = np.zeros(shape, rdt)
    else:
        cc = canonical(cb, cdt)
        buf = np.empty(shape, cdt)
        nt = _threads(cc.size + buf.size)
        # NHWC units are channel blocks of one image: enough of them for every thread.
        blocks = max(1, min(C, -(-nt // N)))
        geom = np.array([k[0], k[1], s[0], s[1], d[0], d[1], pads[0][0], pads[1][0], Ho, Wo, -(-C // blocks)],
                        np.intp)
        _patches.fold(cc, buf, geom, layout == "NHWC", nt)
        out = finish(buf, None, rdt)
    return out if batched else out[0]
