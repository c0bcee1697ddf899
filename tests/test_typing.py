"""The stubs, as a type checker sees them: mypy --strict and pyright --strict accept every
documented call form (tests/typing/user_script.py) and report exactly the lines marked
``# error`` in tests/typing/wrong_calls.py. Skipped when a checker is not installed."""

import importlib.util
import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent / "typing"
USER = HERE / "user_script.py"
USER_DASK = HERE / "user_script_dask.py"  # only where dask is installed
WRONG = HERE / "wrong_calls.py"
HAVE_DASK = importlib.util.find_spec("dask") is not None
FILES = [USER, WRONG] + ([USER_DASK] if HAVE_DASK else [])


def _marked_lines(path):
    return {i for i, line in enumerate(path.read_text().splitlines(), 1)
            if line.rstrip().endswith("# error")}


def _by_file(errors):
    """{file name: set of line numbers} from (path, line) pairs."""
    out = {USER.name: set(), USER_DASK.name: set(), WRONG.name: set()}
    for path, line in errors:
        out.setdefault(pathlib.Path(path).name, set()).add(line)
    return out


def _check(errors, tool, report):
    got = _by_file(errors)
    assert got[USER.name] == got[USER_DASK.name] == set(), f"{tool} rejects documented calls:\n{report}"
    want = _marked_lines(WRONG)
    missing, extra = sorted(want - got[WRONG.name]), sorted(got[WRONG.name] - want)
    assert not missing and not extra, (
        f"{tool}: wrong calls not reported on lines {missing}; unexpected errors on lines {extra}\n{report}"
    )


def test_wrong_calls_has_markers():
    assert len(_marked_lines(WRONG)) >= 25


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_mypy_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-executable", sys.executable,
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "--show-column-numbers",
         *map(str, FILES)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    report = proc.stdout + proc.stderr
    errors = [(m[1], int(m[2])) for m in re.finditer(r"^(.*?\.py):(\d+):(?:\d+:)? error:", report, re.M)]
    assert errors, f"mypy found no error at all (is it checking anything?):\n{report}"
    _check(errors, "mypy --strict", report)


def _pyright():
    exe = shutil.which("pyright")
    if exe:
        return [exe]
    if importlib.util.find_spec("pyright") is not None:
        return [sys.executable, "-m", "pyright"]
    return None


@pytest.mark.skipif(_pyright() is None, reason="pyright not installed")
def test_pyright_strict(tmp_path):
    proc = subprocess.run(
        _pyright() + ["--outputjson", "--pythonpath", sys.executable,
                      "-p", str(HERE / "pyrightconfig.json"), *map(str, FILES)],
        capture_output=True, text=True, cwd=HERE, timeout=300,
    )
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        # The PyPI wrapper fetches node and pyright on first use: offline it cannot start.
        pytest.skip(f"pyright did not run (no JSON report): {(proc.stdout + proc.stderr)[-300:]}")
    assert result["summary"]["filesAnalyzed"] == len(FILES), result["summary"]
    diags = [d for d in result["generalDiagnostics"] if d["severity"] == "error"]
    errors = [(d["file"], d["range"]["start"]["line"] + 1) for d in diags]
    report = "\n".join(f"{pathlib.Path(d['file']).name}:{d['range']['start']['line'] + 1}: {d['message']}"
                       for d in diags)
    _check(errors, "pyright --strict", report)


def _stubs_describe_this_runtime():
    """True once every name the stubs promise exists (the branches adding them are merged)."""
    import cyconv

    try:
        import cyconv.dask  # noqa: F401
    except ImportError:
        return False
    return all(hasattr(cyconv, n) for n in ("unfold", "fold", "adaptive_avg_pool2d")) and all(
        hasattr(cyconv.nn, n) for n in ("Adam", "BatchNorm2d", "Dropout", "ConvTranspose2d"))


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
@pytest.mark.skipif(not _stubs_describe_this_runtime(), reason="the stubs' new API is not all merged yet")
def test_stubtest_finds_no_difference(tmp_path):
    """The stubs and the runtime agree (names, parameters, defaults): mypy.stubtest."""
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "cyconv", "--mypy-config-file", str(HERE / "stubtest.ini"),
         "--allowlist", str(HERE / "stubtest-allowlist.txt")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
