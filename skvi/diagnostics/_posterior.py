"""The exact posterior of a Normal model's features, and q's distance from it."""

# SPDX-License-Identifier: BSD-3-Clause

# For the Normal model the exact posterior needs no sampling. tau integrates
# out analytically and leaves a 1-D integral over each mu_j, which depends on
# the data only through (W, xbar, S), the statistics the estimator holds and
# gives through the protocol (skvi.diagnostics._protocol). Adaptive quadrature
# of that integral gives the exact mean and sd of mu, E[tau], log p(X) and so
# KL(q || p) = log p(X) - ELBO.
#
# The Normal model (skvi._normal.estimator's module comment), for one feature:
#
#     mu  ~ Normal(m0, s0**2),  tau ~ Gamma(a0, b0),  x_i | mu, tau ~ Normal(mu, 1/tau)
#
# with weights w_i, W = sum_i w_i, xbar the weighted mean, S the weighted sum of
# squares about xbar.

import warnings
from dataclasses import dataclass
from math import exp, log1p

import numpy as np
from scipy import integrate
from scipy.special import gammaln

from .._core.exact import local_scale, log_integrand, posterior_modes
from .._core.families.normal import LOG_2PI
from ..exceptions import DiagnosticWarning
from ._protocol import check_protocol

# Integrating tau out of p(mu, tau, X) (a Gamma integral) leaves, with
# a_n = a0 + W/2, B = b0 + S/2 and u = sqrt(2 B / W) (the scale of the data's
# Student-t likelihood for mu),
#
#     p(mu, X) = Normal(mu | m0, s0**2) b0**a0 Gamma(a_n)
#                / (Gamma(a0) (2 pi)**(W/2) B**a_n (1 + y**2)**a_n),
#     y = (mu - xbar) / u,
#
# because b0 + (S + W (xbar - mu)**2)/2 = B (1 + y**2). Given mu, tau is
# Gamma(a_n, B (1 + y**2)), so E[tau | X] = a_n / B E[1 / (1 + y**2) | X] and
# E[tau**2 | X] = a_n (a_n + 1) / B**2 E[1 / (1 + y**2)**2 | X].
#
# The log integrand, up to a constant, is
#
#     l(mu) = -((mu - m0) / s0)**2 / 2 - a_n log(1 + y**2).
#
# Its stationary points solve, with Delta = (xbar - m0) / u and
# kappa = 2 a_n (s0 / u)**2 (the prior's variance over the likelihood's),
#
#     g(y) = (y + Delta) (1 + y**2) + kappa y = 0,
#
# a cubic: all its roots lie between the prior mean (y = -Delta) and the data
# mean (y = 0), and there are at most two maxima (a prior that conflicts with
# few data gives two modes). g' = 3 y**2 + 2 Delta y + 1 + kappa vanishes at
# y = (-Delta +- sqrt(Delta**2 - 3 (1 + kappa))) / 3; these split the bracket
# into pieces with at most one root each, and l' = -2 a_n g / (kappa (1 + y**2))
# (in y), so the maxima are the roots on the outer pieces, where g increases.
# Each is found by Newton steps safeguarded by bisection, vectorised over
# features. The integral is then taken by scipy.integrate.quad in
# standardised units t = (mu - mode) / sigma, sigma = (-l''(mode))**-1/2, over
# the interval where the integrand (times (1 + |t|)**2, for the second moment)
# is within exp(-_LOG_CUTOFF) of its peak, with the peak factored out (the
# log-sum-exp scaling): the integrand is O(1) at t = 0 whatever the scale of
# the data or the width of the posterior. (The modes and widths are computed
# in skvi/_core/exact.py, which credible_interval shares.)

# The integrand is dropped where it is below exp(-_LOG_CUTOFF) of its peak.
_LOG_CUTOFF = 60.0
_QUAD_LIMIT = 200
_QUAD_EPSREL = 1e-10


