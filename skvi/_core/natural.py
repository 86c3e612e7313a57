"""Natural parameters of the conjugate families, and the stochastic VI step on them.

In an exponential family ``q(x) = h(x) exp(eta . T(x) - A(eta))`` the
mean-field update of a conjugate factor is linear in the natural parameters
``eta``: ``eta = eta_prior + sum over data of the sufficient statistics``.
Stochastic variational inference (Hoffman, Blei, Wang & Paisley 2013) steps
``eta`` towards a noisy estimate of that update computed from a mini-batch,
``eta <- (1 - rho) eta + rho eta_hat`` (their eq. 25). This module converts
each family between its usual parameters (those of :mod:`skvi._core.expectations`)
and a tuple of natural-parameter arrays, and takes that step.

Every ``<family>_to_natural`` returns a tuple of arrays, and every
``natural_to_<family>`` takes such a tuple, so that
``natural_to_beta(natural_step(beta_to_natural(a, b), target, rho))`` reads
as the update it is. The families are those the mixture's ``partial_fit``
steps: Dirichlet, Beta (stick-breaking) and Normal-Wishart. Leading axes
broadcast as elsewhere in skvi.

References
----------
.. [1] Hoffman, M. D., Blei, D. M., Wang, C. and Paisley, J. (2013).
   Stochastic variational inference. JMLR 14, 1303-1347.
.. [2] Bishop, C. M. (2006). Pattern Recognition and Machine Learning,
   §2.4 (exponential family) and Appendix B.
"""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Real

import numpy as np

from .parameters import Interval


def _symmetric(matrix):
    """``(A + A^T) / 2``: removes the rounding asymmetry of an inverse."""
    return 0.5 * (matrix + np.swapaxes(matrix, -1, -2))


def _inverse_spd(matrix):
    """``A^-1 = L^-T L^-1`` of a symmetric positive definite ``A = L L^T``."""
    inverse_cholesky = np.linalg.inv(np.linalg.cholesky(matrix))
    return np.swapaxes(inverse_cholesky, -1, -2) @ inverse_cholesky


# ---------------------------------------------------------------------------
# Dirichlet and Beta
# ---------------------------------------------------------------------------


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


def beta_to_natural(a, b):
    """Natural parameters of ``Beta(a, b)``.

    With sufficient statistics ``T(v) = (log v, log(1 - v))`` (Bishop 2006, B.6)::

        eta = (a - 1, b - 1)

    Parameters
    ----------
    a, b : array-like
        Shapes ``a > 0`` and ``b > 0``.

    Returns
    -------
    tuple of ndarray
        ``(eta_1, eta_2)``.

    Examples
    --------
    >>> import numpy as np
    >>> beta_to_natural(np.array([1.0, 2.0]), np.array([3.0, 0.5]))
    (array([0., 1.]), array([ 2. , -0.5]))
    """
    return np.subtract(a, 1.0), np.subtract(b, 1.0)


def natural_to_beta(natural):
    """``(a, b)`` of the Beta with natural parameters ``(a - 1, b - 1)``.

    The inverse of :func:`beta_to_natural`.

    Parameters
    ----------
    natural : tuple of array-like
        ``(eta_1, eta_2)``, both ``> -1``.

    Returns
    -------
    a, b : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> natural_to_beta((np.array([0.0, 1.0]), np.array([2.0, -0.5])))
    (array([1., 2.]), array([3. , 0.5]))
    """
    first, second = natural
    return np.add(first, 1.0), np.add(second, 1.0)


# ---------------------------------------------------------------------------
# Normal-Wishart
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Stochastic variational inference
# ---------------------------------------------------------------------------


