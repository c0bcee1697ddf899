"""Runtime configuration: thread control and show_config."""

import io

import pytest

import cyconv


def test_set_num_threads_round_trip():
    before = cyconv.get_num_threads()
    try:
        cyconv.set_num_threads(1)
        assert cyconv.get_num_threads() == 1
    finally:
        cyconv.set_num_threads(before)
    assert cyconv.get_num_threads() == before


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.0, TypeError), (True, TypeError)])
def test_set_num_threads_rejects(bad, exc):
    with pytest.raises(exc):
        cyconv.set_num_threads(bad)


def test_show_config_names_the_build():
    buf = io.StringIO()
    cyconv.show_config(file=buf)
    text = buf.getvalue()
    for key in ("cyconv:", "compiler:", "cython:", "openmp:", "threads:", "build type:"):
        assert key in text
    assert cyconv.__version__ in text
    cython_line = next(line for line in text.splitlines() if line.startswith("cython:"))
    assert cython_line.split(":", 1)[1].strip(), "Cython version missing"
