"""The command line's default priors: the unit-information prior, from the data."""

# SPDX-License-Identifier: BSD-3-Clause

PRIOR_NAMES = ("prior_mean", "prior_std", "prior_shape", "prior_rate")

DATA_PRIOR = "unit-information prior from the data, worth one observation"
DATA_PRIOR_FORMULA = (
    "mu ~ Normal(data mean, data variance), tau ~ Gamma(1/2, rate=data variance/2)"
)


def estimator_priors(chosen):
    """The prior parameters to construct the estimator with.

    The priors chosen on the command line, and None for the others: the
    estimator resolves None to the unit-information prior of the data it
    has read (Kass and Wasserman, 1995), worth one observation, with no
    second pass (see ``VariationalNormalEstimator``'s Notes).
    """
    return {name: chosen.get(name) for name in PRIOR_NAMES}


def used_priors(estimator):
    """The four priors of a fitted estimator, each an ndarray of shape (n_features,)."""
    return {name: getattr(estimator, f"{name}_") for name in PRIOR_NAMES}
