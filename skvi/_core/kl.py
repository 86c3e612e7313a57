"""KL divergences between two members of one variational family.

Each ``kl_<family>(q parameters, prior parameters)`` returns ``KL(q || prior)
= E_q[log q - log prior]`` in nats, a pure function of arrays broadcast over
leading axes (features, mixture components). The parametrisations are those
of :mod:`skvi._core.expectations` (Bishop, *Pattern Recognition and Machine
Learning*, 2006, Appendix B): Gamma with a **rate**, Wishart with a scale
matrix ``W`` and ``E[Lambda] = nu W``.

Where a parameter may be extreme (a prior standard deviation of 1e-200 or
1e200, say), the divergence is written through ratios of like quantities
(``s / s0``, ``L0^-1 L``, ``beta0 / beta``) so that it stays finite and
accurate whenever the divergence itself is representable.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import digamma, gammaln

from .expectations import (
    _log_multivariate_gamma,
    _multivariate_digamma,
    dirichlet_expected_log,
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
    # contiguous copy: see skvi._core.expectations._log_det_from_cholesky
    log_det = 2.0 * np.log(np.diagonal(relative, axis1=-2, axis2=-1).copy()).sum(
        axis=-1
    )
    return 0.5 * (
        trace - dimension + np.square(standardized_shift).sum(axis=-1) - log_det
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


def kl_wishart(dof, scale, prior_dof, prior_scale):
    """KL(Wishart(scale, dof) || Wishart(prior_scale, prior_dof)).

    From ``E_q[log q - log p]`` with the Wishart density (Bishop 2006, B.78-B.81)
    and ``E_q[Lambda] = nu W``::

        KL = (nu - nu0)/2 psi_d(nu/2) - log Gamma_d(nu/2) + log Gamma_d(nu0/2)
             - nu0/2 log|W0^-1 W| + nu/2 (tr(W0^-1 W) - d)

    where ``psi_d(x) = sum_{i=1..d} psi(x + (1 - i)/2)`` and ``Gamma_d`` is the
    multivariate Gamma function (the normaliser of B.79). Both matrix terms
    come from ``M = L0^-1 L`` with ``L``, ``L0`` the Cholesky factors of ``W``,
    ``W0``: ``tr(W0^-1 W) = ||M||_F**2`` and ``log|W0^-1 W| = 2 sum_i log M_ii``,
    so scales of any magnitude (1e-200 I against 2e-200 I, say) give the same
    divergence as their ratio.

    Parameters
    ----------
    dof : array-like of shape (...)
        Degrees of freedom ``nu > d - 1`` of q.
    scale : array-like of shape (..., d, d)
        Symmetric positive definite scale matrix ``W`` of q.
    prior_dof : array-like of shape (...)
        Degrees of freedom ``nu0 > d - 1`` of the prior.
    prior_scale : array-like of shape (..., d, d)
        Symmetric positive definite scale matrix ``W0`` of the prior.

    Returns
    -------
    ndarray of shape (...)
        The divergence, >= 0, broadcast over the leading axes.

    Examples
    --------
    >>> import numpy as np
    >>> float(kl_wishart(5.0, np.eye(2), 5.0, np.eye(2)))
    0.0
    >>> # In one dimension Wishart(w, nu) is Gamma(nu/2, rate 1/(2 w)).
    >>> bool(np.isclose(kl_wishart(3.0, [[2.0]], 5.0, [[0.5]]),
    ...                 kl_gamma(1.5, 0.25, 2.5, 1.0)))
    True
    """
    relative = _relative_cholesky(scale, prior_scale)
    trace = np.square(relative).sum(axis=(-2, -1))
    # contiguous copy: see skvi._core.expectations._log_det_from_cholesky
    log_det = 2.0 * np.log(np.diagonal(relative, axis1=-2, axis2=-1).copy()).sum(
        axis=-1
    )
    return _kl_wishart_from(relative.shape[-1], dof, prior_dof, trace, log_det)


def _kl_wishart_from(dimension, dof, prior_dof, trace, log_det):
    """:func:`kl_wishart` from ``tr(W0^-1 W)`` and ``log|W0^-1 W|`` (B.78-B.81).

    The one place of the formula: callers that hold the two matrix terms in
    another form (the mixture's precision factors) pass them here.
    """
    dof = np.asarray(dof, dtype=float)
    prior_dof = np.asarray(prior_dof, dtype=float)
    return (
        0.5 * (dof - prior_dof) * _multivariate_digamma(dof, dimension)
        - _log_multivariate_gamma(dof, dimension)
        + _log_multivariate_gamma(prior_dof, dimension)
        - 0.5 * prior_dof * log_det
        + 0.5 * dof * (trace - dimension)
    )


def kl_normal_wishart(
    mean,
    mean_precision,
    dof,
    scale,
    prior_mean,
    prior_mean_precision,
    prior_dof,
    prior_scale,
):
    """KL between two Normal-Wishart distributions over ``(mu, Lambda)``.

    For ``q(mu, Lambda) = N(mu | m, (beta Lambda)^-1) W(Lambda | W, nu)`` and the
    prior ``p`` of the same form with ``m0, beta0, W0, nu0`` (Bishop 2006,
    eqs. 10.40 and 10.59-10.63; the Normal terms of eqs. 10.74 and 10.77)::

        KL = d/2 (r - 1 - log r) + beta0 nu / 2 (m - m0)^T W (m - m0)
             + KL(W(W, nu) || W(W0, nu0)),      r = beta0 / beta

    the Normal part being the expectation over ``q(Lambda)`` of the KL between
    the two conditional Normals, which share ``Lambda``. The quadratic form is
    ``||L^T (m - m0)||**2`` with ``L`` the Cholesky factor of ``W``.

    Parameters
    ----------
    mean : array-like of shape (..., d)
        Mean ``m`` of q(mu | Lambda).
    mean_precision : array-like of shape (...)
        Precision scaling ``beta > 0`` of q(mu | Lambda).
    dof : array-like of shape (...)
        Degrees of freedom ``nu > d - 1`` of q(Lambda).
    scale : array-like of shape (..., d, d)
        Scale matrix ``W`` of q(Lambda).
    prior_mean, prior_mean_precision, prior_dof, prior_scale : array-like
        ``m0``, ``beta0``, ``nu0``, ``W0`` of the prior, shaped as above.

    Returns
    -------
    ndarray of shape (...)
        The divergence, >= 0, broadcast over the leading axes.

    See Also
    --------
    kl_wishart : The Wishart part.

    Examples
    --------
    >>> import numpy as np
    >>> float(kl_normal_wishart(np.zeros(2), 1.0, 4.0, np.eye(2),
    ...                         np.ones(2), 1.0, 4.0, np.eye(2)))  # nu |m - m0|^2 / 2
    4.0
    """
    scale = np.asarray(scale, dtype=float)
    shift = np.einsum(
        "...ji,...j->...i",
        _cholesky(scale),
        np.asarray(mean, dtype=float) - np.asarray(prior_mean, dtype=float),
    )
    relative = _relative_cholesky(scale, prior_scale)
    return _kl_normal_wishart_from(
        scale.shape[-1],
        mean_precision,
        dof,
        prior_mean_precision,
        prior_dof,
        trace=np.square(relative).sum(axis=(-2, -1)),
        # contiguous copy: see skvi._core.expectations._log_det_from_cholesky
        log_det=2.0
        * np.log(np.diagonal(relative, axis1=-2, axis2=-1).copy()).sum(axis=-1),
        expected_quadratic=np.asarray(dof, dtype=float) * np.square(shift).sum(-1),
    )


def _kl_normal_wishart_from(
    dimension,
    mean_precision,
    dof,
    prior_mean_precision,
    prior_dof,
    *,
    trace,
    log_det,
    expected_quadratic,
):
    """:func:`kl_normal_wishart` from its matrix terms.

    ``trace = tr(W0^-1 W)``, ``log_det = log|W0^-1 W|`` and
    ``expected_quadratic = (m - m0)^T E_q[Lambda] (m - m0) = nu (m - m0)^T W
    (m - m0)``: the one place of the formula, for callers that hold these
    terms in another form (the mixture's precision factors, in O(d**2)).
    """
    mean_precision = np.asarray(mean_precision, dtype=float)
    prior_mean_precision = np.asarray(prior_mean_precision, dtype=float)
    scale_part = (prior_mean_precision / mean_precision - 1.0) - _log_ratio(
        prior_mean_precision, mean_precision
    )
    shift_part = prior_mean_precision * expected_quadratic
    return 0.5 * (dimension * scale_part + shift_part) + _kl_wishart_from(
        dimension, dof, prior_dof, trace, log_det
    )


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


def kl_beta(a, b, prior_a, prior_b):
    """KL(Beta(a, b) || Beta(prior_a, prior_b)).

    The two-category case of :func:`kl_dirichlet`, ``Beta(a, b)`` being the law
    of the first coordinate of ``Dirichlet((a, b))``::

        KL = log B(a0, b0) - log B(a, b) + (a - a0) psi(a) + (b - b0) psi(b)
             - (a + b - a0 - b0) psi(a + b)

    Parameters
    ----------
    a, b : array-like
        Shapes ``a > 0`` and ``b > 0`` of q (for stick-breaking, Blei & Jordan
        2006, eq. 16).
    prior_a, prior_b : array-like
        Shapes of the prior (``1`` and the concentration of a Dirichlet process).

    Returns
    -------
    ndarray
        The divergence, >= 0, broadcast over the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> # Beta(2, 1) has density 2 v: KL to the uniform is log 2 - 1/2.
    >>> bool(np.isclose(kl_beta(2.0, 1.0, 1.0, 1.0), np.log(2) - 0.5))
    True
    """
    return kl_dirichlet(
        np.stack(np.broadcast_arrays(a, b), axis=-1),
        np.stack(np.broadcast_arrays(prior_a, prior_b), axis=-1),
    )
