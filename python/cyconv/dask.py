"""cyconv on Dask arrays: the same functions, chunk by chunk, on any Dask scheduler.

``cyconv.dask.conv2d(x, w)`` with a chunked ``dask.array.Array`` ``x`` returns a lazy dask
array equal (to float tolerance) to ``cyconv.conv2d(x.compute(), w)``, with its chunks,
shape and dtype declared before anything is computed:

- chunks along the batch (and any other non-spatial) axis map block by block;
- chunks along ``H`` and ``W`` get exact halos from the receptive field: output ``o``
  belongs to the input chunk that holds cell ``o*stride`` (so ``'same'`` padding at
  stride 1 keeps the chunks, stride 2 halves them), and each output chunk's task gathers
  exactly the input cells its windows read, from as many neighbouring chunks as that
  takes (a chunk may be smaller than the halo). Padding, asymmetric or not, and the padding modes are applied at the
  array's true boundary only (``'circular'`` wraps to the far chunk);
- the weight and bias gradients of :func:`conv2d_backward` are tree-reduced sums of the
  per-chunk gradients; the input gradient adds the halo contributions of neighbouring
  chunks back (overlap-add) onto the input's own chunks.

Threads: each task runs the kernels on ``max(1, cores // workers)`` threads, ``workers``
being how many tasks the scheduler can run at once on this machine, so that kernel
threads x worker threads never exceed the cores (see :func:`task_threads`).

This module needs ``dask[array]`` (``pip install cyconv[dask]``); ``import cyconv`` does not
import it.
"""

import functools
import inspect
import itertools
import multiprocessing
import operator
import os
import sys
import threading
from typing import NamedTuple

import numpy as np

import dask
import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

import cyconv as _cy

from ._shapes import _padding, _pair

__all__ = ["conv2d", "correlate2d", "convolve2d", "max_pool2d", "avg_pool2d", "conv2d_backward",
           "task_threads"]

# cyconv padding_mode -> numpy.pad mode (the meaning SPEC gives them for any padding size).
_NP_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap",
             "symmetric": "symmetric"}

# Per-chunk weight/bias gradients are summed in a tree with this many inputs per node.
_SPLIT_EVERY = 8


# ----------------------------------------------------------------------------------------
# Threads: kernel threads per task x tasks at once <= cores


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _concurrent_tasks():
    """How many tasks the running scheduler can execute at once on this machine."""
    dist = sys.modules.get("distributed")
    if dist is not None:
        try:
            worker = dist.get_worker()
        except ValueError:
            worker = None
        if worker is not None:
            # Every worker of this process (LocalCluster(processes=False) runs several);
            # worker processes spawned by a nanny also start with OMP_NUM_THREADS=1
            # (distributed's nanny.pre-spawn-environ), which caps them further.
            workers = getattr(type(worker), "_instances", None) or [worker]
            return max(1, sum(int(getattr(w, "nthreads", 1) or 1) for w in list(workers)))
    configured = dask.config.get("num_workers", None)
    if threading.current_thread() is threading.main_thread():
        if multiprocessing.parent_process() is None:
            return 1  # the synchronous scheduler (or a plain call): one task at a time
        # a worker process of the 'processes' scheduler: one of num_workers processes
        return int(configured) if configured else dask.system.CPU_COUNT
    if configured:
        return int(configured)
    pool = dask.config.get("pool", None)
    size = getattr(pool, "_max_workers", None)
    return int(size) if size else dask.system.CPU_COUNT  # the threaded scheduler's default pool


