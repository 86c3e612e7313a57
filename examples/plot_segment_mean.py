"""
Estimating a customer segment's mean score with uncertainty
===========================================================

A product team surveys 40 customers of one segment ("small retailers") and
gets satisfaction scores on a 0-100 scale. Forty answers are few: the
question is not only "what is the segment's mean score?" but "how sure are we?".

We model the scores as Normal draws with unknown mean ``mu`` and unknown noise
precision ``tau``, with priors that say what the team knew before the survey:
company-wide, segments score about 70, rarely more than 20 points away, and
customers within a segment disagree by about 15 points.
:class:`~skvi.VariationalNormalEstimator` fits the posterior by
coordinate-ascent variational inference (CAVI) and gives the posterior mean of
``mu``, a 95% credible interval and the noise standard deviation.

Variational inference approximates the posterior by a product
``q(mu) q(tau)``. How good is that here? For this model the exact posterior of
``mu`` is one integral away, so we compute it by quadrature and compare: the
mean-field approximation finds the centre, and is slightly too narrow, as
mean-field approximations are known to be.
"""

# %%
# The survey
# ----------
# Simulated scores for 40 customers, rounded to whole points as a survey
# records them.
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats
from scipy.special import gammaln, logsumexp

from skvi import VariationalNormalEstimator

rng = np.random.default_rng(7)
scores = np.clip(np.round(rng.normal(loc=74.0, scale=13.0, size=40)), 0, 100)
print(
    f"{scores.size} customers, sample mean {scores.mean():.1f}, "
    f"sample sd {scores.std():.1f}"
)

# %%
# Priors and the fit
# ------------------
# ``mu ~ Normal(70, 10**2)``: segments average about 70, within 20 points.
# ``tau ~ Gamma(shape=2, rate=2 * 15**2)``: the prior mean of the precision is
# ``1 / 15**2``, a noise sd of about 15 points, held loosely (shape 2).
prior = dict(prior_mean=70.0, prior_std=10.0, prior_shape=2.0, prior_rate=2 * 15.0**2)
estimator = VariationalNormalEstimator(**prior).fit(scores.reshape(-1, 1))

# q(mu)'s interval, to set beside the exact posterior below (the default,
# credible_interval(0.95), is the exact posterior's).
lower, upper = estimator.credible_interval(0.95, method="variational")
mean, std = estimator.posterior_mean_[0], estimator.posterior_std_[0]
print(
    f"segment mean score: {mean:.2f}  95% credible interval of q(mu) "
    f"[{lower[0]:.2f}, {upper[0]:.2f}]"
)
print(f"noise sd (spread between customers): {estimator.noise_std_[0]:.2f}")
print(f"CAVI: {estimator.n_iter_} iterations, ELBO {estimator.elbo_:.4f}")

# %%
# The exact posterior, by quadrature
# ----------------------------------
# With ``n`` scores, ``xbar`` their mean and ``S`` the sum of squared
# deviations from it, the precision integrates out analytically:
#
# .. math::
#
#    p(\mu, x) = \mathcal{N}(\mu \mid m_0, s_0^2)
#    \frac{b_0^{a_0} \Gamma(a_0 + n/2)}{\Gamma(a_0) (2\pi)^{n/2}}
#    \left(b_0 + \frac{S + n (\bar x - \mu)^2}{2}\right)^{-(a_0 + n/2)}
#
# a function of ``mu`` alone: normalising it on a fine grid gives the exact
# posterior density of ``mu`` and the evidence ``log p(x)``.
m0, s0 = prior["prior_mean"], prior["prior_std"]
a0, b0 = prior["prior_shape"], prior["prior_rate"]
n, xbar = scores.size, scores.mean()
S = np.sum((scores - xbar) ** 2)

mu_grid = np.linspace(mean - 10 * std, mean + 10 * std, 20_001)
step = mu_grid[1] - mu_grid[0]
log_joint = (
    stats.norm.logpdf(mu_grid, m0, s0)
    + a0 * np.log(b0)
    + gammaln(a0 + n / 2)
    - gammaln(a0)
    - n / 2 * np.log(2 * np.pi)
    - (a0 + n / 2) * np.log(b0 + (S + n * (xbar - mu_grid) ** 2) / 2)
)
# The grid spans +-10 sd of the mass, so a Riemann sum is accurate to far
# below what the figure can show.
log_evidence = logsumexp(log_joint) + np.log(step)
exact_density = np.exp(log_joint - log_evidence)
exact_mean = np.sum(mu_grid * exact_density) * step
exact_std = np.sqrt(np.sum((mu_grid - exact_mean) ** 2 * exact_density) * step)
cdf = np.cumsum(exact_density) * step
exact_lower, exact_upper = np.interp([0.025, 0.975], cdf, mu_grid)

print(
    f"exact posterior: mean {exact_mean:.2f}, sd {exact_std:.3f}, "
    f"95% interval [{exact_lower:.2f}, {exact_upper:.2f}]"
)
skvi_lower, skvi_upper = estimator.credible_interval(0.95)
print(
    f"skvi's exact interval, credible_interval(0.95): "
    f"[{skvi_lower[0]:.2f}, {skvi_upper[0]:.2f}]"
)
print(f"variational sd / exact sd = {std / exact_std:.3f}")
print(f"ELBO {estimator.elbo_:.4f} <= log p(x) {log_evidence:.4f}")

