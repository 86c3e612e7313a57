"""The Wishart and Normal-Wishart families: expectations, normaliser, KLs, natural form.

``Wishart(W, nu)``'s mean ``E[Lambda] = nu W`` and
``E[log|Lambda|] = psi_d(nu/2) + d log 2 + log|W|`` (Bishop 2006, B.80-B.81),
its log-normaliser ``log B(W, nu)`` (B.79), and :func:`kl_wishart`; the
Normal-Wishart (a Normal mean with precision ``beta Lambda`` given a Wishart
``Lambda``, the mixture's component family, Bishop 10.40), its KL
:func:`kl_normal_wishart` (10.74, 10.77), also from the precision factors
(``_kl_normal_wishart_from``), and its natural parameters for stochastic VI
(:func:`normal_wishart_to_natural`, :func:`natural_to_normal_wishart`;
Hoffman et al. 2013). Notation: :mod:`skvi._core.families`.

References
----------
.. [1] Bishop, C. M. (2006). Pattern Recognition and Machine Learning,
   §10.2 and Appendix B.
.. [2] Hoffman, M. D., Blei, D. M., Wang, C. and Paisley, J. (2013).
   Stochastic variational inference. JMLR 14, 1303-1347.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import digamma, gammaln

from .normal import _cholesky, _log_ratio, _relative_cholesky

_LOG_2 = np.log(2.0)


_LOG_PI = np.log(np.pi)


def _half_dof_offsets(dof, dimension):
    """``dof/2 + (1 - i)/2`` for ``i = 1..d`` on a new last axis (B.79, B.81)."""
    return 0.5 * (np.asarray(dof, dtype=float)[..., None] - np.arange(dimension))


def _multivariate_digamma(dof, dimension):
    """``psi_d(nu/2) = sum_{i=1..d} psi((nu + 1 - i)/2)`` (the sum in B.81)."""
    return digamma(_half_dof_offsets(dof, dimension)).sum(axis=-1)


def _log_multivariate_gamma(dof, dimension):
    """``log Gamma_d(nu/2) = d(d-1)/4 log pi + sum_i log Gamma((nu+1-i)/2)`` (B.79)."""
    return 0.25 * dimension * (dimension - 1) * _LOG_PI + gammaln(
        _half_dof_offsets(dof, dimension)
    ).sum(axis=-1)


def _log_det_from_cholesky(cholesky_factor):
    """``log|W| = 2 sum_i log L_ii`` for ``W = L L^T``."""
    # The log of a contiguous copy of the diagonal, never of the strided view
    # (here and wherever skvi takes the log of a diagonal): numpy 1.26 on
    # AVX-512 takes its SIMD log for a strided input unless the output array
    # lies within one stride past the view's last element (an overlap test
    # that overshoots), where it takes libm's; the two differ by an ulp for
    # some inputs, so a result depended on where the allocator put the output.
    # A contiguous input always gets the same kernel (numpy 2.4 gives the
    # same values either way).
    diagonal = np.diagonal(cholesky_factor, axis1=-2, axis2=-1).copy()
    return 2.0 * np.log(diagonal).sum(axis=-1)


def wishart_expected_precision(dof, scale):
    """Mean of a Wishart matrix, ``E[Lambda] = nu W``.

    Bishop (2006), eq. B.80.

    Parameters
    ----------
    dof : array-like of shape (...)
        Degrees of freedom ``nu > d - 1``.
    scale : array-like of shape (..., d, d)
        Symmetric positive definite scale matrix ``W``.

    Returns
    -------
    ndarray of shape (..., d, d)
        ``E[Lambda]``, broadcast over the leading axes.

    Examples
    --------
    >>> import numpy as np
    >>> wishart_expected_precision(4.0, 0.5 * np.eye(2))
    array([[2., 0.],
           [0., 2.]])
    """
    return np.asarray(dof, dtype=float)[..., None, None] * np.asarray(scale)


def wishart_expected_log_det(dof, scale):
    """Expected log-determinant of a Wishart matrix, ``E[log|Lambda|]``.

    ``E[log|Lambda|] = sum_{i=1..d} psi((nu + 1 - i)/2) + d log 2 + log|W|``
    (Bishop 2006, eq. B.81; eq. 10.65), with ``log|W|`` from the Cholesky
    factor of ``W`` so that no determinant over- or underflows.

    Parameters
    ----------
    dof : array-like of shape (...)
        Degrees of freedom ``nu > d - 1``.
    scale : array-like of shape (..., d, d)
        Symmetric positive definite scale matrix ``W``.

    Returns
    -------
    ndarray of shape (...)
        ``E[log|Lambda|]``, broadcast over the leading axes.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import digamma
    >>> value = wishart_expected_log_det(3.0, np.eye(2))
    >>> bool(np.isclose(value, digamma(1.5) + digamma(1.0) + 2 * np.log(2)))
    True
    """
    scale = np.asarray(scale, dtype=float)
    dimension = scale.shape[-1]
    log_det_scale = _log_det_from_cholesky(np.linalg.cholesky(scale))
    return _expected_log_det(dof, log_det_scale, dimension)


def _expected_log_det(dof, log_det_scale, dimension):
    """``E[log|Lambda|] = psi_d(nu/2) + d log 2 + log|W|`` (B.81)."""
    return _multivariate_digamma(dof, dimension) + dimension * _LOG_2 + log_det_scale


def _wishart_log_normalizer(dof, log_det_scale, dimension):
    """``log B(W, nu) = -nu/2 log|W| - nu d/2 log 2 - log Gamma_d(nu/2)`` (B.79)."""
    return -0.5 * dof * (log_det_scale + dimension * _LOG_2) - _log_multivariate_gamma(
        dof, dimension
    )


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
    >>> from skvi._core.families.gamma import kl_gamma
    >>> float(kl_wishart(5.0, np.eye(2), 5.0, np.eye(2)))
    0.0
    >>> # In one dimension Wishart(w, nu) is Gamma(nu/2, rate 1/(2 w)).
    >>> bool(np.isclose(kl_wishart(3.0, [[2.0]], 5.0, [[0.5]]),
    ...                 kl_gamma(1.5, 0.25, 2.5, 1.0)))
    True
    """
    relative = _relative_cholesky(scale, prior_scale)
    trace = np.square(relative).sum(axis=(-2, -1))
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


