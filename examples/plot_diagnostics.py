"""
Can I trust the posterior sd? Mean-field, corrected and exact, side by side
===========================================================================

Mean-field VI approximates the posterior of a feature's mean ``mu`` and
precision ``tau`` by a product ``q(mu) q(tau)``, and so understates the sd of
``mu`` when the two are dependent a posteriori: with few samples, and when the
data disagree with the prior. :mod:`skvi.diagnostics` gives three answers:

- :func:`~skvi.diagnostics.exact_posterior`: the exact sd, by quadrature from
  the fitted statistics (the Normal model only), and ``KL(q || p)``;
- ``est.linear_response_std()``: the linear-response correction, in closed
  form, at no cost;
- :func:`~skvi.diagnostics.psis_diagnostic`: importance sampling from q, with
  the Pareto k-hat that says whether q (and the correction) can be trusted,
  for models without an exact answer (needs ``pip install 'skvi[diagnostics]'``).

The figure shows each sd over the exact one (1 is right), averaged over 16
simulated features per point, as the sample size grows (left, with the data
mean three prior sds from the prior mean) and as the conflict between the
prior and the data grows (right, n = 20). Below, the mean k-hat.
"""

# SPDX-License-Identifier: BSD-3-Clause

import matplotlib.pyplot as plt
import numpy as np

from skvi import VariationalNormalEstimator
from skvi.diagnostics import exact_posterior, psis_diagnostic

N_FEATURES = 16
PRIOR = dict(prior_mean=0.0, prior_std=0.5, prior_shape=2.0, prior_rate=2.0)


def answers(n, conflict, seed):
    """sd ratios to exact (mean-field, linear response, PSIS) and mean k-hat."""
    rng = np.random.default_rng(seed)
    # Unit-noise data whose mean is `conflict` prior sds from the prior mean.
    X = conflict * PRIOR["prior_std"] + rng.standard_normal((n, N_FEATURES))
    est = VariationalNormalEstimator(**PRIOR).fit(X)
    exact = exact_posterior(est)
    corrected = est.linear_response_std()
    check = psis_diagnostic(est, X, n_draws=2000, random_state=seed)
    return (
        np.mean(exact.std_ratio),
        np.nanmean(corrected.std / exact.std),
        np.mean(check.std["mu"] / exact.std),
        np.mean(check.khat),
    )


sample_sizes = [3, 5, 10, 20, 50, 100, 300]
by_n = np.array([answers(n, 3.0, seed) for seed, n in enumerate(sample_sizes)])
conflicts = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0]
by_conflict = np.array([answers(20, c, 100 + i) for i, c in enumerate(conflicts)])

print("n      mean-field  linear-response  PSIS   k-hat   (sd over exact sd)")
for n, row in zip(sample_sizes, by_n, strict=True):
    print(f"{n:<6d} {row[0]:10.3f} {row[1]:16.3f} {row[2]:6.3f} {row[3]:7.2f}")
print("conflict (prior sds), n = 20")
for c, row in zip(conflicts, by_conflict, strict=True):
    print(f"{c:<6.0f} {row[0]:10.3f} {row[1]:16.3f} {row[2]:6.3f} {row[3]:7.2f}")

fig, axes = plt.subplots(
    2, 2, figsize=(10, 6), sharex="col", height_ratios=[3, 1], constrained_layout=True
)
panels = [
    (axes[:, 0], sample_sizes, by_n, "number of samples n (conflict: 3 prior sds)"),
    (
        axes[:, 1],
        conflicts,
        by_conflict,
        "|data mean - prior mean| in prior sds (n = 20)",
    ),
]
for (top, bottom), x, rows, label in panels:
    top.axhline(1.0, color="black", lw=1, label="exact (quadrature)")
    top.plot(x, rows[:, 0], "o-", label="mean-field posterior_std_")
    top.plot(x, rows[:, 1], "s-", label="linear_response_std()")
    top.plot(x, rows[:, 2], "^--", label="PSIS-corrected")
    top.set_ylabel("sd of mu / exact sd")
    top.set_ylim(0.5, 1.1)
    bottom.plot(x, rows[:, 3], "k.-")
    bottom.axhspan(0.7, 1.2, color="tab:red", alpha=0.15, lw=0)
    bottom.axhspan(0.5, 0.7, color="tab:orange", alpha=0.15, lw=0)
    bottom.set_ylim(0.0, 1.0)
    bottom.set_ylabel("mean k-hat")
    bottom.set_xlabel(label)
axes[0, 0].set_xscale("log")
axes[1, 0].set_xscale("log")
axes[0, 0].legend(loc="lower right", fontsize="small")
fig.suptitle("How far is mean-field's sd from the exact one, and can it be fixed?")
plt.show()
