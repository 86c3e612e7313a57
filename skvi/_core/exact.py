"""The exact posterior of the Normal model's means: modes, widths and quantiles."""

# SPDX-License-Identifier: BSD-3-Clause

# The Normal model of skvi._normal.estimator, for one feature, has independent priors
# mu ~ Normal(m0, s0**2) and tau ~ Gamma(a0, b0). Integrating tau out of
# p(mu, tau, X) (a Gamma integral; the derivation is in skvi.diagnostics)
# leaves, with a_n = a0 + W/2, B = b0 + S/2 and u = sqrt(2 B / W),
#
#     p(mu | X) = exp(l(mu)) / Z,
#     l(mu) = -((mu - m0) / s0)**2 / 2 - a_n log(1 + y**2),   y = (mu - xbar) / u,
#
# the Normal prior times a Student-t-like likelihood. This module holds what
# both skvi.diagnostics.exact_posterior (its moments, by adaptive quadrature)
# and VariationalNormalEstimator.credible_interval (its quantiles) need: the
# modes of l and the posterior's width at them; and the central credible
# interval of mu, vectorised over features.
#
# The modes solve a cubic (skvi.diagnostics' comment): at most two maxima,
# between the prior mean and the data mean, each found by safeguarded Newton
# steps.

import warnings
from functools import partial

import numpy as np
from numpy.polynomial.chebyshev import chebint, chebval
from numpy.polynomial.legendre import leggauss
from scipy.fft import dct
from scipy.special import digamma, expit, ndtr, ndtri, polygamma

from . import engine
from .namespaces import is_dask_collection

# Safeguarded Newton steps for the modes, at most (bisection alone needs
# about 60 from the bracket's width to rounding; Newton far fewer).
_MAX_ROOT_STEPS = 200
_EPS = np.finfo(np.float64).eps


def _bracketed_newton(x, value, slope, below, low, high):
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


def _log_integrand(mu, data_mean, scale, prior_mean, prior_std, shape):
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


def _posterior_modes(weight, data_mean, sum_of_squares, prior):
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


def _local_scale(mu, data_mean, scale, prior_mean, prior_std, shape):
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


# --------------------------------------------------------------------------
# The central credible interval of mu
# --------------------------------------------------------------------------
#
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
_MAX_SOLVE_STEPS = 100
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
    first, second, params = _posterior_modes(weight, data_mean, sum_of_squares, prior)
    first_wins = np.isnan(second) | (
        _log_integrand(first, *params) >= _log_integrand(second, *params)
    )
    mode = np.where(first_wins, first, second)
    other = np.where(first_wins, second, first)
    sigma = _local_scale(mode, *params)
    data_mean, scale, prior_mean, prior_std, shape = params
    density = (
        sigma / prior_std,
        (mode - prior_mean) / prior_std,
        (mode - data_mean) / scale,
        sigma / scale,
        shape,
    )
    other_t = (other - mode) / sigma
    other_width = _local_scale(other, *params) / sigma
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
    for _ in range(_MAX_SOLVE_STEPS):
        x = 0.5 * s[:, np.newaxis] * (1.0 + _NODES)
        integrand = np.exp(
            _relative_log_density(anchor[:, np.newaxis] + direction * x, columns)
        )
        value = 0.5 * s * (integrand @ _WEIGHTS) / total - rest
        end = (anchor + direction * s)[:, np.newaxis]
        slope = np.exp(_relative_log_density(end, columns))[:, 0] / total
        new, low, high = _bracketed_newton(s, value, slope, value < 0.0, low, high)
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


# --------------------------------------------------------------------------
# covariance_type="full": each coordinate's exact marginal
# --------------------------------------------------------------------------
#
# The full model (skvi._normal.full_covariance) has mu ~ Normal(m0, S0),
# S0 = diag(s0**2),
# independent of Lambda ~ Wishart(nu0, W0), W0 = diag(1/(2 b0)): not the
# conjugate Normal-Wishart prior, so no coordinate of mu has a Student-t
# marginal. Integrating Lambda out (a Wishart integral) leaves, with
# B = W0^-1 + S, nu_n = nu0 + W, k = nu_n / 2 and delta = mu - xbar,
#
#     p(mu | X) ∝ Normal(mu | m0, S0) (1 + W delta^T B^-1 delta)**-k
#
# (with d = 1, the diagonal model's l(mu)). The multivariate-t factor is a
# scale mixture of Normals, (1 + Q)**-k = int g**(k-1) e**(-g (1 + Q)) dg /
# Gamma(k), and given g, mu is Normal: the prior times Normal(xbar, (2 g W
# B^-1)^-1). So the marginal of each coordinate is a 1-D mixture over g of
# Normals. With C = D^-1 B D^-1 = U diag(c) U^T (D = diag(s0)), a = 2 W / c,
# e = U^T D^-1 (xbar - m0) and, at u = log g, r_k = a_k g / (1 + a_k g):
#
#     log p(u | X) = k u - e**u - sum_k [log(1 + a_k g) + e_k**2 r_k] / 2 + const,
#     mu_j | u     ~ Normal(xbar_j - s0_j sum_k U_jk (1 - r_k) e_k,
#                           s0_j**2 sum_k U_jk**2 (1 - r_k)),
#
# (the mean also m0_j + s0_j sum_k U_jk r_k e_k: each is taken from the side
# that dominates, as in the fit), and P(mu_j < c | X) = int p(u | X)
# Phi((c - m_j(u)) / s_j(u)) du. All modes of p(u | X) lie between those of
# k u - e**u (the data alone) and k u - e**u (1 + sum_k a_k (1 + e_k**2) / 2)
# (the most the prior term can pull), and each side falls at least as fast
# as those log-Gamma curves beyond them, which bounds the range. A 4001-point
# scan of the range finds the modes (refined by golden-section search), and
# panels at +-2**k local widths about each, checked as in the diagonal model
# (24- against 12-point Gauss-Legendre, halving the panels that disagree),
# give the nodes and weights of the mixture. Each bound then solves its tail
# equation for all coordinates at once by safeguarded Newton steps. One
# eigendecomposition of a d x d matrix, then O(d**2) per node: a few
# milliseconds for tens of features.

