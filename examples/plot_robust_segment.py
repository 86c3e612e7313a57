"""
A segment's mean spend that a few gross errors do not move
==========================================================

A retailer tracks the monthly spend of 2,000 customers of one segment. The
spend is about 50 (sd 10), but 1% of the records are gross errors: a missing
decimal point turns 50.00 into 550, fifty standard deviations out. Nobody has
flagged them yet.

:class:`~skvi.VariationalNormalEstimator` models the noise as Normal: every
record pulls the mean with the same weight, and twenty records at 550 move
the posterior mean by about 5, many posterior sds.
:class:`~skvi.VariationalStudentEstimator` models it as Student-t, a
scale mixture of Normals: each record gets its own weight ``w_i``, and the
fit gives the gross errors weights near 0, so the posterior mean stays
within one posterior sd of the mean on the clean data. The weights it
learns (``outlier_weights``) flag the records to check.
"""

# %%
# The records
# -----------
import matplotlib.pyplot as plt
import numpy as np

from skvi import (
    VariationalNormalEstimator,
    VariationalStudentEstimator,
)

rng = np.random.default_rng(0)
n = 2000
clean = rng.normal(50.0, 10.0, size=(n, 1))
spend = clean.copy()
errors = rng.choice(n, n // 100, replace=False)
spend[errors, 0] = 50.0 + 50 * 10.0
print(f"{errors.size} gross errors at {spend[errors[0], 0]:.0f}")
print(f"sample mean: clean {clean.mean():.2f}, recorded {spend.mean():.2f}")

# %%
# Normal noise against Student-t noise
# ------------------------------------
# Both fits take the same data-resolved default priors. The shift of each
# posterior mean, from the clean data to the recorded data, is measured in
# posterior sds of the clean fit.
rows = []
for model in [VariationalNormalEstimator, VariationalStudentEstimator]:
    on_clean = model().fit(clean)
    on_spend = model().fit(spend)
    shift = (on_spend.posterior_mean_[0] - on_clean.posterior_mean_[0]) / (
        on_clean.posterior_std_[0]
    )
    rows.append((model.__name__, on_clean, on_spend, shift))
    print(
        f"{model.__name__:28s} clean {on_clean.posterior_mean_[0]:.2f}, "
        f"recorded {on_spend.posterior_mean_[0]:.2f} "
        f"(+/- {on_spend.posterior_std_[0]:.2f}): moved {shift:.1f} posterior sds"
    )

robust = rows[1][2]
assert abs(rows[1][3]) < 1 < 5 < abs(rows[0][3])

# %%
# The weights flag the errors
# ---------------------------
# ``outlier_weights`` gives each record's expected weight ``E_q[w_i]``: about 1
# for a typical record, near 0 for a gross error (these are the weights of
# the fit).
weights = robust.outlier_weights(spend)[:, 0]
flagged = np.flatnonzero(weights < 0.05)
print(
    f"records with weight < 0.05: {flagged.size}, all errors: "
    f"{set(flagged) == set(errors)}"
)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
grid = np.linspace(47.0, 59.0, 400)
for (name, _, fitted, _), colour in zip(rows, ["tab:red", "tab:blue"], strict=True):
    mean, std = fitted.posterior_mean_[0], fitted.posterior_std_[0]
    density = np.exp(-0.5 * ((grid - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))
    left.plot(grid, density, color=colour, label=name)
left.axvline(clean.mean(), color="black", linestyle=":", label="clean sample mean")
left.set_xlabel("segment mean spend")
left.set_ylabel("q(mu)")
left.set_title("Posterior of the mean, recorded data")
left.legend(fontsize=8)
right.scatter(spend[:, 0], weights, s=6, color="tab:blue")
right.set_xscale("log")
right.set_xlabel("recorded spend")
right.set_ylabel("E[w]: the record's weight")
right.set_title("Outlier weights")
fig.tight_layout()
plt.show()
