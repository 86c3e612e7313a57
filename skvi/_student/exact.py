r"""The Student-t model's exact central credible interval of each mean.

``VariationalStudentEstimator.credible_interval(method="exact", X=X)``: with
the weights ``w_i`` integrated out (Bishop, PRML eq. 2.161) the likelihood is
Student-t, no statistic of X summarises it and ``tau`` does not integrate out
in closed form, so ``p(mu | X) = int p(mu, tau | X) dtau`` is a 2-D quadrature
whose integrand needs a pass over the rows. In q's units
(``mu' = (mu - m)/sigma``, ``v = log(tau sigma**2)``) the log joint is

.. math::

    l(\mu', v) = -\tfrac12 \bigl(\tfrac{m - m_0}{s_0}
    + \tfrac{\sigma}{s_0}\mu'\bigr)^2 + (a_0 + W/2)\, v
    - \tfrac{b_0}{\sigma^2} e^v - \tfrac{\nu + 1}{2} D(\mu', v),
    \qquad D = \sum_i v_i \log\bigl(1 + e^v (x'_i - \mu')^2 / \nu\bigr),

and only ``D`` needs the data. ``D`` is smooth on the scale of the
posterior, so a tensor Chebyshev interpolant of low degree over a box
holding it (:class:`_StudentBox`, adapted by :func:`_student_surrogate`)
reproduces it to rounding: X is read only to evaluate ``D`` at the
interpolant's nodes (:func:`_data_term`, one pass per try, through the row
block engine or ``dask_reduce``); the integral over ``v`` (Clenshaw-Curtis),
the marginal's antiderivative and each bound's root solve (safeguarded
Newton, ``skvi/_core/exact.py``) work on the interpolant. The comment beside
the code gives the box, the adaptation and the tolerances.

References
----------
Bishop, *Pattern Recognition and Machine Learning* (2006), §2.3.7;
Trefethen, *Approximation Theory and Approximation Practice* (2013), ch. 3,
8 and 19 (Chebyshev interpolants, their convergence, Clenshaw-Curtis);
Press et al., *Numerical Recipes*, 3rd ed., §9.4 (``rtsafe``).
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from functools import partial

import numpy as np
from numpy.polynomial.chebyshev import chebint, chebval
from scipy.fft import dct
from scipy.special import digamma, polygamma

from .._core import engine
from .._core.exact import MAX_SOLVE_STEPS, bracketed_newton
from .._core.namespaces import is_dask_collection

_EPS = np.finfo(np.float64).eps

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
# by Newton steps safeguarded by bisection (rtsafe: skvi._core.exact's
# bracketed_newton).
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
        from .._core.dask_passes import dask_reduce

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
    for _ in range(MAX_SOLVE_STEPS):
        value = sign * (chebval(x, mass.T, tensor=False) - wanted)
        slope = chebval(x, series.T, tensor=False)
        # value increases with x (from the left: F rises; from the right, -G).
        new, low, high = bracketed_newton(x, value, slope, value < 0.0, low, high)
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
