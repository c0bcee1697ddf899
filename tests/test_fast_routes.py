"""The short routes of the common call: correlate2d/convolve2d through conv2d's fast path,
conv2d_backward straight to the kernels (tiny problems in one fused pass), and the
cheap plain-int cases of the argument normalisation. Each must give the reference
result, and every bad input must still get the general path's exception and message."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reference_conv import ref_correlate2d  # noqa: E402
from reference_conv_grad import conv2d_grads_ref  # noqa: E402
from reference_fast_geometry import fast_geometry_ref  # noqa: E402

import cyconv  # noqa: E402
import cyconv._convolution as impl  # noqa: E402
import cyconv._convolution_grad as grad_mod  # noqa: E402
from cyconv._conv_args import fast_geometry  # noqa: E402
from cyconv._shapes import _int, _pair, _padding  # noqa: E402

TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5}


def assert_close(got, ref):
    tol = TOL[got.dtype]
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=tol,
                               atol=tol * max(1.0, float(np.abs(ref).max(initial=0.0))))


def _spy(monkeypatch, module, name):
    """Record the calls of module.name (still calling it)."""
    calls = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(result)
        return result

    monkeypatch.setattr(module, name, spy)
    return calls


# ---------------------------------------------------------------------------------
# correlate2d / convolve2d

PLANE_CASES = [
    # (x shape, kernel shape, stride, padding, dilation)
    ((6, 8), (1, 2), 1, 0, 1),  # the notes' edge detector
    ((3, 3), (2, 2), 1, 0, 1),
    ((2, 3, 7, 9), (3, 3), 2, 1, 1),
    ((5, 6, 6), (2, 3), 1, 2, 2),
    ((1, 4, 5), (3, 1), 3, 0, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("xs, ks, stride, padding, dilation", PLANE_CASES)
def test_plane_conv_fast_route_matches_reference(monkeypatch, xs, ks, stride, padding, dilation,
                                                  flip, dtype):
    rng = np.random.default_rng(len(xs) + sum(ks))
    x = rng.standard_normal(xs).astype(dtype)
    k = rng.standard_normal(ks).astype(dtype)
    calls = _spy(monkeypatch, impl, "_conv2d_fast")
    f = cyconv.convolve2d if flip else cyconv.correlate2d
    got = f(x, k, stride=stride, padding=padding, dilation=dilation)
    assert calls and calls[0] is not None  # the fast route ran
    assert got.dtype == dtype
    p = (padding, padding)
    ref = ref_correlate2d(x, k[::-1, ::-1] if flip else k, (stride, stride), (p, p),
                          (dilation, dilation))
    assert got.shape == ref.shape
    assert_close(got, ref)
    # The general path (pair options) gives the same numbers.
    general = f(x, k, stride=(stride, stride), padding=(padding, padding),
                dilation=(dilation, dilation))
    np.testing.assert_array_equal(got, general)


def test_plane_conv_fast_route_leaves_inputs_alone():
    x = np.arange(48.0).reshape(6, 8)
    k = np.array([[1.0, -1.0]])
    x0, k0 = x.copy(), k.copy()
    cyconv.convolve2d(x, k)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(k, k0)


@pytest.mark.parametrize("x, k, kw", [
    (np.ones((2, 6, 8), np.float32), np.ones((1, 2), np.float64), {}),  # mixed dtypes: promoted
    (np.ones((6, 8)).T, np.ones((1, 2)), {}),  # non-contiguous x
    (np.ones((6, 8)), np.ones((3, 4))[:, ::2], {}),  # non-contiguous kernel
    (np.ones((6, 8), np.int64), np.ones((1, 2), np.int64), {}),  # integers -> float64
    (np.ones((0, 6, 8)), np.ones((1, 2)), {}),  # no planes
    (np.ones((6, 8)), np.ones((1, 2)), dict(padding=1, padding_mode="reflect")),
])
def test_plane_conv_general_cases_still_right(x, k, kw):
    got = cyconv.correlate2d(x, k, **kw)
    ref_kw = {}
    if "padding" in kw:
        ref_kw = dict(pads=((1, 1), (1, 1)), padding_mode=kw["padding_mode"])
    ref = ref_correlate2d(x, k, **ref_kw)
    assert got.shape == ref.shape
    assert got.dtype == np.result_type(x.dtype, k.dtype, np.float32 if x.dtype.kind == "f" else np.float64)
    np.testing.assert_allclose(got, ref, rtol=1e-6)


PLANE_ERRORS = [
    (dict(kernel=np.ones((1, 1, 2))), ValueError, r"kernel must be 2-D"),
    (dict(kernel=np.ones((0, 2))), ValueError, r"kernel has an empty axis"),
    (dict(kernel=np.ones((9, 2))), ValueError,
     r"output height = floor\(\(6 - 9 \+ 0 \+ 1\)/1\) = -2 < 1: the 9-row kernel is taller"),
    (dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    (dict(dilation=-1), ValueError, r"dilation must be >= 1, got -1"),
    (dict(padding=-2), ValueError, r"padding must be >= 0, got -2"),
    (dict(stride=True), TypeError, r"stride must be an integer, got the bool True"),
    (dict(padding=1.0), TypeError, r"padding must be an integer"),
    (dict(stride=1 << 70), ValueError, r"stride must fit in a C index"),
    (dict(padding_mode="mirror"), ValueError, r"padding_mode must be one of"),
    (dict(x=np.ones(8)), ValueError, r"x must have at least 2 dimensions"),
    (dict(x=np.ones((6, 8), complex)), TypeError, r"x must have a real numeric dtype"),
    (dict(out=np.empty((6, 6))), ValueError, r"out has shape \(6, 6\), expected the result shape \(6, 7\)"),
]


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("change, exc, match", PLANE_ERRORS)
def test_plane_conv_errors_unchanged(change, exc, match, flip):
    args = dict(x=np.ones((6, 8)), kernel=np.ones((1, 2)))
    args.update(change)
    x, k = args.pop("x"), args.pop("kernel")
    f = cyconv.convolve2d if flip else cyconv.correlate2d
    with pytest.raises(exc, match=match):
        f(x, k, **args)


# ---------------------------------------------------------------------------------
# conv2d's shared check

@pytest.mark.parametrize("x, w, opts", [
    (np.ones((1, 1, 6, 8), np.float32), np.ones((1, 1, 1, 2), np.float64), (1, 0, 1, 1)),
    (np.ones((1, 1, 6, 8)), np.ones((1, 1, 1, 2)), (True, 0, 1, 1)),
    (np.ones((1, 1, 6, 8)), np.ones((1, 1, 1, 2)), (1, (0, 0), 1, 1)),
    (np.ones((1, 1, 6, 8)), np.ones((1, 1, 1, 2)), (1, 0, 1, 2)),  # groups mismatch
    (np.ones((1, 1, 6, 8)), np.ones((1, 1, 9, 2)), (1, 0, 1, 1)),  # kernel too tall
    (np.ones((1, 1, 6, 8)), np.ones((1, 1, 1, 2)), (1 << 20, 0, 1, 1)),  # too large for the check
    (np.ones((1, 1, 6, 8)), np.ones((1, 1, 1, 2)), (1, -1, 1, 1)),
    (np.ones((1, 1, 6, 8)), [[[[1.0, 2.0]]]], (1, 0, 1, 1)),  # a list weight
    (np.ones((1, 1, 6, 8)).astype(">f8"), np.ones((1, 1, 1, 2)), (1, 0, 1, 1)),  # byte-swapped
])
def test_fast_geometry_refuses_what_it_cannot_prove(x, w, opts):
    assert fast_geometry(x, w, *opts) is None


class _Sub(np.ndarray):
    pass


def _fuzz_array(rng, ndim_choices=(4, 4, 4, 3, 5)):
    ndim = rng.choice(ndim_choices)
    shape = tuple(int(v) for v in rng.integers(0 if rng.random() < 0.1 else 1, 5, ndim))
    dtype = rng.choice([np.float32, np.float64, np.float64, np.float16, np.int64, ">f8", "<f4"])
    a = np.ones(shape, dtype)
    r = rng.random()
    if r < 0.1 and a.ndim:
        a = a.swapaxes(0, -1)  # not C-contiguous (when it has two long axes)
    elif r < 0.15:
        a = a.view(_Sub)
    elif r < 0.18:
        a = a.tolist()
    return a


OPTION_VALUES = [0, 1, 1, 2, 3, -1, 1 << 19, 1 << 20, 1 << 63, 1 << 70, True, False,
                 np.int64(1), 1.0, (1, 1), None]


def test_fast_geometry_agrees_with_the_python_reference():
    """The compiled check and its plain-Python oracle agree on random, often odd, calls."""
    rng = np.random.default_rng(2024)
    accepted = 0
    for _ in range(4000):
        x, w = _fuzz_array(rng), _fuzz_array(rng)
        if rng.random() < 0.5 and isinstance(x, np.ndarray) and x.ndim == 4:
            # make the shapes agree more often
            g = int(rng.integers(1, 3))
            x = np.ones((x.shape[0], g * int(rng.integers(1, 3))) + x.shape[2:], x.dtype)
            w = np.ones((g * int(rng.integers(1, 3)), x.shape[1] // g) + tuple(
                int(v) for v in rng.integers(1, 4, 2)), x.dtype)
            opts = [int(rng.integers(1, 3)), int(rng.integers(0, 4)), int(rng.integers(1, 3)), g]
        else:
            opts = [OPTION_VALUES[i] for i in rng.integers(0, len(OPTION_VALUES), 4)]
        got = fast_geometry(x, w, *opts)
        want = fast_geometry_ref(x, w, *opts)
        assert got == want, (getattr(x, "shape", x), getattr(w, "shape", w), opts)
        accepted += got is not None
    assert accepted > 300  # the fuzzing reaches the accepting branch too


def test_fast_geometry_of_the_notes_example():
    x = np.ones((1, 1, 6, 8))
    w = np.ones((1, 1, 1, 2))
    assert fast_geometry(x, w, 1, 0, 1, 1) == (1, 2, 1, 1, 1, 1, 0, 0, 6, 7)
    assert fast_geometry(x, w, 2, 1, 1, 1) == (1, 2, 2, 2, 1, 1, 1, 1, 4, 5)


# ---------------------------------------------------------------------------------
# conv2d_backward

BACKWARD_CASES = [
    # (x shape, weight shape, stride, padding, dilation, groups)
    ((1, 1, 6, 8), (1, 1, 1, 2), 1, 0, 1, 1),  # the notes' example: tiny, fused route
    ((2, 3, 5, 5), (6, 1, 3, 3), 1, 1, 1, 3),  # depthwise-ish, tiny, fused route
    ((2, 2, 7, 6), (2, 1, 2, 3), 2, 1, 2, 2),
    ((2, 4, 6, 6), (4, 2, 3, 3), 1, 1, 1, 2),  # two input channels per group: _gradients
    ((3, 1, 40, 40), (4, 1, 3, 3), 1, 1, 1, 1),  # not tiny: _gradients
]

COMPUTES = [("input", "weight", "bias"), ("input",), ("weight",), ("bias",), ("input", "bias"),
            ("weight", "bias")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("compute", COMPUTES)
@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", BACKWARD_CASES)
def test_backward_fast_route_matches_reference(monkeypatch, xs, ws, stride, padding, dilation,
                                                groups, compute, dtype):
    rng = np.random.default_rng(sum(xs) + sum(ws))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    geom = fast_geometry(x, w, stride, padding, dilation, groups)
    assert geom is not None
    gy = rng.standard_normal((xs[0], ws[0], geom[8], geom[9])).astype(dtype)
    calls = _spy(monkeypatch, grad_mod, "conv_setup")
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    got = cyconv.conv2d_backward(gy, x, w, compute=compute, **kw)
    assert not calls  # the short route ran
    p = (padding, padding)
    refs = conv2d_grads_ref(gy, x, w, (stride, stride), (p, p), (dilation, dilation), groups)
    for name, g, ref in zip(("input", "weight", "bias"), got, refs):
        if name in compute:
            assert g.dtype == dtype and g.shape == ref.shape
            assert_close(g, ref)
        else:
            assert g is None
    # The general path (pair options, no short route) agrees.
    general = cyconv.conv2d_backward(gy, x, w, compute=compute, stride=(stride, stride),
                                     padding=(padding, padding), dilation=(dilation, dilation),
                                     groups=groups)
    assert len(calls) == 1
    for a, b in zip(got, general):  # the same kernels: the same bits
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)


def test_backward_tiny_route_uses_one_kernel_call(monkeypatch):
    calls = []
    original = grad_mod._engine.conv2d_backward
    monkeypatch.setattr(grad_mod._engine, "conv2d_backward",
                        lambda *a: (calls.append(a), original(*a))[1])
    x = np.arange(48.0).reshape(1, 1, 6, 8)
    w = np.array([[[[1.0, -1.0]]]])
    g = cyconv.conv2d_backward(np.ones((1, 1, 6, 7)), x, w)
    assert len(calls) == 1  # every gradient in one call into the engine
    np.testing.assert_array_equal(g.input[0, 0], np.tile([1.0, 0, 0, 0, 0, 0, 0, -1.0], (6, 1)))
    np.testing.assert_array_equal(g.weight.ravel(), [np.sum(x[..., :7]), np.sum(x[..., 1:])])
    np.testing.assert_array_equal(g.bias, [42.0])


def test_backward_zero_images():
    x = np.ones((0, 1, 6, 8))
    w = np.ones((1, 1, 1, 2))
    g = cyconv.conv2d_backward(np.ones((0, 1, 6, 7)), x, w)
    assert g.input.shape == x.shape
    np.testing.assert_array_equal(g.weight, np.zeros_like(w))
    np.testing.assert_array_equal(g.bias, [0.0])


BACKWARD_ERRORS = [
    (dict(gy=np.ones((1, 1, 6, 6))), ValueError,
     r"grad_output must have the forward output shape \(1, 1, 6, 7\), got shape \(1, 1, 6, 6\)"),
    (dict(gy=np.ones((1, 1, 6, 7), complex)), TypeError, r"grad_output must have a real numeric dtype"),
    (dict(compute=("input", "gradient")), ValueError, r"compute may only name"),
    (dict(compute=3), TypeError, r"compute must be an iterable"),
    (dict(stride=0), ValueError, r"stride must be >= 1"),
    (dict(padding=-1), ValueError, r"padding must be >= 0"),
    (dict(groups=2), ValueError, r"groups=2 must divide the 1 input channels"),
    (dict(w=np.ones((1, 1, 9, 2))), ValueError, r"output height = .* < 1"),
    (dict(padding_mode="mirror"), ValueError, r"padding_mode must be one of"),
    (dict(padding_mode=np.array(["zeros"])), TypeError, r"padding_mode must be a string"),
]


@pytest.mark.parametrize("change, exc, match", BACKWARD_ERRORS)
def test_backward_errors_unchanged(change, exc, match):
    args = dict(gy=np.ones((1, 1, 6, 7)), x=np.ones((1, 1, 6, 8)), w=np.ones((1, 1, 1, 2)))
    args.update(change)
    gy, x, w = args.pop("gy"), args.pop("x"), args.pop("w")
    with pytest.raises(exc, match=match):
        cyconv.conv2d_backward(gy, x, w, **args)


def test_backward_mixed_dtypes_take_the_general_path():
    x = np.ones((1, 1, 6, 8), np.float32)
    w = np.ones((1, 1, 1, 2), np.float32)
    g = cyconv.conv2d_backward(np.ones((1, 1, 6, 7)), x, w)  # float64 grad_output promotes
    assert g.input.dtype == g.weight.dtype == g.bias.dtype == np.float64


# ---------------------------------------------------------------------------------
# the plain-int short cuts of the normalisation

@pytest.mark.parametrize("f, value, exc, match", [
    (lambda v: _int(v, "n"), True, TypeError, r"n must be an integer, got the bool True"),
    (lambda v: _int(v, "n"), sys.maxsize + 1, ValueError, r"n must fit in a C index"),
    (lambda v: _pair(v, "stride"), 0, ValueError, r"stride must be >= 1, got 0"),
    (lambda v: _pair(v, "stride"), sys.maxsize + 1, ValueError, r"stride must fit in a C index"),
    (lambda v: _padding(v, (3, 3), (1, 1)), -1, ValueError, r"padding must be >= 0, got -1"),
    (lambda v: _padding(v, (3, 3), (1, 1)), False, TypeError, r"padding must be an integer, got the bool"),
    (lambda v: _padding(v, (3, 3), (1, 1)), (sys.maxsize + 1, 0), ValueError, r"must fit in a C index"),
])
def test_short_cuts_keep_the_errors(f, value, exc, match):
    with pytest.raises(exc, match=match):
        f(value)


def test_short_cuts_values():
    assert _int(sys.maxsize, "n") == sys.maxsize
    assert _int(-sys.maxsize, "n") == -sys.maxsize
    assert _pair(3, "stride") == (3, 3)
    assert _pair(0, "output_padding", minimum=0) == (0, 0)
    assert _padding(2, (3, 3), (1, 1)) == ((2, 2), (2, 2))
    assert _padding((1, 2), (3, 3), (1, 1)) == ((1, 1), (2, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_image_takes_the_short_routes(monkeypatch, dtype):
    """(C, H, W) inputs: conv2d and conv2d_backward as a batch of one, the same bits as
    the general path (pair options) and the reference."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 6, 8)).astype(dtype)
    w = rng.standard_normal((4, 2, 2, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    calls = _spy(monkeypatch, impl, "conv_setup")
    y = cyconv.conv2d(x, w, b, padding=1)
    assert not calls and y.shape == (4, 7, 8) and y.dtype == dtype
    np.testing.assert_array_equal(y, cyconv.conv2d(x, w, b, padding=(1, 1)))
    assert len(calls) == 1
    np.testing.assert_array_equal(y, cyconv.conv2d(x[np.newaxis], w, b, padding=1)[0])
    gy = rng.standard_normal(y.shape).astype(dtype)
    gcalls = _spy(monkeypatch, grad_mod, "conv_setup")
    got = cyconv.conv2d_backward(gy, x, w, padding=1)
    assert not gcalls
    general = cyconv.conv2d_backward(gy, x, w, padding=(1, 1))
    assert len(gcalls) == 1
    assert got.input.shape == x.shape
    for a, b_ in zip(got, general):
        np.testing.assert_array_equal(a, b_)
    refs = conv2d_grads_ref(gy[np.newaxis], x[np.newaxis], w, padding=((1, 1), (1, 1)))
    assert_close(got.input, refs[0][0])
    assert_close(got.weight, refs[1])
    assert_close(got.bias, refs[2])
    with pytest.raises(ValueError, match=r"grad_output must have the forward output shape \(4, 7, 8\)"):
        cyconv.conv2d_backward(gy[np.newaxis], x, w, padding=1)