def task_threads():
    """Kernel threads each cyconv.dask task uses where it runs: ``max(1, cores // workers)``.

    ``workers`` is how many tasks the scheduler runs at once on this machine: the worker
    threads of every ``dask.distributed`` worker in the process (worker processes started
    by a nanny are single-threaded for OpenMP already, and the thread count never goes
    above the process's own setting); ``dask.config`` ``num_workers`` (or ``pool``) for
    the threaded and process schedulers, else their default, one per core; 1 for the
    synchronous scheduler. Pass ``num_workers`` through ``dask.config.set`` rather than
    to ``compute()`` for cyconv to see it.
    """
    return max(1, _cores() // _concurrent_tasks())


def _in_task(fn, *args, **kwargs):
    """Run ``fn`` with this thread's kernel threads limited to :func:`task_threads`."""
    before = _cy.get_num_threads()
    n = min(before, task_threads())
    if n == before:
        return fn(*args, **kwargs)
    _cy.set_num_threads(n)
    try:
        return fn(*args, **kwargs)
    finally:
        _cy.set_num_threads(before)


# ----------------------------------------------------------------------------------------
# Planning: which input cells each output chunk reads


class _Piece(NamedTuple):
    """One output chunk along one spatial axis."""

    o0: int  # outputs [o0, o1)
    o1: int
    src: np.ndarray  # input index of each cell of the local input (-1: a zero of the padding)
    pad: tuple  # padding the local call adds itself (before, after)
    ceil: bool  # the local call uses ceil_mode (the last chunk of a ceil-mode pooling)
    virtual_mode: bool  # the local call applies the padding mode (a single-chunk axis)


def _axis_plan(n, chunks, k, s, d, pad, *, ceil_mode=False, np_mode=None, pool=False):
    """Split one spatial axis into output chunks, one per input chunk (those left empty dropped)."""
    before, after = pad
    keff = d * (k - 1) + 1
    total = n + before + after
    if ceil_mode:
        n_out = -((n - keff + before + after) // -s) + 1
        if (n_out - 1) * s >= n + before:
            n_out -= 1
    else:
        n_out = (total - keff) // s + 1
    bounds = np.cumsum((0,) + tuple(chunks))
    if n == 0:  # an empty axis whose padding gives outputs (SPEC): one call reads only padding
        return [_Piece(0, n_out, np.arange(0), (before, after), ceil_mode, np_mode is not None)], bounds
    # Output o goes with the input chunk holding cell o*s (its window's start in padded
    # coordinates): 'same' padding at stride 1 keeps the input's chunks.
    group = np.searchsorted(bounds, np.clip(np.arange(n_out) * s, 0, n - 1), side="right") - 1
    cuts = np.concatenate(([0], np.flatnonzero(np.diff(group)) + 1, [n_out]))
    single = len(chunks) == 1
    padded = None if np_mode is None else np.pad(np.arange(n), (before, after), mode=np_mode)
    pieces = []
    for o0, o1 in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        p0 = o0 * s
        p1 = min((o1 - 1) * s + keff, total)
        lo, hi = max(0, p0 - before), min(n, p1 - before)
        if single:  # the whole axis in one call: the call pads it itself
            pieces.append(_Piece(o0, o1, np.arange(n), (before, after), ceil_mode, np_mode is not None))
        elif (np_mode is None and lo < hi) or pool:
            pieces.append(_Piece(o0, o1, np.arange(lo, hi), (max(0, before - p0), max(0, p1 - before - n)),
                                 ceil_mode and o1 == n_out, False))
        else:  # materialise the padding: padded cells p0..p1 read input cells (or zeros)
            if np_mode is None:
                idx = np.arange(p0, p1) - before
                idx[(idx < 0) | (idx >= n)] = -1
            else:
                idx = padded[p0:p1]
            pieces.append(_Piece(o0, o1, idx, (0, 0), False, False))
    return pieces, bounds


def _sources(piece, bounds):
    """For one piece: the chunks it reads, the slice of each, and where each of its cells
    is in the concatenation of those slices (a slice when contiguous, else positions with
    -1 for zeros)."""
    src = piece.src
    real = src[src >= 0]
    if real.size == 0:  # the piece reads only padding: a cell of chunk 0 gives the other axes
        return [(0, slice(0, min(1, int(bounds[1]))))], np.full(src.shape, -1, np.intp)
    chunk_of = np.searchsorted(bounds, real, side="right") - 1
    used = np.unique(chunk_of)
    cuts, offsets, off = [], {}, 0
    for c in used.tolist():
        cells = real[chunk_of == c]
        lo, hi = int(cells.min() - bounds[c]), int(cells.max() - bounds[c]) + 1
        cuts.append((c, slice(lo, hi)))
        offsets[c] = off - bounds[c] - lo
        off += hi - lo
    pos = np.full(src.shape, -1, np.intp)
    shift = np.zeros(len(bounds), np.intp)
    for c, v in offsets.items():
        shift[c] = v
    pos[src >= 0] = real + shift[chunk_of]
    if pos.size and (pos >= 0).all() and (np.diff(pos) == 1).all():
        sel = slice(int(pos[0]), int(pos[-1]) + 1)
        if sel.start == 0 and sel.stop == off:
            sel = slice(None)
    else:
        sel = pos
    return cuts, sel


def _select(arr, axis, sel):
    if isinstance(sel, slice):
        return arr if sel == slice(None) else arr[(slice(None),) * axis + (sel,)]
    out = np.take(arr, np.maximum(sel, 0), axis=axis)
    if (sel < 0).any():
        out[(slice(None),) * axis + (sel < 0,)] = 0
    return out


def _gather(parts, ah, aw, rsel, csel):
    """Concatenate the halo slices ``parts[row][col]`` and select the piece's cells."""
    rows = [p[0] if len(p) == 1 else np.concatenate(p, axis=aw) for p in parts]
    cat = rows[0] if len(rows) == 1 else np.concatenate(rows, axis=ah)
    return _select(_select(cat, ah, rsel), aw, csel)


def _piece_task(local, parts, ah, aw, rsel, csel, ph, pw, *extra):
    return _in_task(local, _gather(parts, ah, aw, rsel, csel), ph, pw, *extra)


def _check_dask(x, name):
    if not isinstance(x, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array for cyconv.dask, got {type(x).__name__} "
                        f"(use the cyconv function of the same name for in-memory arrays)")
    if any(np.isnan(c).any() for c in x.chunks):
        raise ValueError(f"{name} has unknown chunk sizes {x.chunks}; call {name}.compute_chunk_sizes() first")
    return x


def _as_single(a, name):
    """A small operand (weight, bias) as a one-chunk dask array."""
    if a is None:
        return None
    if isinstance(a, da.Array):
        return a.rechunk(a.shape)
    return da.from_array(np.asarray(a), chunks=np.shape(a))


def _spatial_layer(name, x, ah, aw, plans, local, extra=()):
    """One task per output block: gather its halo, call ``local(piece, ph, pw, *extra)``.

    ``plans`` are ``(pieces, bounds)`` for the two spatial axes; every other axis of ``x``
    maps block to block. Returns the graph dict (halo slices and piece tasks).
    """
    dsk = {}
    halo = name + "-halo"
    (hp, hb), (wp, wb) = plans
    h_src = [_sources(p, hb) for p in hp]
    w_src = [_sources(p, wb) for p in wp]
    others = [ax for ax in range(x.ndim) if ax not in (ah, aw)]
    extra_keys = [_first_key(e.__dask_keys__()) for e in extra]
    for idx in itertools.product(*(range(x.numblocks[ax]) for ax in others)):
        for i, (hcuts, rsel) in enumerate(h_src):
            for j, (wcuts, csel) in enumerate(w_src):
                parts = []
                for a, (hc, hs) in enumerate(hcuts):
                    row = []
                    for b, (wc, ws) in enumerate(wcuts):
                        full = [0] * x.ndim
                        for ax, v in zip(others, idx):
                            full[ax] = v
                        full[ah], full[aw] = hc, wc
                        sl = [slice(None)] * x.ndim
                        sl[ah], sl[aw] = hs, ws
                        hkey = (halo,) + idx + (i, j, a, b)
                        dsk[hkey] = (operator.getitem, (x.name,) + tuple(full), tuple(sl))
                        row.append(hkey)
                    parts.append(row)
                out = [0] * x.ndim
                for ax, v in zip(others, idx):
                    out[ax] = v
                out[ah], out[aw] = i, j
                dsk[(name,) + tuple(out)] = (_piece_task, local, parts, ah, aw, rsel, csel, hp[i], wp[j],
                                             *extra_keys)
    return dsk


def _first_key(keys):
    while isinstance(keys, list):
        keys = keys[0]
    return keys


def _out_chunks(x, ah, aw, plans, overrides=None):
    chunks = list(x.chunks)
    for ax, (pieces, _) in zip((ah, aw), plans):
        chunks[ax] = tuple(p.o1 - p.o0 for p in pieces)
    for ax, c in (overrides or {}).items():
        chunks[ax] = c
    return tuple(chunks)


def _array(dsk, name, deps, chunks, dtype):
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
    return da.Array(graph, name, chunks, meta=np.empty((0,) * len(chunks), dtype))


def _pads(ph, pw):
    return (tuple(ph.pad), tuple(pw.pad))


def _supports(fn, option):
    return option in inspect.signature(fn).parameters


# ----------------------------------------------------------------------------------------
# Convolutions


def _layout_axes(ndim, layout):
    """(channel axis, height axis, width axis) of a conv input."""
    if layout == "NCHW":
        return ndim - 3, ndim - 2, ndim - 1
    if layout == "NHWC":
        return ndim - 1, ndim - 3, ndim - 2
    if not isinstance(layout, str):
        raise TypeError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    raise ValueError(f"layout must be 'NCHW' or 'NHWC' (upper case), got {layout!r}")


def _to_nchw(a, layout):
    return a if layout == "NCHW" else np.moveaxis(a, -1, -3)


def _from_nchw(a, layout):
    return a if layout == "NCHW" else np.ascontiguousarray(np.moveaxis(a, -3, -1))


def _layout_kw(fn, layout):
    """``layout=`` for the in-memory call when it has the option; else the pieces are
    transposed around it (cyconv before NHWC support)."""
    if layout == "NCHW":
        return {}, False
    if _supports(fn, "layout"):
        return {"layout": layout}, False
    return {}, True


def _conv_local(piece, ph, pw, weight, bias=None, *, fn, stride, dilation, groups, mode, layout,
                transpose):
    pads = _pads(ph, pw)
    pm = mode if (ph.virtual_mode or pw.virtual_mode) else "zeros"
    kw = {} if transpose or layout == "NCHW" else {"layout": layout}
    if transpose:
        piece = _to_nchw(piece, "NHWC")
    y = fn(piece, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=groups,
           padding_mode=pm, **kw)
    return _from_nchw(y, "NHWC") if transpose else y


def _conv_geometry(x, weight, stride, padding, dilation, groups, padding_mode, layout):
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have 3 or 4 dimensions (a batch or a single image), got shape {x.shape}")
    c_ax, ah, aw = _layout_axes(x.ndim, layout)
    if not isinstance(padding_mode, str) or padding_mode not in _NP_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(map(repr, _NP_MODES))}; got {padding_mode!r}")
    nchw_shape = x.shape if layout == "NCHW" else x.shape[:-3] + (x.shape[-1],) + x.shape[-3:-1]
    out_shape = _cy.conv2d_output_shape(nchw_shape, weight.shape, stride=stride, padding=padding,
                                        dilation=dilation, groups=groups)
    k = tuple(weight.shape[2:])
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = _padding(padding, k, d)
    return c_ax, ah, aw, k, s, d, pads, out_shape


def _check_mode_padding(hw, k, s, d, pads, mode):
    """Refuse, now, the mode paddings the in-memory function refuses, on one thin plane per axis
    (O(H + W) work): a single-chunk axis passes the padding to it as it is."""
    if mode == "zeros":
        return
    for axis in (0, 1):
        shape, kern = [1, 1], [1, 1]
        shape[axis], kern[axis] = hw[axis], k[axis]
        pp = [(0, 0), (0, 0)]
        pp[axis] = pads[axis]
        ss, dd = [1, 1], [1, 1]
        ss[axis], dd[axis] = s[axis], d[axis]
        _cy.correlate2d(np.zeros(shape), np.zeros(kern), stride=tuple(ss), padding=tuple(pp), dilation=tuple(dd),
                        padding_mode=mode)


def _plans(x, ah, aw, k, s, d, pads, **kw):
    return (_axis_plan(x.shape[ah], x.chunks[ah], k[0], s[0], d[0], pads[0], **kw),
            _axis_plan(x.shape[aw], x.chunks[aw], k[1], s[1], d[1], pads[1], **kw))


def _meta_dtype(fn, *arrays, **kw):
    """Result dtype of ``fn`` on tiny arrays of the operands' dtypes (validates the options too)."""
    return fn(*arrays, **kw).dtype


def conv2d(x, weight, /, bias=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
           layout="NCHW"):
    """:func:`cyconv.conv2d` of a dask array, chunk by chunk.

    Parameters
    ----------
    x : dask.array.Array
        ``(N, C_in, H, W)`` (or ``(C_in, H, W)``); ``(N, H, W, C_in)`` with ``layout='NHWC'``.
        Any chunks along the batch and spatial axes (the channel axis is merged into one
        chunk).
    weight, bias : array_like or dask.array.Array
        As for :func:`cyconv.conv2d` (small: each becomes one chunk).
    stride, padding, dilation, groups, padding_mode, layout
        As for :func:`cyconv.conv2d`.

    Returns
    -------
    dask.array.Array
        Equal to ``cyconv.conv2d`` on the whole array. Batch chunks are kept; each output
        chunk along ``H``/``W`` holds the windows that start in one input chunk.

    Examples
    --------
    >>> import dask.array as da, numpy as np, cyconv
    >>> x = da.ones((4, 1, 8, 8), chunks=(2, 1, 4, 4))
    >>> y = conv2d(x, np.ones((2, 1, 3, 3)), padding=1)
    >>> y.chunks
    ((2, 2), (2,), (4, 4), (4, 4))
    >>> bool((y.compute() == cyconv.conv2d(np.ones((4, 1, 8, 8)), np.ones((2, 1, 3, 3)), padding=1)).all())
    True
    """
    x = _check_dask(x, "x")
    w = _as_single(weight, "weight")
    b = _as_single(bias, "bias")
    c_ax, ah, aw, k, s, d, pads, out_shape = _conv_geometry(x, w, stride, padding, dilation, groups,
                                                            padding_mode, layout)
    _, transpose = _layout_kw(_cy.conv2d, layout)
    tiny = np.zeros((1, w.shape[1] * groups) + tuple(d_ * (k_ - 1) + 1 for k_, d_ in zip(k, d)), x.dtype)
    dtype = _meta_dtype(_cy.conv2d, tiny, np.zeros(w.shape, w.dtype),
                        None if b is None else np.zeros(b.shape, b.dtype), stride=s, dilation=d, groups=groups,
                        padding_mode=padding_mode)
    _check_mode_padding((x.shape[ah], x.shape[aw]), k, s, d, pads, padding_mode)
    x = x.rechunk({c_ax: -1})
    plans = _plans(x, ah, aw, k, s, d, pads, np_mode=_NP_MODES[padding_mode])
    name = "cyconv-conv2d-" + tokenize(x, w, b, s, pads, d, groups, padding_mode, layout)
    local = functools.partial(_conv_local, fn=_cy.conv2d, stride=s, dilation=d, groups=groups,
                              mode=padding_mode, layout=layout, transpose=transpose)
    extra = [w] if b is None else [w, b]
    dsk = _spatial_layer(name, x, ah, aw, plans, local, extra)
    chunks = _out_chunks(x, ah, aw, plans, {c_ax: (w.shape[0],)})
    y = _array(dsk, name, [x] + extra, chunks, dtype)
    assert y.shape == (out_shape if layout == "NCHW" else
                       out_shape[:-3] + out_shape[-2:] + (out_shape[-3],)), (y.shape, out_shape)
    return y


def _plane_local(piece, ph, pw, kernel, *, fn, stride, dilation, mode, axes):
    pm = mode if (ph.virtual_mode or pw.virtual_mode) else "zeros"
    kw = {} if axes is None else {"axes": axes}
    return fn(piece, kernel, stride=stride, padding=_pads(ph, pw), dilation=dilation, padding_mode=pm, **kw)


def _plane_axes(x, axes, fn):
    """The two spatial axes (non-negative) and the ``axes=`` to pass on (None: the default)."""
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (..., H, W), got shape {x.shape}")
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise ValueError(f"axes must be a pair of two different axes, got {axes!r}")
    ax = tuple(operator.index(a) for a in axes)
    if not all(-x.ndim <= a < x.ndim for a in ax):
        raise ValueError(f"axes {axes!r} out of range for x with {x.ndim} dimensions")
    ax = tuple(a % x.ndim for a in ax)
    if ax[0] == ax[1]:
        raise ValueError(f"axes must be two different axes, got {axes!r}")
    if ax == (x.ndim - 2, x.ndim - 1):
        return ax[0], ax[1], None
    if not _supports(fn, "axes"):
        raise TypeError(f"this cyconv's {fn.__name__} has no axes= option")
    return ax[0], ax[1], tuple(axes)


def _plane_conv(x, kernel, stride, padding, dilation, padding_mode, axes, fn):
    x = _check_dask(x, "x")
    ah, aw, axes_kw = _plane_axes(x, axes, fn)
    kern = np.asarray(kernel.compute() if isinstance(kernel, da.Array) else kernel)
    if kern.ndim != 2:
        raise ValueError(f"kernel must be 2-D (kh, kw), got shape {kern.shape}")
    if not isinstance(padding_mode, str) or padding_mode not in _NP_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(map(repr, _NP_MODES))}; got {padding_mode!r}")
    hw = (x.shape[ah], x.shape[aw])
    out_hw = _cy.conv2d_output_shape((1, 1) + hw, (1, 1) + kern.shape, stride=stride, padding=padding,
                                 dilation=dilation)[2:]
    k = kern.shape
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = _padding(padding, k, d)
    tiny = np.zeros(tuple(d_ * (k_ - 1) + 1 for k_, d_ in zip(k, d)), x.dtype)
    dtype = fn(tiny, kern, stride=s, dilation=d, padding_mode=padding_mode).dtype
    _check_mode_padding(hw, k, s, d, pads, padding_mode)
    plans = _plans(x, ah, aw, k, s, d, pads, np_mode=_NP_MODES[padding_mode])
    name = f"cyconv-{fn.__name__}-" + tokenize(x, kern, s, pads, d, padding_mode, axes_kw)
    local = functools.partial(_plane_local, fn=fn, stride=s, dilation=d, mode=padding_mode, axes=axes_kw)
    kd = da.from_array(kern, chunks=kern.shape)
    dsk = _spatial_layer(name, x, ah, aw, plans, local, [kd])
    y = _array(dsk, name, [x, kd], _out_chunks(x, ah, aw, plans), dtype)
    assert (y.shape[ah], y.shape[aw]) == tuple(out_hw)
    return y


