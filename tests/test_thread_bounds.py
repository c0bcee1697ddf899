"""Bounds of the thread count (issue 12): no value may crash the interpreter.

Before: set_num_threads(100000) segfaulted in libgomp, 30000 exited ("Thread creation
failed"), 10**9 tried to allocate 224 GB, 2**31 raised OverflowError, and
OMP_NUM_THREADS=100000 segfaulted at the first parallel kernel.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import cyconv
from cyconv import _config, _runtime

MAX = _config.MAX_THREADS


@pytest.fixture(autouse=True)
def restore_threads():
    n = cyconv.get_num_threads()
    yield
    cyconv.set_num_threads(n)


def test_the_maximum_is_documented_and_sane():
    assert MAX == max(64, 4 * _config._cores())
    assert MAX >= (os.cpu_count() or 1)
    assert f"at most {MAX}" in _threads_line()


@pytest.mark.parametrize("n", [MAX + 1, 30000, 100000, 10**9, 2**31, 2**31 - 1, 2**63, 2**70])
def test_beyond_the_maximum_is_a_value_error(n):
    before = cyconv.get_num_threads()
    with pytest.raises(ValueError, match=rf"n must be between 1 and {MAX} .*got {n}$"):
        cyconv.set_num_threads(n)
    assert cyconv.get_num_threads() == before


@pytest.mark.parametrize("n", [0, -1, -(2**31), -(2**70)])
def test_below_one_is_a_value_error(n):
    with pytest.raises(ValueError, match=rf"n must be between 1 and {MAX}"):
        cyconv.set_num_threads(n)


@pytest.mark.parametrize("n", [1, 2, MAX, np.int64(3)])
def test_within_bounds_works(n):
    cyconv.set_num_threads(n)
    want = int(n) if _runtime.have_openmp() else 1
    assert cyconv.get_num_threads() == want
    x = np.random.default_rng(0).standard_normal((4, 16, 32, 32))
    np.testing.assert_array_equal(cyconv.max_pool2d(x, 2), x.reshape(4, 16, 16, 2, 16, 2).max(axis=(3, 5)))


def test_threadpoolctl_limits_still_apply():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _runtime.have_openmp():
        pytest.skip("no OpenMP runtime to limit")
    cyconv.set_num_threads(2)
    cyconv.max_pool2d(np.ones((4, 16, 32, 32)), 2)  # the runtime is in use
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert cyconv.get_num_threads() == 1
        x = np.random.default_rng(1).standard_normal((2, 4, 16, 16))
        cyconv.conv2d(x, np.ones((3, 4, 3, 3)))
    assert cyconv.get_num_threads() == 2


def _threads_line():
    import io

    buf = io.StringIO()
    cyconv.show_config(file=buf)
    return next(line for line in buf.getvalue().splitlines() if line.startswith("threads:"))


def test_clamped_env_parsing():
    f = _config._clamped_env
    assert f(None, 64) is None
    assert f("8", 64) is None
    assert f("64", 64) is None
    assert f("65", 64) == "64"
    assert f("100000", 64) == "64"
    assert f("100000,2", 64) == "64,2"
    assert f("4,100000", 64) == "4,64"
    assert f(" 100000 , 3", 64) == "64,3"
    assert f("99999999999999999999999", 64) == "64"
    for bad in ("", "abc", "4,x", "0", "-5", "4,,2"):
        assert f(bad, 64) is None, bad  # left to the OpenMP runtime, which ignores it


_ENV_CHILD = """
import threading, numpy as np, cyconv, io
x = np.random.default_rng(0).standard_normal((4, 16, 64, 64))
cyconv.max_pool2d(x, 2)
box = {}
t = threading.Thread(target=lambda: box.update(n=cyconv.get_num_threads(), r=cyconv.max_pool2d(x, 2)))
t.start(); t.join()
buf = io.StringIO(); cyconv.show_config(file=buf)
line = next(l for l in buf.getvalue().splitlines() if l.startswith("threads:"))
import os
print(cyconv.get_num_threads(), box["n"], os.environ["OMP_NUM_THREADS"], "|", line)
"""


@pytest.mark.parametrize("value, nested", [("100000", ""), ("30000,2", ",2"), ("1000000000", "")])
def test_env_beyond_the_maximum_is_clamped_at_import(value, nested):
    # In a child (a crash must fail this test only); the first kernel, also from a new
    # Python thread, must not see the huge value.
    env = dict(os.environ, OMP_NUM_THREADS=value)
    try:
        p = subprocess.run([sys.executable, "-c", _ENV_CHILD], capture_output=True, text=True,
                           timeout=120, env=env)
    except subprocess.TimeoutExpired:
        raise AssertionError("the child hung") from None
    assert p.returncode == 0, f"rc={p.returncode}: {p.stderr[-2000:]}"
    head, _, line = p.stdout.strip().partition(" | ")
    main_n, thread_n, env_after = head.split()
    want = MAX if _runtime.have_openmp() else 1
    assert int(main_n) == want and int(thread_n) == want
    assert env_after == value  # the user's environment is restored for child processes
    if _runtime.have_openmp():
        assert f"OMP_NUM_THREADS={value} clamped to {MAX}{nested}" in line, line


def test_env_within_bounds_is_left_alone():
    env = dict(os.environ, OMP_NUM_THREADS="3")
    p = subprocess.run([sys.executable, "-c", _ENV_CHILD], capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    head, _, line = p.stdout.strip().partition(" | ")
    want = "3" if _runtime.have_openmp() else "1"
    assert head.split()[:2] == [want, want]
    assert "clamped" not in line
