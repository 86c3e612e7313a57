"""Weighted sufficient statistics: one stable pass over the data, exact merges.

The Normal model needs, per feature, only the total weight ``W = sum_i w_i``, the
weighted mean ``xbar = sum_i w_i x_i / W`` and the weighted centred sum of squares
``S = sum_i w_i (x_i - xbar)**2``. This module computes them in a single pass over
row blocks that fit in cache, and merges partial results (blocks, ``partial_fit``
chunks, dask chunks) with the parallel formulas of Chan, Golub & LeVeque (1979):

    W   = sum_k W_k
    xbar = sum_k W_k xbar_k / W
    S   = sum_k S_k + sum_k W_k (xbar_k - xbar)**2

Within a block the raw sums ``sum w x`` and ``sum w x**2`` are cheapest, but
``S = sum w x**2 - (sum w x)**2 / W`` loses about ``log10(sum w x**2 / S)`` digits
to cancellation. Where a block loses more than :data:`_MAX_CANCELLATION` of them
(data far from zero relative to their spread, e.g. ``1e9 + Normal(0, 1)``) the
block is recomputed centred on its own mean while it is still in cache
(a compensated two-pass, Chan et al. eq. 1.7). Well-scaled data thus pay for one
read of X; badly scaled data pay for a second read from cache, never from memory.

Finiteness is read off the sums: a NaN or an infinity in X makes a block's sums
non-finite, and only then is the block checked element-wise, to raise the usual
scikit-learn error. Sums that overflow although the data are finite (values
beyond about 1e154) are recomputed on data scaled by their maximum.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances", Stanford CS report STAN-CS-79-773, 1979.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from ._validation import assert_all_finite

# Elements per row block: 2**17 float64 values (1 MiB) stay in L2 cache.
_BLOCK_ELEMENTS = 2**17

# A block's raw-sum centred sum of squares is trusted while
# sum w x**2 / S < 10**_MAX_CANCELLATION, i.e. at most that many of float64's
# ~16 digits are lost; past it the block is recomputed centred.
_MAX_CANCELLATION = 4


def merge_moments(weights, means, sums_of_squares):
    """Merge the moments of disjoint parts of a data set (Chan et al., 1979).

    Parts of zero weight contribute nothing, whatever their mean.

    Parameters
    ----------
    weights : ndarray of shape (n_parts,)
        Total weight of each part.
    means : ndarray of shape (n_parts, n_features)
        Weighted mean of each part.
    sums_of_squares : ndarray of shape (n_parts, n_features)
        Weighted centred sum of squares of each part.

    Returns
    -------
    weight : float
        Total weight.
    mean : ndarray of shape (n_features,)
        Weighted mean of the union.
    sum_of_squares : ndarray of shape (n_features,)
        Weighted centred sum of squares of the union.
    """
    weights = np.asarray(weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    sums_of_squares = np.asarray(sums_of_squares, dtype=np.float64)
    total = weights.sum()
    share = weights / total
    # The weighted mean of the means, then the spread of the means around it
    # (a second pass over n_parts values, not over the data).
    mean = share @ means
    spread = means - mean
    spread[weights == 0] = 0.0
    sum_of_squares = sums_of_squares.sum(axis=0) + weights @ (spread * spread)
    return float(total), mean, sum_of_squares


def _centred_block_moments(block, weights, buffer):
    """Moments of one block by a compensated two-pass, centred on the block mean.

    ``S = sum w d**2 - (sum w d)**2 / W`` with ``d = x - mean``: the correction
    term removes the rounding error of the first-pass mean (Chan et al. eq. 1.7).
    """
    weight = block.shape[0] if weights is None else weights.sum()
    first = block.sum(axis=0, dtype=np.float64) if weights is None else weights @ block
    mean = first / weight
    deviation = np.subtract(block, mean, out=buffer[: block.shape[0]])
    if weights is None:
        correction = deviation.sum(axis=0)
        squares = np.einsum("ij,ij->j", deviation, deviation)
    else:
        correction = weights @ deviation
        squares = weights @ np.multiply(deviation, deviation, out=deviation)
    return mean + correction / weight, squares - correction * correction / weight


def _scaled_block_moments(block, weights, buffer):
    """Moments of a finite block whose squares overflow: scale by max |x| first."""
    scale = np.max(np.abs(block), axis=0)
    scale[scale == 0] = 1.0
    scaled = np.divide(block, scale, out=np.empty(block.shape, dtype=np.float64))
    mean, squares = _centred_block_moments(scaled, weights, buffer)
    with np.errstate(over="ignore"):
        return mean * scale, squares * scale * scale


def _block_moments(block, weights, buffer, estimator_name=None):
    """Weight, mean and centred sum of squares of one row block.

    Parameters
    ----------
    block : ndarray of shape (n_rows, n_features)
        Rows of X, float32 or float64.
    weights : ndarray of shape (n_rows,) or None
        Sample weights of these rows, None for unit weights.
    buffer : ndarray of shape (>= n_rows, n_features), float64
        Scratch space, reused across blocks.
    estimator_name : str, default=None
        Named in the error raised for NaN or infinite values.

    Returns
    -------
    weight : float
    mean, sum_of_squares : ndarray of shape (n_features,)
    """
    if weights is None:
        weight = float(block.shape[0])
        first = block.sum(axis=0, dtype=np.float64)
        if block.dtype == np.float64:
            second = np.einsum("ij,ij->j", block, block)
        else:
            second = np.einsum("ij,ij->j", block, block, dtype=np.float64)
    else:
        weight = float(weights.sum())
        if weight == 0.0:
            # Nothing to learn from these rows, but they must still be finite.
            if not np.isfinite(block.sum(dtype=np.float64)):
                assert_all_finite(block, input_name="X", estimator_name=estimator_name)
            return 0.0, np.zeros(block.shape[1]), np.zeros(block.shape[1])
        first = weights @ block
        squares = np.multiply(
            block, block, out=buffer[: block.shape[0]], dtype=np.float64
        )
        second = weights @ squares

    with np.errstate(over="ignore", invalid="ignore"):
        mean = first / weight
        sum_of_squares = second - first * mean
    if not (np.isfinite(second).all() and np.isfinite(first).all()):
        # NaN or inf in the data raises here; finite data that overflowed
        # are recomputed on a scaled copy.
        assert_all_finite(block, input_name="X", estimator_name=estimator_name)
        return (weight, *_scaled_block_moments(block, weights, buffer))
    # Cancellation check: fewer than _MAX_CANCELLATION digits lost, and S >= 0
    # (all-zero columns, second == 0, are exact).
    trusted = (sum_of_squares * 10.0**_MAX_CANCELLATION > second) | (second == 0)
    if not trusted.all():
        mean, sum_of_squares = _centred_block_moments(block, weights, buffer)
    return weight, mean, sum_of_squares


def weighted_moments(X, sample_weight=None, *, block_rows=None, estimator_name=None):
    """Weight, weighted mean and weighted centred sum of squares of each column.

    One pass over ``X`` in row blocks that fit in cache; accumulation in float64
    whatever the dtype of ``X``; stable for data far from zero.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data, float32 or float64, already validated for shape and dtype but
        not for finiteness: a NaN or infinity raises ``ValueError`` here.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights; None means unit weights (the fast path).
    block_rows : int, default=None
        Rows per block; by default about 2**17 elements a block.
    estimator_name : str, default=None
        Named in the error raised for NaN or infinite values.

    Returns
    -------
    weight : float
        Total weight ``W``.
    mean : ndarray of shape (n_features,)
        Weighted mean ``xbar``.
    sum_of_squares : ndarray of shape (n_features,)
        Weighted centred sum of squares ``S``.
    """
    n_samples, n_features = X.shape
    if block_rows is None:
        block_rows = max(1, _BLOCK_ELEMENTS // n_features)
    block_rows = min(block_rows, n_samples)
    buffer = np.empty((block_rows, n_features), dtype=np.float64)
    n_blocks = -(-n_samples // block_rows)
    weights = np.empty(n_blocks)
    means = np.empty((n_blocks, n_features))
    sums_of_squares = np.empty((n_blocks, n_features))
    for k, start in enumerate(range(0, n_samples, block_rows)):
        rows = slice(start, start + block_rows)
        block_weights = None if sample_weight is None else sample_weight[rows]
        weights[k], means[k], sums_of_squares[k] = _block_moments(
            X[rows], block_weights, buffer, estimator_name
        )
    if n_blocks == 1:
        return float(weights[0]), means[0], sums_of_squares[0]
    with np.errstate(over="ignore", invalid="ignore"):
        return merge_moments(weights, means, sums_of_squares)