def correlate2d(x, kernel, /, *, stride=1, padding=0, dilation=1, padding_mode="zeros", axes=(-2, -1)):
    """:func:`cyconv.correlate2d` of a dask array ``(..., H, W)``, chunk by chunk.

    Every axis but ``H`` and ``W`` maps block by block; ``H``/``W`` chunks get exact halos.
    ``axes`` is passed on when the in-memory function has it.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> img = da.arange(64.0, chunks=16).reshape(8, 8).rechunk(3)
    >>> out = correlate2d(img, np.ones((3, 3)), padding="same", padding_mode="reflect")
    >>> out.chunks
    ((3, 3, 2), (3, 3, 2))
    """
    return _plane_conv(x, kernel, stride, padding, dilation, padding_mode, axes, _cy.correlate2d)


def convolve2d(x, kernel, /, *, stride=1, padding=0, dilation=1, padding_mode="zeros", axes=(-2, -1)):
    """:func:`cyconv.convolve2d` (true convolution) of a dask array, chunk by chunk; see
    :func:`correlate2d`."""
    return _plane_conv(x, kernel, stride, padding, dilation, padding_mode, axes, _cy.convolve2d)


# ----------------------------------------------------------------------------------------
# Pooling


def _max_local(piece, ph, pw, *, k, stride, dilation, axes, return_indices, full_w, ah, aw):
    kw = {} if axes is None else {"axes": axes}
    ceil = ph.ceil or pw.ceil
    # ceil_mode changes nothing on an axis whose local padding already ends the windows.
    res = _cy.max_pool2d(piece, k, stride=stride, padding=_pads(ph, pw), dilation=dilation,
                           ceil_mode=ceil, return_indices=return_indices, **kw)
    if not return_indices:
        return res
    values, idx = res
    # local h*w_local + w -> global (h0 + h)*W + (w0 + w)
    w_local = piece.shape[aw]
    h0, w0 = int(ph.src[0]), int(pw.src[0])
    lh, lw = np.divmod(idx, w_local)
    return values, (lh + h0) * full_w + (lw + w0)


