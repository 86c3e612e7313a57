"""The Normal family: the expected Normal log-likelihood and the Normal KLs.

:func:`expected_log_normal` is ``E_q[sum_i w_i log Normal(x_i | mu, 1/tau)]``
under ``q(mu) = Normal(m, s2)`` and ``q(tau) = Gamma(a, b)``, the one formula
behind both the ELBO's data term and each sample's ``score_samples``;
:func:`kl_normal` and :func:`kl_multivariate_normal` are the KLs between two
Normals (Bishop 2006, eqs. 2.43 and B.38-B.41), in ratio form so that
extreme scales stay accurate. The Cholesky helpers of that ratio form serve
the Wishart family too. Notation: :mod:`skvi._core.families`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

LOG_2PI = np.log(2.0 * np.pi)


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


def _log_ratio(numerator, denominator):
    """``log(x / y)``, as ``log x - log y`` where ``x / y`` leaves the normal range."""
    with np.errstate(divide="ignore", under="ignore"):
        ratio = np.divide(numerator, denominator)
        representable = (ratio >= np.finfo(float).tiny) & (ratio < np.inf)
        return np.where(
            representable,
            np.log(np.where(representable, ratio, 1.0)),
            np.log(numerator) - np.log(denominator),
        )


def kl_normal(mean, std, prior_mean, prior_std):
    """KL(Normal(mean, std**2) || Normal(prior_mean, prior_std**2)), in ratio form.

    With ``r = s / s0`` and ``z = (m - m0) / s0`` (Bishop 2006, eq. 10.71 with its
    expectations written out)::

        KL = -log r + ((r - 1)(r + 1) + z**2) / 2
           = log(s0 / s) + ((s / s0)**2 + ((m - m0) / s0)**2 - 1) / 2

    Only ratios of like quantities appear, so the divergence is finite and
    accurate for any representable standard deviations (``s0 = 1e-200`` or
    ``1e200`` included) whenever the divergence itself is below the overflow
    threshold; ``log r`` falls back to ``log s - log s0`` where ``s / s0``
    over- or underflows.

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

    Examples
    --------
    >>> import numpy as np
    >>> float(kl_normal(0.0, 1.0, 1.0, 1.0))  # (m - m0)**2 / 2
    0.5
    >>> float(kl_normal(0.0, 1e-200, 0.0, 1e-200))
    0.0
    >>> bool(np.isclose(kl_normal(0.0, 1.0, 0.0, 1e200), np.log(1e200) - 0.5))
    True
    """
    mean, std, prior_mean, prior_std = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (mean, std, prior_mean, prior_std))
    )
    # A ratio or shift beyond the float range makes the divergence +inf, exactly.
    with np.errstate(over="ignore", under="ignore"):
        ratio = std / prior_std
        standardized_shift = (mean - prior_mean) / prior_std
        # (r - 1)(r + 1), not r**2 - 1: r - 1 is exact near r = 1, where the
        # divergence is the small difference of this term and log r.
        return 0.5 * (
            (ratio - 1.0) * (ratio + 1.0) + standardized_shift * standardized_shift
        ) - _log_ratio(std, prior_std)


def kl_multivariate_normal(mean, covariance, prior_mean, prior_covariance):
    """KL(Normal(mean, covariance) || Normal(prior_mean, prior_covariance)), d-variate.

    From ``E_q[log q - log p]`` (Bishop 2006, eqs. 2.43 and B.38-B.41)::

        KL = 1/2 (tr(S0^-1 S) + (m - m0)^T S0^-1 (m - m0) - d - log|S0^-1 S|)

    in ratio form, as :func:`kl_normal`: with ``M = L0^-1 L`` and
    ``z = L0^-1 (m - m0)``, ``L``, ``L0`` the Cholesky factors of ``S``, ``S0``,
    ``tr(S0^-1 S) = ||M||_F**2``, ``log|S0^-1 S| = 2 sum_i log M_ii`` and the
    quadratic form is ``||z||**2``; covariances of any common magnitude give
    the divergence of their ratio. For ``d = 1`` it is :func:`kl_normal`.

    Parameters
    ----------
    mean : array-like of shape (..., d)
        Mean ``m`` of q.
    covariance : array-like of shape (..., d, d)
        Symmetric positive definite covariance ``S`` of q.
    prior_mean : array-like of shape (..., d)
        Mean ``m0`` of the prior.
    prior_covariance : array-like of shape (..., d, d)
        Symmetric positive definite covariance ``S0`` of the prior.

    Returns
    -------
    ndarray of shape (...)
        The divergence, >= 0, broadcast over the leading axes.

    Examples
    --------
    >>> import numpy as np
    >>> float(kl_multivariate_normal(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)))
    1.0
    >>> bool(np.isclose(kl_multivariate_normal([0.0], [[4.0]], [1.0], [[1.0]]),
    ...                 kl_normal(0.0, 2.0, 1.0, 1.0)))
    True
    """
    prior_covariance = np.asarray(prior_covariance, dtype=float)
    relative = _relative_cholesky(covariance, prior_covariance)
    dimension = relative.shape[-1]
    shift = np.asarray(mean, dtype=float) - np.asarray(prior_mean, dtype=float)
    standardized_shift = np.linalg.solve(
        np.linalg.cholesky(prior_covariance), shift[..., None]
    )[..., 0]
    trace = np.square(relative).sum(axis=(-2, -1))
    log_det = 2.0 * np.log(np.diagonal(relative, axis1=-2, axis2=-1).copy()).sum(
        axis=-1
    )
    return 0.5 * (
        trace - dimension + np.square(standardized_shift).sum(axis=-1) - log_det
    )


def _is_diagonal(matrices):
    """Whether every matrix of a (..., d, d) stack is diagonal (an O(d**2) test)."""
    d = matrices.shape[-1]
    flat = matrices.reshape(-1, d * d)[:, 1:]
    return d == 1 or not np.any(flat.reshape(-1, d - 1, d + 1)[:, :, :-1])


def _cholesky(matrices):
    """Lower Cholesky factors; O(d**2) for diagonal ones (the mixture's diag types)."""
    if _is_diagonal(matrices):
        factors = np.zeros_like(matrices)
        d = matrices.shape[-1]
        diagonal = np.sqrt(np.diagonal(matrices, axis1=-2, axis2=-1))
        factors[..., np.arange(d), np.arange(d)] = diagonal
        return factors
    return np.linalg.cholesky(matrices)


def _relative_cholesky(scale, prior_scale):
    """``M = L0^-1 L`` for ``W = L L^T``, ``W0 = L0 L0^T``; ``W0^-1 W`` ~ ``M M^T``."""
    cholesky = _cholesky(np.asarray(scale, dtype=float))
    prior_cholesky = _cholesky(np.asarray(prior_scale, dtype=float))
    if _is_diagonal(prior_cholesky) and _is_diagonal(cholesky):
        d = cholesky.shape[-1]
        prior_diagonal = np.diagonal(prior_cholesky, axis1=-2, axis2=-1)
        return cholesky / prior_diagonal[..., :, None] * np.eye(d)
    return np.linalg.solve(prior_cholesky, cholesky)
