"""One persistent worker process per library, and the controller's handle on it.

Each library (cyconv, cyconv with its portable build forced, PyTorch, ONNX Runtime, JAX, and
NumPy for the roofs and baselines) lives in its own process with its own thread pool, started
once per run and kept, as a training process keeps its library warm. The controller
(``run.py``) sends one request at a time and waits for the answer, so only one worker computes
while another is timed; before each timed sample it also waits until no thread of any other
worker is runnable (``Worker.quiet``: OpenMP, OpenBLAS and ONNX Runtime threads spin for a while
after a call), so one library's pool never runs while another is timed.

Protocol (pickle over the worker's stdin/stdout, replies as length-prefixed frames; the worker's own stdout is redirected to its
log so that a library's print cannot corrupt it):

* ``("prepare", label, case)`` -> build the callable, call it once (the result, in NCHW form, is
  returned for the check) and twice more as warm-up; returns the per-call time of the last.
* ``("time", label, min_time, min_calls, warmup_time)`` -> ``timer.sample``: warm-up calls, then
  back-to-back calls; returns seconds per call.
* ``("drop",)`` forgets the case's arrays; ``("quit",)`` exits.

Run as ``python worker.py LIB THREADS``.
"""

import os
import pickle
import select
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
LIBS = ("cyconv", "cyconv-portable", "cyconv-avx2", "cyconv-1t", "torch", "onnxruntime", "jax", "numpy")
# How a kernel build is forced: CYCONV_KERNELS (the engine's, src/engine/select.c) and, for the
# pre-engine Cython kernels, CYCONV_BASELINE_KERNELS (_dispatch.py). A worker checks that
# show_config names the build it was asked for (``kernels_forced``).
BUILD_ENV = {"cyconv-portable": {"CYCONV_KERNELS": "portable", "CYCONV_BASELINE_KERNELS": "1"},
             "cyconv-avx2": {"CYCONV_KERNELS": "avx2"}}


# --- worker side --------------------------------------------------------------------------


