"""Variational inference for the mean and precision of independent Normal features."""

# SPDX-License-Identifier: BSD-3-Clause

import dataclasses
import warnings
from functools import partial

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._core import array_api, engine
from .._core.base import VariationalEstimator
from .._core.expectations import (
    LOG_2PI,
    expected_log_normal,
    gamma_expectations,
    wishart_expected_log_det,
    wishart_expected_precision,
)
from .._core.normal_gamma import (
    _CONFLICT_SDS,
    _PRIOR_NAMES,
    PRIOR_CONSTRAINTS,
    LinearResponseStd,
    _check_n_draws,
    _check_representable,
    _draw_mean_field,
    _kl_to_prior,
    _log_mean_field,
    _MeanFieldDraws,
    _unit_information_priors,
    _update_mean,
    given_priors,
    prior_data_conflicts,
)
from .._core.stats import (
    SufficientStatistics,
    merge_moments_about,
    sufficient_statistics,
    weighted_moments_about,
)
from .._core.validation import (
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    StrOptions,
    array_space,
    check_data,
    check_probability,
    check_weight_sum,
    is_dask_collection,
    to_namespace,
)
from ..exceptions import PriorDataConflictWarning
from . import full_covariance
from .exact import exact_interval
from .exact_full import full_exact_interval

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
# itself is skvi._core.base.VariationalEstimator's; this module supplies the sweep
# and the ELBO.


# The attributes of one covariance_type only: a fit of the other drops them.
_DIAG_ONLY = (
    "posterior_shape_",
    "posterior_rate_",
    "_reference",
    "_offset",
    "_sum_of_squares",
)
_FULL_ONLY = (
    "posterior_covariance_",
    "posterior_dof_",
    "posterior_scale_",
    "noise_covariance_",
    "prior_dof_",
    "prior_scale_",
    "_statistics",
)