def _symmetric(matrix):
    """``(A + A^T) / 2``: removes the rounding asymmetry of an inverse."""
    return 0.5 * (matrix + np.swapaxes(matrix, -1, -2))


def _inverse_spd(matrix):
    """``A^-1 = L^-T L^-1`` of a symmetric positive definite ``A = L L^T``."""
    inverse_cholesky = np.linalg.inv(np.linalg.cholesky(matrix))
    return np.swapaxes(inverse_cholesky, -1, -2) @ inverse_cholesky


def normal_wishart_to_natural(mean, mean_precision, dof, scale):
    """Natural parameters of ``N(mu | m, (beta Lambda)^-1) W(Lambda | W, nu)``.

    The joint density (Bishop 2006, eqs. 2.155 and 10.59-10.63) is, up to a
    constant, ``|Lambda|**((nu - d)/2) exp(-beta/2 (mu - m)^T Lambda (mu - m)
    - tr(W^-1 Lambda)/2)``. With sufficient statistics
    ``T(mu, Lambda) = (Lambda mu, mu^T Lambda mu, Lambda, log|Lambda|)`` (the
    third paired with ``eta_3`` by the trace ``tr(eta_3 Lambda)``)::

        eta = (beta m, -beta/2, -(W^-1 + beta m m^T)/2, (nu - d)/2)

    These are linear in the data: the posterior of Bishop's eqs. 10.60-10.63
    is the prior's ``eta`` plus ``(sum_n x_n, -N/2, -sum_n x_n x_n^T / 2, N/2)``.

    Parameters
    ----------
    mean : array-like of shape (..., d)
        Mean ``m`` of mu given Lambda.
    mean_precision : array-like of shape (...)
        Precision scaling ``beta > 0``.
    dof : array-like of shape (...)
        Degrees of freedom ``nu > d - 1``.
    scale : array-like of shape (..., d, d)
        Symmetric positive definite Wishart scale matrix ``W``.

    Returns
    -------
    tuple of ndarray
        ``(eta_1 (..., d), eta_2 (...), eta_3 (..., d, d), eta_4 (...))``.

    Examples
    --------
    >>> import numpy as np
    >>> eta = normal_wishart_to_natural(np.ones(2), 2.0, 5.0, 0.5 * np.eye(2))
    >>> eta[0], float(eta[1]), float(eta[3])
    (array([2., 2.]), -1.0, 1.5)
    >>> eta[2]
    array([[-2., -1.],
           [-1., -2.]])
    """
    mean = np.asarray(mean, dtype=float)
    mean_precision = np.asarray(mean_precision, dtype=float)
    scale = np.asarray(scale, dtype=float)
    weighted_mean = mean_precision[..., None] * mean
    return (
        weighted_mean,
        -0.5 * mean_precision,
        -0.5 * (_inverse_spd(scale) + weighted_mean[..., :, None] * mean[..., None, :]),
        0.5 * (np.asarray(dof, dtype=float) - scale.shape[-1]),
    )


def natural_to_normal_wishart(natural):
    """``(mean, mean_precision, dof, scale)`` of a Normal-Wishart from its ``eta``.

    The inverse of :func:`normal_wishart_to_natural`::

        beta = -2 eta_2,   m = eta_1 / beta,   nu = 2 eta_4 + d,
        W = (-2 eta_3 - beta m m^T)^-1

    Parameters
    ----------
    natural : tuple of array-like
        ``(eta_1 (..., d), eta_2 (...), eta_3 (..., d, d), eta_4 (...))``.

    Returns
    -------
    mean : ndarray of shape (..., d)
    mean_precision : ndarray of shape (...)
    dof : ndarray of shape (...)
    scale : ndarray of shape (..., d, d)

    Examples
    --------
    >>> import numpy as np
    >>> eta = (np.array([2.0, 2.0]), -1.0, -np.array([[2.0, 1.0], [1.0, 2.0]]), 1.5)
    >>> mean, mean_precision, dof, scale = natural_to_normal_wishart(eta)
    >>> mean, float(mean_precision), float(dof)
    (array([1., 1.]), 2.0, 5.0)
    >>> scale
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    weighted_mean, negative_half_precision, matrix, half_excess_dof = (
        np.asarray(part, dtype=float) for part in natural
    )
    dimension = weighted_mean.shape[-1]
    mean_precision = -2.0 * negative_half_precision
    mean = weighted_mean / mean_precision[..., None]
    inverse_scale = -2.0 * matrix - weighted_mean[..., :, None] * mean[..., None, :]
    return (
        mean,
        mean_precision,
        2.0 * half_excess_dof + dimension,
        _symmetric(_inverse_spd(_symmetric(inverse_scale))),
    )