@dataclass(frozen=True)
class ExactPosterior:
    """The exact posterior of each feature's mean and precision, and q's error.

    Every attribute is an ndarray of shape (n_features,).

    Attributes
    ----------
    mean : ndarray
        Posterior mean of ``mu``, ``E[mu | X]``.
    std : ndarray
        Posterior standard deviation of ``mu``.
    tau_mean : ndarray
        Posterior mean of the precision ``tau``, ``E[tau | X]``.
    tau_std : ndarray
        Posterior standard deviation of ``tau``.
    log_evidence : ndarray
        ``log p(X_j)``, the log marginal likelihood of each feature's column;
        their sum is ``log p(X)``.
    elbo : ndarray
        The fitted ELBO of each feature; their sum is the estimator's ``elbo_``.
    kl : ndarray
        ``log_evidence - elbo = KL(q || p(. | X))`` per feature, >= 0: the
        divergence of the variational posterior from the exact one, in nats.
    std_ratio : ndarray
        ``posterior_std_ / std``: below 1 when mean-field understates the
        uncertainty of ``mu``.
    """

    mean: np.ndarray
    std: np.ndarray
    tau_mean: np.ndarray
    tau_std: np.ndarray
    log_evidence: np.ndarray
    elbo: np.ndarray
    kl: np.ndarray
    std_ratio: np.ndarray


def _fitted_statistics(estimator):
    """``(W, xbar, S, prior)`` from the estimator's protocol, as float64 arrays."""
    weight, data_mean, sum_of_squares, prior = estimator._normal_gamma_statistics()
    data_mean = np.asarray(data_mean, dtype=np.float64)
    prior = tuple(
        np.broadcast_to(value, data_mean.shape).astype(np.float64) for value in prior
    )
    return (
        np.float64(weight),
        data_mean,
        np.asarray(sum_of_squares, dtype=np.float64),
        prior,
    )


def feature_elbo(estimator):
    """The fitted ELBO of each feature: ``E_q[log p(X_j | mu_j, tau_j)] - KL_j``.

    The estimator's own pieces of ``elbo_`` (its ``_feature_elbos``), not
    summed: ``feature_elbo(est).sum() == est.elbo_`` to rounding.
    """
    check_protocol(estimator, "exact_posterior")
    return estimator._feature_elbos()


def _integration_bound(direction, mode_t, relative_log):
    """How far from ``mode_t`` (in t) the integrand falls below the cutoff.

    The first of ``mode_t + direction * 2**k`` where ``relative_log(t) +
    2 log(1 + |t|)`` is below ``-_LOG_CUTOFF`` (beyond the outermost mode the
    integrand only decreases), then bisected to within a quarter of a unit
    (or a thousandth, far out).
    """

    def outside(t):
        return relative_log(t) + 2.0 * log1p(abs(t)) < -_LOG_CUTOFF

    inner, step = 0.0, 1.0
    while not outside(mode_t + direction * step) and step < 1e300:
        inner, step = step, 2.0 * step
    outer = step
    while outer - inner > max(0.25, 1e-3 * outer):
        middle = 0.5 * (inner + outer)
        if outside(mode_t + direction * middle):
            outer = middle
        else:
            inner = middle
    return mode_t + direction * outer


def _exact_feature_or_nan(*args):
    """:func:`_exact_feature`, or NaN where the quadrature leaves float64's range."""
    failed = (np.nan,) * 5
    # quad's warnings matter for a result it returns (a slowly converging
    # tail), not for one refused here: exact_posterior then warns instead.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            result = _exact_feature(*args)
        except (OverflowError, ZeroDivisionError, ValueError):
            return failed
    if not np.all(np.isfinite(result)):
        return failed
    for warning in caught:
        warnings.warn_explicit(
            warning.message, warning.category, warning.filename, warning.lineno
        )
    return result


