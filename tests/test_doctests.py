"""Run the docstring examples of every public module as doctests."""

import doctest
import importlib
import pkgutil

import pytest

import cyconv

MODULES = sorted(
    m.name for m in pkgutil.iter_modules(cyconv.__path__, "cyconv.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "cyconv.dask":
        pytest.importorskip("dask.array")  # the optional extra
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
