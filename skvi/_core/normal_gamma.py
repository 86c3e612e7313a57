"""The Normal-Gamma mean field shared by the Normal and Student-t models.

Both models put ``mu ~ Normal(m0, s0**2)`` and ``tau ~ Gamma(a0, b0)`` on each
feature and fit ``q(mu) q(tau)`` of the same family: this module holds what
they share, with the maths beside it. The priors' parameters and checks
(``PRIOR_CONSTRAINTS``, :func:`given_priors`), the rule that resolves a prior
left ``None`` (:func:`_unit_information_priors`) and the one rule of
:class:`~skvi.exceptions.PriorDataConflictWarning`; the update of ``q(mu)``,
``KL(q || p)``, draws from q and its log density (``_MeanFieldDraws``, the
diagnostics' protocol); the float64 range check; and the result type of the
linear response, :class:`LinearResponseStd`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from typing import NamedTuple

import numpy as np
from scipy.special import gammaln

from .families.gamma import kl_gamma
from .families.normal import LOG_2PI, kl_normal
from .parameters import FINITE_REAL, POSITIVE_REAL, check_prior

_PRIOR_NAMES = ("prior_mean", "prior_std", "prior_shape", "prior_rate")

# The priors' constructor parameters: a number for every feature, one per
# feature, or None (resolved from the data by _unit_information_priors).
PRIOR_CONSTRAINTS = {
    "prior_mean": [FINITE_REAL, "array-like", None],
    "prior_std": [POSITIVE_REAL, "array-like", None],
    "prior_shape": [POSITIVE_REAL, "array-like", None],
    "prior_rate": [POSITIVE_REAL, "array-like", None],
}


def given_priors(estimator):
    """The priors given as numbers, checked and broadcast to ``(n_features_in_,)``.

    Those given as None stay None, to be resolved from the data.
    """
    return {
        name: None
        if getattr(estimator, name) is None
        else check_prior(
            getattr(estimator, name),
            name,
            estimator.n_features_in_,
            positive=name != "prior_mean",
        )
        for name in _PRIOR_NAMES
    }


def _update_mean(weight, data_mean, precision_mean, prior_mean, prior_std):
    """Update q(mu): ``1/s**2 = 1/s0**2 + W E[tau]``; ``m`` between xbar and m0.

    Returns the mean and the standard deviation ``s`` of q(mu), from the
    ratio ``r = s0 sqrt(W E[tau])`` (see the module comment).
    """
    data_precision_sqrt = np.sqrt(weight * precision_mean)
    ratio = prior_std * data_precision_sqrt
    ratio_squared = ratio * ratio
    data_dominates = ratio >= 1.0
    # Only the branch that np.where keeps is ever accurate; the other may
    # divide by 0 or overflow, harmlessly.
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        inverse_squared = 1.0 / ratio_squared
        std = np.where(
            data_dominates,
            (1.0 / data_precision_sqrt) / np.sqrt(1.0 + inverse_squared),
            prior_std / np.sqrt(1.0 + ratio_squared),
        )
        mean = np.where(
            data_dominates,
            data_mean + (prior_mean - data_mean) / (1.0 + ratio_squared),
            prior_mean
            + (data_mean - prior_mean) * (ratio / (1.0 + ratio_squared)) * ratio,
        )
    return mean, std


def _kl_to_prior(mean, std, shape, rate, prior):
    """``KL(q(mu) || p(mu)) + KL(q(tau) || p(tau))`` per feature."""
    prior_mean, prior_std, prior_shape, prior_rate = prior
    return kl_normal(mean, std, prior_mean, prior_std) + kl_gamma(
        shape, rate, prior_shape, prior_rate
    )


def fitted_kl(estimator):
    """``KL(q(mu) q(tau) || p(mu) p(tau))`` of a fitted estimator, over all features.

    From its ``posterior_*`` attributes and its resolved priors (``prior_*_``);
    ``score_samples`` spreads it over the training weight.
    """
    return _kl_to_prior(
        estimator.posterior_mean_,
        estimator.posterior_std_,
        estimator.posterior_shape_,
        estimator.posterior_rate_,
        tuple(getattr(estimator, f"{name}_") for name in _PRIOR_NAMES),
    ).sum()


class LinearResponseStd(NamedTuple):
    """Linear-response corrected posterior standard deviations, per feature.

    Named as :class:`~skvi.diagnostics.ExactPosterior` names the exact ones,
    so that ``corrected.std / exact.std`` compares like with like.

    Attributes
    ----------
    std : ndarray of shape (n_features,)
        Corrected sd of each feature's mean ``mu`` (compare with
        ``posterior_std_``, and with the exact ``ExactPosterior.std``).
    tau_std : ndarray of shape (n_features,)
        Corrected sd of each feature's precision ``tau`` (compare with
        q(tau)'s ``sqrt(posterior_shape_) / posterior_rate_``, and with
        ``ExactPosterior.tau_std``).
    mean, precision : ndarray of shape (n_features,)
        Deprecated aliases of ``std`` and ``tau_std`` (the sds of mu and of
        tau, not a mean and a precision).

        .. deprecated:: 0.3
           Use ``std`` and ``tau_std``; the aliases go in 0.5.
    """

    std: np.ndarray
    tau_std: np.ndarray

    @property
    def mean(self):
        """Deprecated alias of ``std``, the corrected sd of ``mu``."""
        _warn_renamed("mean", "std")
        return self.std

    @property
    def precision(self):
        """Deprecated alias of ``tau_std``, the corrected sd of ``tau``."""
        _warn_renamed("precision", "tau_std")
        return self.tau_std


def _warn_renamed(old, new):
    """The FutureWarning of a renamed ``LinearResponseStd`` field."""
    warnings.warn(
        f"LinearResponseStd.{old} is deprecated since skvi 0.3 and goes in 0.5: "
        f"it holds a standard deviation; use LinearResponseStd.{new}.",
        FutureWarning,
        stacklevel=3,
    )


def _check_n_draws(n_samples):
    """Refuse an ``n_samples`` of posterior draws that is not an integer >= 1."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ValueError(f"n_samples must be an integer >= 1; got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1; got {n_samples}.")


