"""Differential fuzzing against PyTorch (CPU): forward and backward of every op (issue 12).

Each case draws one operation and a random configuration from a seed: odd shapes, strides,
dilations, groups, every padding form (int, pair, explicit asymmetric pairs through
``F.pad``, the strings) and padding mode, float32/float64, memory layouts (Fortran,
non-contiguous, negative strides, byte-swapped) and NaN/inf values sprinkled into the
inputs. cyconv's result must match PyTorch's: the same NaN positions, the same infinities,
and the finite values within a per-dtype tolerance scaled by the number of summed terms.

The normal suite runs a fixed set of seeds (a few seconds). ``CYCONV_FUZZ_SECONDS=120``
turns ``test_fuzz_time_budget`` into a run of that many seconds over fresh seeds
(``CYCONV_FUZZ_SEED`` fixes the first one; ``.ci/run`` does this once); it prints the
number of cases and fails listing every disagreement with the seed that reproduces it:
``fuzz_case(seed)``.

Non-finite values next to zero padding (issue 12, defect 4) are a class of their own:
SPEC says padding behaves as stored zeros (``0 * inf`` is NaN), which the convolution code
before the engine (issue 8) gets wrong on its direct path. Those cases are drawn only by the
tests guarded with ``NEEDS_ENGINE`` (forward) and ``NEEDS_ENGINE_BACKWARD`` (weight gradients).
"""

import importlib.util
import os
import time

import numpy as np
import pytest

import cyconv

torch = pytest.importorskip("torch")
F = torch.nn.functional

from torch_padding import padding_arg, torch_pad  # noqa: E402

NEEDS_ENGINE = pytest.mark.skipif(importlib.util.find_spec("cyconv._engine") is None,
                                  reason="needs the conv engine (issue 8)")
HAVE_ENGINE = importlib.util.find_spec("cyconv._engine") is not None


def _engine_has_backward():
    if not HAVE_ENGINE:
        return False
    from cyconv import _engine

    return hasattr(_engine, "conv2d_backward")


# The engine's forward landed first (e1); its gradients (e2) add _engine.conv2d_backward.
HAVE_ENGINE_BACKWARD = _engine_has_backward()
NEEDS_ENGINE_BACKWARD = pytest.mark.skipif(not HAVE_ENGINE_BACKWARD,
                                           reason="needs the conv engine's backward (issue 8)")

DTYPES = (np.float32, np.float64)
EPS = {np.dtype(np.float32): 2.0 ** -23, np.dtype(np.float64): 2.0 ** -52}


class Disagreement(AssertionError):
    pass


# ---------------------------------------------------------------------------------------
# Comparison
def compare(got, want, terms, what):
    """Same shape and dtype, same NaN and inf positions, finite values within tolerance."""
    want = np.asarray(want)
    got_arr = np.asarray(got)
    if got_arr.shape != want.shape:
        raise Disagreement(f"{what}: shape {got_arr.shape} != torch's {want.shape}")
    if want.dtype.kind == "f" and got_arr.dtype != want.dtype:
        raise Disagreement(f"{what}: dtype {got_arr.dtype} != torch's {want.dtype}")
    if want.dtype.kind in "iu":
        if not np.array_equal(got_arr, want):
            raise Disagreement(f"{what}: indices differ at {np.argwhere(got_arr != want)[:5].tolist()}")
        return
    g, w = got_arr.astype(np.float64), want.astype(np.float64)
    gn, wn = np.isnan(g), np.isnan(w)
    if not np.array_equal(gn, wn):
        bad = np.argwhere(gn != wn)[:5].tolist()
        raise Disagreement(f"{what}: NaN positions differ (cyconv NaN {gn.sum()}, torch NaN "
                           f"{wn.sum()}), e.g. at {bad}: cyconv {[g[tuple(i)] for i in bad]} "
                           f"torch {[w[tuple(i)] for i in bad]}")
    gi, wi = np.isinf(g), np.isinf(w)
    if not (np.array_equal(gi, wi) and np.array_equal(g[gi], w[wi])):
        bad = np.argwhere((gi != wi) | (gi & (g != w)))[:5].tolist()
        raise Disagreement(f"{what}: infinities differ, e.g. at {bad}: cyconv "
                           f"{[g[tuple(i)] for i in bad]} torch {[w[tuple(i)] for i in bad]}")
    fin = np.isfinite(w)
    if not fin.any():
        return
    eps = EPS[want.dtype]
    scale = max(1.0, float(np.abs(w[fin]).max()))
    atol = 32 * eps * np.sqrt(max(terms, 1)) * scale
    err = np.abs(g[fin] - w[fin])
    limit = atol + 16 * eps * np.abs(w[fin])
    if np.any(err > limit):
        i = int(np.argmax(err - limit))
        raise Disagreement(f"{what}: max error {err[i]:.3g} > tolerance {limit[i]:.3g} "
                           f"(cyconv {g[fin][i]!r}, torch {w[fin][i]!r})")


