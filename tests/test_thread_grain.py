"""The engine's thread count per call: the grain, its cost model, and the busy-machine mark.

A thread that joins its team late marks the machine busy (engine, gemm.c); the grain is
then coarser, so that mid-size calls run on the calling thread instead of waiting for a
descheduled one. The thread count may only change the time, never a result: the calls
below are compared bit for bit with the machine marked busy and idle.
"""

import numpy as np
import pytest

import cyconv
from cyconv import _engine

GRAIN = 1 << 23       # CYC_GRAIN_FLOPS
GRAIN_BUSY = 1 << 26  # CYC_GRAIN_BUSY


@pytest.fixture
def two_threads():
    old = cyconv.get_num_threads()
    cyconv.set_num_threads(2)
    _engine._set_busy(0)
    yield
    _engine._set_busy(0)
    cyconv.set_num_threads(old)


def test_idle_grain(two_threads):
    assert _engine._threads_for(2 * GRAIN - 1, 100) == 1
    assert _engine._threads_for(2 * GRAIN, 100) == 2
    assert _engine._threads_for(1e12, 1) == 1   # one tile: one thread
    assert _engine._threads_for(0, 100) == 1


def test_busy_mark_coarsens_the_grain_for_a_while(two_threads):
    _engine._set_busy(30)
    assert _engine._machine_busy()
    assert _engine._threads_for(2 * GRAIN, 100) == 1
    assert _engine._threads_for(2 * GRAIN_BUSY - 1, 100) == 1
    assert _engine._threads_for(2 * GRAIN_BUSY, 100) == 2
    _engine._set_busy(0)
    assert not _engine._machine_busy()
    assert _engine._threads_for(2 * GRAIN, 100) == 2


def test_late_workers_mark_the_machine_busy(two_threads):
    _engine._team_arrived(0.05, 1)     # this thread's first region: excused (pool creation)
    _engine._team_arrived(0.0005, 1)   # an ordinary wake-up: on time
    _engine._team_arrived(0.5, 0)      # the calling thread is never "late"
    _engine._team_arrived(0.05, 1)     # one late join (a worker waking after a pause)
    assert not _engine._machine_busy()
    _engine._team_arrived(0.0005, 1)   # on time again: the count starts over
    _engine._team_arrived(0.05, 1)
    assert not _engine._machine_busy()
    _engine._team_arrived(0.05, 1)     # late twice in a row: busy
    assert _engine._machine_busy()
    assert _engine._threads_for(2 * GRAIN, 100) == 1


# LeNet-sized calls: two threads idle (their packing counts, see cyc_gemm_work), one when busy.
CASES = [
    ((64, 6, 14, 14), (16, 6, 5, 5), 0, 1),
    ((64, 1, 28, 28), (6, 1, 5, 5), 2, 1),
    ((8, 32, 56, 56), (32, 1, 3, 3), 1, 32),   # depthwise: the direct loops
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CASES, ids=["lenet2", "lenet1", "depthwise"])
def test_results_do_not_depend_on_the_busy_mark(two_threads, case, layout, dtype):
    xs, ws, pad, groups = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    runs = []
    for busy in (0, 30, 0):
        _engine._set_busy(busy)
        y = cyconv.conv2d(x, w, b, padding=pad, groups=groups, layout=layout)
        g = cyconv.conv2d_backward(np.cos(y), x, w, padding=pad, groups=groups, layout=layout)
        runs.append((y, g.input, g.weight, g.bias))
    for other in runs[1:]:
        for a, c in zip(runs[0], other):
            np.testing.assert_array_equal(a, c)
