"""Does skvi on a GPU give numpy's fit? One quick run per estimator setting.

    SCIPY_ARRAY_API=1 python benchmarks/device/gpu_check.py [torch|cupy] [device]

Fits every estimator setting on numpy float64 and on the library's arrays on
the device (float64, then float32), and prints the largest difference of the
fitted arrays and of score_samples, relative to each array's largest entry:
rounding (~1e-15) in float64; the float32 error docs/guide/gpu.md states.
Needs numpy, scipy, scikit-learn and the library only.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import sys
import time
import warnings

os.environ.setdefault("SCIPY_ARRAY_API", "1")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skvi import (  # noqa: E402
    VariationalGaussianMixture,
    VariationalNormalEstimator,
)
from skvi._core.namespaces import to_numpy  # noqa: E402


def main():
    library = sys.argv[1] if len(sys.argv) > 1 else "torch"
    device = sys.argv[2] if len(sys.argv) > 2 else "cuda"
    module = __import__(library)

    def put(array):
        if library == "torch":
            return module.asarray(array, device=device)
        return module.asarray(array)

    rng = np.random.default_rng(0)
    n = 20_000
    X = np.vstack(
        [rng.normal(size=(n // 2, 5)), 4.0 + 0.5 * rng.normal(size=(n // 2, 5))]
    )
    w = rng.uniform(0.5, 2.0, size=n)
    settings = [
        VariationalNormalEstimator(),
        VariationalNormalEstimator(covariance_type="full"),
    ]
    settings += [
        VariationalGaussianMixture(
            n_components=3, covariance_type=kind, random_state=0, max_iter=50
        )
        for kind in ("full", "tied", "diag", "spherical")
    ]
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(
        "| estimator | type | dtype | fitted arrays | score_samples | predict "
        "| seconds |"
    )
    print("|---|---|---|---|---|---|---|")
    worst = 0.0
    for estimator in settings:
        reference = sklearn.clone(estimator).fit(X, sample_weight=w)
        expected = {
            name: value
            for name, value in vars(reference).items()
            if isinstance(value, np.ndarray) and not name.startswith("_")
        }
        for dtype in ("float64", "float32"):
            start = time.perf_counter()
            with sklearn.config_context(array_api_dispatch=True):
                fitted = sklearn.clone(estimator).fit(
                    put(X.astype(dtype)), sample_weight=put(w)
                )
                scores = fitted.score_samples(put(X.astype(dtype)))
                labels = (
                    fitted.predict(put(X.astype(dtype)))
                    if hasattr(fitted, "predict")
                    else None
                )
            seconds = time.perf_counter() - start
            errors = []
            for name, value in expected.items():
                moved = getattr(fitted, name)
                assert type(moved).__module__.split(".")[0] in (library, "cupy"), name
                actual = np.asarray(to_numpy(moved), dtype=np.float64)
                errors.append(
                    np.max(np.abs(actual - value)) / max(np.max(np.abs(value)), 1e-300)
                )
            score_error = np.max(
                np.abs(to_numpy(scores) - reference.score_samples(X))
            ) / np.max(np.abs(reference.score_samples(X)))
            agree = (
                ""
                if labels is None
                else f"{np.mean(to_numpy(labels) == reference.predict(X)):.4f}"
            )
            if dtype == "float64":
                worst = max(worst, max(errors), score_error)
            print(
                f"| {type(estimator).__name__} | {estimator.covariance_type} | {dtype} "
                f"| {max(errors):.1e} | {score_error:.1e} | {agree} | {seconds:.2f} |",
                flush=True,
            )
    print(
        f"largest float64 difference: {worst:.1e} "
        f"({'OK' if worst < 1e-10 else 'CHECK'})"
    )


if __name__ == "__main__":
    main()
