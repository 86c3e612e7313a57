"""Every public skvi estimator, for the suites that check them all.

A new estimator joins the common, bad-input, persistence and reliability
checks by being listed here.
"""

from skvi import VariationalNormalEstimator

ESTIMATORS = [VariationalNormalEstimator()]


def estimator_id(estimator):
    return type(estimator).__name__
