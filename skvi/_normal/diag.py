"""The diagonal Normal model: each feature's q(mu_j) q(tau_j), by CAVI.

``VariationalNormalEstimator(covariance_type="diag")``'s maths, with the
equations beside the code (the module comment below): the CAVI updates of
q(mu) and q(tau), the exact solve for CAVI's fixed point in ``E[tau]``, the
ELBO of each feature, the linear-response sds at the fixed point (Giordano,
Broderick and Jordan, 2015), each row's share of the ELBO, and the log joint
from the statistics ``(W, xbar, S)``. :data:`DIAG` is the type's record
(:class:`skvi._normal.covariance.CovarianceType`): the estimator calls it,
and :mod:`skvi._normal.full_covariance` gives the same record for
``"full"``.

References
----------
C. M. Bishop, "Pattern Recognition and Machine Learning", Springer, 2006,
§10.1.3 (variational inference for a univariate Gaussian).
R. Giordano, T. Broderick and M. Jordan, "Linear response methods for
accurate covariance estimates from mean field variational Bayes", NIPS 2015.
"""

# SPDX-License-Identifier: BSD-3-Clause

import dataclasses
from functools import partial

import numpy as np

from .._core import engine
from .._core.families.gamma import gamma_expectations
from .._core.families.normal import LOG_2PI, expected_log_normal
from .._core.normal_gamma import (
    _PRIOR_NAMES,
    LinearResponseStd,
    _check_representable,
    _draw_mean_field,
    _kl_to_prior,
    _log_mean_field,
    _unit_information_priors,
    _update_mean,
    fitted_kl,
)
from .._core.stats import SufficientStatistics
from .covariance import CovarianceType, Start
from .exact import exact_interval

# The model, for each feature j (Bishop, PRML §10.1.3, with a prior on mu that
# does not scale with tau, so that the exact posterior has no closed form):
#
#     mu_j  ~ Normal(m0, s0**2)
#     tau_j ~ Gamma(a0, b0)                       (shape a0, rate b0)
#     x_ij | mu_j, tau_j ~ Normal(mu_j, 1/tau_j)  (observation i has weight w_i)
#
# Mean-field family q(mu_j) q(tau_j) = Normal(m, s**2) Gamma(a, b). Everything
# the data contribute is in W = sum_i w_i, xbar = sum_i w_i x_i / W and
# S = sum_i w_i (x_i - xbar)**2, because
#     sum_i w_i (x_i - mu)**2 = S + W (xbar - mu)**2.
#
# CAVI updates, log q*(z) = E_{-z}[log p(X, mu, tau)] + const (Bishop eq. 10.9):
#
#   q(mu):  1/s**2 = 1/s0**2 + W E[tau]
#           m      = (m0/s0**2 + W E[tau] xbar) s**2
#   q(tau): a = a0 + W/2
#           b = b0 + (E_mu[sum_i w_i (x_i - mu)**2]) / 2
#             = b0 + (S + W (xbar - m)**2 + W s**2) / 2
#
# with E[tau] = a/b. The q(mu) update is computed from the ratio
# r = s0 sqrt(W E[tau]) of the prior sd to the data's sd of the mean, which
# stays finite when s0**2 would overflow (a vague prior, s0 = 1e200) or
# underflow (a tight one, s0 = 1e-200):
#
#   s = s0 / sqrt(1 + r**2)              (= 1/sqrt(W E[tau]) / sqrt(1 + 1/r**2))
#   m = xbar + (m0 - xbar) / (1 + r**2)      when the data dominate (r >= 1)
#     = m0 + (xbar - m0) r**2 / (1 + r**2)   when the prior dominates (r < 1)
#
# Each form moves the estimate away from the side that dominates by a small,
# accurately computed share, so m is accurate to rounding either way. (A
# widely copied snippet of this algorithm puts the posterior sd of mu where
# the noise sd 1/sqrt(tau) belongs; here the two never meet except through
# E_mu[(x - mu)**2] = (x - m)**2 + s**2.)
#
# ELBO, summed over features (Bishop eq. 10.3, constants included so that it
# is comparable across priors and data sets):
#
#   L = E_q[log p(X | mu, tau)] - KL(q(mu) || p(mu)) - KL(q(tau) || p(tau))
#   E_q[log p(X | mu, tau)] = W/2 (E[log tau] - log 2 pi)
#                             - E[tau]/2 (S + W (xbar - m)**2 + W s**2)
#
# Each sweep updates q(mu) then q(tau); each update maximises L over one
# factor, so L never decreases from one sweep to the next. q(tau) starts at
# the prior, E[tau] = a0/b0, so the fit depends only on (W, xbar, S) and the
# priors: partial_fit on merged statistics reproduces fit exactly. The loop
# itself is skvi._core.base.VariationalEstimator's; this module supplies the sweep,
# the ELBO and the rest of the DIAG record (skvi._normal.covariance).


