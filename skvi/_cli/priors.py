"""The command line's default priors: the unit-information prior, from the data."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

PRIOR_NAMES = ("prior_mean", "prior_std", "prior_shape", "prior_rate")

DATA_PRIOR = "unit-information prior from the data, worth one observation"
DATA_PRIOR_FORMULA = (
    "mu ~ Normal(data mean, data variance), tau ~ Gamma(1/2, rate=data variance/2)"
)


def unit_information_priors(weight, mean, sum_of_squares):
    """The unit-information prior of each column (Kass and Wasserman, 1995).

    A prior worth one observation, centred on the data::

        v     = S / W                  (the weighted sample variance)
        mu    ~ Normal(xbar, v)
        tau   ~ Gamma(shape=1/2, rate=v/2),  so that E[tau] = 1/v

    A column with no spread (constant, or one row) uses ``v = xbar**2``, the
    scale of its value, or ``v = 1`` when ``xbar = 0``.

    The fit depends on the data only through ``(W, xbar, S)``, so this prior
    is resolved after the data have been read, with no second pass. It is
    meant to become the estimator's ``prior_* = None``.

    Parameters
    ----------
    weight : float
        Total weight ``W`` (the number of rows).
    mean, sum_of_squares : ndarray of shape (n_features,)
        Weighted mean ``xbar`` and centred sum of squares ``S``.

    Returns
    -------
    priors : dict
        ``prior_mean``, ``prior_std``, ``prior_shape``, ``prior_rate``, each an
        ndarray of shape (n_features,).

    Examples
    --------
    >>> import numpy as np
    >>> priors = unit_information_priors(4.0, np.array([2.0, 5.0]),
    ...                                  np.array([16.0, 0.0]))
    >>> priors["prior_std"].tolist(), priors["prior_rate"].tolist()
    ([2.0, 5.0], [2.0, 12.5])
    """
    mean = np.asarray(mean, dtype=np.float64)
    variance = np.asarray(sum_of_squares, dtype=np.float64) / weight
    no_spread = np.where(mean != 0, mean**2, 1.0)
    variance = np.where(variance > 0, variance, no_spread)
    return {
        "prior_mean": mean,
        "prior_std": np.sqrt(variance),
        "prior_shape": np.full_like(variance, 0.5),
        "prior_rate": variance / 2,
    }


def estimator_resolves_priors(estimator_class):
    """Whether the estimator takes ``prior_* = None`` as this prior itself."""
    constraints = estimator_class._parameter_constraints
    return all(None in constraints[name] for name in PRIOR_NAMES)


def estimator_priors(estimator_class, chosen):
    """The prior parameters to construct the estimator with.

    The chosen priors, and None for the others when the estimator resolves
    None from the data itself; otherwise the others keep the estimator's
    defaults until :func:`refit_with_data_priors` replaces them.
    """
    if not estimator_resolves_priors(estimator_class):
        return dict(chosen)
    return {name: chosen.get(name) for name in PRIOR_NAMES}


def refit_with_data_priors(estimator, chosen):
    """Refit a fitted estimator with the data's priors where none was chosen.

    The estimator's statistics ``(W, xbar, S)`` are those of all the data
    read, so the refit costs O(n_features): ``partial_fit`` of one row of
    weight 0 reruns CAVI on them with the new priors. An estimator that
    resolves ``prior_* = None`` itself has done so already: nothing to do.

    Parameters
    ----------
    estimator : VariationalNormalEstimator
        Fitted on all the data.
    chosen : dict
        The priors given on the command line; they win over the data's.

    Returns
    -------
    used : dict
        The four priors of the fit, each an ndarray of shape (n_features,).
    """
    if len(chosen) < len(PRIOR_NAMES) and not estimator_resolves_priors(
        type(estimator)
    ):
        # The estimator's own centred sum of squares, S.
        resolved = unit_information_priors(
            estimator.n_samples_seen_,
            estimator.sample_mean_,
            estimator._sum_of_squares,
        )
        estimator.set_params(**{**resolved, **chosen})
        estimator.partial_fit(
            estimator.sample_mean_[np.newaxis, :], sample_weight=[0.0]
        )
    return {name: getattr(estimator, f"{name}_") for name in PRIOR_NAMES}
