"""What machine this is: CPU, caches, load, software versions, recorded with every run.

The controller imports no library beyond NumPy; each library's own facts (versions, thread
pools, cyconv's ``show_config``) come from its worker process (``worker._setup``).
"""

import os
import platform
import subprocess
import sys

import numpy as np


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
    lscpu = _lscpu()
    return {
        "cpu_model": lscpu.get("Model name", platform.processor() or "unknown"),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cores_per_socket": lscpu.get("Core(s) per socket"),
        "threads_per_core": lscpu.get("Thread(s) per core"),
        "caches": {k: v for k, v in lscpu.items() if k.endswith("cache")},
        "hypervisor": lscpu.get("Hypervisor vendor"),
        "cpu_flags_avx": sorted(f for f in lscpu.get("Flags", "").split() if f.startswith(("avx", "fma", "asimd"))),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "git_commit": _git_commit(),
        "threads": threads,
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("OPENBLAS", "OMP_", "MKL", "GOTO", "CYCONV", "XLA", "GOMP", "KMP"))},
    }


def loadavg():
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return list(os.getloadavg())
    except OSError:
        return None