@dataclasses.dataclass(frozen=True)
class DiagData:
    """What a diagonal fit reads of X, and its priors.

    Attributes
    ----------
    statistics : SufficientStatistics
        ``(W, xbar, S)`` with a diagonal scatter (one component), kept for
        ``partial_fit``'s exact merges.
    weight : float
        ``W``.
    data_mean, sum_of_squares : ndarray of shape (n_features,)
        ``xbar`` and ``S``.
    priors : dict
        The four priors by name (``prior_mean``, ...), given or resolved.
    prior : tuple
        The same as ``(m0, s0, a0, b0)``.
    """

    statistics: SufficientStatistics
    weight: float
    data_mean: np.ndarray
    sum_of_squares: np.ndarray
    priors: dict
    prior: tuple


@dataclasses.dataclass(frozen=True)
class DiagState:
    """q(mu) q(tau) of each feature after a sweep (the module comment's names).

    ``squared_deviation`` is ``S + W (xbar - m)**2``; ``precision_mean`` and
    ``log_precision_mean`` are ``E[tau]`` and ``E[log tau]``; ``sweeps``
    counts the sweeps done (the first, from :class:`Start`, is plain CAVI).
    """

    mean: np.ndarray
    std: np.ndarray
    shape: np.ndarray
    rate: np.ndarray
    squared_deviation: np.ndarray
    precision_mean: np.ndarray
    log_precision_mean: np.ndarray
    sweeps: int = 1


def update_precision(
    weight, data_mean, sum_of_squares, mean, std, prior_shape, prior_rate
):
    """Update q(tau): ``a = a0 + W/2``, ``b = b0 + (S + W (xbar - m)**2 + W s**2)/2``.

    Also returns ``S + W (xbar - m)**2 = sum_i w_i (x_i - m)**2``, the squared
    deviation that the ELBO's data term needs.
    """
    squared_deviation = sum_of_squares + weight * (data_mean - mean) ** 2
    shape = prior_shape + 0.5 * weight
    rate = prior_rate + 0.5 * (squared_deviation + weight * std**2)
    return shape, rate, squared_deviation


def cavi_update(weight, data_mean, sum_of_squares, prior, precision_mean):
    """One CAVI sweep from ``E[tau]``: q(mu), then q(tau); the new state."""
    prior_mean, prior_std, prior_shape, prior_rate = prior
    mean, std = _update_mean(weight, data_mean, precision_mean, prior_mean, prior_std)
    shape, rate, squared_deviation = update_precision(
        weight, data_mean, sum_of_squares, mean, std, prior_shape, prior_rate
    )
    precision_mean, log_precision_mean = gamma_expectations(shape, rate)
    return DiagState(
        mean=mean,
        std=std,
        shape=shape,
        rate=rate,
        squared_deviation=squared_deviation,
        precision_mean=precision_mean,
        log_precision_mean=log_precision_mean,
    )