def _pool_plans(x, ah, aw, k, s, d, pads, ceil_mode):
    # ceil_mode per axis: the local call's flag is one for both axes, which is exact
    # because on an axis whose chunk is not the last the local windows end inside it.
    return _plans(x, ah, aw, k, s, d, pads, ceil_mode=ceil_mode, pool=True)


def _pool_setup(x, kernel_size, stride, padding, dilation, ceil_mode, axes, fn):
    x = _check_dask(x, "x")
    ah, aw, axes_kw = _plane_axes(x, axes, fn)
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    d = _pair(dilation, "dilation")
    pads = _padding(padding, k, d)
    _cy.pool2d_output_shape((x.shape[ah], x.shape[aw]), k, stride=s, padding=pads, dilation=d,
                        ceil_mode=ceil_mode)
    return x, ah, aw, axes_kw, k, s, d, pads


def max_pool2d(x, kernel_size, /, *, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, axes=(-2, -1)):
    """:func:`cyconv.max_pool2d` of a dask array, chunk by chunk.

    With ``return_indices`` the indices are ``h*W + w`` in the whole ``(H, W)`` plane, as
    the in-memory function gives them.

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.random.default_rng(0).random((2, 3, 9, 9), chunks=(1, 3, 4, 5))
    >>> y = max_pool2d(x, 3, stride=2, padding=1)
    >>> y.chunks
    ((1, 1), (3,), (2, 2, 1), (3, 2))
    """
    x, ah, aw, axes_kw, k, s, d, pads = _pool_setup(x, kernel_size, stride, padding, dilation, ceil_mode, axes,
                                                    _cy.max_pool2d)
    if not isinstance(return_indices, (bool, np.bool_)):
        raise TypeError(f"return_indices must be a bool, got {return_indices!r}")
    # validates every option (and the dilated windows) on one thin plane per axis
    hcol = _cy.max_pool2d(np.zeros((x.shape[ah], 1), x.dtype), (k[0], 1), stride=(s[0], 1),
                            padding=(pads[0], (0, 0)), dilation=(d[0], 1), ceil_mode=ceil_mode)
    _cy.max_pool2d(np.zeros((1, x.shape[aw]), x.dtype), (1, k[1]), stride=(1, s[1]),
                     padding=((0, 0), pads[1]), dilation=(1, d[1]), ceil_mode=ceil_mode)
    plans = _pool_plans(x, ah, aw, k, s, d, pads, ceil_mode)
    name = "cyconv-max_pool2d-" + tokenize(x, k, s, pads, d, ceil_mode, return_indices, axes_kw)
    local = functools.partial(_max_local, k=k, stride=s, dilation=d, axes=axes_kw,
                              return_indices=bool(return_indices), full_w=x.shape[aw], ah=ah, aw=aw)
    dsk = _spatial_layer(name, x, ah, aw, plans, local)
    chunks = _out_chunks(x, ah, aw, plans)
    if not return_indices:
        return _array(dsk, name, [x], chunks, hcol.dtype)
    pairs = _array(dsk, name, [x], chunks, hcol.dtype)  # blocks are (values, indices) tuples
    return _split(pairs, name + "-values", 0, hcol.dtype), _split(pairs, name + "-indices", 1, np.int64)


