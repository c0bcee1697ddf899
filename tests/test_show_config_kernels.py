"""show_config() names the kernel build in use (SPEC Runtime; issue 9), e.g.
``kernels:     avx2+fma``. Skipped until the branch that adds the line is merged."""

import io

import pytest

import cyconv


def _config():
    buf = io.StringIO()
    cyconv.show_config(file=buf)
    return dict(line.split(":", 1) for line in buf.getvalue().splitlines() if ":" in line)


def _cpu_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return features


def test_show_config_names_the_kernel_build():
    cfg = _config()
    if "kernels" not in cfg:
        pytest.skip("show_config has no kernels: line on this branch")
    value = cfg["kernels"].strip().lower()
    assert value, "kernels: line is empty"
    features = _cpu_features()
    for isa, flag in (("avx512", "AVX512F"), ("avx2", "AVX2"), ("neon", "NEON"), ("sse", "SSE2")):
        if isa in value:
            assert features.get(flag), f"kernels: {value!r} names {isa}, which this CPU lacks"
