"""Ctrl-C stops a long convolution: the engine's threads stop taking tiles and the call
raises KeyboardInterrupt promptly, with no thread left running."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import cyconv
    # ~400 GFLOP of float64: many seconds on any CPU this suite runs on
    x = np.ones((4, 256, 128, 128))
    w = np.ones((256, 256, 7, 7))
    print("started", flush=True)
    t0 = time.perf_counter()
    try:
        cyconv.conv2d(x, w, padding=3)
    except KeyboardInterrupt:
        print("interrupted", time.time(), flush=True)  # the wall clock the parent shares
        sys.exit(3)
    print("finished", time.perf_counter() - t0, flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child differs on Windows")
def test_sigint_stops_a_long_conv2d():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(1.0)
        assert proc.poll() is None, "the convolution ended before the signal"
        t0 = time.time()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, (proc.returncode, out, err)
    assert out.startswith("interrupted"), out
    # from the signal to the KeyboardInterrupt in the child (the engine polls every 25 ms
    # between tiles; process teardown, which frees the arrays, is not counted)
    elapsed = float(out.split()[1]) - t0
    assert elapsed < 0.5, f"{elapsed:.2f} s from SIGINT to KeyboardInterrupt"
