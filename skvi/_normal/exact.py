"""The diagonal Normal model's exact central credible interval of each mean.

``VariationalNormalEstimator(covariance_type="diag").credible_interval``
(``method="exact"``, the default): the ``(1 - level)/2`` and
``(1 + level)/2`` quantiles of the exact marginal ``p(mu_j | X)``, whose log
density ``l(mu)`` and modes are in ``skvi/_core/exact.py``. In units
``t = (mu - mode) / sigma`` of the global mode and the width there, the
unnormalised density ``f(t) = exp(l(mode + sigma t) - l(mode))`` is
integrated by 24-point Gauss-Legendre panels at ``0`` and ``+-2**k`` (checked
by the 12-point rule, halved where they disagree), and each bound solves its
tail equation by Newton steps safeguarded by bisection; the comment beside
the code gives the details. The panel rule (``_NODES``, ``_PANEL_TOLERANCE``,
``_MAX_REFINEMENTS``, ``_LOG_CUTOFF``) is shared with ``exact_full.py``.

References
----------
Press, Teukolsky, Vetterling and Flannery, *Numerical Recipes*, 3rd ed.,
§4.6 (Gauss-Legendre quadrature) and §9.4 (``rtsafe``).
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
from numpy.polynomial.legendre import leggauss

from .._core.exact import (
    MAX_SOLVE_STEPS,
    bracketed_newton,
    local_scale,
    log_integrand,
    posterior_modes,
)

_EPS = np.finfo(np.float64).eps

# In units t = (mu - mode) / sigma of the global mode and the width there
# (sigma = (-l''(mode))**-1/2), the unnormalised density
#
#     f(t) = exp(l(mode + sigma t) - l(mode))
#
# is 1 at t = 0 whatever the scale of the data or the width of the posterior
# (computed from the same well-scaled pieces as exact_posterior's integrand).
# The t axis is cut into panels at 0 and +-2**k (k = 0, 1, ...), out to where
# f(t) (1 + |t|)**2 falls below exp(-_LOG_CUTOFF) (beyond the outermost mode f
# only decreases, so the mass left out is below about exp(-60)), and, where a
# second mode holds mass, also at that mode and +-2**k of its own width from
# it. Near a mode the panels are one or two widths across; in a power-law
# tail (few data under a vague prior, where f falls like |t|**-2 a_n) they
# have a constant relative width. On each, f is smooth and the 24-point
# Gauss-Legendre rule gives the panel's mass; the 12-point rule checks it, and
# the panels of a feature whose masses disagree by more than
# _PANEL_TOLERANCE of its total are halved, up to _MAX_REFINEMENTS times (then
# kept, with a RuntimeWarning).
#
# The lower bound L solves P(mu < L | X) = (1 - level) / 2: the masses summed
# from the left find the panel [a, b] that holds it, and Newton's method,
# safeguarded by bisection within [a, b] (rtsafe, Press et al., Numerical
# Recipes, §9.4), solves int_a^L f(t) dt = Z p_rest for the mass p_rest still
# wanted, each integral by the 24-point rule on [a, L] (part of a panel the
# rule resolves) and the slope f(L). The upper bound is the mirror image,
# summed and integrated from the right, so that each tail probability is
# formed directly: no 1 - p rounds away for levels near 1.
#
# The cost is one or two thousand evaluations of f per feature, vectorised
# over features: about 0.1 ms each (benchmarks/bench_intervals.py). The result
# is checked in tests/test_intervals.py against scipy.integrate.quad on a
# different representation (tau as the integration variable, the conditional
# Normal's CDF inside), to 1e-9 of the posterior's width.

_LOG_CUTOFF = 60.0
_NODES, _WEIGHTS = leggauss(24)
_CHECK_NODES, _CHECK_WEIGHTS = leggauss(12)
_PANEL_TOLERANCE = 1e-11
_MAX_REFINEMENTS = 8
# Evaluations of f held at once (2 MiB of float64 per temporary).
_EVALUATIONS_AT_ONCE = 2**18


def _relative_log_density(t, density):
    """``l(mode + sigma t) - l(mode)`` for columns of parameters ``density``.

    ``-p1 t (2 p2 + p1 t) / 2 - a_n log((1 + y**2) / (1 + e**2))`` with
    ``y = e + r t``, ``p1 = sigma/s0``, ``p2 = (mode - m0)/s0``,
    ``e = (mode - xbar)/u`` and ``r = sigma/u``: no term cancels.
    """
    p1, p2, e, r, shape = density
    change = r * t * (2.0 * e + r * t) / (1.0 + e * e)
    y = e + r * t
    # log1p of the change when it is small; else the difference of logs
    # (rounding can push a large negative change to -1, where log1p fails).
    likelihood = np.where(
        change > -0.5, np.log1p(change), np.log1p(y * y) - np.log1p(e * e)
    )
    return -0.5 * p1 * t * (2.0 * p2 + p1 * t) - shape * likelihood


def _standardised(weight, data_mean, sum_of_squares, prior):
    """The global mode and width, and f's parameters; the second mode in t units.

    Returns ``mode``, ``sigma``, ``density`` (the tuple of
    :func:`_relative_log_density`), and the second mode's position and width
    in units of ``sigma`` (NaN where there is none).
    """
    first, second, params = posterior_modes(weight, data_mean, sum_of_squares, prior)
    first_wins = np.isnan(second) | (
        log_integrand(first, *params) >= log_integrand(second, *params)
    )
    mode = np.where(first_wins, first, second)
    other = np.where(first_wins, second, first)
    sigma = local_scale(mode, *params)
    data_mean, scale, prior_mean, prior_std, shape = params
    density = (
        sigma / prior_std,
        (mode - prior_mean) / prior_std,
        (mode - data_mean) / scale,
        sigma / scale,
        shape,
    )
    other_t = (other - mode) / sigma
    other_width = local_scale(other, *params) / sigma
    return mode, sigma, density, other_t, other_width


def _reach(start, direction, density):
    """The first ``start + direction 2**k`` (k >= 0) beyond which f is negligible.

    That is, where ``f(t) (1 + |t|)**2 < exp(-_LOG_CUTOFF)``; at most 1e300
    from ``start``.
    """
    step = np.ones_like(start)
    searching = np.ones(start.shape, dtype=bool)
    while searching.any():
        t = start + direction * step
        inside = (
            _relative_log_density(t, density) + 2.0 * np.log1p(np.abs(t))
            >= -_LOG_CUTOFF
        )
        searching &= inside & (step < 1e300)
        step = np.where(searching, 2.0 * step, step)
    return start + direction * step


def _panel_edges(low, high, other_t, other_width):
    """One feature's panel edges in t: octaves about 0 and about a second mode."""

    def octaves(centre, width):
        # Enough to span [low, high], or 2**1023 widths at most (for a second
        # mode far narrower than the range; the octaves about 0 span the rest).
        span = min(max((high - low) / width, 1.0), 2.0**1023)
        count = int(np.ceil(np.log2(span))) + 1
        offsets = width * 2.0 ** np.arange(count)
        return centre + np.concatenate(([0.0], offsets, -offsets))

    points = [octaves(0.0, 1.0), [low, high]]
    if np.isfinite(other_t) and np.isfinite(other_width) and other_width > 0:
        points.append(octaves(other_t, other_width))
    return np.unique(np.clip(np.concatenate(points), low, high))


