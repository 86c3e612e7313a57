"""scikit-learn's common estimator checks, run on every registered estimator."""

import json
import subprocess
import sys
from pathlib import Path

from sklearn.utils.estimator_checks import parametrize_with_checks

from tests._registry import ENTRIES, ESTIMATORS, entry_for

ROOT = Path(__file__).resolve().parent.parent


def _expected_failed_checks(estimator):
    """The entry's checks that cannot apply, each with its reason."""
    return entry_for(estimator).expected_failed_checks


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_entry_ids_are_unique():
    ids = [entry.id for entry in ENTRIES]
    assert len(set(ids)) == len(ids), ids


# The generic suites, each of which must run on every registered estimator.
GENERIC_SUITES = [
    "tests/test_common.py",
    "tests/test_properties.py",
    "tests/test_extreme.py",
    "tests/test_bad_input.py",
    "tests/test_nothing_lost.py",
    "tests/test_persistence.py",
    "tests/test_sklearn_api.py",
]

# In a fresh interpreter, collect the suites given as arguments twice: as
# registered, then with a second entry (the first entry's estimator with other
# priors, under another id) added to the registry and the suites imported
# anew. Print both lists of node ids.
_COLLECT_TWICE = """
import dataclasses, json, sys
import pytest
from tests import _registry


class Collected:
    def pytest_collection_finish(self, session):
        self.items = [item.nodeid for item in session.items]


def collect():
    collected = Collected()
    code = pytest.main(
        ["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[1:]],
        plugins=[collected],
    )
    assert code == 0, code
    for name in [name for name in sys.modules if name.startswith("tests.test_")]:
        del sys.modules[name]
    return collected.items


one = collect()
first = _registry.ENTRIES[0]
second = dataclasses.replace(
    first,
    id="second-entry",
    estimator=type(first.estimator)(**first.weak_priors),
)
_registry.ENTRIES.append(second)
_registry.ESTIMATORS.append(second.estimator)
two = collect()
print(json.dumps([one, two]))
"""


def test_a_second_entry_runs_in_every_generic_suite():
    """Adding an entry adds its tests to every generic suite, with no other edit.

    With one more entry, each suite gains exactly as many tests as it has for
    the first entry (those whose id names it), and no suite is left out.
    """
    result = subprocess.run(
        [sys.executable, "-c", _COLLECT_TWICE, *GENERIC_SUITES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    one, two = json.loads(result.stdout.strip().splitlines()[-1])
    first = ENTRIES[0]
    for suite in GENERIC_SUITES:
        before = [node for node in one if node.startswith(suite)]
        after = [node for node in two if node.startswith(suite)]
        per_entry = [node for node in before if first.id in node]
        assert per_entry, f"{suite} runs nothing on {first.id}"
        assert len(after) - len(before) == len(per_entry), suite
        assert any("second-entry" in node for node in after) or suite.endswith(
            "test_common.py"
        ), suite
