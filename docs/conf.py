"""Sphinx configuration for skvi's documentation site."""

# SPDX-License-Identifier: BSD-3-Clause

# Build: python -m sphinx -W -b html docs docs/_build/html
# (pip install ".[docs]" first; the gallery runs every examples/plot_*.py).

import os
import re
import subprocess
import sys
from pathlib import Path

import skvi

project = "skvi"
author = "The skvi developers"
copyright = "The skvi developers, BSD-3-Clause"
version = release = skvi.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_generated",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
]

# Markdown pages: $...$ and $$...$$ maths, ``:::`` fences, heading anchors so
# that links such as errors.md#the-data-x resolve.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# numpydoc renders the docstrings; the class pages list their methods once.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_default_options = {}
autodoc_typehints = "none"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Every plot_*.py runs; examples/dask_cluster.py is a full-size script for a
    # real cluster, linked from the gallery's dask example rather than run.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|(^|/)dask_cluster)\.py$",
    "within_subsection_order": "FileNameSortKey",
    # "Examples using X" on the API page (the minigallery directive).
    "doc_module": ("skvi",),
    "backreferences_dir": "_generated/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 0,
    # The build fails if an example fails, instead of showing a traceback.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"skvi {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False

# Examples draw with a non-interactive backend.
os.environ.setdefault("MPLBACKEND", "Agg")


# Shapes such as ``(n_iter_,)`` in docstrings name fitted attributes; in reST a
# word ending in "_" is a link target, so escape the underscore on shape lines.
_SHAPE_NAME = re.compile(r"\b([A-Za-z]\w*?)_(?=[,)])")


def _escape_trailing_underscores(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "shape (" in line:
            lines[i] = _SHAPE_NAME.sub(r"\1\\_", line)


def setup(app):
    # Before numpydoc (priority 500) turns the sections into reST.
    app.connect("autodoc-process-docstring", _escape_trailing_underscores, priority=400)


# The command-line page includes the program's own --help, generated at each
# build so that it cannot go stale.
_GENERATED = Path(__file__).parent / "_generated"
_GENERATED.mkdir(exist_ok=True)
for _args, _name in [
    ((), "skvi_help.txt"),
    (("fit",), "skvi_fit_help.txt"),
    (("segment",), "skvi_segment_help.txt"),
]:
    _help = subprocess.run(
        [sys.executable, "-m", "skvi", *_args, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, COLUMNS="80"),
    ).stdout
    (_GENERATED / _name).write_text(_help)