def _panel_masses(edges, density, nodes, weights):
    """The Gauss-Legendre mass of f on each panel, shape (features, panels)."""
    half = 0.5 * (edges[:, 1:] - edges[:, :-1])
    middle = 0.5 * (edges[:, 1:] + edges[:, :-1])
    t = middle[..., np.newaxis] + half[..., np.newaxis] * nodes
    columns = tuple(p[:, np.newaxis, np.newaxis] for p in density)
    return half * (np.exp(_relative_log_density(t, columns)) @ weights)


def _tail_bound(edges, masses, tail, from_left, density):
    """The t at which the mass beyond it, on one side, is ``tail`` of the total."""
    total = masses.sum(axis=1)
    share = masses / total[:, np.newaxis]
    last = share.shape[1] - 1
    if from_left:
        cumulative = np.cumsum(share, axis=1)
        reached = cumulative >= tail[:, np.newaxis]
        panel = np.where(reached.any(axis=1), reached.argmax(axis=1), last)
    else:
        cumulative = np.cumsum(share[:, ::-1], axis=1)[:, ::-1]
        reached = cumulative >= tail[:, np.newaxis]
        panel = np.where(reached.any(axis=1), last - reached[:, ::-1].argmax(axis=1), 0)
    rows = np.arange(share.shape[0])
    inside = share[rows, panel]
    rest = np.clip(tail - (cumulative[rows, panel] - inside), 0.0, inside)
    direction = 1.0 if from_left else -1.0
    anchor = edges[rows, panel + (0 if from_left else 1)]
    length = edges[rows, panel + 1] - edges[rows, panel]
    columns = tuple(p[:, np.newaxis] for p in density)
    # Solve int_0^s f(anchor + direction x) dx / total = rest for s in [0, length].
    low, high = np.zeros_like(length), length.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(inside > 0, length * (rest / inside), 0.0)
    for _ in range(MAX_SOLVE_STEPS):
        x = 0.5 * s[:, np.newaxis] * (1.0 + _NODES)
        integrand = np.exp(
            _relative_log_density(anchor[:, np.newaxis] + direction * x, columns)
        )
        value = 0.5 * s * (integrand @ _WEIGHTS) / total - rest
        end = (anchor + direction * s)[:, np.newaxis]
        slope = np.exp(_relative_log_density(end, columns))[:, 0] / total
        new, low, high = bracketed_newton(s, value, slope, value < 0.0, low, high)
        done = (value == 0.0) | (
            np.abs(new - s) <= 4.0 * _EPS * (np.abs(anchor) + length)
        )
        s = np.where(value == 0.0, s, new)
        if done.all():
            break
    return anchor + direction * s


