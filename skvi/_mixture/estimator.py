"""Bayesian Gaussian mixture by CAVI: scikit-learn's model, weights, SVI, dask."""

# SPDX-License-Identifier: BSD-3-Clause

# The model (Bishop, PRML §10.2; Blei & Jordan 2006 for the stick-breaking
# prior), for K components in d dimensions, sample i with frequency weight w_i:
#
#   weights  pi ~ Dirichlet(alpha0, ..., alpha0)            ("dirichlet_distribution")
#            or pi_k = v_k prod_{j<k} (1 - v_j),
#               v_k ~ Beta(1, alpha0), k = 1..K             ("dirichlet_process")
#   components (mu_k, Lambda_k) ~ Normal(m0, (beta0 Lambda_k)^-1) Wishart(nu0, W0)
#   z_i | pi ~ Categorical(pi);  x_i | z_i = k ~ Normal(mu_k, Lambda_k^-1)
#
# The truncated stick-breaking prior leaves the mass prod_k (1 - v_k) to a
# (K+1)-th component that no sample is assigned to (q(z_i = K+1) = 0), so the
# model is proper and q(v_K) is a Beta like the others, as in scikit-learn.
#
# Mean-field family q(Z) q(pi or v) prod_k q(mu_k | Lambda_k) q(Lambda_k) with
# q(mu_k | Lambda_k) = Normal(m_k, (beta_k Lambda_k)^-1) and q(Lambda_k) a
# Wishart(nu_k, W_k) whose scale W_k is, by covariance_type:
#   full       any positive-definite matrix
#   tied       the same (nu, W) for every component (K independent Lambda_k
#              with one common q: scikit-learn's "tied" updates are exactly
#              CAVI in this family, and its bound counts the Wishart K times)
#   diag       a diagonal matrix
#   spherical  a multiple of the identity
# and the prior scale W0 = covariance_prior^-1 (diag(covariance_prior)^-1,
# covariance_prior^-1 I) likewise. The restricted scale is the projection of
# the full update: W_k^-1 = diag(A_k) for diag, mean(diag A_k) I for
# spherical, where A_k is the full update below; dof and the means do not
# change. Each update maximises the ELBO over its factor, so the ELBO of
# every covariance type never decreases (with reg_covar = 0; see below).
#
# CAVI updates, from N_k = sum_i w_i r_ik, xbar_k = sum_i w_i r_ik x_i / N_k,
# C_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T:
#   E-step (10.46-10.49, 10.64-10.66):
#     log rho_ik = E[log pi_k] + 1/2 E[log|Lambda_k|] - d/2 log 2 pi
#                  - d / (2 beta_k) - nu_k/2 (x_i - m_k)^T W_k (x_i - m_k)
#     r_ik = rho_ik / sum_j rho_ij                       (log-sum-exp)
#     E[log|Lambda_k|] = sum_{j=1..d} psi((nu_k + 1 - j)/2) + d log 2 + log|W_k|
#     E[log pi_k] = psi(alpha_k) - psi(sum_j alpha_j)                (Dirichlet)
#                 = E[log v_k] + sum_{j<k} E[log(1 - v_j)]       (stick-breaking)
#   M-step (10.58, 10.60-10.63; Blei & Jordan 2006, eq. 18-19):
#     alpha_k = alpha0 + N_k;   or  a_k = 1 + N_k, b_k = alpha0 + sum_{j>k} N_j
#     beta_k = beta0 + N_k,  m_k = (beta0 m0 + N_k xbar_k) / beta_k
#     nu_k = nu0 + N_k  (tied: nu0 + N/K)
#     A_k = W0^-1 + C_k + N_k reg_covar I
#           + beta0 N_k / beta_k (xbar_k - m0)(xbar_k - m0)^T,   W_k^-1 = A_k
#     (tied: A = W0^-1 + 1/K sum_k (...)).  reg_covar is scikit-learn's
#     regulariser (it adds reg_covar to each component's covariance); with
#     reg_covar = 0 these are exact CAVI updates.
#   scikit-learn's normalisation is kept: covariances_ = A_k / nu_k, so that
#   precisions_ = nu_k W_k = E_q[Lambda_k] and precisions_cholesky_ factors it.
#
# The full ELBO, no constant dropped (10.70, with the q(Z) of the E-step
# that follows the M-step, so that the data and assignment terms collapse):
#   L = sum_i w_i log sum_k rho_ik - KL(q(pi) || p(pi))
#       - sum_k KL(q(mu_k, Lambda_k) || p(mu_k, Lambda_k))
# Its first term is also each sample's share in score_samples.
#
# scikit-learn's lower bound (BayesianGaussianMixture._compute_lower_bound),
# evaluated after the M-step on the q(Z) of the E-step before it, equals the
# full ELBO of that same pair minus a constant when reg_covar = 0:
#   c = K [d(d-1)/4 log pi + d/2 log beta0 + log B(W0, nu0)] - W d/2 log 2 pi
#       + {lgamma(K alpha0) - K lgamma(alpha0)   (Dirichlet) | K log alpha0 (DP)}
# with log B(W, nu) = -nu/2 log|W| - nu d/2 log 2 - log Gamma_d(nu/2) and W
# the total sample weight: at the M-step's optimum the expected log-density
# of each conjugate block cancels against its q, leaving log-normalisers.

import numbers
import warnings
from functools import partial

import numpy as np
from scipy.linalg.lapack import dtrtri
from scipy.special import betaln, gammaln, logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._core import array_api, engine
from .._core.base import VariationalEstimator
from .._core.expectations import (
    LOG_2PI,
    _expected_log_det,
    _log_det_from_cholesky,
    _wishart_log_normalizer,
    dirichlet_expected_log,
    stick_breaking_expected_log_weights,
)
from .._core.kl import (
    _kl_normal_wishart_from,
    _log_dirichlet_normalizer,
    kl_beta,
    kl_dirichlet,
)
from .._core.natural import (
    SVI_CONSTRAINTS,
    beta_to_natural,
    dirichlet_to_natural,
    natural_step,
    natural_to_beta,
    natural_to_dirichlet,
    natural_to_normal_wishart,
    normal_wishart_to_natural,
    svi_step_size,
)
from .._core.stats import (
    SufficientStatistics,
    statistics_about,
    sufficient_statistics,
)
from .._core.validation import (
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    Interval,
    InvalidParameterError,
    StrOptions,
    array_space,
    check_data,
    is_dask_collection,
    to_namespace,
    to_numpy,
)

# ---------------------------------------------------------------------------
# Per covariance type: the shape of the scatter the M-step needs, the
# projection of the full Wishart update onto the family, the precision
# Cholesky factors, and the Mahalanobis terms of the E-step.

_SCATTER = {"full": "full", "tied": "full", "diag": "diag", "spherical": "diag"}

# How the dof broadcast against covariances_ (scikit-learn's shapes).
_DOF_SHAPE = {"full": (-1, 1, 1), "tied": (), "diag": (-1, 1), "spherical": (-1,)}


def _as_matrix(covariance_prior, covariance_type, n_features):
    """The prior's inverse scale W0^-1 as a (d, d) matrix."""
    return {
        "full": lambda c: c,
        "tied": lambda c: c,
        "diag": np.diag,
        "spherical": lambda c: c * np.eye(n_features),
    }[covariance_type](np.asarray(covariance_prior, dtype=np.float64))


# Each takes the M-step's shifts delta_k = xbar_k - m0 and shrink_k =
# beta0 N_k / beta_k, whose cross term shrink_k delta_k delta_k^T it adds
# component by component: at d = 1000 a (K, d, d) array of cross terms, and
# the sum it was added to, were two more 64 MB arrays per M-step.


def _inverse_scale_full(
    prior_inverse_scale, scatter, deviation, shrink, n_k, reg_covar, K
):
    """``A_k = W0^-1 + C_k + N_k reg I + cross_k`` (Bishop 10.62)."""
    d = prior_inverse_scale.shape[0]
    A = prior_inverse_scale + scatter
    for k in range(K):
        A[k] += shrink[k] * np.outer(deviation[k], deviation[k])
    A[:, np.arange(d), np.arange(d)] += (n_k * reg_covar)[:, None]
    return A


def _inverse_scale_tied(
    prior_inverse_scale, scatter, deviation, shrink, n_k, reg_covar, K
):
    """``A = W0^-1 + (sum_k C_k + N reg I + sum_k cross_k) / K`` (tied family)."""
    d = prior_inverse_scale.shape[0]
    total = scatter.sum(0)
    for k in range(K):
        total += shrink[k] * np.outer(deviation[k], deviation[k])
    A = prior_inverse_scale + total / K
    A[np.arange(d), np.arange(d)] += n_k.sum() * reg_covar / K
    return A


def _inverse_scale_diag(
    prior_inverse_scale, scatter, deviation, shrink, n_k, reg_covar, K
):
    """``diag(A_k)``: the diagonal-scale projection of the full update."""
    cross = shrink[:, None] * deviation**2
    return prior_inverse_scale + scatter + cross + (n_k * reg_covar)[:, None]


def _inverse_scale_spherical(
    prior_inverse_scale, scatter, deviation, shrink, n_k, reg_covar, K
):
    """``mean(diag A_k)``: the isotropic-scale projection of the full update."""
    cross = shrink[:, None] * deviation**2
    return prior_inverse_scale + (scatter + cross).mean(1) + n_k * reg_covar


_INVERSE_SCALE = {
    "full": _inverse_scale_full,
    "tied": _inverse_scale_tied,
    "diag": _inverse_scale_diag,
    "spherical": _inverse_scale_spherical,
}

_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


# Data, or weights times squared deviations, beyond float64: the Normal
# estimator's message, with the mixture's remedies.
_OVERFLOW = (
    "The mean or spread of X overflows float64 (values beyond about 1e154, whose "
    "squares exceed about 1e308; with sample_weight, sum_i w_i (x_i - mean)**2 "
    "must also stay below about 1e308). Rescale X, and the priors with it, or "
    "divide sample_weight by a common factor, before fitting."
)


def _check_representable(*arrays):
    """Raise the overflow error unless every array is finite."""
    if not all(np.isfinite(array).all() for array in arrays):
        raise ValueError(_OVERFLOW)


def _checked_elbo(elbo):
    """The ELBO, or the overflow error when it is beyond float64 (or NaN)."""
    if not np.isfinite(elbo):
        raise ValueError(
            "The ELBO is beyond float64's range (about 1.8e308): the total sample "
            "weight times the log-density per sample overflows, or the data's "
            "scale is too small for its densities (a spread below about 1e-150). "
            "Rescale X (e.g. sklearn.preprocessing.StandardScaler), or divide "
            "sample_weight by a common factor (the posterior's certainty grows "
            "with their sum)."
        )
    return elbo


def _is_singular(covariance, mean):
    """Whether an empirical covariance is singular, judged scale-free.

    A feature is constant when its variance is within rounding of zero
    relative to its mean; otherwise the correlation matrix
    ``D^-1/2 C D^-1/2`` (features of any scales, 1e6 against 1e-6, weigh
    alike) is singular when its smallest eigenvalue is below 1e-12.
    """
    variances = np.diagonal(covariance)
    if np.any(variances <= (4.0 * np.finfo(np.float64).eps * np.abs(mean)) ** 2):
        return True
    if not np.any(covariance - np.diag(variances)):
        return False  # diagonal, with no constant feature
    spread = np.sqrt(variances)
    correlation = covariance / spread[:, None] / spread[None, :]
    return bool(np.linalg.eigvalsh(correlation)[0] <= 1e-12)


def _precision_cholesky_full(covariances):
    """Upper factors U_k with ``U_k U_k^T = covariances_k^-1``: ``U_k = L_k^-T``.

    ``L_k`` by numpy's batched Cholesky, ``L_k^-1`` by LAPACK's triangular
    inverse (dtrtri, d**3/3 flops; numpy's general inverse of the same factor
    took 2 d**3 and a pass of ``np.triu``: 5x slower at d = 1000). dtrtri
    returns ``L_k^-1`` in Fortran order with zeros above the diagonal, so
    that its transpose is ``U_k`` in C order, triangular as it is.
    """
    try:
        lower = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ValueError(_ILL_DEFINED) from None
    # Each U_k replaces L_k in place: no second (K, d, d) array.
    for factor in lower:
        inverse, info = dtrtri(factor, lower=1)
        if info != 0:
            raise ValueError(_ILL_DEFINED)
        factor[...] = inverse.T
    return lower


def _precision_cholesky_tied(covariance):
    return _precision_cholesky_full(covariance[None])[0]


def _precision_cholesky_diagonal(covariances):
    if np.any(covariances <= 0.0):
        raise ValueError(_ILL_DEFINED)
    return 1.0 / np.sqrt(covariances)


_PRECISION_CHOLESKY = {
    "full": _precision_cholesky_full,
    "tied": _precision_cholesky_tied,
    "diag": _precision_cholesky_diagonal,
    "spherical": _precision_cholesky_diagonal,
}