# ---------------------------------------------------------------------------------------
# Random ingredients
def t(a):
    return torch.from_numpy(np.array(a, dtype=a.dtype.newbyteorder("="), copy=True, order="C"))


def layout(rng, a):
    """The same values in a random memory layout."""
    r = int(rng.integers(6))
    if r <= 1 or a.ndim < 2:
        return a
    if r == 2:
        return np.asfortranarray(a)
    if r == 3:
        big = np.zeros(a.shape[:-1] + (3 * a.shape[-1],), a.dtype)
        big[..., 1::3] = a
        return big[..., 1::3]
    if r == 4:
        return np.flip(np.flip(a).copy())  # negative strides on every axis
    return a.astype(a.dtype.newbyteorder())


def sprinkle(rng, a, p=0.3):
    """With probability p, a few NaN / +inf / -inf entries; the values are never modified."""
    if a.size == 0 or rng.random() >= p:
        return a, False
    a = a.copy()
    for i in rng.integers(a.size, size=int(rng.integers(1, 4))):
        a.flat[i] = rng.choice([np.nan, np.inf, -np.inf])
    return a, True


def conv_geometry(rng, dtype, modes=True):
    groups = int(rng.choice([1, 1, 2, 3]))
    cg, cog = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if rng.random() < 0.2:  # depthwise
        cg, cog = 1, int(rng.integers(1, 3))
        groups = int(rng.integers(1, 5))
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    d = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding, pads = padding_arg(rng, k, d)
    mode = str(rng.choice(["zeros", "zeros", "zeros", "reflect", "replicate", "circular"])) if modes else "zeros"
    hw = []
    for kk, dd, (pb, pa) in zip(k, d, pads):
        need = max(1, dd * (kk - 1) + 1 - pb - pa)
        if mode == "reflect":
            need = max(need, pb + 1, pa + 1)
        elif mode == "circular":
            need = max(need, pb, pa)
        hw.append(need + int(rng.integers(0, 6)))
    n = int(rng.integers(0, 4)) if rng.random() < 0.1 else int(rng.integers(1, 4))
    return dict(groups=groups, cin=cg * groups, cout=cog * groups, k=k, stride=s, dilation=d,
                padding=padding, pads=pads, mode=mode, hw=tuple(hw), n=n, dtype=np.dtype(dtype))


def zero_padded(c):
    return c["mode"] == "zeros" and any(map(any, c["pads"]))


def describe(c):
    keys = ("n", "cin", "cout", "groups", "hw", "k", "stride", "dilation", "padding", "mode", "dtype")
    return " ".join(f"{key}={c[key]!r}" for key in keys if key in c)


# ---------------------------------------------------------------------------------------
# One case per op. Each gets (rng, dtype, pad_nonfinite): pad_nonfinite says whether
# non-finite values may meet zero padding (the engine-only class).
def _finite_or_not(rng, c, a, allowed):
    return sprinkle(rng, a) if allowed else (a, False)


