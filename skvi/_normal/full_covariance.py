"""CAVI for a multivariate Normal with unknown mean and full precision matrix."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy import linalg, special, stats

from .._core import engine
from .._core.expectations import (
    LOG_2PI,
    wishart_expected_log_det,
    wishart_expected_precision,
)
from .._core.kl import kl_multivariate_normal, kl_wishart
from .._core.stats import sufficient_statistics

# The model of VariationalNormalEstimator(covariance_type="full"), for rows
# x_i in R^d with weights w_i (Bishop, PRML §10.2.1 and §2.3.6, with a prior
# on mu that does not scale with Lambda, so that the exact posterior has no
# closed form; the "semi-conjugate" model):
#
#     mu     ~ Normal(m0, S0),     S0 = diag(s0**2)   (prior_mean, prior_std)
#     Lambda ~ Wishart(nu0, W0)                        (E[Lambda] = nu0 W0)
#     x_i | mu, Lambda ~ Normal(mu, Lambda^-1)
#
# The Wishart prior is derived from the diagonal model's Gamma(a0, b0)
# (prior_shape, prior_rate) so that each feature's noise variance has the
# same marginal prior in both models:
#
#     nu0 = 2 a0 + d - 1,      W0 = diag(1 / (2 b0)).
#
# For Lambda ~ Wishart(nu, W), (Lambda^-1)_jj ~ InvGamma((nu - d + 1)/2,
# (W^-1)_jj / 2), so here sigma_j**2 = (Lambda^-1)_jj ~ InvGamma(a0, b0),
# exactly as 1/tau_j in the diagonal model. In one dimension Wishart(nu, W)
# is Gamma(nu/2, rate 1/(2 W)) = Gamma(a0, b0): the full model with d = 1 is
# the diagonal model. (a0 must then be one number for all features.)
#
# Mean-field family q(mu) q(Lambda) = Normal(m, S_mu) Wishart(nu, W). The data
# enter through W_tot = sum_i w_i, xbar and the scatter
# S = sum_i w_i (x_i - xbar)(x_i - xbar)^T, because
#     sum_i w_i (x_i - mu)(x_i - mu)^T = S + W_tot (xbar - mu)(xbar - mu)^T.
#
# CAVI updates, log q*(z) = E_{-z}[log p(X, mu, Lambda)] + const (Bishop 10.9):
#
#   q(mu):     S_mu^-1 = S0^-1 + W_tot E[Lambda]
#              m       = S_mu (S0^-1 m0 + W_tot E[Lambda] xbar)
#   q(Lambda): nu      = nu0 + W_tot
#              W^-1    = W0^-1 + E_mu[sum_i w_i (x_i - mu)(x_i - mu)^T]
#                      = W0^-1 + S + W_tot (xbar - m)(xbar - m)^T + W_tot S_mu
#
# with E[Lambda] = nu W (B.80). q(mu) is computed in the units C = diag(c),
# c_j = min(s0_j, l_j), l_j = (W_tot E[Lambda])_jj**-1/2 (the narrower of the
# prior and the data's sd of the mean, feature by feature): with
# M = C S0^-1 C + C (W_tot E[Lambda]) C, whose diagonal lies in [1, 2] however
# vague (1e300) or tight the prior,
#     S_mu = C M^-1 C
#     m    = xbar - C M^-1 (C S0^-1 (xbar - m0))               (data dominate)
#          = m0 + C M^-1 (C W_tot E[Lambda] (xbar - m0))       (prior dominates)
# each feature's mean from the side that dominates it, moving away from it
# by a small share (as in the diagonal model's _update_mean). The prior
# covariance S0 = diag(s0**2) is never formed: its square overflows beyond
# s0 = 1e154. The KL of q(mu) from the prior is taken in the units
# g_j = sqrt(s0_j sd_j) (the geometric mean of the prior's and q's sds), where
# both covariances and their ratio are within float64's range (KL is
# invariant under such a change of units). A prior_std below 1.5e-154 is
# refused: q(mu)'s covariance, about s0**2, would underflow.
#
# ELBO (Bishop eq. 10.3; every constant kept):
#
#   L = E_q[log p(X | mu, Lambda)] - KL(q(mu) || p(mu)) - KL(q(Lambda) || p(Lambda))
#   E_q[log p(X | mu, Lambda)] = W_tot/2 (E[log|Lambda|] - d log 2 pi)
#        - 1/2 tr(E[Lambda] (S + W_tot (xbar - m)(xbar - m)^T + W_tot S_mu))
#
# with E[log|Lambda|] from B.81; evaluated, since q(Lambda) is always the
# optimum for the current q(mu), in the form of optimal_precision_elbo(), in which the
# trace terms cancel exactly and no near-singular matrix is factored (the
# terms computed as written cancel to 1e-9 relative far from the prior).
# Each sweep updates q(mu), then q(Lambda); each
# update maximises L over one factor, so L never decreases. q(Lambda) starts
# at the prior (E[Lambda] = nu0 W0), so the fit depends only on (W_tot, xbar, S)
# and the priors: partial_fit on merged statistics reproduces fit.


def wishart_prior(prior_shape, prior_rate):
    """``nu0 = 2 a0 + d - 1`` and ``W0 = diag(1 / (2 b0))`` (module comment)."""
    dimension = prior_rate.shape[0]
    shapes = np.unique(prior_shape)
    if shapes.size != 1:
        raise ValueError(
            "covariance_type='full' takes one prior_shape for all features (it "
            "sets the Wishart prior's degrees of freedom, 2 * prior_shape + "
            f"n_features - 1); got {prior_shape!r}. Pass a scalar prior_shape."
        )
    # A prior_rate below 1 / 2**1024 gives an infinite W0, refused by the
    # caller (check_prior_scale).
    with np.errstate(divide="ignore", over="ignore"):
        return 2.0 * shapes[0] + dimension - 1.0, np.diag(0.5 / prior_rate)


def check_prior_scale(prior_scale):
    """Refuse a Wishart prior whose scale ``W0`` is not finite, clearly."""
    if not np.all(np.isfinite(prior_scale)):
        raise ValueError(_BREAKDOWN)


# q(mu)'s covariance is about s0**2 where the prior dominates: below this
# prior_std it would leave float64's normal range.
SMALLEST_PRIOR_STD = float(np.sqrt(np.finfo(np.float64).tiny))


def check_prior_std(prior_std):
    """Refuse a prior_std whose square underflows (module comment), clearly."""
    if np.any(prior_std < SMALLEST_PRIOR_STD):
        raise ValueError(
            f"covariance_type='full' takes prior_std >= {SMALLEST_PRIOR_STD:.3g} "
            f"(got {np.min(prior_std):.3g}): q(mu)'s covariance, about "
            "prior_std**2 where the prior dominates, must be representable in "
            "float64. Use covariance_type='diag', which takes any positive "
            "prior_std, or rescale X by c and the priors with it (prior_mean "
            "and prior_std by c, prior_rate by c**2)."
        )


# The fit runs in units of a power of two per feature (Higham, Accuracy and
# Stability of Numerical Algorithms, §2.1: scaling by a power of two is exact
# unless it over- or underflows). With x' = x / c, c_j = 2^e_j, the model is
# the same with m0' = m0 / c, s0' = s0 / c, b0' = b0 / c**2 (W0' = C W0 C), and
# q's parameters map back as m = c m', S_mu = C S_mu' C, W = C^-1 W' C^-1;
# the KLs are unchanged and each row's density gains a factor 1 / prod_j c_j,
# so ELBO = ELBO' - W_tot sum_j log c_j. c_j = 2^e_j is the power of two at
# or above the data's sd along feature j (|xbar_j| for constant data, 1 for
# zeros), moved, where needed and possible, into the exponents that keep
# every scaled quantity in float64's range: the sd and the data's distance
# from prior_mean within 2^+-500 (their squares, times W_tot, enter W^-1),
# xbar and m0 below 2^1000, s0' below 2^1000 with s0'**2 above float64's
# smallest normal number (SMALLEST_PRIOR_STD), and b0' within 2^+-1000. The
# scaled problem, and so the fit, is thus the same for data in units of
# 1e-150 or 1e150 (exactly for units that are powers of two); only fitted
# attributes that cannot be represented in the original units (a covariance
# of 1e-400, say) are refused.
_MIN_EXPONENT, _MAX_EXPONENT = -1000, 1000


def _exponent(values):
    """``e`` with ``values = f 2^e``, ``1/2 <= |f| < 1``; NaN for 0, inf for inf."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    exponent = np.frexp(values)[1].astype(np.float64)
    exponent = np.where(values == 0.0, np.nan, exponent)
    return np.where(np.isinf(values), np.inf, exponent)


