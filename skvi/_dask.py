"""Sufficient statistics of dask arrays and DataFrames, in one pass on any scheduler."""

# SPDX-License-Identifier: BSD-3-Clause

# This module is imported only when a dask collection is passed (dask is the
# optional extra skvi[dask]), so importing dask at the top is fine here.
import dask
import dask.array as da
import numpy as np
from sklearn.utils import check_array

from ._stats import merge_moments_about, weighted_moments_about
from ._validation import check_sample_weight

__all__ = ["dask_moments_about", "dask_weighted_moments"]

# Kinds numpy can cast to float64 without loss of meaning (bool, int, uint,
# float); complex and everything else are refused, as scikit-learn does.
_REAL_KINDS = "biuf"


def dask_weighted_moments(X, sample_weight=None, *, estimator_name=None):
    """Weight, weighted mean and weighted centred sum of squares of a dask collection.

    ``(W, reference + offset, S)`` of :func:`dask_moments_about`: see there.

    Examples
    --------
    >>> import dask.array as da
    >>> from skvi._dask import dask_weighted_moments
    >>> X = da.from_array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]], chunks=(2, 2))
    >>> weight, mean, sum_of_squares = dask_weighted_moments(X)
    >>> weight, mean.tolist(), sum_of_squares.tolist()
    (3.0, [3.0, 6.0], [8.0, 32.0])
    """
    weight, reference, offset, sum_of_squares = dask_moments_about(
        X, sample_weight, estimator_name=estimator_name
    )
    return weight, reference + offset, sum_of_squares


def dask_moments_about(X, sample_weight=None, *, estimator_name=None):
    """Weight, weighted mean (as reference + offset) and centred sum of squares.

    The dask counterpart of :func:`skvi._stats.weighted_moments_about`, with
    the same return values: each row chunk of ``X`` is reduced on the workers
    by ``weighted_moments_about`` itself, to ``(W_k, reference_k, offset_k,
    S_k)``, and the few per-chunk results are merged on the client with
    :func:`skvi._stats.merge_moments_about`, the parallel formulas of Chan et
    al. (1979) on means kept as reference + offset::

        W    = sum_k W_k
        xbar = sum_k W_k xbar_k / W
        S    = sum_k S_k + sum_k W_k (xbar_k - xbar)**2

    The data are read once, are never gathered on the client, and the
    computation runs on the active dask scheduler (a ``dask.distributed``
    ``Client`` included).

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        Real-valued data. Integer and boolean data are cast to float64 chunk
        by chunk; float32 stays float32 and is accumulated in float64. A
        DataFrame must have numeric columns only.
    sample_weight : array-like, dask array or dask Series of shape (n_samples,), \
            default=None
        Non-negative frequency weights aligned with the rows of ``X``; None
        gives every sample weight 1. A dask collection is rechunked to the row
        chunks of ``X``.
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

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, is not real-valued (a DataFrame's offending
        columns are named), has no samples or no features, or contains NaN or
        infinity; or if ``sample_weight`` has the wrong length, a negative,
        NaN or infinite entry, or is zero everywhere.
    """
    weighted = sample_weight is not None
    # Aligning weights needs the row count of every chunk; without weights,
    # unknown DataFrame partition lengths are fine and cost no extra pass.
    X = _as_real_dask_array(X, known_lengths=weighted, estimator_name=estimator_name)
    n_samples, n_features = X.shape
    if not np.isnan(n_samples):
        _check_not_empty(n_samples, n_features, estimator_name)
    # One chunk across the columns, so that each block holds whole rows.
    X = X.rechunk({1: -1})
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)

    # Each block becomes one row [n_rows, W_k, reference_k..., offset_k..., S_k...].
    block_shape = (1, 2 + 3 * n_features)
    if weighted:
        weights = _aligned_weights(sample_weight, X)
        parts = da.map_blocks(
            _chunk_moments,
            X,
            weights[:, None],
            estimator_name=estimator_name,
            chunks=block_shape,
            dtype=np.float64,
        )
    else:
        parts = da.map_blocks(
            _chunk_moments,
            X,
            estimator_name=estimator_name,
            chunks=block_shape,
            dtype=np.float64,
        )
    (parts,) = dask.compute(parts)

    n_rows = parts[:, 0].sum()
    _check_not_empty(n_rows, n_features, estimator_name)
    chunk_weights = parts[:, 1]
    references, offsets, sums_of_squares = np.split(parts[:, 2:], 3, axis=1)
    if not chunk_weights.any():
        # Every chunk passed check_sample_weight's other checks, so they are
        # all zero: let it raise its own message for the whole.
        check_sample_weight(np.zeros(1), np.zeros((1, n_features)))
    with np.errstate(over="ignore", invalid="ignore"):
        return merge_moments_about(chunk_weights, references, offsets, sums_of_squares)


def validation_stand_in(X):
    """What ``validate_data`` should see of X: an empty pandas frame for a DataFrame.

    scikit-learn (1.9) takes feature names from eager DataFrames only, so a
    dask DataFrame is shown as an empty pandas DataFrame with its columns;
    other collections are returned as they are (only their shape is read).
    """
    if getattr(X, "ndim", None) == 2 and hasattr(X, "to_dask_array"):
        import pandas as pd

        return pd.DataFrame(columns=X.columns)
    return X