_SCAN_POINTS = 4001
_GOLDEN = 0.5 * (3.0 - np.sqrt(5.0))


def _log_gamma_drop(offset, shape):
    """``shape ((v - mode) - expm1(v - mode))``: a log-Gamma curve below its top."""
    return shape * (offset - np.expm1(offset))


def _drop_distance(shape, side):
    """How far from its mode (side -1 or 1) a log-Gamma curve falls by the cutoff."""
    low, high = 0.0, 1.0
    while _log_gamma_drop(side * high, shape) > -_LOG_CUTOFF:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if _log_gamma_drop(side * middle, shape) > -_LOG_CUTOFF:
            low = middle
        else:
            high = middle
    return high


class _ScaleMixture:
    """``p(u | X)`` and the Normal of each coordinate of mu given u (comment above)."""

    def __init__(self, weight, data_mean, scatter, prior, prior_dof):
        prior_mean, prior_std, _, prior_rate = prior
        self.shape = 0.5 * (prior_dof + weight)
        # C = D^-1 (W0^-1 + S) D^-1, with W0^-1 = diag(2 b0).
        scaled = scatter / np.outer(prior_std, prior_std)
        scaled[np.diag_indices_from(scaled)] += 2.0 * prior_rate / prior_std**2
        eigenvalues, self.vectors = np.linalg.eigh(0.5 * (scaled + scaled.T))
        self.log_a = np.log(2.0 * weight) - np.log(eigenvalues)
        self.e = self.vectors.T @ ((data_mean - prior_mean) / prior_std)
        self.data_mean, self.prior_mean = data_mean, prior_mean
        self.prior_std = prior_std
        if not (
            np.all(np.isfinite(self.log_a))
            and np.all(np.isfinite(self.e))
            and np.all(eigenvalues > 0)
        ):
            raise ValueError(
                "The exact posterior of mu is not representable in float64: the "
                "data and the priors are on very different scales. Use "
                "method='variational', or rescale X by c and the priors with it "
                "(prior_mean and prior_std by c, prior_rate by c**2)."
            )

    def log_density(self, u):
        """``log p(u | X)`` up to a constant, for an array of u."""
        u = np.asarray(u, dtype=np.float64)
        v = self.log_a + u[..., np.newaxis]
        r = expit(v)
        log_one_plus = np.logaddexp(0.0, v)
        # k u - e**u less its value at its top, u = log k: k (t - expm1(t)),
        # t = u - log k, so that no digit is lost to k (5e6 for 1e7 rows).
        return _log_gamma_drop(u - np.log(self.shape), self.shape) - 0.5 * np.sum(
            log_one_plus + self.e**2 * r, axis=-1
        )

    def curvature(self, u):
        """``-d**2/du**2 log p(u | X)`` at a scalar u."""
        v = self.log_a + u
        r = expit(v)
        spread = r * expit(-v)
        return float(
            np.exp(u)
            + 0.5 * np.sum(spread)
            + 0.5 * np.sum(self.e**2 * spread * (1.0 - 2.0 * r))
        )

    def range(self):
        """``[low, high]`` in u outside which p(u | X) is below the cutoff."""
        top = np.log(self.shape)
        pull = np.logaddexp(
            0.0,
            np.logaddexp.reduce(self.log_a + np.log1p(self.e**2)) - np.log(2.0),
        )
        low = top - pull - _drop_distance(self.shape, -1.0)
        high = top + _drop_distance(self.shape, 1.0)
        return float(low), float(high)

    def conditional(self, u):
        """Mean less ``xbar``, and sd, of each coordinate of mu given u.

        Arrays of shape (len(u), d); offsets from ``xbar``, so that a posterior
        far narrower than ``|xbar|`` keeps its digits.
        """
        v = self.log_a + np.asarray(u)[:, np.newaxis]
        r = expit(v)
        rest = expit(-v)  # 1 - r, to full relative precision
        from_data = -self.prior_std * ((rest * self.e) @ self.vectors.T)
        from_prior = (self.prior_mean - self.data_mean) + self.prior_std * (
            (r * self.e) @ self.vectors.T
        )
        data_side = np.mean(r, axis=1, keepdims=True) >= 0.5
        offset = np.where(data_side, from_data, from_prior)
        std = self.prior_std * np.sqrt(rest @ (self.vectors**2).T)
        return offset, std