def _exact_feature(mode, second, weight, data_mean, sum_of_squares, prior):
    """Quadrature for one feature: ``(log_z, mean, std, tau_mean, tau_std)``.

    ``log_z`` is ``log int exp(l(mu)) dmu``.
    """
    prior_mean, prior_std, prior_shape, prior_rate = prior
    shape = prior_shape + 0.5 * weight
    rate = prior_rate + 0.5 * sum_of_squares
    scale = np.sqrt(2.0 * rate / weight)
    params = (data_mean, scale, prior_mean, prior_std, shape)
    sigma = float(local_scale(mode, *params))
    log_peak = float(log_integrand(mode, *params))
    # Well-scaled pieces of l(mode + sigma t) - l(mode) (no cancellation):
    #   -p1 t (2 p2 + p1 t) / 2 - a_n log1p(r t (2 e + r t) / (1 + e**2))
    # Python floats: quad calls the integrand point by point.
    p1 = float(sigma / prior_std)
    p2 = float((mode - prior_mean) / prior_std)
    e = float((mode - data_mean) / scale)
    r = float(sigma / scale)
    one_plus_e2 = 1.0 + e * e
    a_n = float(shape)

    log_one_plus_e2 = log1p(e * e)

    def relative_log(t):
        change = r * t * (2.0 * e + r * t) / one_plus_e2
        # log((1 + y**2) / (1 + e**2)) with y = e + r t: log1p of the change
        # when it is small, else the difference of logs (rounding can push a
        # large negative change to -1, where log1p fails).
        if change > -0.5:
            likelihood = log1p(change)
        else:
            y = e + r * t
            likelihood = log1p(y * y) - log_one_plus_e2
        return -0.5 * p1 * t * (2.0 * p2 + p1 * t) - a_n * likelihood

    points = [0.0]
    if np.isfinite(second):
        second_t = float((second - mode) / sigma)
        if relative_log(second_t) > -_LOG_CUTOFF:
            points.append(second_t)
    low = _integration_bound(-1.0, min(points), relative_log)
    high = _integration_bound(1.0, max(points), relative_log)
    # Break points at +-2**k sd (k >= 1) start quad on pieces that a 21-point
    # Gauss-Kronrod rule resolves: near the mode, a third fewer evaluations
    # than one cut at 0; in a heavy, power-law tail (few data, a vague prior:
    # the bound can be 1e8 sd away), pieces of constant relative width.
    octaves = 2.0 ** np.arange(1, 1 + np.ceil(np.log2(max(-low, high, 2.0))))
    points = sorted(
        {float(t) for t in (*points, *octaves, *-octaves) if low < t < high} | {0.0}
    )

    def quad(function, epsabs):
        return integrate.quad(
            function,
            low,
            high,
            points=points,
            epsabs=epsabs,
            limit=_QUAD_LIMIT + 2 * len(points),
            epsrel=_QUAD_EPSREL,
        )[0]

    z = quad(lambda t: exp(relative_log(t)), 1e-14)
    # t is in units of the posterior's width: the moments to 1e-11 of it.
    tiny = 1e-11 * z
    m1 = quad(lambda t: t * exp(relative_log(t)), tiny) / z
    central = quad(lambda t: (t - m1) ** 2 * exp(relative_log(t)), tiny) / z

    def inverse_one_plus_y2(t):
        y = e + r * t
        return 1.0 / (1.0 + y * y)

    h1 = quad(lambda t: inverse_one_plus_y2(t) * exp(relative_log(t)), tiny) / z
    h2 = quad(lambda t: inverse_one_plus_y2(t) ** 2 * exp(relative_log(t)), tiny) / z
    tau_mean = shape / rate * h1
    tau_second = shape * (shape + 1.0) / rate**2 * h2
    tau_var = max(tau_second - tau_mean**2, 0.0)
    log_z = log_peak + np.log(sigma) + np.log(z)
    return (
        log_z,
        mode + sigma * m1,
        sigma * np.sqrt(central),
        tau_mean,
        np.sqrt(tau_var),
    )