def _split(pairs, pname, part, dtype):
    """Element ``part`` of every block of a dask array whose blocks are tuples."""
    layer = {(pname,) + key[1:]: (operator.getitem, key, part)
             for key in itertools.chain.from_iterable(_flat_keys(pairs.__dask_keys__()))}
    graph = HighLevelGraph.from_collections(pname, layer, dependencies=[pairs])
    return da.Array(graph, pname, pairs.chunks, meta=np.empty((0,) * pairs.ndim, dtype))


def _flat_keys(keys):
    if isinstance(keys, list):
        for k in keys:
            yield from _flat_keys(k)
    else:
        yield [keys]


def _avg_local(piece, ph, pw, *, k, stride, axes, count_include_pad, divisor_override):
    kw = {} if axes is None else {"axes": axes}
    return _cy.avg_pool2d(piece, k, stride=stride, padding=_pads(ph, pw), ceil_mode=ph.ceil or pw.ceil,
                            count_include_pad=count_include_pad, divisor_override=divisor_override, **kw)


def avg_pool2d(x, kernel_size, /, *, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, axes=(-2, -1)):
    """:func:`cyconv.avg_pool2d` of a dask array, chunk by chunk (divisors as in memory).

    Examples
    --------
    >>> import dask.array as da, numpy as np, cyconv
    >>> x = da.arange(100.0, chunks=10).reshape(10, 10).rechunk((4, 6))
    >>> y = avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    >>> bool(np.allclose(y, cyconv.avg_pool2d(np.arange(100.0).reshape(10, 10), 3, stride=2, padding=1,
    ...                                       count_include_pad=False)))
    True
    """
    x, ah, aw, axes_kw, k, s, d, pads = _pool_setup(x, kernel_size, stride, padding, 1, ceil_mode, axes,
                                                    _cy.avg_pool2d)
    # validates the options; the dtype of the result
    dtype = _cy.avg_pool2d(np.zeros(k, x.dtype), k, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                             divisor_override=divisor_override).dtype
    plans = _pool_plans(x, ah, aw, k, s, d, pads, ceil_mode)
    name = "cyconv-avg_pool2d-" + tokenize(x, k, s, pads, ceil_mode, count_include_pad, divisor_override, axes_kw)
    local = functools.partial(_avg_local, k=k, stride=s, axes=axes_kw, count_include_pad=count_include_pad,
                              divisor_override=divisor_override)
    dsk = _spatial_layer(name, x, ah, aw, plans, local)
    return _array(dsk, name, [x], _out_chunks(x, ah, aw, plans), dtype)


