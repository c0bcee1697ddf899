"""Padding modes: the padding itself and its adjoint, on any two spatial axes.

The convolutions' kernels only know zero padding. For the other modes the Python layer
pads the input explicitly with :func:`pad` before the kernel runs, and a backward pass
folds the gradient of the padded input back onto the input with :func:`pad_adjoint`:
every padded cell is a copy of one input cell, so its gradient is added to that cell.

Both work from one index array per axis (:func:`source_index`): position ``q`` of the
padded axis copies input cell ``source_index(...)[q]``. The modes mean what
``numpy.pad`` means for every padding size, wrapping or mirroring as often as the padding
needs (PyTorch limits reflect to padding < size and circular to padding <= size):

============  ============  ===============  ==============  ======================
cyconv        numpy.pad     scipy.ndimage    scipy.signal    PyTorch
============  ============  ===============  ==============  ======================
'zeros'       'constant'    'constant'       'fill'          'zeros'
'reflect'     'reflect'     'mirror'         --              'reflect'
'replicate'   'edge'        'nearest'        --              'replicate'
'circular'    'wrap'        'wrap'           'wrap'          'circular'
'symmetric'   'symmetric'   'reflect'        'symm'          --
============  ============  ===============  ==============  ======================

'reflect' mirrors about the edge cell (``d c b | a b c d | c b a``, period ``2n - 2``),
'symmetric' about the edge itself (``c b a | a b c d | d c b``, period ``2n``). A one-cell
axis reflects to copies of its cell, as in numpy.pad. An empty axis can only be padded
with zeros (there is nothing to copy): the other modes raise a ``ValueError``.
"""

import numpy as np

__all__ = ["PADDING_MODES", "NUMPY_NAMES", "source_index", "pad", "pad_adjoint", "check_mode_padding"]

#: The padding modes, in the order error messages list them.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
#: The numpy.pad name of each mode.
NUMPY_NAMES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap",
               "symmetric": "symmetric"}