def _scale_full(precisions_cholesky, dof, K, d):
    """``W_k = precisions_k / nu_k`` as (K, d, d) matrices.

    ``U_k U_k^T`` by batched BLAS matmul: einsum's loop over the same
    product is some 30x slower at d = 1000.
    """
    scale = precisions_cholesky @ np.swapaxes(precisions_cholesky, -1, -2)
    scale /= dof[:, None, None]
    return scale


def _scale_tied(precisions_cholesky, dof, K, d):
    precision = precisions_cholesky @ precisions_cholesky.T / dof
    return np.broadcast_to(precision, (K, d, d))


def _scale_diag(precisions_cholesky, dof, K, d):
    scale = precisions_cholesky**2 / dof[:, None]
    return scale[:, :, None] * np.eye(d)


def _scale_spherical(precisions_cholesky, dof, K, d):
    return (precisions_cholesky**2 / dof)[:, None, None] * np.eye(d)


# log|W_k| = log|precisions_k| - d log nu_k from the factors' diagonals
# (|U U^T| = prod_j U_jj**2): no O(K d**3) factorisation of W_k again.
_LOG_DET_SCALE = {
    "full": lambda u, dof, d: (
        # contiguous copy: see skvi._core.expectations._log_det_from_cholesky
        2.0 * np.log(np.diagonal(u, axis1=1, axis2=2).copy()).sum(1) - d * np.log(dof)
    ),
    # contiguous copy: see skvi._core.expectations._log_det_from_cholesky
    "tied": lambda u, dof, d: (
        2.0 * np.log(np.diagonal(u).copy()).sum() - d * np.log(dof)
    ),
    "diag": lambda u, dof, d: 2.0 * np.log(u).sum(1) - d * np.log(dof),
    "spherical": lambda u, dof, d: d * (2.0 * np.log(u) - np.log(dof)),
}

_SCALE = {
    "full": _scale_full,
    "tied": _scale_tied,
    "diag": _scale_diag,
    "spherical": _scale_spherical,
}


# The E-step works on (n_components, n_rows) arrays: reductions over the
# components then run along rows of contiguous memory, some 50x faster than
# over a short last axis of (n_rows, n_components). Its products over rows
# are numpy.dot, which releases the GIL for the BLAS call (numpy's matmul
# may hold it), so that the engine's threads run their blocks at once.
# Every Mahalanobis term takes the block's deviations d = x - centre (the
# data's mean, so that the expansions below lose few digits) and, for the
# diagonal families, d * d, which the E-step computes once and the
# statistics then reuse.


# Each family splits its term in two: ``_terms_*`` (per pass: what depends on
# q only, computed once) and ``_from_terms_*`` (per block, a few numpy calls),
# so that a block's Python stays a small share of its time (skvi._core.engine).


def _terms_full(shifted_means, precisions_cholesky):
    """The stacked ``U_k^T`` (K d, d) and ``U_k^T (m_k - c)`` (K d, 1)."""
    K, d, _ = precisions_cholesky.shape
    stacked = precisions_cholesky.transpose(0, 2, 1).reshape(K * d, d)
    shift = np.einsum("kd,kde->ke", shifted_means, precisions_cholesky)
    return np.ascontiguousarray(stacked), shift.reshape(K * d, 1)


def _from_terms_full(deviation, squares, terms):
    """``||U_k^T (x_i - m_k)||^2``, shape (K, n): one product with the stacked U_k."""
    stacked, shift = terms
    projected = np.dot(stacked, deviation.T)
    projected -= shift
    np.multiply(projected, projected, out=projected)
    d = deviation.shape[1]
    return projected.reshape(-1, d, deviation.shape[0]).sum(axis=1)


def _terms_tied(shifted_means, precisions_cholesky):
    """``U^T`` (d, d) and ``U^T (m_k - c)`` as (K, d, 1)."""
    shift = (shifted_means @ precisions_cholesky)[:, :, None]
    return np.ascontiguousarray(precisions_cholesky.T), shift


def _from_terms_tied(deviation, squares, terms):
    """``||U^T x_i - U^T m_k||^2``, shape (K, n): one product, then K shifts."""
    transposed, shift = terms
    projected = np.dot(transposed, deviation.T)
    difference = projected[None] - shift
    np.multiply(difference, difference, out=difference)
    return difference.sum(axis=1)


def _terms_diag(shifted_means, precisions_cholesky):
    """``p_k``, ``-2 p_k (m_k - c)`` and ``sum_j p_kj (m_kj - c_j)^2`` (K, 1)."""
    precisions = precisions_cholesky**2
    return (
        precisions,
        -2.0 * shifted_means * precisions,
        (shifted_means**2 * precisions).sum(1)[:, None],
    )


def _from_terms_diag(deviation, squares, terms):
    """``sum_j p_kj (x_ij - m_kj)^2`` (K, n), expanded about the centre."""
    precisions, linear, constant = terms
    result = np.dot(precisions, squares.T)
    result += np.dot(linear, deviation.T)
    result += constant
    return result


def _terms_spherical(shifted_means, precisions_cholesky):
    """``p_k`` (K, 1), ``-2 (m_k - c)`` and ``||m_k - c||^2`` (K, 1)."""
    return (
        (precisions_cholesky**2)[:, None],
        -2.0 * shifted_means,
        (shifted_means**2).sum(1)[:, None],
    )


def _from_terms_spherical(deviation, squares, terms):
    """``p_k ||x_i - m_k||^2``, shape (K, n), expanded about the centre."""
    precisions, linear, constant = terms
    result = np.dot(linear, deviation.T)
    result += squares.sum(axis=1)
    result += constant
    result *= precisions
    return result


_TERMS = {
    "full": (_terms_full, _from_terms_full),
    "tied": (_terms_tied, _from_terms_tied),
    "diag": (_terms_diag, _from_terms_diag),
    "spherical": (_terms_spherical, _from_terms_spherical),
}


def _mahalanobis_terms(shifted_means, params, model):
    """The per-pass terms of the E-step's Mahalanobis distances (``_TERMS``)."""
    terms = _TERMS[model["covariance_type"]][0]
    return terms(shifted_means, params["precisions_cholesky"])


def _mahalanobis(deviation, squares, shifted_means, precisions_cholesky, kind):
    """Mahalanobis terms of family ``kind``, shape (K, n), in one call."""
    terms, from_terms = _TERMS[kind]
    return from_terms(deviation, squares, terms(shifted_means, precisions_cholesky))


def _mahalanobis_full(deviation, squares, shifted_means, precisions_cholesky):
    """``||U_k^T (x_i - m_k)||^2``, shape (K, n) (:func:`_from_terms_full`)."""
    return _mahalanobis(deviation, squares, shifted_means, precisions_cholesky, "full")


# ---------------------------------------------------------------------------
# Weight priors: the M-step, E[log pi_k], the KL, the point estimate.


def _concentration_dirichlet_process(n_k, prior):
    """``a_k = 1 + N_k, b_k = alpha0 + sum_{j>k} N_j`` (Blei & Jordan 2006)."""
    return (1.0 + n_k, prior + np.concatenate([np.cumsum(n_k[::-1])[-2::-1], [0.0]]))


def _concentration_dirichlet(n_k, prior):
    """``alpha_k = alpha0 + N_k`` (Bishop 10.58)."""
    return prior + n_k


def _kl_weights_dirichlet_process(concentration, prior):
    a, b = concentration
    return float(np.sum(kl_beta(a, b, 1.0, prior)))


def _kl_weights_dirichlet(concentration, prior):
    return float(kl_dirichlet(concentration, np.full_like(concentration, prior)))


def _point_weights_dirichlet_process(concentration):
    """E[v_k] prod_{j<k} E[1 - v_j], renormalised (scikit-learn's weights_)."""
    a, b = concentration
    weights = a / (a + b) * np.concatenate([[1.0], np.cumprod(b / (a + b))[:-1]])
    return weights / weights.sum()


def _point_weights_dirichlet(concentration):
    return concentration / concentration.sum()


# The weights are drawn in log space: rng.beta and rng.dirichlet round a
# stick near 1 to 1.0 and underflow a small weight to 0.0 (as q(v_K) =
# Beta(1 + N_K, alpha0) and a small alpha0 give), where log v, log(1 - v)
# and log pi_k, which the importance ratios of skvi.diagnostics need, are
# lost. From log-Gamma variates they stay finite.


def _log_gamma_variates(shape, size, rng):
    """``log G``, G ~ Gamma(shape, 1), finite however small the shape.

    ``G(a) = G(a + 1) U**(1/a)`` with U ~ Uniform(0, 1] (the boost of
    Marsaglia and Tsang, 2000, for shapes below 1, used for all):
    ``log G = log G(a + 1) + log(U) / a``.
    """
    return (
        np.log(rng.standard_gamma(shape + 1.0, size=size))
        + np.log1p(-rng.uniform(size=size)) / shape
    )


def _sample_log_sticks(concentration, n_samples, rng):
    """``(log v, log(1 - v))`` of the sticks v_k ~ q(v_k) = Beta(a_k, b_k).

    ``v = G_a / (G_a + G_b)`` with independent Gamma variates, in log space;
    each of shape (n_samples, K).
    """
    a, b = concentration
    size = (n_samples, a.shape[0])
    log_a = _log_gamma_variates(a, size, rng)
    log_b = _log_gamma_variates(b, size, rng)
    log_total = np.logaddexp(log_a, log_b)
    return log_a - log_total, log_b - log_total


def _log_stick_breaking_weights(log_sticks):
    """``log pi_k = log v_k + sum_{j<k} log(1 - v_j)``, k <= K."""
    log_v, log_rest = log_sticks
    return log_v + np.cumsum(log_rest, axis=1) - log_rest


def _sample_log_dirichlet(concentration, n_samples, rng):
    """``log pi``, pi ~ Dirichlet(alpha): normalised Gamma variates, in log space."""
    log_gamma = _log_gamma_variates(
        concentration, (n_samples, concentration.shape[0]), rng
    )
    return log_gamma - logsumexp(log_gamma, axis=1, keepdims=True)


def _log_norm_weights_dirichlet_process(concentration):
    return -np.sum(betaln(*concentration))


def _log_norm_weights_dirichlet(concentration):
    return _log_dirichlet_normalizer(concentration)


_WEIGHT_PRIOR = {
    "dirichlet_process": {
        "update": _concentration_dirichlet_process,
        "expected_log": lambda c: stick_breaking_expected_log_weights(*c),
        "kl": _kl_weights_dirichlet_process,
        "point": _point_weights_dirichlet_process,
        # The weights' variables drawn from q (the sticks' log v and
        # log(1 - v)), then log pi of them.
        "sample": _sample_log_sticks,
        "log_weights": _log_stick_breaking_weights,
        "log_norm": _log_norm_weights_dirichlet_process,
        "constant": lambda K, prior: K * np.log(prior),
    },
    "dirichlet_distribution": {
        "update": _concentration_dirichlet,
        "expected_log": dirichlet_expected_log,
        "kl": _kl_weights_dirichlet,
        "point": _point_weights_dirichlet,
        "sample": _sample_log_dirichlet,
        "log_weights": lambda log_pi: log_pi,
        "log_norm": _log_norm_weights_dirichlet,
        "constant": lambda K, prior: gammaln(K * prior) - K * gammaln(prior),
    },
}


# ---------------------------------------------------------------------------
# Initial responsibilities, as scikit-learn's BaseMixture._initialize_parameters.


def _init_kmeans(X, sample_weight, n_components, random_state):
    with warnings.catch_warnings():
        # Fewer distinct rows than components (duplicated points) is no
        # problem for the mixture: the spare components start empty and the
        # prior holds them.
        warnings.filterwarnings(
            "ignore", message="Number of distinct clusters", category=UserWarning
        )
        labels = (
            KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            .fit(X, sample_weight=sample_weight)
            .labels_
        )
    resp = np.zeros((X.shape[0], n_components))
    resp[np.arange(X.shape[0]), labels] = 1.0
    return resp


def _init_kmeans_plusplus(X, sample_weight, n_components, random_state):
    _, indices = kmeans_plusplus(
        X, n_components, random_state=random_state, sample_weight=sample_weight
    )
    resp = np.zeros((X.shape[0], n_components))
    resp[indices, np.arange(n_components)] = 1.0
    return resp


def _init_random(X, sample_weight, n_components, random_state):
    resp = random_state.uniform(size=(X.shape[0], n_components))
    resp /= resp.sum(axis=1)[:, None]
    return resp


def _random_rows(n_samples, sample_weight, n_components, random_state):
    """K distinct rows, uniformly (or in proportion to the weights)."""
    p = None if sample_weight is None else sample_weight / sample_weight.sum()
    if p is not None and np.count_nonzero(p) < n_components:
        raise ValueError(
            f"init_params='random_from_data' needs at least n_components="
            f"{n_components} samples of positive weight; got "
            f"{np.count_nonzero(p)}. Use init_params='kmeans' or fewer components."
        )
    return random_state.choice(n_samples, size=n_components, replace=False, p=p)


