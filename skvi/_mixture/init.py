"""The mixture's initialisations, as scikit-learn's BaseMixture's.

``init_params`` gives the first responsibilities, from which the first
M-step starts (scikit-learn's ``_initialize_parameters``, with the same
random draws for the same ``random_state``):

- ``"kmeans"``: one run of k-means (hard assignments);
- ``"k-means++"``: its seeding only, one row per component;
- ``"random"``: uniform responsibilities, normalised per row;
- ``"random_from_data"``: K distinct rows (in proportion to the weights).

Only the statistics of those responsibilities are kept. On a dask
collection nothing of size n comes to the client: 'random_from_data'
gathers its K rows, the k-means initialisations choose their centres on a
uniform sample of at most 10 000 rows and give each row to its nearest centre
on the workers. On another array library's X (array API) 'random_from_data'
gathers its K rows from the device, the others run on a host copy of X.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from functools import partial

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from .._core.component_stats import sufficient_statistics
from .._core.namespaces import is_dask_collection, to_namespace, to_numpy
from .._core.stats import SufficientStatistics


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


class _Initialisation:
    """The first statistics of a fit (a mixin of VariationalGaussianMixture)."""

    def _initial_responsibilities(self, data, random_state):
        return _INIT[self.init_params](
            data.X, data.sample_weight, self.n_components, random_state
        )

    def _start(self, data, random_state):
        """The statistics an initialisation starts from (numpy, dask or a device).

        On another library's X, 'random_from_data' gathers its K rows from
        the device; the other initialisations run scikit-learn's numpy code
        on a host copy of X, made once per initialisation.
        """
        if data.dask is not None:
            return self._dask_initial_statistics(data, random_state)
        if data.array is not None and self.init_params == "random_from_data":
            space = data.space
            weights = data.sample_weight
            rows = _random_rows(
                data.n_samples, weights, self.n_components, random_state
            )
            points = np.asarray(
                to_numpy(
                    space.xp.take(data.array, to_namespace(rows, space), axis=0),
                    space,
                ),
                dtype=np.float64,
            )
            return _statistics_of_rows(
                points,
                np.ones(len(rows)) if weights is None else weights[rows],
                data.model.centre,
                data.model.covariance.scatter,
            )
        host = data.on_host()
        return self._initial_statistics(
            host, self._initial_responsibilities(host, random_state)
        )

    def _initial_statistics(self, data, resp):
        return sufficient_statistics(
            data.X,
            data.sample_weight,
            resp,
            scatter=data.model.covariance.scatter,
            reference=data.model.centre,
        )

    def _dask_initial_statistics(self, data, random_state):
        """The initial statistics of a dask fit, with O(K d^2) back from workers.

        'random_from_data' gathers its K rows only, and starts exactly as on
        numpy data. 'kmeans' and 'k-means++' choose their centres on a
        uniform sample of at most 10 000 rows gathered to the client, then
        give each row to its nearest centre on the workers.
        """
        from .._core.dask_passes import dask_reduce

        X, sample_weight, model = data.dask, data.sample_weight, data.model
        weights = None if sample_weight is None else _as_numpy(sample_weight)
        K = self.n_components
        if self.init_params == "random":
            raise ValueError(
                "init_params='random' draws responsibilities for every row, "
                "which a dask fit does not gather; use 'random_from_data', "
                "'kmeans' or 'k-means++'."
            )
        if self.init_params == "random_from_data":
            rows = _random_rows(data.n_samples, weights, K, random_state)
            return _statistics_of_rows(
                _gather_rows(X, rows),
                np.ones(K) if weights is None else weights[rows],
                model.centre,
                data.model.covariance.scatter,
            )
        size = min(data.n_samples, 10_000)
        rows = _random_rows(data.n_samples, weights, size, random_state)
        sample = _gather_rows(X, rows)
        centres = (
            KMeans(n_clusters=K, n_init=1, random_state=random_state)
            .fit(sample)
            .cluster_centers_
            if self.init_params == "kmeans"
            else kmeans_plusplus(sample, K, random_state=random_state)[0]
        )
        return SufficientStatistics.merge_all(
            dask_reduce(
                X,
                sample_weight,
                partial(
                    _chunk_nearest_statistics,
                    centres=centres,
                    scatter=data.model.covariance.scatter,
                    reference=model.centre,
                ),
                estimator_name=type(self).__name__,
            )
        )