def _modes(mixture, low, high):
    """The local maxima of p(u | X) within the cutoff of the highest, refined."""
    grid = np.linspace(low, high, _SCAN_POINTS)
    values = mixture.log_density(grid)
    padded = np.concatenate(([-np.inf], values, [-np.inf]))
    peaks = np.flatnonzero((padded[1:-1] >= padded[:-2]) & (padded[1:-1] >= padded[2:]))
    step = grid[1] - grid[0]
    modes = []
    for i in peaks:
        # Golden-section search on the two steps about the grid's peak.
        a, b = grid[i] - step, grid[i] + step
        for _ in range(80):
            x1 = a + _GOLDEN * (b - a)
            x2 = b - _GOLDEN * (b - a)
            if mixture.log_density(x1) >= mixture.log_density(x2):
                b = x2
            else:
                a = x1
        modes.append(0.5 * (a + b))
    modes = np.array(modes)
    values = mixture.log_density(modes)
    return modes[values > values.max() - _LOG_CUTOFF], step


def _mixture_nodes(mixture):
    """Nodes and normalised weights in u that integrate p(u | X) to rounding."""
    low, high = mixture.range()
    modes, step = _modes(mixture, low, high)
    points = [np.array([low, high])]
    for mode in modes:
        curvature = mixture.curvature(mode)
        width = 1.0 / np.sqrt(curvature) if curvature > 0 else step
        count = int(np.ceil(np.log2(max((high - low) / width, 1.0)))) + 1
        offsets = width * 2.0 ** np.arange(min(count, 1023))
        points.append(mode + np.concatenate(([0.0], offsets, -offsets)))
    edges = np.unique(np.clip(np.concatenate(points), low, high))
    peak = mixture.log_density(modes).max()
    for refinement in range(_MAX_REFINEMENTS + 1):
        half = 0.5 * np.diff(edges)[:, np.newaxis]
        middle = 0.5 * (edges[1:] + edges[:-1])[:, np.newaxis]
        nodes = middle + half * _NODES
        values = half * np.exp(mixture.log_density(nodes) - peak)
        masses = values @ _WEIGHTS
        check = (
            half * np.exp(mixture.log_density(middle + half * _CHECK_NODES) - peak)
        ) @ _CHECK_WEIGHTS
        bad = np.abs(masses - check) > _PANEL_TOLERANCE * masses.sum()
        if not bad.any():
            break
        if refinement == _MAX_REFINEMENTS:
            warnings.warn(
                "The quadrature of the exact posterior of mu did not reach its "
                "tolerance: the exact credible intervals may be inaccurate. "
                "Compare them with method='variational'.",
                RuntimeWarning,
                stacklevel=4,
            )
            break
        split = 0.5 * (edges[:-1] + edges[1:])[bad]
        edges = np.sort(np.concatenate((edges, split)))
    weights = (values * _WEIGHTS).ravel()
    return nodes.ravel(), weights / weights.sum()


def _mixture_tail_bound(weights, mean, std, tail, from_left):
    """Solve ``sum_n w_n Phi(+-(c - m_n) / s_n) = tail`` for each coordinate's c."""
    sign = 1.0 if from_left else -1.0
    low = np.min(mean - 40.0 * std, axis=0)
    high = np.max(mean + 40.0 * std, axis=0)
    scale = weights @ std  # the typical sd, for the stopping rule
    # Start from the quantile of the Normal with the mixture's mean and sd.
    centre = weights @ mean
    spread = np.sqrt(np.maximum(weights @ (std**2 + (mean - centre) ** 2), 0.0))
    c = np.clip(centre + sign * ndtri(tail) * spread, low, high)
    for _ in range(_MAX_SOLVE_STEPS):
        z = (c - mean) / std
        value = weights @ ndtr(sign * z) - tail
        slope = sign * (weights @ (np.exp(-0.5 * z * z) / std)) / np.sqrt(2 * np.pi)
        # value increases with c from the left, decreases from the right.
        below = sign * value < 0.0
        new, low, high = _bracketed_newton(c, value, slope, below, low, high)
        done = (value == 0.0) | (
            np.abs(new - c) <= 4.0 * _EPS * np.abs(c) + 1e-14 * scale
        )
        c = np.where(value == 0.0, c, new)
        if done.all():
            break
    return c