def _init_random_from_data(X, sample_weight, n_components, random_state):
    resp = np.zeros((X.shape[0], n_components))
    rows = _random_rows(X.shape[0], sample_weight, n_components, random_state)
    resp[rows, np.arange(n_components)] = 1.0
    return resp


_INIT = {
    "kmeans": _init_kmeans,
    "k-means++": _init_kmeans_plusplus,
    "random": _init_random,
    "random_from_data": _init_random_from_data,
}


# ---------------------------------------------------------------------------
# The two steps, as pure functions of arrays.

# Float64 values an E-step block holds per row: K of log rho and of the
# responsibilities, d of deviations and (diag, spherical) d of their squares,
# and K d of the projections of full and tied: the width by which the
# row-block engine (skvi._core.engine) sizes the blocks.
_ROW_ELEMENTS = {
    "full": lambda K, d: K * d + K + d,
    "tied": lambda K, d: K * d + K + d,
    "diag": lambda K, d: 2 * K + 2 * d,
    "spherical": lambda K, d: 2 * K + 2 * d,
}


def _e_step_operations(n_components, covariance_type):
    """The Python steps of one E-step block, for the row-block engine's policy.

    :func:`_local_step`'s numpy calls and their Python wrappers (counted
    with sys.setprofile by tests/test_blocks.py): about 56 whatever the
    block's size, and two more per component for full scatters (full, tied:
    one syrk each). The engine sizes the blocks from it (skvi._core.engine).
    """
    full = _SCATTER[covariance_type] == "full"
    return 56 + (2 * n_components if full else 0)


def _width(n_components, n_features, covariance_type):
    """Float64 values per row of an E-step block (:data:`_ROW_ELEMENTS`)."""
    return _ROW_ELEMENTS[covariance_type](n_components, n_features)


def _deviations(X, model):
    """``d = x - centre`` (float64) and, for diag and spherical, ``d * d``."""
    deviation = np.subtract(X, model["centre"], dtype=np.float64)
    squares = (
        np.multiply(deviation, deviation)
        if _SCATTER[model["covariance_type"]] == "diag"
        else None
    )
    return deviation, squares


def _log_rho_from(deviation, squares, params, model, terms=None):
    """``log rho_ik`` of the E-step (Bishop 10.46), shape (K, n_rows), and far rows.

    Returns ``(log_rho, shift)``: ``shift`` is None, or for rows far enough
    that a Mahalanobis term overflows float64 (see :func:`_far_log_rho`) the
    part of ``log rho_ik`` common to all k (0 for the other rows), which
    ``log_rho`` then leaves out.
    """
    if terms is None:
        terms = _mahalanobis_terms(params["means"] - model["centre"], params, model)
    mahalanobis = _TERMS[model["covariance_type"]][1](deviation, squares, terms)
    # log rho = E[log pi] + 1/2 (E[log|Lambda|] - d log 2 pi - d / beta - mahalanobis)
    mahalanobis -= params["log_rho_offset"][:, None]
    mahalanobis *= -0.5
    shift = None
    if not np.isfinite(mahalanobis.sum()):
        far = ~np.isfinite(mahalanobis).all(axis=0)
        if far.any():
            shift = np.zeros(deviation.shape[0])
            mahalanobis[:, far], shift[far] = _far_log_rho(
                deviation[far], params["means"] - model["centre"], params, model
            )
    return mahalanobis, shift


def _far_log_rho(deviation, shifted_means, params, model):
    """``log rho_ik`` of rows whose Mahalanobis terms overflow, as (relative, shift).

    For each row, with ``s`` the power of two at or below max_j |x_ij - c_j|
    (exact scaling), ``D_ik = s**2 Q_ik`` where ``Q_ik`` is the Mahalanobis
    term of ``(x_i - c) / s`` about ``(m_k - c) / s``, of order one. Then
    ``log rho_ik = shift_i + relative_ik`` with ``shift_i = -s**2 min_k
    Q_ik / 2`` (-inf when it overflows: the density is below float64's range)
    and ``relative_ik = -s**2 (Q_ik - min_k Q_ik) / 2 + offset_k / 2``: the
    nearest component, in the metric of q, takes the row, as it does in the
    limit; ties are split by E[log pi_k] and the log-determinants.
    """
    scale = np.ldexp(1.0, np.frexp(np.abs(deviation).max(axis=1))[1] - 1)
    relative = np.empty((shifted_means.shape[0], deviation.shape[0]))
    shift = np.empty(deviation.shape[0])
    # Rows of one scale at a time: far rows are few, their scales fewer.
    for value in np.unique(scale):
        rows = scale == value
        scaled = deviation[rows] / value
        q = _mahalanobis(
            scaled,
            scaled * scaled,
            shifted_means / value,
            params["precisions_cholesky"],
            model["covariance_type"],
        )
        nearest = q.min(axis=0)
        shift[rows] = -0.5 * nearest * value * value
        relative[:, rows] = -0.5 * (q - nearest) * value * value
    relative += 0.5 * params["log_rho_offset"][:, None]
    return relative, shift


def _log_rho(X, params, model, terms=None):
    """``(log rho_ik, shift)`` of :func:`_log_rho_from` on rows of X."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _log_rho_from(*_deviations(X, model), params, model, terms)


def _log_normalise(log_rho, shift=None):
    """``log sum_k rho_ik`` per row; ``log_rho`` becomes ``log r_ik`` in place.

    The log-sum-exp shifted by each row's largest term (plus ``shift``, the
    far rows' common term, see :func:`_log_rho_from`); returns also the
    responsibilities ``r_ik = rho_ik / sum_j rho_ij`` (Bishop 10.49).
    """
    top = log_rho.max(axis=0)
    log_rho -= top
    resp = np.exp(log_rho)
    total = resp.sum(axis=0)
    resp /= total
    log_total = np.log(total)
    log_rho -= log_total
    top += log_total
    if shift is not None:
        top += shift
        # r log r is 0 where r is 0 (log r = -inf for a far row's others).
        np.maximum(log_rho, np.finfo(np.float64).min, out=log_rho)
    return top, resp


def _local_step(X, sample_weight, params, model, terms=None):
    """E-step on rows of X, reduced to what the M-step and the ELBO need.

    ``terms``: the pass's :func:`_mahalanobis_terms`, computed here if None.

    Returns
    -------
    statistics : SufficientStatistics
        Responsibility-weighted statistics of these rows.
    log_norm : float
        ``sum_i w_i log sum_k rho_ik``.
    neg_entropy : float
        ``sum_i w_i sum_k r_ik log r_ik``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        deviation, squares = _deviations(X, model)
        log_resp, shift = _log_rho_from(deviation, squares, params, model, terms)
    log_norm, resp = _log_normalise(log_resp, shift)
    np.multiply(log_resp, resp, out=log_resp)
    row_neg_entropy = log_resp.sum(axis=0)
    if sample_weight is None:
        total_log_norm, neg_entropy = log_norm.sum(), row_neg_entropy.sum()
    else:
        total_log_norm = np.dot(sample_weight, log_norm)
        neg_entropy = np.dot(sample_weight, row_neg_entropy)
        resp *= sample_weight
    # The M-step's statistics reuse the block's d (and d * d): one block of
    # the engine's pass, with no pass of its own.
    statistics = statistics_about(
        X,
        deviation,
        squares,
        resp.T,
        model["centre"],
        scatter=_SCATTER[model["covariance_type"]],
    )
    return statistics, float(total_log_norm), float(neg_entropy)


def _merge_local(parts):
    statistics = SufficientStatistics.merge_all([part[0] for part in parts])
    return (
        statistics,
        float(np.sum([part[1] for part in parts])),
        float(np.sum([part[2] for part in parts])),
    )


def _blockwise_local(X, sample_weight, params, model):
    """:func:`_local_step` over row blocks of X, on all cores, merged in order.

    Through the row-block engine (skvi._core.engine): blocks that depend on X's
    shape only, merged in block order, so that results do not depend on the
    thread count; blocks whose statistics are large (a full scatter per
    component at large d) are merged in fixed groups as they go, so that
    memory holds a bounded number of them. On a dask array this runs on each
    chunk, on its worker.
    """
    n_samples, d = X.shape
    K, covariance_type = model["n_components"], model["covariance_type"]
    width = _width(K, d, covariance_type)
    result = K * d * (d if _SCATTER[covariance_type] == "full" else 1)
    block_rows, _ = engine.plan(
        n_samples, width, operations=_e_step_operations(K, covariance_type)
    )
    if _SCATTER[covariance_type] == "full":
        # Each block's full statistics are merged at O(K d**2): blocks of at
        # least d rows keep that below the E-step's O(rows K d**2) on wide
        # data (d = 1000: 58-row blocks spent 70% of the time merging).
        block_rows = max(block_rows, d)
    block_rows, group_blocks = engine.plan(
        n_samples, width, block_rows=block_rows, result_elements=result
    )

    terms = _mahalanobis_terms(params["means"] - model["centre"], params, model)

    def block_step(rows):
        weights = None if sample_weight is None else sample_weight[rows]
        return _local_step(X[rows], weights, params, model, terms)

    return _merge_local(
        engine.map_blocks(
            block_step,
            n_samples,
            block_rows,
            merge=_merge_local,
            group_blocks=group_blocks,
            row_elements=width,
        )
    )


def _chunk_moments(rows, weights, *, scatter):
    """``(n_rows, statistics)`` of one dask chunk, for the data-dependent priors."""
    return rows.shape[0], sufficient_statistics(rows, weights, scatter=scatter)


def _chunk_nearest_statistics(rows, weights, *, centres, scatter, reference):
    """Statistics of one chunk with each row given to its nearest centre."""
    distances = (
        (rows * rows).sum(1)[:, None] - 2.0 * rows @ centres.T + (centres**2).sum(1)
    )
    resp = np.zeros((rows.shape[0], centres.shape[0]))
    resp[np.arange(rows.shape[0]), distances.argmin(axis=1)] = 1.0
    return sufficient_statistics(
        rows, weights, resp, scatter=scatter, reference=reference
    )


def _m_step(statistics, model):
    """q(pi), q(mu_k | Lambda_k), q(Lambda_k) from statistics (Bishop 10.58-10.63).

    Returns the parameters in scikit-learn's form plus the E-step's
    per-component constant ``log_rho_offset``.
    """
    covariance_type = model["covariance_type"]
    K = model["n_components"]
    n_k = np.asarray(statistics.weight, dtype=np.float64)
    data_mean = np.where(n_k[:, None] > 0, statistics.mean, model["mean_prior"])
    concentration = _WEIGHT_PRIOR[model["weight_prior_type"]]["update"](
        n_k, model["weight_concentration_prior"]
    )
    beta0 = model["mean_precision_prior"]
    mean_precision = beta0 + n_k
    means = (beta0 * model["mean_prior"] + n_k[:, None] * data_mean) / mean_precision[
        :, None
    ]
    deviation = data_mean - model["mean_prior"]
    shrink = beta0 * n_k / mean_precision
    A = _INVERSE_SCALE[covariance_type](
        model["prior_inverse_scale"],
        statistics.scatter,
        deviation,
        shrink,
        n_k,
        model["reg_covar"],
        K,
    )
    dof = model["degrees_of_freedom_prior"] + (
        n_k.sum() / K if covariance_type == "tied" else n_k
    )
    return _parameters(concentration, mean_precision, means, dof, A, model)


def _parameters(concentration, mean_precision, means, dof, inverse_scale, model):
    """q(theta)'s parameters from the M-step's or SVI step's new values.

    ``covariances = A / nu`` (A the inverse Wishart scale of the covariance
    type), their precision Cholesky factors, then :func:`_complete`. Both
    callers build ``inverse_scale`` afresh, and it becomes ``covariances`` in
    place: at d = 1000, K = 8, a second (K, d, d) array was 64 MB more at the
    M-step's peak.
    """
    covariance_type = model["covariance_type"]
    covariances = np.divide(
        inverse_scale,
        np.reshape(dof, _DOF_SHAPE[covariance_type]),
        out=inverse_scale,
    )
    _check_representable(means, covariances)
    params = {
        "weight_concentration": concentration,
        "mean_precision": mean_precision,
        "means": means,
        "degrees_of_freedom": dof,
        "covariances": covariances,
        "precisions_cholesky": _PRECISION_CHOLESKY[covariance_type](covariances),
    }
    return _complete(params, model)


def _wishart_scale(params, model):
    """The Wishart scales ``W_k`` as (K, d, d) matrices, whatever the type.

    Not part of :func:`_complete`: the fit's iterations do not need them (the
    KL takes its terms from the factors, :data:`_WISHART_TERMS`), and K dense
    d x d matrices for the diagonal types cost more than their iteration at
    d = 1000. The SVI step, sampling and the diagnostics ask for them.
    """
    K, d = params["means"].shape
    return _SCALE[model["covariance_type"]](
        params["precisions_cholesky"], params["degrees_of_freedom"], K, d
    )


