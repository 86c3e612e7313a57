"""Warnings raised by skvi's estimators."""

# SPDX-License-Identifier: BSD-3-Clause

from sklearn.exceptions import ConvergenceWarning
from sklearn.exceptions import (
    InconsistentVersionWarning as _SklearnInconsistentVersionWarning,
)

__all__ = [
    "ConvergenceWarning",
    "DiagnosticWarning",
    "ELBODecreaseWarning",
    "InconsistentVersionWarning",
    "PriorDataConflictWarning",
]


class DiagnosticWarning(UserWarning):
    """A diagnostic of :mod:`skvi.diagnostics` could not be computed in full.

    The values it could not compute are NaN (never a wrong number), and the
    message names which and why: for example ``exact_posterior`` on a prior
    so much wider than the data (``prior_std`` over 1e150 times their scale)
    that its quadrature leaves float64's range.

    Examples
    --------
    Make an incomplete diagnostic fail instead of warning:

    >>> import warnings
    >>> import numpy as np
    >>> from skvi import VariationalNormalEstimator
    >>> from skvi.diagnostics import exact_posterior
    >>> from skvi.exceptions import DiagnosticWarning
    >>> X = np.random.default_rng(0).normal(size=(30, 1)) * 1e-140
    >>> est = VariationalNormalEstimator(prior_std=1e290, prior_rate=1e-282).fit(X)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", DiagnosticWarning)
    ...     try:
    ...         exact_posterior(est)
    ...     except DiagnosticWarning as warning:
    ...         print(str(warning)[:50])
    exact_posterior could not integrate feature(s) [0]
    """


class ELBODecreaseWarning(RuntimeWarning):
    """The ELBO decreased between two CAVI iterations.

    Coordinate ascent can only increase the evidence lower bound, so a
    decrease larger than floating-point noise means a bug or a numerical
    breakdown (values near the limits of float64). The fit still completes;
    please report the data and priors that trigger it.

    Examples
    --------
    Make a decrease of the ELBO fail a fit instead of warning:

    >>> import warnings
    >>> import numpy as np
    >>> from skvi import VariationalNormalEstimator
    >>> from skvi.exceptions import ELBODecreaseWarning
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", ELBODecreaseWarning)
    ...     est = VariationalNormalEstimator().fit(X)
    >>> bool(np.all(np.diff(est.elbo_history_) >= -1e-9 * abs(est.elbo_)))
    True
    """


class PriorDataConflictWarning(UserWarning):
    """A prior given explicitly, not the data, decides a posterior mean.

    :class:`~skvi.VariationalNormalEstimator` warns after a fit when, for some
    feature ``j``, the prior on ``mu_j`` pulls the posterior mean more than
    two posterior sds away from the data mean::

        |posterior_mean_[j] - sample_mean_[j]| > 2 * posterior_std_[j]

    A cheap rule (O(n_features), from the statistics and q): for the diagonal
    model it is ``z_j * se_j / prior_std_j > 2``, where ``se_j**2 =
    1 / (W E_q[tau_j])`` is the data's squared standard error of the mean and
    ``z_j = |xbar_j - prior_mean_j| / sqrt(prior_std_j**2 + se_j**2)`` is how
    many prior-predictive sds the data mean lies from the prior mean: the data
    contradict the prior, and the prior is not negligible next to them. The
    data-resolved priors (the default, ``None``) never trigger it, since they
    centre ``mu``'s prior on the data mean. ``skvi fit`` prints a note by the
    same rule.

    The fit is still the exact CAVI answer for the prior given; the warning
    says that the prior is worth checking.

    Examples
    --------
    A prior mean of 0 with sd 1 for data around 1e6:

    >>> import warnings
    >>> import numpy as np
    >>> from skvi import VariationalNormalEstimator
    >>> from skvi.exceptions import PriorDataConflictWarning
    >>> X = np.random.default_rng(0).normal(1e6, 3.0, size=(1000, 1))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     est = VariationalNormalEstimator(prior_mean=0.0, prior_std=1.0).fit(X)
    >>> [w.category.__name__ for w in caught]
    ['PriorDataConflictWarning']
    >>> est.posterior_mean_.round(3), est.noise_std_.round(-3)  # the prior's answer
    (array([0.001]), array([1000000.]))
    >>> est = VariationalNormalEstimator().fit(X)  # priors from the data: no warning
    >>> est.posterior_mean_.round(1), est.noise_std_.round(1)
    (array([999999.9]), array([2.9]))
    """


class InconsistentVersionWarning(_SklearnInconsistentVersionWarning):
    """An estimator is loaded with a different skvi version than it was saved with.

    A subclass of scikit-learn's own ``InconsistentVersionWarning``, so that a
    filter for that warning catches skvi's too.

    Parameters
    ----------
    estimator_name : str
        Name of the estimator class.

    current_skvi_version : str
        The skvi version that is loading the estimator.

    original_skvi_version : str
        The skvi version that saved the estimator.

    Examples
    --------
    A subclass of scikit-learn's warning, so that one filter catches both:

    >>> from sklearn.exceptions import InconsistentVersionWarning as SklearnWarning
    >>> from skvi.exceptions import InconsistentVersionWarning
    >>> issubclass(InconsistentVersionWarning, SklearnWarning)
    True
    >>> print(InconsistentVersionWarning(
    ...     estimator_name="VariationalNormalEstimator",
    ...     current_skvi_version="0.2.0",
    ...     original_skvi_version="0.1.0",
    ... ))  # doctest: +NORMALIZE_WHITESPACE
    Trying to unpickle estimator VariationalNormalEstimator from skvi version 0.1.0
    when using version 0.2.0. This might lead to breaking code or invalid results.
    Use at your own risk. Refit the estimator with the installed version to be safe.
    """

    def __init__(self, *, estimator_name, current_skvi_version, original_skvi_version):
        super().__init__(
            estimator_name=estimator_name,
            current_sklearn_version=current_skvi_version,
            original_sklearn_version=original_skvi_version,
        )
        self.current_skvi_version = current_skvi_version
        self.original_skvi_version = original_skvi_version

    def __str__(self):
        return (
            f"Trying to unpickle estimator {self.estimator_name} from skvi version "
            f"{self.original_skvi_version} when using version "
            f"{self.current_skvi_version}. This might lead to breaking code or "
            "invalid results. Use at your own risk. Refit the estimator with the "
            "installed version to be safe."
        )