def feature_elbo(weight, state, prior):
    """The ELBO of each feature: ``E_q[log p(x | mu, tau)] - KL(q || prior)``."""
    return expected_log_normal(
        state.squared_deviation,
        weight,
        state.std**2,
        state.precision_mean,
        state.log_precision_mean,
    ) - _kl_to_prior(state.mean, state.std, state.shape, state.rate, prior)


# The fixed point of CAVI. A sweep maps e = E[tau] to T(e) = a / b(e), and T
# is increasing: a larger E[tau] pulls m towards xbar and shrinks s, which
# lowers b. So CAVI's iterates move monotonically, at a linear rate that is
# slow when the prior and few data conflict (50+ sweeps), to the nearest
# fixed point e* = T(e*) on their side. (There can be three when prior and
# data conflict: "mu near the data, moderate noise" and "mu near the prior,
# large noise", with an unstable one between; CAVI's answer is the one its
# iterates reach, and so is skvi's.) In u = log e, with F(u) = log T(e^u):
#   - two plain steps u1 = F(u0), u2 = F(u1) stay on CAVI's path, short of
#     the fixed point;
#   - steps out from u2 in the direction of travel, doubling from |u2 - u1|,
#     find the first point past the fixed point (where F(u) - u changes
#     sign), capped by the limits of T (T(0) with m = m0, s = s0, and
#     T(inf) = a / (b0 + S/2) with m = xbar, s = 0);
#   - Steffensen's method, kept inside that bracket (bisection otherwise),
#     solves F(u) = u to rounding in a handful of steps.
# Where no bracket is found, or the solution does not raise the feature's
# ELBO, the plain sweep is kept, so the ELBO never decreases.
_FIXED_POINT_STEPS = 60


def precision_fixed_point(weight, data_mean, sum_of_squares, prior, precision_mean):
    """Solve ``e = T(e)`` for each feature: the fixed point CAVI moves to from ``e``.

    Returns the solution, or NaN for features where it was not bracketed.
    """
    prior_mean, prior_std, prior_shape, prior_rate = prior
    shape = prior_shape + 0.5 * weight

    def log_map(log_e):
        state = cavi_update(weight, data_mean, sum_of_squares, prior, np.exp(log_e))
        return np.log(state.precision_mean)

    u1 = log_map(np.log(precision_mean))
    u2 = log_map(u1)
    direction = np.sign(u2 - u1)
    # The limit of T in the direction of travel bounds the fixed point.
    limit = np.where(
        direction > 0,
        np.log(shape / (prior_rate + 0.5 * sum_of_squares)),
        np.log(
            shape
            / (
                prior_rate
                + 0.5
                * (
                    sum_of_squares
                    + weight * (data_mean - prior_mean) ** 2
                    + weight * prior_std**2
                )
            )
        ),
    )
    near, far = u2.copy(), np.full_like(u2, np.nan)
    step = np.abs(u2 - u1)
    searching = (direction != 0) & np.isfinite(u2) & (step > 0)
    for _ in range(_FIXED_POINT_STEPS):
        if not searching.any():
            break
        trial = near + direction * step
        past_limit = direction * (trial - limit) >= 0
        trial = np.where(past_limit & np.isfinite(limit), limit, trial)
        crossed = direction * (log_map(trial) - trial) <= 0
        found = searching & crossed & np.isfinite(trial)
        far[found] = trial[found]
        onward = searching & ~crossed
        near[onward] = trial[onward]
        searching &= ~found & np.isfinite(trial)
        step = 2.0 * step
    usable = np.isfinite(far)
    low = np.where(usable, np.minimum(near, far), -1.0)
    high = np.where(usable, np.maximum(near, far), 1.0)
    x = np.where(usable, near, 0.0)
    tiny = 4 * np.finfo(float).eps
    for _ in range(_FIXED_POINT_STEPS):
        x1 = log_map(x)
        x2 = log_map(x1)
        # F(x) > x: the fixed point lies above x; narrow the bracket.
        above = x1 > x
        low = np.where(above, np.maximum(low, x), low)
        high = np.where(above, high, np.minimum(high, x))
        denominator = x2 - 2.0 * x1 + x
        with np.errstate(divide="ignore", invalid="ignore"):
            candidate = x - (x1 - x) ** 2 / denominator
        inside = (candidate > low) & (candidate < high)
        new = np.where(inside, candidate, np.where(x1 == x, x, 0.5 * (low + high)))
        done = np.abs(new - x) <= tiny * np.maximum(1.0, np.abs(x))
        x = new
        if np.all(done | ~usable):
            break
    return np.where(usable, np.exp(x), np.nan)