def _complete(params, model):
    """Add log|W_k| and the E-step's per-component constant."""
    K, d = params["means"].shape
    dof = np.broadcast_to(params["degrees_of_freedom"], (K,))
    expected_log_weights = _WEIGHT_PRIOR[model["weight_prior_type"]]["expected_log"](
        params["weight_concentration"]
    )
    log_det_scale = np.broadcast_to(
        _LOG_DET_SCALE[model["covariance_type"]](
            params["precisions_cholesky"], params["degrees_of_freedom"], d
        ),
        (K,),
    )
    params["log_det_scale"] = log_det_scale
    params["expected_log_det"] = _expected_log_det(dof, log_det_scale, d)
    # -2 (E[log pi_k] + 1/2 E[log|Lambda_k|] - d/2 log 2 pi - d / (2 beta_k))
    params["log_rho_offset"] = (
        2.0 * expected_log_weights
        + params["expected_log_det"]
        - d * LOG_2PI
        - d / params["mean_precision"]
    )
    return params


def _natural_gradient_step(params, target, step_size, model):
    """SVI step on q(pi) and each q(mu_k, Lambda_k) (Hoffman et al. 2013, eq. 25).

    ``eta <- (1 - rho) eta + rho eta_hat`` on the natural parameters of each
    conjugate factor; the stepped Wishart scale is then projected on the
    covariance type's family as in the M-step (``A = W^-1``: its mean over
    the components for tied, its diagonal for diag, the mean of that for
    spherical).
    """
    covariance_type = model["covariance_type"]
    K = model["n_components"]
    to_natural, from_natural = _WEIGHT_NATURAL[model["weight_prior_type"]]
    concentration = from_natural(
        natural_step(
            to_natural(params["weight_concentration"]),
            to_natural(target["weight_concentration"]),
            step_size,
        )
    )
    natural = [
        normal_wishart_to_natural(
            p["means"],
            p["mean_precision"],
            np.broadcast_to(p["degrees_of_freedom"], (K,)),
            _wishart_scale(p, model),
        )
        for p in (params, target)
    ]
    means, mean_precision, dof, scale = natural_to_normal_wishart(
        natural_step(*natural, step_size)
    )
    inverse_scale = np.linalg.inv(scale)
    A = {
        "full": lambda a: a,
        "tied": lambda a: a.mean(0),
        "diag": lambda a: np.diagonal(a, axis1=1, axis2=2).copy(),
        "spherical": lambda a: np.diagonal(a, axis1=1, axis2=2).mean(1),
    }[covariance_type](inverse_scale)
    if covariance_type == "tied":
        dof = float(dof.mean())
    return _parameters(concentration, mean_precision, means, dof, A, model)


def _beta_to_natural(concentration):
    return beta_to_natural(*concentration)


_WEIGHT_NATURAL = {
    "dirichlet_process": (_beta_to_natural, natural_to_beta),
    "dirichlet_distribution": (dirichlet_to_natural, natural_to_dirichlet),
}


# The KL of each q(mu_k, Lambda_k) needs tr(W0^-1 W_k), log|W0^-1 W_k| and
# (m_k - m0)^T E[Lambda_k] (m_k - m0). From the precision factors U_k
# (nu_k W_k = U_k U_k^T) and the Cholesky factor L0 of the prior's inverse
# scale A0 = W0^-1 = L0 L0^T (once per call):
#   tr(A0 W_k) = ||U_k^T L0||_F**2 / nu_k       (a sum of squares)
#   log|W0^-1 W_k| = log|W_k| + log|A0|          (both from diagonals)
#   nu_k (m_k - m0)^T W_k (m_k - m0) = ||U_k^T (m_k - m0)||**2
# One product of two triangles per component for full (one for tied),
# O(K d**2) for the diagonal types. Factorising each W_k again and solving
# with the factor of W0 = inv(A0) (kl_normal_wishart on the matrices) took
# three more O(K d**3) steps per ELBO (K times the same d x d work for tied:
# 1.4 s per iteration at d = 1000), and lost digits where A0 is
# ill-conditioned: with the default covariance_prior of 60 rows in 1000
# dimensions (cond(A0) ~ 4e8) tr(A0 W_k) came out 243.4975 for 243.3332,
# the ELBO 35 nats off. The sum of squares has no cancellation;
# sum_ij (A0)_ij (W_k)_ij, as cheap given W_k, had terms 2.6e6 times larger
# than their sum there.


def _lower_product_square_norm(a, b):
    """``||a b||_F**2`` for lower-triangular ``a``, ``b`` (d x d), in ~2/3 d**3 flops.

    ``a b`` is lower triangular: with halves ``[[a11, 0], [a21, a22]]``,
    ``c11 = a11 b11``, ``c21 = a21 b11 + a22 b21``, ``c22 = a22 b22``, the
    diagonal blocks recursively, the rest by BLAS: a third of a dense
    product's 2 d**3 flops (2.2x faster at d = 1000; BLAS trmm, which
    exploits one triangle, was no faster than the dense product).
    """
    d = a.shape[0]
    if d <= 128:
        return np.square(np.dot(a, b)).sum()
    h = d // 2
    lower_left = np.dot(a[h:, :h], b[:h, :h])
    lower_left += np.dot(a[h:, h:], b[h:, :h])
    return (
        _lower_product_square_norm(a[:h, :h], b[:h, :h])
        + np.square(lower_left).sum()
        + _lower_product_square_norm(a[h:, h:], b[h:, h:])
    )


def _prior_factor(prior_inverse_scale):
    """``L0`` with ``L0 L0^T = A0`` and ``log|A0| = 2 sum_j log (L0)_jj``."""
    factor = np.linalg.cholesky(prior_inverse_scale)
    # contiguous copy: see skvi._core.expectations._log_det_from_cholesky
    return factor, 2.0 * np.log(np.diagonal(factor).copy()).sum()


def _wishart_terms_full(factors, dof, shift, prior_inverse_scale):
    """``tr(A0 W_k)``, ``||U_k^T (m_k - m0)||**2`` and ``log|A0|``, full."""
    prior_factor, log_det_prior = _prior_factor(prior_inverse_scale)
    # One U_k^T L0 (lower times lower) at a time: no (K, d, d) array.
    trace = np.array(
        [_lower_product_square_norm(factor.T, prior_factor) for factor in factors]
    )
    trace /= dof
    projected = np.matmul(shift[:, None, :], factors)[:, 0]
    return trace, np.square(projected).sum(1), log_det_prior


def _wishart_terms_tied(factors, dof, shift, prior_inverse_scale):
    """The same with one ``U`` for every component: computed once."""
    prior_factor, log_det_prior = _prior_factor(prior_inverse_scale)
    trace = _lower_product_square_norm(factors.T, prior_factor) / dof[0]
    projected = np.dot(shift, factors)
    return trace, np.square(projected).sum(1), log_det_prior


def _wishart_terms_diag(factors, dof, shift, prior_inverse_scale):
    """The same with diagonal ``U_k``, ``A0``: ``sum_j a0_j u_kj**2 / nu_k``."""
    trace = np.dot(factors**2 / dof[:, None], prior_inverse_scale)
    projected = factors * shift
    return trace, np.square(projected).sum(1), np.log(prior_inverse_scale).sum()


def _wishart_terms_spherical(factors, dof, shift, prior_inverse_scale):
    """The same with ``U_k = u_k I``, ``A0 = a0 I``: ``d a0 u_k**2 / nu_k``."""
    d = shift.shape[1]
    trace = d * prior_inverse_scale * (factors**2 / dof)
    quadratic = factors**2 * np.square(shift).sum(1)
    return trace, quadratic, d * np.log(prior_inverse_scale)


_WISHART_TERMS = {
    "full": _wishart_terms_full,
    "tied": _wishart_terms_tied,
    "diag": _wishart_terms_diag,
    "spherical": _wishart_terms_spherical,
}


def _kl_to_prior(params, model):
    """``KL(q(pi) || p(pi)) + sum_k KL(q(mu_k, Lambda_k) || p(mu_k, Lambda_k))``.

    The Normal-Wishart terms from the precision factors (see above), by
    skvi._core.kl's formula (Bishop 10.74, 10.77, B.78-B.81).
    """
    K, d = params["means"].shape
    dof = np.broadcast_to(params["degrees_of_freedom"], (K,))
    kl_weights = _WEIGHT_PRIOR[model["weight_prior_type"]]["kl"](
        params["weight_concentration"], model["weight_concentration_prior"]
    )
    trace, expected_quadratic, log_det_prior = _WISHART_TERMS[model["covariance_type"]](
        params["precisions_cholesky"],
        dof,
        params["means"] - model["mean_prior"],
        np.asarray(model["prior_inverse_scale"], dtype=np.float64),
    )
    kl_components = _kl_normal_wishart_from(
        d,
        params["mean_precision"],
        dof,
        model["mean_precision_prior"],
        model["degrees_of_freedom_prior"],
        trace=trace,
        log_det=params["log_det_scale"] + log_det_prior,
        expected_quadratic=expected_quadratic,
    )
    return kl_weights + float(np.sum(kl_components))


def _sklearn_lower_bound(neg_entropy, params, model):
    """scikit-learn's ``_compute_lower_bound``: the ELBO less the constant c above."""
    K, d = params["means"].shape
    dof = np.broadcast_to(params["degrees_of_freedom"], (K,))
    # log B(W_k, nu_k) + d(d-1)/4 log pi: scikit-learn's _log_wishart_norm
    log_wishart = _wishart_log_normalizer(dof, params["log_det_scale"], d) + d * (
        d - 1
    ) / 4 * np.log(np.pi)
    log_norm_weight = _WEIGHT_PRIOR[model["weight_prior_type"]]["log_norm"](
        params["weight_concentration"]
    )
    return float(
        -neg_entropy
        - np.sum(log_wishart)
        - log_norm_weight
        - 0.5 * d * np.sum(np.log(params["mean_precision"]))
    )


def _lower_bound_constant(model, total_weight):
    """The constant c with ``ELBO = lower bound + c`` at an M-step (reg_covar=0)."""
    K = model["n_components"]
    d = model["mean_prior"].shape[0]
    nu0 = model["degrees_of_freedom_prior"]
    log_b0 = _wishart_log_normalizer(nu0, np.linalg.slogdet(model["prior_scale"])[1], d)
    weights = _WEIGHT_PRIOR[model["weight_prior_type"]]["constant"](
        K, model["weight_concentration_prior"]
    )
    return float(
        K
        * (
            d * (d - 1) / 4 * np.log(np.pi)
            + 0.5 * d * np.log(model["mean_precision_prior"])
            + log_b0
        )
        - 0.5 * total_weight * d * LOG_2PI
        + weights
    )