def _halved(edges):
    """The panel edges with each panel's midpoint inserted."""
    middle = 0.5 * (edges[:, 1:] + edges[:, :-1])
    return np.insert(edges, np.arange(1, edges.shape[1]), middle, axis=1)


def _interval_in_blocks(edges, density, tail, refinements):
    """The interval in t of features whose panels number the same.

    In blocks of features, so that at most ``_EVALUATIONS_AT_ONCE`` values of f
    (per temporary) are held at once.
    """
    lower = np.empty(tail.shape)
    upper = np.empty(tail.shape)
    size = max(1, _EVALUATIONS_AT_ONCE // (len(_NODES) * edges.shape[1]))
    for start in range(0, tail.shape[0], size):
        rows = slice(start, start + size)
        lower[rows], upper[rows] = _interval_of_block(
            edges[rows], tuple(p[rows] for p in density), tail[rows], refinements
        )
    return lower, upper


def _interval_of_block(edges, density, tail, refinements):
    """:func:`_interval_in_blocks` for one block.

    The features whose 24- and 12-point panel masses disagree by more than
    ``_PANEL_TOLERANCE`` of their total have their panels halved and are tried
    again, ``refinements`` more times at most; then they are kept with a
    warning.
    """
    masses = _panel_masses(edges, density, _NODES, _WEIGHTS)
    check = _panel_masses(edges, density, _CHECK_NODES, _CHECK_WEIGHTS)
    total = masses.sum(axis=1)
    accurate = np.abs(masses - check).sum(axis=1) <= _PANEL_TOLERANCE * total
    if refinements == 0 and not accurate.all():
        warnings.warn(
            "The quadrature of the exact posterior of mu did not reach its "
            f"tolerance for {np.count_nonzero(~accurate)} feature(s): their exact "
            "credible intervals may be inaccurate. Compare them with "
            "method='variational' and skvi.diagnostics.exact_posterior.",
            RuntimeWarning,
            stacklevel=4,
        )
        accurate[:] = True
    lower = np.empty(tail.shape)
    upper = np.empty(tail.shape)
    kept = tuple(p[accurate] for p in density)
    for bounds, from_left in ((lower, True), (upper, False)):
        bounds[accurate] = _tail_bound(
            edges[accurate], masses[accurate], tail[accurate], from_left, kept
        )
    again = ~accurate
    if again.any():
        lower[again], upper[again] = _interval_in_blocks(
            _halved(edges[again]),
            tuple(p[again] for p in density),
            tail[again],
            refinements - 1,
        )
    return lower, upper


def exact_interval(weight, data_mean, sum_of_squares, prior, level):
    """The central ``level`` credible interval of each feature's mu, exactly.

    Parameters
    ----------
    weight : float
        Total sample weight ``W``.
    data_mean, sum_of_squares : ndarray of shape (n_features,)
        The weighted mean ``xbar`` and sum of squares about it ``S``.
    prior : tuple of 4 ndarrays of shape (n_features,)
        ``(m0, s0, a0, b0)``.
    level : float
        Posterior probability inside the interval, in (0, 1).

    Returns
    -------
    lower, upper : ndarray of shape (n_features,)
        The ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of ``p(mu | X)``.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        mode, sigma, density, other_t, other_width = _standardised(
            weight, data_mean, sum_of_squares, prior
        )
        holds_mass = _relative_log_density(other_t, density) > -_LOG_CUTOFF
        other_t = np.where(holds_mass, other_t, np.nan)
        low = _reach(np.fmin(other_t, 0.0), -1.0, density)
        high = _reach(np.fmax(other_t, 0.0), 1.0, density)
        edges = [
            _panel_edges(low[j], high[j], other_t[j], other_width[j])
            for j in range(mode.shape[0])
        ]
        # Tail probability: exact for any level (Sterbenz), unlike (1 + level)/2.
        tail = np.full(mode.shape, 0.5 * (1.0 - level))
        lower = np.empty(mode.shape)
        upper = np.empty(mode.shape)
        counts = np.array([len(e) for e in edges])
        for count in np.unique(counts):
            group = np.flatnonzero(counts == count)
            lower[group], upper[group] = _interval_in_blocks(
                np.stack([edges[j] for j in group]),
                tuple(np.broadcast_to(p, mode.shape)[group] for p in density),
                tail[group],
                _MAX_REFINEMENTS,
            )
        # At levels near 0 both bounds are the median, and may cross by rounding.
        lower, upper = np.fmin(lower, upper), np.fmax(lower, upper)
        return mode + sigma * lower, mode + sigma * upper