# Linear response (Giordano, Broderick and Jordan, 2015, eq. 11) at the CAVI
# fixed point. With m_mu = (E[mu - m], E[(mu - m)**2]) (centred at q's mean m,
# which leaves linear response unchanged and keeps the numbers small) and
# m_tau = (E[tau], E[log tau]), V the block-diagonal covariance of these
# statistics under q and H the Hessian of the expected log joint in them,
#
#     Sigma_LR = (I - V H)^-1 V.
#
# The expected log joint is linear in each factor's mean parameters; only the
# data term -E[tau]/2 W E[(xbar - mu)**2] couples them, with cross derivatives
# h1 = W (xbar - m) (E[mu - m] with E[tau]) and -W/2 (E[(mu - m)**2] with
# E[tau]): H = [[0, Hc], [Hc^T, 0]], Hc = [[h1, 0], [-W/2, 0]]. Under q,
# V_mu = diag(s**2, 2 s**4) and V_tau = [[a/b**2, 1/b], [1/b, psi'(a)]].
# V_mu Hc V_tau Hc^T has rank one, and the block inverses reduce to
#
#     g = s**2 h1**2 + s**4 W**2 / 2,      D = 1 - a g / b**2,
#     Var_LR(mu)  = s**2 + (a / b**2) s**4 h1**2 / D,
#     Var_LR(tau) = (a / b**2) / D,
#
# computed from the ratios c1 = s W (xbar - m) / b and c2 = s**2 W / b, so
# that a g / b**2 = a c1**2 + a c2**2 / 2. D <= 0 (the fixed point is not a
# strict maximum in the directions probed) gives NaN.
#
# Where xbar = m (data that agree with the prior mean), h1 = 0 and
# Var_LR(mu) = s**2 exactly: a tilt t mu of the log joint moves E_q[mu] but,
# to first order, not E_q[(x - mu)**2] = S + W (xbar - m)**2 + W s**2, so
# E_q[tau] does not respond and neither does q(mu)'s width. The exact sd of mu
# exceeds s there by the Student-t widening of its marginal (about
# 1/(2 a_n) of the sd, a_n = a0 + W/2), which no linear response of this
# family sees.


def linear_response_std(weight, data_mean, mean, std, shape, rate):
    """Linear-response sds of ``mu`` and ``tau`` (the comment above), per feature."""
    c1 = std * weight * (data_mean - mean) / rate
    c2 = std * std * weight / rate
    response = shape * c1 * c1
    denominator = 1.0 - response - 0.5 * shape * c2 * c2
    valid = denominator > 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_std = std * np.sqrt(1.0 + response / denominator)
        precision_std = np.sqrt(shape / denominator) / rate
    return LinearResponseStd(
        std=np.where(valid, mean_std, np.nan),
        tau_std=np.where(valid, precision_std, np.nan),
    )