class VariationalGaussianMixture(VariationalEstimator, DensityMixin, BaseEstimator):
    """Bayesian Gaussian mixture by CAVI: scikit-learn's model, with the full ELBO.

    A drop-in for :class:`sklearn.mixture.BayesianGaussianMixture`: the same
    model, parameters, defaults, updates and fitted attributes (given the same
    initial responsibilities the fits agree to rounding), and in addition

    - ``sample_weight`` (frequency weights) in :meth:`fit`;
    - ``elbo_`` and ``elbo_history_``: the full evidence lower bound, with no
      constant dropped, comparable across priors, models and data sets;
    - :meth:`sample_posterior`: whole parameter sets drawn from q;
    - :meth:`partial_fit`: stochastic variational inference on a stream;
    - dask arrays: the E-step runs blockwise on the workers, and only the
      O(K d^2) statistics come back per iteration.

    Parameters
    ----------
    n_components : int, default=1
        Number of components K (an upper bound: the Dirichlet-process prior
        switches surplus components off).

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Family of the Wishart scale of each q(Lambda_k): any matrix, one
        shared by all components, diagonal, or a multiple of the identity.

    tol : float, default=1e-3
        Convergence threshold, scikit-learn's rule exactly: iterations stop
        when ``lower_bound_`` (scikit-learn's bound, a total over the samples)
        changes by strictly less than ``tol``, so that ``n_iter_`` and the fit
        match :class:`~sklearn.mixture.BayesianGaussianMixture`'s.

    reg_covar : float, default=1e-6
        Added to the diagonal of each component's empirical covariance, as in
        scikit-learn. With 0 the updates are exact CAVI and the ELBO never
        decreases (a decrease raises ELBODecreaseWarning). With a positive
        value the regularised M-step is not exact coordinate ascent, and the
        ELBO can dip slightly near convergence (by ~1e-9 of its value on
        standardised data): expected, so not warned about.

    max_iter : int, default=100
        Maximum number of iterations (E-step then M-step) per initialisation.

    n_init : int, default=1
        Number of initialisations; the one with the highest ELBO is kept.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the initial responsibilities are chosen, as scikit-learn does.

    weight_concentration_prior_type : {'dirichlet_process', \
            'dirichlet_distribution'}, default='dirichlet_process'
        Truncated stick-breaking prior, or a symmetric Dirichlet.

    weight_concentration_prior : float or None, default=None
        alpha0; None means ``1 / n_components``.

    mean_precision_prior : float or None, default=None
        beta0; None means 1.

    mean_prior : array-like of shape (n_features,) or None, default=None
        m0; None means the (weighted) mean of X.

    degrees_of_freedom_prior : float or None, default=None
        nu0 > n_features - 1; None means n_features.

    covariance_prior : float or array-like, default=None
        W0^-1, of shape (n_features, n_features) for 'full' and 'tied',
        (n_features,) for 'diag', a float for 'spherical'; None means the
        (weighted, ddof=1) empirical covariance of X, its diagonal, or the
        mean of its diagonal.

    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation (and :meth:`sample`, as scikit-learn's).

    warm_start : bool, default=False
        Continue from the fitted state on the next :meth:`fit`.

    verbose : int, default=0
        Print progress.

    verbose_interval : int, default=10
        Iterations between two progress lines.

    learning_decay : float, default=0.7
        kappa in (0.5, 1] of the step size ``(learning_offset + t)^-kappa`` of
        :meth:`partial_fit` (named as in LatentDirichletAllocation).

    learning_offset : float, default=10.0
        tau0 >= 0 of that step size; it down-weights the early chunks.

    total_samples : float, default=1e6
        Size of the whole data set that :meth:`partial_fit` streams through
        (the chunk statistics are scaled up to it).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Point estimate of the weights (scikit-learn's).
    means_ : ndarray of shape (n_components, n_features)
        m_k, the means of q(mu_k).
    covariances_ : ndarray
        ``W_k^-1 / nu_k`` (scikit-learn's normalisation): the inverse of
        ``E_q[Lambda_k]``; shape (K, d, d), (d, d), (K, d) or (K,) by type.
    precisions_ : ndarray
        ``E_q[Lambda_k] = nu_k W_k``, same shapes.
    precisions_cholesky_ : ndarray
        Upper Cholesky factor U_k of ``precisions_`` (``U_k U_k^T``).
    weight_concentration_ : ndarray or tuple of two ndarrays
        alpha_k of q(pi), or (a_k, b_k) of the q(v_k).
    mean_precision_ : ndarray of shape (n_components,)
        beta_k.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        nu_k.
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, \
degrees_of_freedom_prior_, covariance_prior_
        The priors used.
    elbo_ : float
        The full ELBO of the fit: ``score(X_train) * W == elbo_`` with W the
        total training weight.
    elbo_history_ : ndarray of shape (n_iter_,)
        The ELBO after each iteration of the kept initialisation;
        non-decreasing.
    lower_bound_ : float
        scikit-learn's bound (constants dropped) at the last iteration.
    lower_bounds_ : list of float
        scikit-learn's bound at each iteration.
    n_iter_ : int
    converged_ : bool
    n_samples_seen_ : float
        Total sample weight W that q's KL is shared among in score_samples:
        the training weight for fit, ``total_samples`` after partial_fit.
    n_batch_iter_ : int
        Number of partial_fit steps taken (t of the step size).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : The same model, without sample
        weights, streaming, dask or the full ELBO.

    Notes
    -----
    **The ELBO and scikit-learn's bound.** One iteration is an E-step then an
    M-step.
    scikit-learn's ``lower_bound_`` is its bound of the last M-step's
    q(theta) with the q(Z) of the E-step before it; with ``reg_covar=0`` that
    bound is the full ELBO of that pair minus the constant::

        c = K [d(d-1)/4 log pi + d/2 log beta0 + log B(W0, nu0)]
            - W d/2 log(2 pi) + {lgamma(K alpha0) - K lgamma(alpha0) | K log alpha0}

        log B(W0, nu0) = -nu0/2 log|W0| - nu0 d/2 log 2 - log Gamma_d(nu0/2)

    (Dirichlet | Dirichlet process). ``elbo_`` is the ELBO of the final q(theta)
    with the q(Z) of the final E-step that scikit-learn also runs (so that
    ``fit_predict`` agrees with ``predict``): being one more coordinate-ascent
    step, ``elbo_ >= lower_bound_ + c``, with equality at convergence. In
    short ``elbo_ - lower_bound_ -> c`` as ``tol -> 0``.

    **score_samples** is each sample's share of the ELBO with its optimal
    q(z_i): ``log sum_k exp(E[log pi_k] + E[log N(x | mu_k, Lambda_k^-1)])
    - KL(q(theta) || p(theta)) / W``. It differs from scikit-learn's
    score_samples by the constant KL / W.

    References
    ----------
    .. [1] C. M. Bishop, "Pattern Recognition and Machine Learning", 2006,
       §10.2.
    .. [2] D. M. Blei and M. I. Jordan, "Variational inference for Dirichlet
       process mixtures", Bayesian Analysis 1(1), 2006.
    .. [3] M. D. Hoffman, D. M. Blei, C. Wang and J. Paisley, "Stochastic
       variational inference", JMLR 14, 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi import VariationalGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (200, 2)), rng.normal(3, 1, (200, 2))])
    >>> vgm = VariationalGaussianMixture(n_components=5, random_state=0).fit(X)
    >>> int((vgm.weights_ > 0.05).sum())
    2
    >>> bool(np.isclose(vgm.score(X) * len(X), vgm.elbo_))
    True
    """

    _parameter_constraints = {
        "n_components": [POSITIVE_INT],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "tol": [NON_NEGATIVE_REAL],
        "reg_covar": [NON_NEGATIVE_REAL],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_init": [POSITIVE_INT],
        "init_params": [
            StrOptions({"kmeans", "random", "random_from_data", "k-means++"})
        ],
        "weight_concentration_prior_type": [
            StrOptions({"dirichlet_process", "dirichlet_distribution"})
        ],
        "weight_concentration_prior": [
            None,
            Interval(numbers.Real, 0.0, None, closed="neither"),
        ],
        "mean_precision_prior": [
            None,
            Interval(numbers.Real, 0.0, None, closed="neither"),
        ],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [
            None,
            Interval(numbers.Real, 0.0, None, closed="neither"),
        ],
        "covariance_prior": [
            None,
            "array-like",
            Interval(numbers.Real, 0.0, None, closed="neither"),
        ],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [POSITIVE_INT],
        **SVI_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        learning_decay=0.7,
        learning_offset=10.0,
        total_samples=1e6,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.total_samples = total_samples

    # -- reading the data and the priors -----------------------------------

    def _fit_data(self, X, sample_weight, *, reset):
        """Validate X, read it once for the data-dependent priors; the model dict."""
        if reset and self.warm_start and hasattr(self, "converged_"):
            self._check_continuation(
                "fit with warm_start=True", np.shape(X)[1] if np.ndim(X) == 2 else None
            )
        space = array_space(X)
        # The finiteness check sums X: inf + -inf there is the error it
        # raises, not a numpy warning.
        with np.errstate(invalid="ignore", over="ignore"):
            X, sample_weight = check_data(
                self, X, sample_weight, reset=reset, ensure_min_samples=2
            )
        scatter = _SCATTER[self.covariance_type]
        self._fit_space = space
        if space is not None:
            # Another library's array (array API dispatch): the passes over
            # its rows run where it lives (skvi._core.array_api).
            n_samples = X.shape[0]
            data = _device_data(X, sample_weight, space)
            moments = array_api.statistics(
                X,
                data["device_weight"],
                space,
                scatter=scatter,
                estimator_name=type(self).__name__,
            )
        elif is_dask_collection(X):
            from .._core.dask_passes import dask_reduce

            parts = dask_reduce(
                X,
                sample_weight,
                partial(_chunk_moments, scatter=scatter),
                ensure_min_samples=2,
                estimator_name=type(self).__name__,
            )
            n_samples = sum(n for n, _ in parts)
            moments = SufficientStatistics.merge_all([part for _, part in parts])
            data = {"X": None, "dask": X, "sample_weight": sample_weight}
        else:
            n_samples = X.shape[0]
            moments = sufficient_statistics(
                X, sample_weight, scatter=scatter, estimator_name=type(self).__name__
            )
            data = {"X": X, "sample_weight": sample_weight}
        _check_representable(moments.mean, moments.scatter)
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {n_samples}"
            )
        return dict(data, n_samples=n_samples, model=self._model(moments))

    def _model(self, moments):
        """The resolved priors and settings, as the pure functions take them."""
        weight = float(moments.weight[0])
        data_mean = moments.mean[0]
        d = data_mean.shape[0]
        covariance_type = self.covariance_type
        mean_prior = (
            data_mean
            if self.mean_prior is None
            else self._check_vector(self.mean_prior, "mean_prior", d)
        )
        dof_prior = self._check_dof_prior(d)
        if self.covariance_prior is None:
            covariance_prior = self._empirical_covariance_prior(moments, weight)
        else:
            covariance_prior = self._check_covariance_prior(d)
        prior_inverse_scale_matrix = _as_matrix(covariance_prior, covariance_type, d)
        scatter = moments.scatter[0]
        self._warn_if_reg_covar_dominates(
            (np.diagonal(scatter) if scatter.ndim == 2 else scatter) / weight
        )
        return {
            "covariance_type": covariance_type,
            "weight_prior_type": self.weight_concentration_prior_type,
            "n_components": self.n_components,
            "weight_concentration_prior": float(
                1.0 / self.n_components
                if self.weight_concentration_prior is None
                else self.weight_concentration_prior
            ),
            "mean_precision_prior": float(
                1.0 if self.mean_precision_prior is None else self.mean_precision_prior
            ),
            "mean_prior": mean_prior,
            "degrees_of_freedom_prior": dof_prior,
            "covariance_prior": covariance_prior,
            "prior_inverse_scale": covariance_prior,
            "prior_scale": np.linalg.inv(prior_inverse_scale_matrix),
            "reg_covar": float(self.reg_covar),
            # The E-step's statistics and expansions are taken about this point.
            "centre": data_mean,
            "total_weight": weight,
        }

    def _warn_if_reg_covar_dominates(self, variances):
        """Warn when reg_covar is at least the smallest variance of a feature.

        The M-step adds ``reg_covar`` to every component's covariance: on
        data whose spread is of its order (variances of 1e-6 or less at the
        default 1e-6) it widens each component past the gaps between them,
        and clusters merge. scikit-learn says nothing; skvi warns.
        """
        spread = variances[variances > 0]
        if self.reg_covar > 0 and spread.size and self.reg_covar >= spread.min():
            with np.errstate(over="ignore"):
                ratio = self.reg_covar / spread.min()
            times = f"{ratio:.3g} times" if np.isfinite(ratio) else "over 1e308 times"
            warnings.warn(
                f"reg_covar={self.reg_covar:g} is {times} "
                f"the smallest variance of a feature of X ({spread.min():.3g}): "
                "it dominates the components' covariances and can merge clusters. "
                "Standardise X (e.g. sklearn.preprocessing.StandardScaler) or "
                "lower reg_covar.",
                UserWarning,
                stacklevel=5,
            )

    def _empirical_covariance_prior(self, moments, weight):
        """Weighted empirical covariance (ddof=1), its diagonal, or the mean of it."""
        if weight <= 1.0:
            raise ValueError(
                f"The total sample weight is {weight:g} <= 1, too little for the "
                "default covariance_prior (the empirical covariance, ddof=1). "
                "sample_weight are frequency weights (counts), not probabilities: "
                "scale them to the number of observations, or set covariance_prior."
            )
        scatter = moments.scatter[0] / (weight - 1.0)
        covariance = {
            "full": lambda: scatter,
            "tied": lambda: scatter,
            "diag": lambda: scatter,
            "spherical": lambda: float(scatter.mean()),
        }[self.covariance_type]()
        # A singular empirical covariance (fewer samples than features, a
        # constant or collinear feature) would make the prior improper:
        # regularise it as the components are.
        matrix = _as_matrix(covariance, self.covariance_type, scatter.shape[-1])
        if _is_singular(matrix, moments.mean[0]):
            if self.reg_covar == 0:
                raise ValueError(
                    "The empirical covariance of X is singular (fewer samples "
                    "than features, or a constant or collinear feature), so it "
                    "cannot be the default covariance_prior with reg_covar=0. "
                    "Set reg_covar > 0 or pass covariance_prior."
                )
            d = matrix.shape[0]
            covariance = {
                "full": lambda c: c + self.reg_covar * np.eye(d),
                "tied": lambda c: c + self.reg_covar * np.eye(d),
                "diag": lambda c: c + self.reg_covar,
                "spherical": lambda c: c + self.reg_covar,
            }[self.covariance_type](covariance)
        return covariance

    def _check_priors(self, d):
        """Check the given priors against d features (InvalidParameterError)."""
        if self.mean_prior is not None:
            self._check_vector(self.mean_prior, "mean_prior", d)
        self._check_dof_prior(d)
        if self.covariance_prior is not None:
            self._check_covariance_prior(d)

    def _check_dof_prior(self, d):
        if self.degrees_of_freedom_prior is None:
            return float(d)
        if self.degrees_of_freedom_prior > d - 1.0:
            return float(self.degrees_of_freedom_prior)
        raise InvalidParameterError(
            "The parameter 'degrees_of_freedom_prior' should be greater than "
            f"{d - 1}, but got {self.degrees_of_freedom_prior:.3f}."
        )

    @staticmethod
    def _check_vector(value, name, d):
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.full(1, np.nan)
        if array.shape != (d,) or not np.all(np.isfinite(array)):
            raise InvalidParameterError(
                f"The parameter '{name}' should have the shape ({d},) = "
                f"(n_features,) and finite values, but got {value!r}."
            )
        return array

    def _check_covariance_prior(self, d):
        value = self.covariance_prior
        covariance_type = self.covariance_type
        expected = {"full": (d, d), "tied": (d, d), "diag": (d,), "spherical": ()}[
            covariance_type
        ]
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.full(1, np.nan)
        if array.shape != expected:
            raise InvalidParameterError(
                f"The parameter '{covariance_type} covariance_prior' should have "
                f"the shape {expected}, but got {array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise InvalidParameterError(
                f"The parameter '{covariance_type} covariance_prior' should hold "
                f"finite numbers, but got {value!r}."
            )
        matrix = _as_matrix(array, covariance_type, d)
        if not (np.allclose(matrix, matrix.T) and np.linalg.eigvalsh(matrix)[0] > 0.0):
            raise InvalidParameterError(
                f"'{covariance_type} covariance_prior' should be symmetric, "
                "positive-definite."
            )
        return float(array) if covariance_type == "spherical" else array

    # -- the hooks of the CAVI loop -----------------------------------------

    def _expectation(self, data, params):
        """The E-step over all of X, reduced to statistics, log-norm, entropy.

        On a dask collection each chunk is reduced on its worker and only
        the statistics (O(K d^2) numbers) come back to the client.
        """
        if data.get("dask") is not None:
            from .._core.dask_passes import dask_reduce

            return _merge_local(
                dask_reduce(
                    data["dask"],
                    data["sample_weight"],
                    partial(_blockwise_local, params=params, model=data["model"]),
                    estimator_name=type(self).__name__,
                )
            )
        if data.get("array") is not None:
            return array_api.local_step(
                data["array"],
                data["device_weight"],
                params,
                data["model"],
                data["space"],
                estimator_name=type(self).__name__,
            )
        return _blockwise_local(data["X"], data["sample_weight"], params, data["model"])

    def _initial_responsibilities(self, data, random_state):
        return _INIT[self.init_params](
            data["X"], data["sample_weight"], self.n_components, random_state
        )

    def _initial_state(self, data, random_state):
        """The starting state (:meth:`_initial_state_quietly`), numpy's warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._initial_state_quietly(data, random_state)

    def _initial_state_quietly(self, data, random_state):
        statistics = self._start(data, random_state)
        params = _m_step(statistics, data["model"])
        return {
            "params": params,
            "local": self._expectation(data, params),
            "lower_bounds": [],
            "start_bound": -np.inf,
        }

    def _start(self, data, random_state):
        """The statistics an initialisation starts from (numpy, dask or a device).

        On another library's X, 'random_from_data' gathers its K rows from
        the device; the other initialisations run scikit-learn's numpy code
        on a host copy of X, made once per initialisation.
        """
        if data.get("dask") is not None:
            return self._dask_initial_statistics(data, random_state)
        if data.get("array") is not None and self.init_params == "random_from_data":
            space = data["space"]
            weights = data["sample_weight"]
            rows = _random_rows(
                data["n_samples"], weights, self.n_components, random_state
            )
            points = np.asarray(
                to_numpy(
                    space.xp.take(data["array"], to_namespace(rows, space), axis=0),
                    space,
                ),
                dtype=np.float64,
            )
            return _statistics_of_rows(
                points,
                np.ones(len(rows)) if weights is None else weights[rows],
                data["model"]["centre"],
                _SCATTER[self.covariance_type],
            )
        host = _on_host(data)
        return self._initial_statistics(
            host, self._initial_responsibilities(host, random_state)
        )

    def _initial_statistics(self, data, resp):
        return sufficient_statistics(
            data["X"],
            data["sample_weight"],
            resp,
            scatter=_SCATTER[self.covariance_type],
            reference=data["model"]["centre"],
        )

    def _dask_initial_statistics(self, data, random_state):
        """The initial statistics of a dask fit, with O(K d^2) back from workers.

        'random_from_data' gathers its K rows only, and starts exactly as on
        numpy data. 'kmeans' and 'k-means++' choose their centres on a
        uniform sample of at most 10 000 rows gathered to the client, then
        give each row to its nearest centre on the workers.
        """
        from .._core.dask_passes import dask_reduce

        X, sample_weight, model = data["dask"], data["sample_weight"], data["model"]
        weights = None if sample_weight is None else _as_numpy(sample_weight)
        K = self.n_components
        if self.init_params == "random":
            raise ValueError(
                "init_params='random' draws responsibilities for every row, "
                "which a dask fit does not gather; use 'random_from_data', "
                "'kmeans' or 'k-means++'."
            )
        if self.init_params == "random_from_data":
            rows = _random_rows(data["n_samples"], weights, K, random_state)
            return _statistics_of_rows(
                _gather_rows(X, rows),
                np.ones(K) if weights is None else weights[rows],
                model["centre"],
                _SCATTER[self.covariance_type],
            )
        size = min(data["n_samples"], 10_000)
        rows = _random_rows(data["n_samples"], weights, size, random_state)
        sample = _gather_rows(X, rows)
        centres = (
            KMeans(n_clusters=K, n_init=1, random_state=random_state)
            .fit(sample)
            .cluster_centers_
            if self.init_params == "kmeans"
            else kmeans_plusplus(sample, K, random_state=random_state)[0]
        )
        return SufficientStatistics.merge_all(
            dask_reduce(
                X,
                sample_weight,
                partial(
                    _chunk_nearest_statistics,
                    centres=centres,
                    scatter=_SCATTER[self.covariance_type],
                    reference=model["centre"],
                ),
                estimator_name=type(self).__name__,
            )
        )

    def _sweep(self, data, state):
        """One sweep (:meth:`_sweep_quietly`), numpy's warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._sweep_quietly(data, state)

    def _sweep_quietly(self, data, state):
        """M-step on the last E-step's statistics, then the E-step."""
        statistics, _, neg_entropy = state["local"]
        params = _m_step(statistics, data["model"])
        lower_bound = _sklearn_lower_bound(neg_entropy, params, data["model"])
        return {
            "params": params,
            "local": self._expectation(data, params),
            "lower_bounds": state["lower_bounds"] + [lower_bound],
            "start_bound": state["start_bound"],
        }

    def _elbo(self, data, state):
        """``sum_i w_i log sum_k rho_ik - KL(q(theta) || p(theta))`` (Bishop 10.70)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            kl = _kl_to_prior(state["params"], data["model"])
        return _checked_elbo(state["local"][1] - kl)

    def _convergence_threshold(self, data):
        """``tol``, on scikit-learn's bound (see :meth:`_converged`)."""
        return self.tol

    def _converged(self, change, threshold, state):
        """scikit-learn's stopping rule, exactly: ``|change of its bound| < tol``.

        ``BaseMixture.fit_predict`` stops when its lower bound (a total over
        the samples, evaluated after the M-step on the E-step before it)
        changed by strictly less than ``tol``; the first change of a fresh
        start is infinite, that of a warm start is taken from the last fit's
        ``lower_bound_``. The full ELBO is a half-sweep later and larger by a
        constant only at the optimum, so that a rule on it would stop one
        iteration apart from scikit-learn's on some data.
        """
        bounds = state["lower_bounds"]
        previous = bounds[-2] if len(bounds) > 1 else state["start_bound"]
        return abs(bounds[-1] - previous) < threshold

    def _total_weight(self, data):
        return data["model"]["total_weight"]

    def _check_increase(self, change, elbo, n_iter, data):
        """The ELBO-decrease guard, for exact CAVI only (``reg_covar=0``).

        scikit-learn's ``reg_covar`` adds ``reg_covar * N_k`` to the diagonal
        of each inverse Wishart scale: that M-step is not the maximiser of the
        ELBO over q(theta), so near convergence the ELBO can dip by a small
        amount that is no bug. With ``reg_covar > 0`` the guard is off; so
        it is for float32 X computed in float32 on a device (array API), whose
        rounding of the bound, about 1e-7 of it, is no bug either.
        """
        array = data.get("array")
        in_float32 = (
            array is not None
            and data["space"].compute_dtype(array.dtype) == data["space"].xp.float32
        )
        if self.reg_covar == 0 and not in_float32:
            super()._check_increase(change, elbo, n_iter, data)

    def _fitted_state(self, data):
        """The last fit's state (:meth:`_fitted_state_quietly`), warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._fitted_state_quietly(data)

    def _fitted_state_quietly(self, data):
        params = _complete(
            {
                "weight_concentration": self.weight_concentration_,
                "mean_precision": self.mean_precision_,
                "means": self.means_,
                "degrees_of_freedom": self.degrees_of_freedom_,
                "covariances": self.covariances_,
                "precisions_cholesky": self.precisions_cholesky_,
            },
            data["model"],
        )
        return {
            "params": params,
            "local": self._expectation(data, params),
            "lower_bounds": [],
            # scikit-learn's warm start measures its first change from here.
            "start_bound": self.lower_bound_,
        }

    def _set_fitted(self, data, state):
        # fit starts afresh: a later partial_fit starts its step sizes anew.
        self.__dict__.pop("n_batch_iter_", None)
        self._store(data["model"], state["params"])
        self.lower_bounds_ = list(state["lower_bounds"])
        self.lower_bound_ = self.lower_bounds_[-1] if self.lower_bounds_ else -np.inf
        self.n_samples_seen_ = data["model"]["total_weight"]

    def _store(self, model, params):
        """Set the priors' and q's attributes (scikit-learn's names)."""
        # The settings that shaped q are kept with it: predictions follow
        # the fit, whatever set_params has changed since.
        self._fitted_model = dict(model)
        self.weight_concentration_prior_ = model["weight_concentration_prior"]
        self.mean_precision_prior_ = model["mean_precision_prior"]
        self.mean_prior_ = model["mean_prior"]
        self.degrees_of_freedom_prior_ = model["degrees_of_freedom_prior"]
        self.covariance_prior_ = model["covariance_prior"]
        self.weight_concentration_ = params["weight_concentration"]
        self.mean_precision_ = params["mean_precision"]
        self.means_ = params["means"]
        self.degrees_of_freedom_ = params["degrees_of_freedom"]
        self.covariances_ = params["covariances"]
        self.precisions_cholesky_ = params["precisions_cholesky"]
        self.weights_ = _WEIGHT_PRIOR[model["weight_prior_type"]]["point"](
            params["weight_concentration"]
        )
        self.precisions_ = {
            "full": lambda u: u @ np.swapaxes(u, -1, -2),
            "tied": lambda u: u @ u.T,
            "diag": np.square,
            "spherical": np.square,
        }[model["covariance_type"]](params["precisions_cholesky"])

    def _fitted_settings(self):
        """The settings q was fitted with (an older pickle's: the current ones)."""
        fitted = getattr(self, "_fitted_model", {})
        return {
            "covariance_type": fitted.get("covariance_type", self.covariance_type),
            "weight_prior_type": fitted.get(
                "weight_prior_type", self.weight_concentration_prior_type
            ),
            "n_components": len(self.means_),
            "n_features": self.means_.shape[1],
        }

    def _check_continuation(self, method, n_features):
        """Refuse to continue a fit whose shape the parameters have changed since.

        ``warm_start`` and ``partial_fit`` start from the fitted q: it has the
        components, covariance type, weight prior and features it was fitted
        with, and cannot be continued as another.
        """
        fitted = self._fitted_settings()
        current = {
            "covariance_type": self.covariance_type,
            "weight_prior_type": self.weight_concentration_prior_type,
            "n_components": self.n_components,
            "n_features": n_features,
        }
        names = {
            "weight_prior_type": "weight_concentration_prior_type",
            "n_features": "the number of features",
        }
        for key, value in current.items():
            if value != fitted[key]:
                name = names.get(key, key)
                raise ValueError(
                    f"{method} continues the fitted q, which has {name} = "
                    f"{fitted[key]!r}, but {name} is now {value!r}. Call fit with "
                    "warm_start=False (or on a new estimator) to start again."
                )

    # -- streaming: stochastic variational inference -----------------------

    def partial_fit(self, X, y=None, sample_weight=None):
        """One step of stochastic variational inference on a chunk of data.

        Hoffman, Blei, Wang and Paisley (2013), Algorithm 1: a local step
        (the E-step on the chunk), then a natural-gradient step on the global
        factors. The chunk's statistics, scaled up to ``total_samples``, give
        the CAVI update ``eta_hat`` that the whole data set would give if it
        were the chunk replicated (their eq. 24); the natural parameters
        move by ``eta <- (1 - rho_t) eta + rho_t eta_hat`` with
        ``rho_t = (learning_offset + t)^-learning_decay``, t = 1, 2, ...
        (eqs. 25-26). In the restricted scale families (tied, diag,
        spherical) the stepped scale is projected back onto the family as
        the M-step does.

        The first call (on an unfitted estimator) resolves the priors from
        its chunk and initialises q as ``fit`` does, from the chunk's
        statistics scaled to ``total_samples``; a fitted estimator continues
        from its q and priors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights of the chunk.

        Returns
        -------
        self : VariationalGaussianMixture
            ``elbo_`` then holds the chunk's unbiased estimate of the ELBO of
            the whole stream, ``total_samples / W_chunk * sum_i w_i log sum_k
            rho_ik - KL``, and ``n_samples_seen_`` is ``total_samples``, the
            weight that q's KL is shared among in ``score_samples``.
        """
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore")
        with self._exclusive(), quiet:
            first = not hasattr(self, "means_")
            if first:
                data = self._fit_data(X, sample_weight, reset=True)
                model = data["model"]
                random_state = check_random_state(self.random_state)
                statistics = self._start(data, random_state)
                scale = self.total_samples / float(statistics.weight.sum())
                params = _m_step(statistics.scaled(scale), model)
            else:
                space = array_space(X)
                with np.errstate(invalid="ignore", over="ignore"):
                    X, sample_weight = check_data(
                        self, X, sample_weight, reset=False, allow_all_zero=True
                    )
                self._check_continuation("partial_fit", self.n_features_in_)
                self._fit_space = space
                # The priors are those of the first chunk; a bad one set
                # since is refused all the same.
                self._check_priors(self.n_features_in_)
                params, model = self._current()
                data = (
                    _device_data(X, sample_weight, space)
                    if space is not None
                    else {
                        "X": None if is_dask_collection(X) else X,
                        "dask": X if is_dask_collection(X) else None,
                        "sample_weight": sample_weight,
                    }
                )
            statistics, log_norm, _ = self._expectation(dict(data, model=model), params)
            if not statistics.weight.sum() > 0:
                return self  # a chunk of zero weight has nothing to teach
            scale = self.total_samples / float(statistics.weight.sum())
            target = _m_step(statistics.scaled(scale), model)
            iteration = getattr(self, "n_batch_iter_", 0) + 1
            rho = float(
                svi_step_size(
                    iteration,
                    delay=self.learning_offset,
                    forgetting_rate=self.learning_decay,
                )
            )
            params = _natural_gradient_step(params, target, min(rho, 1.0), model)
            self._store(model, params)
            self.n_batch_iter_ = iteration
            self.n_samples_seen_ = float(self.total_samples)
            self.elbo_ = _checked_elbo(scale * log_norm - _kl_to_prior(params, model))
        return self

    # -- prediction ---------------------------------------------------------

    def _current(self):
        """The fitted parameters and model, as the pure functions take them."""
        check_is_fitted(self)
        # The numpy originals of arrays fitted on another library's data.
        fitted = self._on_host()
        model = {**fitted._fitted_settings(), **fitted._fitted_model}
        params = _complete(
            {
                "weight_concentration": fitted.weight_concentration_,
                "mean_precision": fitted.mean_precision_,
                "means": fitted.means_,
                "degrees_of_freedom": fitted.degrees_of_freedom_,
                "covariances": fitted.covariances_,
                "precisions_cholesky": fitted.precisions_cholesky_,
            },
            model,
        )
        params["scale"] = _wishart_scale(params, model)
        return params, model

    def _blockwise(self, X, function, *, method, dtype=np.float64, n_columns=None):
        """``function(log_rho_block)`` over row blocks of X, concatenated.

        On a dask collection, lazily on each row chunk, on its worker
        (:meth:`_map_rows`), by the same :func:`_map_log_rho`; on another
        array library's X (array API dispatch), on its device (skvi._core.array_api).
        """
        params, model = self._current()
        return self._map_rows(
            X,
            partial(_map_log_rho, params=params, model=model, function=function),
            dtype=dtype,
            n_columns=n_columns,
            device_function=partial(
                array_api.row_values,
                params=params,
                model=model,
                function=_DEVICE_FUNCTIONS[function],
            ),
            method=method,
        )

    def _sample_scorer(self):
        """``rows -> score_samples(rows)``, the fitted q(theta) bound."""
        params, model = self._current()
        return partial(
            _sample_scores,
            params=params,
            model=model,
            kl_per_sample=_kl_to_prior(params, model) / self.n_samples_seen_,
        )

    def predict(self, X):
        """The most probable component of each sample (argmax of q(z_i)).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array or DataFrame is labelled chunk by chunk on the
            workers (it is never gathered).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            For dask X, a lazy dask array with X's row chunks.
        """
        return self._blockwise(X, _labels, method="predict", dtype=np.intp)

    def predict_proba(self, X):
        """q(z_i = k) of each sample, the responsibilities (Bishop 10.49).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array or DataFrame is read chunk by chunk on the workers
            (it is never gathered).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            For dask X, a lazy dask array with X's row chunks.
        """
        check_is_fitted(self)
        return self._blockwise(
            X,
            _responsibilities,
            method="predict_proba",
            n_columns=self.means_.shape[0],
        )

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then label X with a final E-step (as scikit-learn's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array or DataFrame is fitted as by :meth:`fit`, then
            labelled lazily on the workers, as by :meth:`predict`.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            For dask X, a lazy dask array with X's row chunks.
        """
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def score_samples(self, X):
        """Each sample's share of the ELBO, with its optimal q(z_i).

        ``log sum_k rho_ik - KL(q(theta) || p(theta)) / W``, where W is the
        total training weight: the weighted scores of the training samples
        sum to ``elbo_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array or DataFrame is scored chunk by chunk on the
            workers (it is never gathered).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            For dask X, a lazy dask array with X's row chunks.
        """
        scorer = self._sample_scorer()
        return self._map_rows(
            X,
            scorer,
            device_function=partial(
                array_api.row_values,
                params=scorer.keywords["params"],
                model=scorer.keywords["model"],
                function="log_norm",
                shift=scorer.keywords["kl_per_sample"],
            ),
        )

    def sample(self, n_samples=1):
        """Draw samples from the point-estimate mixture, as scikit-learn's.

        The generator is seeded from ``random_state`` on every call.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)
        _check_n_samples(n_samples)
        space = self._fitted_space()
        fitted = self._on_host()
        rng = check_random_state(fitted.random_state)
        counts = rng.multinomial(n_samples, fitted.weights_)
        d = fitted.means_.shape[1]
        covariances = {
            "full": lambda c: c,
            "tied": lambda c: np.broadcast_to(c, (len(counts), d, d)),
            "diag": lambda c: c[:, :, None] * np.eye(d),
            "spherical": lambda c: c[:, None, None] * np.eye(d),
        }[fitted._fitted_settings()["covariance_type"]](fitted.covariances_)
        X = np.vstack(
            [
                rng.multivariate_normal(mean, covariance, int(count))
                for mean, covariance, count in zip(
                    fitted.means_, covariances, counts, strict=True
                )
            ]
        )
        y = np.repeat(np.arange(len(counts)), counts)
        if space is not None:
            # Drawn on the host (O(n d) numbers), returned where the fit is.
            return to_namespace(X, space), to_namespace(y, space)
        return X, y

    def sample_posterior(self, n_samples=1, random_state=None):
        """Draw whole parameter sets (weights, means, precisions) from q.

        Parameters
        ----------
        n_samples : int, default=1
            Number of draws.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        weights : ndarray of shape (n_samples, n_components)
            pi. Under the Dirichlet-process prior they sum to less than 1: the
            rest belongs to the components beyond the truncation.
        means : ndarray of shape (n_samples, n_components, n_features)
            mu_k ~ Normal(m_k, (beta_k Lambda_k)^-1).
        precisions : ndarray of shape (n_samples, n_components, n_features, \
n_features)
            Lambda_k ~ Wishart(nu_k, W_k), full matrices whatever the
            covariance_type (a Wishart with a diagonal scale has full draws;
            'tied' draws each component's from the common q, independently).

        Examples
        --------
        >>> import numpy as np
        >>> from skvi import VariationalGaussianMixture
        >>> X = np.random.default_rng(0).normal(size=(100, 2))
        >>> vgm = VariationalGaussianMixture(n_components=2, random_state=0).fit(X)
        >>> weights, means, precisions = vgm.sample_posterior(10, random_state=0)
        >>> weights.shape, means.shape, precisions.shape
        ((10, 2), (10, 2, 2), (10, 2, 2, 2))
        """
        params, model = self._current()
        _check_n_samples(n_samples)
        draws = _sample_posterior(
            params, model, n_samples, check_random_state(random_state)
        )
        return draws["weights"], draws["means"], draws["precisions"]

    # The protocol of skvi.diagnostics (skvi/diagnostics/_protocol.py): what
    # its algorithms ask of this model, answered here where its maths lives
    # (the comment on the log joint at the end of this module).

    def _sample_q(self, n_draws, random_state):
        """Protocol: whole parameter sets from q, ``sample_posterior``'s draws.

        Also the model's own: the weights' variables and log weights (in log
        space, so that a weight below float64's range keeps its ratio), the
        precisions' Cholesky factors and their log determinants.
        """
        params, model = self._current()
        draws = _sample_posterior(params, model, n_draws, random_state)
        return {
            "weights": draws["weights"],
            "means": draws["means"],
            "precisions": draws["precisions"],
            "_log_weight_variables": draws["log_weight_variables"],
            "_log_weights": draws["log_weights"],
            "_precisions_cholesky": draws["precisions_cholesky"],
            "_log_det": _log_det_from_cholesky(draws["precisions_cholesky"]),
        }

    def _log_q(self, draws):
        """Protocol: ``log q(pi or v) + sum_k log q(mu_k, Lambda_k)`` per draw."""
        params, model = self._current()
        K = params["means"].shape[0]
        log_weights_q = _LOG_WEIGHT_DENSITY[model["weight_prior_type"]](
            draws["_log_weight_variables"], params["weight_concentration"]
        )
        log_q = _log_normal_wishart_pdf(
            draws,
            params["means"],
            params["mean_precision"],
            np.broadcast_to(params["degrees_of_freedom"], (K,)),
            params["scale"],
        )
        return log_weights_q + np.sum(log_q, axis=1)

    def _log_joint(self, X, sample_weight, draws):
        """Protocol: ``log p(theta, X)`` per draw, the assignments z summed out.

        ``sum_i w_i log sum_k pi_k Normal(x_i | mu_k, Lambda_k^-1)`` (a pass
        over X, on the workers for a dask collection) plus the log priors of
        the weights' variables and of each ``(mu_k, Lambda_k)``.
        """
        params, model = self._current()
        data_term = partial(
            _mixture_data_term,
            log_weights=draws["_log_weights"],
            means=draws["means"],
            lower=draws["_precisions_cholesky"],
            log_det=draws["_log_det"],
            centre=model["centre"],
        )
        if is_dask_collection(X):
            from .._core.dask_passes import dask_reduce

            log_likelihood = np.sum(
                dask_reduce(
                    X, sample_weight, data_term, estimator_name=type(self).__name__
                ),
                axis=0,
            )
        else:
            log_likelihood = data_term(X, sample_weight)
        weight_prior = model["weight_prior_type"]
        log_weights_prior = _LOG_WEIGHT_DENSITY[weight_prior](
            draws["_log_weight_variables"],
            _PRIOR_CONCENTRATION[weight_prior](
                params["weight_concentration"], model["weight_concentration_prior"]
            ),
        )
        log_prior = _log_normal_wishart_pdf(
            draws,
            model["mean_prior"][None],
            model["mean_precision_prior"],
            model["degrees_of_freedom_prior"],
            model["prior_scale"][None],
        )
        return log_likelihood + log_weights_prior + np.sum(log_prior, axis=1)


# Per-row values of the fitted model, as pure functions of rows of X: the
# same on numpy input and on each dask chunk (VariationalEstimator._map_rows).


def _map_log_rho(X, *, params, model, function):
    """``function(log_rho)`` over row blocks of X (Bishop 10.46), concatenated."""
    K, d = params["means"].shape
    width = _width(K, d, model["covariance_type"])
    block_rows, _ = engine.plan(X.shape[0], width)
    terms = _mahalanobis_terms(params["means"] - model["centre"], params, model)
    parts = engine.map_blocks(
        lambda rows: function(*_log_rho(X[rows], params, model, terms)),
        X.shape[0],
        block_rows,
        row_elements=width,
    )
    return np.concatenate(parts)


def _statistics_of_rows(points, weights, centre, scatter):
    """The statistics of K components of one row each: 'random_from_data'."""
    K, d = points.shape
    return SufficientStatistics(
        np.asarray(weights, dtype=np.float64),
        centre,
        points - centre,
        np.zeros((K, d, d) if scatter == "full" else (K, d)),
    )


def _device_data(X, sample_weight, space):
    """The data of a fit on another array library's X: X and its weights there.

    The weights are checked on the host (numpy) and copied to X's device in
    X's dtype, once a fit.
    """
    return {
        "X": None,
        "array": X,
        "space": space,
        "sample_weight": sample_weight,
        "device_weight": None
        if sample_weight is None
        else to_namespace(sample_weight, space, dtype=space.compute_dtype(X.dtype)),
    }


def _on_host(data):
    """``data`` with X as numpy: a host copy of a device X, made once an initialisation.

    The initialisations (k-means, k-means++, random rows) are scikit-learn's
    numpy code, as in :func:`_init_kmeans`.
    """
    if data.get("array") is None:
        return data
    return dict(data, X=to_numpy(data["array"], data["space"]))


def _labels(log_rho, shift):
    """``argmax_k rho_ik`` of each row."""
    return log_rho.argmax(axis=0)


def _responsibilities(log_rho, shift):
    """``r_ik`` (Bishop 10.49), rows by components."""
    return _log_normalise(log_rho, shift)[1].T


def _log_norm(log_rho, shift):
    """``log sum_k rho_ik`` of each row."""
    return _log_normalise(log_rho, shift)[0]


# The same per-row functions in skvi._core.array_api, for X on a device.
_DEVICE_FUNCTIONS = {
    _labels: "labels",
    _responsibilities: "responsibilities",
    _log_norm: "log_norm",
}


def _sample_scores(X, *, params, model, kl_per_sample):
    """Each row's ``log sum_k rho_ik - KL(q(theta) || p(theta)) / W``."""
    return _map_log_rho(X, params=params, model=model, function=_log_norm) - (
        kl_per_sample
    )


def _as_numpy(sample_weight):
    """Frequency weights on the client (computed if a dask collection)."""
    if is_dask_collection(sample_weight):
        sample_weight = sample_weight.compute()
    return np.asarray(sample_weight, dtype=np.float64)


def _gather_rows(X, rows):
    """Rows ``rows`` of a dask array or DataFrame, in that order, as float64."""
    order = np.argsort(rows)
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True)
    import dask

    gathered = np.asarray(dask.compute(X[rows[order]])[0], dtype=np.float64)
    result = np.empty_like(gathered)
    result[order] = gathered
    return result


