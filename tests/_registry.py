"""Every public skvi estimator, for the suites that check them all.

A new estimator joins the common, bad-input, persistence and reliability
checks by being listed here.
"""

from skvi import VariationalGaussianMixture, VariationalNormalEstimator

ESTIMATORS = [VariationalNormalEstimator()]

# scikit-learn's common checks run on these too; the mixture joins ESTIMATORS
# once the generic suites stop assuming the Normal's attributes (branch suites).
COMMON_ESTIMATORS = ESTIMATORS + [
    VariationalGaussianMixture(n_components=2, max_iter=1000, random_state=0)
]


def estimator_id(estimator):
    return type(estimator).__name__
