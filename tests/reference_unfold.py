"""Slow, obviously-correct references for unfold and fold: plain loops over patches.

Arguments are normalised: kernel (kh, kw), stride (sh, sw), padding ((top, bottom),
(left, right)), dilation (dh, dw); arrays are batched NCHW (the NHWC forms reorder axes).
"""

import numpy as np


def out_hw(H, W, kernel, stride, padding, dilation):
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = kernel, stride, padding, dilation
    return ((H + pt + pb - dh * (kh - 1) - 1) // sh + 1, (W + pl + pr - dw * (kw - 1) - 1) // sw + 1)


def unfold(x, kernel, stride, padding, dilation):
    """(N, C*kh*kw, L): row (c*kh + i)*kw + j, column oh*Wo + ow."""
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dh, dw) = kernel, stride, padding, dilation
    Ho, Wo = out_hw(H, W, kernel, stride, padding, dilation)
    cols = np.zeros((N, C * kh * kw, Ho * Wo))
    for n in range(N):
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    for oh in range(Ho):
                        for ow in range(Wo):
                            h = oh * sh - pt + i * dh
                            w = ow * sw - pl + j * dw
                            if 0 <= h < H and 0 <= w < W:
                                cols[n, (c * kh + i) * kw + j, oh * Wo + ow] = x[n, c, h, w]
    return cols


def fold(cols, H, W, kernel, stride, padding, dilation):
    """Add every patch entry back onto its cell (entries from the padding are dropped)."""
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dh, dw) = kernel, stride, padding, dilation
    N = cols.shape[0]
    C = cols.shape[1] // (kh * kw)
    Ho, Wo = out_hw(H, W, kernel, stride, padding, dilation)
    out = np.zeros((N, C, H, W))
    for n in range(N):
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    for oh in range(Ho):
                        for ow in range(Wo):
                            h = oh * sh - pt + i * dh
                            w = ow * sw - pl + j * dw
                            if 0 <= h < H and 0 <= w < W:
                                out[n, c, h, w] += cols[n, (c * kh + i) * kw + j, oh * Wo + ow]
    return out


def nchw_cols_to_nhwc(cols, C, kh, kw):
    """(N, C*kh*kw, L) -> (N, L, kh*kw*C), channels fastest."""
    N, _, L = cols.shape
    return cols.reshape(N, C, kh * kw, L).transpose(0, 3, 2, 1).reshape(N, L, kh * kw * C)
