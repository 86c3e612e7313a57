"""
Segments on a GPU: the array API
================================

scikit-learn's *array API dispatch* lets an estimator compute where its data
live: give it a PyTorch tensor on a GPU (or a CuPy array) and the work runs
on the GPU. Both skvi estimators take part: the passes over the rows (the
mixture's E-step and its statistics, the Normal model's one pass, the scores
and labels) run in the array's library, on its device, and the fitted
arrays stay there; the small per-iteration updates run in numpy on the host.

This example runs on any machine: it uses PyTorch on the CPU if it is
installed, else `array-api-strict <https://data-apis.org/array-api-strict/>`_,
the array API's reference library (numpy underneath, on a CPU). On a machine
with a GPU, the one line to change is where the data go:
``X = torch.asarray(X, device="cuda")``. See the user guide's page
"On a GPU" for what changes there (speed, float32, memory).
"""

# %%
# Turning it on
# -------------
# scikit-learn allows the dispatch only when the environment variable
# ``SCIPY_ARRAY_API=1`` is set before scipy is first imported: here, first
# thing in the script (in a shell: ``export SCIPY_ARRAY_API=1``).
import os

os.environ["SCIPY_ARRAY_API"] = "1"

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402

from skvi import VariationalGaussianMixture  # noqa: E402

try:
    import torch as library

    device = "cuda" if library.cuda.is_available() else "cpu"
    print(f"PyTorch {library.__version__}, device {device}")
except ImportError:
    import array_api_strict as library

    device = None
    print("array-api-strict (PyTorch is not installed)")


# scikit-learn refuses the dispatch where it cannot run it (scikit-learn 1.6
# without the array-api-compat package, or scipy older than 1.14): this
# example then runs on numpy, and says so.
try:
    with sklearn.config_context(array_api_dispatch=True):
        pass
    dispatch = True
except (ImportError, RuntimeError) as error:
    dispatch = False
    print(f"array API dispatch is not available here ({error}); numpy instead")


def on_device(array):
    """A numpy array as an array of the library, on its device."""
    if not dispatch:
        return array
    if device is None:
        return library.asarray(array)
    return library.asarray(array, device=device)


# %%
# Customers of three segments
# ---------------------------
# Two features per customer (say, monthly spend and visits, standardised),
# three segments of different sizes; the mixture is given five components,
# and its Dirichlet-process prior leaves the two it does not need empty.
# (``random_state=5``: with 0, k-means starts it in a local optimum that
# splits the largest segment in two, at an ELBO 27 nats lower.)
rng = np.random.default_rng(0)
centres = np.array([[-2.0, 0.0], [2.0, 1.5], [0.5, -2.5]])
sizes = [3000, 2000, 1000]
X = np.vstack(
    [
        centre + 0.6 * rng.standard_normal((size, 2))
        for centre, size in zip(centres, sizes, strict=True)
    ]
)

mixture = VariationalGaussianMixture(n_components=5, max_iter=1000, random_state=5)
on_numpy = sklearn.clone(mixture).fit(X)

# %%
# The same fit, on the library's array
# ------------------------------------
# Inside ``config_context(array_api_dispatch=True)`` the estimator reads the
# array where it is. Its fitted arrays live there too, and ``predict``
# returns there: nothing comes back to numpy unless asked.
X_device = on_device(X)
with sklearn.config_context(array_api_dispatch=dispatch):
    on_library = sklearn.clone(mixture).fit(X_device)
    labels = on_library.predict(X_device)
print(
    "weights_ is a",
    type(on_library.weights_).__module__,
    type(on_library.weights_).__name__,
)
print("labels is a", type(labels).__module__, type(labels).__name__)


# %%
# The two fits agree to rounding: the maths is the same, only the library
# that runs the passes over the rows differs.
def to_numpy(array):
    """An array of the library as numpy (a no-op on numpy)."""
    if isinstance(array, np.ndarray):
        return array
    from sklearn.utils._array_api import _convert_to_numpy, get_namespace

    with sklearn.config_context(array_api_dispatch=True):
        return np.asarray(_convert_to_numpy(array, get_namespace(array)[0]))


difference = np.max(np.abs(to_numpy(on_library.means_) - on_numpy.means_))
print(f"largest difference of the means: {difference:.1e}")
print("weights:", np.round(to_numpy(on_library.weights_), 3))

# %%
# The segments found
# ------------------
# The labels come back to numpy only to be drawn.
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(X[:, 0], X[:, 1], c=to_numpy(labels), s=3, cmap="viridis")
means = to_numpy(on_library.means_)
used = to_numpy(on_library.weights_) > 0.01
ax.scatter(means[used, 0], means[used, 1], marker="x", color="red", s=80)
ax.set_title("Segments fitted on the library's arrays")
ax.set_xlabel("spend (standardised)")
ax.set_ylabel("visits (standardised)")
fig.tight_layout()
plt.show()

# %%
# What changes on a GPU
# ---------------------
# * **Where the data go.** ``X = torch.asarray(X, device="cuda")`` (or
#   ``cupy.asarray(X)``); everything else above is the same.
# * **Speed.** The E-step and the statistics, all the work that grows with
#   the number of rows, run on the GPU; each iteration moves a few small
#   arrays (K x d x d numbers) to the host and back. benchmarks/README.md
#   compares skvi with scikit-learn's GaussianMixture on the same GPU.
# * **float32.** float32 data stay float32 on a GPU (its fast path); the
#   sums that the fit compares from one iteration to the next accumulate in
#   float64. The guide states the error against float64. On a CPU device,
#   as here, float32 is widened to float64 as on numpy.
# * **Memory.** The rows are processed in blocks of at most 2**27 values of
#   temporaries (1 GiB in float64), so a pass needs about that beyond X.
#   The initialisation (k-means by default) runs on a host copy of X, once
#   per initialisation; ``init_params="random_from_data"`` copies only K rows.
