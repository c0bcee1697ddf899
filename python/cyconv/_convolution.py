"""Forward convolutions: correlate2d, convolve2d and conv2d.

The Python layer normalises and validates (``_conv_args.conv_setup``), allocates
the result, and picks one of three strategies for the compiled kernels in
``cyconv._conv``:

* 1x1, stride 1, unpadded: the convolution *is* a matrix product, one
  ``np.matmul`` on the reshaped input (no gathering at all);
* GEMM: patches gathered (im2col) into a bounded workspace, one ``np.matmul``
  per group and block (NumPy's multithreaded BLAS), bias added in the kernel;
  small images are batched into one wide product, large ones are split into
  blocks of output rows so the workspace never exceeds
  :func:`cyconv.get_workspace_limit`;
* direct: output rows as sums of scaled shifted input rows, parallel over rows,
  no workspace -- for depthwise/grouped, single-channel and tiny convolutions.
"""

import os

import numpy as np

from ._config import get_num_threads
from ._arrays import as_array, canonical, compute_dtypes, finish, result_buffer
from ._conv_args import PADDING_MODES, _check_mode_padding, conv_setup, padding_mode_of
from ._shapes import _conv_out_hw, _padding, _pair, _spatial
from ._workspace import get_workspace_limit

__all__ = ["conv2d", "convolve2d", "correlate2d"]


def _cpu_has_avx2_fma():
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return False
    return bool(features.get("AVX2") and features.get("FMA3"))


def _load_kernels():
    """The convolution kernels: the AVX2+FMA build when the CPU can run it.

    Setting the environment variable ``CYCONV_BASELINE_KERNELS=1`` forces the
    baseline build (for testing both).
    """
    if not os.environ.get("CYCONV_BASELINE_KERNELS") and _cpu_has_avx2_fma():
        try:
            from . import _conv_avx2

            return _conv_avx2
        except ImportError:  # not built (non-x86 platform)
            pass
    from . import _conv

    return _conv


_conv = _load_kernels()

_NO_BIAS = {np.dtype(np.float32): np.zeros(1, np.float32), np.dtype(np.float64): np.zeros(1, np.float64)}

# Strategy thresholds (measured on a 2-core AVX-512 machine, see the module docstring).
_DIRECT_MAX_TAPS = 8  # C_in/groups * kh * kw at or below this: the direct kernel
_DIRECT_MAX_FLOPS = 1 << 17  # whole convolutions smaller than this: the direct kernel
_GEMM_MIN_COLS = 4096  # batch small images until one product has this many columns
_DIRECT_SCRATCH_BYTES = 128 << 10  # direct kernel: input rows per work unit (L2-sized)
_PARALLEL_MIN_FLOPS = 1 << 16  # below this, threads cost more than they save


