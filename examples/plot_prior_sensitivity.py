"""
How much the prior matters with a handful of answers
====================================================

A new customer segment has answered a satisfaction survey (0-100 points), but
only 6 customers so far. Company-wide, segments average about 70 points. How
much does the estimate of this segment's mean score depend on that prior
belief, and is the variational answer still reliable when prior and data
disagree?

We fit :class:`~skvi.VariationalNormalEstimator` for prior means from 30 to 110
points and three prior widths, and compare each fit with the exact posterior
(computed on a grid, as in the example on the exact posterior).
"""

# %%
# The six answers and the exact posterior
# ---------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats
from scipy.special import logsumexp

from skvi import VariationalNormalEstimator

scores = np.array([81.0, 92.0, 77.0, 88.0, 95.0, 84.0])
print(f"{scores.size} answers, mean {scores.mean():.1f}, sd {scores.std(ddof=1):.1f}")

# Customers within a segment disagree by about 15 points: tau ~ Gamma(2, 2 * 15**2).
NOISE_PRIOR = dict(prior_shape=2.0, prior_rate=2 * 15.0**2)


def exact_posterior(x, prior_mean, prior_std, prior_shape, prior_rate):
    """Mean, sd and 95% interval of the exact p(mu | x), on a grid."""
    n, xbar = x.size, x.mean()
    S = np.sum((x - xbar) ** 2)
    grid = np.linspace(-100.0, 300.0, 80_001)
    log_density = stats.norm.logpdf(grid, prior_mean, prior_std) - (
        prior_shape + n / 2
    ) * np.log(prior_rate + 0.5 * (S + n * (xbar - grid) ** 2))
    weights = np.exp(log_density - logsumexp(log_density))
    mean = np.sum(grid * weights)
    std = np.sqrt(np.sum((grid - mean) ** 2 * weights))
    lower, upper = np.interp([0.025, 0.975], np.cumsum(weights), grid)
    return mean, std, lower, upper


# %%
# A sweep over the prior
# ----------------------
prior_means = np.linspace(30.0, 110.0, 33)
prior_stds = (5.0, 15.0, 50.0)
results = {}
for prior_std in prior_stds:
    rows = []
    for prior_mean in prior_means:
        prior = dict(prior_mean=prior_mean, prior_std=prior_std, **NOISE_PRIOR)
        est = VariationalNormalEstimator(**prior).fit(scores.reshape(-1, 1))
        lower, upper = est.credible_interval(0.95, method="variational")
        exact = exact_posterior(scores, **prior)
        rows.append(
            (est.posterior_mean_[0], est.posterior_std_[0], lower[0], upper[0], *exact)
        )
    results[prior_std] = np.array(rows)
    worst = results[prior_std][:, 1] / results[prior_std][:, 5]
    print(
        f"prior sd {prior_std:4g}: variational sd / exact sd from "
        f"{worst.min():.2f} to {worst.max():.2f}"
    )

# %%
# The figure
# ----------
# Left: the posterior mean of the segment's score and its 95% interval as the
# prior mean moves, for a tight (5 points), a moderate (15) and a wide (50)
# prior on ``mu``; solid lines and bands are the variational fit, dashed lines
# the exact posterior. With a tight prior the answer follows the prior, not the
# six customers; with a wide one it stays at the data. Right: the price of a
# prior that conflicts with the data. Far from the sample mean, the exact
# posterior spreads out between prior and data, and ``q(mu)`` does not follow:
# its sd falls to two thirds of the exact one (prior sd 15, prior mean 30).
fig, (ax_mean, ax_ratio) = plt.subplots(
    1, 2, figsize=(11, 4.8), layout="constrained", width_ratios=[1.3, 1]
)
for color, prior_std in zip(("C3", "C0", "C2"), prior_stds, strict=True):
    r = results[prior_std]
    ax_mean.fill_between(prior_means, r[:, 2], r[:, 3], color=color, alpha=0.15)
    ax_mean.plot(
        prior_means, r[:, 0], color=color, lw=2, label=f"prior sd {prior_std:g}"
    )
    ax_mean.plot(prior_means, r[:, 6], color=color, lw=1, ls="--")
    ax_mean.plot(prior_means, r[:, 7], color=color, lw=1, ls="--")
    ax_ratio.plot(
        prior_means,
        r[:, 1] / r[:, 5],
        color=color,
        lw=2,
        label=f"prior sd {prior_std:g}",
    )
for ax in (ax_mean, ax_ratio):
    ax.axvline(scores.mean(), color="0.4", lw=1, ls=":", label="sample mean")
    ax.grid(alpha=0.3)
ax_mean.plot([], [], color="0.3", lw=1, ls="--", label="exact 95% interval")
ax_mean.plot(prior_means, prior_means, color="0.6", lw=1, label="prior mean")
ax_mean.set(
    xlabel="prior mean of the segment's score (points)",
    ylabel="posterior of mu (points)",
    title="Posterior mean and 95% interval (band: variational)",
)
ax_mean.legend(loc="lower right", fontsize="small")
ax_ratio.axhline(1.0, color="0.2", lw=1, ls="--")
ax_ratio.set(
    xlabel="prior mean of the segment's score (points)",
    ylabel="variational sd / exact sd of mu",
    title="Variational sd, as a fraction of the exact",
)
ax_ratio.legend(loc="lower center", fontsize="small")
fig.suptitle("Six answers: the prior decides much, and a conflicting prior fools q(mu)")
plt.show()