def sample_scores(
    X, *, mean, variance, precision_mean, log_precision_mean, kl_per_sample
):
    """Each row's ``sum_j E_q[log Normal(x_ij | mu_j, 1/tau_j)] - KL / W``.

    In row blocks of the engine (skvi._core.engine), which bound the temporaries
    to a block per thread, not a copy of X.
    """
    n_samples, n_features = X.shape
    scores = np.empty(n_samples)

    def block_scores(rows):
        scores[rows] = expected_log_normal(
            (X[rows] - mean) ** 2, 1.0, variance, precision_mean, log_precision_mean
        ).sum(axis=1)

    block_rows, _ = engine.plan(n_samples, 2 * n_features)
    engine.map_blocks(block_scores, n_samples, block_rows, row_elements=2 * n_features)
    return scores - kl_per_sample


# The log joint at draws of (mu, tau), for the diagnostics' protocol
# (_log_joint; q's own density, _log_q, is skvi._core.normal_gamma's).
def log_joint_from_statistics(mu, tau, weight, data_mean, sum_of_squares, prior):
    """``log p(mu, tau, X)`` from X's statistics ``(W, xbar, S)``, per feature.

    ``log Normal(mu | m0, s0**2) + log Gamma(tau | a0, b0)
    + W/2 (log tau - log 2 pi) - tau/2 (S + W (xbar - mu)**2)``.
    """
    return (
        _log_mean_field(mu, tau, *prior)
        + 0.5 * weight * (np.log(tau) - LOG_2PI)
        - 0.5 * tau * (sum_of_squares + weight * (data_mean - mu) ** 2)
    )


# The DIAG record (skvi._normal.covariance): what the estimator calls.


def check_chunk(statistics, weighted):
    """Refuse a chunk whose mean or spread overflows float64, before any merge."""
    moments = (statistics.reference, statistics.offset, statistics.scatter)
    if not all(np.all(np.isfinite(moment)) for moment in moments):
        raise ValueError(
            "The mean or spread of X overflows float64 (values beyond about "
            "1e300). Rescale X, and the priors with it, before fitting."
            + (
                " With sample_weight, the weighted spread "
                "sum_i w_i (x_i - mean)**2 must also stay below about 1e308: "
                "rescale X, or divide the weights by a common factor."
                if weighted
                else ""
            )
        )


def fit_data(statistics, priors):
    """``(W, xbar, S)`` of the statistics; the priors left None resolved from them."""
    weight = float(statistics.weight[0])
    data_mean, sum_of_squares = statistics.mean[0], statistics.scatter[0]
    if any(value is None for value in priors.values()):
        from_data = _unit_information_priors(weight, data_mean, sum_of_squares)
        priors = {
            name: from_data[name] if value is None else value
            for name, value in priors.items()
        }
    return DiagData(
        statistics=statistics,
        weight=weight,
        data_mean=data_mean,
        sum_of_squares=sum_of_squares,
        priors=priors,
        prior=tuple(priors[name] for name in _PRIOR_NAMES),
    )


def initial_state(data):
    """q(tau) at its prior: ``E[tau] = a0 / b0``; q(mu) is updated first."""
    _, _, prior_shape, prior_rate = data.prior
    # A prior rate below float64's range (data on a scale below 1e-154)
    # is reported once, by _check_representable, not by numpy.
    with np.errstate(over="ignore", divide="ignore"):
        return Start(gamma_expectations(prior_shape, prior_rate)[0])


