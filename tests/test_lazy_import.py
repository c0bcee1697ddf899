"""SPEC Runtime: the submodules are attributes of the package, loaded on first access, and
`import cyconv` imports none of them (nor dask)."""

import importlib.util
import subprocess
import sys

import pytest

import cyconv


def _run(code):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_cyconv_loads_no_submodule_and_no_dask():
    out = _run(
        "import sys, cyconv\n"
        "print(sorted(m for m in sys.modules if m in ('cyconv.nn', 'cyconv.d2l', 'cyconv.dask', 'cyconv.demo')"
        " or m == 'dask' or m.startswith('dask.')))"
    )
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["nn", "d2l"])
def test_submodule_is_an_attribute_loaded_on_first_access(name):
    out = _run(
        "import sys, cyconv\n"
        f"before = 'cyconv.{name}' in sys.modules\n"
        f"mod = cyconv.{name}\n"
        f"print(before, mod is sys.modules['cyconv.{name}'], mod.__name__)"
    )
    assert out.split() == ["False", "True", f"cyconv.{name}"]


def test_attribute_and_import_statement_agree():
    from cyconv import d2l, nn

    assert cyconv.nn is nn and cyconv.d2l is d2l
    assert nn.Conv2d is cyconv.nn.Conv2d


@pytest.mark.skipif(importlib.util.find_spec("cyconv.dask") is None, reason="cyconv.dask not on this branch")
def test_dask_submodule_attribute():
    pytest.importorskip("dask")
    out = _run("import sys, cyconv\nm = cyconv.dask\nprint(m.__name__, 'dask' in sys.modules)")
    assert out.split() == ["cyconv.dask", "True"]


def test_dir_lists_the_submodules_and_the_public_names():
    names = dir(cyconv)
    for name in ("nn", "d2l", "dask", *cyconv.__all__):
        assert name in names


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'cyconv' has no attribute 'conv3d'"):
        cyconv.conv3d  # noqa: B018
    assert not hasattr(cyconv, "signal")


def test_every_public_name_is_importable():
    for name in cyconv.__all__:
        assert getattr(cyconv, name) is not None
