"""
Streaming a large CSV file with partial_fit
===========================================

A building's sensors log a temperature (°C) and a relative humidity (%) every
few seconds; a year of readings is a CSV file larger than the laptop's memory.
The facilities team wants each quantity's mean level with its uncertainty,
without loading the file.

:meth:`~skvi.VariationalNormalEstimator.partial_fit` merges each chunk's
sufficient statistics into the running ones and refits on the merge, so the
file is read once, one chunk at a time, and the result equals a fit on the
whole file. The command line does the same: ``skvi fit readings.csv
--chunk-rows 20000``. Here the file is small (300,000 rows) so that the example
runs in seconds; nothing changes for a file of a billion rows but the time.
"""

# %%
# A file of readings
# ------------------
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from skvi import VariationalNormalEstimator

rng = np.random.default_rng(0)
n_rows = 300_000
readings = pd.DataFrame(
    {
        "temperature_c": rng.normal(21.3, 1.8, n_rows).round(2),
        "humidity_pct": rng.normal(44.0, 6.5, n_rows).round(1),
    }
)
directory = tempfile.TemporaryDirectory()
path = Path(directory.name) / "readings.csv"
readings.to_csv(path, index=False)
print(f"{path.name}: {n_rows:,} rows, {path.stat().st_size / 2**20:.1f} MiB")
del readings  # from here on, only the file

# %%
# Reading it chunk by chunk
# -------------------------
# The default priors come from the data: the unit-information prior, worth one
# reading, resolved from every reading seen so far at each chunk (no second
# pass). After each chunk we record the posterior of each column.
estimator = VariationalNormalEstimator()
history = []
start = time.perf_counter()
for chunk in pd.read_csv(path, chunksize=20_000):
    estimator.partial_fit(chunk)  # the column names become feature_names_in_
    lower, upper = estimator.credible_interval(0.95)
    history.append(
        (
            estimator.n_samples_seen_,
            estimator.posterior_mean_,
            estimator.posterior_std_,
            lower,
            upper,
        )
    )
elapsed = time.perf_counter() - start
rows_read = np.array([h[0] for h in history])
thousands = rows_read / 1e3
means, stds, lowers, uppers = (np.array([h[k] for h in history]) for k in range(1, 5))
print(
    f"{len(history)} chunks in {elapsed:.2f} s ({n_rows / elapsed / 1e6:.2f} M rows/s)"
)
for name, mean, std, noise in zip(
    estimator.feature_names_in_,
    estimator.posterior_mean_,
    estimator.posterior_std_,
    estimator.noise_std_,
    strict=True,
):
    print(f"{name}: mean {mean:.4f} +- {std:.4f}, noise sd {noise:.3f}")

# %%
# The same as one fit on the whole file
# -------------------------------------
whole = VariationalNormalEstimator().fit(pd.read_csv(path))
gap = np.max(np.abs(whole.posterior_mean_ - estimator.posterior_mean_))
print(f"largest difference from fit on the whole file: {gap:.1e}")
directory.cleanup()

# %%
# The figure
# ----------
# Left and centre: each column's posterior mean and 95% credible interval
# after each chunk, against the rows read so far. Right: the posterior sd of
# each mean falls as ``1/sqrt(rows)``, the dashed lines: every chunk adds
# information at the same rate, and memory stays at one chunk.
fig, axes = plt.subplots(1, 3, figsize=(11.5, 4.2), layout="constrained")
units = {"temperature_c": "°C", "humidity_pct": "% RH"}
names = estimator.feature_names_in_
for k, (ax, name) in enumerate(zip(axes[:2], names, strict=True)):
    ax.fill_between(
        thousands,
        lowers[:, k],
        uppers[:, k],
        color=f"C{k}",
        alpha=0.3,
        label="95% credible interval",
    )
    ax.plot(thousands, means[:, k], "o-", ms=3, color=f"C{k}", label="posterior mean")
    ax.axhline(
        whole.posterior_mean_[k],
        color="0.2",
        lw=1,
        ls="--",
        label="fit on the whole file",
    )
    ax.set(
        xlabel="rows read (thousands)",
        ylabel=f"mean {name.split('_')[0]} ({units[name]})",
        title=f"{name}: mean after each chunk",
    )
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
ax = axes[2]
for k, name in enumerate(estimator.feature_names_in_):
    ax.plot(
        thousands, stds[:, k], "o", ms=3, color=f"C{k}", label=f"{name} ({units[name]})"
    )
    ax.plot(
        thousands,
        estimator.noise_std_[k] / np.sqrt(rows_read),
        color=f"C{k}",
        lw=1,
        ls="--",
    )
ax.plot([], [], color="0.3", lw=1, ls="--", label="noise sd / sqrt(rows)")
ax.set(
    xscale="log",
    yscale="log",
    xlabel="rows read (thousands)",
    xticks=[20, 50, 100, 200, 300],
    xticklabels=["20", "50", "100", "200", "300"],
    yticks=[0.003, 0.01, 0.03],
    yticklabels=["0.003", "0.01", "0.03"],
    ylabel="posterior sd of the mean (column's unit)",
    title="Uncertainty after each chunk",
)
ax.xaxis.set_minor_formatter(NullFormatter())
ax.yaxis.set_minor_formatter(NullFormatter())
ax.legend(loc="upper right", fontsize="small")
ax.grid(alpha=0.3, which="both")
plt.show()