def feature_units(weight, data_mean, scatter, prior):
    """The powers of two ``c_j`` of the fit's units (comment above)."""
    prior_mean, prior_std, _, prior_rate = prior[:4]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        spread = np.sqrt(np.diag(scatter)) / np.sqrt(weight)
        distance = data_mean - prior_mean
    size = np.where(spread > 0.0, spread, np.abs(data_mean))
    size = np.where((size > 0.0) & np.isfinite(size), size, 1.0)
    exponent = _exponent(size)
    lowest = _exponent(SMALLEST_PRIOR_STD)
    bounds = [
        # (exponent of the quantity, how far below, how far above e it may lie)
        (_exponent(spread), 500, 500),
        (_exponent(distance), 500, np.inf),
        (_exponent(data_mean), 1000, np.inf),
        (_exponent(prior_mean), 1000, np.inf),
        (_exponent(prior_std), 1000, 1 - lowest),
        (0.5 * _exponent(prior_rate), 500, 500),
    ]
    low = np.full_like(exponent, -np.inf)
    high = np.full_like(exponent, np.inf)
    for value, below, above in bounds:
        known = np.isfinite(value)
        low = np.where(known, np.maximum(low, value - below), low)
        high = np.where(known, np.minimum(high, value + above), high)
    # Where the bounds conflict, the exponent midway between them.
    exponent = np.where(
        np.ceil(low) <= np.floor(high),
        np.clip(exponent, np.ceil(low), np.floor(high)),
        np.round(0.5 * (low + high)),
    )
    exponent = np.clip(exponent, _MIN_EXPONENT, _MAX_EXPONENT).astype(int)
    return np.ldexp(1.0, exponent)