def sweep(data, state):
    """A CAVI sweep: q(mu), then q(tau); from the second on, to the fixed point.

    The first sweep from the prior is plain CAVI, so that ``elbo_history_``
    shows the climb; each later one solves for CAVI's fixed point in
    ``E[tau]`` (the comment above :func:`precision_fixed_point`) and updates
    q from it, so the parameters are exact to rounding within a few sweeps
    whatever ``tol``.
    """
    weight, data_mean = data.weight, data.data_mean
    sum_of_squares, prior = data.sum_of_squares, data.prior
    # Overflow is reported once, by _check_representable, not by numpy.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        plain = cavi_update(
            weight, data_mean, sum_of_squares, prior, state.precision_mean
        )
        if state.sweeps == 0:
            return plain
        solution = precision_fixed_point(
            weight, data_mean, sum_of_squares, prior, state.precision_mean
        )
        solved = cavi_update(
            weight,
            data_mean,
            sum_of_squares,
            prior,
            np.where(np.isnan(solution), state.precision_mean, solution),
        )
        # The ELBO is flat at the fixed point: a solution whose ELBO is
        # below the plain sweep's by rounding only is the better state.
        plain_elbo = feature_elbo(weight, plain, prior)
        better = np.isfinite(solution) & (
            feature_elbo(weight, solved, prior)
            >= plain_elbo - 1e-13 * np.maximum(np.abs(plain_elbo), 1.0)
        )
    chosen = {
        field.name: np.where(
            better, getattr(solved, field.name), getattr(plain, field.name)
        )
        for field in dataclasses.fields(DiagState)
        if field.name != "sweeps"
    }
    return DiagState(**chosen, sweeps=state.sweeps + 1)


def fit_elbo(data, state):
    """``E_q[log p(X | mu, tau)] - KL(q || prior)``, summed over features."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return float(np.sum(feature_elbo(data.weight, state, data.prior)))


def fitted_attributes(data, state, elbo):
    """q's fitted attributes, once the final state and its ELBO are in range."""
    # The shared check reads q's parameters and the ELBO by name.
    _check_representable(dict(vars(state), elbo=elbo))
    return {
        "posterior_mean_": state.mean,
        "posterior_std_": state.std,
        "posterior_shape_": state.shape,
        "posterior_rate_": state.rate,
        "noise_std_": 1.0 / np.sqrt(state.precision_mean),
    }


def sample_scorer(estimator):
    """``rows -> score_samples(rows)`` of a fitted (host) estimator."""
    precision_mean, log_precision_mean = gamma_expectations(
        estimator.posterior_shape_, estimator.posterior_rate_
    )
    kl = fitted_kl(estimator)
    return partial(
        sample_scores,
        mean=estimator.posterior_mean_,
        variance=estimator.posterior_std_**2,
        precision_mean=precision_mean,
        log_precision_mean=log_precision_mean,
        kl_per_sample=kl / estimator.n_samples_seen_,
    )


def device_terms(keywords):
    """``(E[tau], constant)`` of :func:`sample_scores`' keywords, for the device.

    ``constant`` is :func:`expected_log_normal` summed over features at
    ``x = m``, less ``KL / W``: each row's score is then
    ``constant - 1/2 sum_j E[tau_j] (x_j - m_j)**2``.
    """
    precision = keywords["precision_mean"]
    constant = (
        np.sum(
            expected_log_normal(
                0.0,
                1.0,
                keywords["variance"],
                precision,
                keywords["log_precision_mean"],
            )
        )
        - keywords["kl_per_sample"]
    )
    return precision, constant


def draw(estimator, n_samples, random_state):
    """Draws of ``mu`` and ``tau`` (each (n_samples, d)) from q(mu) q(tau)."""
    return _draw_mean_field(
        estimator.posterior_mean_,
        estimator.posterior_std_,
        estimator.posterior_shape_,
        estimator.posterior_rate_,
        n_samples,
        random_state,
    )


def interval(estimator, statistics, prior, level):
    """The exact central interval of each ``mu_j`` (:mod:`skvi._normal.exact`)."""
    return exact_interval(
        np.float64(estimator.n_samples_seen_),
        np.asarray(estimator.sample_mean_, dtype=np.float64),
        np.asarray(statistics.scatter[0], dtype=np.float64),
        prior,
        level,
    )


DIAG = CovarianceType(
    name="diag",
    attributes=("posterior_shape_", "posterior_rate_"),
    check_chunk=check_chunk,
    fit_data=fit_data,
    initial_state=initial_state,
    sweep=sweep,
    elbo=fit_elbo,
    fitted_attributes=fitted_attributes,
    sample_scorer=sample_scorer,
    device_terms=device_terms,
    draw=draw,
    interval=interval,
)
