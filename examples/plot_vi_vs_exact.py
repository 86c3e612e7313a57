"""
Mean-field VI against the exact posterior as the sample grows
=============================================================

A filling machine should put 500 g in each bag; a quality engineer weighs a few
bags and wants the machine's mean error ``mu`` (in grams) with an honest
uncertainty. How many bags before the variational answer can be trusted?

:class:`~skvi.VariationalNormalEstimator` approximates the posterior of the mean
``mu`` and the precision ``tau`` by a product ``q(mu) q(tau)``. That product
cannot represent how uncertainty about the noise widens the uncertainty about
the mean, so ``q(mu)`` is too narrow. Here the precision integrates out in
closed form, so the exact posterior of ``mu`` is a one-dimensional integral: we
compute it on a grid and compare, for samples of 2 to 1000 bags.
"""

# %%
# The exact posterior on a grid
# -----------------------------
# With ``n`` weights, mean ``xbar`` and ``S`` the sum of squared deviations,
# integrating ``tau`` out of the joint leaves
#
# .. math::
#
#    p(\mu \mid x) \propto \mathcal{N}(\mu \mid m_0, s_0^2)
#    \left(b_0 + \tfrac{1}{2}\left(S + n (\bar x - \mu)^2\right)\right)^{-(a_0 + n/2)},
#
# which we normalise numerically on a fine grid around the variational mean.
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats
from scipy.special import logsumexp

from skvi import VariationalNormalEstimator

PRIOR = dict(prior_mean=0.0, prior_std=5.0, prior_shape=1.0, prior_rate=1.0)


def exact_posterior(x, prior_mean, prior_std, prior_shape, prior_rate, centre, scale):
    """Grid, density, mean and sd of the exact posterior p(mu | x)."""
    n, xbar = x.size, x.mean()
    S = np.sum((x - xbar) ** 2)
    grid = np.linspace(centre - 40 * scale, centre + 40 * scale, 40_001)
    log_density = stats.norm.logpdf(grid, prior_mean, prior_std) - (
        prior_shape + n / 2
    ) * np.log(prior_rate + 0.5 * (S + n * (xbar - grid) ** 2))
    step = grid[1] - grid[0]
    density = np.exp(log_density - logsumexp(log_density) - np.log(step))
    mean = np.sum(grid * density) * step
    std = np.sqrt(np.sum((grid - mean) ** 2 * density) * step)
    return grid, density, mean, std


# %%
# Many samples of each size
# -------------------------
# The machine's true error is +1.5 g with a bag-to-bag sd of 2 g. For each
# sample size we weigh 30 independent samples of bags and record, for each, the
# ratio of the variational to the exact posterior sd of ``mu`` and the distance
# between the two posterior means, in exact posterior sds.
rng = np.random.default_rng(0)
TRUE_MEAN, TRUE_SD = 1.5, 2.0
sizes = np.array([2, 3, 5, 10, 20, 50, 100, 300, 1000])
n_repeats = 30
sd_ratio = np.empty((sizes.size, n_repeats))
mean_gap = np.empty((sizes.size, n_repeats))
examples = {}
for i, n in enumerate(sizes):
    for r in range(n_repeats):
        x = rng.normal(TRUE_MEAN, TRUE_SD, size=n)
        est = VariationalNormalEstimator(**PRIOR).fit(x.reshape(-1, 1))
        m, s = est.posterior_mean_[0], est.posterior_std_[0]
        grid, density, exact_mean, exact_std = exact_posterior(
            x, **PRIOR, centre=m, scale=s
        )
        sd_ratio[i, r] = s / exact_std
        mean_gap[i, r] = abs(m - exact_mean) / exact_std
        if r == 0 and n in (2, 10, 100):
            examples[n] = (grid, density, m, s, exact_std)
    print(
        f"n = {n:4d}: variational sd / exact sd = {np.median(sd_ratio[i]):.3f} "
        f"(median), |mean gap| = {np.median(mean_gap[i]):.4f} exact sd"
    )

# %%
# The figure
# ----------
# Top: ``q(mu)`` against the exact posterior for one sample of 2, 10 and 100
# bags. Bottom left: the variational sd as a fraction of the exact sd, over the
# 30 samples of each size (median and range): about two thirds with 2 bags,
# 0.9 with 10, within 1% from 100 on. Bottom right: the means agree to a small
# fraction of a posterior sd at every size: the centre is right, the width is
# too small.
fig = plt.figure(figsize=(11, 7.5), layout="constrained")
panels = fig.add_gridspec(2, 6)
for k, n in enumerate((2, 10, 100)):
    ax = fig.add_subplot(panels[0, 2 * k : 2 * k + 2])
    grid, density, m, s, exact_std = examples[n]
    visible = np.abs(grid - m) < 4.5 * exact_std
    ax.plot(grid[visible], density[visible], color="0.2", lw=2.2, label="exact")
    ax.plot(
        grid[visible],
        stats.norm.pdf(grid[visible], m, s),
        color="C1",
        lw=2,
        ls="--",
        label="variational q(mu)",
    )
    ax.set(
        xlabel="machine's mean error mu (g)",
        ylabel="posterior density (1/g)",
        title=f"n = {n} bags: sd ratio {s / exact_std:.2f}",
        ylim=(0, 1.3 * density.max()),
    )
    ax.grid(alpha=0.3)
    if k == 0:
        ax.legend(loc="upper left", fontsize="small")

ax_ratio = fig.add_subplot(panels[1, :3])
ax_ratio.fill_between(
    sizes,
    sd_ratio.min(axis=1),
    sd_ratio.max(axis=1),
    color="C1",
    alpha=0.25,
    label="range over 30 samples",
)
ax_ratio.plot(sizes, np.median(sd_ratio, axis=1), "o-", color="C1", label="median")
ax_ratio.axhline(1.0, color="0.2", lw=1, ls="--", label="exact")
ax_ratio.set(
    xscale="log",
    xlabel="number of bags weighed, n",
    ylabel="variational sd / exact sd of mu",
    title="The width: understated at small n",
)
ax_ratio.legend(loc="lower right", fontsize="small")
ax_ratio.grid(alpha=0.3, which="both")

ax_gap = fig.add_subplot(panels[1, 3:])
ax_gap.fill_between(
    sizes,
    mean_gap.min(axis=1),
    mean_gap.max(axis=1),
    color="C0",
    alpha=0.25,
    label="range over 30 samples",
)
ax_gap.plot(sizes, np.median(mean_gap, axis=1), "o-", color="C0", label="median")
ax_gap.set(
    xscale="log",
    xlabel="number of bags weighed, n",
    ylabel="|variational - exact mean| (exact sds)",
    title="The centre: accurate at every n",
    ylim=(0, None),
)
ax_gap.legend(loc="upper right", fontsize="small")
ax_gap.grid(alpha=0.3, which="both")
fig.suptitle(
    "Variational posterior of a filling machine's mean error, against the exact"
)
plt.show()
