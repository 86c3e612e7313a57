"""The command line's priors: their names, and how the report describes them.

The rule that resolves a prior left out from the data is the estimator's own
(``VariationalNormalEstimator`` with the parameter None, its default); the
command passes only the priors given as options.
"""

# SPDX-License-Identifier: BSD-3-Clause

PRIOR_NAMES = ("prior_mean", "prior_std", "prior_shape", "prior_rate")

DATA_PRIOR = "unit-information prior from the data, worth one observation"
DATA_PRIOR_FORMULA = (
    "mu ~ Normal(data mean, data variance), tau ~ Gamma(1/2, rate=data variance/2)"
)


def used_priors(estimator):
    """The four priors of a fitted estimator, each an ndarray of shape (n_features,)."""
    return {name: getattr(estimator, f"{name}_") for name in PRIOR_NAMES}
