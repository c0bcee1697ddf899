"""Seeded random configurations of every public operation against PyTorch (CPU).

Each test draws its configurations from ``numpy.random.default_rng(seed)`` with a
fixed seed per parametrised case, so a failure names a reproducible configuration
(printed in the assertion message). Shapes are small and odd on purpose (1-pixel
images, kernels as large as the padded input, strides larger than the kernel,
dilations that exactly fit, grouped and depthwise channels, asymmetric padding).
PyTorch has no asymmetric or string padding beyond 'same'/'valid' for stride 1, so
the oracle pads explicitly with ``F.pad`` (whose ``reflect``/``replicate``/
``circular`` modes are what ``padding_mode`` means) and then calls the op unpadded.
"""

import zlib

import numpy as np
import pytest

import cyconv

torch = pytest.importorskip("torch")
F = torch.nn.functional

from torch_padding import padding_arg, torch_pad  # noqa: E402

DTYPES = (np.float32, np.float64)
# Relative error allowed per accumulated term (the bound grows like sqrt(terms) for
# random-sign sums; the factor 8 absorbs BLAS reassociation).
EPS = {np.float32: 8 * 2.0 ** -23, np.float64: 8 * 2.0 ** -52}


def close(got, want, terms, dtype, what):
    """assert_allclose with a tolerance scaled by the number of summed terms and the
    magnitude of the values."""
    want = np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    atol = EPS[dtype] * np.sqrt(max(terms, 1)) * scale * 4
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=EPS[dtype] * 16,
                               atol=atol, err_msg=what)


def t(a):
    return torch.from_numpy(np.array(a, copy=True, order="C"))


def maybe_strided(rng, a):
    """Sometimes a non-contiguous / negative-stride / Fortran view of the same values."""
    r = rng.integers(4)
    if r == 0 or a.ndim < 2:
        return a
    if r == 1:
        return np.asfortranarray(a)
    if r == 2:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    return a[..., ::-1].copy()[..., ::-1]


def conv_config(rng, dtype, allow_modes=True):
    groups = int(rng.choice([1, 1, 2, 3]))
    cg, cog = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    d = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding, pads = padding_arg(rng, k, d)
    mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"])) if allow_modes else "zeros"
    hw = []
    for kk, dd, (pb, pa) in zip(k, d, pads):
        need = max(1, dd * (kk - 1) + 1 - pb - pa)
        if mode == "reflect":
            need = max(need, pb + 1, pa + 1)
        elif mode == "circular":
            need = max(need, pb, pa)
        hw.append(need + int(rng.integers(0, 5)))
    n = int(rng.integers(0, 4)) if rng.random() < 0.15 else int(rng.integers(1, 4))
    x = rng.standard_normal((n, cg * groups) + tuple(hw)).astype(dtype)
    w = rng.standard_normal((cog * groups, cg) + k).astype(dtype)
    b = rng.standard_normal(cog * groups).astype(dtype) if rng.random() < 0.5 else None
    return dict(x=x, w=w, b=b, stride=s, dilation=d, padding=padding, pads=pads,
                groups=groups, mode=mode)


def describe(c):
    return (f"x{c['x'].shape} w{c['w'].shape} bias={c['b'] is not None} stride={c['stride']} "
            f"dilation={c['dilation']} padding={c['padding']!r} groups={c['groups']} "
            f"padding_mode={c['mode']} dtype={c['x'].dtype}")


