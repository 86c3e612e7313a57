"""The dask reduction: a function of row chunks, run on the workers, gathered."""

# SPDX-License-Identifier: BSD-3-Clause

# This module is imported only when a dask collection is passed (dask is the
# optional extra skvi[dask]), so importing dask at the top is fine here.
from functools import partial

import dask
import dask.array as da
import numpy as np

from . import engine
from .moments import weighted_moments_about
from .stats import merge_moments_about
from .validation import check_chunk, check_sample_weight, check_weight_sum

__all__ = [
    "dask_map_rows",
    "dask_moments_about",
    "dask_reduce",
]


def dask_reduce(
    X,
    sample_weight,
    block_function,
    *,
    allow_all_zero=False,
    check_total_weight=True,
    ensure_all_finite=True,
    ensure_min_samples=1,
    estimator_name=None,
):
    """Apply ``block_function`` to each row chunk of X on the workers; gather results.

    Each chunk (a block of whole rows of a dask array, or a partition of a
    dask DataFrame) is checked on its worker by the very functions that check
    numpy and pandas input, :func:`skvi._core.validation.check_chunk` and
    :func:`skvi._core.validation.check_sample_weight`, so that both raise the same
    errors; then ``block_function(rows, weights)`` reduces it there. Only the
    small per-chunk results travel to the client; the data are read once and
    never gathered. What needs the whole is checked on the client: that there
    are rows, that the weights are not all zero, and that their sum is finite.
    The computation runs on the active dask scheduler (a ``dask.distributed``
    ``Client`` included).

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        The data, already checked by :func:`skvi._core.validation.check_data` for
        what can be known without reading it.
    sample_weight : array-like, float, dask array or dask Series of shape \
            (n_samples,), or None
        Frequency weights aligned with the rows of X; a dask collection is
        rechunked to the row chunks of X.
    block_function : callable
        ``block_function(rows, weights) -> result``, with ``rows`` an ndarray
        (n_rows, n_features) of float64 or float32 and ``weights`` an ndarray
        (n_rows,) of float64 or None; picklable (a module-level function or a
        ``functools.partial`` of one) for a distributed scheduler.
    allow_all_zero : bool, default=False
        Accept weights that are zero everywhere (a later ``partial_fit`` chunk).
    check_total_weight : bool, default=True
        Refuse weights whose sum overflows float64
        (:func:`skvi._core.validation.check_weight_sum`): a fit needs the total;
        ``score`` averages over such weights safely and passes False.
    ensure_all_finite : bool, default=True
        Check each chunk for NaN and infinity before ``block_function``; False
        when ``block_function`` does it.
    ensure_min_samples : int, default=1
        The fewest rows X may have in all.
    estimator_name : str, default=None
        Named in the error messages.

    Returns
    -------
    results : list
        ``block_function``'s result for each chunk that has rows, in row order.

    Examples
    --------
    >>> import dask.array as da
    >>> from skvi._core.dask_passes import dask_reduce
    >>> X = da.from_array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]], chunks=(2, 2))
    >>> dask_reduce(X, None, lambda rows, weights: rows.sum(axis=0).tolist())
    [[4.0, 8.0], [5.0, 10.0]]
    """
    chunks = _row_chunks(X, weighted=sample_weight is not None)
    lengths = [length for length, _ in chunks]
    n_features = X.shape[1]
    weights = _weight_chunks(sample_weight, lengths, n_features)
    reduce_chunk = partial(
        _reduce_chunk,
        block_function=block_function,
        ensure_all_finite=ensure_all_finite,
        estimator_name=estimator_name,
    )
    tasks = [
        dask.delayed(reduce_chunk, pure=True)(rows, chunk_weights)
        for (_, rows), chunk_weights in zip(chunks, weights, strict=True)
    ]
    results = dask.compute(*tasks)

    n_rows = sum(n for n, _, _ in results)
    if n_rows < ensure_min_samples:
        # A stand-in of that shape costs nothing and check_chunk words the error;
        # zeros, since np.empty's leftover memory may hold an inf or a NaN,
        # which would be reported instead.
        check_chunk(
            np.zeros((n_rows, n_features)),
            estimator_name=estimator_name,
            ensure_min_samples=ensure_min_samples,
        )
    if sample_weight is not None:
        with np.errstate(over="ignore"):
            total = np.sum([weight for _, weight, _ in results])
        if check_total_weight:
            check_weight_sum(total)
        if not allow_all_zero and total == 0:
            # check_sample_weight words the error for the whole.
            check_sample_weight(np.zeros(1), np.zeros((1, n_features)))
    return [result for n, _, result in results if n]


