"""The Gamma family (shape, rate): ``E[tau]``, ``E[log tau]`` and the KL.

The precision ``tau`` of the Normal and Student-t models has a Gamma factor:
:func:`gamma_expectations` gives the moments its updates use (Bishop 2006,
B.27 and B.30) and :func:`kl_gamma` the KL between two Gammas. Notation:
:mod:`skvi._core.families`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import digamma, gammaln


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

    Examples
    --------
    >>> float(kl_gamma(2.0, 3.0, 2.0, 3.0))
    0.0
    """
    return (
        (shape - prior_shape) * digamma(shape)
        - gammaln(shape)
        + gammaln(prior_shape)
        + prior_shape * (np.log(rate) - np.log(prior_rate))
        + shape * (prior_rate / rate - 1.0)
    )
