"""The Normal model's one route to its data, for both covariance types.

Everything X contributes to the model is its sufficient statistics: the
total weight ``W``, the weighted mean ``xbar`` (kept as ``reference +
offset``, which keeps, far from zero, the digits a rounded mean would lose)
and the scatter ``S = sum_i w_i (x_i - xbar)(x_i - xbar)^T``, its diagonal
for ``covariance_type="diag"``, whole for ``"full"``: one
:class:`~skvi._core.stats.SufficientStatistics` either way. They are read in
one pass wherever X lives (numpy and pandas in row blocks on the engine;
dask, each row chunk reduced on its worker; another array API namespace, on
its device) and merged by ``partial_fit`` into the running statistics with
the exact parallel formulas of Chan, Golub and LeVeque (1979,
:meth:`SufficientStatistics.merge`), so that any sequence of chunks gives
the statistics of their concatenation. The diagonal scatter is the core's
fast path (:func:`skvi._core.stats.weighted_moments_about`, with its
cancellation and float64-range handling); the full one is
:func:`skvi._core.stats.sufficient_statistics`'s compensated scatter.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances", Stanford CS report STAN-CS-79-773, 1979.
"""

# SPDX-License-Identifier: BSD-3-Clause

from functools import partial

import numpy as np

from .._core import array_api
from .._core.component_stats import sufficient_statistics
from .._core.namespaces import array_space, is_dask_collection
from .._core.normal_gamma import given_priors
from .._core.stats import SufficientStatistics
from .._core.validation import check_data, check_weight_sum
from .device import device_weight


def chunk_statistics(rows, weights, *, scatter, reference, estimator_name):
    """The ``sufficient_statistics`` of one dask chunk, on its worker."""
    with np.errstate(over="ignore", invalid="ignore"):
        return sufficient_statistics(
            rows,
            weights,
            scatter=scatter,
            reference=reference,
            estimator_name=estimator_name,
        )


def read(
    X,
    sample_weight,
    space,
    *,
    scatter,
    reference=None,
    allow_all_zero=False,
    estimator_name=None,
):
    """One pass over X (numpy, dask, or ``space``'s device): its statistics.

    Parameters
    ----------
    X : ndarray, dask collection or array of ``space``, of shape (n_samples, n_features)
        Checked for shape and dtype, not for finiteness: NaN and infinity
        are read off the sums (:mod:`skvi._core.stats`).
    sample_weight : ndarray, dask array or array of ``space``, or None
    space : skvi._core.validation.ArraySpace or None
        X's array API namespace, or None for numpy and dask.
    scatter : {"diag", "full"}
    reference : ndarray of shape (n_features,), default=None
        The point the means are given against: the running statistics' on a
        later ``partial_fit``, so that their merge loses no digit.
    allow_all_zero : bool, default=False
        Accept a dask chunk whose weights are all zero.
    estimator_name : str, default=None
        Named in the errors.

    Returns
    -------
    statistics : SufficientStatistics
        One component.
    """
    if space is not None:
        # Another library's array (array API dispatch): the pass over its
        # rows runs where it lives (skvi._core.array_api).
        return array_api.statistics(
            X,
            device_weight(sample_weight, X, space),
            space,
            scatter=scatter,
            reference=reference,
            estimator_name=estimator_name,
        )
    if is_dask_collection(X):
        from .._core.dask_passes import dask_reduce

        # Each row chunk reduced on its worker to its statistics, merged here
        # exactly (Chan); NaN and inf are read off the sums.
        return SufficientStatistics.merge_all(
            dask_reduce(
                X,
                sample_weight,
                partial(
                    chunk_statistics,
                    scatter=scatter,
                    reference=reference,
                    estimator_name=estimator_name,
                ),
                allow_all_zero=allow_all_zero,
                ensure_all_finite=False,
                estimator_name=estimator_name,
            )
        )
    return sufficient_statistics(
        X,
        sample_weight,
        scatter=scatter,
        reference=reference,
        estimator_name=estimator_name,
    )


def running_statistics(estimator):
    """The statistics of all the data a fitted estimator has seen."""
    return SufficientStatistics(**estimator._statistics)


def fit_statistics(estimator, X, sample_weight, *, covariance_type, reset):
    """Validate X, sample_weight and the priors; read X once; merge.

    The priors given as numbers are checked against X's number of features
    before the pass over the data, so that a bad prior fails fast. On a
    ``partial_fit`` after the first (``reset=False``), the chunk is read
    about the running statistics' reference, checked by the covariance
    type's record (``check_chunk``) and merged into them.

    Returns
    -------
    priors : dict
        The four priors, each an ndarray of shape (n_features,), or None
        where it is to be resolved from the data.
    statistics : SufficientStatistics
        Of all the data seen.
    """
    merging = not reset
    space = array_space(X)
    estimator._fit_space = space
    # Finiteness is read off the accumulated sums (skvi._core.stats), which
    # saves a pass over X; an exact check runs only when they are not finite.
    X, sample_weight = check_data(
        estimator,
        X,
        sample_weight,
        reset=reset,
        allow_all_zero=merging,
        ensure_all_finite=False,
    )
    priors = given_priors(estimator)
    running = running_statistics(estimator) if merging else None
    # Squares beyond float64 are handled in skvi._core.stats and checked by
    # the record; numpy's overflow warnings on the way would only be noise.
    with np.errstate(over="ignore", invalid="ignore"):
        statistics = read(
            X,
            sample_weight,
            space,
            scatter=covariance_type.name,
            reference=None if running is None else running.reference,
            allow_all_zero=merging,
            estimator_name=type(estimator).__name__,
        )
        if merging:
            # A later partial_fit chunk: the running total must stay finite.
            check_weight_sum(estimator.n_samples_seen_ + statistics.weight[0])
    covariance_type.check_chunk(statistics, sample_weight is not None)
    if merging:
        with np.errstate(over="ignore", invalid="ignore"):
            statistics = running.merge(statistics)
    return priors, statistics