def _reduce_chunk(rows, weights, *, block_function, ensure_all_finite, estimator_name):
    """``(n_rows, total weight, block_function(rows, weights))`` of one chunk."""
    # Chunks may be empty (a filtered partition); only the whole may not.
    rows = check_chunk(
        rows,
        estimator_name=estimator_name,
        ensure_all_finite=ensure_all_finite,
        ensure_min_samples=0,
    )
    # One chunk's weights may be all zero; only the whole's may not.
    weights = check_sample_weight(weights, rows, allow_all_zero=True)
    if rows.shape[0] == 0:
        return 0, 0.0, None
    with np.errstate(over="ignore"):
        total = float(rows.shape[0]) if weights is None else float(np.sum(weights))
    # Dask runs the chunks in parallel: each one's blocks in its own thread.
    with engine.in_calling_thread():
        return rows.shape[0], total, block_function(rows, weights)


def _row_chunks(X, *, weighted):
    """``[(n_rows or None, delayed block of whole rows)]`` of a dask array or DataFrame.

    The lengths are known (read if need be) when the rows carry weights, which
    are aligned by position; else they may be None.
    """
    if not isinstance(X, da.Array):
        # A dask DataFrame: each partition, a pandas DataFrame, is checked as
        # pandas input is (nullable, categorical and boolean columns alike).
        parts = X.to_delayed()
        lengths = (
            [int(n) for n in X.map_partitions(len).compute()]
            if weighted
            else [None] * len(parts)
        )
        return list(zip(lengths, parts, strict=True))
    # One chunk across the columns, so that each block holds whole rows.
    X = X.rechunk({1: -1})
    if weighted and any(np.isnan(size) for size in X.chunks[0]):
        X = X.compute_chunk_sizes()
    blocks = X.to_delayed().ravel()
    return list(zip(X.chunks[0], blocks, strict=True))


def _weight_chunks(sample_weight, lengths, n_features):
    """The weights of each row chunk: None, numpy slices, or delayed dask blocks."""
    if sample_weight is None:
        return [None] * len(lengths)
    n_samples = int(sum(lengths))
    if hasattr(sample_weight, "to_dask_array"):
        sample_weight = sample_weight.to_dask_array(lengths=True)
    if isinstance(sample_weight, da.Array):
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
            # check_sample_weight raises its message about the shape before it
            # looks at the values, so stand-in ones of the right shape do.
            check_sample_weight(
                np.ones(sample_weight.shape), _shape_only(n_samples, n_features)
            )
        # Checked with their rows, on the workers.
        return list(sample_weight.rechunk((tuple(lengths),)).to_delayed())
    # A scalar or an in-memory array: checked whole here, on the client.
    sample_weight = check_sample_weight(
        sample_weight, _shape_only(n_samples, n_features), allow_all_zero=True
    )
    stops = np.cumsum(lengths)
    return [
        sample_weight[stop - length : stop]
        for length, stop in zip(lengths, stops, strict=True)
    ]


def _shape_only(n_samples, n_features):
    """A zero-memory array of the shape of X, for shape checks."""
    return np.broadcast_to(np.float64(0.0), (int(n_samples), n_features))


