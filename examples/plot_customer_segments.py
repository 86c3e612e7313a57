"""
Customer segments from recency, frequency and monetary value
============================================================

A shop describes each customer by the classic RFM triple: **recency** (days
since the last purchase), **frequency** (purchases a year) and **monetary
value** (average basket, in euros). Which segments are there, how many does
the data support, and how sure are we about each?

:class:`~skvi.VariationalGaussianMixture` fits a Bayesian Gaussian mixture by
coordinate-ascent variational inference. It is given room for ten segments;
its Dirichlet-process prior on the weights switches off the components the
data do not need. Besides the point estimates it keeps the whole posterior
``q``: drawing parameter sets from it (:meth:`sample_posterior`) shows how
well each segment's centre and shape are pinned down, and its evidence lower
bound (``elbo_history_``) climbs at every iteration.
"""

# %%
# Synthetic customers
# -------------------
# Four segments, on scales where they look Gaussian: log frequency and log
# basket, since both are positive and skewed.

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from skvi import VariationalGaussianMixture

rng = np.random.default_rng(3)
segments = {
    # name: (share, recency days, purchases a year, basket euros)
    "loyal big spenders": (0.15, 12, 40, 120),
    "regulars": (0.40, 30, 12, 45),
    "occasional": (0.30, 120, 3, 35),
    "lapsed": (0.15, 320, 1.5, 60),
}
n_customers = 3000
shares = np.array([s[0] for s in segments.values()])
truth = rng.choice(len(segments), size=n_customers, p=shares)
centres = np.array(
    [[s[1], np.log(s[2]), np.log(s[3])] for s in segments.values()], dtype=float
)
spread = np.array([[6.0, 0.25, 0.3], [12, 0.3, 0.3], [35, 0.35, 0.35], [50, 0.3, 0.4]])
X = centres[truth] + rng.normal(size=(n_customers, 3)) * spread[truth]
X[:, 0] = np.clip(X[:, 0], 0, None)
columns = ["recency (days)", "log purchases a year", "log basket (EUR)"]

# %%
# The fit
# -------
# Standardise the columns (the priors default to the data's scale anyway),
# allow ten components and let the prior prune them. Three initialisations:
# the one with the highest ELBO is kept (a single start can leave a segment
# split in two, a local optimum with a visibly lower ELBO).
mean, scale = X.mean(0), X.std(0)
Z = (X - mean) / scale
vgm = VariationalGaussianMixture(
    n_components=10, n_init=3, random_state=5, max_iter=1000, tol=1e-6
).fit(Z)
labels = vgm.predict(Z)
active = np.flatnonzero(vgm.weights_ > 0.01)
print(f"{len(active)} segments above 1% weight out of {vgm.n_components}")
print("weights:", np.round(np.sort(vgm.weights_)[::-1], 4))
print(f"ELBO {vgm.elbo_:.1f} after {vgm.n_iter_} iterations")

# %%
# The figure
# ----------
# (a) recency against log basket, each segment's 2-sd ellipse from the point
# estimate and from 30 posterior draws; (b) the weights, surplus components
# switched off; (c) the ELBO at each iteration.
weights_draws, means_draws, precisions_draws = vgm.sample_posterior(30, random_state=1)
pair = [0, 2]  # recency, log basket


def ellipse(mean_z, covariance_z, **style):
    """The 2-sd ellipse of a Normal given on the standardised scale."""
    mean_x = mean_z * scale + mean
    covariance_x = covariance_z * np.outer(scale, scale)
    sub = covariance_x[np.ix_(pair, pair)]
    values, vectors = np.linalg.eigh(sub)
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    width, height = 4 * np.sqrt(values[::-1])
    return Ellipse(mean_x[pair], width, height, angle=angle, fill=False, **style)


fig, (ax_scatter, ax_weights, ax_elbo) = plt.subplots(
    1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1.6, 1, 1]}
)
palette = plt.get_cmap("tab10")
for rank, k in enumerate(active[np.argsort(-vgm.weights_[active])]):
    members = labels == k
    ax_scatter.scatter(
        X[members, pair[0]], X[members, pair[1]], s=4, alpha=0.35, color=palette(rank)
    )
    for s in range(len(means_draws)):
        covariance = np.linalg.inv(precisions_draws[s, k])
        ax_scatter.add_patch(
            ellipse(
                means_draws[s, k], covariance, color=palette(rank), alpha=0.25, lw=0.8
            )
        )
    ax_scatter.add_patch(ellipse(vgm.means_[k], vgm.covariances_[k], color="k", lw=1.5))
    ax_scatter.annotate(
        f"{vgm.weights_[k]:.0%}",
        (vgm.means_[k] * scale + mean)[pair],
        fontsize="small",
        fontweight="bold",
        ha="center",
    )
ax_scatter.set(
    xlabel=columns[pair[0]],
    ylabel=columns[pair[1]],
    title="(a) segments: point estimate (black) and 30 draws from q",
)
ax_scatter.title.set_fontsize("medium")

order = np.argsort(-vgm.weights_)
ax_weights.bar(
    np.arange(vgm.n_components),
    vgm.weights_[order],
    color=["C0" if w > 0.01 else "0.6" for w in vgm.weights_[order]],
)
ax_weights.axhline(0.01, color="C3", ls="--", lw=1, label="1%")
ax_weights.set_yscale("log")
ax_weights.set(
    xlabel="component (by weight)",
    ylabel="weight",
    title=f"(b) {len(active)} of {vgm.n_components} components kept",
)
ax_weights.title.set_fontsize("medium")
ax_weights.legend(fontsize="small")

ax_elbo.plot(np.arange(1, vgm.n_iter_ + 1), vgm.elbo_history_, marker=".")
ax_elbo.set(
    xlabel="iteration",
    ylabel="ELBO (nats)",
    title="(c) the full ELBO never decreases",
)
ax_elbo.ticklabel_format(useOffset=False, style="plain", axis="y")
ax_elbo.title.set_fontsize("medium")
ax_elbo.grid(alpha=0.3)
fig.tight_layout()

plt.show()