def case_conv2d(rng, dtype, pad_nonfinite):
    c = conv_geometry(rng, dtype)
    x = rng.standard_normal((c["n"], c["cin"]) + c["hw"]).astype(dtype)
    w = rng.standard_normal((c["cout"], c["cin"] // c["groups"]) + c["k"]).astype(dtype)
    b = rng.standard_normal(c["cout"]).astype(dtype) if rng.random() < 0.5 else None
    x, _ = sprinkle(rng, x)
    w, _ = _finite_or_not(rng, c, w, pad_nonfinite or not zero_padded(c))
    if pad_nonfinite and not (zero_padded(c) and not np.isfinite(w).all()):
        return None  # not this class
    want = F.conv2d(torch_pad(t(x), c["pads"], c["mode"]), t(w), None if b is None else t(b),
                    stride=c["stride"], dilation=c["dilation"], groups=c["groups"]).numpy()
    what = f"conv2d {describe(c)} bias={b is not None}"
    if rng.random() < 0.25:  # a single (C, H, W) image
        x, want = x[:1].reshape(x.shape[1:]) if x.shape[0] else x, want[:1].reshape(want.shape[1:]) if x.shape[0] else want
    got = cyconv.conv2d(layout(rng, x), layout(rng, w), b, stride=c["stride"], padding=c["padding"],
                        dilation=c["dilation"], groups=c["groups"], padding_mode=c["mode"])
    compare(got, want, w[0].size, what)
    return what


def case_conv2d_backward(rng, dtype, pad_nonfinite):
    c = conv_geometry(rng, dtype)
    x = rng.standard_normal((c["n"], c["cin"]) + c["hw"]).astype(dtype)
    w = rng.standard_normal((c["cout"], c["cin"] // c["groups"]) + c["k"]).astype(dtype)
    x, _ = sprinkle(rng, x)
    w, _ = sprinkle(rng, w)
    xt, wt = t(x).requires_grad_(True), t(w).requires_grad_(True)
    bt = torch.zeros(c["cout"], dtype=xt.dtype, requires_grad=True)
    y = F.conv2d(torch_pad(xt, c["pads"], c["mode"]), wt, bt, stride=c["stride"],
                 dilation=c["dilation"], groups=c["groups"])
    gy = rng.standard_normal(tuple(y.shape)).astype(dtype)
    gy, _ = _finite_or_not(rng, c, gy, pad_nonfinite or not zero_padded(c))
    if pad_nonfinite and not (zero_padded(c) and not np.isfinite(gy).all()):
        return None
    if dtype == np.float32 and not all(np.isfinite(a).all() for a in (x, w, gy)):
        # PyTorch's float32 input gradient (oneDNN, stride > 1) makes NaN from an inf weight
        # where the exact sum has none (its float64 path and a plain loop agree): with
        # non-finite values the oracle is PyTorch in float64, rounded to float32.
        xt, wt = t(x.astype(np.float64)).requires_grad_(True), t(w.astype(np.float64)).requires_grad_(True)
        bt = torch.zeros(c["cout"], dtype=torch.float64, requires_grad=True)
        y = F.conv2d(torch_pad(xt, c["pads"], c["mode"]), wt, bt, stride=c["stride"],
                     dilation=c["dilation"], groups=c["groups"])
        y.backward(t(gy.astype(np.float64)))
    else:
        y.backward(t(gy))
    grads = [v.grad.to(torch.float32 if dtype == np.float32 else torch.float64) for v in (xt, wt, bt)]
    compute = tuple(nm for nm in ("input", "weight", "bias") if rng.random() < 0.75) or ("weight",)
    got = cyconv.conv2d_backward(layout(rng, gy), layout(rng, x), layout(rng, w), stride=c["stride"],
                                 padding=c["padding"], dilation=c["dilation"], groups=c["groups"],
                                 padding_mode=c["mode"], compute=compute)
    what = f"conv2d_backward {describe(c)} compute={compute}"
    terms = {"input": c["cout"] * w.shape[2] * w.shape[3],
             "weight": gy.shape[0] * gy.shape[2] * gy.shape[3],
             "bias": gy.shape[0] * gy.shape[2] * gy.shape[3]}
    for nm, want in zip(("input", "weight", "bias"), grads):
        g = getattr(got, nm)
        if nm not in compute:
            if g is not None:
                raise Disagreement(f"{what}: {nm} computed though not asked for")
            continue
        compare(g, want.numpy(), terms[nm], f"{nm} of {what}")
    return what


def _transpose_geometry(rng, dtype, adjoint=False):
    groups = int(rng.choice([1, 1, 2, 3]))
    cig, cog = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    d = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    # output_padding < max(stride, dilation) (PyTorch's rule); < stride for the adjoint
    # identities, where conv2d of the transposed output must have x's shape again.
    op = tuple(int(rng.integers(0, ss if adjoint else max(ss, dd))) for ss, dd in zip(s, d))
    hw = (int(rng.integers(1, 7)), int(rng.integers(1, 7)))
    full = [(n - 1) * ss + dd * (kk - 1) + 1 + o for n, ss, dd, kk, o in zip(hw, s, d, k, op)]
    pads = []
    for f_ in full:
        top = int(rng.integers(0, (f_ + 1) // 2))
        bottom = top if rng.random() < 0.5 else int(rng.integers(0, f_ - top))
        pads.append((top, bottom))
    pads = tuple(pads)
    symmetric = pads[0][0] == pads[0][1] and pads[1][0] == pads[1][1]
    padding = (pads[0][0], pads[1][0]) if symmetric and rng.random() < 0.7 else pads
    n = int(rng.integers(0, 3)) if rng.random() < 0.1 else int(rng.integers(1, 3))
    return dict(groups=groups, cin=cig * groups, cout=cog * groups, k=k, stride=s, dilation=d,
                output_padding=op, padding=padding, pads=pads, mode="zeros", hw=hw, n=n,
                dtype=np.dtype(dtype))


def _torch_transpose(c, xt, wt, bt):
    # PyTorch's oneDNN (mkldnn) float32 deconvolution multiplies the weights by the zeros it
    # inserts between input pixels, so an inf weight leaks NaN into outputs no product of
    # the definition reaches (seed 684817857: NaN at an output that only finite taps reach).
    # Its native col2im path sums exactly the products of the definition: that is the oracle.
    # (Set and restored by hand: mkldnn.flags() warns about TF32 on every call.)
    was, torch.backends.mkldnn.enabled = torch.backends.mkldnn.enabled, False
    try:
        full = F.conv_transpose2d(xt, wt, bt, stride=c["stride"], output_padding=c["output_padding"],
                                  dilation=c["dilation"], groups=c["groups"])
    finally:
        torch.backends.mkldnn.enabled = was
    (pt, pb), (pl, pr) = c["pads"]
    return full[:, :, pt:full.shape[2] - pb, pl:full.shape[3] - pr]


def case_conv_transpose2d(rng, dtype, pad_nonfinite):
    if pad_nonfinite:
        return None
    c = _transpose_geometry(rng, dtype)
    x = rng.standard_normal((c["n"], c["cin"]) + c["hw"]).astype(dtype)
    w = rng.standard_normal((c["cin"], c["cout"] // c["groups"]) + c["k"]).astype(dtype)
    b = rng.standard_normal(c["cout"]).astype(dtype) if rng.random() < 0.5 else None
    x, _ = sprinkle(rng, x)
    w, _ = sprinkle(rng, w)
    want = _torch_transpose(c, t(x), t(w), None if b is None else t(b)).numpy()
    what = f"conv_transpose2d {describe(c)} output_padding={c['output_padding']} bias={b is not None}"
    got = cyconv.conv_transpose2d(layout(rng, x), layout(rng, w), b, stride=c["stride"],
                                  padding=c["padding"], output_padding=c["output_padding"],
                                  dilation=c["dilation"], groups=c["groups"])
    compare(got, want, c["cin"] * w.shape[2] * w.shape[3], what)
    return what


def case_conv_transpose2d_backward(rng, dtype, pad_nonfinite):
    """conv_transpose2d's gradients, through cyconv's adjoints: the input gradient is
    conv2d(grad, w), the weight gradient conv2d_backward(x, grad, w).weight (roles swapped)."""
    c = _transpose_geometry(rng, dtype, adjoint=True)
    x = rng.standard_normal((c["n"], c["cin"]) + c["hw"]).astype(dtype)
    w = rng.standard_normal((c["cin"], c["cout"] // c["groups"]) + c["k"]).astype(dtype)
    cropped = any(map(any, c["pads"]))
    # Here x plays grad_output of the adjoint conv2d, w its weight: non-finite values in
    # either meet the zero padding when the transposed output is cropped.
    x, xf = _finite_or_not(rng, c, x, pad_nonfinite or not cropped)
    w, wf = _finite_or_not(rng, c, w, pad_nonfinite or not cropped)
    if pad_nonfinite and not (cropped and (xf or wf)):
        return None
    xt, wt = t(x).requires_grad_(True), t(w).requires_grad_(True)
    y = _torch_transpose(c, xt, wt, None)
    gy = rng.standard_normal(tuple(y.shape)).astype(dtype)
    gy, _ = sprinkle(rng, gy)
    y.backward(t(gy))
    what = f"conv_transpose2d backward {describe(c)} output_padding={c['output_padding']}"
    geo = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    gx = cyconv.conv2d(layout(rng, gy), layout(rng, w), **geo)
    compare(gx, xt.grad.numpy(), w[0].size * c["cout"] // c["groups"], f"input of {what}")
    gw = cyconv.conv2d_backward(layout(rng, x), gy, w, compute="weight", **geo).weight
    compare(gw, wt.grad.numpy(), x.shape[0] * x.shape[2] * x.shape[3], f"weight of {what}")
    return what


def case_correlate_convolve(rng, dtype, pad_nonfinite):
    c = conv_geometry(rng, dtype)
    lead = tuple(int(v) for v in rng.integers(1, 3, size=int(rng.integers(0, 3))))
    x = rng.standard_normal(lead + c["hw"]).astype(dtype)
    k = rng.standard_normal(c["k"]).astype(dtype)
    x, _ = sprinkle(rng, x)
    k, _ = _finite_or_not(rng, c, k, pad_nonfinite or not zero_padded(c))
    if pad_nonfinite and not (zero_padded(c) and not np.isfinite(k).all()):
        return None
    planes = t(x.reshape((-1, 1) + c["hw"]))
    kw = dict(stride=c["stride"], dilation=c["dilation"], padding=c["padding"], padding_mode=c["mode"])
    flip = bool(rng.random() < 0.5)
    fn = cyconv.convolve2d if flip else cyconv.correlate2d
    kk = k[::-1, ::-1] if flip else k
    want = F.conv2d(torch_pad(planes, c["pads"], c["mode"]), t(np.ascontiguousarray(kk))[None, None],
                    stride=c["stride"], dilation=c["dilation"]).numpy()
    want = want.reshape(lead + want.shape[-2:])
    what = f"{fn.__name__} lead={lead} {describe(c)}"
    got = fn(layout(rng, x), layout(rng, k), **kw)
    compare(got, want, k.size, what)
    return what


def _pool_geometry(rng, dilated):
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    d = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) if dilated else (1, 1)
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)  # PyTorch's bound
    ceil_mode = bool(rng.random() < 0.5)
    hw = tuple(max(1, dd * (kk - 1) + 1 - 2 * pp) + int(rng.integers(0, 7)) for kk, dd, pp in zip(k, d, p))
    lead = tuple(int(v) for v in rng.integers(1, 3, size=int(rng.integers(0, 3))))
    padding = p if rng.random() < 0.6 else (p[0] if p[0] == p[1] and rng.random() < 0.5 else p)
    return k, s, d, p, padding, ceil_mode, lead + hw


def case_max_pool2d(rng, dtype, pad_nonfinite):
    if pad_nonfinite:
        return None
    k, s, d, p, padding, ceil_mode, shape = _pool_geometry(rng, dilated=True)
    x = (rng.integers(-3, 3, size=shape) if rng.random() < 0.5 else rng.standard_normal(shape)).astype(dtype)
    x, _ = sprinkle(rng, x, 0.4)
    what = f"max_pool2d x{shape} k={k} s={s} d={d} p={padding!r} ceil={ceil_mode} {np.dtype(dtype)}"
    xt = t(x.reshape((-1,) + shape[-2:])).requires_grad_(True)
    yt, it = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
    try:
        y, idx = cyconv.max_pool2d(layout(rng, x), k, stride=s, padding=padding, dilation=d,
                                   ceil_mode=ceil_mode, return_indices=True)
    except ValueError as e:  # a window of padding only: cyconv refuses, PyTorch gives -inf
        if "covers only padding" not in str(e) or not torch.isneginf(yt).any():
            raise Disagreement(f"{what}: {e}") from None
        return what
    compare(y.reshape(yt.shape), yt.detach().numpy(), 1, what)
    compare(idx.reshape(it.shape), it.numpy(), 1, f"indices of {what}")
    g = rng.standard_normal(y.shape).astype(dtype)
    g, _ = sprinkle(rng, g)
    yt.backward(t(g.reshape(yt.shape)))
    dx = cyconv.max_pool2d_backward(layout(rng, g), layout(rng, idx), shape)
    compare(dx.reshape(xt.shape), xt.grad.numpy(), k[0] * k[1], f"backward of {what}")
    return what


def case_avg_pool2d(rng, dtype, pad_nonfinite):
    if pad_nonfinite:
        return None
    k, s, _, p, padding, ceil_mode, shape = _pool_geometry(rng, dilated=False)
    cip = bool(rng.random() < 0.5)
    div = int(rng.choice([1, 2, 7])) if rng.random() < 0.2 else None  # SPEC: any nonzero (see dev-notes/rel.md)
    x = rng.standard_normal(shape).astype(dtype)
    x, _ = sprinkle(rng, x)
    what = f"avg_pool2d x{shape} k={k} s={s} p={padding!r} ceil={ceil_mode} cip={cip} div={div} {np.dtype(dtype)}"
    xt = t(x.reshape((-1,) + shape[-2:])).requires_grad_(True)
    yt = F.avg_pool2d(xt, k, s, p, ceil_mode=ceil_mode, count_include_pad=cip, divisor_override=div)
    opts = dict(stride=s, padding=padding, ceil_mode=ceil_mode, count_include_pad=cip, divisor_override=div)
    y = cyconv.avg_pool2d(layout(rng, x), k, **opts)
    compare(y.reshape(yt.shape), yt.detach().numpy(), k[0] * k[1], what)
    g = rng.standard_normal(y.shape).astype(dtype)
    g, _ = sprinkle(rng, g)
    yt.backward(t(g.reshape(yt.shape)))
    dx = cyconv.avg_pool2d_backward(layout(rng, g), shape, k, **opts)
    compare(dx.reshape(xt.shape), xt.grad.numpy(), k[0] * k[1], f"backward of {what}")
    return what


CASES = {
    "conv2d": case_conv2d,
    "conv2d_backward": case_conv2d_backward,
    "conv_transpose2d": case_conv_transpose2d,
    "conv_transpose2d_backward": case_conv_transpose2d_backward,
    "correlate_convolve": case_correlate_convolve,
    "max_pool2d": case_max_pool2d,
    "avg_pool2d": case_avg_pool2d,
}
# The ops in whose cases non-finite values can meet zero padding (defect 4).
PAD_NONFINITE_OPS = ("conv2d", "conv2d_backward", "conv_transpose2d_backward", "correlate_convolve")
BACKWARD_PAD_OPS = ("conv2d_backward", "conv_transpose2d_backward")  # weight gradients


def _op_of(seed, rng=None):
    rng = np.random.default_rng([20261201, seed]) if rng is None else rng
    return list(CASES)[int(rng.integers(len(CASES)))]


def fuzz_case(seed, op=None, pad_nonfinite=False):
    """Run the case of ``seed`` (``op`` drawn from the seed unless given). Returns its
    description, or None when the seed does not draw a case of the asked class."""
    rng = np.random.default_rng([20261201, seed])
    name = _op_of(seed, rng)
    name = op or name
    dtype = DTYPES[int(rng.integers(2))]
    with np.errstate(all="ignore"):
        return CASES[name](rng, dtype, pad_nonfinite)


def _run_seeds(op, seeds, pad_nonfinite=False):
    ran, failures = 0, []
    for seed in seeds:
        try:
            if fuzz_case(seed, op, pad_nonfinite) is not None:
                ran += 1
        except Disagreement as e:
            ran += 1
            failures.append(f"seed {seed}: {e}")
    return ran, failures


# ---------------------------------------------------------------------------------------
# The normal suite: fixed seeds, every op.
SEEDS_PER_OP = 60


@pytest.mark.parametrize("op", list(CASES))
def test_fuzz_fixed_seeds(op):
    ran, failures = _run_seeds(op, range(SEEDS_PER_OP))
    assert ran == SEEDS_PER_OP
    assert not failures, f"{len(failures)} of {ran} cases disagree with PyTorch:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("op", [
    pytest.param(op, marks=NEEDS_ENGINE_BACKWARD if op in BACKWARD_PAD_OPS else NEEDS_ENGINE)
    for op in PAD_NONFINITE_OPS])
def test_fuzz_nonfinite_next_to_zero_padding(op):
    # Defect 4: only seeds that put a NaN/inf where it meets zero padding.
    ran, failures = _run_seeds(op, range(4 * SEEDS_PER_OP), pad_nonfinite=True)
    assert ran >= 10
    assert not failures, f"{len(failures)} of {ran} cases disagree with PyTorch:\n" + "\n".join(failures[:10])


# The two shapes of defect 4, as fixed cases (they fail on the pre-engine code).
@pytest.mark.parametrize("groups", [1, pytest.param(2, marks=NEEDS_ENGINE_BACKWARD)])  # 2: depthwise, the
@pytest.mark.parametrize("dtype", DTYPES)                                     # old direct path
def test_inf_grad_output_next_to_zero_padding(dtype, groups):
    x = np.ones((1, 2, 3, 3), dtype)
    w = np.ones((2, 2 // groups, 3, 3), dtype)
    gy = np.zeros((1, 2, 3, 3), dtype)
    gy[0, :, 0, 0] = np.inf  # the corner output: its window reads the zero padding
    # The padding stored (F.pad): PyTorch's own padding=1 gives 0 here in float32 depthwise
    # (its depthwise kernel skips the padding), NaN elsewhere; SPEC's rule is the stored zeros.
    xt, wt = t(x).requires_grad_(True), t(w).requires_grad_(True)
    F.conv2d(F.pad(xt, (1, 1, 1, 1)), wt, groups=groups).backward(t(gy))
    got = cyconv.conv2d_backward(gy, x, w, padding=1, groups=groups)
    assert np.isnan(wt.grad.numpy()).any()  # 0 * inf = NaN from the padding
    compare(got.weight, wt.grad.numpy(), 9, "weight gradient")
    compare(got.input, xt.grad.numpy(), 9, "input gradient")


@NEEDS_ENGINE
@pytest.mark.parametrize("fn", ["conv2d", "correlate2d"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_inf_weight_on_a_tap_that_reads_only_padding(dtype, fn):
    x = np.ones((1, 1, 1, 1), dtype)
    w = np.ones((1, 1, 3, 3), dtype)
    w[0, 0, 0, 0] = np.inf  # with padding 1 and a 1x1 input this tap reads only padding
    want = F.conv2d(t(x), t(w), padding=1).numpy()
    assert np.isnan(want).all()
    got = cyconv.conv2d(x, w, padding=1) if fn == "conv2d" else cyconv.correlate2d(x[0, 0], w[0, 0], padding=1)
    compare(got, want if fn == "conv2d" else want[0, 0], 9, fn)


# ---------------------------------------------------------------------------------------
# The time-budgeted run (.ci/run): CYCONV_FUZZ_SECONDS=120.
def test_fuzz_time_budget():
    budget = float(os.environ.get("CYCONV_FUZZ_SECONDS", "0") or 0)
    if budget <= 0:
        pytest.skip("set CYCONV_FUZZ_SECONDS to run the time-budgeted fuzz")
    first = int(os.environ.get("CYCONV_FUZZ_SEED", time.time_ns() % 2**31))
    deadline = time.monotonic() + budget
    per_op = dict.fromkeys(CASES, 0)
    per_class = {"regular": 0, "nonfinite next to zero padding": 0}
    failures = []
    seed = first
    while time.monotonic() < deadline:
        pad_ops = [op for op in PAD_NONFINITE_OPS
                   if (HAVE_ENGINE_BACKWARD if op in BACKWARD_PAD_OPS else HAVE_ENGINE)]
        pad = bool(pad_ops) and seed % 4 == 3  # a quarter of the seeds: defect 4's class
        rng = np.random.default_rng([1, seed])
        op = pad_ops[int(rng.integers(len(pad_ops)))] if pad else None
        try:
            what = fuzz_case(seed, op, pad)
        except Disagreement as e:
            what = str(e)
            failures.append(f"fuzz_case({seed}, {op!r}, {pad}): {e}")
        if what is not None:
            per_op[op or _op_of(seed)] += 1
            per_class["nonfinite next to zero padding" if pad else "regular"] += 1
        seed += 1
    total = sum(per_class.values())
    print(f"\nfuzz: {total} cases in {budget:.0f} s from seed {first}; {per_class}; per op {per_op}; "
          f"{len(failures)} disagreements")
    assert not failures, f"{len(failures)} of {total} cases disagree with PyTorch:\n" + "\n".join(failures[:20])


def test_transpose_inf_weight_reaches_only_its_own_outputs():
    # The seed on which PyTorch's oneDNN float32 deconvolution put NaN where only finite
    # taps reach (see _torch_transpose); cyconv must agree with the definition there.
    assert fuzz_case(684817857, "conv_transpose2d") is not None
