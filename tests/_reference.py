"""The exact posterior of the Normal model by direct 2-D quadrature.

An independent reference for :func:`skvi.diagnostics.exact_posterior` (and,
in ``tests/test_cli.py``, for ``skvi fit --diagnose``): nothing here imports
skvi, and the joint density of one feature's ``(mu, tau)``,

    p(mu, tau, x) = Normal(mu | m0, s0**2) Gamma(tau | a0, b0)
                    prod_i Normal(x_i | mu, 1/tau)**w_i,

is integrated as it stands over (mu, v = log tau) (Jacobian exp(v)), by the
trapezoid rule on a tensor grid, with none of skvi's reduction to one
dimension. For a smooth integrand that is negligible at the edges of the box
the rule converges geometrically (Trefethen and Weideman, SIAM Review 56(3),
2014): to about 1e-10 here, with grid steps of at most half the posterior's
width. The other tests take the exact posterior from skvi.diagnostics.
"""

# SPDX-License-Identifier: BSD-3-Clause

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

# The box holds the mass down to exp(-_LOG_CUTOFF) of the peak.
_LOG_CUTOFF = 46.0
_MAX_POINTS = 40_001


@dataclass
class ExactPosterior:
    log_evidence: float
    mean: float
    std: float
    tau_mean: float
    tau_std: float


def _statistics(x, w):
    W = float(w.sum())
    xbar = float(np.dot(w, x) / W)
    return W, xbar, float(np.dot(w, (x - xbar) ** 2))


def _mu_box(W, xbar, S, m0, s0, a0, b0):
    """Where p(mu | x) is above exp(-_LOG_CUTOFF) of its peak, and its width there.

    Only to place the grid: it scans p(mu, x) with tau integrated out (a
    Student-t-like factor times the prior) on 200001 points spanning the
    prior and the data, then brackets the region above the cutoff.
    """
    a_n = a0 + W / 2
    likelihood_sd = math.sqrt((b0 + S / 2) / a_n / W)

    def log_marginal(mu):
        return stats.norm.logpdf(mu, m0, s0) - a_n * np.log1p(
            W * (xbar - mu) ** 2 / (2 * b0 + S)
        )

    width = max(s0, likelihood_sd)
    lo, hi = min(m0, xbar) - 60 * width, max(m0, xbar) + 60 * width
    grid = np.linspace(lo, hi, 200_001)
    values = log_marginal(grid)
    inside = np.flatnonzero(values > values.max() - _LOG_CUTOFF)
    step = grid[1] - grid[0]
    low, high = grid[inside[0]] - 2 * step, grid[inside[-1]] + 2 * step
    # Every local width is at least that of the narrower of prior and
    # likelihood (over sqrt 2); the coarse scan's step bounds it from above.
    narrowest = min(s0, likelihood_sd) / math.sqrt(2.0)
    return low, high, narrowest


