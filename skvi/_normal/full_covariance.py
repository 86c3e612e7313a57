"""The full-covariance Normal model: q(mu) q(Lambda) of multivariate rows, by CAVI.

``VariationalNormalEstimator(covariance_type="full")``'s maths, with the
equations beside the code (the module comment below): the semi-conjugate
Normal-Wishart CAVI updates, the ELBO term by term and in the collapsed form
the fit uses (q(Lambda) optimal, its log-determinant by the matrix
determinant lemma), the sweep iterated to CAVI's fixed point, the KLs, the
scorer of each row's share of the ELBO (its maths in
:mod:`skvi._normal.full_shares`, its constant from the collapsed ELBO) and
draws from q. The fit runs in per-feature units
of a power of two (:mod:`skvi._normal.full_units`). :data:`FULL` is the
type's record (:class:`skvi._normal.covariance.CovarianceType`), the same
interface as :data:`skvi._normal.diag.DIAG`.

References
----------
C. M. Bishop, "Pattern Recognition and Machine Learning", Springer, 2006,
§10.2.1, §2.3.6 and Appendix B (the Wishart distribution).
G. H. Golub and C. F. Van Loan, "Matrix Computations", 4th ed., 2013, §2.1.4.
"""

# SPDX-License-Identifier: BSD-3-Clause

import dataclasses
from functools import partial

import numpy as np
from scipy import linalg, special, stats

from .._core.families.normal import LOG_2PI, kl_multivariate_normal
from .._core.families.wishart import (
    kl_wishart,
    wishart_expected_log_det,
    wishart_expected_precision,
)
from .._core.normal_gamma import _PRIOR_NAMES, _unit_information_priors
from .._core.stats import SufficientStatistics
from .covariance import CovarianceType, Start
from .exact_full import full_exact_interval
from .full_shares import device_terms, precision_factor, sample_scores
from .full_units import (
    BREAKDOWN,
    SMALLEST_PRIOR_STD,
    check_prior_scale,
    check_prior_std,
    feature_units,
    relative_change,
    scaled_problem,
    symmetric,
    unscaled_state,
)

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
# Each sweep updates q(mu), then q(Lambda); each update maximises L over one
# factor, so L never decreases. q(Lambda) starts at the prior (E[Lambda] =
# nu0 W0), so the fit depends only on (W_tot, xbar, S) and the priors:
# partial_fit on merged statistics reproduces fit.


@dataclasses.dataclass(frozen=True)
class FullData:
    """What a full-covariance fit reads of X, and its priors.

    ``statistics`` (one component, full scatter) are kept for ``partial_fit``'s
    exact merges; ``weight``, ``data_mean`` and ``scatter`` are ``W_tot``,
    ``xbar`` and ``S``; ``priors`` the four priors by name and ``prior``
    ``(m0, s0, a0, b0, nu0, W0)``; ``unit`` the powers of two ``c`` of the
    fit's units and ``scaled`` the problem in them, ``(xbar / c, S / (c c^T),
    prior)`` (:mod:`skvi._normal.full_units`).
    """

    statistics: SufficientStatistics
    weight: float
    data_mean: np.ndarray
    scatter: np.ndarray
    priors: dict
    prior: tuple
    unit: np.ndarray
    scaled: tuple