def _draw_mean_field(mean, std, shape, rate, n_samples, rng):
    """``n_samples`` draws of ``mu ~ q(mu)`` and ``tau ~ q(tau)`` per feature.

    q(mu) = Normal(mean, std**2) and q(tau) = Gamma(shape, rate), independent
    (the mean-field family); each of shape (n_samples, n_features).
    """
    size = (n_samples, mean.shape[0])
    mu = rng.normal(mean, std, size=size)
    tau = rng.gamma(shape, 1.0 / rate, size=size)
    return mu, tau


def _unit_information_priors(weight, data_mean, sum_of_squares):
    """The priors worth one observation (Kass and Wasserman, 1995), per feature.

    ``mu ~ Normal(xbar, v)`` and ``tau ~ Gamma(1/2, v/2)``, so that
    ``E[tau] = 1/v``, with ``v = S/W`` the weighted sample variance. A
    constant column (``S = 0``, or a single sample) has no variance to
    offer: ``v = xbar**2`` stands in (the data's own scale), or 1 when
    ``xbar = 0``.
    """
    scale = np.where(data_mean != 0.0, np.abs(data_mean), 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        variance = sum_of_squares / weight
        usable = np.isfinite(variance) & (variance > 0.0)
        variance = np.where(usable, variance, scale * scale)
    std = np.where(usable, np.sqrt(variance), scale)
    return {
        "prior_mean": data_mean,
        "prior_std": std,
        "prior_shape": np.full_like(data_mean, 0.5),
        "prior_rate": 0.5 * variance,
    }


# A prior on mu in conflict with the data: the prior moves the posterior mean
# more than this many posterior sds away from the data mean (see
# skvi.exceptions.PriorDataConflictWarning). With r**2 = s0**2 W E[tau] and
# se**2 = 1 / (W E[tau]), the CAVI update gives m - xbar = (m0 - xbar)/(1 + r**2)
# and s = s0 / sqrt(1 + r**2), so |m - xbar| / s = z se / s0 with
# z = |xbar - m0| / sqrt(s0**2 + se**2), the data mean's distance from the
# prior mean in prior-predictive sds.
_CONFLICT_SDS = 2.0


def prior_data_conflicts(sample_mean, posterior_mean, posterior_std):
    """Which features' posterior mean the prior decides, by the documented rule.

    ``|posterior_mean - sample_mean| > 2 posterior_std``, per feature; the
    one rule of :class:`~skvi.exceptions.PriorDataConflictWarning` and of
    ``skvi fit``'s note.

    Returns
    -------
    conflicts : ndarray of bool, shape (n_features,)
    """
    shift = np.abs(np.asarray(posterior_mean) - np.asarray(sample_mean))
    return shift > _CONFLICT_SDS * np.asarray(posterior_std)


def _check_representable(state):
    """Raise, rather than return NaN, inf or 0, when the fit leaves float64's range.

    Data and priors on wildly different scales (``(xbar - prior_mean)**2``,
    ``S`` or ``1/prior_rate`` beyond about 1e308 or below 1e-308) make the
    updates overflow or underflow.
    """
    checks = [
        ("the posterior mean", state["mean"], False),
        ("the posterior sd", state["std"], True),
        ("the posterior rate", state["rate"], True),
        ("the noise scale", state["rate"] / state["shape"], True),
        ("the ELBO", state["elbo"], False),
    ]
    bad = [
        name
        for name, values, positive in checks
        if not np.all(np.isfinite(values)) or (positive and not np.all(values > 0))
    ]
    if bad:
        raise ValueError(
            f"The fit is not representable in float64: {', '.join(bad)} came out "
            "NaN, infinite or zero. The data and the priors are on very different "
            "scales, or beyond float64's range (squares of values above about "
            "1e154 overflow, and of spreads below about 1e-154 underflow). "
            "Choose priors on the scale of the data, or rescale X "
            "by c and the priors with it: prior_mean and prior_std by c, "
            "prior_rate by c**2."
        )


class _MeanFieldDraws:
    """The diagnostics' draws from q and ``log q`` for q(mu) q(tau) per feature.

    Shared by the models whose q is the Normal model's mean field (the Normal,
    diagonal; the Student-t): their ``sample_posterior`` draws ``mu`` and
    ``tau``, and ``posterior_mean_``, ``posterior_std_``, ``posterior_shape_``
    and ``posterior_rate_`` give q (skvi/diagnostics/_protocol.py).
    """

    def _sample_q(self, n_draws, random_state):
        """Protocol: ``{"mu", "tau"}``, draws of shape (n_draws, n_features)."""
        mu, tau = self.sample_posterior(n_draws, random_state=random_state)
        return {"mu": mu, "tau": tau}

    def _log_q(self, draws):
        """Protocol: ``log q(mu) + log q(tau)`` at the draws, per feature."""
        return _log_mean_field(
            draws["mu"],
            draws["tau"],
            self.posterior_mean_,
            self.posterior_std_,
            self.posterior_shape_,
            self.posterior_rate_,
        )


def _log_normal_pdf(x, mean, std):
    """``log Normal(x | mean, std**2)``, from the ratio ``(x - mean)/std``."""
    return -0.5 * LOG_2PI - np.log(std) - 0.5 * ((x - mean) / std) ** 2


def _log_gamma_pdf(x, shape, rate):
    """``log Gamma(x | shape, rate)`` (rate parametrisation)."""
    return shape * np.log(rate) - gammaln(shape) + (shape - 1.0) * np.log(x) - rate * x


def _log_mean_field(mu, tau, mean, std, shape, rate):
    """``log Normal(mu | m, s**2) + log Gamma(tau | a, b)``: q's, or the prior's."""
    return _log_normal_pdf(mu, mean, std) + _log_gamma_pdf(tau, shape, rate)