def dask_map_rows(X, row_function, *, dtype, n_columns=None, estimator_name=None):
    """``row_function`` of each row chunk of X, on the workers: a lazy dask array.

    The per-row counterpart of :func:`dask_reduce`, as dask-ml's
    ``ParallelPostFit`` does it: each chunk of whole rows (a block of a dask
    array, or a partition of a dask DataFrame) is checked on its worker by
    :func:`skvi._core.validation.check_chunk`, the function that checks numpy
    and pandas input, and mapped there by ``row_function``, the very function
    the numpy path applies to the whole of X. Nothing is computed here, and
    X is never gathered: the result keeps X's row chunks (of unknown length
    for a DataFrame, whose partitions are not counted), and its values, and
    the errors of bad chunks, come when it is computed.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        The data, already checked by :func:`skvi._core.validation.check_data` for
        what can be known without reading it (its dimensions, dtypes and
        columns, against the fitted estimator's).
    row_function : callable
        ``row_function(rows) -> values``, with ``rows`` an ndarray (n_rows,
        n_features) of float64 or float32 and ``values`` an ndarray of shape
        (n_rows,) or (n_rows, n_columns); picklable (a module-level function
        or a ``functools.partial`` of one) for a distributed scheduler.
    dtype : dtype
        The dtype of ``values`` (the result's, declared without computing).
    n_columns : int, default=None
        The number of columns of ``values``; None for one value per row.
    estimator_name : str, default=None
        Named in the error messages.

    Returns
    -------
    values : dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
        With the row chunks of X.

    Examples
    --------
    >>> import dask.array as da
    >>> from skvi._core.dask_passes import dask_map_rows
    >>> X = da.from_array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]], chunks=(2, 2))
    >>> totals = dask_map_rows(X, lambda rows: rows.sum(axis=1), dtype=float)
    >>> totals.chunks, totals.compute().tolist()
    (((2, 1),), [3.0, 9.0, 15.0])
    """
    tail = () if n_columns is None else (n_columns,)
    map_chunk = partial(
        _map_chunk,
        row_function=row_function,
        dtype=np.dtype(dtype),
        tail=tail,
        estimator_name=estimator_name,
    )
    meta = np.empty((0,) + tail, dtype=dtype)
    if isinstance(X, da.Array):
        # One chunk across the columns, so that each block holds whole rows.
        X = X.rechunk({1: -1})
        return X.map_blocks(
            map_chunk,
            dtype=dtype,
            chunks=(X.chunks[0],) + tuple((size,) for size in tail),
            drop_axis=[] if tail else [1],
            meta=meta,
        )
    # A dask DataFrame: each partition, a pandas DataFrame, is checked as
    # pandas input is; its number of rows is known once it is read.
    return da.concatenate(
        [
            da.from_delayed(
                dask.delayed(map_chunk, pure=True)(part),
                shape=(np.nan,) + tail,
                dtype=dtype,
                meta=meta,
            )
            for part in X.to_delayed()
        ]
    )


def _map_chunk(rows, *, row_function, dtype, tail, estimator_name):
    """``row_function`` of one checked row chunk, as ``dtype``."""
    # Chunks may be empty (a filtered partition).
    rows = check_chunk(rows, estimator_name=estimator_name, ensure_min_samples=0)
    if rows.shape[0] == 0:
        return np.empty((0,) + tail, dtype=dtype)
    with engine.in_calling_thread():
        return np.asarray(row_function(rows), dtype=dtype)


def dask_moments_about(
    X,
    sample_weight=None,
    *,
    reference=None,
    allow_all_zero=False,
    estimator_name=None,
):
    """Weight, weighted mean (as reference + offset) and centred sum of squares.

    The dask counterpart of :func:`skvi._core.moments.weighted_moments_about`, with
    the same return values: :func:`dask_reduce` reduces each row chunk of X on
    the workers with ``weighted_moments_about`` itself, to ``(W_k,
    reference_k, offset_k, S_k)``, and the few per-chunk results are merged on
    the client with :func:`skvi._core.stats.merge_moments_about`, the parallel
    formulas of Chan et al. (1979) on means kept as reference + offset::

        W    = sum_k W_k
        xbar = sum_k W_k xbar_k / W
        S    = sum_k S_k + sum_k W_k (xbar_k - xbar)**2

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        Real-valued data, checked by :func:`skvi._core.validation.check_data`.
    sample_weight : array-like, dask array or dask Series of shape (n_samples,), \
            default=None
        Non-negative frequency weights aligned with the rows of X.
    reference : ndarray of shape (n_features,), default=None
        Passed to every chunk's ``weighted_moments_about``, so that all
        offsets, and earlier statistics', are about one point (``partial_fit``).
    allow_all_zero : bool, default=False
        Accept weights that are all zero (a later ``partial_fit`` chunk).
    estimator_name : str, default=None
        Named in the errors raised for invalid data.

    Returns
    -------
    weight : float
        Total weight ``W``.
    reference, offset : ndarray of shape (n_features,)
        The weighted mean ``xbar`` is ``reference + offset``.
    sum_of_squares : ndarray of shape (n_features,)
        Weighted centred sum of squares ``S``.
    """
    # NaN and infinity are read off the sums by weighted_moments_about.
    parts = dask_reduce(
        X,
        sample_weight,
        partial(
            weighted_moments_about, reference=reference, estimator_name=estimator_name
        ),
        allow_all_zero=allow_all_zero,
        ensure_all_finite=False,
        estimator_name=estimator_name,
    )
    weights, references, offsets, sums_of_squares = zip(*parts, strict=True)
    with np.errstate(over="ignore", invalid="ignore"):
        return merge_moments_about(weights, references, offsets, sums_of_squares)
