"""show_config() tells the truth about the installed build (release wheel or checked build)."""

import importlib.metadata
import io
import os
import re

import pytest

import cyconv
from cyconv import _build_info, _runtime


def _config():
    buf = io.StringIO()
    cyconv.show_config(file=buf)
    return dict(line.split(":", 1) for line in buf.getvalue().splitlines())


def test_version_matches_the_installed_metadata():
    assert cyconv.__version__ == importlib.metadata.version("cyconv")
    assert _config()["cyconv"].strip() == cyconv.__version__


def test_build_type_agrees_with_the_compiled_code():
    # build_kind is what CMake configured; boundscheck_enabled() asks the compiled module.
    # They disagree only for a stale or mixed build.
    checked = _runtime.boundscheck_enabled()
    assert _build_info.build_kind == ("checked" if checked else "release")
    line = _config()["build type"].strip()
    assert line.startswith(_build_info.cmake_build_type + ", ")
    assert line.endswith("checked (bounds checks on)" if checked else ", release")


def test_build_type_is_the_one_asked_for():
    # The checked CI job sets CYCONV_BOUNDSCHECK=ON for both the build and the tests, so a
    # build that silently ignored the option fails here. (The release wheel's check is in
    # tools/verify_release.sh.)
    wanted = os.environ.get("CYCONV_BOUNDSCHECK")
    if wanted is None:
        pytest.skip("CYCONV_BOUNDSCHECK is not set: no build type was asked for")
    assert _runtime.boundscheck_enabled() == (wanted.upper() in {"ON", "1", "TRUE", "YES"}), (
        f"CYCONV_BOUNDSCHECK={wanted} but the installed build is "
        f"{'checked' if _runtime.boundscheck_enabled() else 'unchecked'}"
    )


def test_openmp_and_threads_lines():
    cfg = _config()
    if _runtime.have_openmp():
        assert re.fullmatch(r"OpenMP [\d.]+ \(\w+.*\)", cfg["openmp"].strip()), cfg["openmp"]
    else:
        assert cfg["openmp"].strip() == "none (one thread)"
    # e.g. "2 (of 2 processors, at most 64)"; notes (OMP_NUM_THREADS clamped, forked child) may follow
    m = re.fullmatch(r"(\d+) \(of (\d+) processors, at most (\d+)(, .*)?\)", cfg["threads"].strip())
    assert m, cfg["threads"]
    assert int(m[1]) == cyconv.get_num_threads() >= 1
    assert int(m[2]) >= 1
    assert int(m[3]) >= max(64, int(m[2]))