# ----------------------------------------------------------------------------------------
# The convolution's gradients


def _grad_local(piece, ph, pw, go, weight, *, stride, dilation, groups, mode, compute, layout, transpose):
    pm = mode if (ph.virtual_mode or pw.virtual_mode) else "zeros"
    kw = {} if transpose or layout == "NCHW" else {"layout": layout}
    if transpose:
        piece, go = _to_nchw(piece, "NHWC"), _to_nchw(go, "NHWC")
    r = _cy.conv2d_backward(go, piece, weight, stride=stride, padding=_pads(ph, pw), dilation=dilation,
                                   groups=groups, padding_mode=pm, compute=compute, **kw)
    dx = r.input
    if transpose and dx is not None:
        dx = _from_nchw(dx, "NHWC")
    return dx, r.weight, r.bias


def _grad_task(local, parts, ah, aw, rsel, csel, ph, pw, go, weight):
    return _in_task(local, _gather(parts, ah, aw, rsel, csel), ph, pw, go, weight)


def _scatter_axis(arr, axis, local, target, size):
    """Add ``arr``'s cells ``local`` (along ``axis``) onto cells ``target`` of a zero array
    with ``size`` cells there (repeated targets add up)."""
    shape = list(arr.shape)
    shape[axis] = size
    out = np.zeros(shape, arr.dtype)
    lead = (slice(None),) * axis
    if isinstance(local, slice):
        out[lead + (target,)] += arr[lead + (local,)]
    else:
        np.add.at(out, lead + (target,), np.take(arr, local, axis=axis))
    return out


