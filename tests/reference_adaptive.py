"""Slow, obviously-correct references for adaptive pooling: plain loops over the bins.

Every function works on one (H, W) plane; the ``*_planes`` wrappers apply it to each plane
of an ``(..., H, W)`` array.
"""

import math

import numpy as np


def bins(n, o):
    """PyTorch's bins of one axis, written out: [floor(i*n/o), ceil((i+1)*n/o))."""
    return [(math.floor(i * n / o), math.ceil((i + 1) * n / o)) for i in range(o)]


def avg_plane(x, oh, ow):
    out = np.empty((oh, ow))
    for i, (h0, h1) in enumerate(bins(x.shape[0], oh)):
        for j, (w0, w1) in enumerate(bins(x.shape[1], ow)):
            total = 0.0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    total += float(x[h, w])
            out[i, j] = total / ((h1 - h0) * (w1 - w0))
    return out


def max_plane(x, oh, ow):
    """(values, indices): the first maximum in row-major order; a NaN wins, the last one."""
    H, W = x.shape
    values = np.empty((oh, ow), x.dtype)
    indices = np.empty((oh, ow), np.int64)
    for i, (h0, h1) in enumerate(bins(H, oh)):
        for j, (w0, w1) in enumerate(bins(W, ow)):
            best, at = None, -1
            for h in range(h0, h1):
                for w in range(w0, w1):
                    v = x[h, w]
                    if best is None or v > best or v != v:
                        best, at = v, h * W + w
            values[i, j], indices[i, j] = best, at
    return values, indices


def avg_backward_plane(g, H, W):
    """Scatter each bin's gradient / bin size onto its cells."""
    oh, ow = g.shape
    out = np.zeros((H, W))
    for i, (h0, h1) in enumerate(bins(H, oh)):
        for j, (w0, w1) in enumerate(bins(W, ow)):
            share = float(g[i, j]) / ((h1 - h0) * (w1 - w0))
            for h in range(h0, h1):
                for w in range(w0, w1):
                    out[h, w] += share
    return out


def _planes(x):
    return x.reshape((-1,) + x.shape[-2:])


def _stack(planes, shape, dtype):
    return np.stack(planes).reshape(shape) if planes else np.zeros(shape, dtype)


def avg_planes(x, oh, ow):
    return _stack([avg_plane(p, oh, ow) for p in _planes(x)], x.shape[:-2] + (oh, ow), np.float64)


def max_planes(x, oh, ow):
    pairs = [max_plane(p, oh, ow) for p in _planes(x)]
    shape = x.shape[:-2] + (oh, ow)
    return _stack([v for v, _ in pairs], shape, x.dtype), _stack([i for _, i in pairs], shape, np.int64)


def avg_backward_planes(g, shape):
    H, W = shape[-2:]
    return _stack([avg_backward_plane(p, H, W) for p in _planes(g)], shape, np.float64)