@dataclasses.dataclass(frozen=True)
class FullState:
    """q(mu) q(Lambda) after a sweep (the module comment's names).

    ``inverse_scale`` is ``W^-1`` as formed, ``scatter_about_mean`` ``S + W_tot
    (xbar - m)(xbar - m)^T``, ``log_det_inverse_scale`` ``log|W^-1|``,
    ``precision_mean``, ``log_det_mean`` ``E[Lambda]``, ``E[log|Lambda|]``.
    """

    mean: np.ndarray
    covariance: np.ndarray
    dof: float
    scale: np.ndarray
    inverse_scale: np.ndarray
    scatter_about_mean: np.ndarray
    log_det_inverse_scale: float
    precision_mean: np.ndarray
    log_det_mean: float
    sweeps: int = 1


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
    covariance = symmetric(
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

    With ``d = xbar - m``. Returns ``nu``, ``W``, ``W^-1`` and ``S + W d d^T``, the
    scatter about ``m`` that the ELBO's data term needs.
    """
    prior_dof, prior_scale = prior[4], prior[5]
    shift = data_mean - mean
    scatter_about_mean = scatter + weight * np.outer(shift, shift)
    inverse_scale = symmetric(
        np.diag(1.0 / np.diag(prior_scale)) + scatter_about_mean + weight * covariance
    )
    factor = linalg.cho_factor(inverse_scale, lower=True)
    scale = symmetric(linalg.cho_solve(factor, np.eye(mean.shape[0])))
    return prior_dof + weight, scale, inverse_scale, scatter_about_mean


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
    lower = linalg.cholesky(symmetric(base), lower=True)
    solved = linalg.solve_triangular(lower, shift, lower=True)
    # The diagonal's logs from a copy (see families.wishart._log_det_from_cholesky).
    log_det = 2.0 * np.sum(np.log(np.diag(lower).copy()))
    return float(log_det + np.log1p(weight * np.dot(solved, solved)))


def expected_log_likelihood(
    quadratic, weight, mean_covariance, precision_mean, log_det_mean
):
    """``E_q[sum_i w_i log Normal(x_i | mu, Lambda^-1)]``.

    ``W/2 (E[log|Lambda|] - d log 2 pi) - 1/2 (Q + W tr(E[Lambda] S_mu))`` with
    ``Q = tr(E[Lambda] sum_i w_i (x_i - m)(x_i - m)^T)``, since
    ``E_q[(x - mu)(x - mu)^T] = (x - m)(x - m)^T + S_mu``. Called with one
    sample's ``Q`` and ``W = 1`` it is that sample's term, as written; with
    the statistics, the ELBO's data term, term by term (:func:`elbo`).
    ``score_samples`` takes the same quantity from the collapsed ELBO and a
    factor of ``E[Lambda]`` (:mod:`skvi._normal.full_shares`), not from
    ``E[Lambda]`` itself, which loses digits far from the prior.
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
        dof, scale, inverse_scale, scatter_about_mean = update_precision(
            weight, data_mean, scatter, mean, covariance, prior
        )
        log_det_inverse = log_det_inverse_scale(
            weight, data_mean, scatter, mean, covariance, prior
        )
        log_det_mean = float(wishart_expected_log_det(dof, scale))
    except (np.linalg.LinAlgError, ValueError):
        # W^-1 is positive definite in exact arithmetic; in float64 a term
        # W (xbar - m)(xbar - m)^T some 1e16 times the others makes it singular.
        raise ValueError(BREAKDOWN) from None
    return FullState(
        mean=mean,
        covariance=covariance,
        dof=dof,
        scale=scale,
        inverse_scale=inverse_scale,
        scatter_about_mean=scatter_about_mean,
        log_det_inverse_scale=log_det_inverse,
        precision_mean=wishart_expected_precision(dof, scale),
        log_det_mean=log_det_mean,
    )


# Plain CAVI creeps to its fixed point at a linear rate, slowly when the prior
# and few data conflict, and the ELBO is flat there: a stop on the ELBO's
# change leaves the parameters accurate to about sqrt(tol) only. So, as the
# diagonal model does with its exact solve, each sweep after the first runs
# the CAVI map until E[Lambda] stops changing (by a few ulps of its diagonal:
# full_units.relative_change) or for _FIXED_POINT_STEPS steps; each step is
# a CAVI update, so the ELBO never decreases; elbo_history_[0] is plain CAVI.
_FIXED_POINT_STEPS = 1000
_FIXED_POINT_RTOL = 4 * np.finfo(float).eps


def scaled_sweep(weight, data_mean, scatter, prior, state):
    """A CAVI sweep; from the second on, iterated to CAVI's fixed point."""
    new = cavi_update(weight, data_mean, scatter, prior, state.precision_mean)
    if state.sweeps == 0:
        return new
    for _ in range(_FIXED_POINT_STEPS):
        previous = new.precision_mean
        new = cavi_update(weight, data_mean, scatter, prior, previous)
        if not relative_change(new.precision_mean, previous) > _FIXED_POINT_RTOL:
            break
    return dataclasses.replace(new, sweeps=state.sweeps + 1)


def elbo(weight, state, prior):
    """``E_q[log p(X | mu, Lambda)] - KL(q || prior)``, for any state.

    The module comment's formula term by term: the reference for
    :func:`optimal_precision_elbo`, which the fit uses.
    """
    data_term = expected_log_likelihood(
        np.sum(state.precision_mean * state.scatter_about_mean),
        weight,
        state.covariance,
        state.precision_mean,
        state.log_det_mean,
    )
    return float(data_term) - kl_to_prior(
        state.mean, state.covariance, state.dof, state.scale, prior
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
    return collapsed_elbo(
        weight,
        state.dof,
        state.log_det_inverse_scale,
        state.mean,
        state.covariance,
        prior,
    )


def collapsed_elbo(weight, dof, log_det_inverse, mean, covariance, prior):
    """:func:`optimal_precision_elbo` of q(mu) and ``(nu, log|W^-1|)``.

    Also what ``score_samples``' constant is made of (:func:`sample_scorer`).
    """
    prior_dof, prior_scale = prior[4], prior[5]
    dimension = prior_scale.shape[0]
    log_det_prior_scale = np.sum(np.log(np.diag(prior_scale).copy()))  # a copy: above
    value = (
        -0.5 * dof * log_det_inverse
        - 0.5 * prior_dof * log_det_prior_scale
        + special.multigammaln(0.5 * dof, dimension)
        - special.multigammaln(0.5 * prior_dof, dimension)
        - 0.5 * weight * dimension * np.log(np.pi)
    )
    return float(value) - float(kl_mean_to_prior(mean, covariance, prior))


def draw_parameters(mean, covariance, dof, scale, n_samples, random_state):
    """Draws of ``mu`` (n, d) from q(mu) and of ``Lambda`` (n, d, d) from q(Lambda)."""
    mu = random_state.multivariate_normal(mean, covariance, size=n_samples)
    precision = stats.wishart(df=dof, scale=scale).rvs(
        size=n_samples, random_state=random_state
    )
    return mu, np.reshape(precision, (n_samples,) + scale.shape)


# The FULL record (skvi._normal.covariance): what the estimator calls.


def check_chunk(statistics, weighted):
    """Nothing to refuse before the merge: :func:`fit_data` checks the merged."""


def fit_data(statistics, priors):
    """The statistics' mean and scatter; the priors resolved, checked, scaled.

    Priors left None come from the scatter's diagonal (the diagonal model's
    rule); the Wishart prior from the Gamma's (:func:`wishart_prior`).
    """
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
    if resolved and np.any(priors["prior_std"] < SMALLEST_PRIOR_STD):
        # The data-resolved prior_std is the data's own spread.
        raise ValueError(
            "The spread of X is below what covariance_type='full' can represent "
            f"in float64 (a standard deviation under {SMALLEST_PRIOR_STD:.3g}, "
            "whose square underflows). Rescale X, or use covariance_type='diag', "
            "which takes any scale."
        )
    check_prior_std(priors["prior_std"])
    prior_dof, prior_scale = wishart_prior(priors["prior_shape"], priors["prior_rate"])
    check_prior_scale(prior_scale)
    prior = tuple(priors[name] for name in _PRIOR_NAMES) + (prior_dof, prior_scale)
    unit = feature_units(weight, data_mean, scatter, prior)
    return FullData(
        statistics=statistics,
        weight=weight,
        data_mean=data_mean,
        scatter=scatter,
        priors=priors,
        prior=prior,
        unit=unit,
        scaled=scaled_problem(unit, data_mean, scatter, prior),
    )


def initial_state(data):
    """q(Lambda) at its prior, in the fit's units: ``E[Lambda] = nu0 W0``."""
    prior_dof, prior_scale = data.scaled[2][4:]
    # Out of range only where the fit is; its error comes from the sweep.
    with np.errstate(over="ignore", invalid="ignore"):
        return Start(prior_dof * prior_scale)


def sweep(data, state):
    """:func:`scaled_sweep` on the problem in the fit's units."""
    # Overflow there is reported once, as the clear error of full_units, not
    # by numpy.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return scaled_sweep(data.weight, *data.scaled, state)


def fit_elbo(data, state):
    """The scaled problem's ELBO, less ``W_tot sum_j log c_j``: the data's."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return optimal_precision_elbo(
            data.weight, state, data.scaled[2]
        ) - data.weight * float(np.sum(np.log(data.unit)))


def fitted_attributes(data, state, elbo):
    """q's fitted attributes in the data's units, once they are in range."""
    state, noise_covariance = unscaled_state(data.unit, state, elbo)
    return {
        "prior_dof_": data.prior[4],
        "prior_scale_": data.prior[5],
        "posterior_mean_": state.mean,
        "posterior_covariance_": state.covariance,
        "posterior_std_": np.sqrt(np.diag(state.covariance)),
        "posterior_dof_": float(state.dof),
        "posterior_scale_": state.scale,
        "noise_covariance_": noise_covariance,
        "noise_std_": np.sqrt(np.diag(noise_covariance)),
    }


def sample_scorer(estimator):
    """``rows -> score_samples(rows)`` of a fitted (host) estimator.

    Each row's ``constant - 1/2 ||U (x - m)||^2`` (skvi._normal.full_shares)
    from the running statistics (kept for ``partial_fit``) and q(mu), taken
    into the fit's units (the same powers of two, from the same statistics
    and priors; exact): ``constant = (ELBO + T / 2) / W_tot`` with the ELBO
    by :func:`fit_elbo`'s formulas, and ``U`` back in the data's units,
    ``U C^-1``.
    """
    statistics = SufficientStatistics(**estimator._statistics)
    weight = float(statistics.weight[0])
    data_mean, scatter = statistics.mean[0], statistics.scatter[0]
    prior = tuple(getattr(estimator, f"{name}_") for name in _PRIOR_NAMES) + (
        estimator.prior_dof_,
        estimator.prior_scale_,
    )
    unit = feature_units(weight, data_mean, scatter, prior)
    data_mean, scatter, prior = scaled_problem(unit, data_mean, scatter, prior)
    mean = estimator.posterior_mean_ / unit
    covariance = estimator.posterior_covariance_ / np.outer(unit, unit)
    dof = estimator.posterior_dof_
    log_det_inverse = log_det_inverse_scale(
        weight, data_mean, scatter, mean, covariance, prior
    )
    elbo = collapsed_elbo(
        weight, dof, log_det_inverse, mean, covariance, prior
    ) - weight * float(np.sum(np.log(unit)))
    factor, training_quadratic = precision_factor(
        weight, data_mean, scatter, mean, covariance, prior, dof
    )
    return partial(
        sample_scores,
        mean=estimator.posterior_mean_,
        factor=factor / unit,
        constant=(elbo + 0.5 * training_quadratic) / weight,
    )


def draw(estimator, n_samples, random_state):
    """Draws of ``mu`` (n, d) and of ``Lambda`` (n, d, d) from q."""
    return draw_parameters(
        estimator.posterior_mean_,
        estimator.posterior_covariance_,
        estimator.posterior_dof_,
        estimator.posterior_scale_,
        n_samples,
        random_state,
    )


def interval(estimator, statistics, prior, level):
    """The exact central interval of each ``mu_j`` (:mod:`skvi._normal.exact_full`)."""
    return full_exact_interval(
        np.float64(estimator.n_samples_seen_),
        statistics.mean[0],
        statistics.scatter[0],
        prior,
        estimator.prior_dof_,
        level,
    )


FULL = CovarianceType(
    name="full",
    attributes=(
        "posterior_covariance_",
        "posterior_dof_",
        "posterior_scale_",
        "noise_covariance_",
        "prior_dof_",
        "prior_scale_",
    ),
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
