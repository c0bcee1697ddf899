"""Helpers that run a test on one route of the convolution engine (cyconv._engine)."""

import pytest

from cyconv import _engine


def kernel_sets():
    """The kernel sets this build and CPU can run (portable first)."""
    return list(_engine.supported_kernels())


def engine_route(name):
    """A generator for fixtures: 'auto' (the default), 'gemm' (every geometry on the
    backward GEMM drivers, also those the direct loops serve), or a kernel set's name
    (selected for the duration, skipped when the CPU lacks it)."""
    if name == "auto":
        yield name
    elif name == "gemm":
        _engine._backward_force_gemm(True)
        try:
            yield name
        finally:
            _engine._backward_force_gemm(False)
    else:
        if name not in _engine.supported_kernels():
            pytest.skip(f"this CPU or build cannot run the {name} kernels")
        old = _engine._select_for_tests(name)
        try:
            yield name
        finally:
            _engine._select_for_tests(old)
