"""Fitted attributes of every estimator before the layout of issue 19 (#16).

Run once, at commit 3913edd (skvi 0.3, before the models moved into their own
packages), to write ``layout_reference.npz``. ``tests/test_layout_reference.py``
fits the same cases with today's code and checks every stored value to 1e-12:
moving code between modules must change no fitted number. Do not regenerate it
with later code: it would then only compare the code with itself.

Each case stores, under ``CASE/NAME``: every fitted attribute that is an array
or a number (``vars(estimator)`` ending in ``_``), ``score_samples`` on held-out
rows, ``predict_proba`` for the mixture, and the credible intervals (variational
and exact) for the Normal and Student models.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from pathlib import Path

import numpy as np

from skvi import (
    VariationalGaussianMixture,
    VariationalNormalEstimator,
    VariationalStudentEstimator,
)

HERE = Path(__file__).parent


def _blobs(n_samples, n_features, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (3, n_features))
    labels = rng.integers(0, 3, n_samples)
    return centres[labels] + rng.normal(size=(n_samples, n_features)) * [
        1.0 + 0.5 * j for j in range(n_features)
    ]


def cases():
    """``(name, estimator, X, sample_weight, how)`` for each reference fit.

    ``how`` is ``"fit"`` or ``"partial_fit"`` (the rows in four batches).
    """
    rng = np.random.default_rng(20261205)
    spend = rng.normal(40.0, 8.0, (400, 3))
    spend[:4] += 400.0
    weights = rng.integers(0, 4, 400).astype(float)
    blobs = _blobs(300, 3, 7)
    blob_weights = rng.uniform(0.1, 3.0, 300)
    yield "normal_diag", VariationalNormalEstimator(), spend, None, "fit"
    yield (
        "normal_diag_weighted",
        VariationalNormalEstimator(prior_mean=1.0, prior_std=10.0),
        spend,
        weights,
        "fit",
    )
    yield (
        "normal_diag_stream",
        VariationalNormalEstimator(),
        spend,
        None,
        "partial_fit",
    )
    yield (
        "normal_full",
        VariationalNormalEstimator(covariance_type="full"),
        blobs,
        blob_weights,
        "fit",
    )
    yield (
        "normal_full_stream",
        VariationalNormalEstimator(covariance_type="full"),
        blobs,
        None,
        "partial_fit",
    )
    for covariance_type in ("full", "tied", "diag", "spherical"):
        for prior_type in ("dirichlet_process", "dirichlet_distribution"):
            yield (
                f"mixture_{covariance_type}_{prior_type}",
                VariationalGaussianMixture(
                    n_components=4,
                    covariance_type=covariance_type,
                    weight_concentration_prior_type=prior_type,
                    max_iter=500,
                    random_state=3,
                ),
                blobs,
                blob_weights if covariance_type in ("full", "diag") else None,
                "fit",
            )
        yield (
            f"mixture_{covariance_type}_svi",
            VariationalGaussianMixture(
                n_components=3,
                covariance_type=covariance_type,
                total_samples=300,
                random_state=5,
            ),
            blobs,
            None,
            "partial_fit",
        )
    yield (
        "mixture_kmeans_plusplus",
        VariationalGaussianMixture(
            n_components=3, init_params="k-means++", n_init=2, random_state=1
        ),
        blobs,
        None,
        "fit",
    )
    yield "student", VariationalStudentEstimator(), spend, None, "fit"
    yield (
        "student_dof_weighted",
        VariationalStudentEstimator(degrees_of_freedom_update="fit"),
        spend,
        weights,
        "fit",
    )
    yield (
        "student_stream",
        VariationalStudentEstimator(total_samples=400),
        spend,
        None,
        "partial_fit",
    )


def held_out(X):
    """Rows the fits never saw, on the data's scale."""
    rng = np.random.default_rng(99)
    return X[:20] + rng.normal(0.0, 1.0, (20, X.shape[1])) * X.std(axis=0)


def fit(estimator, X, sample_weight, how):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "fit":
            return estimator.fit(X, sample_weight=sample_weight)
        for batch in np.array_split(np.arange(len(X)), 4):
            estimator.partial_fit(
                X[batch],
                sample_weight=None if sample_weight is None else sample_weight[batch],
            )
        return estimator


def values(name, estimator, X, sample_weight):
    """Every stored number of one fitted case, by key."""
    out = {}
    for attribute, value in sorted(vars(estimator).items()):
        if not attribute.endswith("_") or attribute.startswith("_"):
            continue
        array = np.asarray(value)
        if array.dtype.kind in "fiub" and array.size:
            out[f"{name}/{attribute}"] = array.astype(float)
    new = held_out(X)
    out[f"{name}/score_samples"] = estimator.score_samples(new)
    if hasattr(estimator, "predict_proba"):
        out[f"{name}/predict_proba"] = estimator.predict_proba(new)
    if hasattr(estimator, "credible_interval"):
        variational = estimator.credible_interval(0.9, method="variational")
        out[f"{name}/interval"] = np.asarray(variational)
        if isinstance(estimator, VariationalStudentEstimator):
            exact = estimator.credible_interval(
                0.9, method="exact", X=X, sample_weight=sample_weight
            )
        else:
            exact = estimator.credible_interval(0.9, method="exact")
        out[f"{name}/exact_interval"] = np.asarray(exact)
    return out


def main():
    stored = {}
    for name, estimator, X, sample_weight, how in cases():
        stored.update(
            values(name, fit(estimator, X, sample_weight, how), X, sample_weight)
        )
    np.savez_compressed(HERE / "layout_reference.npz", **stored)
    print(f"{len(stored)} arrays written to {HERE / 'layout_reference.npz'}")


if __name__ == "__main__":
    main()
