"""The Beta family and stick-breaking weights: expectations, KL, natural parameters.

``Beta(a, b)`` is the law of the first coordinate of ``Dirichlet((a, b))``, so
its expectations (:func:`beta_expected_log`) and KL (:func:`kl_beta`) are the
Dirichlet's two-category case. The mixture's Dirichlet process prior breaks
a stick: ``pi_k = v_k prod_{j<k} (1 - v_j)`` with Beta sticks ``v_k``, whose
expected log-weights :func:`stick_breaking_expected_log_weights` gives (Blei
and Jordan 2006, eqs. 3 and 16); :func:`beta_to_natural` and
:func:`natural_to_beta` serve stochastic VI (Hoffman et al. 2013). Notation:
:mod:`skvi._core.families`.

References
----------
.. [1] Blei, D. M. and Jordan, M. I. (2006). Variational inference for
   Dirichlet process mixtures. Bayesian Analysis 1(1), 121-143.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from .dirichlet import dirichlet_expected_log, kl_dirichlet


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
