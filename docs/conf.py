"""Sphinx configuration of cyconv's documentation site.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (warnings are
errors). The API reference is generated from ``cyconv.__all__`` (and the submodules'
``__all__``) when the build starts, so a new public name appears without editing a page.
The guide pages' ``>>>`` examples run as doctests in the test suite (tests/test_docs.py).
"""

import importlib
import importlib.util
import pathlib

import cyconv

HERE = pathlib.Path(__file__).resolve().parent

project = "cyconv"
author = "the cyconv developers"
copyright = "the cyconv developers"
release = version = cyconv.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated/guide_toc.md", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# numpydoc: the class pages list members through autodoc, not through autosummary stubs.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the types are in the numpydoc text and the .pyi stubs

html_theme = "pydata_sphinx_theme"
html_title = f"cyconv {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
suppress_warnings = ["myst.header"]

# ----------------------------------------------------------------- generated pages

# Names of the top-level API by topic; a public name not listed here still appears,
# under "Other" (so the reference never misses a name in __all__).
TOPICS = [
    ("Convolution", ["correlate2d", "convolve2d", "conv2d", "conv_transpose2d"]),
    ("Pooling", ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]),
    ("Patches", ["unfold", "fold"]),
    ("Gradients", ["conv2d_backward", "Conv2dGradients", "max_pool2d_backward",
                   "avg_pool2d_backward", "adaptive_avg_pool2d_backward"]),
    ("Shape arithmetic", ["output_size", "conv2d_output_shape", "pool2d_output_shape",
                          "receptive_field", "ReceptiveField"]),
    ("Runtime", ["set_num_threads", "get_num_threads", "set_workspace_limit",
                 "get_workspace_limit", "show_config"]),
]
SUBMODULES = [
    ("nn", "cyconv.nn: layers, losses and optimisers"),
    ("d2l", "cyconv.d2l: the notes' functions"),
    ("dask", "cyconv.dask: dask arrays"),
]
# Guide pages other branches write; a placeholder stands in until they exist.
GUIDE = ["conventions", "padding", "layouts", "gradients", "autodiff", "training", "threads",
         "migration", "dask", "install"]
PLACEHOLDERS = {
    "training": ("Training with cyconv.nn", ":mod:`cyconv.nn`"),
    "dask": ("Dask arrays: cyconv.dask", "``cyconv.dask``"),
}


def _directive(obj, name, qualified):
    if isinstance(obj, type):
        return f".. autoclass:: {qualified}\n   :members:\n   :special-members: __call__\n"
    return f".. autofunction:: {qualified}\n"


def _module_page(modname, title, names):
    mod = importlib.import_module(modname)
    lines = [title, "=" * len(title), "", f".. module:: {modname}", ""]
    if mod.__doc__:
        lines += [f".. automodule:: {modname}", "   :no-index:", ""]
    for name in names:
        lines += [name, "-" * len(name), "", _directive(getattr(mod, name), name, f"{modname}.{name}"), ""]
    return "\n".join(lines)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:  # unchanged files keep the build incremental
        path.write_text(text)


def generate(app=None):
    out = HERE / "_generated"
    public = list(cyconv.__all__)
    lines = ["cyconv", "======", "", ".. module:: cyconv", "",
             "Everything here is importable from ``cyconv`` itself.", ""]
    seen = set()
    for topic, names in TOPICS + [("Other", [n for n in public if all(n not in t[1] for t in TOPICS)])]:
        present = [n for n in names if n in public]
        if not present:
            continue
        lines += [topic, "-" * len(topic), ""]
        for name in present:
            seen.add(name)
            lines += [_directive(getattr(cyconv, name), name, f"cyconv.{name}"), ""]
    _write(out / "api_cyconv.rst", "\n".join(lines))

    toc = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 2", "", "   api_cyconv"]
    for sub, title in SUBMODULES:
        if importlib.util.find_spec(f"cyconv.{sub}") is None:
            continue
        mod = importlib.import_module(f"cyconv.{sub}")
        _write(out / f"api_{sub}.rst", _module_page(f"cyconv.{sub}", title, list(mod.__all__)))
        toc.append(f"   api_{sub}")
    _write(out / "api.rst", "\n".join(toc) + "\n")

    guide = ["```{toctree}", ":maxdepth: 2", ":caption: User guide", ""]
    for page in GUIDE:
        if (HERE / f"{page}.md").exists():
            guide.append(f"/{page}")
        elif page in PLACEHOLDERS:
            title, what = PLACEHOLDERS[page]
            _write(out / f"{page}.md", f"# {title}\n\nThis page is being written; meanwhile see the "
                   f"API reference of {what.replace(':mod:', '').strip('`')}.\n")
            guide.append(f"/_generated/{page}")
    guide += ["/changelog", "```", ""]
    _write(out / "guide_toc.md", "\n".join(guide))


generate()
