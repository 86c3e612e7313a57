"""Pareto-smoothed importance sampling from q: k-hat and corrected moments."""

# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import check_random_state

from .._core.validation import check_data
from ._protocol import check_protocol

# Draws theta_s ~ q and log ratios r_s = log p(theta_s, X) - log q(theta_s)
# (p unnormalised: the log joint). Self-normalised importance sampling turns
# the draws into draws from p(theta | X); Pareto smoothing (Vehtari, Simpson,
# Gelman, Yao and Gabry, 2024) replaces the largest ratios by the quantiles of
# a generalised Pareto fitted to them. The fitted shape k-hat is the
# diagnostic (Yao, Vehtari, Simpson and Gelman, 2018): the ratios have
# finite variance for k < 1/2, and importance sampling (so also q, as an
# approximation of p) is reliable for k < 0.7.
#
# Each estimator answers three methods of the protocol
# (skvi.diagnostics._protocol): _sample_q draws from q, _log_q and _log_joint
# evaluate log q and the log joint at the draws; the log ratios are their
# difference. The model's maths (its likelihood, with any latent variables
# integrated out, and its priors) lives beside the model.
#
# A group is what one k-hat speaks for: a feature for the Normal and the
# Student-t models (features are independent a posteriori), the whole model
# for a mixture (whose log joint marginalises z with logsumexp over
# components). Draw arrays carry the group axes right after the draw axis, so
# that each is reweighted by its group's weights.

_KHAT_GOOD = 0.5
_KHAT_USABLE = 0.7
# Fewer effective draws than this (or NaN) mean that the importance weights
# have collapsed onto a few draws: the tail k-hat is fitted to is then
# rounding (arviz returns a floor k-hat, 0.05-0.17, on ratios that span
# hundreds of nats), and nothing the draws say can be trusted.
_MIN_EFFECTIVE_DRAWS = 10.0


@dataclass(frozen=True)
class PSISDiagnostic:
    """Pareto-smoothed importance sampling from q: k-hat and corrected moments.

    Attributes
    ----------
    khat : ndarray
        The Pareto shape of the importance ratios' tail, one per group: per
        feature for :class:`~skvi.VariationalNormalEstimator` and
        :class:`~skvi.VariationalStudentEstimator`, shape (n_features,);
        one for the whole model for
        :class:`~skvi.VariationalGaussianMixture`, shape (). The reading
        (Yao et al., 2018): k < 0.5, q is close to the posterior and the
        corrected moments are reliable; 0.5 <= k < 0.7, usable, the corrected
        moments converge slowly; k >= 0.7, do not trust q nor the correction.
        ``reading`` says so, and says "do not trust" wherever the effective
        sample size is NaN or below 10 (collapsed weights), whatever k-hat.
    mean, std : dict of str to ndarray
        Importance-corrected posterior means and standard deviations of each
        parameter, keyed by the names of ``sample_posterior``'s outputs:
        ``"mu"`` and ``"tau"`` (n_features,) for the Normal and Student-t
        estimators;
        ``"weights"`` (n_components,), ``"means"`` (n_components, n_features)
        and ``"precisions"`` (n_components, n_features, n_features) for the
        mixture.
    q_mean, q_std : dict of str to ndarray
        The same moments of the unweighted draws from q, for comparison.
    effective_sample_size : ndarray
        ``1 / sum_s w_s**2`` of the smoothed, normalised weights, per group.
    log_evidence : ndarray
        The importance-sampling estimate of ``log p(X)`` per group,
        ``log mean_s exp(r_s)`` of the raw log ratios; biased low, and
        reliable only where k-hat is small. For the mixture it is the
        evidence of the one of the K! label-permuted modes that q sits on:
        with well-separated, all-occupied components, ``log p(X)`` is
        ``log K!`` higher under the Dirichlet prior (between 0 and
        ``log K!`` higher under the stick-breaking prior).
    """

    khat: np.ndarray
    mean: dict
    std: dict
    q_mean: dict
    q_std: dict
    effective_sample_size: np.ndarray
    log_evidence: np.ndarray

    @property
    def reading(self):
        """``"good"``, ``"usable"`` or ``"do not trust"`` for each k-hat.

        "do not trust" also wherever the effective sample size is NaN or
        below 10: the weights have collapsed onto a few draws, and a k-hat
        fitted to such a tail means nothing, however small.
        """
        collapsed = ~(self.effective_sample_size >= _MIN_EFFECTIVE_DRAWS)
        return np.select(
            [collapsed, self.khat < _KHAT_GOOD, self.khat < _KHAT_USABLE],
            ["do not trust", "good", "usable"],
            "do not trust",
        )