def natural_step(current, target, step_size):
    """One stochastic VI step on natural parameters, ``(1 - rho) eta + rho eta_hat``.

    Hoffman, Blei, Wang & Paisley (2013), eq. 25: the natural gradient of the
    ELBO with respect to a global conjugate factor's natural parameters is
    ``eta_hat - eta``, where ``eta_hat`` is the coordinate update computed from
    a mini-batch as if it were the whole data set replicated (their eq. 24).
    With ``0 < rho <= 1`` the step is a convex combination, so it stays in the
    natural-parameter domain; ``rho = 1`` returns ``target`` itself (the
    CAVI update).

    Parameters
    ----------
    current, target : ndarray or tuple of ndarray
        The factor's natural parameters ``eta`` and the mini-batch update
        ``eta_hat``, as returned by a ``<family>_to_natural`` function;
        a tuple is stepped element by element.
    step_size : float
        ``rho`` in ``(0, 1]``; Robbins-Monro schedules use
        ``rho_t = (t + tau)**(-kappa)`` with ``kappa`` in ``(0.5, 1]``
        (:func:`svi_step_size`).

    Returns
    -------
    ndarray or tuple of ndarray
        The stepped natural parameters, of the same structure as ``current``.

    Raises
    ------
    ValueError
        If ``step_size`` is not in ``(0, 1]``, or ``current`` and ``target``
        do not have the same number of parts.

    Examples
    --------
    >>> import numpy as np
    >>> natural_step((np.array([0.0]), np.array([-1.0])),
    ...              (np.array([2.0]), np.array([-3.0])), 0.25)
    (array([0.5]), array([-1.5]))
    """
    if not (isinstance(step_size, Real) and 0.0 < step_size <= 1.0):
        raise ValueError(
            f"step_size must be a number in (0, 1], got {step_size!r}; "
            "use a Robbins-Monro schedule such as svi_step_size(t)."
        )
    if not isinstance(current, tuple):
        return (1.0 - step_size) * np.asarray(current) + step_size * np.asarray(target)
    if not isinstance(target, tuple) or len(target) != len(current):
        raise ValueError(
            "current and target must be natural parameters of the same family "
            f"(tuples of equal length); got {len(current)} and "
            f"{len(target) if isinstance(target, tuple) else 'a non-tuple'} parts."
        )
    return tuple(
        (1.0 - step_size) * np.asarray(part) + step_size * np.asarray(update)
        for part, update in zip(current, target, strict=True)
    )


# partial_fit's stochastic VI parameters (the mixture's and the Student-t
# model's): the step size rho_t = (learning_offset + t)**-learning_decay of
# Hoffman et al. (2013), with decay in (0.5, 1] so that sum rho = inf and
# sum rho**2 < inf, and the number of rows the stream stands for.
SVI_CONSTRAINTS = {
    "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
    "learning_offset": [Interval(Real, 0.0, None, closed="left")],
    "total_samples": [Interval(Real, 0.0, None, closed="neither")],
}


def svi_step_size(iteration, delay=1.0, forgetting_rate=0.7):
    """Robbins-Monro step size ``rho_t = (t + tau)**(-kappa)``.

    Hoffman, Blei, Wang & Paisley (2013), eq. 26 and §4: with
    ``kappa`` (the forgetting rate) in ``(0.5, 1]`` and ``tau >= 0`` (the
    delay, which down-weights early iterations), ``sum rho_t = inf`` and
    ``sum rho_t**2 < inf``, the conditions under which the steps of
    :func:`natural_step` converge.

    Parameters
    ----------
    iteration : int or array-like
        ``t >= 0``.
    delay : float, default=1.0
        ``tau >= 0``; ``t + tau`` must be ``>= 1`` so that ``rho <= 1``.
    forgetting_rate : float, default=0.7
        ``kappa`` in ``(0.5, 1]``.

    Returns
    -------
    float or ndarray
        ``rho_t`` in ``(0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> svi_step_size(np.array([0, 3, 15]), delay=1.0, forgetting_rate=0.5)
    array([1.  , 0.5 , 0.25])
    """
    return np.power(np.add(iteration, delay), -forgetting_rate)