def torch_conv(c, x=None, w=None, b=None):
    x = t(c["x"]) if x is None else x
    w = t(c["w"]) if w is None else w
    if b is None and c["b"] is not None:
        b = t(c["b"])
    xp = torch_pad(x, c["pads"], c["mode"])
    return F.conv2d(xp, w, b, stride=c["stride"], dilation=c["dilation"], groups=c["groups"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(40))
def test_conv2d(seed, dtype):
    rng = np.random.default_rng([1, seed])
    c = conv_config(rng, dtype)
    want = torch_conv(c).numpy()
    x, w = maybe_strided(rng, c["x"]), maybe_strided(rng, c["w"])
    got = cyconv.conv2d(x, w, c["b"], stride=c["stride"], padding=c["padding"],
                        dilation=c["dilation"], groups=c["groups"], padding_mode=c["mode"])
    assert got.dtype == dtype and got.shape == want.shape, describe(c)
    close(got, want, c["w"][0].size, dtype, describe(c))


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("seed", range(12))
def test_conv2d_unbatched_and_same_as_torch(seed):
    """(C, H, W) inputs; torch's padding='same' (stride 1) is cyconv's 'same_upper'."""
    rng = np.random.default_rng([2, seed])
    dtype = DTYPES[seed % 2]
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    x = rng.standard_normal((2, int(rng.integers(1, 7)), int(rng.integers(1, 7)))).astype(dtype)
    w = rng.standard_normal((3, 2) + k).astype(dtype)
    want = F.conv2d(t(x)[None], t(w), padding="same", dilation=d)[0].numpy()
    got = cyconv.conv2d(x, w, padding="same_upper", dilation=d)
    close(got, want, w[0].size, dtype, f"{x.shape} {w.shape} d={d}")


@pytest.mark.parametrize("seed", range(24))
def test_correlate_convolve2d(seed):
    rng = np.random.default_rng([3, seed])
    dtype = DTYPES[seed % 2]
    c = conv_config(rng, dtype)
    k = c["w"][0, 0]
    lead = tuple(int(v) for v in rng.integers(1, 3, size=int(rng.integers(0, 3))))
    x = rng.standard_normal(lead + c["x"].shape[2:]).astype(dtype)
    planes = t(x.reshape((-1, 1) + x.shape[-2:]))
    kw = dict(stride=c["stride"], dilation=c["dilation"], padding=c["padding"], padding_mode=c["mode"])
    for flip, fn in ((False, cyconv.correlate2d), (True, cyconv.convolve2d)):
        kk = k[::-1, ::-1] if flip else k
        want = F.conv2d(torch_pad(planes, c["pads"], c["mode"]), t(kk)[None, None],
                        stride=c["stride"], dilation=c["dilation"]).numpy()
        got = fn(maybe_strided(rng, x), maybe_strided(rng, k), **kw)
        assert got.shape == lead + want.shape[-2:], describe(c)
        close(got.reshape(want.shape), want, k.size, dtype, f"{fn.__name__} {describe(c)}")


def transpose_config(rng, dtype):
    groups = int(rng.choice([1, 1, 2, 3]))
    cig, cog = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    d = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    op = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
    hw = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    full = [(n - 1) * ss + dd * (kk - 1) + 1 + o for n, ss, dd, kk, o in zip(hw, s, d, k, op)]
    # padding: symmetric (torch's own) or asymmetric (cropped from torch's unpadded result)
    pads = []
    for f_ in full:
        top = int(rng.integers(0, (f_ + 1) // 2))
        bottom = top if rng.random() < 0.5 else int(rng.integers(0, f_ - top))
        pads.append((top, bottom))
    pads = tuple(pads)
    padding = pads if pads[0][0] != pads[0][1] or pads[1][0] != pads[1][1] else (pads[0][0], pads[1][0])
    n = int(rng.integers(0, 3))
    x = rng.standard_normal((n, cig * groups) + hw).astype(dtype)
    w = rng.standard_normal((cig * groups, cog) + k).astype(dtype)
    b = rng.standard_normal(cog * groups).astype(dtype) if rng.random() < 0.5 else None
    return x, w, b, s, d, op, pads, padding, groups


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(30))
def test_conv_transpose2d(seed, dtype):
    rng = np.random.default_rng([4, seed])
    x, w, b, s, d, op, pads, padding, groups = transpose_config(rng, dtype)
    full = F.conv_transpose2d(t(x), t(w), None if b is None else t(b), stride=s,
                              output_padding=op, dilation=d, groups=groups).numpy()
    (pt, pb), (pl, pr) = pads
    want = full[:, :, pt:full.shape[2] - pb, pl:full.shape[3] - pr]
    what = f"x{x.shape} w{w.shape} bias={b is not None} s={s} d={d} op={op} padding={padding} g={groups}"
    got = cyconv.conv_transpose2d(maybe_strided(rng, x), maybe_strided(rng, w), b, stride=s,
                                  padding=padding, output_padding=op, dilation=d, groups=groups)
    assert got.dtype == dtype and got.shape == want.shape, what
    close(got, want, w.shape[1] * w.shape[2] * w.shape[3] * x.shape[1], dtype, what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(30))
def test_conv2d_backward_vs_autograd(seed, dtype):
    rng = np.random.default_rng([5, seed])
    c = conv_config(rng, dtype)
    xt = t(c["x"]).requires_grad_(True)
    wt = t(c["w"]).requires_grad_(True)
    bt = torch.zeros(c["w"].shape[0], dtype=xt.dtype, requires_grad=True)
    y = torch_conv(c, xt, wt, bt)
    gy = rng.standard_normal(tuple(y.shape)).astype(dtype)
    y.backward(t(gy))
    names = ("input", "weight", "bias")
    compute = tuple(nm for nm in names if rng.random() < 0.7) or ("input",)
    got = cyconv.conv2d_backward(maybe_strided(rng, gy), maybe_strided(rng, c["x"]), c["w"],
                                 stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                                 groups=c["groups"], padding_mode=c["mode"], compute=compute)
    what = f"{describe(c)} compute={compute}"
    terms = {"input": c["w"].shape[0] * c["w"].shape[2] * c["w"].shape[3],
             "weight": gy.shape[0] * gy.shape[2] * gy.shape[3],
             "bias": gy.shape[0] * gy.shape[2] * gy.shape[3]}
    for nm, want in zip(names, (xt.grad, wt.grad, bt.grad)):
        g = getattr(got, nm)
        if nm not in compute:
            assert g is None, what
            continue
        assert g.dtype == dtype and g.shape == tuple(want.shape), f"{nm}: {what}"
        close(g, want.numpy(), terms[nm], dtype, f"{nm}: {what}")


def pool_config(rng, *, dilated):
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    d = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) if dilated else (1, 1)
    # PyTorch allows at most kernel_size // 2 (cyconv: half the effective kernel)
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    ceil_mode = bool(rng.random() < 0.5)
    hw = tuple(max(1, dd * (kk - 1) + 1 - 2 * pp) + int(rng.integers(0, 6))
               for kk, dd, pp in zip(k, d, p))
    lead = tuple(int(v) for v in rng.integers(1, 3, size=int(rng.integers(0, 3))))
    return k, s, d, p, ceil_mode, lead + hw


@pytest.mark.parametrize("seed", range(60))
def test_max_pool2d_and_backward(seed):
    rng = np.random.default_rng([6, seed])
    dtype = DTYPES[seed % 2]
    k, s, d, p, ceil_mode, shape = pool_config(rng, dilated=True)
    # Small integers force ties (first maximum wins) and sometimes a NaN.
    x = rng.integers(-3, 3, size=shape).astype(dtype)
    if rng.random() < 0.3 and x.size:
        x.ravel()[rng.integers(x.size, size=2)] = np.nan
    what = f"x{shape} k={k} s={s} d={d} p={p} ceil={ceil_mode} {np.dtype(dtype)}"
    xt = t(x.reshape((-1,) + shape[-2:])).requires_grad_(True)
    yt, it = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
    try:
        y, idx = cyconv.max_pool2d(maybe_strided(rng, x), k, stride=s, padding=p, dilation=d,
                                   ceil_mode=ceil_mode, return_indices=True)
    except ValueError as e:
        # cyconv refuses a window of padding only; PyTorch gives -inf there.
        assert "covers only padding" in str(e), what
        assert torch.isneginf(yt).any(), what
        return
    assert y.dtype == dtype and y.shape == shape[:-2] + tuple(yt.shape[-2:]), what
    np.testing.assert_array_equal(y.reshape(yt.shape), yt.detach().numpy(), err_msg=what)
    np.testing.assert_array_equal(idx.reshape(it.shape), it.numpy(), err_msg=what)
    g = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(t(g.reshape(yt.shape)))
    dx = cyconv.max_pool2d_backward(g, idx, shape)
    assert dx.dtype == dtype and dx.shape == shape, what
    close(dx.reshape(xt.shape), xt.grad.numpy(), 16, dtype, what)


@pytest.mark.parametrize("seed", range(60))
def test_avg_pool2d_and_backward(seed):
    rng = np.random.default_rng([7, seed])
    dtype = DTYPES[seed % 2]
    k, s, _, p, ceil_mode, shape = pool_config(rng, dilated=False)
    cip = bool(rng.random() < 0.5)
    div = int(rng.integers(1, 10)) if rng.random() < 0.25 else None
    x = rng.standard_normal(shape).astype(dtype)
    what = f"x{shape} k={k} s={s} p={p} ceil={ceil_mode} cip={cip} div={div} {np.dtype(dtype)}"
    xt = t(x.reshape((-1,) + shape[-2:])).requires_grad_(True)
    yt = F.avg_pool2d(xt, k, s, p, ceil_mode=ceil_mode, count_include_pad=cip, divisor_override=div)
    y = cyconv.avg_pool2d(maybe_strided(rng, x), k, stride=s, padding=p, ceil_mode=ceil_mode,
                          count_include_pad=cip, divisor_override=div)
    assert y.dtype == dtype and y.shape == shape[:-2] + tuple(yt.shape[-2:]), what
    close(y.reshape(yt.shape), yt.detach().numpy(), k[0] * k[1], dtype, what)
    g = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(t(g.reshape(yt.shape)))
    dx = cyconv.avg_pool2d_backward(maybe_strided(rng, g), shape, k, stride=s, padding=p,
                                    ceil_mode=ceil_mode, count_include_pad=cip, divisor_override=div)
    assert dx.dtype == dtype and dx.shape == shape, what
    close(dx.reshape(xt.shape), xt.grad.numpy(), k[0] * k[1], dtype, what)


@pytest.mark.parametrize("seed", range(10))
def test_shape_functions_agree_with_torch(seed):
    rng = np.random.default_rng([8, seed])
    c = conv_config(rng, np.float64, allow_modes=False)
    want = torch_conv(c).shape
    got = cyconv.conv2d_output_shape(c["x"].shape, c["w"].shape, stride=c["stride"],
                                     padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    assert got == tuple(want), describe(c)
    k, s, d, p, ceil_mode, shape = pool_config(rng, dilated=True)
    if 0 in shape:
        return
    ref = F.max_pool2d(torch.zeros(shape[-2:])[None], k, s, p, d, ceil_mode=ceil_mode)
    assert cyconv.pool2d_output_shape(shape, k, stride=s, padding=p, dilation=d,
                                      ceil_mode=ceil_mode)[-2:] == tuple(ref.shape[-2:])


# Hypothesis, derandomised: wider geometry than the seeded draws (large strides,
# dilations and paddings on tiny images).
from hypothesis import given, settings, strategies as st  # noqa: E402

_HYP = settings(derandomize=True, max_examples=60, deadline=None, database=None)


@st.composite
def wide_conv(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    s = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    pads = tuple((draw(st.integers(0, 12)), draw(st.integers(0, 12))) for _ in range(2))
    hw = tuple(max(1, dd * (kk - 1) + 1 - sum(p)) + draw(st.integers(0, 6))
               for kk, dd, p in zip(k, d, pads))
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    n = draw(st.integers(1, 2))
    dtype = draw(st.sampled_from(DTYPES))
    return n, cin, cout, groups, hw, k, s, d, pads, dtype


@_HYP
@given(wide_conv())
def test_conv2d_wide_geometry(cfg):
    n, cin, cout, groups, hw, k, s, d, pads, dtype = cfg
    rng = np.random.default_rng(zlib.crc32(repr(cfg).encode()))  # deterministic per example
    x = rng.standard_normal((n, cin) + hw).astype(dtype)
    w = rng.standard_normal((cout, cin // groups) + k).astype(dtype)
    (pt, pb), (pl, pr) = pads
    xt = F.pad(t(x), (pl, pr, pt, pb))
    want = F.conv2d(xt, t(w), stride=s, dilation=d, groups=groups).numpy()
    got = cyconv.conv2d(x, w, stride=s, padding=pads, dilation=d, groups=groups)
    close(got, want, w[0].size, dtype, str(cfg))
    gy = rng.standard_normal(got.shape).astype(dtype)
    xg = t(x).requires_grad_(True)
    wg = t(w).requires_grad_(True)
    F.conv2d(F.pad(xg, (pl, pr, pt, pb)), wg, stride=s, dilation=d, groups=groups).backward(t(gy))
    g = cyconv.conv2d_backward(gy, x, w, stride=s, padding=pads, dilation=d, groups=groups)
    close(g.input, xg.grad.numpy(), cout * k[0] * k[1], dtype, f"input {cfg}")
    close(g.weight, wg.grad.numpy(), n * gy.shape[2] * gy.shape[3], dtype, f"weight {cfg}")