def scaled_problem(unit, data_mean, scatter, prior):
    """``xbar / c``, ``S / (c c^T)`` and the priors in the units ``c``."""
    prior_mean, prior_std, prior_shape, prior_rate, prior_dof, prior_scale = prior
    # Out of range (inf, 0) only where the fit cannot be represented; its
    # error comes from the sweep, once.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        square = np.outer(unit, unit)
        return (
            data_mean / unit,
            scatter / square,
            (
                prior_mean / unit,
                prior_std / unit,
                prior_shape,
                prior_rate / unit**2,
                prior_dof,
                prior_scale * square,
            ),
        )


def unscaled_state(unit, state):
    """q's parameters in the data's units: ``m = c m'``, ``S_mu = C S_mu' C``, ``W``.

    ``W = C^-1 W' C^-1`` and ``E[Lambda]`` likewise; ``noise_covariance`` is
    ``E[Lambda]^-1`` (inverted in the fit's units, then ``C E[Lambda']^-1 C``).
    Raises the clear error when one of them leaves float64's range there.
    """
    square = np.outer(unit, unit)
    try:
        noise_covariance = _symmetric(np.linalg.inv(state["precision_mean"]))
    except np.linalg.LinAlgError:
        # E[Lambda] = nu W, singular in float64 where W^-1 is (cavi_update).
        raise ValueError(_BREAKDOWN) from None
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        unscaled = {
            "noise_covariance": noise_covariance * square,
            **state,
            "mean": unit * state["mean"],
            "covariance": state["covariance"] * square,
            "scale": state["scale"] / square,
            "precision_mean": state["precision_mean"] / square,
        }
    check_representable(unscaled)
    values = (unscaled["precision_mean"], unscaled["noise_covariance"])
    if not all(np.all(np.isfinite(value)) for value in values):
        raise ValueError(_BREAKDOWN)
    for name in ("covariance", "scale", "precision_mean", "noise_covariance"):
        diagonal = np.diag(unscaled[name])
        if not np.all((diagonal > 0.0) & np.isfinite(1.0 / diagonal)):
            raise ValueError(_BREAKDOWN)
    return unscaled


def _symmetric(matrix):
    return 0.5 * (matrix + matrix.T)


def chunk_statistics(rows, weights, *, reference, estimator_name):
    """The full-scatter ``sufficient_statistics`` of one dask chunk, on its worker."""
    with np.errstate(over="ignore", invalid="ignore"):
        return sufficient_statistics(
            rows,
            weights,
            scatter="full",
            reference=reference,
            estimator_name=estimator_name,
        )


