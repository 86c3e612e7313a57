"""The Dirichlet family: ``E[log pi_k]``, the KL and the natural parameters.

The mixture's weights under a Dirichlet distribution prior:
:func:`dirichlet_expected_log` (Bishop 2006, eq. 10.66; B.21),
:func:`kl_dirichlet` (from the log-normaliser ``log C(alpha)``, B.23), and
:func:`dirichlet_to_natural` / :func:`natural_to_dirichlet` for stochastic VI
(Hoffman et al. 2013). Notation: :mod:`skvi._core.families`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import digamma, gammaln


def dirichlet_expected_log(concentration):
    """Expected log-probabilities under a Dirichlet, ``E[log pi_k]``.

    ``E[log pi_k] = psi(alpha_k) - psi(sum_j alpha_j)`` (Bishop 2006, eq. 10.66;
    B.21), over the last axis.

    Parameters
    ----------
    concentration : array-like of shape (..., K)
        Concentrations ``alpha_k > 0``.

    Returns
    -------
    ndarray of shape (..., K)
        ``E[log pi_k]``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import digamma
    >>> value = dirichlet_expected_log([1.0, 2.0])
    >>> bool(np.allclose(value, digamma([1.0, 2.0]) - digamma(3.0)))
    True
    """
    concentration = np.asarray(concentration, dtype=float)
    return digamma(concentration) - digamma(concentration.sum(axis=-1, keepdims=True))


def _log_dirichlet_normalizer(concentration):
    """``log C(alpha) = log Gamma(sum_k alpha_k) - sum_k log Gamma(alpha_k)`` (B.23)."""
    return gammaln(concentration.sum(axis=-1)) - gammaln(concentration).sum(axis=-1)


def kl_dirichlet(concentration, prior_concentration):
    """KL(Dirichlet(concentration) || Dirichlet(prior_concentration)).

    From ``E_q[log q - log p]`` with the Dirichlet density (Bishop 2006, B.16,
    B.23) and ``E_q[log pi_k] = psi(alpha_k) - psi(sum_j alpha_j)``::

        KL = log C(alpha) - log C(alpha0)
             + sum_k (alpha_k - alpha0_k) (psi(alpha_k) - psi(sum_j alpha_j))

    with ``log C(alpha) = log Gamma(sum_k alpha_k) - sum_k log Gamma(alpha_k)``.

    Parameters
    ----------
    concentration : array-like of shape (..., K)
        Concentrations ``alpha_k > 0`` of q.
    prior_concentration : array-like of shape (..., K)
        Concentrations ``alpha0_k > 0`` of the prior.

    Returns
    -------
    ndarray of shape (...)
        The divergence, >= 0, broadcast over the leading axes.

    Examples
    --------
    >>> float(kl_dirichlet([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]))
    0.0
    """
    concentration = np.asarray(concentration, dtype=float)
    prior_concentration = np.asarray(prior_concentration, dtype=float)
    return (
        _log_dirichlet_normalizer(concentration)
        - _log_dirichlet_normalizer(prior_concentration)
        + (
            (concentration - prior_concentration)
            * dirichlet_expected_log(concentration)
        ).sum(axis=-1)
    )


def dirichlet_to_natural(concentration):
    """Natural parameters of ``Dirichlet(concentration)``.

    With sufficient statistics ``T(pi) = log pi`` (Bishop 2006, B.16)::

        eta = (alpha - 1,)

    Parameters
    ----------
    concentration : array-like of shape (..., K)
        Concentrations ``alpha_k > 0``.

    Returns
    -------
    tuple of one ndarray of shape (..., K)
        ``(eta,)``.

    Examples
    --------
    >>> dirichlet_to_natural([1.0, 2.5])
    (array([0. , 1.5]),)
    """
    return (np.subtract(concentration, 1.0),)


def natural_to_dirichlet(natural):
    """Concentrations of the Dirichlet with natural parameters ``(alpha - 1,)``.

    The inverse of :func:`dirichlet_to_natural`.

    Parameters
    ----------
    natural : tuple of one array-like of shape (..., K)
        ``(eta,)`` with ``eta > -1``.

    Returns
    -------
    ndarray of shape (..., K)
        ``alpha``.

    Examples
    --------
    >>> natural_to_dirichlet(([0.0, 1.5],))
    array([1. , 2.5])
    """
    (log_coefficient,) = natural
    return np.add(log_coefficient, 1.0)
