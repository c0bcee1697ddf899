"""Slow, obviously-correct references for the convolution gradients (plain loops).

Everything works on float64 NumPy arrays in the batched layout, with padding given as
((top, bottom), (left, right)) and a NumPy pad mode name ('constant', 'reflect',
'edge', 'wrap'). The references follow the definitions literally:

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * xp[n, g*Cg + c, i*sh + p*dh, j*sw + q*dw]

with xp = np.pad(x, padding, mode) and g = o // (C_out/groups).
"""

import numpy as np

NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap",
            "symmetric": "symmetric"}


def _pad(x, padding, mode):
    return np.pad(x, ((0, 0), (0, 0)) + tuple(map(tuple, padding)), mode=NP_MODES[mode])


def out_hw(hw, k, stride, padding, dilation):
    return tuple((n + sum(p) - d * (kk - 1) - 1) // s + 1
                 for n, kk, s, p, d in zip(hw, k, stride, padding, dilation))


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
               groups=1, mode="zeros"):
    """The forward convolution, for finite differences and adjoint checks."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n_img, c_in = x.shape[:2]
    c_out, cin_g, kh, kw = w.shape
    cout_g = c_out // groups
    xp = _pad(x, padding, mode)
    ho, wo = out_hw(x.shape[2:], (kh, kw), stride, padding, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    y = np.zeros((n_img, c_out, ho, wo))
    for n in range(n_img):
        for o in range(c_out):
            g = o // cout_g
            for i in range(ho):
                for j in range(wo):
                    s = 0.0
                    for c in range(cin_g):
                        for p in range(kh):
                            for q in range(kw):
                                s += w[o, c, p, q] * xp[n, g * cin_g + c, i * sh + p * dh, j * sw + q * dw]
                    y[n, o, i, j] = s + (0.0 if b is None else b[o])
    return y


def fold_padding(dxp, padding, mode, hw):
    """Adjoint of np.pad: add each padded cell's gradient onto the cell it copies."""
    h, w = hw
    (pt, pb), (pl, pr) = padding
    rows = np.pad(np.arange(h), (pt, pb), mode=NP_MODES[mode]) if mode != "zeros" else None
    cols = np.pad(np.arange(w), (pl, pr), mode=NP_MODES[mode]) if mode != "zeros" else None
    dx = np.zeros(dxp.shape[:2] + (h, w))
    for a in range(dxp.shape[2]):
        for b in range(dxp.shape[3]):
            if mode == "zeros":
                if pt <= a < pt + h and pl <= b < pl + w:
                    dx[:, :, a - pt, b - pl] += dxp[:, :, a, b]
            else:
                dx[:, :, rows[a], cols[b]] += dxp[:, :, a, b]
    return dx


def conv2d_grads_ref(gy, x, w, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                     groups=1, mode="zeros"):
    """(dx, dw, db) of conv2d_ref by the chain rule, one loop per forward term."""
    gy = np.asarray(gy, np.float64)
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    c_out, cin_g, kh, kw = w.shape
    cout_g = c_out // groups
    xp = _pad(x, padding, mode)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    (sh, sw), (dh, dwl) = stride, dilation
    n_img, _, ho, wo = gy.shape
    for n in range(n_img):
        for o in range(c_out):
            g = o // cout_g
            for i in range(ho):
                for j in range(wo):
                    for c in range(cin_g):
                        for p in range(kh):
                            for q in range(kw):
                                r, s = i * sh + p * dh, j * sw + q * dwl
                                dxp[n, g * cin_g + c, r, s] += w[o, c, p, q] * gy[n, o, i, j]
                                dw[o, c, p, q] += xp[n, g * cin_g + c, r, s] * gy[n, o, i, j]
    db = gy.sum(axis=(0, 2, 3))
    return fold_padding(dxp, padding, mode, x.shape[2:]), dw, db


def conv_transpose2d_ref(x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                         output_padding=(0, 0), dilation=(1, 1), groups=1):
    """PyTorch's definition: scatter every input value times the kernel, then crop."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n_img, c_in, h, wd = x.shape
    _, cout_g, kh, kw = w.shape
    cin_g = c_in // groups
    (sh, sw), (dh, dwl) = stride, dilation
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0]
    full_w = (wd - 1) * sw + dwl * (kw - 1) + 1 + output_padding[1]
    full = np.zeros((n_img, cout_g * groups, full_h, full_w))
    for n in range(n_img):
        for c in range(c_in):
            g = c // cin_g
            for i in range(h):
                for j in range(wd):
                    for o in range(cout_g):
                        for p in range(kh):
                            for q in range(kw):
                                full[n, g * cout_g + o, i * sh + p * dh, j * sw + q * dwl] += x[n, c, i, j] * w[c, o, p, q]
    (pt, pb), (pl, pr) = padding
    y = full[:, :, pt:full_h - pb, pl:full_w - pr]
    if b is not None:
        y = y + np.asarray(b, np.float64)[:, None, None]
    return y


def conv2d_fast_ref(x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                    groups=1, mode="zeros"):
    """conv2d_ref vectorised with sliding windows (same definition, for finite differences)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    c_out, cin_g, kh, kw = w.shape
    (sh, sw), (dh, dwl) = stride, dilation
    xp = _pad(x, padding, mode)
    win = np.lib.stride_tricks.sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dwl + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dwl]  # (N, C, Ho, Wo, kh, kw)
    n_img, c_in, ho, wo = win.shape[:4]
    win = win.reshape(n_img, groups, cin_g, ho, wo, kh, kw)
    wg = w.reshape(groups, c_out // groups, cin_g, kh, kw)
    y = np.einsum("ngchwpq,gocpq->ngohw", win, wg).reshape(n_img, c_out, ho, wo)
    if b is not None:
        y = y + np.asarray(b, np.float64)[:, None, None]
    return y
