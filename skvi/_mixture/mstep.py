"""The mixture's M-step: q(pi), q(mu_k | Lambda_k), q(Lambda_k) from statistics.

From N_k = sum_i w_i r_ik, xbar_k = sum_i w_i r_ik x_i / N_k and
C_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T (Bishop, PRML 10.58,
10.60-10.63; Blei & Jordan 2006, eq. 18-19)::

    alpha_k = alpha0 + N_k;   or  a_k = 1 + N_k, b_k = alpha0 + sum_{j>k} N_j
    beta_k = beta0 + N_k,  m_k = (beta0 m0 + N_k xbar_k) / beta_k
    nu_k = nu0 + N_k  (tied: nu0 + N/K)
    A_k = W0^-1 + C_k + N_k reg_covar I
          + beta0 N_k / beta_k (xbar_k - m0)(xbar_k - m0)^T,   W_k^-1 = A_k

(tied: A = W0^-1 + 1/K sum_k (...); diag and spherical: the projections of
skvi._mixture.covariance). reg_covar is scikit-learn's regulariser (it adds
reg_covar to each component's covariance); with reg_covar = 0 these are exact
CAVI updates. scikit-learn's normalisation is kept: covariances_ = A_k /
nu_k, so that precisions_ = nu_k W_k = E_q[Lambda_k] and
precisions_cholesky_ factors it. :func:`_complete` adds log|W_k|,
E[log|Lambda_k|] and the E-step's constant per component.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006, §10.2.
D. M. Blei and M. I. Jordan, "Variational inference for Dirichlet process
mixtures", Bayesian Analysis 1(1), 2006.
"""

# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import replace

import numpy as np

from .._core.families.normal import LOG_2PI
from .._core.families.wishart import _expected_log_det
from .state import MixtureParameters

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


def _m_step(statistics, model):
    """q(pi), q(mu_k | Lambda_k), q(Lambda_k) from statistics (Bishop 10.58-10.63).

    Returns the parameters in scikit-learn's form plus the E-step's
    per-component constant ``log_rho_offset``.
    """
    covariance = model.covariance
    K = model.n_components
    n_k = np.asarray(statistics.weight, dtype=np.float64)
    data_mean = np.where(n_k[:, None] > 0, statistics.mean, model.mean_prior)
    concentration = model.weight_prior.update(n_k, model.weight_concentration_prior)
    beta0 = model.mean_precision_prior
    mean_precision = beta0 + n_k
    means = (beta0 * model.mean_prior + n_k[:, None] * data_mean) / mean_precision[
        :, None
    ]
    deviation = data_mean - model.mean_prior
    shrink = beta0 * n_k / mean_precision
    A = covariance.inverse_scale(
        model.prior_inverse_scale,
        statistics.scatter,
        deviation,
        shrink,
        n_k,
        model.reg_covar,
        K,
    )
    dof = model.degrees_of_freedom_prior + (
        n_k.sum() / K if covariance.shared_dof else n_k
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
    covariance = model.covariance
    covariances = np.divide(
        inverse_scale,
        np.reshape(dof, covariance.dof_shape),
        out=inverse_scale,
    )
    _check_representable(means, covariances)
    params = MixtureParameters(
        weight_concentration=concentration,
        mean_precision=mean_precision,
        means=means,
        degrees_of_freedom=dof,
        covariances=covariances,
        precisions_cholesky=covariance.precision_cholesky(covariances),
    )
    return _complete(params, model)


def _complete(params, model):
    """``params`` with log|W_k|, E[log|Lambda_k|] and the E-step's constant."""
    K, d = params.means.shape
    dof = np.broadcast_to(params.degrees_of_freedom, (K,))
    expected_log_weights = model.weight_prior.expected_log(params.weight_concentration)
    log_det_scale = np.broadcast_to(
        model.covariance.log_det_scale(
            params.precisions_cholesky, params.degrees_of_freedom, d
        ),
        (K,),
    )
    expected_log_det = _expected_log_det(dof, log_det_scale, d)
    # -2 (E[log pi_k] + 1/2 E[log|Lambda_k|] - d/2 log 2 pi - d / (2 beta_k))
    log_rho_offset = (
        2.0 * expected_log_weights
        + expected_log_det
        - d * LOG_2PI
        - d / params.mean_precision
    )
    return replace(
        params,
        log_det_scale=log_det_scale,
        expected_log_det=expected_log_det,
        log_rho_offset=log_rho_offset,
    )
