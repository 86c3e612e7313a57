"""
Fitting data that live on a dask cluster
========================================

A weather network stores years of readings from its stations as a dask array
whose chunks sit on the workers of a cluster: 2 million readings of
temperature (°C) and pressure (hPa) here, in 20 chunks. The analyst wants each
quantity's mean with its uncertainty, without bringing the data to one
machine.

:class:`~skvi.VariationalNormalEstimator` needs only three numbers per feature
and chunk (total weight, mean, centred sum of squares). Given a dask array or
DataFrame, ``fit`` computes them on the workers, where the chunks are, and
merges them exactly on the client: only a few numbers per chunk travel.

So that it runs anywhere in seconds, this example starts a small cluster
inside this process (``processes=False``: threads, not worker processes). On a
real cluster, connect with ``Client("tcp://scheduler:8786")`` instead and
nothing else changes; ``examples/dask_cluster.py`` in the repository is the
full-size script (worker processes, 5 million rows, a GridSearchCV over the
priors run by the cluster through joblib's dask backend).
"""

# %%
# A cluster and an array made on it
# ---------------------------------
import time

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

from skvi import VariationalNormalEstimator

TRUE_MEAN = np.array([12.4, 1013.2])  # °C, hPa
TRUE_SD = np.array([6.0, 9.0])

cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
)
client = Client(cluster)
# Standard draws scaled afterwards: passing the (2,) arrays to rng.normal would
# put full-size arrays in the task graph.
noise = da.random.default_rng(0).standard_normal(
    size=(2_000_000, 2), chunks=(100_000, 2)
)
X = TRUE_MEAN + TRUE_SD * noise
print(
    f"X: {X.shape[0]:,} x {X.shape[1]}, {X.numblocks[0]} chunks, "
    f"on a cluster of {len(client.scheduler_info()['workers'])} workers"
)

# %%
# The fit runs on the workers
# ---------------------------
start = time.perf_counter()
estimator = VariationalNormalEstimator(prior_mean=0.0, prior_std=1e4, prior_rate=10.0)
estimator.fit(X)
print(f"fit: {time.perf_counter() - start:.2f} s")
lower, upper = estimator.credible_interval(0.95)
for name, mean, std, noise_sd in zip(
    ("temperature", "pressure"),
    estimator.posterior_mean_,
    estimator.posterior_std_,
    estimator.noise_std_,
    strict=True,
):
    print(f"{name}: mean {mean:.4f} +- {std:.4f}, noise sd {noise_sd:.3f}")

# %%
# Each chunk's own mean, for the figure (also computed on the workers), and the
# same fit on the data brought to the client, to check that nothing was lost.
chunk_means = X.map_blocks(
    lambda block: block.mean(axis=0, keepdims=True), chunks=(1, 2)
).compute()
in_memory = VariationalNormalEstimator(
    prior_mean=0.0, prior_std=1e4, prior_rate=10.0
).fit(X.compute())
gap = np.max(np.abs(in_memory.posterior_mean_ - estimator.posterior_mean_))
print(f"largest difference from the in-memory fit: {gap:.1e}")
client.close()
cluster.close()

# %%
# The figure
# ----------
# Each chunk's mean (dots) scatters around the posterior mean of all the data
# (line) by about ``noise sd / sqrt(100,000)``; the posterior's 95% interval
# (band) is ``sqrt(20)`` times narrower, since it pools all 20 chunks. The
# in-memory fit on the client gives the same line.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
for k, (ax, name, unit) in enumerate(
    zip(axes, ("temperature", "pressure"), ("°C", "hPa"), strict=True)
):
    chunks = np.arange(1, chunk_means.shape[0] + 1)
    ax.plot(chunks, chunk_means[:, k], "o", color="0.45", label="each chunk's mean")
    ax.axhspan(
        lower[k],
        upper[k],
        color=f"C{k}",
        alpha=0.3,
        label="95% credible interval, all chunks",
    )
    ax.axhline(
        estimator.posterior_mean_[k],
        color=f"C{k}",
        lw=2,
        label="posterior mean (dask fit)",
    )
    ax.axhline(
        in_memory.posterior_mean_[k],
        color="0.1",
        lw=1,
        ls=":",
        label="posterior mean (in-memory fit)",
    )
    ax.set(
        xlabel="chunk (100,000 readings each)",
        ylabel=f"mean {name} ({unit})",
        title=f"{name.capitalize()}: chunks against the pooled posterior",
        xticks=chunks[::2],
    )
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.grid(alpha=0.3)
# One legend for both panels, below them.
fig.legend(
    *axes[0].get_legend_handles_labels(),
    loc="outside lower center",
    ncols=4,
    fontsize="small",
)
plt.show()
