"""scikit-learn's common estimator checks, run on every registered estimator."""

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
