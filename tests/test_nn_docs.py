"""docs/training.md: every Python block runs, in order, in one namespace, and prints what the page says."""

import doctest
import pathlib
import re

import pytest

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "training.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S) if PAGE.exists() else []

pytestmark = pytest.mark.skipif(not BLOCKS, reason="docs/training.md not beside the tests (installed-wheel run)")


def test_training_page_blocks_run_in_order():
    assert len(BLOCKS) >= 6
    namespace = {}
    for index, block in enumerate(BLOCKS):
        if block.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(block, namespace, f"training.md[{index}]", str(PAGE), 0)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
            runner.run(test, clear_globs=False)
            assert runner.failures == 0, f"block {index} of docs/training.md"
            namespace = test.globs  # DocTest works on a copy: carry the names on
        else:
            if "import torch" in block:
                pytest.importorskip("torch")
            exec(compile(block, f"training.md[{index}]", "exec"), namespace)