def _check_n_samples(n_samples):
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise ValueError(f"n_samples must be an integer >= 1; got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(
            f"Invalid value for 'n_samples': {n_samples}. The sampling requires "
            "at least one sample."
        )


def _sample_posterior(params, model, n_samples, rng):
    """Draws of theta from q: a dict of arrays with the draws on the first axis.

    ``"log_weight_variables"``: the sticks' ``(log v, log(1 - v))``
    (Dirichlet process) or ``log pi`` (Dirichlet), each (n_samples, K);
    ``"log_weights"`` and ``"weights"``: log pi and pi, (n_samples, K);
    ``"precisions"``: Lambda_k ~ Wishart(nu_k, W_k), (n_samples, K, d, d);
    ``"precisions_cholesky"``: their lower factors L (Lambda = L L^T);
    ``"means"``: mu_k ~ Normal(m_k, (beta_k Lambda_k)^-1), (n_samples, K, d).
    """
    K, d = params["means"].shape
    weight_prior = _WEIGHT_PRIOR[model["weight_prior_type"]]
    log_variables = weight_prior["sample"](
        params["weight_concentration"], n_samples, rng
    )
    log_weights = weight_prior["log_weights"](log_variables)
    dof = np.broadcast_to(params["degrees_of_freedom"], (K,))
    precisions, lower = _sample_wishart(dof, params["scale"], n_samples, rng)
    # mu = m + L^-T z / sqrt(beta) with Lambda = L L^T, z ~ Normal(0, I).
    noise = rng.standard_normal((n_samples, K, d, 1))
    shift = np.linalg.solve(np.swapaxes(lower, -1, -2), noise)[..., 0]
    means = params["means"] + shift / np.sqrt(params["mean_precision"])[:, None]
    return {
        "log_weight_variables": log_variables,
        "log_weights": log_weights,
        "weights": np.exp(log_weights),
        "means": means,
        "precisions": precisions,
        "precisions_cholesky": lower,
    }


