"""
skvi next to the alternatives
=============================

skvi gives two intervals for a mean: by default the exact central interval
of the posterior ``p(mu | X)`` under its priors
(``credible_interval(0.95)``), and the interval of the variational posterior
``q(mu)`` (``credible_interval(0.95, method="variational")``), which
mean-field makes too narrow with few data. To put an interval on a mean, a
data scientist would otherwise reach for one of these, all on the same data:

- scikit-learn's :class:`~sklearn.mixture.BayesianGaussianMixture` with one
  component (also variational; its priors default to values computed from the
  data, and its interval here is the plug-in ``means_ +- 1.96 sqrt(covariances_
  / mean_precision_)``);
- :func:`scipy.stats.bayes_mvs` (the exact posterior under Jeffreys' prior: a
  Student t interval);
- a percentile bootstrap of the sample mean (2,000 resamples).

Which intervals cover the true mean 95% of the time, and what does each cost?
Here 200 small samples (n = 8) of a lab assay (mg/L) answer the first
question; one large sample (n = 20,000) the second.
"""

# %%
# Five ways to a 95% interval for the mean
# ----------------------------------------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from skvi import VariationalNormalEstimator

TRUE_MEAN, TRUE_SD = 50.0, 4.0  # mg/L


def skvi_interval(x, method="exact"):
    # Vague priors on the data's scale: mean within ~1000 mg/L, noise sd ~1-10.
    est = VariationalNormalEstimator(prior_mean=0.0, prior_std=1e3, prior_rate=10.0)
    lower, upper = est.fit(x.reshape(-1, 1)).credible_interval(0.95, method=method)
    return lower[0], upper[0]


def skvi_variational_interval(x):
    return skvi_interval(x, method="variational")


def bgm_interval(x):
    bgm = BayesianGaussianMixture(
        n_components=1, covariance_type="diag", max_iter=200, random_state=0
    ).fit(x.reshape(-1, 1))
    centre = bgm.means_[0, 0]
    half = 1.96 * np.sqrt(bgm.covariances_[0, 0] / bgm.mean_precision_[0])
    return centre - half, centre + half


def bayes_mvs_interval(x):
    return stats.bayes_mvs(x, alpha=0.95)[0].minmax


BOOTSTRAP_RNG = np.random.default_rng(0)


def bootstrap_interval(x, rng=BOOTSTRAP_RNG, n_resamples=2_000):
    # In blocks of 100 resamples, to keep memory at 100 copies of x.
    means = np.concatenate(
        [
            rng.choice(x, size=(100, x.size), replace=True).mean(axis=1)
            for _ in range(n_resamples // 100)
        ]
    )
    return tuple(np.percentile(means, [2.5, 97.5]))


methods = {
    "skvi, exact (default)": skvi_interval,
    "skvi, q(mu) (VI)": skvi_variational_interval,
    "BayesianGaussianMixture(1)": bgm_interval,
    "scipy.stats.bayes_mvs": bayes_mvs_interval,
    "bootstrap (2,000 resamples)": bootstrap_interval,
}

# %%
# Coverage over many small samples
# --------------------------------
rng = np.random.default_rng(1)
n_small, n_repeats = 8, 200
samples = rng.normal(TRUE_MEAN, TRUE_SD, size=(n_repeats, n_small))
intervals = {name: [] for name in methods}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for x in samples:
        for name, interval in methods.items():
            intervals[name].append(interval(x))
coverage = {}
for name, values in intervals.items():
    values = np.array(values)
    coverage[name] = np.mean((values[:, 0] <= TRUE_MEAN) & (TRUE_MEAN <= values[:, 1]))
    width = np.median(values[:, 1] - values[:, 0])
    print(f"{name:28s} coverage {coverage[name]:.3f}, median width {width:.2f} mg/L")

# %%
# Time on one large sample
# ------------------------
big = rng.normal(TRUE_MEAN, TRUE_SD, size=20_000)
seconds = {}
for name, interval in methods.items():
    runs = []
    for _ in range(1 if name.startswith("bootstrap") else 3):
        start = time.perf_counter()
        interval(big)
        runs.append(time.perf_counter() - start)
    seconds[name] = min(runs)
    print(f"{name:28s} {1e3 * seconds[name]:8.1f} ms on {big.size:,} values")

# %%
# The figure
# ----------
# Left: the intervals of each method on the first 12 samples of 8, against the
# true mean. Centre: the share of the 200 intervals that contain the true mean
# (error bars: the binomial standard error), against the nominal 95%. With n = 8,
# skvi's exact interval and the t interval of ``bayes_mvs`` are calibrated
# (under these vague priors the two nearly coincide); the interval of q(mu) is
# a little narrow (mean-field VI understates the sd at small n, see the example
# against the exact posterior), the bootstrap's more so, and
# BayesianGaussianMixture's data-derived priors and plug-in spread are not
# built for intervals. skvi's exact interval costs a fraction of a millisecond
# more than q's: it is computed from the same statistics, with no pass over the
# data. Right:
# the time on 20,000 values, log scale. The times are measured wherever this
# page is built, often a busy machine: read them as orders of magnitude.
names = list(methods)
colors = ["C3", "C1", "C0", "C2", "C4"]
fig, (ax_int, ax_cov, ax_time) = plt.subplots(
    1, 3, figsize=(13, 4.8), layout="constrained", width_ratios=[1.3, 1.1, 1.1]
)
for k, (name, color) in enumerate(zip(names, colors, strict=True)):
    values = np.array(intervals[name][:12])
    rows = np.arange(12) + (k - 2) * 0.16
    ax_int.hlines(rows, values[:, 0], values[:, 1], color=color, lw=2, label=name)
ax_int.axvline(TRUE_MEAN, color="0.2", ls="--", lw=1, label="true mean")
ax_int.set(
    xlabel="95% interval for the mean (mg/L)",
    ylabel="sample (8 values each)",
    yticks=np.arange(12),
    yticklabels=np.arange(1, 13),
    title="Intervals on the first 12 samples",
)
ax_int.invert_yaxis()
ax_int.grid(alpha=0.3, axis="x")

short = ["skvi\nexact", "skvi\nq(mu)", "BGM\n(1 comp.)", "bayes\n_mvs", "boot-\nstrap"]
share = np.array([coverage[name] for name in names])
error = np.sqrt(share * (1 - share) / n_repeats)
ax_cov.bar(short, share, yerr=error, color=colors, capsize=4)
ax_cov.axhline(0.95, color="0.2", ls="--", lw=1)
ax_cov.text(4.45, 0.956, "nominal 95%", ha="right", va="bottom", fontsize="small")
ax_cov.set(
    ylim=(0.7, 1.0),
    ylabel="share of intervals covering the true mean",
    title=f"Coverage, {n_repeats} samples of {n_small}",
)
ax_cov.grid(alpha=0.3, axis="y")

bars = ax_time.bar(short, [1e3 * seconds[name] for name in names], color=colors)
ax_time.bar_label(
    bars,
    fmt=lambda ms: f"{ms:,.0f} ms" if ms >= 10 else f"{ms:.2g} ms",
    fontsize="small",
)
ax_time.set(
    yscale="log",
    ylim=(0.1, 3e4),
    ylabel="time (ms, best of 3; bootstrap: 1 run)",
    title=f"Time on {big.size:,} values",
)
ax_time.grid(alpha=0.3, axis="y", which="both")
fig.legend(
    *ax_int.get_legend_handles_labels(),
    loc="outside lower center",
    ncols=6,
    fontsize="small",
)
plt.show()
