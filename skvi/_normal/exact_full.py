r"""The full Normal model's exact marginal credible interval of each mean.

``VariationalNormalEstimator(covariance_type="full").credible_interval``
(``method="exact"``): the prior ``mu ~ Normal(m0, diag(s0**2))`` independent
of ``Lambda ~ Wishart(nu0, W0)`` is not conjugate, so no coordinate of ``mu``
has a Student-t marginal; integrating ``Lambda`` out leaves

.. math::

    p(\mu \mid X) \propto \mathcal N(\mu \mid m_0, S_0)
    \,(1 + W \delta^\top B^{-1} \delta)^{-k},
    \qquad \delta = \mu - \bar x,

and the multivariate-t factor is a scale mixture of Normals (its mixing
variable ``u = log g`` has a 1-D density), so each coordinate's marginal is
a 1-D mixture over ``u`` of Normals. :class:`_ScaleMixture` holds ``p(u | X)``
and the Normal of each coordinate given ``u``; its nodes come from a scan
for the modes and the diagonal model's Gauss-Legendre panels
(``skvi/_normal/exact.py``), and each bound solves its tail equation for all
coordinates at once by safeguarded Newton steps. The comment beside the code
gives the derivation.

References
----------
Bishop, *Pattern Recognition and Machine Learning* (2006), §2.3.7 (the
Student-t as a scale mixture of Normals) and §2.3.6 (the Wishart integral);
Press et al., *Numerical Recipes*, 3rd ed., §9.4 (``rtsafe``) and §10.2
(golden-section search).
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
from scipy.special import expit, ndtr, ndtri

from .._core.exact import MAX_SOLVE_STEPS, bracketed_newton
from .exact import (
    _CHECK_NODES,
    _CHECK_WEIGHTS,
    _LOG_CUTOFF,
    _MAX_REFINEMENTS,
    _NODES,
    _PANEL_TOLERANCE,
    _WEIGHTS,
)

_EPS = np.finfo(np.float64).eps

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
    for _ in range(MAX_SOLVE_STEPS):
        z = (c - mean) / std
        value = weights @ ndtr(sign * z) - tail
        slope = sign * (weights @ (np.exp(-0.5 * z * z) / std)) / np.sqrt(2 * np.pi)
        # value increases with c from the left, decreases from the right.
        below = sign * value < 0.0
        new, low, high = bracketed_newton(c, value, slope, below, low, high)
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
