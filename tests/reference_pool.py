"""Slow, obviously-correct pooling references: plain loops over windows, as in the notes' pool2d.

Arguments are already normalised: kernel (kh, kw), stride (sh, sw), padding
((top, bottom), (left, right)), dilation (dh, dw). Every function works on one plane
(H, W) in float64 (or the input's own dtype for max) and is applied per plane by the
``*_planes`` wrappers.
"""

import math

import numpy as np


def out_size(n, k, s, before, after, d, ceil_mode):
    """Output length, PyTorch's rule, written out the long way."""
    k_eff = d * (k - 1) + 1
    span = n + before + after - k_eff
    out = (math.ceil(span / s) if ceil_mode else math.floor(span / s)) + 1
    if ceil_mode and (out - 1) * s >= n + before:
        out -= 1
    return out


def max_pool_plane(x, kernel, stride, padding, dilation, ceil_mode):
    """(values, indices) of one plane: scan each window's real cells in row-major order."""
    H, W = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = kernel, stride, padding, dilation
    Ho = out_size(H, kh, sh, pt, pb, dh, ceil_mode)
    Wo = out_size(W, kw, sw, pl, pr, dw, ceil_mode)
    values = np.empty((Ho, Wo), x.dtype)
    indices = np.empty((Ho, Wo), np.int64)
    for i in range(Ho):
        for j in range(Wo):
            best = None
            where = None
            for a in range(kh):
                for b in range(kw):
                    r = i * sh - pt + a * dh
                    c = j * sw - pl + b * dw
                    if not (0 <= r < H and 0 <= c < W):
                        continue  # padding never wins
                    v = x[r, c]
                    if best is None:
                        best, where = v, r * W + c
                    elif v != v:  # NaN: the last one wins
                        best, where = v, r * W + c
                    elif best == best and v > best:  # strictly larger: ties keep the first
                        best, where = v, r * W + c
            values[i, j] = best
            indices[i, j] = where
    return values, indices


def avg_divisor(start, k, n, before, after, count_include_pad):
    """Number of cells one axis of a window counts (PyTorch's rule)."""
    end = min(start + k, n + after)
    if count_include_pad:
        return end - start
    return min(end, n) - max(start, 0)


def avg_pool_plane(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    H, W = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = kernel, stride, padding
    Ho = out_size(H, kh, sh, pt, pb, 1, ceil_mode)
    Wo = out_size(W, kw, sw, pl, pr, 1, ceil_mode)
    y = np.zeros((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            total = 0.0
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh - pt + a, j * sw - pl + b
                    if 0 <= r < H and 0 <= c < W:
                        total += float(x[r, c])
            if divisor_override is not None:
                div = divisor_override
            else:
                div = (avg_divisor(i * sh - pt, kh, H, pt, pb, count_include_pad)
                       * avg_divisor(j * sw - pl, kw, W, pl, pr, count_include_pad))
            y[i, j] = total / div
    return y


def avg_pool_backward_plane(g, input_hw, kernel, stride, padding, ceil_mode, count_include_pad,
                            divisor_override):
    """Each window hands g / divisor to each of its real cells."""
    H, W = input_hw
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = kernel, stride, padding
    grad = np.zeros((H, W))
    Ho, Wo = g.shape
    for i in range(Ho):
        for j in range(Wo):
            if divisor_override is not None:
                div = divisor_override
            else:
                div = (avg_divisor(i * sh - pt, kh, H, pt, pb, count_include_pad)
                       * avg_divisor(j * sw - pl, kw, W, pl, pr, count_include_pad))
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh - pt + a, j * sw - pl + b
                    if 0 <= r < H and 0 <= c < W:
                        grad[r, c] += float(g[i, j]) / div
    return grad


def max_pool_backward_plane(g, indices, input_hw):
    H, W = input_hw
    grad = np.zeros(H * W)
    for v, k in zip(g.ravel(), indices.ravel()):
        grad[k] += float(v)
    return grad.reshape(H, W)


def max_pool(x, kernel, stride, padding, dilation, ceil_mode):
    x = np.asarray(x)
    lead = x.shape[:-2]
    planes = x.reshape((-1,) + x.shape[-2:])
    out = [max_pool_plane(p, kernel, stride, padding, dilation, ceil_mode) for p in planes]
    H, W = x.shape[-2:]
    Ho = out_size(H, kernel[0], stride[0], *padding[0], dilation[0], ceil_mode)
    Wo = out_size(W, kernel[1], stride[1], *padding[1], dilation[1], ceil_mode)
    values = np.array([v for v, _ in out], x.dtype).reshape(lead + (Ho, Wo))
    indices = np.array([i for _, i in out], np.int64).reshape(lead + (Ho, Wo))
    return values, indices


def avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x = np.asarray(x)
    planes = x.reshape((-1,) + x.shape[-2:])
    out = [avg_pool_plane(p, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
           for p in planes]
    return np.array(out).reshape(x.shape[:-2] + out[0].shape)


def avg_pool_backward(g, input_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                      divisor_override):
    g = np.asarray(g)
    planes = g.reshape((-1,) + g.shape[-2:])
    out = [avg_pool_backward_plane(p, input_shape[-2:], kernel, stride, padding, ceil_mode,
                                   count_include_pad, divisor_override) for p in planes]
    return np.array(out).reshape(input_shape)


def max_pool_backward(g, indices, input_shape):
    g = np.asarray(g)
    planes = g.reshape((-1,) + g.shape[-2:])
    idx = np.asarray(indices).reshape(planes.shape)
    out = [max_pool_backward_plane(p, i, input_shape[-2:]) for p, i in zip(planes, idx)]
    return np.array(out).reshape(input_shape)