def _overlap_add(shape, dtype, ah, aw, *contribs):
    """One input-gradient block: the sum of its slices of the pieces' input gradients.

    ``contribs`` alternate (rows, cols, piece gradient): rows/cols are (local, target,
    size) with slices when both are contiguous ranges."""
    out = np.zeros(shape, dtype)
    for rows, cols, res in zip(contribs[0::3], contribs[1::3], contribs[2::3]):
        g = res[0]
        if isinstance(rows[0], slice) and isinstance(cols[0], slice):
            sl = [slice(None)] * g.ndim
            tl = [slice(None)] * g.ndim
            sl[ah], sl[aw] = rows[0], cols[0]
            tl[ah], tl[aw] = rows[1], cols[1]
            out[tuple(tl)] += g[tuple(sl)]
        else:
            out += _scatter_axis(_scatter_axis(g, ah, rows[0], rows[1], rows[2]), aw, cols[0], cols[1], cols[2])
    return out


def _tree_sum(*parts):
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _pick(res, i):
    return res[i]


def _map_back(piece, bounds, c):
    """Which of a piece's local cells land in input chunk ``c``, and where."""
    src = piece.src
    lo, hi = bounds[c], bounds[c + 1]
    hit = np.flatnonzero((src >= lo) & (src < hi))
    target = src[hit] - lo
    if hit.size and (np.diff(hit) == 1).all() and (np.diff(target) == 1).all():
        return slice(int(hit[0]), int(hit[-1]) + 1), slice(int(target[0]), int(target[-1]) + 1), int(hi - lo)
    return hit, target, int(hi - lo)


