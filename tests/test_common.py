"""scikit-learn's common estimator checks, run on every registered estimator.

And the registry's promise: one more entry in ``tests/_registry.py`` runs every
generic suite on it, with no edit to any suite.
"""

import dataclasses
import importlib
import math
import sys

from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from tests._registry import ENTRIES, ESTIMATORS, entry_for


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
    "tests.test_common",
    "tests.test_properties",
    "tests.test_extreme",
    "tests.test_bad_input",
    "tests.test_nothing_lost",
    "tests.test_persistence",
    "tests.test_sklearn_api",
]

# Tests of the generic suites that do not take an entry.
NOT_PER_ENTRY = {
    "tests.test_common": {
        "test_entry_ids_are_unique",
        "test_a_second_entry_runs_everywhere",
    },
    "tests.test_extreme": {"test_naive_sum_of_squares_fails_on_offset_data"},
}


def _n_cases(test):
    """How many tests pytest generates from ``test``: the product of its grids."""
    grids = [
        # scikit-learn 1.6's parametrize_with_checks gives a generator.
        len(list(mark.args[1]))
        for mark in getattr(test, "pytestmark", [])
        if mark.name == "parametrize"
    ]
    return math.prod(grids)


def _cases_per_test(module_name):
    """Cases per test function of a suite, imported afresh from the registry now.

    The copy in ``sys.modules`` (the one pytest collected) is put back after.
    """
    collected = sys.modules.pop(module_name, None)
    try:
        module = importlib.import_module(module_name)
    finally:
        sys.modules.pop(module_name, None)
        if collected is not None:
            sys.modules[module_name] = collected
    return {
        name: _n_cases(test)
        for name, test in vars(module).items()
        if name.startswith("test_") and callable(test)
    }


def test_a_second_entry_runs_everywhere():
    """Adding an entry adds its tests to every generic test, with no other edit.

    Each suite is imported afresh as registered, then with a second entry (the
    first one's estimator with its other_params, under another id): every test that
    takes an entry must have twice as many cases, every other test as many.
    """
    # Measured on the first entry alone, whatever else is registered.
    registered, estimators = list(ENTRIES), list(ESTIMATORS)
    first = ENTRIES[0]
    second = dataclasses.replace(
        first,
        id=f"{first.id}-second",
        estimator=clone(first.estimator).set_params(**first.other_params),
    )
    try:
        ENTRIES[:], ESTIMATORS[:] = [first], [first.estimator]
        one = {suite: _cases_per_test(suite) for suite in GENERIC_SUITES}
        ENTRIES.append(second)
        ESTIMATORS.append(second.estimator)
        two = {suite: _cases_per_test(suite) for suite in GENERIC_SUITES}
    finally:
        ENTRIES[:], ESTIMATORS[:] = registered, estimators
    for suite in GENERIC_SUITES:
        assert one[suite].keys() == two[suite].keys()
        fixed = NOT_PER_ENTRY.get(suite, set())
        assert fixed <= one[suite].keys(), suite
        for test, cases in one[suite].items():
            expected = cases if test in fixed else 2 * cases
            assert cases > 0, f"{suite}::{test} has no case"
            assert two[suite][test] == expected, f"{suite}::{test}"
