"""out= buffers that are ndarray subclasses or whose elements overlap each other (issue 12).

Before: out=np.matrix(...) failed with "not enough values to unpack (expected 4, got 2)",
and a zero-stride as_strided out= was accepted and filled with garbage. Every function that
takes out= goes through the shared result_buffer; each is tested here.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import cyconv
from cyconv import _arrays

RNG = np.random.default_rng(20261201)
X2 = RNG.standard_normal((9, 8))
X3 = RNG.standard_normal((2, 9, 8))
X4 = RNG.standard_normal((2, 3, 9, 8))
W = RNG.standard_normal((4, 3, 3, 2))
K = RNG.standard_normal((3, 2))

# name -> (function of out, input) ; 2-D results where the op allows them (np.matrix is 2-D).
CALLS = {
    "conv2d": (lambda x, out=None: cyconv.conv2d(x, W, np.ones(4), padding=1, out=out), X4),
    "conv2d_reflect": (lambda x, out=None: cyconv.conv2d(x, W, padding=1, padding_mode="reflect", out=out), X4),
    "conv2d_chw": (lambda x, out=None: cyconv.conv2d(x, W, stride=2, out=out), X4[0]),
    "correlate2d": (lambda x, out=None: cyconv.correlate2d(x, K, padding="same", out=out), X2),
    "convolve2d": (lambda x, out=None: cyconv.convolve2d(x, K, padding="full", out=out), X2),
    "correlate2d_planes": (lambda x, out=None: cyconv.correlate2d(x, K, stride=2, out=out), X3),
    "max_pool2d": (lambda x, out=None: cyconv.max_pool2d(x, 3, stride=1, padding=1, out=out), X2),
    "max_pool2d_indices": (lambda x, out=None: cyconv.max_pool2d(x, 2, return_indices=True, out=out), X3),
    "avg_pool2d": (lambda x, out=None: cyconv.avg_pool2d(x, 3, stride=1, padding=1, out=out), X2),
    "avg_pool2d_planes": (lambda x, out=None: cyconv.avg_pool2d(x, 2, ceil_mode=True, out=out), X3),
}


def _result(name):
    fn, x = CALLS[name]
    r = fn(x)
    return r[0] if isinstance(r, tuple) else r


def _call(name, out):
    fn, x = CALLS[name]
    r = fn(x, out=out)
    return r[0] if isinstance(r, tuple) else r


def _zero_stride(want):
    return as_strided(np.zeros(1), want.shape, (0,) * want.ndim)


def _repeated_last_axis(want):
    """Each row is written over by the next: strides (8, 8) for a 2-D shape."""
    base = np.zeros(want.size + want.shape[-1])
    strides = (base.itemsize,) * want.ndim
    return as_strided(base, want.shape, strides)


def _half_element(want):
    """Elements 4 bytes apart: each float64 shares half its bytes with its neighbour."""
    base = np.zeros(want.size)
    strides = tuple(s // 2 for s in np.empty(want.shape).strides)
    return as_strided(base, want.shape, strides)


def _one_axis_broadcast(want):
    """Zero stride on the first axis only (the planes all alias the first)."""
    base = np.zeros(want.shape[1:])
    return as_strided(base, want.shape, (0,) + base.strides)


OVERLAPPING = {
    "zero_stride": _zero_stride,
    "repeated_last_axis": _repeated_last_axis,
    "half_element": _half_element,
    "one_axis_broadcast": _one_axis_broadcast,
}


@pytest.mark.parametrize("kind", list(OVERLAPPING))
@pytest.mark.parametrize("name", list(CALLS))
def test_self_overlapping_out_is_refused(name, kind):
    want = _result(name)
    out = OVERLAPPING[kind](want)
    assert out.flags.writeable
    before = out.copy()
    with pytest.raises(ValueError, match=r"out's elements overlap each other"):
        _call(name, out)
    np.testing.assert_array_equal(out, before)  # refused before any kernel ran


def _interleaved(shape):
    """Distinct elements whose strides do not nest: the last two axes (a, 2) at element
    offsets 2*i + 3*j (even offsets for j = 0, odd for j = 1), outer axes C-order above."""
    a, two = shape[-2:]
    assert two == 2
    inner = 2 * (a - 1) + 3 + 1
    outer = int(np.prod(shape[:-2]))
    base = np.full(outer * inner, -7.0)
    it = base.itemsize
    strides, step = [], inner * it
    for n in reversed(shape[:-2]):
        strides.insert(0, step)
        step *= n
    return as_strided(base, shape, tuple(strides) + (2 * it, 3 * it))


# Calls whose results end in (a, 2), for the interleaved out=.
CALLS_2 = {
    "conv2d": lambda out=None: cyconv.conv2d(X4, W[:, :, :, :1], stride=(1, 4), out=out),
    "correlate2d": lambda out=None: cyconv.correlate2d(X3, K[:, :1], stride=(1, 5), out=out),
    "convolve2d": lambda out=None: cyconv.convolve2d(X2, np.ones((2, 7)), out=out),
    "max_pool2d": lambda out=None: cyconv.max_pool2d(X3, (1, 4), out=out),
    "avg_pool2d": lambda out=None: cyconv.avg_pool2d(X4, (2, 4), stride=(1, 4), out=out),
}


@pytest.mark.parametrize("name", list(CALLS_2))
def test_distinct_but_interleaved_out_is_accepted(name):
    want = CALLS_2[name]()
    out = _interleaved(want.shape)
    assert not (out.flags.c_contiguous or out.flags.f_contiguous)
    assert not _arrays._self_overlapping(out)
    got = CALLS_2[name](out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)


def test_exact_check_on_non_nested_strides():
    f = _arrays._self_overlapping
    base = np.zeros(100)
    it = base.itemsize
    # offsets 2i + 3j for i, j < 3: {0,2,4,3,5,7,6,8,10} are distinct, strides do not nest
    assert not f(as_strided(base, (3, 3), (2 * it, 3 * it)))
    # offsets 2i + 3j for i < 4, j < 3: 6 = 2*3 = 3*2 collides
    assert f(as_strided(base, (4, 3), (2 * it, 3 * it)))
    assert f(as_strided(base, (2, 2), (it, it)))
    assert not f(np.zeros((5, 4))[:, ::2])
    assert not f(np.zeros((5, 4)).T[::-1])
    assert not f(np.zeros((0, 3)))
    assert not f(as_strided(base, (1, 50), (0, it)))  # a zero stride on a length-1 axis


def test_huge_non_nested_out_is_refused_rather_than_scanned(monkeypatch):
    monkeypatch.setattr(_arrays, "_EXACT_OVERLAP_CHECK_MAX", 4)
    base = np.zeros(100)
    it = base.itemsize
    assert _arrays._self_overlapping(as_strided(base, (3, 3), (2 * it, 3 * it)))
    assert not _arrays._self_overlapping(np.zeros((5, 4))[:, ::2])  # nested: no scan needed


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("name", list(CALLS))
def test_matrix_out(name):
    want = _result(name)
    if want.ndim == 2:  # np.matrix can hold the result: it works, like NumPy's ufuncs
        for make in (lambda: np.matrix(np.zeros(want.shape)),
                     lambda: np.matrix(np.zeros(want.shape, ">f8")),       # byte-swapped
                     lambda: np.asmatrix(np.zeros(want.shape[::-1]).T)):   # Fortran order
            out = make()
            assert type(out) is np.matrix
            got = _call(name, out)
            assert got is out
            np.testing.assert_array_equal(np.asarray(out), want)
    else:  # a clear error naming the shapes, not "not enough values to unpack"
        with pytest.raises(ValueError, match=r"out has shape \(\d+, \d+\), expected the result shape"):
            _call(name, np.matrix(np.zeros((want.shape[-2], want.shape[-1]))))


@pytest.mark.parametrize("name", list(CALLS))
def test_memmap_out(name, tmp_path):
    want = _result(name)
    out = np.memmap(tmp_path / "out.bin", dtype=want.dtype, mode="w+", shape=want.shape)
    got = _call(name, out)
    assert got is out
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("name", list(CALLS))
def test_masked_array_out_is_a_type_error(name):
    want = _result(name)
    with pytest.raises(TypeError, match="masked array"):
        _call(name, np.ma.zeros(want.shape))


def test_max_pool2d_indices_with_subclass_out():
    x = X3
    want, wi = cyconv.max_pool2d(x, 2, return_indices=True)
    out = np.zeros(want.shape).view(type("Sub", (np.ndarray,), {}))
    r, i = cyconv.max_pool2d(x, 2, return_indices=True, out=out)
    assert r is out
    np.testing.assert_array_equal(np.asarray(r), want)
    np.testing.assert_array_equal(i, wi)