def _log_ratios(estimator, X, sample_weight, n_draws, random_state):
    """Draws from q and their log ratios ``log p(theta, X) - log q(theta)``.

    Returns ``(log_ratios, draws)``: the ratios of shape (n_draws, *groups)
    and the draws of the parameters that the estimator names (the protocol's
    keys without a leading underscore).
    """
    X, sample_weight = check_data(estimator, X, sample_weight, reset=False)
    draws = estimator._sample_q(n_draws, random_state)
    log_ratios = estimator._log_joint(X, sample_weight, draws) - estimator._log_q(draws)
    return log_ratios, {
        name: value for name, value in draws.items() if not name.startswith("_")
    }


def _pareto_smoothed_log_weights(log_ratios):
    """PSIS by arviz-stats: normalised log weights and k-hat, per group.

    ``log_ratios`` has shape (n_draws, *groups). arviz-stats' ``psislw``
    follows PSIS-LOO's convention and takes log-likelihoods, whose negatives
    are the log ratios: hence the minus sign.
    """
    try:
        from arviz_stats.base import array_stats
    except ImportError as error:
        raise ImportError(
            "psis_diagnostic needs arviz-stats for Pareto smoothing: "
            "pip install 'skvi[diagnostics]' (or pip install arviz-stats)."
        ) from error
    n_draws, groups = log_ratios.shape[0], log_ratios.shape[1:]
    by_group = log_ratios.reshape(n_draws, -1).T
    log_weights = np.empty_like(by_group)
    khat = np.empty(by_group.shape[0])
    # Equal ratios (q equal to p to rounding) leave no tail to fit: uniform
    # weights, and k-hat -inf (no tail at all).
    flat = np.ptp(by_group, axis=1) <= 1e-12 * (1.0 + np.abs(by_group).max(axis=1))
    log_weights[flat] = -np.log(n_draws)
    khat[flat] = -np.inf
    if not np.all(flat):
        # r_eff = 1: the draws from q are independent.
        smoothed, fitted = array_stats.psislw(-by_group[~flat], 1.0)
        log_weights[~flat] = smoothed
        khat[~flat] = fitted
    return log_weights.T.reshape(log_ratios.shape), khat.reshape(groups)


def _weighted_moments(draws, weights):
    """Mean and sd of draws (n_draws, *groups, ...) under weights (n_draws, *groups)."""
    weights = weights.reshape(weights.shape + (1,) * (draws.ndim - weights.ndim))
    mean = np.sum(weights * draws, axis=0)
    variance = np.sum(weights * (draws - mean) ** 2, axis=0)
    return mean, np.sqrt(variance)


