"""Forward convolutions: correlate2d, convolve2d and conv2d.

The Python layer normalises and validates (``_conv_args.conv_setup``; for the common
already-canonical call, a compiled check, ``_fastpath.fast_geometry``, that
correlate2d/convolve2d share), allocates the result, and
picks one of three strategies for the compiled kernels in ``cyconv._conv``
(``cyconv._conv_avx2``, the same source built for AVX2+FMA, when the CPU has them):

* pointwise -- 1x1, stride 1, unpadded: the convolution *is* a matrix product, one
  ``np.matmul`` per group on the reshaped input (no gathering at all);
* GEMM -- patches gathered (im2col) into a workspace, one ``np.matmul`` per group
  and block (NumPy's multithreaded BLAS), bias added in the kernel; small images are
  batched into one wide product, an image whose patches exceed
  :func:`cyconv.get_workspace_limit` is split into blocks of output rows. The
  gather runs on one thread: OpenMP workers spinning between BLAS calls starve
  BLAS's own threads on a busy machine;
* direct -- per (image, group, block of output rows), the input rows are copied
  zero-padded into a small per-thread scratch, then each output row is the sum of
  scaled, shifted scratch rows, several taps per pass; parallel over the blocks, no
  workspace. For depthwise/grouped, single-channel, few-output-channel and tiny
  convolutions, and whenever one output row's patches would not fit the workspace.

Before any of them, kernel rows/columns that only ever read zero padding (huge
dilations or paddings) are dropped, so no scratch grows with the padding. The direct
kernel's scratch still spans the padded rows between taps that a large stride puts
far apart; when that is out of proportion to the arrays, the GEMM runs instead (or,
if one output row's patches exceed the workspace limit too, a MemoryError).
"""

import numpy as np

from ._arrays import as_array, canonical, compute_dtypes, finish, result_buffer
from ._config import get_num_threads
from ._conv_args import PADDING_MODES, _check_mode_padding, conv_setup, fast_geometry, padding_mode_of
from ._padding_modes import pad as _pad_mode
from ._dispatch import load_kernels
from ._shapes import _conv_out_hw, _padding, _pair, _spatial
from ._workspace import get_workspace_limit

__all__ = ["conv2d", "convolve2d", "correlate2d"]

_conv = load_kernels("_conv")  # the AVX2+FMA build when the CPU has them

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_NO_BIAS = {_F32: np.zeros(1, np.float32), _F64: np.zeros(1, np.float64)}

# Strategy thresholds, measured on a 2-core AVX-512 machine (single-thread CPU time, AVX2
# build). The direct kernel redoes its taps for every output channel, im2col + GEMM
# shares each gathered patch among all of them: the direct kernel wins with at most
# 16 output channels per group (LeNet 6->16 5x5: 0.77 vs 0.94 ms; 3->16 3x3 on
# 512x512: 5.4 vs 8.8 ms; depthwise 3x3: 1.9 vs 5.0 ms), the GEMM from about 32 on
# (1->32 5x5: 1.55 vs 1.72 ms; ResNet 64->64 3x3: 29 vs 37 ms). A 1x1 convolution is
# a plain matmul unless it is a per-channel scaling (one input channel per group).
_DIRECT_MAX_COUT = 16  # output channels per group up to which the direct kernel wins
_DIRECT_MAX_FLOPS = 1 << 17  # whole convolutions smaller than this: the direct kernel
_GEMM_MIN_COLS = 4096  # batch small images until one product has this many columns
_GEMM_BLOCK_BYTES = 4 << 20  # columns gathered per product (cache-sized, <= the limit)
_DIRECT_SCRATCH_BYTES = 128 << 10  # direct kernel: input rows per work unit (L2-sized)
_PARALLEL_MIN_FLOPS = 1 << 16  # below this, threads cost more than they save
_GEMM_THREADS = 1  # OpenMP threads for the kernels between BLAS calls (None: all)
_FORCE = None  # tests: "direct" or "gemm" overrides the choice


