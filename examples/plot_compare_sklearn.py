"""
skvi's mixture beside scikit-learn's
====================================

:class:`~skvi.VariationalGaussianMixture` fits scikit-learn's
:class:`~sklearn.mixture.BayesianGaussianMixture` model with the same updates:
started from the same responsibilities, the two fits agree to rounding after
every iteration. What skvi adds is shown on the same run:

- its ``lower_bounds_`` are scikit-learn's bound, number for number; its
  ``elbo_history_`` is the *full* ELBO, whose constants scikit-learn drops
  (with ``reg_covar=0`` the two differ by a constant ``c`` documented in the
  user guide, once the fit has converged);
- frequency weights (``sample_weight``), which scikit-learn's estimator
  does not take: here the segments' sizes are counts of identical customers;
- each iteration takes less time (``benchmarks/bench_mixture.py`` measures it).
"""

# %%
# The same data, the same start
# -----------------------------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from skvi import VariationalGaussianMixture

rng = np.random.default_rng(0)
centres = np.array([[0.0, 0.0], [5.0, 1.0], [1.0, 5.0]])
X = np.concatenate(
    [
        rng.normal(c, s, size=(n, 2))
        for c, s, n in zip(centres, (1.0, 0.6, 0.8), (400, 250, 150), strict=True)
    ]
)
counts = rng.integers(1, 4, len(X))
params = dict(
    n_components=6,
    init_params="random",
    random_state=0,
    reg_covar=0.0,
    max_iter=50,
    tol=0.0,  # both run exactly max_iter iterations
)

# The time of one fit: the median of 5 warm repeats, the two estimators taking
# turns, so that a cold start (imports, caches) or a busy moment of the machine
# weighs on neither (the benchmarks time the same way, in
# benchmarks/bench_mixture.py, on larger data).
times = {BayesianGaussianMixture: [], VariationalGaussianMixture: []}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for repeat in range(6):
        for estimator in times:
            start = time.perf_counter()
            fitted = estimator(**params).fit(X)
            if repeat:  # the first round warms up
                times[estimator].append(time.perf_counter() - start)
            if estimator is BayesianGaussianMixture:
                reference = fitted
            else:
                ours = fitted
    weighted = VariationalGaussianMixture(**params).fit(X, sample_weight=counts)
sklearn_time = np.median(times[BayesianGaussianMixture])
skvi_time = np.median(times[VariationalGaussianMixture])

# %%
# The same answer
# ---------------
# The same ``random_state`` draws the same random responsibilities in both, so
# the fits agree after every iteration, to rounding.
difference = np.max(np.abs(ours.means_ - reference.means_))
print(f"largest difference of means_ after 50 iterations: {difference:.1e}")
print("weights_:", np.round(ours.weights_, 4))
print(
    f"fit time, median of 5 warm repeats: skvi {skvi_time:.3f} s, "
    f"scikit-learn {sklearn_time:.3f} s"
)
print("weights_ with counts as sample_weight:", np.round(weighted.weights_, 4))

fig, (ax_data, ax_bound) = plt.subplots(1, 2, figsize=(12, 4.8))
ax_data.scatter(
    X[:, 0], X[:, 1], s=4 * counts, alpha=0.3, color="0.5", label="rows (size: count)"
)
active = ours.weights_ > 0.01
ax_data.scatter(
    *ours.means_[active].T,
    marker="x",
    s=120,
    color="C0",
    label="skvi means_",
)
active_ref = reference.weights_ > 0.01
ax_data.scatter(
    *reference.means_[active_ref].T,
    marker="+",
    s=200,
    color="C3",
    label="scikit-learn means_",
)
active_weighted = weighted.weights_ > 0.01
ax_data.scatter(
    *weighted.means_[active_weighted].T,
    marker="o",
    s=80,
    facecolor="none",
    color="C2",
    label="skvi means_, rows weighted by count",
)
ax_data.set(
    title=f"(a) the same segments (means differ by {difference:.0e})",
    xlabel="x1",
    ylabel="x2",
)
ax_data.legend(fontsize="small")

# scikit-learn keeps the trace of its bound from version 1.7 on; before, only
# the final value.
ax_bound.plot(
    np.ravel(getattr(reference, "lower_bounds_", [reference.lower_bound_])),
    color="C3",
    lw=3,
    alpha=0.5,
    label="scikit-learn lower_bounds_",
)
ax_bound.plot(ours.lower_bounds_, color="k", lw=1, ls="--", label="skvi lower_bounds_")
constant = ours.elbo_ - ours.lower_bound_
ax_bound.plot(
    ours.elbo_history_ - constant,
    color="C0",
    label=f"skvi elbo_history_ - (elbo_ - lower_bound_) = {constant:.1f}",
)
ax_bound.set(
    title="(b) scikit-learn's bound and the full ELBO",
    xlabel="iteration",
    ylabel="bound (nats)",
)
ax_bound.ticklabel_format(useOffset=False, style="plain", axis="y")
ax_bound.legend(fontsize="small")
ax_bound.grid(alpha=0.3)
fig.suptitle(
    f"{len(X)} rows, the same start, 50 iterations each; a fit takes "
    f"skvi {skvi_time:.3f} s, scikit-learn {sklearn_time:.3f} s "
    "(median of 5 warm repeats, on the machine that built this page)"
)
fig.tight_layout()

plt.show()
