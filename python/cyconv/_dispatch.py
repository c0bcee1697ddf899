"""Which build of a kernel module to load: AVX2+FMA when the CPU has both.

The forward convolution kernels (``_conv``) are compiled twice, for the
x86-64 baseline and for AVX2+FMA (see CMakeLists.txt). :func:`load_kernels` picks
the faster one the CPU can run, from NumPy's own runtime CPU detection. Setting the
environment variable ``CYCONV_BASELINE_KERNELS=1`` forces the baseline build (for
testing both).
"""

import importlib
import os


def _cpu_has_avx2_fma():
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return False
    return bool(features.get("AVX2") and features.get("FMA3"))


def load_kernels(name):
    """The module ``cyconv.<name>``, or ``cyconv.<name>_avx2`` when the CPU can run it."""
    if not os.environ.get("CYCONV_BASELINE_KERNELS") and _cpu_has_avx2_fma():
        try:
            return importlib.import_module(f"{__package__}.{name}_avx2")
        except ImportError:  # not built (non-x86 platform)
            pass
    return importlib.import_module(f"{__package__}.{name}")
