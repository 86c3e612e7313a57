"""Every public name has an example that the test suite runs."""

import doctest
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import skvi
import skvi.exceptions

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.rst"

PUBLIC = [(skvi, name) for name in skvi.__all__] + [
    (skvi.exceptions, name) for name in skvi.exceptions.__all__
]


def test_api_page_examples_pass():
    """The examples written on the API page itself (not in docstrings) run."""
    failures, attempted = doctest.testfile(
        str(API_PAGE),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert attempted > 0
    assert failures == 0


@pytest.mark.parametrize(
    "module, name", PUBLIC, ids=[f"{m.__name__}.{n}" for m, n in PUBLIC]
)
def test_public_name_has_a_runnable_example(module, name):
    """skvi's own classes carry a doctest (run by --doctest-modules over skvi/);
    names whose docstring is not skvi's (a str, a re-exported class) get one on
    the API page, run by the test above."""
    obj = getattr(module, name)
    defined_here = inspect.isclass(obj) and obj.__module__.startswith("skvi.")
    if defined_here:
        assert ">>>" in (obj.__doc__ or ""), f"{name}'s docstring has no example"
    else:
        page = API_PAGE.read_text()
        entry = re.search(rf"^\.\. \w+:: {re.escape(name)}$", page, re.MULTILINE)
        assert entry, f"{name} is not documented on {API_PAGE.name}"
        section = page[entry.end() :].split("\n.. ", 1)[0]
        assert ">>>" in section, f"{name} has no example on {API_PAGE.name}"


# --------------------------------------------------------------------------
# Formulas render as maths (issue 18): the Markdown sources, and the check of
# the built site that .ci/run runs after sphinx (.ci/check_html.py).
# --------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs"
CHECK_HTML = Path(__file__).resolve().parent.parent / ".ci" / "check_html.py"


def _code_spans_across_lines(text):
    """Inline code spans that a line break cuts, outside fenced blocks.

    A line with an odd number of backticks opens (or closes) a span that
    continues on the next line; inside a paragraph MyST joins them, but a
    continuation line that starts with ``-`` or ``+`` becomes a list item.
    """
    found, fenced = [], False
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith(("```", ":::")):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            continue
        if line.replace("``", "").count("`") % 2:
            following = lines[number] if number < len(lines) else ""
            found.append((number, line.strip() + " / " + following.strip()))
    return found


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda path: path.name)
def test_no_inline_code_with_a_formula_is_cut_by_a_line_break(page):
    """Formulas are maths ($...$), not code split over lines, which MyST broke
    into nested bullets (the E-step lost its minus sign in guide/mixture.md)."""
    text = page.read_text(encoding="utf-8")
    cut = [
        (line, snippet)
        for line, snippet in _code_spans_across_lines(text)
        if "=" in snippet
    ]
    assert cut == [], f"{page.name}: inline code with '=' across lines: {cut}"


def test_the_html_check_fails_on_an_unrendered_formula(tmp_path):
    """Build two small pages as the site does (MyST, dollarmath, MathJax): the
    check passes the one with maths and fails the one written the old way."""
    pytest.importorskip("myst_parser", reason="the docs extra builds the site")
    from sphinx.application import Sphinx

    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text(
        'extensions = ["myst_parser", "sphinx.ext.mathjax"]\n'
        'myst_enable_extensions = ["dollarmath", "amsmath"]\n'
        'root_doc = "index"\n'
    )
    (source / "index.md").write_text(
        "# Maths\n\n```{toctree}\nold\n```\n\n"
        "The E-step, $\\log \\rho_{ik} = \\mathbb{E}[\\log \\pi_k]$, and\n\n"
        "$$\nW_k^{-1} = W_0^{-1} + C_k\n$$\n\n"
        "in a paragraph with `code = fine` on one line.\n"
    )
    # guide/mixture.md before issue 18: a code span cut by a line break.
    (source / "old.md").write_text(
        "# Old\n\n- E-step:\n  `log rho_ik = E[log pi_k] + E[log|Lambda_k|]/2\n"
        "  - nu_k/2 (x_i - m_k)^T W_k (x_i - m_k)`.\n"
    )
    out = tmp_path / "html"
    app = Sphinx(
        str(source), str(source), str(out), str(tmp_path / "doctrees"), "html",
        status=None, warning=None, freshenv=True,
    )  # fmt: skip
    app.build()
    process = subprocess.run(
        [sys.executable, str(CHECK_HTML), str(out)], capture_output=True, text=True
    )
    assert process.returncode == 1, process.stdout
    reported = process.stdout.splitlines()
    assert reported and all(line.startswith("old.html: raw '`'") for line in reported)
    (out / "old.html").unlink()
    process = subprocess.run(
        [sys.executable, str(CHECK_HTML), str(out)], capture_output=True, text=True
    )
    assert process.returncode == 0, process.stdout