def update_mean(weight, data_mean, precision_mean, prior_mean, prior_std):
    """q(mu): ``S_mu^-1 = S0^-1 + W E[L]``, ``m = S_mu (S0^-1 m0 + W E[L] xbar)``.

    Computed in the units ``C = diag(c)``, ``c = min(s0, l)`` with
    ``l = diag(W E[Lambda])**-1/2`` (module comment), so that neither a vague
    nor a tight prior overflows. Returns ``m`` and ``S_mu``.
    """
    dimension = data_mean.shape[0]
    data_precision = weight * precision_mean
    unit = np.minimum(prior_std, 1.0 / np.sqrt(np.diag(data_precision)))
    # M = (c/s0)**2 + C (W E[Lambda]) C: its diagonal lies in [1, 2].
    system = np.diag((unit / prior_std) ** 2) + unit[:, None] * data_precision * unit
    factor = linalg.cho_factor(system, lower=True)
    covariance = _symmetric(
        np.outer(unit, unit) * linalg.cho_solve(factor, np.eye(dimension))
    )
    shift = data_mean - prior_mean
    # Each feature's mean from the side that dominates it; the other side's
    # form may overflow, harmlessly.
    with np.errstate(over="ignore", invalid="ignore"):
        from_data = data_mean - unit * linalg.cho_solve(
            factor, (unit / prior_std) * (shift / prior_std)
        )
        from_prior = prior_mean + unit * linalg.cho_solve(
            factor, unit * (data_precision @ shift)
        )
    mean = np.where(unit < prior_std, from_data, from_prior)
    return mean, covariance


def update_precision(weight, data_mean, scatter, mean, covariance, prior):
    """q(Lambda): ``nu = nu0 + W``; ``W^-1 = W0^-1 + S + W d d^T + W S_mu``.

    With ``d = xbar - m``. Also returns ``S + W d d^T``, the scatter about ``m`` that
    the ELBO's data term needs.
    """
    prior_dof, prior_scale = prior[4], prior[5]
    shift = data_mean - mean
    scatter_about_mean = scatter + weight * np.outer(shift, shift)
    inverse_scale = (
        np.diag(1.0 / np.diag(prior_scale)) + scatter_about_mean + weight * covariance
    )
    factor = linalg.cho_factor(_symmetric(inverse_scale), lower=True)
    scale = _symmetric(linalg.cho_solve(factor, np.eye(mean.shape[0])))
    return prior_dof + weight, scale, scatter_about_mean


def log_det_inverse_scale(weight, data_mean, scatter, mean, covariance, prior):
    """``log|W^-1|`` of q(Lambda), by the matrix determinant lemma.

    ``W^-1 = B + W_tot d d^T`` with ``B = W0^-1 + S + W_tot S_mu`` and
    ``d = xbar - m``: ``log|W^-1| = log|B| + log1p(W_tot ||L_B^-1 d||**2)``
    with ``L_B`` the Cholesky factor of ``B`` (Golub & Van Loan, §2.1.4).
    Far from the prior ``W_tot d d^T`` dwarfs ``B``, so ``W^-1`` is near
    singular (condition 1e8 for 10 rows 326 sds from prior_mean): its own
    Cholesky factor, or ``W``'s, loses digits of its small eigenvalue, and
    so of the ELBO, in rounding; ``B`` is as well conditioned as the data.
    """
    shift = data_mean - mean
    base = np.diag(1.0 / np.diag(prior[5])) + scatter + weight * covariance
    lower = linalg.cholesky(_symmetric(base), lower=True)
    solved = linalg.solve_triangular(lower, shift, lower=True)
    return float(
        # contiguous copy: see skvi._core.expectations._log_det_from_cholesky
        2.0 * np.sum(np.log(np.diag(lower).copy()))
        + np.log1p(weight * np.dot(solved, solved))
    )


def expected_log_likelihood(
    quadratic, weight, mean_covariance, precision_mean, log_det_mean
):
    """``E_q[sum_i w_i log Normal(x_i | mu, Lambda^-1)]``.

    ``W/2 (E[log|Lambda|] - d log 2 pi) - 1/2 (Q + W tr(E[Lambda] S_mu))`` with
    ``Q = tr(E[Lambda] sum_i w_i (x_i - m)(x_i - m)^T)``, since
    ``E_q[(x - mu)(x - mu)^T] = (x - m)(x - m)^T + S_mu``. Called with one
    sample's ``Q`` and ``W = 1`` it gives that sample's term; with the
    statistics, the ELBO's data term: one formula for both.
    """
    dimension = mean_covariance.shape[-1]
    return 0.5 * weight * (log_det_mean - dimension * LOG_2PI) - 0.5 * (
        quadratic + weight * np.sum(precision_mean * mean_covariance)
    )


