"""Forked, forkserver and spawned children after the parent ran parallel kernels (issue 12).

GNU libgomp's worker pool does not survive fork(): without cyconv's fork hooks the child of a
process that ran a parallel kernel waits forever for workers that were not copied. Every case
runs in its own interpreter with a timeout, so a hang fails that one test; each child's
results must equal the parent's.
"""

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")

TIMEOUT = 120  # seconds per case (a hang is forever; an import on a loaded machine takes a few)

_PRELUDE = '''
import os, sys, hashlib, multiprocessing as mp
import numpy as np
import cyconv
from cyconv import _config, _runtime

def work():
    """A parallel max_pool2d and a conv2d (and a backward), as one digest per result.
    The convolutions are big enough to take a team of threads even when the engine has
    marked the machine busy (late team threads, e.g. a VM's halted CPU waking up)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 32, 64, 64))
    w = rng.standard_normal((32, 32, 3, 3))
    r = [cyconv.max_pool2d(x, 2), cyconv.conv2d(x, w, padding=1),
         cyconv.conv2d_backward(np.ones((4, 32, 64, 64)), x, w, padding=1).weight]
    return [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16] for a in r]

def tasks():
    """Threads of this process (Linux): > 1 once a parallel kernel has made its pool."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return -1

def threads_line():
    import io
    buf = io.StringIO()
    cyconv.show_config(file=buf)
    return next(l for l in buf.getvalue().splitlines() if l.startswith("threads:"))

def child_report(conn=None):
    rep = {"work": work(), "threads": cyconv.get_num_threads(), "tasks": tasks(),
           "line": threads_line()}
    return rep

PARENT = work() if __name__ == "__main__" else None
'''


def _run(body, timeout=TIMEOUT):
    # A script file, not -c: spawn and forkserver children import the parent's __main__.
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "case.py")
        with open(script, "w") as f:
            f.write(_PRELUDE + textwrap.dedent(body))
        env = dict(os.environ, OMP_NUM_THREADS="2")
        try:
            p = subprocess.run([sys.executable, script], capture_output=True, text=True,
                               timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"a child hung (no answer within {timeout} s)") from None
    return _parse(p)


def _parse(p):
    assert p.returncode == 0, p.stderr[-3000:]
    out = {}
    for line in p.stdout.splitlines():
        key, _, value = line.partition("=")
        out[key] = eval(value)
    return out


def _openmp():
    from cyconv import _build_info, _runtime

    return _runtime.have_openmp(), "gomp" in _build_info.openmp


def _check_child(rep, parent, keep_threads=True):
    assert rep["work"] == parent, "the child's results differ from the parent's"
    have_omp, gomp = _openmp()
    if have_omp and keep_threads:
        # The child keeps the parent's thread count and really runs a pool of its own.
        assert rep["threads"] == 2, rep
        assert "forked child of a process that ran OpenMP" not in rep["line"], rep["line"]
        if sys.platform.startswith("linux"):
            assert rep["tasks"] >= 2, rep


def test_os_fork_after_parallel_kernels():
    out = _run('''
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.write(w, repr(child_report()).encode())
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        _, status = os.waitpid(pid, 0)
        print("status=", os.waitstatus_to_exitcode(status))
        print("child=", data.decode())
        print("parent=", PARENT)
        print("again=", work())   # the parent's pool comes back after the fork
        print("parent_tasks=", tasks())
    ''')
    assert out["status"] == 0
    _check_child(out["child"], out["parent"])
    assert out["again"] == out["parent"]
    if _openmp()[0] and sys.platform.startswith("linux"):
        assert out["parent_tasks"] >= 2


def test_fork_of_a_fork_and_from_a_worker_thread():
    # A grandchild, and a fork made by a non-main Python thread that ran kernels itself.
    out = _run('''
        import threading
        def forked_report():
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                rep = child_report()
                if len(sys.argv) < 2:   # once more, from the child
                    sys.argv.append("grandchild")
                    rep["grandchild"] = forked_report()
                os.write(w, repr(rep).encode())
                os._exit(0)
            os.close(w)
            data = b""
            while chunk := os.read(r, 65536):
                data += chunk
            os.waitpid(pid, 0)
            return eval(data.decode())
        print("nested=", forked_report())
        box = {}
        def thread_main():
            work()
            box["rep"] = forked_report()
        t = threading.Thread(target=thread_main)
        t.start(); t.join()
        print("thread=", box["rep"])
        print("parent=", PARENT)
    ''')
    _check_child(out["nested"], out["parent"])
    _check_child(out["nested"]["grandchild"], out["parent"])
    _check_child(out["thread"], out["parent"])


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_pool(method):
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method!r} start method here")
    # The pool's children run the kernels twice each (two tasks per worker).
    out = _run(f'''
        if __name__ == "__main__":
            ctx = mp.get_context({method!r})
            with ctx.Pool(2) as pool:
                reps = pool.map(child_report, range(4))
            print("reps=", reps)
            print("parent=", PARENT)
    ''')
    assert len(out["reps"]) == 4
    for rep in out["reps"]:
        _check_child(rep, out["parent"])


def test_fallback_when_the_pool_cannot_be_released():
    # Where the OpenMP runtime cannot release its pool before the fork, the child runs on
    # one thread for good: set_num_threads(n > 1) there warns and stays at 1.
    if not _openmp()[1]:
        pytest.skip("the fallback concerns GNU libgomp")
    out = _run('''
        import warnings

        class NoPause:
            def __getattr__(self, name):
                return getattr(_runtime, name)
            @staticmethod
            def pause_openmp():
                return False

        _config._runtime = NoPause()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            rep = child_report()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cyconv.set_num_threads(2)
            rep["warnings"] = [str(c.message) for c in caught]
            rep["after"] = cyconv.get_num_threads()
            os.write(w, repr(rep).encode())
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        _, status = os.waitpid(pid, 0)
        print("status=", os.waitstatus_to_exitcode(status))
        print("child=", data.decode())
        print("parent=", PARENT)
    ''')
    assert out["status"] == 0
    rep = out["child"]
    _check_child(rep, out["parent"], keep_threads=False)
    assert rep["threads"] == 1 and rep["after"] == 1
    assert "forked child of a process that ran OpenMP" in rep["line"]
    assert len(rep["warnings"]) == 1 and "stays on 1 thread" in rep["warnings"][0]


def test_a_hang_would_be_caught():
    # The harness itself: a child that never answers fails within the timeout.
    with pytest.raises(AssertionError, match="hung"):
        _run("import time; time.sleep(60)", timeout=3)
