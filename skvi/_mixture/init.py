"""TODO: docstring."""

# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from .._core.stats import (
    SufficientStatistics,
    sufficient_statistics,
)
from .._core.validation import (
    is_dask_collection,
)


def _init_kmeans(X, sample_weight, n_components, random_state):
    with warnings.catch_warnings():
        # Fewer distinct rows than components (duplicated points) is no
        # problem for the mixture: the spare components start empty and the
        # prior holds them.
        warnings.filterwarnings(
            "ignore", message="Number of distinct clusters", category=UserWarning
        )
        labels = (
            KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            .fit(X, sample_weight=sample_weight)
            .labels_
        )
    resp = np.zeros((X.shape[0], n_components))
    resp[np.arange(X.shape[0]), labels] = 1.0
    return resp


def _init_kmeans_plusplus(X, sample_weight, n_components, random_state):
    _, indices = kmeans_plusplus(
        X, n_components, random_state=random_state, sample_weight=sample_weight
    )
    resp = np.zeros((X.shape[0], n_components))
    resp[indices, np.arange(n_components)] = 1.0
    return resp


def _init_random(X, sample_weight, n_components, random_state):
    resp = random_state.uniform(size=(X.shape[0], n_components))
    resp /= resp.sum(axis=1)[:, None]
    return resp


def _random_rows(n_samples, sample_weight, n_components, random_state):
    """K distinct rows, uniformly (or in proportion to the weights)."""
    p = None if sample_weight is None else sample_weight / sample_weight.sum()
    if p is not None and np.count_nonzero(p) < n_components:
        raise ValueError(
            f"init_params='random_from_data' needs at least n_components="
            f"{n_components} samples of positive weight; got "
            f"{np.count_nonzero(p)}. Use init_params='kmeans' or fewer components."
        )
    return random_state.choice(n_samples, size=n_components, replace=False, p=p)


def _init_random_from_data(X, sample_weight, n_components, random_state):
    resp = np.zeros((X.shape[0], n_components))
    rows = _random_rows(X.shape[0], sample_weight, n_components, random_state)
    resp[rows, np.arange(n_components)] = 1.0
    return resp


_INIT = {
    "kmeans": _init_kmeans,
    "k-means++": _init_kmeans_plusplus,
    "random": _init_random,
    "random_from_data": _init_random_from_data,
}


def _chunk_nearest_statistics(rows, weights, *, centres, scatter, reference):
    """Statistics of one chunk with each row given to its nearest centre."""
    distances = (
        (rows * rows).sum(1)[:, None] - 2.0 * rows @ centres.T + (centres**2).sum(1)
    )
    resp = np.zeros((rows.shape[0], centres.shape[0]))
    resp[np.arange(rows.shape[0]), distances.argmin(axis=1)] = 1.0
    return sufficient_statistics(
        rows, weights, resp, scatter=scatter, reference=reference
    )


def _statistics_of_rows(points, weights, centre, scatter):
    """The statistics of K components of one row each: 'random_from_data'."""
    K, d = points.shape
    return SufficientStatistics(
        np.asarray(weights, dtype=np.float64),
        centre,
        points - centre,
        np.zeros((K, d, d) if scatter == "full" else (K, d)),
    )


def _as_numpy(sample_weight):
    """Frequency weights on the client (computed if a dask collection)."""
    if is_dask_collection(sample_weight):
        sample_weight = sample_weight.compute()
    return np.asarray(sample_weight, dtype=np.float64)


def _gather_rows(X, rows):
    """Rows ``rows`` of a dask array or DataFrame, in that order, as float64."""
    order = np.argsort(rows)
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True)
    import dask

    gathered = np.asarray(dask.compute(X[rows[order]])[0], dtype=np.float64)
    result = np.empty_like(gathered)
    result[order] = gathered
    return result