def full_exact_interval(weight, data_mean, scatter, prior, prior_dof, level):
    """The central ``level`` interval of each coordinate's exact marginal.

    Parameters
    ----------
    weight : float
        Total sample weight ``W``.
    data_mean : ndarray of shape (n_features,)
        Weighted mean ``xbar``.
    scatter : ndarray of shape (n_features, n_features)
        Weighted scatter matrix ``S`` about ``xbar``.
    prior : tuple of 4 ndarrays of shape (n_features,)
        ``(m0, s0, a0, b0)``.
    prior_dof : float
        ``nu0 = 2 a0 + d - 1``.
    level : float
        Posterior probability inside the interval, in (0, 1).

    Returns
    -------
    lower, upper : ndarray of shape (n_features,)
        The ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of each
        coordinate's marginal ``p(mu_j | X)``.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        mixture = _ScaleMixture(weight, data_mean, scatter, prior, prior_dof)
        nodes, weights = _mixture_nodes(mixture)
        keep = weights > 0
        nodes, weights = nodes[keep], weights[keep]
        offset, std = mixture.conditional(nodes)
        tail = 0.5 * (1.0 - level)
        lower = _mixture_tail_bound(weights, offset, std, tail, True)
        upper = _mixture_tail_bound(weights, offset, std, tail, False)
        lower, upper = np.fmin(lower, upper), np.fmax(lower, upper)
        return data_mean + lower, data_mean + upper


# --------------------------------------------------------------------------
# The Student-t model: the exact marginal of mu, through a 2-D surrogate
# --------------------------------------------------------------------------
#
# The model of skvi._student.estimator, for one feature: mu ~ Normal(m0, s0**2),
# tau ~ Gamma(a0, b0), and, with w_i integrated out (Bishop, PRML eq. 2.161),
# x_i | mu, tau ~ Student-t(nu, mu, 1/tau), row i with weight v_i. No
# statistic of X summarises the likelihood, and tau does not integrate out
# in closed form, so p(mu | X) = int p(mu, tau | X) dtau is a 2-D quadrature
# whose integrand needs a pass over the rows per node. In the units of q,
# x' = (x - m)/sigma (m = E_q[mu], sigma = 1/sqrt(E_q[tau]), the noise
# scale), mu' = (mu - m)/sigma and v = log(tau sigma**2), the log joint is,
# up to a constant,
#
#     l(mu', v) = -((m - m0)/s0 + (sigma/s0) mu')**2 / 2
#                 + (a0 + W/2) v - (b0/sigma**2) e**v
#                 - (nu + 1)/2 D(mu', v),
#     D(mu', v) = sum_i v_i log1p(e**v (x'_i - mu')**2 / nu)
#
# (the Gamma prior on tau with the Jacobian d tau = tau dv; each Student-t
# density gives tau**(1/2)). Only D needs the data. It is analytic, with
# singularities a noise scale (sqrt(nu/tau)) from the real mu' axis and pi
# from the real v axis, while the posterior is a few of its own sds wide:
# about 1/sqrt(W) noise scales. So on a box holding the posterior, D is
# smooth on the box's scale, and the more so the more rows there are: a
# tensor Chebyshev interpolant of low degree reproduces it to rounding. That
# is the design: the data are read only to evaluate D at the interpolant's
# nodes (one pass per try, every node of every feature at once, products over
# rows by numpy.dot); everything else (the integral over v, the CDF of mu,
# the root find for each bound) works on the interpolant, with no more passes.
#
# The box, in coordinates (t, r) in [-1, 1]**2 (Chebyshev-Lobatto nodes
# t_k = cos(pi k / N), nested when N doubles):
#
#     mu'(t) = c sinh(beta t) / beta   (c t at beta = 0),
#     v(t, r) = v0 + (above - below)/2 - log1p(mu'(t)**2) + h r,
#     h = (above + below)/2,
#
# with c = 10 s/sigma (10 q-sds of mu: mean field understates the Student's
# sd of mu by about 0.8, so 8 exact sds, 32 nats for a Normal posterior),
# v0 = E_q[log tau] + 2 log sigma and above = below = 10 sd_q(log tau) at
# first. The shear -log1p(mu'**2) follows the conditional mode of v in the
# tails of mu (tau ~ 1/(mu - x)**2 far from the data), and beta > 0
# stretches the mu axis geometrically, for the power-law tails of few rows
# under a vague prior (|mu|**-(2 a0 + W)), with the nodes still dense near
# q's mean. The Jacobian of (t, r) -> (mu', v) is mu''(t) h.
#
# Each try: evaluate D at the (N_t + 1)(N_r + 1) nodes (one pass), l there,
# and the 2-D Chebyshev coefficients (DCT-I along each axis); then, per
# feature,
# - if l on the box's edge (t = +-1; r = 1, or r = -1) is within
#   _BOX_CUTOFF nats of its largest value at the nodes, widen that side
#   (beta += 1/2; above or below *= 1.25). After the first try, each side in
#   v is also cut back to a node beyond the last within the cutoff, where
#   that saves a fifth (the density falls faster above v0 than below);
# - else, if dropping the top eighth of the degrees in t (or r) changes l by
#   more than _SURROGATE_TOLERANCE (plus the rounding of D's sums) times the
#   density relative to its peak, at any node, double N_t (or N_r), from 8
#   up to _MAX_DEGREE (the estimate of Chebfun: the series converges
#   geometrically, so its own error is far smaller);
# - else the surrogate is accepted: the density is right to about 1e-11 of
#   its peak everywhere.
# With many rows the first or second try passes: 81 or 289 evaluations of
# D, each n log1p's, per feature. With few rows the degrees grow to a few
# hundred (a box several noise scales wide, holding the data's own
# singularities), but then a pass is cheap.
#
# From the surrogate, on a Lobatto grid of degree at least _MARGINAL_DEGREE
# per axis (the series resampled by DCT), the marginal
# f(t) = mu''(t) h int exp(l(t, r)) dr is integrated over r by
# Clenshaw-Curtis, and f's own Chebyshev series in t integrated in closed
# form: F(t) = int_{-1}^t f for the lower bound and int_t^1 f for the upper
# (each tail from its own side, so that small tails keep their digits).
# Each bound solves F = (1 - level)/2 of the total between two grid points,
# by Newton steps safeguarded by bisection (rtsafe, as above).
# The result is checked in tests/test_student.py against an independent
# nested quadrature of the log joint (Newton for the mode in log tau, the
# trapezoid rule there, scipy's adaptive quad over mu), to 1e-6 of the
# interval's width (measured: 1e-10 or better), from 2 rows to 1e5 and
# under prior-data conflict.

_SURROGATE_TOLERANCE = 1e-11
_CAPPED_TOLERANCE = 1e-8
# The box's edges are this many nats below the peak of the density (a tail
# mass of about 1e-13 of the whole left out).
_BOX_CUTOFF = 30.0
_START_DEGREE = 8
_MAX_DEGREE = 256
_MAX_TRIES = 24
_BOX_SDS = 10.0
# The marginal is formed on a Lobatto grid of at least this degree per axis.
_MARGINAL_DEGREE = 128
# Values per node array of a try (float64, 64 MiB).
_NODE_VALUES = 2**23


def _chebyshev_nodes(degree):
    """``cos(pi k / N)``, k = 0..N: the Chebyshev-Lobatto points, from 1 to -1."""
    return np.cos(np.pi * np.arange(degree + 1) / degree)


def _chebyshev_coefficients(values, axis):
    """Coefficients of the interpolant through values at the Lobatto points (DCT-I)."""
    degree = values.shape[axis] - 1
    coefficients = dct(values, type=1, axis=axis) / degree
    first = [slice(None)] * values.ndim
    first[axis] = 0
    coefficients[tuple(first)] *= 0.5
    first[axis] = -1
    coefficients[tuple(first)] *= 0.5
    return coefficients


def _chebyshev_basis(x, degree):
    """``T_k(x)`` for k = 0..degree, in a new last axis (x in [-1, 1])."""
    angle = np.arccos(np.clip(x, -1.0, 1.0))
    return np.cos(angle[..., np.newaxis] * np.arange(degree + 1))


class _StudentBox:
    """The box of the surrogate for each feature, and l(mu', v) less D (comment)."""

    def __init__(self, fitted, columns):
        self.columns = columns
        mean, std, shape, rate, dof, prior, self.weight = fitted
        self.mean, std, shape, rate, self.dof = (
            a[columns] for a in (mean, std, shape, rate, dof)
        )
        prior_mean, prior_std, prior_shape, prior_rate = (p[columns] for p in prior)
        # sigma = 1/sqrt(E_q[tau]) = sqrt(b/a), as a ratio so that no scale overflows.
        self.sigma = np.sqrt(rate / shape)
        self.prior_offset = (self.mean - prior_mean) / prior_std
        self.prior_ratio = self.sigma / prior_std
        self.tau_shape = prior_shape + 0.5 * self.weight
        # b0 / sigma**2 = (b0 / b) a: no overflow.
        self.tau_rate = (prior_rate / rate) * shape
        self.core = _BOX_SDS * std / self.sigma
        self.beta = np.zeros_like(self.core)
        self.v0 = digamma(shape) - np.log(shape)
        # The box's reach below and above v0 in v (widened side by side).
        self.below = _BOX_SDS * np.sqrt(polygamma(1, shape))
        self.above = self.below.copy()

    @property
    def h(self):
        """Half the box's height in v: the Jacobian of r -> v."""
        return 0.5 * (self.below + self.above)

    def location(self, t, rows=slice(None)):
        """``mu'(t)`` and ``d mu'/dt`` for features ``rows`` (t: (features, ...))."""
        shape = (-1,) + (1,) * (t.ndim - 1)
        core = self.core[rows].reshape(shape)
        beta = self.beta[rows].reshape(shape)
        stretched = beta > 0
        safe = np.where(stretched, beta, 1.0)
        value = np.where(stretched, core * np.sinh(safe * t) / safe, core * t)
        slope = np.where(stretched, core * np.cosh(safe * t), core)
        return value, slope

    def log_precision(self, location, r, rows=slice(None)):
        """``v = v0 - log1p(mu'**2) + h r``; location (f, T, 1), r (R,)."""
        v0 = self.v0[rows][:, np.newaxis, np.newaxis]
        h = self.h[rows][:, np.newaxis, np.newaxis]
        middle = 0.5 * (self.above - self.below)[rows][:, np.newaxis, np.newaxis]
        return v0 + middle - np.log1p(location * location) + h * r

    def log_joint_rest(self, location, v, rows=slice(None)):
        """l less its data term: the prior on mu and the tau terms (comment)."""

        def column(name):
            return getattr(self, name)[rows][:, np.newaxis, np.newaxis]

        prior = column("prior_offset") + column("prior_ratio") * location
        return (
            -0.5 * prior * prior
            + column("tau_shape") * v
            - column("tau_rate") * np.exp(v)
        )


def _data_term_block(rows, weights, *, columns, centre, sigma, location, precision):
    """``D_j`` at every node of every feature from one block of rows.

    ``location`` (features, A) holds mu' and ``precision`` (features, A, B)
    holds ``e**v / nu``; returns (features, A, B), each summed over the rows
    by ``numpy.dot`` with the weights.
    """
    n_rows = rows.shape[0]
    n_features, n_location, n_precision = precision.shape
    out = np.empty((n_features, n_location, n_precision))
    weights = np.ones(n_rows) if weights is None else weights
    per_feature = n_rows * n_location * n_precision
    # Features at a time, so that the temporaries stay near the engine's
    # block size (as for the rows).
    at_once = max(1, engine.BLOCK_ELEMENTS // max(1, per_feature))
    for start in range(0, n_features, at_once):
        chunk = slice(start, start + at_once)
        scaled = (rows[:, columns[chunk]] - centre[chunk]) / sigma[chunk]
        deviation = scaled[:, :, np.newaxis] - location[chunk]
        squared = deviation * deviation
        terms = np.log1p(squared[..., np.newaxis] * precision[chunk])
        out[chunk] = np.dot(weights, terms.reshape(n_rows, -1)).reshape(terms.shape[1:])
    return out


def _data_term(X, sample_weight, params):
    """``D`` at the nodes, summed over every row block of X (numpy or dask)."""
    if is_dask_collection(X):
        from .dask_passes import dask_reduce

        parts = dask_reduce(X, sample_weight, partial(_data_term_block, **params))
    else:
        width = params["precision"].size
        block_rows, _ = engine.plan(X.shape[0], width)

        def block(rows):
            weights = None if sample_weight is None else sample_weight[rows]
            return _data_term_block(X[rows], weights, **params)

        parts = engine.map_blocks(block, X.shape[0], block_rows, row_elements=width)
    return np.sum(parts, axis=0)


def _chebyshev_values(coefficients, axis):
    """The Chebyshev series along ``axis`` at its Lobatto points (inverse DCT-I)."""
    halved = coefficients * 0.5
    ends = [slice(None)] * coefficients.ndim
    for end in (0, -1):
        ends[axis] = end
        halved[tuple(ends)] = coefficients[tuple(ends)]
    return dct(halved, type=1, axis=axis)


def _resampled(coefficients, degree, axis):
    """The series' values at the Lobatto points of a degree at least its own."""
    padding = [(0, 0)] * coefficients.ndim
    padding[axis] = (0, degree + 1 - coefficients.shape[axis])
    return _chebyshev_values(np.pad(coefficients, padding), axis)


def _truncation_errors(chebyshev, log_density, half_dof):
    """The error in l of dropping the top eighth of the degrees in t, and in r.

    ``max |l_full - l_truncated| exp(l - peak)`` over the nodes, per axis:
    the error of the density where it has mass (an error of 0.1 nats where
    the density is 1e-20 of its peak changes no tail mass). The interpolant
    converges geometrically, so its own error is far below this (the
    estimate of Chebfun; Trefethen, Approximation Theory and Approximation
    Practice, ch. 8).
    """
    relevance = np.exp(np.minimum(log_density, 0.0)) * half_dof[:, None, None]
    errors = []
    for axis in (1, 2):
        top = chebyshev.copy()
        keep = [slice(None)] * 3
        keep[axis] = slice(0, (7 * chebyshev.shape[axis]) // 8)
        top[tuple(keep)] = 0.0
        values = _chebyshev_values(_chebyshev_values(top, 1), 2)
        errors.append((np.abs(values) * relevance).max(axis=(1, 2)))
    return errors


def _student_surrogate(X, sample_weight, box):
    """The Chebyshev coefficients of D for each feature, adapted as the comment says.

    Returns the coefficients (a list, one (N_t + 1, N_r + 1) array per
    feature) and the largest l at the nodes of each feature.
    """
    n_features = box.mean.shape[0]
    degree_t = np.full(n_features, _START_DEGREE)
    degree_r = np.full(n_features, _START_DEGREE)
    coefficients = [None] * n_features
    peaks = np.empty(n_features)
    active = np.arange(n_features)
    half_dof = 0.5 * (box.dof + 1.0)
    for attempt in range(_MAX_TRIES):
        n_t, n_r = degree_t[active].max(), degree_r[active].max()
        t, r = _chebyshev_nodes(n_t), _chebyshev_nodes(n_r)
        location, slope = box.location(
            np.broadcast_to(t, (active.size, t.size)), active
        )
        v = box.log_precision(location[:, :, np.newaxis], r, active)
        data = _data_term(
            X,
            sample_weight,
            {
                "columns": box.columns[active],
                "centre": box.mean[active],
                "sigma": box.sigma[active],
                "location": location,
                "precision": np.exp(v) / box.dof[active][:, np.newaxis, np.newaxis],
            },
        )
        factor = half_dof[active]
        log_joint = box.log_joint_rest(location[:, :, np.newaxis], v, active) - (
            factor[:, np.newaxis, np.newaxis] * data
        )
        log_joint += np.log(slope)[:, :, np.newaxis]
        peak = log_joint.max(axis=(1, 2))
        low = peak - _BOX_CUTOFF
        wider_t = np.maximum(log_joint[:, 0].max(axis=1), log_joint[:, -1].max(axis=1))
        wider_t = wider_t > low
        # r's nodes run from 1 (the top of the box in v) to -1.
        wider_above = log_joint[:, :, 0].max(axis=1) > low
        wider_below = log_joint[:, :, -1].max(axis=1) > low
        wider_r = wider_above | wider_below
        wider = wider_t | wider_r
        shrunk = np.zeros(active.size, dtype=bool)
        if attempt == 0:
            # Fit the box in v to the density at the first try (it falls
            # faster above v0 than below): each side ends a node beyond the
            # last above the cutoff, where that saves a fifth or more.
            above_cutoff = (log_joint > low[:, np.newaxis, np.newaxis]).any(axis=1)
            top = np.clip(above_cutoff.argmax(axis=1) - 1, 0, None)
            bottom = np.clip(n_r + 1 - above_cutoff[:, ::-1].argmax(axis=1), None, n_r)
            middle = 0.5 * (box.above - box.below)[active]
            half = box.h[active]
            above = np.maximum(middle + half * r[top], 0.1 * box.above[active])
            below = np.maximum(-(middle + half * r[bottom]), 0.1 * box.below[active])
            shrink_above = ~wider_above & (above < 0.8 * box.above[active])
            shrink_below = ~wider_below & (below < 0.8 * box.below[active])
            box.above[active] = np.where(shrink_above, above, box.above[active])
            box.below[active] = np.where(shrink_below, below, box.below[active])
            shrunk = shrink_above | shrink_below
        chebyshev = _chebyshev_coefficients(_chebyshev_coefficients(data, 1), 2)
        error_t, error_r = _truncation_errors(
            chebyshev, log_joint - peak[:, np.newaxis, np.newaxis], factor
        )
        tolerance = _SURROGATE_TOLERANCE + 64.0 * _EPS * factor * np.abs(data).max(
            axis=(1, 2)
        )
        finer_t = ~wider & (error_t > tolerance) & (n_t < _MAX_DEGREE)
        finer_r = ~wider & (error_r > tolerance) & (n_r < _MAX_DEGREE)
        finer = finer_t | finer_r
        last = attempt == _MAX_TRIES - 1
        accept = ~(wider | finer | shrunk) | last
        # Kept at the degree cap with an error still above the tolerance:
        # warned of only where it could move a bound by 1e-6 of its width.
        short = wider | (np.maximum(error_t, error_r) > _CAPPED_TOLERANCE)
        if np.any(accept & short):
            warnings.warn(
                "The quadrature of the exact posterior of mu did not reach its "
                "tolerance for some feature(s): their exact credible intervals may "
                "be inaccurate. Compare them with method='variational'.",
                RuntimeWarning,
                stacklevel=4,
            )
        for position, feature in enumerate(active):
            if accept[position]:
                coefficients[feature] = chebyshev[position]
        peaks[active[accept]] = peak[accept] - np.log(slope).max(axis=1)[accept]
        degree_t[active] = np.where(finer_t, 2 * n_t, n_t)
        degree_r[active] = np.where(finer_r, 2 * n_r, n_r)
        box.beta[active] += np.where(wider_t, 0.5, 0.0)
        box.above[active] *= np.where(wider_above, 1.25, 1.0)
        box.below[active] *= np.where(wider_below, 1.25, 1.0)
        active = active[~accept]
        if not active.size:
            break
    return coefficients, peaks


def _marginal_series(box, rows, coefficients, peaks):
    """The Chebyshev series in t of the marginal f(t), for features of one shape.

    On the Lobatto grid of degree at least _MARGINAL_DEGREE in each axis: D
    from its series, l, ``exp(l - peak)``, integrated over r by
    Clenshaw-Curtis (the integrals of the Chebyshev polynomials, ``2/(1 -
    k**2)`` for even k), times the Jacobian ``mu''(t) h``; then f's own
    coefficients in t.
    """
    degree_t = max(coefficients.shape[1] - 1, _MARGINAL_DEGREE)
    degree_r = max(coefficients.shape[2] - 1, _MARGINAL_DEGREE)
    data = _resampled(_resampled(coefficients, degree_t, 1), degree_r, 2)
    t, r = _chebyshev_nodes(degree_t), _chebyshev_nodes(degree_r)
    location, slope = box.location(np.broadcast_to(t, (rows.size, t.size)), rows)
    v = box.log_precision(location[:, :, np.newaxis], r, rows)
    half_dof = 0.5 * (box.dof[rows] + 1.0)[:, np.newaxis, np.newaxis]
    log_joint = box.log_joint_rest(location[:, :, np.newaxis], v, rows)
    log_joint -= half_dof * data + peaks[:, np.newaxis, np.newaxis]
    order = np.arange(degree_r + 1)
    with np.errstate(divide="ignore"):
        moments = np.where(order % 2 == 0, 2.0 / (1.0 - order**2), 0.0)
    inner = _chebyshev_coefficients(np.exp(log_joint), 2) @ moments
    values = inner * slope * box.h[rows][:, np.newaxis]
    return _chebyshev_coefficients(values, 1)


def _series_tail_bound(series, tail, from_left):
    """The t beyond which (on one side) the marginal holds ``tail`` of its mass.

    ``series`` (features, N + 1) are f's Chebyshev coefficients. The mass
    from the near end, ``F(t) = int_{-1}^t f`` (or ``int_t^1 f`` from the
    right, formed directly so that small tails keep their digits), is a
    Chebyshev series too; ``F(t) = tail F(total)`` is bracketed between two
    Lobatto points and solved by Newton's method safeguarded by bisection.
    """
    end = -1.0 if from_left else 1.0
    sign = 1.0 if from_left else -1.0
    mass = sign * chebint(series, lbnd=end, axis=1)
    total = chebval(-end, mass.T, tensor=False)
    wanted = tail * total
    grid = _chebyshev_nodes(mass.shape[1] - 1)[::-1]
    cumulative = chebval(grid, mass.T)  # (features, points), t increasing
    if from_left:
        above = cumulative >= wanted[:, np.newaxis]
        index = np.where(above.any(axis=1), above.argmax(axis=1), grid.size - 1)
        low, high = grid[np.maximum(index - 1, 0)], grid[index]
    else:
        above = cumulative[:, ::-1] >= wanted[:, np.newaxis]
        index = (
            grid.size
            - 1
            - np.where(above.any(axis=1), above.argmax(axis=1), grid.size - 1)
        )
        low, high = grid[index], grid[np.minimum(index + 1, grid.size - 1)]
    x = 0.5 * (low + high)
    for _ in range(_MAX_SOLVE_STEPS):
        value = sign * (chebval(x, mass.T, tensor=False) - wanted)
        slope = chebval(x, series.T, tensor=False)
        # value increases with x (from the left: F rises; from the right, -G).
        new, low, high = _bracketed_newton(x, value, slope, value < 0.0, low, high)
        done = (value == 0.0) | (np.abs(new - x) <= 4.0 * _EPS)
        x = np.where(value == 0.0, x, new)
        if done.all():
            break
    return x


def _student_interval_of(X, sample_weight, fitted, columns, level):
    """:func:`student_exact_interval` for the features ``columns``."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        box = _StudentBox(fitted, columns)
        coefficients, peaks = _student_surrogate(X, sample_weight, box)
        tail = 0.5 * (1.0 - level)
        n_features = columns.size
        lower, upper = np.empty(n_features), np.empty(n_features)
        shapes = [c.shape for c in coefficients]
        for shape in sorted(set(shapes)):
            group = np.array([j for j in range(n_features) if shapes[j] == shape])
            series = _marginal_series(
                box, group, np.stack([coefficients[j] for j in group]), peaks[group]
            )
            lower[group] = _series_tail_bound(series, tail, True)
            upper[group] = _series_tail_bound(series, tail, False)
        lower, upper = np.fmin(lower, upper), np.fmax(lower, upper)
        bounds = []
        for t in (lower, upper):
            location, _ = box.location(t[:, np.newaxis])
            bounds.append(box.mean + box.sigma * location[:, 0])
    return bounds


def student_exact_interval(X, sample_weight, fitted, level):
    """The central ``level`` credible interval of each feature's mu, Student-t model.

    Parameters
    ----------
    X : ndarray or dask collection of shape (n_samples, n_features)
        The data the estimator was fitted on, checked.
    sample_weight : ndarray of shape (n_samples,) or None
        Its weights.
    fitted : tuple
        ``(m, s, a, b, nu, (m0, s0, a0, b0), W)``: q(mu) q(tau), the degrees
        of freedom, the priors (arrays of shape (n_features,)) and the total
        weight.
    level : float
        Posterior probability inside the interval, in (0, 1).

    Returns
    -------
    lower, upper : ndarray of shape (n_features,)
        The ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of ``p(mu | X)``.
    """
    n_features = fitted[0].shape[0]
    lower, upper = np.empty(n_features), np.empty(n_features)
    # Features in chunks, so that a try's arrays (features x nodes) stay
    # within _NODE_VALUES whatever the degrees; each chunk is its own passes.
    size = max(1, _NODE_VALUES // (_MAX_DEGREE + 1) ** 2)
    for start in range(0, n_features, size):
        columns = np.arange(start, min(start + size, n_features))
        lower[columns], upper[columns] = _student_interval_of(
            X, sample_weight, fitted, columns, level
        )
    bounds = (lower, upper)
    if not all(np.all(np.isfinite(b)) for b in bounds):
        raise ValueError(
            "The exact posterior of mu is not representable in float64: the "
            "data and the priors are on very different scales. Use "
            "method='variational', or rescale X by c and the priors with it "
            "(prior_mean and prior_std by c, prior_rate by c**2)."
        )
    return bounds[0], bounds[1]
