"""The stochastic VI step on natural parameters, and its step-size schedule.

In an exponential family ``q(x) = h(x) exp(eta . T(x) - A(eta))`` the
mean-field update of a conjugate factor is linear in the natural parameters
``eta``: ``eta = eta_prior + sum over data of the sufficient statistics``.
Stochastic variational inference (Hoffman, Blei, Wang & Paisley 2013) steps
``eta`` towards a noisy estimate of that update computed from a mini-batch,
``eta <- (1 - rho) eta + rho eta_hat`` (their eq. 25): :func:`natural_step`,
on the tuples that each family's ``<family>_to_natural`` returns
(:mod:`skvi._core.families`); :func:`svi_step_size` is the schedule
``rho_t``, and :data:`SVI_CONSTRAINTS` the ``partial_fit`` parameters that
set it, shared by the mixture and the Student-t model.

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
