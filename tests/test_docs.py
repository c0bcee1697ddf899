"""The user guide's examples (docs/*.md, every ``>>>`` line) run as doctests and print what
the pages say. A page that imports an optional package (scipy, torch, autograd) is skipped
when it is missing. docs/autodiff.md is the tested autograd recipe (check_grads inside)."""

import doctest
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md")) if DOCS.is_dir() else []
OPTIONAL = ("scipy", "torch", "autograd", "dask", "jax")

pytestmark = pytest.mark.skipif(not PAGES, reason="docs/ not beside the tests (installed-wheel run)")


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # PyTorch's, in migration.md
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_guide_page_examples(page):
    import cyconv

    text = page.read_text(encoding="utf-8")
    for mod in OPTIONAL:
        if re.search(rf"^>>> (import|from) {mod}\b", text, re.M):
            pytest.importorskip(mod)
    before = cyconv.get_num_threads()
    try:
        # The ```python blocks of the page, one doctest sharing one namespace.
        blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
        test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, page.name, str(page), 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        out = []
        runner.run(test, out=out.append)
        assert runner.failures == 0, "".join(out)
    finally:
        cyconv.set_num_threads(before)


def test_autodiff_recipe_is_checked():
    """The recipe page really runs check_grads (a page without it would pass vacuously)."""
    text = (DOCS / "autodiff.md").read_text(encoding="utf-8")
    assert text.count(">>> check_grads(") >= 3 and "defvjp(conv2d" in text
