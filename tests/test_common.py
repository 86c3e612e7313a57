"""scikit-learn's common estimator checks, run on every skvi estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from tests._registry import ESTIMATORS


def _expected_failed_checks(estimator):
    """Checks that cannot apply to an estimator, with the reason: none so far."""
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