def _sample_wishart(dof, scale, n_samples, rng):
    """Lambda_k ~ Wishart(nu_k, W_k) by the Bartlett decomposition.

    Lambda = L A A^T L^T with W = L L^T, A lower-triangular, A_ii^2 ~
    chi2(nu - i + 1) (i = 1..d), A_ij ~ Normal(0, 1) below the diagonal.
    Returns the draws and their lower Cholesky factors L A (lower-triangular
    with a positive diagonal, so no factorisation is needed).
    """
    K, d, _ = scale.shape
    chol = np.linalg.cholesky(scale)
    A = np.zeros((n_samples, K, d, d))
    rows, cols = np.tril_indices(d, -1)
    A[:, :, rows, cols] = rng.standard_normal((n_samples, K, rows.size))
    i = np.arange(d)
    A[:, :, i, i] = np.sqrt(rng.chisquare(dof[:, None] - i, size=(n_samples, K, d)))
    LA = chol @ A
    return LA @ np.swapaxes(LA, -1, -2), LA


# The log joint of the model and log q at draws of theta from q, for the
# protocol of skvi.diagnostics (Bishop, PRML §10.2), theta = (pi, or the
# sticks v; mu_k; Lambda_k), with the assignments z summed out of the joint,
# a log-sum-exp over the K components:
#
#   log p(theta, X) = sum_i w_i log sum_{k<=K} pi_k Normal(x_i | mu_k, Lambda_k^-1)
#                     + log p(pi or v)
#                     + sum_k [log Normal(mu_k | m0, (beta0 Lambda_k)^-1)
#                              + log Wishart(Lambda_k | W0, nu0)]
#   log q(theta)    = log q(pi or v)
#                     + sum_k [log Normal(mu_k | m_k, (beta_k Lambda_k)^-1)
#                              + log Wishart(Lambda_k | W_k, nu_k)]
#
# For every covariance_type q(Lambda_k) is a Wishart whose scale W_k is
# restricted (diagonal, a multiple of I; 'tied': one common q for K
# independent Lambda_k), and the prior is a Wishart too (W0 diagonal or
# isotropic likewise): both are full Wishart densities of the full draws.
# The weights: under the Dirichlet prior the Dirichlet densities of pi on the
# simplex; under the stick-breaking prior the densities of the sticks v,
# prod_k Beta(v_k | 1, alpha0) and prod_k Beta(v_k | a_k, b_k), and the
# leftover mass prod_k (1 - v_k) belongs to no observed sample (the sum over
# k <= K, as in the ELBO). The priors are the fitted ones (_current's model).
# The weights' variables come in log space (_sample_posterior), so that a
# stick near 1 or a weight below float64's range keeps its density.
#
# Since log sum_k pi_k N_k >= sum_k r_ik log(pi_k N_k / r_ik) for any r_i,
# E_q[log p(theta, X) - log q(theta)] >= elbo_: summing z out exactly can only
# tighten the bound, by sum_i w_i E_q[KL(r_i || p(z_i | x_i, theta))], which
# vanishes where the responsibilities are 0 or 1.
#
# Cost: the data term is one pass over X per draw. For a block of draws and
# a block of rows, the Mahalanobis terms of all the draws' components come
# from one stacked product (_mahalanobis_full, with the draws' Cholesky
# factors in place of q's), then a log-sum-exp over components:
# O(n_draws n K d^2) flops and O(n_draws n K) exponentials, in blocks of the
# row-block engine (skvi._core.engine): each task a block of draws, passing over
# the row blocks in order. On a dask collection each chunk's per-draw sums
# are reduced on its worker (X is never gathered); the draws (O(n_draws K
# d^2) numbers) travel to each chunk's task.
#
# Label switching: the posterior has K! modes that differ by a permutation
# of the components (exactly symmetric under the Dirichlet prior; under the
# stick-breaking prior, which is not exchangeable, with unequal masses). q
# sits on one. k-hat and the corrected moments speak for that mode, which is
# what the fit is read as; the importance-sampling estimate of log p(X)
# misses the other modes' mass: for well-separated, all-occupied components
# it is low by log K! under the Dirichlet prior (by between 0 and log K!
# under the stick-breaking prior).