def _chunk_moments(block, weights=None, estimator_name=None):
    """``[n_rows, W_k, reference_k, offset_k, S_k]`` of one row chunk."""
    n_rows, n_features = block.shape
    result = np.zeros((1, 2 + 3 * n_features))
    result[0, 0] = n_rows
    if weights is not None:
        weights = weights[:, 0]
        # One chunk may be all zero; only the whole may not (checked on the
        # client), so the chunk is checked for NaN, infinity and signs only.
        if not weights.any():
            # Zero weights drop the rows, which must still be finite: the
            # check raises the usual error otherwise. The zero mean keeps the
            # merge free of 0 * NaN.
            if n_rows:
                weighted_moments_about(block, weights, estimator_name=estimator_name)
            return result
        weights = check_sample_weight(weights, block)
    if n_rows == 0:
        return result
    weight, *moments = weighted_moments_about(
        block, weights, estimator_name=estimator_name
    )
    result[0, 1] = weight
    result[0, 2:] = np.concatenate(moments)
    return result


def _as_real_dask_array(X, *, known_lengths, estimator_name):
    """A 2-D dask array of real numbers from a dask array or DataFrame."""
    if getattr(X, "ndim", None) == 2 and hasattr(X, "to_dask_array"):
        X = _numeric_frame(X, estimator_name)
        X = X.to_dask_array(lengths=True if known_lengths else None)
    elif not isinstance(X, da.Array):
        # A dask Series (1-D) or another collection: give the 2-D advice.
        if getattr(X, "ndim", None) == 1:
            _raise_not_2d(X)
        raise TypeError(
            f"{_name(estimator_name)} accepts a dask array or a dask DataFrame; "
            f"got {type(X).__module__}.{type(X).__name__}."
        )
    if X.ndim != 2:
        _raise_not_2d(X)
    if X.dtype.kind == "c":
        # scikit-learn's own wording for complex input.
        raise ValueError(
            f"Complex data not supported: {_name(estimator_name)} got a dask "
            f"array of dtype {X.dtype}."
        )
    if X.dtype.kind not in _REAL_KINDS:
        raise ValueError(
            f"{_name(estimator_name)} needs real numbers; got a dask array of "
            f"dtype {X.dtype}. Convert it with X.astype(float) if its entries are "
            "numbers."
        )
    if known_lengths and any(np.isnan(size) for size in X.chunks[0]):
        # Weights are aligned by row position, which needs the chunk lengths.
        X = X.compute_chunk_sizes()
    return X


def _numeric_frame(frame, estimator_name):
    """Check that every column is real-valued; nullable columns become float64."""
    # pandas comes with dask[dataframe], which a dask DataFrame implies.
    import pandas as pd

    not_numeric = [
        column
        for column, dtype in frame.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_complex_dtype(dtype)
    ]
    if not_numeric:
        described = ", ".join(f"{c!r} ({frame.dtypes[c]})" for c in not_numeric)
        raise ValueError(
            f"{_name(estimator_name)} needs numeric columns only; the dask "
            f"DataFrame has non-numeric column(s) {described}. Drop them, or "
            "convert them to numbers, before fitting."
        )
    # pandas' nullable dtypes (Int64, Float64, boolean) become object arrays
    # in to_dask_array; as float64 their missing values are NaN, which the
    # finiteness check then reports.
    nullable = {
        column: np.float64
        for column, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.api.extensions.ExtensionDtype)
    }
    return frame.astype(nullable) if nullable else frame


def _aligned_weights(sample_weight, X):
    """Sample weights as a 1-D dask array with the row chunks of ``X``."""
    n_samples, n_features = X.shape
    if hasattr(sample_weight, "to_dask_array"):
        sample_weight = sample_weight.to_dask_array(lengths=True)
    if isinstance(sample_weight, da.Array):
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
            # check_sample_weight raises its message about the shape before it
            # looks at the values, so stand-in ones of the right shape do.
            check_sample_weight(
                np.ones(sample_weight.shape), _shape_only(n_samples, n_features)
            )
        return sample_weight.rechunk((X.chunks[0],))
    # A scalar or an in-memory array: validated whole here, on the client.
    sample_weight = check_sample_weight(
        sample_weight, _shape_only(n_samples, n_features)
    )
    return da.from_array(sample_weight, chunks=(X.chunks[0],))


def _check_not_empty(n_samples, n_features, estimator_name):
    """Raise scikit-learn's message for no samples or no features."""
    if n_samples == 0 or n_features == 0:
        # An empty array costs nothing and check_array words the error.
        check_array(np.empty((int(n_samples), n_features)), estimator=estimator_name)


def _shape_only(n_samples, n_features):
    """A zero-memory array of the shape of X, for shape checks."""
    return np.broadcast_to(np.float64(0.0), (int(n_samples), n_features))


def _raise_not_2d(X):
    """scikit-learn's advice for 1-D input, without computing the data."""
    # A dask Series has no integer shape before it is computed.
    what = f"array of shape {X.shape}" if isinstance(X, da.Array) else "Series"
    raise ValueError(
        f"Expected 2D array, got {X.ndim}D dask {what} instead. "
        "Reshape your data either using array.reshape(-1, 1) if your data has a "
        "single feature or array.reshape(1, -1) if it contains a single sample."
        if X.ndim < 2
        else f"Found array with dim {X.ndim}, while dim <= 2 is required."
    )


def _name(estimator_name):
    return estimator_name or "skvi"