def _setup(lib, threads):
    """Import the library with ``threads`` threads; returns facts for the run's header."""
    info = {"lib": lib, "pid": os.getpid(), "threads": threads}
    if lib == "jax":
        # XLA's CPU thread pool is sized from the CPUs this process may run on; pin it to
        # ``threads`` of them when that is fewer than all (there is no thread-count flag).
        cpus = sorted(os.sched_getaffinity(0))
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])
        info["affinity"] = sorted(os.sched_getaffinity(0))
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    info["numpy"] = np.__version__
    if lib.startswith("cyconv"):
        import cyconv

        import libraries

        cyconv.set_num_threads(threads)
        info["version"] = cyconv.__version__
        info.update(libraries.cyconv_features())
    elif lib == "torch":
        import torch

        torch.set_num_threads(threads)
        info["version"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    elif lib == "onnxruntime":
        import onnx
        import onnxruntime

        info["version"] = onnxruntime.__version__
        info["onnx"] = onnx.__version__
    elif lib == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        info["version"] = jax.__version__
        info["devices"] = [str(d) for d in jax.devices()]
    elif lib == "numpy":
        import scipy

        info["version"] = np.__version__
        info["scipy"] = scipy.__version__
    # BLAS (NumPy's OpenBLAS, and the one cyconv's GEMM path calls today) gets ``threads`` too
    info["_limiter"] = threadpool_limits(limits=threads, user_api="blas")
    info["threadpools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                                   "num_threads", "prefix")} for p in threadpool_info()]
    return info


def serve(lib, threads):
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    sys.path.insert(0, HERE)

    def reply(obj):
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little") + data)  # one length-prefixed frame
        out.flush()

    try:
        info = _setup(lib, threads)
    except Exception as exc:
        reply({"error": f"{type(exc).__name__}: {exc}"[:300]})
        return
    limiter = info.pop("_limiter")
    reply(info)
    import libraries
    import timer

    built = {}
    while True:
        try:
            msg = pickle.load(inp)
        except EOFError:
            break
        op = msg[0]
        try:
            if op == "prepare":
                _, label, case = msg
                t0 = time.perf_counter()
                b = libraries.build(label, case, threads)
                outputs = b.canonical(b.fn())
                for _ in range(2):
                    t1 = time.perf_counter()
                    b.fn()
                built[label] = b
                reply({"ok": True, "outputs": outputs, "reference": b.reference,
                       "call_s": time.perf_counter() - t1, "setup_s": t1 - t0})
            elif op == "time":
                _, label, min_time, min_calls, warmup_time = msg
                per_call, calls, warm = timer.sample(built[label].fn, min_time, min_calls, warmup_time)
                reply({"ok": True, "per_call_s": per_call, "calls": calls, "warmup_calls": warm})
            elif op == "drop":
                built.clear()
                import gc

                gc.collect()
                reply({"ok": True})
            elif op == "quit":
                reply({"ok": True})
                break
            else:
                reply({"error": f"unknown request {op!r}"})
        except libraries.Skip as exc:
            reply({"skip": str(exc)})
        except Exception as exc:  # a broken contender must not stop the run
            traceback.print_exc()
            text = "not implemented" if isinstance(exc, NotImplementedError) else f"{type(exc).__name__}: {exc}"
            reply({"error": text.splitlines()[0][:200] if text else type(exc).__name__})
    del limiter


# --- controller side ----------------------------------------------------------------------


class WorkerDied(RuntimeError):
    pass


def _runnable_threads(pid):
    """Number of the process's threads in state R (running or runnable) right now."""
    n = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] == "R":
            n += 1
    return n


class Worker:
    """Controller-side handle: start ``python worker.py LIB THREADS``, talk to it, stop it."""

    def __init__(self, lib, threads, log_dir=None, env=None):
        """Start the process; ``ready()`` waits until its library is imported."""
        threads = 1 if lib.endswith("-1t") else threads
        self.lib, self.threads = lib, threads
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="cyconv-bench-")
        self.log_path = os.path.join(self.log_dir, f"{lib}.log")
        full_env = dict(os.environ)
        full_env.update(BUILD_ENV.get(lib, {}))
        full_env.update(env or {})
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "worker.py"), lib, str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     env=full_env, cwd=HERE)
        self.info = None
        self._buf = bytearray()

    def ready(self, timeout=180):
        """Wait for the worker's hello (its library imported); returns its facts."""
        if self.info is None:
            info = self._recv(timeout)
            if "error" in info:
                self.close()
                raise WorkerDied(f"{self.lib} worker could not start: {info['error']}")
            self.info = info
        return self.info

    @property
    def pid(self):
        return self.proc.pid

    def _recv(self, timeout):
        """The worker's next frame (8-byte length + pickle), read from the raw pipe.

        The frames are read with os.read into our own buffer: a buffered file's read-ahead
        could hold the next frame where select() does not see it, and wait for nothing.
        """
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            if len(self._buf) >= 8:
                size = int.from_bytes(self._buf[:8], "little")
                if len(self._buf) >= 8 + size:
                    frame = bytes(self._buf[8:8 + size])
                    del self._buf[:8 + size]
                    return pickle.loads(frame)
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                self.close()
                raise WorkerDied(f"{self.lib} worker did not answer within {timeout:.0f} s; killed")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                rc = self.proc.wait(timeout=5)
                raise WorkerDied(f"{self.lib} worker died (exit {rc}){self._tail()}")
            self._buf += chunk

    def _tail(self):
        try:
            with open(self.log_path, "rb") as fh:
                lines = fh.read().decode(errors="replace").strip().splitlines()
            return ": " + " | ".join(lines[-3:])[-300:] if lines else ""
        except OSError:
            return ""

    def send(self, *msg):
        try:
            pickle.dump(msg, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(f"{self.lib} worker is gone{self._tail()}") from exc

    def recv(self, timeout=600):
        return self._recv(timeout)

    def call(self, *msg, timeout=600):
        self.send(*msg)
        return self._recv(timeout)

    def alive(self):
        return self.proc.poll() is None

    def runnable_threads(self):
        return _runnable_threads(self.pid)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=10)
            except (WorkerDied, subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def quiet(workers, timeout=0.5, poll=0.002):
    """Wait until no thread of ``workers`` is runnable (twice in a row); returns seconds waited."""
    t0 = time.perf_counter()
    calm = 0
    while time.perf_counter() - t0 < timeout:
        if any(w.runnable_threads() for w in workers if w.alive()):
            calm = 0
        else:
            calm += 1
            if calm >= 2:
                break
        time.sleep(poll)
    return time.perf_counter() - t0


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
