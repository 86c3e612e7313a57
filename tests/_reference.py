"""The exact posterior of the Normal model, by numerical quadrature.

An independent reference for skvi's variational fit: nothing here imports skvi.
For one feature with weighted data, integrating the precision tau out of

    p(mu, tau, x) = Normal(mu | m0, s0**2) Gamma(tau | a0, b0)
                    prod_i Normal(x_i | mu, 1/tau)**w_i

leaves, with W = sum w, xbar the weighted mean, S = sum w (x - xbar)**2 and
a_n = a0 + W/2,

    p(mu, x) = Normal(mu | m0, s0**2) b0**a0 Gamma(a_n)
               / (Gamma(a0) (2 pi)**(W/2) (b0 + (S + W (xbar - mu)**2)/2)**a_n),

a one-dimensional integrand: log p(x) = log int p(mu, x) dmu, and the moments of
p(mu | x) are ratios of such integrals.
"""

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, stats
from scipy.special import gammaln


@dataclass
class ExactPosterior:
    log_evidence: float
    mean: float
    std: float


def exact_posterior(
    x,
    sample_weight=None,
    prior_mean=0.0,
    prior_std=1.0,
    prior_shape=1.0,
    prior_rate=1.0,
):
    """Exact log evidence and posterior mean and sd of mu for one feature."""
    x = np.asarray(x, dtype=np.float64).ravel()
    w = np.ones_like(x) if sample_weight is None else np.asarray(sample_weight, float)
    W = w.sum()
    xbar = np.dot(w, x) / W
    S = np.dot(w, (x - xbar) ** 2)
    m0, s0, a0, b0 = map(float, (prior_mean, prior_std, prior_shape, prior_rate))
    a_n = a0 + W / 2

    constant = a0 * np.log(b0) - gammaln(a0) + gammaln(a_n) - W / 2 * np.log(2 * np.pi)

    def log_joint(mu):
        return (
            stats.norm.logpdf(mu, m0, s0)
            + constant
            - a_n * np.log(b0 + 0.5 * (S + W * (xbar - mu) ** 2))
        )

    # Bracket the mass: the likelihood's scale in mu and the prior's.
    likelihood_sd = np.sqrt((b0 + S / 2) / a_n / W)
    width = max(s0, likelihood_sd)
    lo = min(m0, xbar) - 40 * width
    hi = max(m0, xbar) + 40 * width
    grid = np.linspace(lo, hi, 200_001)
    values = log_joint(grid)
    k = int(np.argmax(values))
    step = grid[1] - grid[0]
    mode = optimize.minimize_scalar(
        lambda mu: -log_joint(mu),
        bounds=(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]),
        method="bounded",
        options={"xatol": step * 1e-6},
    ).x
    peak = log_joint(mode)
    # Local scale from the curvature at the mode, to focus the quadrature.
    h = 1e-4 * min(width, likelihood_sd, s0)
    curvature = -(log_joint(mode + h) - 2 * peak + log_joint(mode - h)) / h**2
    scale = 1 / np.sqrt(max(curvature, 1e-300))
    # Integrate in t = mu - mode, so that data far from zero lose no precision.
    prior_offset = mode - m0
    data_offset = xbar - mode

    def log_joint_shifted(t):
        return (
            stats.norm.logpdf(prior_offset + t, 0.0, s0)
            + constant
            - a_n * np.log(b0 + 0.5 * (S + W * (data_offset - t) ** 2))
        )

    def moment(power, centre=0.0):
        return integrate.quad(
            lambda t: (t - centre) ** power * np.exp(log_joint_shifted(t) - peak),
            -60 * scale,
            60 * scale,
            points=[0.0],
            limit=500,
            epsrel=1e-10,
            epsabs=1e-13 * scale ** (power + 1),
        )[0]

    z = moment(0)
    shift = moment(1) / z
    var = moment(2, shift) / z
    mean = mode + shift
    return ExactPosterior(
        log_evidence=float(peak + np.log(z)), mean=float(mean), std=float(np.sqrt(var))
    )
