"""The mixture's ELBO and scikit-learn's lower bound.

The full ELBO, no constant dropped (Bishop, PRML 10.70, with the q(Z) of the
E-step that follows the M-step, so that the data and assignment terms
collapse)::

    L = sum_i w_i log sum_k rho_ik - KL(q(pi) || p(pi))
        - sum_k KL(q(mu_k, Lambda_k) || p(mu_k, Lambda_k))

Its first term is also each sample's share in ``score_samples``; the KLs
come from the precision factors (the covariance type's ``wishart_terms``)
by skvi._core.families.wishart's Normal-Wishart formula.

scikit-learn's lower bound (``BayesianGaussianMixture._compute_lower_bound``),
evaluated after the M-step on the q(Z) of the E-step before it, equals the
full ELBO of that same pair minus a constant when reg_covar = 0::

    c = K [d(d-1)/4 log pi + d/2 log beta0 + log B(W0, nu0)] - W d/2 log 2 pi
        + {lgamma(K alpha0) - K lgamma(alpha0)   (Dirichlet) | K log alpha0 (DP)}

with log B(W, nu) = -nu/2 log|W| - nu d/2 log 2 - log Gamma_d(nu/2) and W the
total sample weight: at the M-step's optimum the expected log-density of
each conjugate block cancels against its q, leaving log-normalisers. The
estimator's stopping rule is scikit-learn's, on this bound.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006,
§10.2 (10.70-10.77) and Appendix B.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from .._core.families.wishart import _kl_normal_wishart_from, _wishart_log_normalizer


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


def _kl_to_prior(params, model):
    """``KL(q(pi) || p(pi)) + sum_k KL(q(mu_k, Lambda_k) || p(mu_k, Lambda_k))``.

    The Normal-Wishart terms from the precision factors (see above), by
    skvi._core.families.wishart's formula (Bishop 10.74, 10.77, B.78-B.81).
    """
    K, d = params.means.shape
    dof = np.broadcast_to(params.degrees_of_freedom, (K,))
    kl_weights = model.weight_prior.kl(
        params.weight_concentration, model.weight_concentration_prior
    )
    trace, expected_quadratic, log_det_prior = model.covariance.wishart_terms(
        params.precisions_cholesky,
        dof,
        params.means - model.mean_prior,
        np.asarray(model.prior_inverse_scale, dtype=np.float64),
    )
    kl_components = _kl_normal_wishart_from(
        d,
        params.mean_precision,
        dof,
        model.mean_precision_prior,
        model.degrees_of_freedom_prior,
        trace=trace,
        log_det=params.log_det_scale + log_det_prior,
        expected_quadratic=expected_quadratic,
    )
    return kl_weights + float(np.sum(kl_components))


def _sklearn_lower_bound(neg_entropy, params, model):
    """scikit-learn's ``_compute_lower_bound``: the ELBO less the constant c above."""
    K, d = params.means.shape
    dof = np.broadcast_to(params.degrees_of_freedom, (K,))
    # log B(W_k, nu_k) + d(d-1)/4 log pi: scikit-learn's _log_wishart_norm
    log_wishart = _wishart_log_normalizer(dof, params.log_det_scale, d) + d * (
        d - 1
    ) / 4 * np.log(np.pi)
    log_norm_weight = model.weight_prior.log_norm(params.weight_concentration)
    return float(
        -neg_entropy
        - np.sum(log_wishart)
        - log_norm_weight
        - 0.5 * d * np.sum(np.log(params.mean_precision))
    )
