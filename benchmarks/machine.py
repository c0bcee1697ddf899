"""What machine this is, and its reference rates measured in the same run.

The matrix-multiply rate (NumPy ``@``, i.e. the BLAS NumPy ships with) is the roof for
GEMM-bound convolutions; the memory-copy bandwidth is the roof for pooling: ``np.copyto``
split into one slab per thread and run on that many threads (``np.copyto`` releases the GIL),
so the copy uses as many cores as the kernels do. The run header also shows single-thread
``np.copyto`` and PyTorch's threaded ``copy_`` and takes the best of the three.
"""

import io
import os
from concurrent.futures import ThreadPoolExecutor
import platform
import subprocess
import sys

import numpy as np

from timer import measure

MATMUL_N = 1536


def _lscpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def _git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return subprocess.run(
            ["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def describe(threads):
    """Machine and software facts recorded with every result file."""
    import cyconv

    lscpu = _lscpu()
    info = {
        "cpu_model": lscpu.get("Model name", platform.processor() or "unknown"),
        "cpus": os.cpu_count(),
        "cores_per_socket": lscpu.get("Core(s) per socket"),
        "threads_per_core": lscpu.get("Thread(s) per core"),
        "caches": {k: v for k, v in lscpu.items() if k.endswith("cache")},
        "hypervisor": lscpu.get("Hypervisor vendor"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "cyconv": cyconv.__version__,
        "cyconv_commit": _git_commit(),
        "threads": threads,
    }
    buf = io.StringIO()
    cyconv.show_config(file=buf)
    info["cyconv_config"] = buf.getvalue().splitlines()
    for mod in ("torch", "scipy", "matplotlib", "threadpoolctl"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    try:
        import torch

        info["torch_num_threads"] = torch.get_num_threads()
        info["torch_parallel"] = torch.__config__.parallel_info().splitlines()
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                   "architecture", "threading_layer", "num_threads", "filepath")}
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    info["blas_env"] = {k: v for k, v in os.environ.items()
                        if k.startswith(("OPENBLAS", "OMP_", "MKL", "GOTO"))}
    return info


ROOF = "roof"  # contender name of the interleaved machine-rate probe
_POOLS = {}


def threaded_copy(dst, src, threads):
    """``np.copyto(dst, src)`` in ``threads`` slabs along the first axis, one per thread."""
    if threads == 1 or src.shape[0] < threads:
        np.copyto(dst, src)
        return
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="copy")
    bounds = np.linspace(0, src.shape[0], threads + 1).astype(int)
    jobs = [pool.submit(np.copyto, dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    for job in jobs:
        job.result()


def roof_probe(kind, dtype, copy_shape, threads):
    """A (callable, work) pair that measures the machine rate alongside a case's libraries.

    Timed in the same rounds as the libraries, so the achieved fraction of the machine's rate
    on that row does not drift with the machine's load between the row and a separate probe.
    ``kind`` "matmul": NumPy matmul of two MATMUL_N squares, work in FLOPs; "copy":
    ``threaded_copy`` of an array of ``copy_shape``, work in bytes read + written.
    """
    rng = np.random.default_rng(1)
    dt = np.dtype(dtype)
    if kind == "matmul":
        a = rng.standard_normal((MATMUL_N, MATMUL_N)).astype(dt)
        b = rng.standard_normal((MATMUL_N, MATMUL_N)).astype(dt)
        c = np.empty_like(a)
        return (lambda: np.matmul(a, b, out=c)), 2.0 * MATMUL_N**3
    src = rng.standard_normal(copy_shape).astype(dt)
    dst = np.empty_like(src)
    return (lambda: threaded_copy(dst, src, threads)), 2.0 * src.nbytes


def rates(dtypes, copy_shape, threads, *, repeat, min_time, settle=0.0):
    """Measure matmul GFLOP/s and copy GB/s per dtype; returns {dtype_name: {...}}."""
    rng = np.random.default_rng(0)
    out = {}
    for dtype in dtypes:
        dt = np.dtype(dtype)
        a = rng.standard_normal((MATMUL_N, MATMUL_N)).astype(dt)
        b = rng.standard_normal((MATMUL_N, MATMUL_N)).astype(dt)
        c = np.empty_like(a)
        src = rng.standard_normal(copy_shape).astype(dt)
        dst = np.empty_like(src)
        contenders = {
            "matmul": lambda: np.matmul(a, b, out=c),
            "copy_numpy": lambda: np.copyto(dst, src),
            "copy_numpy-threads": lambda: threaded_copy(dst, src, threads),
        }
        try:
            import torch

            tsrc, tdst = torch.from_numpy(src), torch.from_numpy(dst)
            contenders["copy_torch"] = lambda: tdst.copy_(tsrc)
        except ImportError:
            pass
        timings, errors, _ = measure(contenders, repeat=repeat, min_time=min_time, settle=settle)
        mm = timings["matmul"]
        copies = {k: 2 * src.nbytes / t.median / 1e9 for k, t in timings.items() if k.startswith("copy")}
        out[dt.name] = {
            "matmul_n": MATMUL_N,
            "matmul_gflops": 2 * MATMUL_N**3 / mm.median / 1e9,
            "matmul_spread": mm.spread,
            "copy_bytes": src.nbytes,
            "copy_gbps_by_method": copies,
            "copy_gbps": max(copies.values()),
            "timings": {k: t.as_dict() for k, t in timings.items()},
            "errors": errors,
        }
    return out
