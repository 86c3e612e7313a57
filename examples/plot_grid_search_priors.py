"""
Choosing the priors by cross-validation
=======================================

An analyst has 40 satisfaction scores (0-100 points) from one customer segment
and must pick the priors: how far from the company-wide 70 points may the
segment's mean be (``prior_std``), and how noisy are customers (``prior_rate``,
with ``prior_shape=1`` the prior mean of the noise variance is about
``prior_rate``)?

:meth:`~skvi.VariationalNormalEstimator.score` is each held-out sample's share
of the ELBO, so :class:`~sklearn.model_selection.GridSearchCV` can rank priors
with no scorer of its own: a prior scores well when the fitted ``q`` explains
unseen answers well and took little information from the prior.
"""

# %%
# The data and the search
# -----------------------
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from sklearn.model_selection import GridSearchCV, KFold

from skvi import VariationalNormalEstimator

rng = np.random.default_rng(3)
scores = rng.normal(loc=78.0, scale=12.0, size=(40, 1))

grid = {
    "prior_std": np.logspace(-0.5, 2.5, 13),  # 0.3 to 300 points
    "prior_rate": np.logspace(-1, 4, 11),  # prior noise variance 0.1 to 1e4
}
search = GridSearchCV(
    VariationalNormalEstimator(prior_mean=70.0, prior_shape=1.0),
    grid,
    cv=KFold(5, shuffle=True, random_state=0),
).fit(scores)
best = search.best_params_
print(
    f"best prior_std {best['prior_std']:.3g} points, "
    f"prior_rate {best['prior_rate']:.3g}"
)
print(f"best mean held-out ELBO per sample {search.best_score_:.3f} nats")
fitted = search.best_estimator_
print(
    f"refitted on all 40: segment mean {fitted.posterior_mean_[0]:.1f} "
    f"+- {fitted.posterior_std_[0]:.1f}, noise sd {fitted.noise_std_[0]:.1f} points"
)

# %%
# The score surface
# -----------------
# Left: the mean held-out score over the grid, as nats per sample below the
# best. ``prior_rate`` matters most: a prior that expects customers to agree
# within a point or two (bottom rows) or to disagree by a hundred points (top
# rows) loses. ``prior_std`` matters less, since 40 answers outweigh all but a
# tight prior on the mean. Right: a slice at the best ``prior_rate``. The folds
# differ more from each other than the candidates do, so the slice shows each
# candidate's score minus the best candidate's on the same fold (mean and sd
# over the 5 folds): a paired comparison.
#
# GridSearchCV orders the candidates by the sorted parameter names, so
# ``prior_rate`` varies slowest: rows are ``prior_rate``, columns ``prior_std``.
shape = (grid["prior_rate"].size, grid["prior_std"].size)
mean_score = search.cv_results_["mean_test_score"].reshape(shape)
fold_scores = np.stack(
    [search.cv_results_[f"split{k}_test_score"] for k in range(5)], axis=-1
)
paired = fold_scores - fold_scores[search.best_index_]
paired_mean = paired.mean(axis=-1).reshape(shape)
paired_std = paired.std(axis=-1).reshape(shape)

fig, (ax_map, ax_slice) = plt.subplots(
    1, 2, figsize=(11, 4.6), layout="constrained", width_ratios=[1.25, 1]
)
loss = search.best_score_ - mean_score + 1e-3  # nats below the best, > 0
image = ax_map.pcolormesh(
    grid["prior_std"],
    grid["prior_rate"],
    loss,
    norm=LogNorm(vmin=1e-3, vmax=loss.max()),
    cmap="viridis_r",
    shading="nearest",
)
fig.colorbar(image, ax=ax_map, label="score below the best + 0.001 (nats/sample)")
ax_map.plot(best["prior_std"], best["prior_rate"], "r*", ms=14, label="best")
ax_map.set(
    xscale="log",
    yscale="log",
    xlabel="prior_std: prior sd of the segment's mean (points)",
    ylabel="prior_rate (points², prior_shape=1)",
    title="5-fold cross-validated score",
)
ax_map.legend(loc="lower right")

row = int(np.argmin(np.abs(grid["prior_rate"] - best["prior_rate"])))
ax_slice.errorbar(
    grid["prior_std"],
    paired_mean[row],
    yerr=paired_std[row],
    marker="o",
    capsize=3,
    label=f"prior_rate = {best['prior_rate']:.3g}",
)
ax_slice.axhline(0.0, color="0.3", lw=1, ls="--")
ax_slice.set(
    xscale="log",
    xlabel="prior_std: prior sd of the segment's mean (points)",
    ylabel="held-out score minus the best's (nats/sample)",
    title="Slice at the best prior_rate, paired by fold",
)
ax_slice.legend(loc="lower right")
ax_slice.grid(alpha=0.3, which="both")
plt.show()
