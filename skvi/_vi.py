"""Expectations, KL divergences and ELBO pieces shared by skvi's estimators.

Every function here is a pure, vectorised function of arrays: it broadcasts over
features (and, where it says so, over samples or mixture components). The
estimators compose these pieces; no formula is written twice.

Notation (Bishop, *Pattern Recognition and Machine Learning*, 2006, §10.1-10.2,
Appendix B):

- ``Normal(m, s2)``: mean ``m``, variance ``s2``.
- ``Gamma(a, b)``: shape ``a``, **rate** ``b``; density
  ``b**a / Gamma(a) * tau**(a - 1) * exp(-b * tau)``.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import digamma, gammaln

LOG_2PI = np.log(2.0 * np.pi)


def gamma_expectations(shape, rate):
    """Moments of a Gamma(shape, rate) variable used by mean-field updates.

    ``E[tau] = a / b`` and ``E[log tau] = psi(a) - log b`` (Bishop, eq. B.27 and
    B.30), with ``psi`` the digamma function.

    Parameters
    ----------
    shape, rate : array-like
        Shape ``a > 0`` and rate ``b > 0``.

    Returns
    -------
    precision_mean : ndarray
        ``E[tau]``.
    log_precision_mean : ndarray
        ``E[log tau]``.
    """
    return shape / rate, digamma(shape) - np.log(rate)


def expected_log_normal(
    squared_deviation, weight, mean_variance, precision_mean, log_precision_mean
):
    """Expected weighted log-density of Normal data under q(mu) q(tau).

    For observations ``x_i`` with weights ``w_i`` and
    ``q(mu) = Normal(m, s2)``, ``q(tau) = Gamma(a, b)``::

        E_q[sum_i w_i log Normal(x_i | mu, 1/tau)]
            = W/2 (E[log tau] - log 2 pi)
              - E[tau]/2 (sum_i w_i (x_i - m)**2 + W s2)

    with ``W = sum_i w_i``, because ``E_q[(x - mu)**2] = (x - m)**2 + s2``.
    Called with one sample per entry (``weight=1``) it gives each sample's
    expected log-likelihood; called with weighted sufficient statistics
    (``squared_deviation = S + W (xbar - m)**2``) it gives the data term of the
    ELBO, so both uses share this single formula.

    Parameters
    ----------
    squared_deviation : array-like
        ``sum_i w_i (x_i - m)**2``.
    weight : float or array-like
        ``W = sum_i w_i``.
    mean_variance : array-like
        Variance ``s2`` of q(mu).
    precision_mean, log_precision_mean : array-like
        ``E[tau]`` and ``E[log tau]`` under q(tau).

    Returns
    -------
    ndarray
        The expectation, broadcast over the inputs.
    """
    return 0.5 * weight * (log_precision_mean - LOG_2PI) - 0.5 * precision_mean * (
        squared_deviation + weight * mean_variance
    )


def kl_normal(mean, std, prior_mean, prior_std):
    """KL(Normal(mean, std**2) || Normal(prior_mean, prior_std**2)).

    ``log(s0 / s) + ((s / s0)**2 + ((m - m0) / s0)**2 - 1) / 2`` (Bishop,
    eq. 10.71 with its expectations written out), in ratios of standard
    deviations so that no variance is formed: it stays finite and accurate
    for a prior sd of 1e-200 or 1e200, where ``s0**2`` would underflow or
    overflow.

    Parameters
    ----------
    mean, std : array-like
        Mean ``m`` and standard deviation ``s > 0`` of q.
    prior_mean, prior_std : array-like
        Mean ``m0`` and standard deviation ``s0 > 0`` of the prior.

    Returns
    -------
    ndarray
        The divergence, >= 0, broadcast over the inputs.
    """
    return (
        np.log(prior_std)
        - np.log(std)
        + 0.5 * ((std / prior_std) ** 2 + ((mean - prior_mean) / prior_std) ** 2 - 1.0)
    )


def kl_gamma(shape, rate, prior_shape, prior_rate):
    """KL(Gamma(shape, rate) || Gamma(prior_shape, prior_rate)), rate parametrisation.

    ``(a - a0) psi(a) - log Gamma(a) + log Gamma(a0)
    + a0 (log b - log b0) + a (b0 - b) / b``, from ``E_q[log q - log p]`` with
    ``E_q[tau] = a/b`` and ``E_q[log tau] = psi(a) - log b``.

    Parameters
    ----------
    shape, rate : array-like
        Shape ``a > 0`` and rate ``b > 0`` of q.
    prior_shape, prior_rate : array-like
        Shape ``a0 > 0`` and rate ``b0 > 0`` of the prior.

    Returns
    -------
    ndarray
        The divergence, >= 0, broadcast over the inputs.
    """
    return (
        (shape - prior_shape) * digamma(shape)
        - gammaln(shape)
        + gammaln(prior_shape)
        + prior_shape * (np.log(rate) - np.log(prior_rate))
        + shape * (prior_rate / rate - 1.0)
    )
