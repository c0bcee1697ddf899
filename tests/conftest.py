"""Shared test set-up: make the helper modules in tests/ (references) importable."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))


import pytest  # noqa: E402


@pytest.fixture(params=("portable", "avx2", "avx512"))
def kernel_set(request):
    """Run a test on each of the engine's kernel sets that this CPU and build can run."""
    from cyconv import _engine

    if request.param not in _engine.supported_kernels():
        pytest.skip(f"this CPU or build cannot run the {request.param} kernels")
    old = _engine._select_for_tests(request.param)
    yield request.param
    _engine._select_for_tests(old)