def kl_mean_to_prior(mean, covariance, prior):
    """``KL(q(mu) || p(mu))``."""
    prior_mean, prior_std = prior[0], prior[1]
    # In the units g = sqrt(s0 sd) (module comment): S_mu / (g g^T) against
    # diag(s0 / sd), both within float64's range for any s0 in range.
    unit = np.sqrt(prior_std) * np.sqrt(np.sqrt(np.diag(covariance)))
    return kl_multivariate_normal(
        (mean - prior_mean) / unit,
        covariance / np.outer(unit, unit),
        np.zeros_like(mean),
        np.diag((prior_std / unit) ** 2),
    )


def kl_to_prior(mean, covariance, dof, scale, prior):
    """``KL(q(mu) || p(mu)) + KL(q(Lambda) || p(Lambda))``."""
    return float(
        kl_mean_to_prior(mean, covariance, prior)
        + kl_wishart(dof, scale, prior[4], prior[5])
    )


def cavi_update(weight, data_mean, scatter, prior, precision_mean):
    """One CAVI sweep from ``E[Lambda]``: q(mu), then q(Lambda); the new state."""
    try:
        mean, covariance = update_mean(
            weight, data_mean, precision_mean, prior[0], prior[1]
        )
        dof, scale, scatter_about_mean = update_precision(
            weight, data_mean, scatter, mean, covariance, prior
        )
        log_det_inverse = log_det_inverse_scale(
            weight, data_mean, scatter, mean, covariance, prior
        )
        log_det_mean = float(wishart_expected_log_det(dof, scale))
    except (np.linalg.LinAlgError, ValueError):
        # W^-1 is positive definite in exact arithmetic; in float64 a term
        # W (xbar - m)(xbar - m)^T some 1e16 times the others makes it singular.
        raise ValueError(_BREAKDOWN) from None
    return {
        "mean": mean,
        "covariance": covariance,
        "dof": dof,
        "scale": scale,
        "scatter_about_mean": scatter_about_mean,
        "log_det_inverse_scale": log_det_inverse,
        "precision_mean": wishart_expected_precision(dof, scale),
        "log_det_mean": log_det_mean,
    }


# Plain CAVI creeps to its fixed point at a linear rate, slowly when the prior
# and few data conflict, and the ELBO is flat there: a stop on the ELBO's
# change leaves the parameters accurate to about sqrt(tol) only. So, as the
# diagonal model does with its exact solve, each sweep after the first runs
# the CAVI map until E[Lambda] stops changing (to a few ulps) or for at most
# _FIXED_POINT_STEPS steps; every step is a CAVI update, so the ELBO still
# never decreases, and elbo_history_'s first entry is one plain sweep.
_FIXED_POINT_STEPS = 1000
_FIXED_POINT_RTOL = 4 * np.finfo(float).eps


def sweep(weight, data_mean, scatter, prior, state):
    """A CAVI sweep; from the second on, iterated to CAVI's fixed point."""
    new = cavi_update(weight, data_mean, scatter, prior, state["precision_mean"])
    if "mean" not in state:
        return new
    for _ in range(_FIXED_POINT_STEPS):
        previous = new["precision_mean"]
        new = cavi_update(weight, data_mean, scatter, prior, previous)
        change = np.max(np.abs(new["precision_mean"] - previous))
        if not change > _FIXED_POINT_RTOL * np.max(np.abs(previous)):
            break
    return new


def elbo(weight, state, prior):
    """``E_q[log p(X | mu, Lambda)] - KL(q || prior)``, for any state.

    The module comment's formula term by term: the reference for
    :func:`optimal_precision_elbo`, which the fit uses.
    """
    data_term = expected_log_likelihood(
        np.sum(state["precision_mean"] * state["scatter_about_mean"]),
        weight,
        state["covariance"],
        state["precision_mean"],
        state["log_det_mean"],
    )
    return float(data_term) - kl_to_prior(
        state["mean"], state["covariance"], state["dof"], state["scale"], prior
    )


