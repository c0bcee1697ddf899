"""The README's Python examples run and print what the README says."""

import doctest
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S) if README.exists() else []

pytestmark = pytest.mark.skipif(not BLOCKS, reason="README.md not beside the tests (installed-wheel run)")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block(index, capsys):
    import cyconv

    block = BLOCKS[index]
    before = cyconv.get_num_threads()
    try:
        if block.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(block, {}, f"README[{index}]", str(README), 0)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
            runner.run(test)
            assert runner.failures == 0
        else:
            exec(compile(block, f"README[{index}]", "exec"), {})
    finally:
        cyconv.set_num_threads(before)