def psis_diagnostic(estimator, X, n_draws=1000, random_state=None, sample_weight=None):
    """Check a variational fit by Pareto-smoothed importance sampling from q.

    Draws the parameters from the fitted variational posterior q, weighs each
    draw by ``p(theta, X) / q(theta)`` (the model's unnormalised posterior
    over q), Pareto-smooths the weights and reports the fitted Pareto shape
    k-hat (Yao et al., 2018) with the importance-corrected posterior moments.
    Unlike :func:`exact_posterior` it needs only the model's log joint, so it
    applies where no exact answer exists.

    The groups that one k-hat speaks for: each feature of a
    :class:`~skvi.VariationalNormalEstimator` or a
    :class:`~skvi.VariationalStudentEstimator` (independent a posteriori;
    the Student-t model's log joint has the weights ``w_ij`` integrated
    out, ``sum_i v_i log Student-t(x_ij | nu_j, mu_j, 1/tau_j)`` plus the
    log priors of ``mu_j`` and ``tau_j``, with ``nu_j`` the fitted
    ``degrees_of_freedom_``), and
    the whole model of a :class:`~skvi.VariationalGaussianMixture`, whose
    log joint sums the assignments z out, ``sum_i w_i log sum_k pi_k
    Normal(x_i | mu_k, Lambda_k^-1)`` plus the log priors of the weights
    (the sticks v under the stick-breaking prior) and of each
    ``(mu_k, Lambda_k)``.

    Requires the optional dependency arviz-stats
    (``pip install 'skvi[diagnostics]'``).

    Parameters
    ----------
    estimator : fitted skvi estimator
        A fitted :class:`~skvi.VariationalNormalEstimator`
        (``covariance_type='diag'``),
        :class:`~skvi.VariationalStudentEstimator` or
        :class:`~skvi.VariationalGaussianMixture` (any covariance_type and
        weight prior, with the priors it was fitted with); any estimator
        that answers the protocol's ``_sample_q``, ``_log_q`` and
        ``_log_joint`` (see :mod:`skvi.diagnostics`).
    X : array-like, pandas DataFrame, dask array or dask DataFrame of shape \
(n_samples, n_features)
        The data the estimator was fitted on (the posterior is checked
        against these data). A dask collection is read chunk by chunk on
        the workers and never gathered: the Normal needs only its weighted
        mean and sum of squares, the Student-t model and the mixture each
        chunk's per-draw sums of log-likelihoods.
    n_draws : int, default=1000
        Number of draws from q; >= 100. The k-hat estimate's own noise falls
        as n_draws grows (about 0.05 at 1000 draws for k near 0.5).
    random_state : int, RandomState instance or None, default=None
        Seed or generator for reproducible draws.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights the estimator was fitted with, if any.

    Returns
    -------
    result : PSISDiagnostic
        ``khat`` per feature (one, of shape (), for the mixture), the
        corrected ``mean`` and ``std`` of each parameter
        (``result.mean["mu"]``, ``result.std["tau"]``;
        ``result.mean["means"]`` for the mixture), the same of
        the unweighted draws (``q_mean``, ``q_std``), the effective sample
        size, an importance-sampling estimate of ``log p(X)``, and
        ``reading``: ``"good"`` (k < 0.5), ``"usable"`` (0.5 <= k < 0.7) or
        ``"do not trust"`` (k >= 0.7).

    Notes
    -----
    Cost: the Normal's log joint needs one pass over X for its statistics,
    then O(n_draws n_features). The Student-t model's needs one pass over X
    evaluating every draw in each row block, O(n_draws n n_features)
    logarithms. The mixture's needs one pass over X per
    draw, vectorised over draws and components in blocks of about 8 MiB:
    O(n_draws n K d^2) flops and O(n_draws n K) exponentials, 0.1 to 0.3 s
    for the default 1000 draws on 10 000 x 2 samples with K = 3.

    Label switching: the mixture's posterior has K! modes that differ by a
    permutation of the components, and q sits on one. k-hat and the corrected
    moments speak for that mode (the one the fit is read as);
    ``log_evidence`` misses the others (see :class:`PSISDiagnostic`).

    q's family matters: with ``covariance_type`` 'diag', 'spherical' or
    'tied', q(Lambda_k) cannot represent the posterior's (a Wishart with the
    full scale, each component its own), so k-hat can exceed 0.7 on large,
    well-separated data where 'full' gives k-hat near 0: q, not the
    data, is then what is poor.

    References
    ----------
    .. [1] Y. Yao, A. Vehtari, D. Simpson and A. Gelman, "Yes, but did it
       work?: Evaluating variational inference", ICML 2018.
    .. [2] A. Vehtari, D. Simpson, A. Gelman, Y. Yao and J. Gabry, "Pareto
       smoothed importance sampling", JMLR 25(72), 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi import VariationalNormalEstimator
    >>> from skvi.diagnostics import psis_diagnostic
    >>> X = np.random.default_rng(0).normal(1.0, 2.0, size=(500, 2))
    >>> est = VariationalNormalEstimator(prior_std=10.0).fit(X)
    >>> check = psis_diagnostic(est, X, random_state=0)  # doctest: +SKIP
    >>> check.reading  # doctest: +SKIP
    array(['good', 'good'], dtype='<U12')

    The mixture gets one k-hat:

    >>> from skvi import VariationalGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (300, 2)), rng.normal(5, 1, (300, 2))])
    >>> vgm = VariationalGaussianMixture(n_components=2, random_state=0).fit(X)
    >>> check = psis_diagnostic(vgm, X, random_state=0)  # doctest: +SKIP
    >>> check.khat.shape, check.mean["means"].shape  # doctest: +SKIP
    ((), (2, 2))
    """
    check_protocol(estimator, "psis_diagnostic")
    if (
        isinstance(n_draws, bool)
        or not isinstance(n_draws, (int, np.integer))
        or n_draws < 100
    ):
        raise ValueError(
            f"n_draws must be an integer >= 100 (Pareto smoothing fits the "
            f"largest ~3 sqrt(n_draws) ratios); got {n_draws!r}."
        )
    random_state = check_random_state(random_state)
    try:
        log_ratios, draws = _log_ratios(
            estimator, X, sample_weight, int(n_draws), random_state
        )
    except MemoryError:
        raise ValueError(
            f"n_draws={n_draws} draws from q do not fit in memory; 1000 to "
            "10000 draws are usual (k-hat's noise falls as 1/sqrt(n_draws))."
        ) from None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        log_weights, khat = _pareto_smoothed_log_weights(log_ratios)
    weights = np.exp(log_weights)
    uniform = np.full_like(weights, 1.0 / n_draws)
    moments = {name: _weighted_moments(value, weights) for name, value in draws.items()}
    q_moments = {
        name: _weighted_moments(value, uniform) for name, value in draws.items()
    }
    return PSISDiagnostic(
        khat=khat,
        mean={name: value[0] for name, value in moments.items()},
        std={name: value[1] for name, value in moments.items()},
        q_mean={name: value[0] for name, value in q_moments.items()},
        q_std={name: value[1] for name, value in q_moments.items()},
        effective_sample_size=1.0 / np.sum(weights**2, axis=0),
        log_evidence=logsumexp(log_ratios, axis=0) - np.log(n_draws),
    )