def optimal_precision_elbo(weight, state, prior):
    """:func:`elbo` of a state whose q(Lambda) is optimal for its q(mu).

    Every state of the fit holds q(Lambda) updated from its q(mu) (the sweep
    updates q(Lambda) last; :func:`cavi_update`), so ``W^-1 = W0^-1 + A`` with
    ``A = E_mu[sum_i w_i (x_i - mu)(x_i - mu)^T]`` and ``nu = nu0 + W_tot``.
    The data term's trace is then ``tr(E[Lambda] A) = nu (d - tr(W0^-1 W))``,
    which cancels the Wishart KL's ``nu/2 (tr(W0^-1 W) - d)``; the digamma
    terms cancel likewise (``W_tot/2 - (nu - nu0)/2 = 0``), leaving the log
    normalisers of q(Lambda) and its prior (Bishop B.79):

        L = nu/2 log|W| - nu0/2 log|W0| + log Gamma_d(nu/2) - log Gamma_d(nu0/2)
            - W_tot d/2 log(pi) - KL(q(mu) || p(mu))

    equal to the module comment's ELBO in exact arithmetic. In float64 it
    differs: ``tr(E[Lambda] A)`` summed entry by entry cancels terms of size
    ``nu |W| |A|`` (1e9 times the result for constant data 326 prior sds from
    prior_mean), and ``log|W|`` from ``W``'s Cholesky factor loses the digits
    of ``W^-1``'s small eigenvalue; those errors (4e-7 on an ELBO of -180)
    exceeded the ELBO's true change between sweeps near the fixed point.
    Here ``log|W^-1|`` comes from :func:`log_det_inverse_scale`, and no term
    cancels beyond the size of the ELBO's own parts.
    """
    prior_dof, prior_scale = prior[4], prior[5]
    dof = state["dof"]
    dimension = prior_scale.shape[0]
    # contiguous copy: see skvi._core.expectations._log_det_from_cholesky
    log_det_prior_scale = np.sum(np.log(np.diag(prior_scale).copy()))
    value = (
        -0.5 * dof * state["log_det_inverse_scale"]
        - 0.5 * prior_dof * log_det_prior_scale
        + special.multigammaln(0.5 * dof, dimension)
        - special.multigammaln(0.5 * prior_dof, dimension)
        - 0.5 * weight * dimension * np.log(np.pi)
    )
    return float(value) - float(
        kl_mean_to_prior(state["mean"], state["covariance"], prior)
    )


_BREAKDOWN = (
    "The fit is not representable in float64: the posterior came out NaN, "
    "infinite or singular. The data and the priors are on very different "
    "scales (with covariance_type='full', a prior_mean more than about 1e8 "
    "noise sds from the data is too far). Choose priors on the scale of the "
    "data (prior_mean=None takes it from the data), or rescale X."
)


def check_representable(state):
    """Raise, rather than return NaN or inf, when the fit leaves float64's range."""
    values = (state["mean"], state["covariance"], state["scale"], state["elbo"])
    if not all(np.all(np.isfinite(value)) for value in values):
        raise ValueError(_BREAKDOWN)


def sample_scores(X, mean, covariance, dof, scale, kl, weight):
    """Each row's ``E_q[log Normal(x | mu, Lambda^-1)] - KL / W``.

    In row blocks of the engine (skvi._core.engine): a block's temporaries are
    its deviations and their products with ``E[Lambda]``.
    """
    precision_mean = wishart_expected_precision(dof, scale)
    log_det_mean = float(wishart_expected_log_det(dof, scale))
    n_samples, n_features = X.shape
    scores = np.empty(n_samples)

    def block_scores(rows):
        deviation = X[rows] - mean
        quadratic = np.einsum("ij,ij->i", np.dot(deviation, precision_mean), deviation)
        # A positive-definite form of finite deviations is >= 0: NaN there is
        # inf - inf from terms that overflowed, a point beyond float64's reach
        # (its log-density -inf, as the diagonal model gives).
        quadratic[np.isnan(quadratic)] = np.inf
        scores[rows] = expected_log_likelihood(
            quadratic, 1.0, covariance, precision_mean, log_det_mean
        )

    block_rows, _ = engine.plan(n_samples, 2 * n_features)
    engine.map_blocks(block_scores, n_samples, block_rows, row_elements=2 * n_features)
    return scores - kl / weight


def draw(mean, covariance, dof, scale, n_samples, random_state):
    """Draws of ``mu`` (n, d) from q(mu) and of ``Lambda`` (n, d, d) from q(Lambda)."""
    mu = random_state.multivariate_normal(mean, covariance, size=n_samples)
    precision = stats.wishart(df=dof, scale=scale).rvs(
        size=n_samples, random_state=random_state
    )
    return mu, np.reshape(precision, (n_samples,) + scale.shape)