# %%
# The figure
# ----------
# (a) The ELBO climbs to just below the exact log evidence in a few CAVI
# iterations; the gap left is the KL divergence from ``q`` to the exact
# posterior. (b) ``q(mu)`` against the exact posterior: the same centre, and
# a curve and interval slightly too narrow. (c) The difference of the two
# densities makes that visible: ``q`` puts too much mass at the centre and too
# little in the tails, the signature of an approximation that is too sure.
fig = plt.figure(figsize=(11.5, 5.6), layout="constrained")
grid = fig.add_gridspec(2, 2, width_ratios=[1, 1.35], height_ratios=[2.6, 1])
ax_elbo = fig.add_subplot(grid[:, 0])
ax_mu = fig.add_subplot(grid[0, 1])
ax_diff = fig.add_subplot(grid[1, 1], sharex=ax_mu)

iterations = np.arange(1, estimator.n_iter_ + 1)
ax_elbo.plot(iterations, estimator.elbo_history_, marker="o", label="ELBO")
ax_elbo.axhline(
    log_evidence, color="0.3", linestyle="--", label="exact log p(x) (quadrature)"
)
ax_elbo.set(
    xlabel="CAVI iteration",
    ylabel="nats",
    title="(a) ELBO per iteration",
    xticks=iterations,
)
ax_elbo.annotate(
    f"gap = KL(q || exact posterior) = {log_evidence - estimator.elbo_:.4f}",
    (iterations[-1], (log_evidence + estimator.elbo_) / 2),
    xytext=(-8, 0),
    textcoords="offset points",
    ha="right",
    va="center",
    fontsize="small",
)
ax_elbo.legend(loc="lower right")
ax_elbo.grid(alpha=0.3)

zoom = (min(mean - 4.5 * exact_std, m0 - 1), mean + 4.5 * exact_std)
visible = (mu_grid >= zoom[0]) & (mu_grid <= zoom[1])
q_density = stats.norm.pdf(mu_grid, mean, std)
ax_mu.plot(
    mu_grid[visible],
    exact_density[visible],
    color="0.2",
    linewidth=2.2,
    label=f"exact posterior, sd {exact_std:.2f}",
)
ax_mu.plot(
    mu_grid[visible],
    q_density[visible],
    color="C1",
    linewidth=2,
    linestyle="--",
    label=f"variational q(mu), sd {std:.2f}",
)
top = 1.08 * max(q_density.max(), exact_density.max())
# The two 95% intervals as bars in a strip below the densities, where no
# curve runs through their labels.
for (lo, hi), color, height, name in (
    ((lower[0], upper[0]), "C1", -0.07, "q(mu)"),
    ((exact_lower, exact_upper), "0.2", -0.16, "exact"),
):
    ax_mu.errorbar(
        (lo + hi) / 2, height * top, xerr=(hi - lo) / 2, color=color, capsize=4
    )
    for x, text, offset, align in (
        (lo, f"[{lo:.2f}, {hi:.2f}]", -6, "right"),
        (hi, f"{name} 95%", 6, "left"),
    ):
        ax_mu.annotate(
            text,
            (x, height * top),
            xytext=(offset, 0),
            textcoords="offset points",
            ha=align,
            va="center",
            fontsize="small",
            color=color,
        )
# From the density's zero line up: the strip below holds the interval bars.
baseline = 0.22 / 1.22
ax_mu.axvline(
    xbar,
    ymin=baseline,
    color="C2",
    linewidth=1,
    linestyle=":",
    label=f"sample mean {xbar:.1f}",
)
ax_mu.axvline(
    m0,
    ymin=baseline,
    color="C4",
    linewidth=1,
    linestyle=":",
    label=f"prior mean {m0:g}",
)
ax_mu.set(
    xlim=zoom,
    ylim=(-0.22 * top, top),
    yticks=[tick for tick in ax_mu.get_yticks() if 0 <= tick <= top],
    ylabel="posterior density",
    title="(b) q(mu) against the exact posterior of mu",
)
ax_mu.tick_params(labelbottom=False)
ax_mu.legend(loc="upper right", fontsize="small")
ax_mu.grid(alpha=0.3)

difference = q_density - exact_density
ax_diff.axhline(0, color="0.2", linewidth=1)
ax_diff.fill_between(
    mu_grid[visible], difference[visible], color="C1", alpha=0.35, linewidth=0
)
ax_diff.plot(mu_grid[visible], difference[visible], color="C1")
ax_diff.set(
    xlabel="segment mean score, mu",
    ylabel="q − exact",
    title="(c) too much mass at the centre, too little in the tails",
)
ax_diff.title.set_fontsize("medium")
ax_diff.grid(alpha=0.3)
fig.suptitle(
    f"Segment mean score {mean:.1f}, 95% credible interval "
    f"[{lower[0]:.1f}, {upper[0]:.1f}], from {n} customers; "
    f"variational sd = {std / exact_std:.1%} of the exact sd"
)

plt.show()