def exact_posterior(
    x,
    sample_weight=None,
    prior_mean=0.0,
    prior_std=1.0,
    prior_shape=1.0,
    prior_rate=1.0,
):
    """Log evidence and posterior moments of mu and tau for one feature."""
    x = np.asarray(x, dtype=np.float64).ravel()
    w = np.ones_like(x) if sample_weight is None else np.asarray(sample_weight, float)
    m0, s0, a0, b0 = map(float, (prior_mean, prior_std, prior_shape, prior_rate))
    W, xbar, S = _statistics(x, w)
    a_n = a0 + W / 2
    low, high, narrowest = _mu_box(W, xbar, S, m0, s0, a0, b0)
    n_mu = max(4001, math.ceil((high - low) / (0.5 * narrowest)) + 1)
    assert n_mu <= _MAX_POINTS, "the reference grid would be too large"
    mu = np.linspace(low, high, n_mu)
    # Given mu, tau ~ Gamma(a_n, b0 + (S + W (xbar - mu)**2)/2): the box in
    # log tau spans its far quantiles over the mu box.
    rates = b0 + 0.5 * (S + W * (xbar - np.array([low, high, xbar])) ** 2)
    v_low = math.log(stats.gamma.ppf(1e-22, a_n) / rates.max())
    v_high = math.log(stats.gamma.isf(1e-22, a_n) / rates.min())
    v = np.linspace(v_low, v_high, 3001)
    tau = np.exp(v)
    log_prior_tau = stats.gamma.logpdf(tau, a0, scale=1.0 / b0) + v
    data_tau = log_prior_tau + 0.5 * W * (v - math.log(2 * math.pi)) - 0.5 * tau * S
    log_prior_mu = stats.norm.logpdf(mu, m0, s0)
    # The log joint's maximum, over the grid, is factored out.
    # The moments of mu are taken about the grid's peak, against cancellation.
    blocks = np.array_split(np.arange(n_mu), max(1, n_mu // 100))
    peak, centre = -np.inf, 0.0
    for block in blocks:
        log_joint = (
            log_prior_mu[block, np.newaxis]
            + data_tau
            - 0.5 * tau * W * (xbar - mu[block, np.newaxis]) ** 2
        )
        if log_joint.max() > peak:
            peak = float(log_joint.max())
            centre = float(mu[block][np.argmax(log_joint.max(axis=1))])
    sums = np.zeros(5)
    for block in blocks:
        m = mu[block, np.newaxis]
        density = np.exp(
            log_prior_mu[block, np.newaxis]
            + data_tau
            - 0.5 * tau * W * (xbar - m) ** 2
            - peak
        )
        row = density.sum(axis=1)
        about = m[:, 0] - centre
        sums += [
            row.sum(),
            (row * about).sum(),
            (row * about**2).sum(),
            (density * tau).sum(),
            (density * tau * tau).sum(),
        ]
    z, first, second, tau_first, tau_second = sums
    cell = (mu[1] - mu[0]) * (v[1] - v[0])
    shift = first / z
    tau_mean = tau_first / z
    return ExactPosterior(
        log_evidence=peak + math.log(z * cell),
        mean=centre + shift,
        std=math.sqrt(max(second / z - shift**2, 0.0)),
        tau_mean=tau_mean,
        tau_std=math.sqrt(max(tau_second / z - tau_mean**2, 0.0)),
    )


def exact_interval(weight, data_mean, sum_of_squares, prior, level):
    """The central ``level`` interval of p(mu | x) for one feature, through tau.

    A representation independent of skvi's (which integrates the density of
    mu with tau integrated out): given tau, mu is Normal with precision
    ``lam = 1/s0**2 + W tau`` and mean ``m = xbar + (m0 - xbar) / (1 + k)``,
    ``k = s0**2 W tau``, and, with ``v = log tau``, ``a_n = a0 + W/2``,
    ``B = b0 + S/2``,

        log p(v | x) = a_n v - B e**v - log(1 + k) / 2
                       - W e**v (xbar - m0)**2 / (2 (1 + k)) + const,

    so ``P(mu < c | x) = int p(v | x) Phi((c - m(v)) sqrt(lam(v))) dv``, taken
    by scipy.integrate.quad over where p(v | x) is above exp(-75) of its peak
    (found by two 20001-point scans), and solved for each bound by brentq, in
    offsets from ``xbar`` so that no digit is lost far from zero. The upper
    bound solves the survival function, so both tails are formed directly.
    """
    from functools import partial

    from scipy import integrate, optimize, special

    W, xbar, S = float(weight), float(data_mean), float(sum_of_squares)
    m0, s0, a0, b0 = map(float, prior)
    a_n, B = a0 + W / 2, b0 + S / 2
    d2 = (xbar - m0) ** 2

    # Every mode of p(v | x) lies between those of two Gamma(a_n, .) densities
    # in v: rate B (the data alone) and B + (s0**2 W + W d2)/2 (the prior's
    # pull at its largest); each side falls at least as fast as theirs.
    top = math.log(a_n / B)

    def log_density(v):
        # a_n v - B e**v, less its value at top: a_n (d - expm1(d)), d = v - top,
        # so that no digit is lost to a_n (up to 5e6 here) at the peak.
        k = s0 * s0 * W * math.exp(v)
        return (
            a_n * ((v - top) - math.expm1(v - top))
            - 0.5 * math.log1p(k)
            - 0.5 * d2 * W * (math.exp(v) / (1 + k))
        )

    bottom = math.log(a_n / (B + 0.5 * s0 * s0 * W + 0.5 * W * d2))

    def gamma_drop(v, mode):
        return a_n * ((v - mode) - math.expm1(v - mode))

    low, high = bottom - 1.0, top + 1e-3
    while gamma_drop(low, bottom) > -80:
        low -= 1.0
    while gamma_drop(high, top) > -80:
        high += high - top
    # Twice: the second scan resolves a peak narrower than the first's step.
    for _ in range(2):
        grid = np.linspace(low, high, 20_001)
        values = np.array([log_density(v) for v in grid])
        peak = values.max()
        kept = grid[values > peak - 75]
        step = grid[1] - grid[0]
        low, high = kept[0] - step, kept[-1] + step
    scan = set(np.linspace(low, high, 40)[1:-1])
    points = sorted({float(grid[values.argmax()])} | scan)

    def conditional(v):
        k = s0 * s0 * W * math.exp(v)
        return (m0 - xbar) / (1 + k), 1 / math.sqrt(1 / s0**2 + W * math.exp(v))

    def quad(function):
        return integrate.quad(
            function, low, high, points=points, limit=4000, epsabs=0, epsrel=1e-12
        )[0]

    z = quad(lambda v: math.exp(log_density(v) - peak))

    def tail(offset, sign):
        def integrand(v):
            mean, sd = conditional(v)
            return math.exp(log_density(v) - peak) * special.ndtr(
                sign * (offset - mean) / sd
            )

        return quad(integrand) / z

    p = 0.5 * (1 - level)
    ends = [conditional(v) for v in (low, high)]
    left = min(m - 40 * s for m, s in ends)
    right = max(m + 40 * s for m, s in ends)
    solve = partial(optimize.brentq, a=left, b=right, xtol=1e-300, rtol=1e-15)
    lower = solve(lambda c: tail(c, 1) - p)
    upper = solve(lambda c: tail(c, -1) - p)
    return xbar + lower, xbar + upper


def full_marginal_interval(x, sample_weight, prior, levels, feature=0):
    """The central intervals of one coordinate of mu under the full model, in 2-D.

    For ``VariationalNormalEstimator(covariance_type="full")`` with two
    features: ``mu ~ Normal(m0, diag(s0**2))``, ``Lambda ~ Wishart(nu0, W0)``
    with ``nu0 = 2 a0 + 1`` and ``W0 = diag(1 / (2 b0))``. With Lambda
    integrated out (a Wishart integral),

        p(mu | x) ∝ Normal(mu | m0, S0) |W0^-1 + S + W (xbar - mu)(xbar - mu)^T|**-k,

    ``k = (nu0 + W) / 2``, evaluated as it stands on a tensor grid of
    Gauss-Legendre panels (16 points each) over the box where it is above
    exp(-75) of its peak (found by two 801 x 801 scans); the marginal of the
    coordinate is the sum over the other, its CDF the panels' masses plus a
    Gauss-Legendre integral over the part of a panel, solved by brentq. Nothing
    here uses the scale-mixture representation that skvi uses. Returns one
    ``(lower, upper)`` per level.
    """
    from scipy import optimize

    x = np.asarray(x, dtype=np.float64)
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, float)
    m0, s0, a0, b0 = (np.broadcast_to(np.asarray(p, float), (2,)) for p in prior)
    W = w.sum()
    xbar = w @ x / W
    centred = x - xbar
    B = np.diag(2 * b0) + (centred * w[:, None]).T @ centred
    k = (2 * a0[0] + 1 + W) / 2
    B_inv = np.linalg.inv(B)

    def log_density(mu1, mu2):
        d1, d2 = xbar[0] - mu1, xbar[1] - mu2
        q = B_inv[0, 0] * d1 * d1 + 2 * B_inv[0, 1] * d1 * d2 + B_inv[1, 1] * d2 * d2
        return (
            -0.5 * ((mu1 - m0[0]) / s0[0]) ** 2
            - 0.5 * ((mu2 - m0[1]) / s0[1]) ** 2
            - k * np.log1p(W * q)
        )

    # The box: a scan over the prior's and the data's reach, twice.
    reach = np.maximum(s0, np.sqrt(np.diag(B) / W))
    low = np.minimum(m0, xbar) - 40 * reach
    high = np.maximum(m0, xbar) + 40 * reach
    for _ in range(2):
        grids = [np.linspace(low[j], high[j], 801) for j in range(2)]
        values = log_density(grids[0][:, None], grids[1][None, :])
        inside = values > values.max() - 75
        steps = [g[1] - g[0] for g in grids]
        rows, columns = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
        low = np.array([grids[0][rows[0]] - steps[0], grids[1][columns[0]] - steps[1]])
        high = np.array(
            [grids[0][rows[-1]] + steps[0], grids[1][columns[-1]] + steps[1]]
        )
    peak = values.max()
    nodes, weights = np.polynomial.legendre.leggauss(16)

    def panel_rule(a, b, count):
        edges = np.linspace(a, b, count + 1)
        half = 0.5 * np.diff(edges)[:, None]
        middle = 0.5 * (edges[1:] + edges[:-1])[:, None]
        return edges, (middle + half * nodes), (half * weights)

    other = 1 - feature
    _, other_nodes, other_weights = panel_rule(low[other], high[other], 120)
    other_nodes, other_weights = other_nodes.ravel(), other_weights.ravel()

    def marginal(values_of_feature):
        grid = values_of_feature.ravel()[:, None]
        pair = (
            (grid, other_nodes[None, :])
            if feature == 0
            else (other_nodes[None, :], grid)
        )
        density = np.exp(log_density(*pair) - peak)
        return (density @ other_weights).reshape(values_of_feature.shape)

    edges, panel_nodes, panel_weights = panel_rule(low[feature], high[feature], 120)
    masses = np.sum(marginal(panel_nodes) * panel_weights, axis=1)
    total = masses.sum()

    def bound(from_left, p):
        share = masses / total if from_left else masses[::-1] / total
        cumulative = np.cumsum(share)
        panel = int(np.argmax(cumulative >= p))
        rest = p - (cumulative[panel] - share[panel])
        if not from_left:
            panel = len(masses) - 1 - panel
        a, b = edges[panel], edges[panel + 1]

        def partial(c):
            lo, hi = (a, c) if from_left else (c, b)
            half = 0.5 * (hi - lo)
            points = 0.5 * (lo + hi) + half * nodes
            return half * (marginal(points) @ weights) / total - rest

        return optimize.brentq(partial, a, b, xtol=1e-300, rtol=1e-15)

    return [
        (bound(True, 0.5 * (1 - level)), bound(False, 0.5 * (1 - level)))
        for level in levels
    ]