def exact_posterior(estimator):
    """The exact posterior of a fitted Normal estimator, and how far q is from it.

    Integrates ``tau`` out analytically and ``mu`` by adaptive quadrature,
    from the statistics the estimator holds (its total weight, weighted mean
    and sum of squares, and its priors): no pass over the data. The
    quadrature is centred and scaled at the posterior's mode, so that it is
    accurate when the posterior is much narrower than the prior or far from
    it; where prior and data conflict and the posterior has two modes, both
    are integrated.

    Parameters
    ----------
    estimator : VariationalNormalEstimator
        A fitted estimator (``covariance_type='diag'``); any estimator that
        answers the protocol's ``_normal_gamma_statistics`` and
        ``_feature_elbos`` (see :mod:`skvi.diagnostics`).

    Returns
    -------
    result : ExactPosterior
        Per-feature arrays ``mean``, ``std``, ``tau_mean``, ``tau_std``,
        ``log_evidence``, ``elbo``, ``kl`` and ``std_ratio``.

    Notes
    -----
    With ``a_n = a0 + W/2``, ``B = b0 + S/2`` and ``u = sqrt(2 B / W)``,
    ``p(mu, X)`` is the Normal prior times a Student-t-like factor
    ``(1 + ((mu - xbar)/u)**2)**-a_n``, times constants (see the comment at
    the top of ``skvi/diagnostics/_posterior.py``). Its modes are the
    maxima among the roots of a cubic, found by bisection; the moments are
    ratios of integrals of it. ``kl`` uses the ELBO of each feature, whose sum
    is ``elbo_``; it is ``KL(q || p(. | X)) >= 0`` because the ELBO is
    ``log p(X) - KL``. The cost is a few hundred integrand evaluations per
    feature, about a millisecond.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi import VariationalNormalEstimator
    >>> from skvi.diagnostics import exact_posterior
    >>> X = np.random.default_rng(0).normal(2.0, 1.0, size=(20, 1))
    >>> est = VariationalNormalEstimator(prior_mean=0.0, prior_std=0.5).fit(X)
    >>> exact = exact_posterior(est)
    >>> bool(exact.std_ratio[0] < 1.0), bool(exact.kl[0] > 0.0)
    (True, True)
    """
    check_protocol(estimator, "exact_posterior")
    weight, data_mean, sum_of_squares, prior = _fitted_statistics(estimator)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        first, second, params = posterior_modes(
            weight, data_mean, sum_of_squares, prior
        )
        # The global maximum of the (at most two) local ones.
        log_first = log_integrand(first, *params)
        log_second = log_integrand(second, *params)
    first_wins = np.isnan(second) | (log_first >= log_second)
    mode = np.where(first_wins, first, second)
    other = np.where(first_wins, second, first)
    results = np.array(
        [
            _exact_feature_or_nan(
                mode[j],
                other[j],
                weight,
                data_mean[j],
                sum_of_squares[j],
                tuple(p[j] for p in prior),
            )
            for j in range(data_mean.shape[0])
        ]
    ).reshape(-1, 5)
    log_z, mean, std, tau_mean, tau_std = results.T
    prior_mean, prior_std, prior_shape, prior_rate = prior
    shape = prior_shape + 0.5 * weight
    rate = prior_rate + 0.5 * sum_of_squares
    # log p(X) = log int Normal(mu | m0, s0**2) b0**a0 Gamma(a_n) /
    #   (Gamma(a0) (2 pi)**(W/2) B**a_n) (1 + y**2)**-a_n dmu
    log_evidence = (
        -0.5 * LOG_2PI
        - np.log(prior_std)
        + prior_shape * np.log(prior_rate)
        - gammaln(prior_shape)
        + gammaln(shape)
        - 0.5 * weight * LOG_2PI
        - shape * np.log(rate)
        + log_z
    )
    elbo = estimator._feature_elbos()
    failed = ~(np.isfinite(log_evidence) & (std > 0) & np.isfinite(std))
    if failed.any():
        log_evidence[failed] = std[failed] = mean[failed] = np.nan
        warnings.warn(
            f"exact_posterior could not integrate feature(s) "
            f"{np.flatnonzero(failed).tolist()}: the posterior leaves float64's "
            "range (a prior on mu 1e150 or more times wider than the data's "
            "scale, or data and priors beyond float64). Their results are NaN; "
            "give prior_std on the data's scale, or rescale X and the priors.",
            DiagnosticWarning,
            stacklevel=2,
        )
    return ExactPosterior(
        mean=mean,
        std=std,
        tau_mean=tau_mean,
        tau_std=tau_std,
        log_evidence=log_evidence,
        elbo=elbo,
        kl=log_evidence - elbo,
        std_ratio=estimator.posterior_std_ / std,
    )
