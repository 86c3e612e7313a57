r"""What the models' exact posteriors and :mod:`skvi.diagnostics` share.

The Normal-Gamma model (the Normal model's, per feature) has independent
priors ``mu ~ Normal(m0, s0**2)`` and ``tau ~ Gamma(a0, b0)``. Integrating
``tau`` out of ``p(mu, tau, X)`` (a Gamma integral; the derivation is in
``skvi/diagnostics/_posterior.py``) leaves, with ``a_n = a0 + W/2``,
``B = b0 + S/2`` and ``u = sqrt(2 B / W)``,

.. math::

    p(\mu \mid X) = e^{l(\mu)} / Z, \qquad
    l(\mu) = -\frac{(\mu - m_0)^2}{2 s_0^2} - a_n \log(1 + y^2), \quad
    y = (\mu - \bar x) / u,

the Normal prior times a Student-t-like likelihood. This module holds what
both :func:`skvi.diagnostics.exact_posterior` (its moments, by adaptive
quadrature) and the Normal model's exact credible interval
(``skvi/_normal/exact.py``, its quantiles) need, vectorised over features:

- :func:`log_integrand`, ``l(mu)``;
- :func:`posterior_modes`, the one or two maxima of ``l``: the roots of a
  cubic (``skvi/diagnostics/_posterior.py``'s comment), between the prior
  mean and the data mean, each found by safeguarded Newton steps;
- :func:`local_scale`, the posterior's width ``(-l''(mu))**-1/2`` at a mode;

and :func:`bracketed_newton` with :data:`MAX_SOLVE_STEPS`: the one
safeguarded Newton step that the three exact intervals' root solves share
(the Normal's diagonal and full models, ``skvi/_normal/exact.py`` and
``exact_full.py``, and the Student-t model's, ``skvi/_student/exact.py``).

References
----------
Press, Teukolsky, Vetterling and Flannery, *Numerical Recipes*, 3rd ed.,
§9.4 (``rtsafe``: Newton's method safeguarded by bisection).
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

# Safeguarded Newton steps for the modes, at most (bisection alone needs
# about 60 from the bracket's width to rounding; Newton far fewer).
_MAX_ROOT_STEPS = 200
# Steps of the intervals' root solves (bracketed_newton), at most.
MAX_SOLVE_STEPS = 100
_EPS = np.finfo(np.float64).eps


def bracketed_newton(x, value, slope, below, low, high):
    """One safeguarded Newton step on brackets ``[low, high]``, vectorised.

    ``below`` marks where the root lies above ``x`` (which then becomes the
    lower end, else the upper). The Newton step ``x - value / slope`` is
    kept where it stays inside the updated bracket, else the bracket's
    midpoint (bisection); at the root Newton lands on the end just moved to
    ``x``, and keeps it. Returns ``(new, low, high)``.
    """
    low = np.where(below, x, low)
    high = np.where(below, high, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        newton = x - value / slope
    bisect = ~((newton >= low) & (newton <= high))
    return np.where(bisect, 0.5 * (low + high), newton), low, high


def log_integrand(mu, data_mean, scale, prior_mean, prior_std, shape):
    """``l(mu) = -((mu - m0)/s0)**2 / 2 - a_n log(1 + ((mu - xbar)/u)**2)``."""
    y = (mu - data_mean) / scale
    return -0.5 * ((mu - prior_mean) / prior_std) ** 2 - shape * np.log1p(y * y)


def _score(mu, data_mean, scale, prior_mean, prior_std, shape):
    """``-s0 l'(mu) = (mu - m0)/s0 + 2 a_n (s0/u) y / (1 + y**2)``, and its slope."""
    y = (mu - data_mean) / scale
    ratio = prior_std / scale
    one_plus = 1.0 + y * y
    value = (mu - prior_mean) / prior_std + 2.0 * shape * ratio * y / one_plus
    slope = 1.0 / prior_std + 2.0 * shape * ratio / scale * (1.0 - y * y) / one_plus**2
    return value, slope


