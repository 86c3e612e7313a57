"""Expectations under the variational families: Normal, Gamma, Wishart, Dirichlet, Beta.

Every function here is a pure, vectorised function of arrays: leading axes
(features, mixture components) broadcast; matrix arguments carry their two
matrix axes last and simplex arguments their category axis last. The
estimators compose these pieces; no formula is written twice.

Notation (Bishop, *Pattern Recognition and Machine Learning*, 2006, §10.1-10.2
and Appendix B):

- ``Normal(m, s2)``: mean ``m``, variance ``s2``.
- ``Gamma(a, b)``: shape ``a``, **rate** ``b``; density
  ``b**a / Gamma(a) * tau**(a - 1) * exp(-b * tau)``.
- ``Wishart(W, nu)``: scale matrix ``W`` (d, d), ``nu > d - 1`` degrees of
  freedom; density ``B(W, nu) |Lambda|**((nu - d - 1)/2) exp(-tr(W^-1 Lambda)/2)``
  (B.78), so that ``E[Lambda] = nu W``.
- ``Dirichlet(alpha)``: concentrations ``alpha_k > 0`` on the last axis.
- ``Beta(a, b)``: the law of the first coordinate of ``Dirichlet((a, b))``.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import digamma, gammaln

LOG_2PI = np.log(2.0 * np.pi)
_LOG_2 = np.log(2.0)
_LOG_PI = np.log(np.pi)


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


# ---------------------------------------------------------------------------
# Wishart
# ---------------------------------------------------------------------------


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
    # The log of a contiguous copy of the diagonal, never of the strided view:
    # numpy 1.26 on AVX-512 takes its SIMD log for a strided input unless the
    # output array lies within one stride past the view's last element (an
    # overlap test that overshoots), where it takes libm's; the two differ by
    # an ulp for some inputs, so the result depended on where the allocator
    # put the output. A contiguous input always gets the same kernel (numpy
    # 2.4 gives the same values either way).
    return 2.0 * np.log(np.diagonal(cholesky_factor, axis1=-2, axis2=-1).copy()).sum(
        axis=-1
    )


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


# ---------------------------------------------------------------------------
# Dirichlet, Beta and stick-breaking weights
# ---------------------------------------------------------------------------


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


def beta_expected_log(a, b):
    """Expected logs of a Beta variable and of its complement.

    ``E[log v] = psi(a) - psi(a + b)`` and ``E[log(1 - v)] = psi(b) - psi(a + b)``:
    the two-category case of :func:`dirichlet_expected_log`, as
    ``Beta(a, b)`` is the law of the first coordinate of ``Dirichlet((a, b))``
    (Blei & Jordan 2006, §3).

    Parameters
    ----------
    a, b : array-like
        Shapes ``a > 0`` and ``b > 0`` (broadcast together).

    Returns
    -------
    log_mean : ndarray
        ``E[log v]``.
    log_complement_mean : ndarray
        ``E[log(1 - v)]``.

    Examples
    --------
    >>> log_v, log_1m_v = beta_expected_log(1.0, 1.0)   # uniform: both are -1
    >>> float(log_v), float(log_1m_v)
    (-1.0, -1.0)
    """
    expected = dirichlet_expected_log(np.stack(np.broadcast_arrays(a, b), axis=-1))
    return expected[..., 0], expected[..., 1]


def _exclusive_cumsum(values):
    """``c_k = sum_{j<k} values_j`` over the last axis (``c_1 = 0``)."""
    total = np.cumsum(values, axis=-1)
    return np.concatenate([np.zeros_like(total[..., :1]), total[..., :-1]], axis=-1)


def stick_breaking_expected_log_weights(a, b, *, truncate=False):
    """Expected log-weights of a stick-breaking process, ``E[log pi_k]``.

    With ``pi_k = v_k prod_{j<k} (1 - v_j)`` and independent
    ``q(v_k) = Beta(a_k, b_k)`` (Blei & Jordan 2006, eqs. 3 and 16)::

        E[log pi_k] = E[log v_k] + sum_{j<k} E[log(1 - v_j)]

    with the Beta expectations of :func:`beta_expected_log`.

    Parameters
    ----------
    a, b : array-like of shape (..., K) or, with ``truncate=True``, (..., K - 1)
        Beta shapes of the sticks ``v_k``, in stick order along the last axis.
    truncate : bool, default=False
        If False, one weight per given stick (the convention of
        scikit-learn's ``BayesianGaussianMixture``): the K weights leave the
        mass ``prod_k (1 - v_k)`` to components beyond K.
        If True, the truncated variational family of Blei & Jordan (2006, §3):
        the K-th stick is fixed at ``v_K = 1``, so the K weights sum to one;
        pass the K - 1 free sticks and receive K expected log-weights, the
        last being ``sum_{j<K} E[log(1 - v_j)]``.

    Returns
    -------
    ndarray of shape (..., K)
        ``E[log pi_k]``.

    References
    ----------
    .. [1] Blei, D. M. and Jordan, M. I. (2006). Variational inference for
       Dirichlet process mixtures. Bayesian Analysis 1(1), 121-143.

    Examples
    --------
    >>> import numpy as np
    >>> # Uniform sticks: E[log v] = E[log(1 - v)] = -1, so E[log pi_k] = -k.
    >>> stick_breaking_expected_log_weights(np.ones(3), np.ones(3))
    array([-1., -2., -3.])
    >>> stick_breaking_expected_log_weights(np.ones(2), np.ones(2), truncate=True)
    array([-1., -2., -2.])
    """
    log_stick, log_rest = beta_expected_log(a, b)
    if truncate:
        # The fixed last stick v_K = 1 has E[log v_K] = 0 (Blei & Jordan, §3).
        log_stick = np.concatenate(
            [log_stick, np.zeros_like(log_stick[..., :1])], axis=-1
        )
        log_rest = np.concatenate([log_rest, np.zeros_like(log_rest[..., :1])], axis=-1)
    return log_stick + _exclusive_cumsum(log_rest)