def _log_density_sticks(log_sticks, concentration):
    """``sum_k log Beta(v_k | a_k, b_k)`` per draw, from ``(log v, log(1 - v))``.

    ``(a_k - 1) log v_k + (b_k - 1) log(1 - v_k) - log B(a_k, b_k)``, the
    Beta density (Bishop, B.6).
    """
    log_v, log_rest = log_sticks
    a, b = concentration
    return np.sum((a - 1.0) * log_v + (b - 1.0) * log_rest - betaln(a, b), axis=1)


def _log_density_dirichlet(log_pi, concentration):
    """``log Dirichlet(pi | alpha)`` per draw, from ``log pi`` (Bishop, B.16).

    ``log C(alpha) + sum_k (alpha_k - 1) log pi_k``.
    """
    return _log_dirichlet_normalizer(concentration) + np.sum(
        (concentration - 1.0) * log_pi, axis=1
    )


# The log density of the weights' variables drawn from q, by prior type:
# f(log_variables, concentration), q's concentration or the prior's.
_LOG_WEIGHT_DENSITY = {
    "dirichlet_process": _log_density_sticks,
    "dirichlet_distribution": _log_density_dirichlet,
}

# The prior's concentration in the form of q's, from alpha0: Beta(1, alpha0)
# for each stick, Dirichlet(alpha0, ..., alpha0).
_PRIOR_CONCENTRATION = {
    "dirichlet_process": lambda concentration, prior: (1.0, prior),
    "dirichlet_distribution": lambda concentration, prior: np.full_like(
        concentration, prior
    ),
}


def _log_normal_wishart_pdf(draws, mean, mean_precision, dof, scale):
    """``log Normal(mu_k | m, (beta Lambda_k)^-1) + log Wishart(Lambda_k | W, nu)``.

    Bishop (2006), B.37 and B.78: with ``Lambda = L L^T``,
    ``d/2 log(beta / 2 pi) + 1/2 log|Lambda| - beta/2 ||L^T (mu - m)||^2
    + (nu - d - 1)/2 log|Lambda| - tr(W^-1 Lambda)/2 + log B(W, nu)``, per
    draw and component. ``mean`` (K or 1, d), ``mean_precision`` and ``dof``
    (K,) or scalars, ``scale`` (K or 1, d, d).
    """
    d = mean.shape[-1]
    log_det = draws["_log_det"]
    projected = np.einsum(
        "skij,ski->skj", draws["_precisions_cholesky"], draws["means"] - mean
    )
    inverse_scale = np.linalg.inv(scale)
    trace = np.einsum("kij,skij->sk", inverse_scale, draws["precisions"])
    log_det_scale = _log_det_from_cholesky(np.linalg.cholesky(scale))
    return (
        0.5 * d * (np.log(mean_precision) - LOG_2PI)
        + 0.5 * log_det
        - 0.5 * mean_precision * np.sum(projected**2, axis=-1)
        + 0.5 * (dof - d - 1.0) * log_det
        - 0.5 * trace
        + _wishart_log_normalizer(dof, log_det_scale, d)
    )


def _mixture_data_term(X, sample_weight, *, log_weights, means, lower, log_det, centre):
    """``sum_i w_i log sum_k pi_k Normal(x_i | mu_k, Lambda_k^-1)`` per draw, (S,).

    Rows are taken about ``centre`` (the training data's mean), as the E-step
    does. Each unit of work is a block of draws over all row blocks, so that
    the sum over rows runs in one order whatever the thread count.
    """
    S, K, d = means.shape
    n = X.shape[0]
    # Float64 values a block holds per draw and row: K d projections and K
    # log densities. A task's draws fill a block of the engine's size.
    per_row = K * (d + 1)
    rows, _ = engine.plan(n, per_row)
    step = int(max(1, engine.BLOCK_ELEMENTS // (per_row * rows)))
    # -2 (log pi_k + 1/2 log|Lambda_k| - d/2 log 2 pi), as the E-step's offset.
    offset = 2.0 * log_weights + log_det - d * LOG_2PI
    shifted_means = means - centre

    def draw_block(block):
        draws = slice(block * step, min((block + 1) * step, S))
        m = draws.stop - draws.start
        block_means = shifted_means[draws].reshape(m * K, d)
        block_factors = lower[draws].reshape(m * K, d, d)
        block_offset = offset[draws].reshape(m * K, 1)

        def row_block(rows):
            deviation = np.subtract(X[rows], centre, dtype=np.float64)
            log_density = _mahalanobis_full(deviation, None, block_means, block_factors)
            log_density -= block_offset
            log_density *= -0.5
            log_density = log_density.reshape(m, K, -1)
            top = log_density.max(axis=1)
            np.exp(log_density - top[:, None], out=log_density)
            log_norm = top + np.log(log_density.sum(axis=1))
            return (
                log_norm.sum(axis=1)
                if sample_weight is None
                else np.dot(log_norm, sample_weight[rows])
            )

        # Within a task (a thread of the engine's) the row blocks run in
        # order, so that each draw's sum over rows has one order.
        total = np.zeros(m)
        for part in engine.map_blocks(row_block, n, rows, n_threads=1):
            total += part
        return total

    return np.concatenate(engine.map_tasks(draw_block, -(-S // step)))
