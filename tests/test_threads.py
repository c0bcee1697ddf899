"""The public ops called concurrently from several Python threads.

The modules are compiled with Cython's ``freethreading_compatible`` directive, which claims
they hold no shared mutable state. These tests check the claim: several threads (each with
its own OpenMP thread count) run the same ops on different inputs at once, and every result
must equal the one computed beforehand on the main thread alone. On a free-threaded
CPython (3.14t) this runs with no GIL at all; on a regular one it still exercises the
kernels' released-GIL sections and the per-thread OpenMP settings.
"""

import os
import sys
import sysconfig
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cyconv

N_THREADS = 4
ROUNDS = 3
TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def _conv2d(x, w, b):
    return (cyconv.conv2d(x, w, b, stride=2, padding=1, groups=2),)


def _conv2d_backward(x, w, b):
    g = np.ones(cyconv.conv2d_output_shape(x.shape, w.shape, stride=2, padding=1, dilation=1, groups=2), x.dtype)
    grads = cyconv.conv2d_backward(g * x.mean(), x, w, stride=2, padding=1, groups=2)
    return tuple(grads)


def _conv_transpose2d(x, w, b):
    # (C_in=4, C_out/groups=3, 3, 3): the same numbers as conv2d's (6, 2, 3, 3) weight.
    return (cyconv.conv_transpose2d(x, w.reshape(4, 3, 3, 3), b, stride=2, padding=1, groups=2),)


def _correlate2d(x, w, b):
    return (cyconv.correlate2d(x, w[0, 0], padding=1, padding_mode="reflect"),)


def _max_pool2d(x, w, b):
    out, idx = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    return out, idx


def _max_pool2d_backward(x, w, b):
    out, idx = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    return (cyconv.max_pool2d_backward(out * 2, idx, x.shape),)


def _avg_pool2d(x, w, b):
    return (cyconv.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),)


def _avg_pool2d_backward(x, w, b):
    g = cyconv.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    return (cyconv.avg_pool2d_backward(g, x.shape, 3, stride=2, padding=1, count_include_pad=False),)


OPS = {
    "conv2d": _conv2d,
    "conv2d_backward": _conv2d_backward,
    "conv_transpose2d": _conv_transpose2d,
    "correlate2d": _correlate2d,
    "max_pool2d": _max_pool2d,
    "max_pool2d_backward": _max_pool2d_backward,
    "avg_pool2d": _avg_pool2d,
    "avg_pool2d_backward": _avg_pool2d_backward,
}


def _cases():
    """Distinct inputs (both float dtypes, odd sizes) so a result landing in the wrong
    thread's output cannot pass for the right one."""
    rng = np.random.default_rng(20240611)
    cases = []
    for i in range(2 * N_THREADS):
        dtype = np.float64 if i % 2 else np.float32
        h, w = 11 + i, 13 + 2 * i
        x = rng.standard_normal((2, 4, h, w)).astype(dtype)
        weight = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
        bias = rng.standard_normal(6).astype(dtype)
        cases.append((x, weight, bias))
    return cases


def _same(got, want):
    assert len(got) == len(want)
    for g, e in zip(got, want):
        if e is None:
            assert g is None
            continue
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape and g.dtype == e.dtype
        if e.dtype.kind in "iu":
            np.testing.assert_array_equal(g, e)
        else:
            tol = TOL[e.dtype]
            np.testing.assert_allclose(g, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(OPS))
def test_concurrent_calls_match_single_threaded(name):
    op = OPS[name]
    cases = _cases()
    expected = [op(*case) for case in cases]
    # The single-threaded results are the reference only if they are worth something.
    assert all(np.all(np.isfinite(a)) for res in expected for a in res if a is not None)

    start = threading.Barrier(N_THREADS)

    def worker(tid):
        # Half the threads ask OpenMP for one thread, half for two: the setting is
        # per calling thread and must not leak into the others' results.
        cyconv.set_num_threads(1 + tid % 2)
        assert cyconv.get_num_threads() == (1 + tid % 2 if _have_openmp() else 1)
        start.wait()
        results = []
        for r in range(ROUNDS):
            order = np.random.default_rng(tid * 100 + r).permutation(len(cases))
            results.extend((int(i), op(*cases[i])) for i in order)
        return results

    with ThreadPoolExecutor(N_THREADS) as pool:
        futures = [pool.submit(worker, tid) for tid in range(N_THREADS)]
        per_thread = [f.result() for f in futures]

    for results in per_thread:
        assert len(results) == ROUNDS * len(cases)
        for i, got in results:
            _same(got, expected[i])


def _have_openmp():
    from cyconv import _runtime

    return _runtime.have_openmp()


@pytest.mark.skipif(not sysconfig.get_config_var("Py_GIL_DISABLED"), reason="needs a free-threaded CPython")
@pytest.mark.skipif(os.environ.get("PYTHON_GIL") == "1", reason="PYTHON_GIL=1 forces the GIL on")
def test_import_keeps_the_gil_disabled():
    # An extension module without the freethreading_compatible declaration makes a
    # free-threaded interpreter turn the GIL back on when it is imported.
    import cyconv._avgpool, cyconv._conv, cyconv._maxpool, cyconv._runtime  # noqa: F401, E401

    assert not sys._is_gil_enabled()