def source_index(n, before, after, mode):
    """The input cell each cell of a padded axis copies.

    Parameters
    ----------
    n : int
        Length of the unpadded axis (>= 1 unless ``mode`` is 'zeros').
    before, after : int
        Padding on each side (>= 0, any size).
    mode : str
        One of :data:`PADDING_MODES`.

    Returns
    -------
    ndarray of intp, shape (before + n + after,)
        ``index[q]`` in ``[0, n)`` is the input cell padded position ``q`` holds; -1 for
        a zero cell (mode 'zeros').

    Examples
    --------
    >>> source_index(3, 4, 4, "reflect")
    array([0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2])
    >>> source_index(3, 4, 4, "symmetric")
    array([2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0])
    >>> source_index(3, 4, 4, "circular")
    array([2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    """
    q = np.arange(-before, n + after, dtype=np.intp)
    if mode == "zeros":
        return np.where((q >= 0) & (q < n), q, -1)
    if mode == "replicate":
        return np.clip(q, 0, n - 1)
    if mode == "circular":
        return q % n
    if mode == "reflect":
        if n == 1:
            return np.zeros_like(q)
        m = q % (2 * n - 2)
        return np.where(m < n, m, 2 * n - 2 - m)
    if mode == "symmetric":
        m = q % (2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    raise ValueError(f"unknown padding mode {mode!r}")


def check_mode_padding(mode, pads, hw, name="input"):
    """A non-zero mode needs a non-empty axis wherever it pads (any padding size is fine)."""
    if mode == "zeros":
        return
    for (before, after), n, axis in zip(pads, hw, ("height", "width")):
        if n == 0 and (before or after):
            raise ValueError(
                f"padding_mode={mode!r} copies input cells into the padding, but the {name} "
                f"{axis} is 0 (padding {(before, after)}); only padding_mode='zeros' can pad an "
                f"empty axis"
            )


def _axes(ndim, axes):
    a = tuple(ax + ndim if ax < 0 else ax for ax in axes)
    if len(a) != 2 or a[0] == a[1] or not all(0 <= ax < ndim for ax in a):
        raise ValueError(f"axes must be two distinct axes of a {ndim}-d array, got {axes!r}")
    return a


def pad(x, pads, mode, axes=(-2, -1)):
    """Pad two axes of ``x`` by ``pads = ((top, bottom), (left, right))`` in ``mode``.

    Equal to ``numpy.pad`` with the mode's numpy name (see the module's table) for every
    padding size; the result is a new C-contiguous array.

    Examples
    --------
    >>> import numpy as np
    >>> pad(np.array([[1, 2, 3]]), ((0, 0), (5, 5)), "circular")
    array([[2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2]])
    >>> x = np.arange(6).reshape(1, 2, 3)
    >>> np.array_equal(pad(x, ((3, 2), (7, 4)), "symmetric", axes=(1, 2)),
    ...                np.pad(x, ((0, 0), (3, 2), (7, 4)), mode="symmetric"))
    True
    """
    ah, aw = _axes(x.ndim, axes)
    if mode == "zeros":
        widths = [(0, 0)] * x.ndim
        widths[ah], widths[aw] = tuple(pads[0]), tuple(pads[1])
        return np.pad(x, widths)
    (top, bottom), (left, right) = pads
    H, W = x.shape[ah], x.shape[aw]
    check_mode_padding(mode, pads, (H, W))
    shape = list(x.shape)
    shape[ah], shape[aw] = top + H + bottom, left + W + right
    out = np.empty(shape, x.dtype)
    # the interior by a plain copy, then each border from the cells it copies: the
    # rows first (from x), then the columns of every row (from out's own interior)
    rows = [slice(None)] * x.ndim
    rows[ah], rows[aw] = slice(top, top + H), slice(left, left + W)
    out[tuple(rows)] = x
    if top or bottom:
        src = source_index(H, top, bottom, mode)
        for seg in (slice(0, top), slice(top + H, top + H + bottom)):
            rows[ah] = seg
            out[tuple(rows)] = np.take(x, src[seg], axis=ah)
    if left or right:
        src = source_index(W, left, right, mode) + left
        cols = [slice(None)] * x.ndim
        for seg in (slice(0, left), slice(left + W, left + W + right)):
            cols[aw] = seg
            out[tuple(cols)] = np.take(out, src[seg], axis=aw)
    return out


def pad_adjoint(g, pads, mode, hw, axes=(-2, -1)):
    """The adjoint of :func:`pad`: fold the gradient of a padded array onto the input.

    ``g`` has the padded shape; the result has ``hw`` on ``axes``. Each input cell gets
    its own gradient plus that of every padded cell that copies it (for 'zeros' the
    padding is dropped). Folding is exact summation in ``g``'s dtype: inf and NaN
    propagate as IEEE arithmetic says (``inf + -inf`` is NaN, silently).

    Examples
    --------
    >>> import numpy as np
    >>> pad_adjoint(np.ones((1, 7)), ((0, 0), (2, 2)), "reflect", (1, 3))
    array([[2., 3., 2.]])
    >>> pad_adjoint(np.ones((1, 7)), ((0, 0), (2, 2)), "circular", (1, 3))
    array([[2., 3., 2.]])
    """
    ah, aw = _axes(g.ndim, axes)
    for axis, (before, after), n in ((ah, pads[0], hw[0]), (aw, pads[1], hw[1])):
        if not (before or after):
            continue
        index = [slice(None)] * g.ndim
        index[axis] = slice(before, before + n)
        folded = g[tuple(index)].copy()
        if mode != "zeros":
            src = source_index(n, before, after, mode)
            with np.errstate(all="ignore"):
                for seg in (np.arange(before), np.arange(before + n, before + n + after)):
                    if not seg.size:
                        continue
                    dst = src[seg]
                    part = np.take(g, seg, axis=axis)
                    if mode == "replicate":  # every padded cell of the side copies one cell
                        index[axis] = dst[:1]
                        folded[tuple(index)] += part.sum(axis=axis, keepdims=True)
                    elif seg.size <= (n - 1 if mode == "reflect" else n):
                        # within one period the copied cells are distinct: a plain add
                        index[axis] = dst
                        folded[tuple(index)] += part
                    else:
                        index[axis] = dst
                        np.add.at(folded, tuple(index), part)
        g = folded
    return g