def _update_precision(
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


def _cavi_update(weight, data_mean, sum_of_squares, prior, precision_mean):
    """One CAVI sweep from ``E[tau]``: q(mu), then q(tau); the new state."""
    prior_mean, prior_std, prior_shape, prior_rate = prior
    mean, std = _update_mean(weight, data_mean, precision_mean, prior_mean, prior_std)
    shape, rate, squared_deviation = _update_precision(
        weight, data_mean, sum_of_squares, mean, std, prior_shape, prior_rate
    )
    precision_mean, log_precision_mean = gamma_expectations(shape, rate)
    return {
        "mean": mean,
        "std": std,
        "shape": shape,
        "rate": rate,
        "squared_deviation": squared_deviation,
        "precision_mean": precision_mean,
        "log_precision_mean": log_precision_mean,
    }


def _feature_elbo(weight, state, prior):
    """The ELBO of each feature: ``E_q[log p(x | mu, tau)] - KL(q || prior)``."""
    return expected_log_normal(
        state["squared_deviation"],
        weight,
        state["std"] ** 2,
        state["precision_mean"],
        state["log_precision_mean"],
    ) - _kl_to_prior(state["mean"], state["std"], state["shape"], state["rate"], prior)


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


def _precision_fixed_point(weight, data_mean, sum_of_squares, prior, precision_mean):
    """Solve ``e = T(e)`` for each feature: the fixed point CAVI moves to from ``e``.

    Returns the solution, or NaN for features where it was not bracketed.
    """
    prior_mean, prior_std, prior_shape, prior_rate = prior
    shape = prior_shape + 0.5 * weight

    def log_map(log_e):
        state = _cavi_update(weight, data_mean, sum_of_squares, prior, np.exp(log_e))
        return np.log(state["precision_mean"])

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


def _linear_response_std(weight, data_mean, mean, std, shape, rate):
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


def _sample_scores(
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


_INTERVAL_METHODS = ("exact", "variational")


def _variational_interval(mean, std, level):
    """The central interval of q(mu) = Normal(m, s**2): ``m +- z s``."""
    # The tail probability (1 - level) / 2 is exact for any level (Sterbenz):
    # norm.interval forms (1 + level) / 2, which rounds to 1, and so to an
    # infinite bound, for levels within 1e-16 of 1.
    z = stats.norm.isf(0.5 * (1.0 - level))
    return mean - z * std, mean + z * std


def _device_weight(sample_weight, X, space):
    """Checked (numpy) weights as an array of X's space, in X's dtype; or None."""
    if sample_weight is None:
        return None
    return to_namespace(sample_weight, space, dtype=space.compute_dtype(X.dtype))


class VariationalNormalEstimator(
    VariationalEstimator, _MeanFieldDraws, DensityMixin, BaseEstimator
):
    """Posterior of the mean and noise of each feature, by variational inference.

    Each column ``j`` of X is modelled as independent draws from a Normal
    distribution with unknown mean ``mu_j`` and precision ``tau_j``::

        mu_j  ~ Normal(prior_mean, prior_std**2)
        tau_j ~ Gamma(shape=prior_shape, rate=prior_rate)
        x_ij | mu_j, tau_j ~ Normal(mu_j, 1 / tau_j)

    The posterior is approximated by ``q(mu_j) q(tau_j) = Normal(m_j, s_j**2)
    Gamma(a_j, b_j)``, fitted by coordinate-ascent variational inference
    (CAVI) on weighted sufficient statistics: the data are read once, and each
    iteration costs O(n_features).

    Parameters
    ----------
    prior_mean : float, array-like of shape (n_features,) or None, default=None
        Mean of the Normal prior on each feature's mean ``mu``. None takes it
        from the data: the weighted data mean (the unit-information prior,
        see Notes).

        .. versionchanged:: 0.3
           The default is None (from the data); it was 0.0.

    prior_std : float, array-like of shape (n_features,) or None, default=None
        Standard deviation of the Normal prior on ``mu``; > 0. Any positive
        float64 works, from a very tight 1e-300 to a very vague 1e300 (with
        ``covariance_type="full"``, from 1.5e-154, the square root of
        float64's smallest normal number, to 1e300). None takes it from the
        data: the data's standard deviation (see Notes).

        .. versionchanged:: 0.3
           The default is None (from the data); it was 1.0.

    prior_shape : float, array-like of shape (n_features,) or None, default=None
        Shape of the Gamma prior on each feature's precision ``tau``; > 0.
        None takes 1/2 (the unit-information prior, see Notes).

        .. versionchanged:: 0.3
           The default is None (1/2); it was 1.0.

    prior_rate : float, array-like of shape (n_features,) or None, default=None
        Rate (inverse scale) of the Gamma prior on ``tau``; > 0. The prior
        mean of ``tau`` is ``prior_shape / prior_rate``. None takes it from
        the data: half the data's variance (see Notes).

        .. versionchanged:: 0.3
           The default is None (from the data); it was 1.0. The former
           default prior is ``VariationalNormalEstimator(prior_mean=0.0,
           prior_std=1.0, prior_shape=1.0, prior_rate=1.0)``.

    max_iter : int, default=100
        Maximum number of CAVI sweeps; >= 1.

    tol : float, default=1e-8
        The fit has converged when the ELBO changes by at most
        ``tol * max(W, 1)`` between two sweeps, where ``W`` is the total sample
        weight (the number of samples with unit weights): ``tol`` bounds the
        change of the ELBO per sample. >= 0. From the second sweep on, each
        sweep solves for CAVI's fixed point exactly (see Notes), so the fit
        usually converges in 3 sweeps with its parameters accurate to
        rounding, whatever ``tol``; plain CAVI, whose parameters are only
        accurate to about ``sqrt(tol)``, can need hundreds of sweeps when few
        samples disagree with the prior.

    verbose : int, default=0
        Print the ELBO at every iteration when > 0.

    covariance_type : {"diag", "full"}, default="diag"
        ``"diag"``: the features are independent, each with its own mean and
        precision (the model above). ``"full"``: the rows are multivariate
        Normal, ``x_i ~ Normal(mu, Lambda^-1)`` with a full precision matrix
        ``Lambda``, ``mu ~ Normal(prior_mean, diag(prior_std**2))`` and
        ``Lambda ~ Wishart(2 prior_shape + d - 1, diag(1 / (2 prior_rate)))``,
        fitted with ``q(mu) q(Lambda) = Normal(m, S_mu) Wishart(nu, W)`` (see
        Notes). ``prior_shape`` must then be one number for all features.

    Attributes
    ----------
    posterior_mean_ : ndarray of shape (n_features,)
        Mean ``m`` of q(mu).

    posterior_std_ : ndarray of shape (n_features,)
        Standard deviation ``s`` of q(mu).

    posterior_shape_ : ndarray of shape (n_features,)
        Shape ``a`` of q(tau).

    posterior_rate_ : ndarray of shape (n_features,)
        Rate ``b`` of q(tau).

    noise_std_ : ndarray of shape (n_features,)
        Point summary of the noise standard deviation ``1/sqrt(tau)``:
        ``1 / sqrt(E_q[tau]) = sqrt(b / a)``. With many samples it tends to the
        (weighted, biased) sample standard deviation. For ``"full"``,
        ``sqrt(diag(noise_covariance_))``.

    posterior_covariance_ : ndarray of shape (n_features, n_features)
        (``"full"`` only) Covariance ``S_mu`` of q(mu); ``posterior_std_`` is
        the square root of its diagonal.

    posterior_dof_ : float
        (``"full"`` only) Degrees of freedom ``nu`` of q(Lambda).

    posterior_scale_ : ndarray of shape (n_features, n_features)
        (``"full"`` only) Scale matrix ``W`` of q(Lambda); ``E_q[Lambda] = nu W``.

    noise_covariance_ : ndarray of shape (n_features, n_features)
        (``"full"`` only) Point summary of the noise covariance,
        ``E_q[Lambda]^-1``.

    prior_dof_ : float
        (``"full"`` only) Degrees of freedom ``nu0 = 2 prior_shape + d - 1``
        of the Wishart prior.

    prior_scale_ : ndarray of shape (n_features, n_features)
        (``"full"`` only) Scale matrix ``W0 = diag(1 / (2 prior_rate))`` of the
        Wishart prior.

    prior_mean_, prior_std_, prior_shape_, prior_rate_ : ndarray of shape (n_features,)
        The priors used, one value per feature: those given, broadcast, and
        those resolved from the data where the parameter is None.

    elbo_ : float
        Evidence lower bound of the final fit, summed over features, with all
        constants: ``elbo_ <= log p(X)``.

    elbo_history_ : ndarray of shape (n_iter_,)
        The ELBO after each iteration; non-decreasing. With a prior wildly
        at odds with the data, the first iterates can be so far from both
        that their ELBO lies below float64's range, -1.8e308: those entries
        are -inf. ``elbo_`` itself is always finite.

    n_iter_ : int
        Number of CAVI iterations run.

    sample_mean_ : ndarray of shape (n_features,)
        Weighted mean of the data seen (``xbar``), for comparison with
        ``posterior_mean_``, which lies between it and ``prior_mean``.

    n_samples_seen_ : float
        Total sample weight ``W`` seen by ``fit`` or by all ``partial_fit``
        calls (the number of samples with unit weights).

    converged_ : bool
        Whether the ELBO change fell within ``tol`` before ``max_iter``.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : Variational Gaussian mixture; with
        ``n_components=1`` and ``covariance_type="diag"`` the closest peer, but
        its bound drops constants and it takes no sample weights.
    scipy.stats.bayes_mvs : Frequentist-flavoured intervals for mean and spread.

    Notes
    -----
    Which attributes exist depends on ``covariance_type``:
    ``posterior_shape_`` and ``posterior_rate_`` (the Gamma factors) for
    ``"diag"`` only; ``posterior_covariance_``, ``posterior_dof_``,
    ``posterior_scale_``, ``noise_covariance_``, ``prior_dof_`` and
    ``prior_scale_`` for ``"full"`` only; the others for both.

    With ``covariance_type="full"`` (Bishop, PRML §10.2.1 and §2.3.6), the
    prior on ``mu`` has the diagonal covariance ``diag(prior_std**2)``, and
    the Wishart prior ``Wishart(nu0, W0)`` with ``nu0 = 2 prior_shape + d - 1``
    and ``W0 = diag(1 / (2 prior_rate))`` gives each feature's noise variance
    ``(Lambda^-1)_jj`` the marginal prior ``InvGamma(prior_shape,
    prior_rate)``, that of ``1 / tau_j`` in the diagonal model; with one
    feature the two models are the same. CAVI updates::

        S_mu^-1 = diag(prior_std**-2) + W E[Lambda]
        m       = S_mu (diag(prior_std**-2) prior_mean + W E[Lambda] xbar)
        nu      = nu0 + W
        W^-1    = W0^-1 + S + W (xbar - m)(xbar - m)^T + W S_mu

    with ``S`` the weighted scatter matrix; the ELBO keeps every constant.
    After one plain sweep, each sweep iterates these updates until
    ``E[Lambda]`` stops changing (at most 1000 times), so the parameters are
    CAVI's fixed point to rounding whatever ``tol``. dask input is read as
    for ``"diag"``: each row chunk reduced to its statistics on its worker,
    merged exactly on the client.

    All fitted arrays are float64, whatever the dtype of X; statistics are
    accumulated in float64 with a numerically stable, blockwise pass.

    ``sample_weight`` are frequency weights: an integer weight ``k`` is the
    same as repeating the row ``k`` times; 0 drops the row.

    scipy.sparse input is refused (convert it with ``.toarray()``): every entry
    is an observation in this model, so implicit zeros would be data.

    CAVI's sweeps map ``E[tau]`` to a new value by an increasing function,
    so plain CAVI creeps, monotonically and sometimes slowly, to a fixed point
    of that map. After one plain sweep, each sweep solves for that fixed point
    (Steffensen's method on ``log E[tau]``, kept inside a bracket) and updates
    q from it; where that would not raise a feature's ELBO, the plain sweep is
    kept. The result is the point plain CAVI converges to, to rounding.

    The default priors (each parameter None) are the *unit-information
    prior* (Kass and Wasserman, 1995), a prior worth one observation,
    resolved from the data: ``mu ~ Normal(xbar, v)`` and ``tau ~ Gamma(1/2,
    rate=v/2)``, so that ``E[tau] = 1/v``, where ``xbar`` and ``v = S/W`` are
    the weighted sample mean and variance of the feature (a constant feature
    uses ``v = xbar**2``, or 1 when ``xbar = 0``). Each parameter given as a
    number replaces the data's choice for that parameter only. The rule needs
    no second pass over the data, and ``partial_fit`` and dask input resolve
    it from all the data seen so far, so it still equals ``fit`` on the
    concatenation. The resolved values are in the ``prior_*_`` attributes.
    ``skvi fit`` uses the same priors, and scikit-learn's
    ``BayesianGaussianMixture`` resolves ``mean_prior=None`` the same way, for
    the same reason: a fixed default such as ``Normal(0, 1)`` is a strong
    claim about data in other units (for data around 1e6 it gives a posterior
    mean near 0 and a noise sd near 1e6). Since such a prior depends on the
    data, it changes from one cross-validation fold to the next; to compare
    priors with :class:`~sklearn.model_selection.GridSearchCV`, give numbers
    (``None`` is a valid grid value too).

    With ``covariance_type="full"`` the same rule resolves the same four
    parameters per feature, from the diagonal of the scatter matrix: the
    Wishart prior is then ``Wishart(d, diag(1 / v))``, so that each feature's
    noise variance ``(Lambda^-1)_jj`` has the marginal prior ``InvGamma(1/2,
    v/2)``, as ``1 / tau_j`` has in the diagonal model. The prior's scale
    matrix stays diagonal: the data's correlations reach the posterior
    through the scatter matrix, and putting them in the prior as well would
    count them twice.

    When a prior given explicitly conflicts with the data so much that it,
    not the data, decides a posterior mean (``|posterior_mean_ -
    sample_mean_| > 2 posterior_std_`` for some feature), the fit warns with
    :class:`~skvi.exceptions.PriorDataConflictWarning`, which documents the
    rule. The data-resolved priors never trigger it.

    ``score_samples`` gives each sample's share of the ELBO, so that
    ``score(X_train) * n_train == elbo_`` for unit weights; higher is better,
    and model selection with :class:`~sklearn.model_selection.GridSearchCV`
    over the priors needs no scorer (see :class:`skvi._core.base.VariationalEstimator`
    for the one meaning of ``score_samples`` in every skvi estimator).

    ``fit`` and ``partial_fit`` on one estimator may be called from several
    threads: the calls are serialised, and every chunk is merged.

    References
    ----------
    .. [1] C. M. Bishop, "Pattern Recognition and Machine Learning", Springer,
       2006, §10.1.3 (variational inference for a univariate Gaussian).
    .. [2] D. M. Blei, A. Kucukelbir and J. D. McAuliffe, "Variational
       inference: a review for statisticians", JASA 112(518), 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi import VariationalNormalEstimator
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(0.3, 1.0, size=(100, 1))
    >>> est = VariationalNormalEstimator().fit(X)
    >>> est.posterior_mean_.round(2), est.posterior_std_.round(2)
    (array([0.38]), array([0.1]))
    >>> est.prior_mean_.round(2), est.prior_std_.round(2)  # from the data
    (array([0.38]), array([0.96]))
    >>> lower, upper = est.credible_interval(0.95)
    >>> bool(lower[0] < 0.3 < upper[0])
    True

    Correlated features, with a full noise covariance:

    >>> C = [[1.0, 0.8], [0.8, 1.0]]
    >>> X = rng.multivariate_normal([0.0, 1.0], C, size=500)
    >>> est = VariationalNormalEstimator(covariance_type="full").fit(X)
    >>> est.noise_covariance_.round(1)
    array([[1. , 0.8],
           [0.8, 1. ]])
    """

    _parameter_constraints = {
        **PRIOR_CONSTRAINTS,
        "max_iter": [POSITIVE_INT],
        "tol": [NON_NEGATIVE_REAL],
        "verbose": ["verbose"],
        "covariance_type": [StrOptions({"diag", "full"})],
    }

    def __init__(
        self,
        prior_mean=None,
        prior_std=None,
        prior_shape=None,
        prior_rate=None,
        max_iter=100,
        tol=1e-8,
        verbose=0,
        covariance_type="diag",
    ):
        self.prior_mean = prior_mean
        self.prior_std = prior_std
        self.prior_shape = prior_shape
        self.prior_rate = prior_rate
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.covariance_type = covariance_type

    def partial_fit(self, X, y=None, sample_weight=None):
        """Add a chunk of data and refit on everything seen so far.

        The chunk's sufficient statistics are merged into the running ones
        with the parallel formulas of Chan et al. (1979), then CAVI is run on
        the merged statistics from the prior. After any sequence of chunks the
        estimator equals ``fit`` on their concatenation, to rounding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of data, with the same features as earlier chunks.

        y : None
            Ignored; present for API consistency.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights for this chunk.

        Returns
        -------
        self : VariationalNormalEstimator
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from skvi import VariationalNormalEstimator
        >>> X = np.random.default_rng(0).normal(size=(1000, 2))
        >>> streamed = VariationalNormalEstimator()
        >>> for chunk in np.array_split(X, 10):
        ...     streamed = streamed.partial_fit(chunk)
        >>> whole = VariationalNormalEstimator().fit(X)
        >>> bool(np.allclose(streamed.posterior_mean_, whole.posterior_mean_))
        True
        """
        with self._exclusive():
            first_call = not hasattr(self, "n_samples_seen_")
            data = self._fit_data(X, sample_weight, reset=first_call)
            self._run_cavi(data)
        return self

    def _fit_data(self, X, sample_weight, *, reset):
        """Validate X, sample_weight and the priors, read X once, resolve the priors.

        The priors given as numbers are checked against X's number of
        features before the pass over the data, so that a bad prior fails
        fast; those given as None are resolved from the statistics after it.
        On a ``partial_fit`` after the first, the chunk's statistics are
        merged into the running ones first.

        Returns
        -------
        data : dict
            ``weight`` (W), ``reference`` and ``offset`` (the weighted mean is
            their sum, kept apart for exact merges), ``data_mean`` (xbar),
            ``sum_of_squares`` (S), ``priors`` (the four resolved priors by
            name) and ``prior`` (them as the tuple ``(m0, s0, a0, b0)``).
        """
        if not reset and hasattr(self, "posterior_covariance_") != (
            self.covariance_type == "full"
        ):
            raise ValueError(
                "partial_fit cannot change covariance_type: the statistics seen so "
                f"far are not those of covariance_type={self.covariance_type!r}. "
                "Call fit to start again with the new covariance_type."
            )
        if self.covariance_type == "full":
            return self._full_fit_data(X, sample_weight, reset=reset)
        merging = not reset
        priors, moments = self._validated_moments(
            X,
            sample_weight,
            reset=reset,
            allow_all_zero=merging,
            reference=self._reference if merging else None,
        )
        if merging:
            moments = merge_moments_about(
                [self.n_samples_seen_, moments[0]],
                [self._reference, moments[1]],
                [self._offset, moments[2]],
                [self._sum_of_squares, moments[3]],
            )
        weight, reference, offset, sum_of_squares = moments
        data_mean = reference + offset
        if any(value is None for value in priors.values()):
            from_data = _unit_information_priors(weight, data_mean, sum_of_squares)
            priors = {
                name: from_data[name] if value is None else value
                for name, value in priors.items()
            }
        if self.verbose:
            print(f"CAVI on {data_mean.shape[0]} feature(s), total weight {weight:g}")
        return {
            "weight": weight,
            "reference": reference,
            "offset": offset,
            "data_mean": data_mean,
            "sum_of_squares": sum_of_squares,
            "priors": priors,
            "prior": tuple(priors[name] for name in _PRIOR_NAMES),
        }

    def _full_fit_data(self, X, sample_weight, *, reset):
        """:meth:`_fit_data` for ``covariance_type="full"``: the full scatter.

        On a ``partial_fit`` after the first, the chunk's statistics are
        merged exactly into the running ones (``SufficientStatistics.merge``).
        """
        merging = not reset
        name = type(self).__name__
        space = array_space(X)
        self._fit_space = space
        X, sample_weight = check_data(
            self,
            X,
            sample_weight,
            reset=reset,
            allow_all_zero=merging,
            ensure_all_finite=False,
        )
        priors = given_priors(self)
        reference = self._statistics["reference"] if merging else None
        with np.errstate(over="ignore", invalid="ignore"):
            if space is not None:
                # Another library's array (array API dispatch): the pass
                # over its rows runs where it lives (skvi._core.array_api).
                statistics = array_api.statistics(
                    X,
                    _device_weight(sample_weight, X, space),
                    space,
                    scatter="full",
                    reference=reference,
                    estimator_name=name,
                )
            elif is_dask_collection(X):
                from .._core.dask_passes import dask_reduce

                # Each row chunk reduced on its worker to (W, xbar, S), merged
                # here exactly (Chan); NaN and inf are read off the sums.
                statistics = SufficientStatistics.merge_all(
                    dask_reduce(
                        X,
                        sample_weight,
                        partial(
                            full_covariance.chunk_statistics,
                            reference=reference,
                            estimator_name=name,
                        ),
                        allow_all_zero=merging,
                        ensure_all_finite=False,
                        estimator_name=name,
                    )
                )
            else:
                statistics = sufficient_statistics(
                    X,
                    sample_weight,
                    scatter="full",
                    reference=reference,
                    estimator_name=name,
                )
            if merging:
                check_weight_sum(self.n_samples_seen_ + statistics.weight[0])
                statistics = SufficientStatistics(**self._statistics).merge(statistics)
        weight = float(statistics.weight[0])
        data_mean, scatter = statistics.mean[0], statistics.scatter[0]
        if not (np.all(np.isfinite(data_mean)) and np.all(np.isfinite(scatter))):
            raise ValueError(
                "The mean or spread of X overflows float64 (values beyond about "
                "1e150). Rescale X, and the priors with it, before fitting."
            )
        resolved = priors["prior_std"] is None
        if any(value is None for value in priors.values()):
            from_data = _unit_information_priors(weight, data_mean, np.diag(scatter))
            priors = {
                name: from_data[name] if value is None else value
                for name, value in priors.items()
            }
        if resolved and np.any(
            priors["prior_std"] < full_covariance.SMALLEST_PRIOR_STD
        ):
            # The data-resolved prior_std is the data's own spread.
            raise ValueError(
                "The spread of X is below what covariance_type='full' can represent "
                f"in float64 (a standard deviation under "
                f"{full_covariance.SMALLEST_PRIOR_STD:.3g}, whose square underflows). "
                "Rescale X, or use covariance_type='diag', which takes any scale."
            )
        full_covariance.check_prior_std(priors["prior_std"])
        prior_dof, prior_scale = full_covariance.wishart_prior(
            priors["prior_shape"], priors["prior_rate"]
        )
        full_covariance.check_prior_scale(prior_scale)
        prior = tuple(priors[name] for name in _PRIOR_NAMES) + (prior_dof, prior_scale)
        # CAVI runs in units of a power of two per feature (full_covariance).
        unit = full_covariance.feature_units(weight, data_mean, scatter, prior)
        if self.verbose:
            print(f"CAVI on {data_mean.shape[0]} feature(s), total weight {weight:g}")
        return {
            "covariance_type": "full",
            "statistics": statistics,
            "weight": weight,
            "data_mean": data_mean,
            "scatter": scatter,
            "priors": priors,
            "prior": prior,
            "unit": unit,
            "scaled": full_covariance.scaled_problem(unit, data_mean, scatter, prior),
        }

    def _validated_moments(self, X, sample_weight, *, reset, allow_all_zero, reference):
        """Validate X, sample_weight and the priors; then read X once.

        Returns
        -------
        priors : dict
            The four priors, each an ndarray of shape (n_features,), or None
            where it is to be resolved from the data.
        moments : tuple
            ``(W, reference, offset, S)``, the mean being ``reference + offset``;
            see :func:`skvi._core.stats.weighted_moments_about`.
        """
        name = type(self).__name__
        space = array_space(X)
        self._fit_space = space
        # Finiteness is read off the accumulated sums (see _stats), which
        # saves a pass over X; an exact check runs only when they are not
        # finite.
        X, sample_weight = check_data(
            self,
            X,
            sample_weight,
            reset=reset,
            allow_all_zero=allow_all_zero,
            ensure_all_finite=False,
        )
        priors = given_priors(self)
        # Squares beyond float64 are handled in _stats and checked below;
        # numpy's overflow warnings on the way would only be noise.
        with np.errstate(over="ignore", invalid="ignore"):
            if space is not None:
                moments = array_api.moments_about(
                    X,
                    _device_weight(sample_weight, X, space),
                    space,
                    reference=reference,
                    estimator_name=name,
                )
            elif is_dask_collection(X):
                from .._core.dask_passes import dask_moments_about

                moments = dask_moments_about(
                    X,
                    sample_weight,
                    reference=reference,
                    allow_all_zero=allow_all_zero,
                    estimator_name=name,
                )
            else:
                moments = weighted_moments_about(
                    X, sample_weight, reference=reference, estimator_name=name
                )
            if reference is not None:
                # A later partial_fit chunk: the running total must stay finite.
                check_weight_sum(self.n_samples_seen_ + moments[0])
        if not all(np.all(np.isfinite(moment)) for moment in moments[1:]):
            raise ValueError(
                "The mean or spread of X overflows float64 (values beyond about "
                "1e300). Rescale X, and the priors with it, before fitting."
                + (
                    ""
                    if sample_weight is None
                    else " With sample_weight, the weighted spread "
                    "sum_i w_i (x_i - mean)**2 must also stay below about 1e308: "
                    "rescale X, or divide the weights by a common factor."
                )
            )
        return priors, moments

    # The hooks of skvi._core.base.VariationalEstimator's CAVI loop.

    def _initial_state(self, data, random_state):
        """q(tau) at its prior: ``E[tau] = a0 / b0``; q(mu) is updated first."""
        if data.get("covariance_type") == "full":
            prior_dof, prior_scale = data["scaled"][2][4:]
            # Out of range only where the fit is; its error comes from the sweep.
            with np.errstate(over="ignore", invalid="ignore"):
                return {"precision_mean": prior_dof * prior_scale}
        _, _, prior_shape, prior_rate = data["prior"]
        # A prior rate below float64's range (data on a scale below 1e-154)
        # is reported once, by _check_representable, not by numpy.
        with np.errstate(over="ignore", divide="ignore"):
            return {"precision_mean": gamma_expectations(prior_shape, prior_rate)[0]}

    def _sweep(self, data, state):
        """A CAVI sweep: q(mu), then q(tau); from the second on, to the fixed point.

        The first sweep from the prior is plain CAVI, so that ``elbo_history_``
        shows the climb; each later one solves for CAVI's fixed point in
        ``E[tau]`` (see the comment above :func:`_precision_fixed_point`) and
        updates q from it, so the parameters are exact to rounding within a
        few sweeps whatever ``tol``.
        """
        if data.get("covariance_type") == "full":
            # In the units of data["unit"]; overflow there is reported once,
            # as the clear error of _normal_full, not by numpy.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return full_covariance.sweep(data["weight"], *data["scaled"], state)
        weight, data_mean = data["weight"], data["data_mean"]
        sum_of_squares, prior = data["sum_of_squares"], data["prior"]
        # Overflow is reported once, by _check_representable, not by numpy.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            plain = _cavi_update(
                weight, data_mean, sum_of_squares, prior, state["precision_mean"]
            )
            if "mean" not in state:
                return plain
            solution = _precision_fixed_point(
                weight, data_mean, sum_of_squares, prior, state["precision_mean"]
            )
            solved = _cavi_update(
                weight,
                data_mean,
                sum_of_squares,
                prior,
                np.where(np.isnan(solution), state["precision_mean"], solution),
            )
            # The ELBO is flat at the fixed point: a solution whose ELBO is
            # below the plain sweep's by rounding only is the better state.
            plain_elbo = _feature_elbo(weight, plain, prior)
            better = np.isfinite(solution) & (
                _feature_elbo(weight, solved, prior)
                >= plain_elbo - 1e-13 * np.maximum(np.abs(plain_elbo), 1.0)
            )
        return {name: np.where(better, solved[name], plain[name]) for name in plain}

    def _elbo(self, data, state):
        """``E_q[log p(X | mu, tau)] - KL(q || prior)``, summed over features."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if data.get("covariance_type") == "full":
                # The scaled problem's ELBO, less W sum_j log c_j: the data's.
                elbo = full_covariance.optimal_precision_elbo(
                    data["weight"], state, data["scaled"][2]
                ) - data["weight"] * float(np.sum(np.log(data["unit"])))
            else:
                elbo = float(
                    np.sum(_feature_elbo(data["weight"], state, data["prior"]))
                )
        # Kept for _set_fitted's check of the final state.
        state["elbo"] = elbo
        return elbo

    def _convergence_threshold(self, data):
        """``tol`` bounds the ELBO's change per unit of weight: ``tol * max(W, 1)``."""
        return self.tol * max(data["weight"], 1.0)

    def _total_weight(self, data):
        return data["weight"]

    def _set_fitted(self, data, state):
        """Set the fitted attributes from the final state."""
        if data.get("covariance_type") == "full":
            self._set_fitted_full(data, state)
            return
        _check_representable(state)
        for name in _FULL_ONLY:
            self.__dict__.pop(name, None)
        self.n_samples_seen_ = data["weight"]
        self.sample_mean_ = data["data_mean"]
        # The statistics, kept for partial_fit: the mean as reference + offset
        # keeps every digit of the spread when later chunks are merged.
        self._reference = data["reference"]
        self._offset = data["offset"]
        self._sum_of_squares = data["sum_of_squares"]
        for name, value in data["priors"].items():
            setattr(self, f"{name}_", np.asarray(value, dtype=np.float64))
        self.posterior_mean_ = state["mean"]
        self.posterior_std_ = state["std"]
        self.posterior_shape_ = state["shape"]
        self.posterior_rate_ = state["rate"]
        self.noise_std_ = 1.0 / np.sqrt(state["precision_mean"])

    def _set_fitted_full(self, data, state):
        """:meth:`_set_fitted` for ``covariance_type="full"``."""
        full_covariance.check_representable(state)
        state = full_covariance.unscaled_state(data["unit"], state)
        for name in _DIAG_ONLY:
            self.__dict__.pop(name, None)
        self.n_samples_seen_ = data["weight"]
        self.sample_mean_ = data["data_mean"]
        # Its arrays in a dict, not the SufficientStatistics object: joblib
        # memory-maps them, and skops loads them trusting only this class.
        self._statistics = dataclasses.asdict(data["statistics"])
        for name, value in data["priors"].items():
            setattr(self, f"{name}_", np.asarray(value, dtype=np.float64))
        self.prior_dof_, self.prior_scale_ = data["prior"][4:]
        self.posterior_mean_ = state["mean"]
        self.posterior_covariance_ = state["covariance"]
        self.posterior_std_ = np.sqrt(np.diag(state["covariance"]))
        self.posterior_dof_ = float(state["dof"])
        self.posterior_scale_ = state["scale"]
        self.noise_covariance_ = state["noise_covariance"]
        self.noise_std_ = np.sqrt(np.diag(self.noise_covariance_))

    def _run_cavi(self, data):
        """The shared CAVI loop, then the check of a given prior against the data."""
        super()._run_cavi(data)
        self._warn_prior_conflict()

    def _warn_prior_conflict(self):
        """Warn when a given prior on mu decides a posterior mean (see the rule)."""
        conflicts = prior_data_conflicts(
            self.sample_mean_, self.posterior_mean_, self.posterior_std_
        )
        if not conflicts.any():
            return
        names = getattr(self, "feature_names_in_", None)
        named = [
            str(names[j]) if names is not None else str(j)
            for j in np.flatnonzero(conflicts)
        ]
        shown = ", ".join(named[:5]) + (", ..." if len(named) > 5 else "")
        warnings.warn(
            f"The prior on mu, not the data, decides the posterior mean of "
            f"{len(named)} of {self.n_features_in_} feature(s) ({shown}): it is "
            f"more than {_CONFLICT_SDS:g} posterior sds from the data mean. If "
            "that prior is not what you know, widen prior_std, or leave "
            "prior_mean and prior_std at None (the default) to resolve them "
            "from the data.",
            PriorDataConflictWarning,
            stacklevel=4,
        )

    def score_samples(self, X):
        """Each sample's share of the ELBO.

        ``sum_j E_q[log Normal(x_ij | mu_j, 1/tau_j)] - KL(q || prior) / W``,
        where ``W`` is the total training weight, so that the scores of the
        training samples (unit weights) sum to ``elbo_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the features seen in fit. A dask array or DataFrame is
            scored chunk by chunk on the workers (it is never gathered).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher is better. For dask X, a lazy dask array with X's row
            chunks.
        """
        return self._map_rows(
            X, self._sample_scorer(), device_function=self._device_scorer()
        )

    def _device_scorer(self):
        """``(rows, space) -> score_samples(rows)`` for X on a device (array API).

        ``constant - 1/2 (x - m)^T E[Lambda] (x - m)``: the row-independent
        terms of :func:`expected_log_normal` (or the full model's
        ``expected_log_likelihood``) at ``x = m``, less ``KL / W``, are
        computed once on the host, from the same formulas as the numpy path.
        """
        scorer = self._sample_scorer()
        k = scorer.keywords
        if "covariance" in k:
            precision = wishart_expected_precision(k["dof"], k["scale"])
            log_det = float(wishart_expected_log_det(k["dof"], k["scale"]))
            constant = (
                full_covariance.expected_log_likelihood(
                    0.0, 1.0, k["covariance"], precision, log_det
                )
                - k["kl"] / k["weight"]
            )
        else:
            precision = k["precision_mean"]
            constant = (
                np.sum(
                    expected_log_normal(
                        0.0, 1.0, k["variance"], precision, k["log_precision_mean"]
                    )
                )
                - k["kl_per_sample"]
            )
        return partial(
            array_api.normal_scores,
            mean=k["mean"],
            precision=precision,
            constant=float(constant),
        )

    def _sample_scorer(self):
        """``rows -> score_samples(rows)``, the fitted posterior bound."""
        check_is_fitted(self)
        # The numpy originals of arrays fitted on another library's data.
        self = self._on_host()
        if hasattr(self, "posterior_covariance_"):
            kl = full_covariance.kl_to_prior(
                self.posterior_mean_,
                self.posterior_covariance_,
                self.posterior_dof_,
                self.posterior_scale_,
                (self.prior_mean_, self.prior_std_, None, None)
                + (self.prior_dof_, self.prior_scale_),
            )
            return partial(
                full_covariance.sample_scores,
                mean=self.posterior_mean_,
                covariance=self.posterior_covariance_,
                dof=self.posterior_dof_,
                scale=self.posterior_scale_,
                kl=kl,
                weight=self.n_samples_seen_,
            )
        precision_mean, log_precision_mean = gamma_expectations(
            self.posterior_shape_, self.posterior_rate_
        )
        kl = _kl_to_prior(
            self.posterior_mean_,
            self.posterior_std_,
            self.posterior_shape_,
            self.posterior_rate_,
            tuple(getattr(self, f"{name}_") for name in _PRIOR_NAMES),
        ).sum()
        return partial(
            _sample_scores,
            mean=self.posterior_mean_,
            variance=self.posterior_std_**2,
            precision_mean=precision_mean,
            log_precision_mean=log_precision_mean,
            kl_per_sample=kl / self.n_samples_seen_,
        )

    def sample_posterior(self, n_samples=1, random_state=None):
        """Draw the parameters ``mu`` and ``tau`` from the variational posterior.

        Parameters
        ----------
        n_samples : int, default=1
            Number of draws.

        random_state : int, RandomState instance or None, default=None
            Seed or generator for reproducible draws.

        Returns
        -------
        mu : ndarray of shape (n_samples, n_features)
            Draws of each feature's mean from q(mu).

        tau : ndarray of shape (n_samples, n_features)
            Draws of each feature's precision from q(tau). With
            ``covariance_type="full"``, draws of the precision matrix from
            q(Lambda), of shape (n_samples, n_features, n_features).

        Examples
        --------
        >>> import numpy as np
        >>> from skvi import VariationalNormalEstimator
        >>> X = np.random.default_rng(0).normal(size=(50, 3))
        >>> est = VariationalNormalEstimator().fit(X)
        >>> mu, tau = est.sample_posterior(1000, random_state=0)
        >>> mu.shape, tau.shape
        ((1000, 3), (1000, 3))
        >>> noise_draws = 1 / np.sqrt(tau)  # draws of each feature's noise sd
        """
        check_is_fitted(self)
        _check_n_draws(n_samples)
        rng = check_random_state(random_state)
        if hasattr(self, "posterior_covariance_"):
            return full_covariance.draw(
                self.posterior_mean_,
                self.posterior_covariance_,
                self.posterior_dof_,
                self.posterior_scale_,
                n_samples,
                rng,
            )
        return _draw_mean_field(
            self.posterior_mean_,
            self.posterior_std_,
            self.posterior_shape_,
            self.posterior_rate_,
            n_samples,
            rng,
        )

    def credible_interval(self, level=0.95, method="exact"):
        """Central credible interval of each feature's mean ``mu``.

        Parameters
        ----------
        level : float, default=0.95
            Posterior probability inside the interval, strictly between 0 and 1.

        method : {"exact", "variational"}, default="exact"
            ``"exact"``: the central interval of the exact marginal posterior
            ``p(mu_j | X)`` under the estimator's priors, whose tails each hold
            ``(1 - level) / 2``, computed from the fitted statistics (no pass
            over the data). ``"variational"``: the central interval of q(mu),
            ``posterior_mean_ +- z posterior_std_`` with ``z`` the standard
            Normal quantile.

        Returns
        -------
        lower, upper : ndarray of shape (n_features,)
            Bounds of the interval.

        Notes
        -----
        Why the default is the exact interval: a user who asks for 95% should
        get an interval that holds 95% of the posterior. q(mu)'s does not:
        mean-field ``q(mu) q(tau)`` ignores how uncertainty about the noise
        widens the uncertainty about the mean, so ``posterior_std_`` is, with
        the default priors, about 0.90 of the exact posterior sd with 2
        samples, 0.92 with 10, 0.97 with 30 and 0.99 with 100 (the mean over
        400 features of Normal(0.3, 1) data; 0.85-0.88 with 2 samples under
        the prior Normal(0, 1), Gamma(1, 1); see
        :func:`skvi.diagnostics.exact_posterior`), and no linear-response
        correction of q fixes it for this model. Over
        2,000 samples of 8 values under weak priors, the exact 95% intervals
        cover the true mean 95% of the time and q's about 91%. Under weak
        priors q's 95% interval is narrower by 13-17% at 8 samples, 4% at 30,
        1.2% at 100 and 0.4% at 300; the two differ most with few samples, or
        where the data conflict with the prior on ``mu`` (the exact posterior
        can then have two modes, and its interval spans both).

        How it is computed (the maths is in ``skvi/_exact.py``). For
        ``covariance_type="diag"``, ``tau`` integrates out analytically and
        ``p(mu_j | X)`` is the Normal prior times a Student-t-like factor:
        Gauss-Legendre quadrature on panels about its modes and a safeguarded
        Newton solve for each bound, vectorised over features, about 0.1 ms
        per feature over many features, a few milliseconds for one. For
        ``"full"`` the prior on ``mu`` is independent of the Wishart prior on
        ``Lambda`` (not the conjugate Normal-Wishart prior, under which each
        coordinate would have a Student-t marginal); with ``Lambda``
        integrated out, ``p(mu | X)`` is the Normal prior times a
        multivariate-t factor, a scale mixture of Normals, so each
        coordinate's marginal is a one-dimensional mixture of Normals,
        integrated the same way: one eigendecomposition, then a few
        milliseconds. Both agree with independent quadratures (through
        ``tau``; on a 2-D grid) to about 1e-15 of the interval's width, from
        2 to 1e7 samples and under prior-data conflict. The tails are formed
        directly, ``P(mu < lower) = P(mu > upper) = (1 - level) / 2``, so that
        levels within rounding of 1 give finite bounds.

        Examples
        --------
        >>> import numpy as np
        >>> from skvi import VariationalNormalEstimator
        >>> X = np.random.default_rng(0).normal(10.0, 2.0, size=(8, 1))
        >>> est = VariationalNormalEstimator(
        ...     prior_mean=0.0, prior_std=100.0, prior_shape=1.0, prior_rate=1.0
        ... ).fit(X)
        >>> lower, upper = est.credible_interval(0.95)
        >>> q_lower, q_upper = est.credible_interval(0.95, method="variational")
        >>> bool(upper[0] - lower[0] > q_upper[0] - q_lower[0])  # q is too narrow
        True
        """
        check_is_fitted(self)
        level = check_probability(level)
        if method not in _INTERVAL_METHODS:
            raise ValueError(
                f"method must be 'exact' or 'variational'; got {method!r}."
            )
        if method == "variational":
            return _variational_interval(
                self.posterior_mean_, self.posterior_std_, level
            )
        prior = tuple(
            np.asarray(getattr(self, f"{name}_"), dtype=np.float64)
            for name in _PRIOR_NAMES
        )
        if hasattr(self, "posterior_covariance_"):
            statistics = SufficientStatistics(**self._statistics)
            return full_exact_interval(
                np.float64(self.n_samples_seen_),
                statistics.mean[0],
                statistics.scatter[0],
                prior,
                self.prior_dof_,
                level,
            )
        return exact_interval(
            np.float64(self.n_samples_seen_),
            np.asarray(self.sample_mean_, dtype=np.float64),
            np.asarray(self._sum_of_squares, dtype=np.float64),
            prior,
            level,
        )

    def linear_response_std(self):
        """Posterior sds of ``mu`` and ``tau`` corrected by linear response.

        ``posterior_std_`` is mean-field's sd, too small where the data
        conflict with the prior; this is the correction of Giordano, Broderick
        and Jordan (2015), in closed form at the CAVI fixed point. See
        :func:`skvi.diagnostics.linear_response_std` for the equations, its
        accuracy and its limit (no correction where the data mean equals
        q's mean), and :func:`skvi.diagnostics.exact_posterior` for the exact
        answer. ``covariance_type="diag"`` only.

        Returns
        -------
        std, tau_std : ndarray of shape (n_features,)
            Corrected sds of each feature's mean ``mu`` and precision ``tau``
            (a named tuple, ``LinearResponseStd``).
        """
        self._check_diag("linear_response_std")
        return self._linear_response()

    def _check_diag(self, function_name):
        """Refuse a ``covariance_type="full"`` fit, for the diagonal model's tools."""
        check_is_fitted(self)
        if hasattr(self, "posterior_covariance_"):
            raise ValueError(
                f"{function_name} supports covariance_type='diag' fits only (it "
                "works on each feature's q(mu) q(tau)); this estimator was fitted "
                "with covariance_type='full'. Refit with covariance_type='diag'."
            )

    # The protocol of skvi.diagnostics (skvi/diagnostics/_protocol.py): what
    # its algorithms ask of this model, answered here where its maths lives.

    def _check_diagnostic(self, function_name):
        """Protocol: refuse a ``covariance_type="full"`` fit (no q(tau))."""
        self._check_diag(function_name)

    def _normal_gamma_statistics(self):
        """Protocol: ``(W, xbar, S, (m0, s0, a0, b0))`` of the fitted data."""
        return (
            self.n_samples_seen_,
            self.sample_mean_,
            self._sum_of_squares,
            tuple(getattr(self, f"{name}_") for name in _PRIOR_NAMES),
        )

    def _feature_elbos(self):
        """Protocol: the fitted ELBO of each feature, summing to ``elbo_``.

        The same pieces as :meth:`_elbo`, not summed, from the fitted
        statistics and q.
        """
        weight = np.float64(self.n_samples_seen_)
        data_mean = np.asarray(self.sample_mean_, dtype=np.float64)
        sum_of_squares = np.asarray(self._sum_of_squares, dtype=np.float64)
        prior = tuple(
            np.broadcast_to(getattr(self, f"{name}_"), data_mean.shape).astype(
                np.float64
            )
            for name in _PRIOR_NAMES
        )
        mean, std = self.posterior_mean_, self.posterior_std_
        shape, rate = self.posterior_shape_, self.posterior_rate_
        precision_mean, log_precision_mean = gamma_expectations(shape, rate)
        state = {
            "mean": mean,
            "std": std,
            "shape": shape,
            "rate": rate,
            "squared_deviation": sum_of_squares + weight * (data_mean - mean) ** 2,
            "precision_mean": precision_mean,
            "log_precision_mean": log_precision_mean,
        }
        return _feature_elbo(weight, state, prior)

    def _linear_response(self):
        """Protocol: the linear-response sds of ``mu`` and ``tau`` (the comment
        above :func:`_linear_response_std`)."""
        return _linear_response_std(
            self.n_samples_seen_,
            self.sample_mean_,
            self.posterior_mean_,
            self.posterior_std_,
            self.posterior_shape_,
            self.posterior_rate_,
        )

    def _log_joint(self, X, sample_weight, draws):
        """Protocol: ``log p(mu, tau, X)`` at the draws, per feature.

        X enters only through ``(W, xbar, S)``: one pass over X, on the
        workers for a dask collection (each chunk reduced there, the
        statistics merged here, as fit does), which is never gathered.
        """
        estimator_name = type(self).__name__
        if is_dask_collection(X):
            from .._core.dask_passes import dask_moments_about

            moments = dask_moments_about(
                X, sample_weight, estimator_name=estimator_name
            )
        else:
            moments = weighted_moments_about(
                X, sample_weight, estimator_name=estimator_name
            )
        weight, reference, offset, sum_of_squares = moments
        prior = tuple(
            np.broadcast_to(getattr(self, f"{name}_"), self.sample_mean_.shape).astype(
                np.float64
            )
            for name in _PRIOR_NAMES
        )
        return _log_joint_from_statistics(
            draws["mu"], draws["tau"], weight, reference + offset, sum_of_squares, prior
        )


# Log densities at draws of (mu, tau), for the protocol's _log_q and
# _log_joint (the Student-t model shares the priors and q's family).


def _log_joint_from_statistics(mu, tau, weight, data_mean, sum_of_squares, prior):
    """``log p(mu, tau, X)`` from X's statistics ``(W, xbar, S)``, per feature.

    ``log Normal(mu | m0, s0**2) + log Gamma(tau | a0, b0)
    + W/2 (log tau - log 2 pi) - tau/2 (S + W (xbar - mu)**2)``.
    """
    return (
        _log_mean_field(mu, tau, *prior)
        + 0.5 * weight * (np.log(tau) - LOG_2PI)
        - 0.5 * tau * (sum_of_squares + weight * (data_mean - mu) ** 2)
    )