def _root_in(lower, upper, found, params):
    """The root of the score in ``[lower, upper]`` where it increases.

    Newton steps safeguarded by bisection (as ``rtsafe``, Press et al.,
    Numerical Recipes, §9.4), vectorised over features: each evaluation
    moves one end of the bracket, and a Newton step that would leave the
    bracket (by more than rounding) is replaced by bisection. ``found`` marks the
    features whose piece holds such a root (the score is <= 0 at ``lower``
    and >= 0 at ``upper``); the others get NaN.
    """
    lower, upper = lower.copy(), upper.copy()
    # Below any posterior width: a thousandth of the narrower of the prior and
    # the likelihood (the posterior is at least about as wide as their
    # product's), for roots at or near 0.
    data_mean, scale, prior_mean, prior_std, shape = params
    resolution = 1e-3 * np.minimum(prior_std, scale / np.sqrt(2.0 * shape))
    root = lower + 0.5 * (upper - lower)
    for _ in range(_MAX_ROOT_STEPS):
        value, slope = _score(root, *params)
        below = value < 0.0
        lower = np.where(below, root, lower)
        upper = np.where(below, upper, root)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = root - value / slope
        # A step that lands just outside the bracket by rounding (a root at
        # an end, as when a point-like prior pins the mode) is kept, clipped.
        slack = 1e-9 * (upper - lower)
        use_newton = (newton >= lower - slack) & (newton <= upper + slack)
        new_root = np.where(
            use_newton,
            np.clip(newton, lower, upper),
            lower + 0.5 * (upper - lower),
        )
        converged = np.abs(new_root - root) <= _EPS * (2.0 * np.abs(root) + resolution)
        root = new_root
        if np.all(converged | ~found):
            break
    return np.where(found, root, np.nan)


def posterior_modes(weight, data_mean, sum_of_squares, prior):
    """The one or two maxima of ``l(mu)`` per feature (NaN where there is one)."""
    prior_mean, prior_std, prior_shape, prior_rate = prior
    shape = prior_shape + 0.5 * weight
    scale = np.sqrt(2.0 * (prior_rate + 0.5 * sum_of_squares) / weight)
    params = (data_mean, scale, prior_mean, prior_std, shape)
    # In y = (mu - xbar)/u: the bracket [-Delta, 0] and g's critical points.
    delta = (data_mean - prior_mean) / scale
    kappa = 2.0 * shape * (prior_std / scale) ** 2
    with np.errstate(over="ignore", invalid="ignore"):
        discriminant = delta * delta - 3.0 * (1.0 + kappa)
        split = discriminant > 0.0
        root = np.sqrt(np.where(split, discriminant, 0.0))
    # Critical points of g, nearest the prior mean and nearest the data mean.
    sign = np.sign(delta)
    near_prior = data_mean + scale * (-delta - sign * root) / 3.0
    near_data = data_mean + scale * (-delta + sign * root) / 3.0
    lower = np.minimum(prior_mean, data_mean)
    upper = np.maximum(prior_mean, data_mean)
    # Order each piece so that the score increases from its first end.
    prior_piece = np.where(split, near_prior, data_mean)
    data_piece = np.where(split, near_data, prior_mean)
    prior_ends = (
        np.minimum(prior_mean, prior_piece),
        np.maximum(prior_mean, prior_piece),
    )
    data_ends = (np.minimum(data_piece, data_mean), np.maximum(data_piece, data_mean))
    modes = []
    for low, high in (prior_ends, data_ends):
        low = np.clip(low, lower, upper)
        high = np.clip(high, lower, upper)
        found = (_score(low, *params)[0] <= 0.0) & (_score(high, *params)[0] >= 0.0)
        modes.append(_root_in(low, high, found, params))
    # Without a split the two pieces are one bracket and give the same root.
    modes[1] = np.where(split, modes[1], np.nan)
    return modes[0], modes[1], params


def local_scale(mu, data_mean, scale, prior_mean, prior_std, shape):
    """``(-l''(mu))**-1/2``: the width of the posterior at a mode.

    ``-l'' = 1/s0**2 + 2 a_n c / u**2`` with ``c = (1 - y**2)/(1 + y**2)**2``,
    formed from ratios to the smaller of the two scales so that neither a
    vague (1e200) nor a tight (1e-200) prior overflows.
    """
    y = (mu - data_mean) / scale
    curvature = (1.0 - y * y) / (1.0 + y * y) ** 2
    with np.errstate(divide="ignore", over="ignore"):
        likelihood_std = scale / np.sqrt(2.0 * shape * np.abs(curvature))
    smaller = np.minimum(prior_std, likelihood_std)
    total = (smaller / prior_std) ** 2 + np.sign(curvature) * (
        smaller / likelihood_std
    ) ** 2
    return smaller / np.sqrt(np.maximum(total, 1e-12))
