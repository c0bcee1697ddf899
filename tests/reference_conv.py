"""Slow, obviously-correct references for the forward convolutions (plain loops, float64).

Padding is applied explicitly with np.pad (zeros or the padding mode); then every
output element is the window sum of the notes' ``corr2d``.
"""

import numpy as np

NP_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap",
                "symmetric": "symmetric"}


def corr2d(X, K):
    """The notes' 2-D cross-correlation (6.2.1), verbatim in NumPy."""
    X = np.asarray(X, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    h, w = K.shape
    Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def pad_planes(x, pads, padding_mode="zeros"):
    """Pad the last two axes by ((top, bottom), (left, right)) in the given mode."""
    widths = [(0, 0)] * (x.ndim - 2) + [tuple(pads[0]), tuple(pads[1])]
    return np.pad(x, widths, mode=NP_PAD_MODES[padding_mode])


def correlate_plane(xp, k, stride, dilation):
    """Strided, dilated cross-correlation of one already padded plane."""
    kh, kw = k.shape
    sh, sw = stride
    dh, dw = dilation
    ho = (xp.shape[0] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[1] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((ho, wo))
    for i in range(ho):
        for j in range(wo):
            total = 0.0
            for a in range(kh):
                for b in range(kw):
                    total += xp[i * sh + a * dh, j * sw + b * dw] * k[a, b]
            y[i, j] = total
    return y


def ref_correlate2d(x, k, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), padding_mode="zeros"):
    """correlate2d on (..., H, W) with normalised options, in float64."""
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    xp = pad_planes(x, pads, padding_mode)
    lead = x.shape[:-2]
    planes = xp.reshape((-1,) + xp.shape[-2:])
    outs = [correlate_plane(p, k, stride, dilation) for p in planes]
    if not outs:  # a zero-length leading axis
        ho = (xp.shape[-2] - dilation[0] * (k.shape[0] - 1) - 1) // stride[0] + 1
        wo = (xp.shape[-1] - dilation[1] * (k.shape[1] - 1) - 1) // stride[1] + 1
        return np.zeros(lead + (ho, wo))
    return np.stack(outs).reshape(lead + outs[0].shape)


def ref_conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1,
               padding_mode="zeros"):
    """conv2d on (N, C_in, H, W) with normalised options, in float64: the notes' sum
    over input channels of corr2d, per output channel, per group."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, c_in = x.shape[:2]
    c_out, cg = w.shape[:2]
    cog = c_out // groups
    xp = pad_planes(x, pads, padding_mode)
    ho = (xp.shape[2] - dilation[0] * (w.shape[2] - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (w.shape[3] - 1) - 1) // stride[1] + 1
    y = np.zeros((n, c_out, ho, wo))
    for i in range(n):
        for co in range(c_out):
            g = co // cog
            for ci in range(cg):
                y[i, co] += correlate_plane(xp[i, g * cg + ci], w[co, ci], stride, dilation)
            if b is not None:
                y[i, co] += float(np.asarray(b, dtype=np.float64)[co])
    return y