def _tap_range(n, k, s, d, before, o):
    """Taps [lo, hi] of one axis that read an input cell for some output, (k, -1) if none.

    Output o_ reads input index ``o_*s - before + i*d`` with tap i; tap i reaches the
    input for some o_ in [0, o) iff ``i*d - before <= n - 1`` and
    ``(o-1)*s + i*d - before >= 0``. The taps outside contribute nothing but zeros.
    """
    lo = max(0, -(((o - 1) * s - before) // d))  # ceil((before - (o-1)*s) / d)
    hi = min(k - 1, (n - 1 + before) // d)
    return (lo, hi) if lo <= hi else (k, -1)


def _needs_clipping(h, w, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo):
    """Whether some kernel row/column reads only padding (see _tap_range)."""
    return ((ho - 1) * sh < pt or (kh - 1) * dh - pt >= h
            or (wo - 1) * sw < pl or (kw - 1) * dw - pl >= w)


def _forward(x, w, b, stride, pads, dilation, groups, buf):
    """conv2d of canonical 4-D arrays into the canonical result buffer ``buf``.

    Kernel rows/columns that only ever read zero padding (huge dilations or paddings)
    are dropped first, so that no strategy's scratch grows with the padding; the
    top/left offset may then turn negative (the remaining taps start inside x).
    """
    n, c_out, ho, wo = buf.shape
    if n == 0:
        return
    if x.shape[1] == 0:  # zero input channels (weight (C_out, 0, kh, kw)): the bias broadcast
        buf[...] = 0 if b is None else b[:, None, None]
        return
    _, _, kh, kw = w.shape
    (pt, pb), (pl, pr) = pads
    sh, sw = stride
    dh, dw = dilation
    # (without padding every tap reads the input)
    if (pt or pb or pl or pr) and _needs_clipping(x.shape[2], x.shape[3], kh, kw, sh, sw,
                                                  dh, dw, pt, pl, ho, wo):
        i0, i1 = _tap_range(x.shape[2], kh, sh, dh, pt, ho)
        j0, j1 = _tap_range(x.shape[3], kw, sw, dw, pl, wo)
        if i1 < i0 or j1 < j0:  # every tap reads padding: the result is the bias
            buf[...] = 0 if b is None else b[:, None, None]
            return
        w = np.ascontiguousarray(w[:, :, i0:i1 + 1, j0:j1 + 1])
        pt -= i0 * dh
        pl -= j0 * dw
        kh, kw = w.shape[2:]
        pads = None  # not pointwise
    pointwise = kh == 1 and kw == 1 and stride == (1, 1) and pads == ((0, 0), (0, 0))
    _run(x, w, b, buf, groups, (kh, kw, sh, sw, dh, dw, pt, pl, ho, wo), pointwise)


def _run(x, w, b, buf, groups, geom, pointwise):
    """Pick a strategy and run it (no kernel row/column may read only padding)."""
    n, c_out, ho, wo = buf.shape
    cg = w.shape[1]
    taps = cg * geom[0] * geom[1]
    length = ho * wo
    itemsize = x.itemsize
    limit = get_workspace_limit()
    strategy = _FORCE
    if strategy is None:
        if (
            n * c_out * length * taps < _DIRECT_MAX_FLOPS
            or (cg == 1 if pointwise else (
                c_out // groups <= _DIRECT_MAX_COUT or taps * wo * itemsize > limit
            ))
        ):
            strategy = "direct"
    if strategy == "direct":
        if _direct(x, w, b, buf, groups, geom, limit):
            return
    # NumPy's matmul flags inf*0 (invalid) and overflow; the direct kernels give the same
    # IEEE results silently, so the products do too, whatever np.seterr says.
    with np.errstate(all="ignore"):
        _gemm(x, w, b, buf, groups, geom, pointwise, limit)


def _gemm(x, w, b, buf, groups, geom, pointwise, limit):
    """The pointwise and im2col + GEMM strategies (see the module docstring)."""
    n, c_out, ho, wo = buf.shape
    _, cg, kh, kw = w.shape
    taps = cg * kh * kw
    length = ho * wo
    itemsize = x.itemsize
    has_bias = b is not None
    bias = b if has_bias else _NO_BIAS[x.dtype]
    # Threads of the gather/scatter kernels around the BLAS calls (see _GEMM_THREADS).
    nt = get_num_threads() if _GEMM_THREADS is None else min(_GEMM_THREADS, get_num_threads())
    cog = c_out // groups
    wmat = w.reshape(groups, cog, taps)
    out3 = buf.reshape(n, c_out, length)
    if pointwise:
        x3 = x.reshape(n, groups, cg, length)
        o4 = buf.reshape(n, groups, cog, length)
        for g in range(groups):
            np.matmul(wmat[g], x3[:, g], out=o4[:, g])
        if has_bias:
            _conv.add_bias(out3, bias, 0, n, 0, length, nt)
        return

    # Blocks of at most _GEMM_BLOCK_BYTES of columns stay in cache between the gather and
    # the product (15-20% faster than whole 7-14 MB images on the ResNet block).
    budget = min(limit, _GEMM_BLOCK_BYTES)
    per_image = taps * length * itemsize
    if per_image > budget:
        # One image's columns exceed the block: blocks of output rows.
        rows = max(1, budget // (taps * wo * itemsize))
        cols = np.empty(taps * min(rows, ho) * wo, x.dtype)
        for img in range(n):
            for oh0 in range(0, ho, rows):
                oh1 = min(ho, oh0 + rows)
                span = (oh1 - oh0) * wo
                block = cols[: taps * span].reshape(taps, span)
                for g in range(groups):
                    _conv.im2col_images(x, block, geom, img, 1, g * cg, cg, oh0, oh1, nt)
                    np.matmul(wmat[g], block,
                              out=out3[img, g * cog:(g + 1) * cog, oh0 * wo:oh1 * wo])
                if has_bias:
                    _conv.add_bias(out3, bias, img, 1, oh0 * wo, oh1 * wo, nt)
        return

    # Whole images; batch small ones into one wider product (needs a scratch product).
    nb = min(n, -(-_GEMM_MIN_COLS // length), max(1, budget // ((taps + cog) * length * itemsize)))
    cols = np.empty(taps * nb * length, x.dtype)
    prod = np.empty(cog * nb * length, x.dtype) if nb > 1 else None
    for n0 in range(0, n, nb):
        k = min(nb, n - n0)
        block = cols[: taps * k * length].reshape(taps, k * length)
        for g in range(groups):
            _conv.im2col_images(x, block, geom, n0, k, g * cg, cg, 0, ho, nt)
            if prod is None:
                np.matmul(wmat[g], block, out=out3[n0, g * cog:(g + 1) * cog])
            else:
                p = prod[: cog * k * length].reshape(cog, k * length)
                np.matmul(wmat[g], block, out=p)
                _conv.scatter_bias(p, out3, bias, has_bias, n0, k, g * cog, nt)
        if prod is None and has_bias:
            _conv.add_bias(out3, bias, n0, 1, 0, length, nt)


def _direct(x, w, bias, buf, groups, geom, limit):
    """The direct kernel: blocks of output rows per (image, group), one scratch per thread.

    Returns False, computing nothing, when its scratch would be out of proportion (large
    strides over a large padding: the scratch spans the padded rows between the taps)
    and the GEMM's workspace fits the limit instead; the caller then runs the GEMM.
    """
    n, c_out, ho, wo = buf.shape
    cg = w.shape[1]
    kh, kw, sh, sw, dh, dw = geom[:6]
    itemsize = x.itemsize
    wp = (wo - 1) * sw + (kw - 1) * dw + 1
    row_bytes = cg * sh * wp * itemsize  # scratch per extra output row
    # Blocks small enough for the L2 cache, and enough of them to keep every thread busy.
    rows = max(1, min(ho, _DIRECT_SCRATCH_BYTES // row_bytes))
    if n * c_out * ho * wo * cg * kh * kw < _PARALLEL_MIN_FLOPS:
        threads = 1
    else:
        threads = get_num_threads()
        units = n * groups
        if units < 4 * threads:
            rows = min(rows, -(-ho // -(-4 * threads // units)))
        threads = max(1, min(threads, units * -(-ho // rows)))
    # Scratch rows of a work unit; usually far below the check's threshold.
    in_rows = (rows - 1) * sh + (kh - 1) * dh + 1
    if cg * in_rows * wp > _DIRECT_SCRATCH_BYTES:
        # What direct_conv will malloc (exact: Python integers cannot overflow).
        scratch = threads * ((cg * in_rows + rows) * wp * itemsize + cg * kh * kw * 8)
        budget = max(limit, x.nbytes + w.nbytes + buf.nbytes, threads * 8 * _DIRECT_SCRATCH_BYTES)
        if scratch > budget:
            if cg * kh * kw * wo * itemsize <= limit:
                return False
            raise MemoryError(
                f"conv2d: the direct kernel would need {scratch} bytes of scratch and one output "
                f"row's patches exceed the workspace limit ({limit} bytes, "
                f"cyconv.set_workspace_limit)"
            )
    _conv.direct_conv(x, w, bias, buf, groups, geom, rows, threads)
    return True


def _inputs(*arrays):
    return [a for a in arrays if isinstance(a, np.ndarray)]


def conv2d(x, weight, /, bias=None, *, stride=1, padding=0, dilation=1, groups=1,
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
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}
        numpy.pad's 'constant', 'reflect', 'edge', 'wrap', 'symmetric' for any padding size
        (scipy.ndimage: 'constant', 'mirror', 'nearest', 'wrap', 'reflect'; scipy.signal:
        'fill', -, -, 'wrap', 'symm'; PyTorch: the first four, reflect < size, circular <= size).
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
    if type(x) is np.ndarray and out is None and type(padding_mode) is str and padding_mode == "zeros":
        if x.ndim == 3:  # one (C, H, W) image: a batch of one
            result = _conv2d_fast(x[np.newaxis], weight, bias, stride, padding, dilation, groups)
            if result is not None:
                return result[0]
        else:
            result = _conv2d_fast(x, weight, bias, stride, padding, dilation, groups)
            if result is not None:
                return result
    s = conv_setup(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, padding_mode=padding_mode)
    if out is None:  # conv_setup has checked the size: no result_buffer needed
        buf = np.empty(s.out_shape, s.compute_dtype)
        _forward(s.x, s.weight, s.bias, s.stride, s.padding, s.dilation, s.groups, buf)
        if not s.batched:
            buf = buf[0]
        return buf if buf.dtype == s.result_dtype else buf.astype(s.result_dtype)
    shape = s.out_shape if s.batched else s.out_shape[1:]
    buf, out = result_buffer(out, shape, s.compute_dtype, s.result_dtype, _inputs(x, weight, bias))
    _forward(s.x, s.weight, s.bias, s.stride, s.padding, s.dilation, s.groups,
             buf.reshape(s.out_shape))
    return finish(buf, out, s.result_dtype)


def _conv2d_fast(x, weight, bias, stride, padding, dilation, groups):
    """conv2d for the common call that needs no normalisation, else None.

    Same-dtype float32/float64 C-contiguous 4-D arrays and valid int options: checked
    here in a few attribute look-ups; anything else (including every error) takes the
    general path, which validates and explains.
    """
    geom = fast_geometry(x, weight, stride, padding, dilation, groups)
    if geom is None:
        return None
    dt = x.dtype
    if bias is not None and (
        type(bias) is not np.ndarray or bias.dtype is not dt or bias.shape != (weight.shape[0],)
        or not bias.flags.c_contiguous
    ):
        return None
    buf = np.empty((x.shape[0], weight.shape[0], geom[8], geom[9]), dt)
    _run(x, weight, bias, buf, groups, geom,
         geom[0] == 1 and geom[1] == 1 and stride == 1 and padding == 0)
    return buf


def _plane_conv(x, kernel, stride, padding, dilation, padding_mode, out, flip):
    """correlate2d / convolve2d: the 2-D kernel over every (H, W) plane of x."""
    if (
        type(x) is np.ndarray
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
        As for :func:`cyconv.conv2d`. ``'full'`` and ``'valid'`` match
        ``scipy.signal.correlate2d``'s modes; SciPy's ``'same'`` is ``'same_upper'``
        here (equal to ``'same'`` for odd kernels; for even ones ``'same'`` puts the
        extra row/column of padding at the top/left, as the notes do).
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}
        numpy.pad's 'constant', 'reflect', 'edge', 'wrap', 'symmetric' for any padding size
        (scipy.ndimage: 'constant', 'mirror', 'nearest', 'wrap', 'reflect'; scipy.signal:
        'fill', -, -, 'wrap', 'symm'; PyTorch: the first four, reflect < size, circular <= size).
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