def _forward(x, w, b, stride, pads, dilation, groups, buf):
    """conv2d of canonical 4-D arrays into the canonical result buffer ``buf``."""
    n, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    _, _, ho, wo = buf.shape
    if n == 0:
        return
    has_bias = b is not None
    bias = b if has_bias else _NO_BIAS[x.dtype]
    (pt, _), (pl, _) = pads
    geom = (kh, kw, stride[0], stride[1], dilation[0], dilation[1], pt, pl, ho, wo)
    taps = cg * kh * kw
    length = ho * wo
    itemsize = x.itemsize
    limit = get_workspace_limit()
    pointwise = kh == 1 and kw == 1 and stride == (1, 1) and pads == ((0, 0), (0, 0))
    if not pointwise and (
        taps <= _DIRECT_MAX_TAPS
        or cg == 1
        or n * c_out * length * taps < _DIRECT_MAX_FLOPS
        or taps * wo * itemsize > limit
    ):
        _direct(x, w, bias, has_bias, buf, groups, geom)
        return
    cog = c_out // groups
    wmat = w.reshape(groups, cog, taps)
    out3 = buf.reshape(n, c_out, length)
    if pointwise:
        x3 = x.reshape(n, groups, cg, length)
        o4 = buf.reshape(n, groups, cog, length)
        for g in range(groups):
            np.matmul(wmat[g], x3[:, g], out=o4[:, g])
        if has_bias:
            _conv.add_bias(out3, bias, 0, n, 0, length)
        return

    per_image = taps * length * itemsize
    if per_image > limit:
        # One image's columns exceed the workspace: blocks of output rows.
        rows = max(1, limit // (taps * wo * itemsize))
        cols = np.empty(taps * min(rows, ho) * wo, x.dtype)
        for img in range(n):
            for oh0 in range(0, ho, rows):
                oh1 = min(ho, oh0 + rows)
                span = (oh1 - oh0) * wo
                block = cols[: taps * span].reshape(taps, span)
                for g in range(groups):
                    _conv.im2col_images(x, block, geom, img, 1, g * cg, cg, oh0, oh1)
                    np.matmul(wmat[g], block,
                              out=out3[img, g * cog:(g + 1) * cog, oh0 * wo:oh1 * wo])
                if has_bias:
                    _conv.add_bias(out3, bias, img, 1, oh0 * wo, oh1 * wo)
        return

    # Whole images; batch small ones into one wider product (needs a scratch product).
    nb = min(n, -(-_GEMM_MIN_COLS // length), max(1, limit // ((taps + cog) * length * itemsize)))
    cols = np.empty(taps * nb * length, x.dtype)
    prod = np.empty(cog * nb * length, x.dtype) if nb > 1 else None
    for n0 in range(0, n, nb):
        k = min(nb, n - n0)
        block = cols[: taps * k * length].reshape(taps, k * length)
        for g in range(groups):
            _conv.im2col_images(x, block, geom, n0, k, g * cg, cg, 0, ho)
            if prod is None:
                np.matmul(wmat[g], block, out=out3[n0, g * cog:(g + 1) * cog])
            else:
                p = prod[: cog * k * length].reshape(cog, k * length)
                np.matmul(wmat[g], block, out=p)
                _conv.scatter_bias(p, out3, bias, has_bias, n0, k, g * cog)
        if prod is None and has_bias:
            _conv.add_bias(out3, bias, n0, 1, 0, length)


def _direct(x, w, bias, has_bias, buf, groups, geom):
    """The direct kernel: blocks of output rows per (image, group), one scratch per thread."""
    n, c_out, ho, wo = buf.shape
    cg = w.shape[1]
    kh, kw, sh, sw, dh, dw = geom[:6]
    wp = (wo - 1) * sw + (kw - 1) * dw + 1
    row_bytes = cg * sh * wp * x.itemsize  # scratch per extra output row
    # Blocks small enough for the L2 cache, and enough of them to keep every thread busy.
    rows = max(1, min(ho, _DIRECT_SCRATCH_BYTES // row_bytes))
    threads = get_num_threads()
    if n * c_out * ho * wo * cg * kh * kw < _PARALLEL_MIN_FLOPS:
        threads = 1
    want = 4 * threads
    units = n * groups
    if units < want:
        rows = min(rows, -(-ho // -(-want // units)))
    units *= -(-ho // rows)
    threads = max(1, min(threads, units))
    scratch = np.empty((threads, cg * ((rows - 1) * sh + (kh - 1) * dh + 1) * wp), x.dtype)
    offsets = np.empty((threads, cg * kh * kw), np.intp)
    _conv.direct_conv(x, w, bias, has_bias, buf, groups, geom, rows, scratch, offsets)


def _inputs(*arrays):
    return [a for a in arrays if isinstance(a, np.ndarray)]


def conv2d(x, weight, bias=None, /, *, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", out=None):
    """Multi-channel 2-D convolution (cross-correlation, as in deep learning).

    ``out[n, co] = bias[co] + sum_{ci in group(co)} corr(x[n, ci], weight[co, ci - first])``
    with PyTorch's layout and semantics (``torch.nn.functional.conv2d``).

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W) or (C_in, H, W)
        The input batch (or one image).
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
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        What the padding holds.
    out : ndarray, optional
        Receives the result (exact shape and dtype, writable, not overlapping an input).

    Returns
    -------
    ndarray, shape (N, C_out, Ho, Wo) or (C_out, Ho, Wo)
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
        input, a bad ``padding``/``padding_mode``, a bad ``out``.

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
    """
    s = conv_setup(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, padding_mode=padding_mode)
    shape = s.out_shape if s.batched else s.out_shape[1:]
    buf, out = result_buffer(out, shape, s.compute_dtype, s.result_dtype, _inputs(x, weight, bias))
    _forward(s.x, s.weight, s.bias, s.stride, s.padding, s.dilation, s.groups,
             buf.reshape(s.out_shape))
    return finish(buf, out, s.result_dtype)


def _plane_conv(x, kernel, stride, padding, dilation, padding_mode, out, flip):
    """correlate2d / convolve2d: the 2-D kernel over every (H, W) plane of x."""
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
    hw = _spatial(x.shape, "x")
    pads = _padding(padding, kernel.shape, dilation)
    out_hw = _conv_out_hw(hw, kernel.shape, stride, pads, dilation)
    compute_dtype, result_dtype = compute_dtypes(x, kernel)
    lead = x.shape[:-2]
    buf, out = result_buffer(out, lead + out_hw, compute_dtype, result_dtype, _inputs(x, kernel))
    planes = buf.size // (out_hw[0] * out_hw[1])
    if planes:
        x4 = canonical(x, compute_dtype).reshape((planes, 1) + hw)
        if PADDING_MODES[mode] is not None and any(map(any, pads)):
            _check_mode_padding(mode, pads, hw)
            x4 = np.pad(x4, ((0, 0), (0, 0)) + pads, mode=PADDING_MODES[mode])
            pads = ((0, 0), (0, 0))
        if flip:
            kernel = kernel[::-1, ::-1]
        w4 = canonical(kernel, compute_dtype).reshape((1, 1) + kernel.shape)
        _forward(x4, w4, None, stride, pads, dilation, 1, buf.reshape((planes, 1) + out_hw))
    elif PADDING_MODES[mode] is not None and any(map(any, pads)):
        _check_mode_padding(mode, pads, hw)
    return finish(buf, out, result_dtype)


def correlate2d(x, kernel, /, *, stride=1, padding=0, dilation=1, padding_mode="zeros", out=None):
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
        As for :func:`cyconv.conv2d`; ``'full'`` and ``'valid'`` match SciPy's modes.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
    out : ndarray, optional
        Receives the result.

    Returns
    -------
    ndarray, shape (..., Ho, Wo)

    Raises
    ------
    TypeError, ValueError
        As for :func:`cyconv.conv2d`.

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
    """
    return _plane_conv(x, kernel, stride, padding, dilation, padding_mode, out, False)


def convolve2d(x, kernel, /, *, stride=1, padding=0, dilation=1, padding_mode="zeros", out=None):
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
    stride, padding, dilation, padding_mode, out
        As for :func:`correlate2d`.

    Returns
    -------
    ndarray, shape (..., Ho, Wo)

    Raises
    ------
    TypeError, ValueError
        As for :func:`cyconv.conv2d`.

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
    return _plane_conv(x, kernel, stride, padding, dilation, padding_mode, out, True)


def _todo(*args, **kwargs):
    """Placeholder for functions of the gradients branch that have not landed yet."""
    raise NotImplementedError


# conv_transpose2d lives with the gradients (_convolution_grad.py, which may import from
# this module, hence the import at the end); re-exported here for cyconv/__init__.py.
try:
    from ._convolution_grad import conv_transpose2d  # noqa: E402, F401
except ImportError:  # the gradients branch has not landed yet
    conv_transpose2d = _todo