def _reduce_tree(dsk, name, keys, pick):
    """Tree-sum ``pick`` of every key into ``(name, 0, ..., 0)``-style key ``name``; returns it."""
    level = 0
    current = []
    for n, key in enumerate(keys):
        k = (f"{name}-leaf", n)
        dsk[k] = (_pick, key, pick)
        current.append(k)
    while len(current) > 1:
        nxt = []
        for g in range(0, len(current), _SPLIT_EVERY):
            k = (f"{name}-sum{level}", g // _SPLIT_EVERY)
            dsk[k] = (_tree_sum,) + tuple(current[g:g + _SPLIT_EVERY])
            nxt.append(k)
        current = nxt
        level += 1
    return current[0]


def conv2d_backward(grad_output, x, weight, /, *, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", compute=("input", "weight", "bias"), layout="NCHW"):
    """:func:`cyconv.conv2d_backward` of dask arrays, chunk by chunk.

    Each chunk of ``grad_output`` (rechunked to the output chunks :func:`conv2d` gives
    ``x``'s chunks) runs the in-memory backward on its input halo. The input gradient has
    ``x``'s chunks: each block adds up the halo parts of the neighbouring chunks'
    gradients. The weight and bias gradients are tree-reduced sums over the chunks, one
    chunk each.

    Returns
    -------
    Conv2dGradients
        ``(input, weight, bias)`` dask arrays, ``None`` for those not in ``compute``.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = da.ones((2, 1, 6, 6), chunks=(1, 1, 3, 3))
    >>> g = da.ones((2, 2, 6, 6), chunks=(1, 2, 3, 3))
    >>> r = conv2d_backward(g, x, np.ones((2, 1, 3, 3)), padding=1)
    >>> r.input.chunks, r.weight.shape, r.bias.compute()
    (((1, 1), (1,), (3, 3), (3, 3)), (2, 1, 3, 3), array([72., 72.]))
    """
    x = _check_dask(x, "x")
    go = grad_output if isinstance(grad_output, da.Array) else da.from_array(np.asarray(grad_output))
    go = _check_dask(go, "grad_output")
    w = _as_single(weight, "weight")
    c_ax, ah, aw, k, s, d, pads, out_shape = _conv_geometry(x, w, stride, padding, dilation, groups,
                                                            padding_mode, layout)
    expect = out_shape if layout == "NCHW" else out_shape[:-3] + out_shape[-2:] + (out_shape[-3],)
    if go.shape != expect:
        raise ValueError(f"grad_output has shape {go.shape}, expected the forward output shape {expect}")
    _, transpose = _layout_kw(_cy.conv2d_backward, layout)
    tiny = np.zeros((1, w.shape[1] * groups) + tuple(d_ * (k_ - 1) + 1 for k_, d_ in zip(k, d)), x.dtype)
    # validates the options (compute too); the result type and dtypes
    tiny_r = _cy.conv2d_backward(np.zeros((1, w.shape[0], 1, 1), go.dtype), tiny, np.zeros(w.shape, w.dtype),
                                 stride=s, dilation=d, groups=groups, padding_mode=padding_mode, compute=compute)
    want = {name for name in ("input", "weight", "bias") if getattr(tiny_r, name) is not None}
    _check_mode_padding((x.shape[ah], x.shape[aw]), k, s, d, pads, padding_mode)
    x = x.rechunk({c_ax: -1})
    plans = _plans(x, ah, aw, k, s, d, pads, np_mode=_NP_MODES[padding_mode])
    out_chunks = _out_chunks(x, ah, aw, plans, {c_ax: (w.shape[0],)})
    go = go.rechunk(out_chunks)
    name = "cyconv-conv2d_backward-" + tokenize(x, go, w, s, pads, d, groups, padding_mode, sorted(want), layout)
    local = functools.partial(_grad_local, stride=s, dilation=d, groups=groups, mode=padding_mode,
                              compute=tuple(sorted(want)), layout=layout, transpose=transpose)
    # the piece layer: like _spatial_layer, with the grad_output block as an extra operand
    dsk = _spatial_layer(name, x, ah, aw, plans, local, [w])
    wkey = _first_key(w.__dask_keys__())
    for key in list(dsk):
        if key[0] == name:
            task = dsk[key]
            dsk[key] = (_grad_task,) + task[1:9] + ((go.name,) + key[1:], wkey)
    # blocks are (input, weight, bias) tuples of the pieces
    pieces = _array(dsk, name, [x, go, w], out_chunks, x.dtype)
    result = {"input": None, "weight": None, "bias": None}
    piece_keys = [k[0] for k in _flat_keys(pieces.__dask_keys__())]
    if "input" in want:
        result["input"] = _input_gradient(pieces, name + "-input", x, ah, aw, plans, tiny_r.input.dtype)
    for part, what, shape in ((1, "weight", w.shape), (2, "bias", (w.shape[0],))):
        if what in want:
            rname = f"{name}-{what}"
            layer = {}
            top = _reduce_tree(layer, rname, piece_keys, part)
            layer[(rname,) + (0,) * len(shape)] = (_identity, top)
            graph = HighLevelGraph.from_collections(rname, layer, dependencies=[pieces])
            dtype = getattr(tiny_r, what).dtype
            result[what] = da.Array(graph, rname, tuple((n,) for n in shape),
                                    meta=np.empty((0,) * len(shape), dtype))
    return type(tiny_r)(result["input"], result["weight"], result["bias"])


def _input_gradient(pieces, gname, x, ah, aw, plans, dtype):
    """Overlap-add: each block of ``x``'s chunks sums its cells of the pieces' input gradients."""
    (hp, hb), (wp, wb) = plans
    others = [ax for ax in range(x.ndim) if ax not in (ah, aw)]
    back_h, back_w = _touching(hp, hb), _touching(wp, wb)
    layer = {}
    for idx in itertools.product(*(range(x.numblocks[ax]) for ax in others)):
        for hc in range(len(hb) - 1):
            for wc in range(len(wb) - 1):
                contribs = []
                for i, rows in back_h[hc]:
                    for j, cols in back_w[wc]:
                        contribs += [rows, cols, (pieces.name,) + _place(x.ndim, others, idx, ah, aw, i, j)]
                key = _place(x.ndim, others, idx, ah, aw, hc, wc)
                shape = tuple(x.chunks[ax][v] for ax, v in enumerate(key))
                layer[(gname,) + key] = (_overlap_add, shape, dtype, ah, aw, *contribs)
    graph = HighLevelGraph.from_collections(gname, layer, dependencies=[pieces])
    return da.Array(graph, gname, x.chunks, meta=np.empty((0,) * x.ndim, dtype))


def _touching(pieces, bounds):
    """For each input chunk: the pieces that read it, with where their cells land in it."""
    touching = [[] for _ in range(len(bounds) - 1)]
    for i, p in enumerate(pieces):
        real = p.src[p.src >= 0]
        for c in np.unique(np.searchsorted(bounds, real, side="right") - 1).tolist():
            touching[c].append((i, _map_back(p, bounds, c)))
    return touching


def _place(ndim, others, idx, ah, aw, i, j):
    """A block index: ``idx`` on the non-spatial axes, ``i``/``j`` on the spatial ones."""
    full = [0] * ndim
    for ax, v in zip(others, idx):
        full[ax] = v
    full[ah], full[aw] = i, j
    return tuple(full)


def _identity(v):
    return v


