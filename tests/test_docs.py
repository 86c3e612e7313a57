"""Every public name has an example that the test suite runs."""

import doctest
import inspect
import re
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
