"""Weighted sufficient statistics: one stable pass over the data, exact merges.

The Normal model needs, per feature, only the total weight ``W = sum_i w_i``, the
weighted mean ``xbar = sum_i w_i x_i / W`` and the weighted centred sum of squares
``S = sum_i w_i (x_i - xbar)**2``. This module computes them in a single pass over
row blocks that fit in cache, and merges partial results (blocks, ``partial_fit``
chunks, dask chunks) with the parallel formulas of Chan, Golub & LeVeque (1979):

    W   = sum_k W_k
    xbar = sum_k W_k xbar_k / W
    S   = sum_k S_k + sum_k W_k (xbar_k - xbar)**2

Within a block the raw sums ``sum w x`` and ``sum w x**2`` are cheapest (two BLAS
matrix-vector products on a block in cache), but
``S = sum w x**2 - (sum w x)**2 / W`` loses about ``log10(sum w x**2 / S)`` digits
to cancellation. Where a block loses more than :data:`_MAX_CANCELLATION` of them
(data far from zero relative to their spread, e.g. ``1e9 + Normal(0, 1)``) the
block is recomputed centred on its own mean while it is still in cache (a
compensated two-pass, Chan et al. eq. 1.7), and the blocks that follow are summed
around that mean: one subtraction into a buffer in cache instead of a second
pass. Block means are merged as offsets from it, so that no digit of the spread
is rounded away with the means. Well-scaled data thus pay for one read of X and
nothing more; badly scaled data for one read and one subtraction.

Finiteness is read off the sums: a NaN or an infinity in X makes a block's sums
non-finite, and only then is the block checked element-wise, to raise the usual
scikit-learn error. Sums that overflow although the data are finite (values
beyond about 1e154) are recomputed on the block scaled, exactly, by a power of
two near its maximum.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances", Stanford CS report STAN-CS-79-773, 1979.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from ._validation import assert_all_finite

# Elements per row block: 2**16 float64 values (512 KiB), plus a float64 buffer of
# the same size, stay in a core's L2 cache (2 MiB on the benchmark machine) with
# room to spare; 2**15 to 2**17 measure alike (benchmarks/README.md).
_BLOCK_ELEMENTS = 2**16

# A block's raw-sum centred sum of squares is trusted while
# sum w x**2 / S <= 10**_MAX_CANCELLATION, i.e. at most that many of float64's
# ~16 digits are lost; past it the block is recomputed centred.
_MAX_CANCELLATION = 4
_TRUSTED_RATIO = 10.0**_MAX_CANCELLATION

# Subtracting a per-feature shift from rows of a few features runs a numpy inner
# loop per row; viewed as rows of about this many values (whole data rows each)
# the same subtraction runs ~1.3x faster.
_SHIFT_ROW_WIDTH = 512


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
    if total == 0:
        return 0.0, np.zeros(means.shape[1]), np.zeros(means.shape[1])
    share = weights / total
    # The weighted mean of the means, then the spread of the means around it
    # (a second pass over n_parts values, not over the data).
    mean = share @ means
    spread = means - mean
    spread[weights == 0] = 0.0
    sum_of_squares = sums_of_squares.sum(axis=0) + weights @ (spread * spread)
    return float(total), mean, sum_of_squares


def merge_moments_about(weights, references, offsets, sums_of_squares):
    """Merge parts whose means are each given as ``reference + offset``.

    The offsets are rebased on one reference (the first part of positive
    weight's) as ``(reference_k - reference) + offset_k`` and merged by
    :func:`merge_moments`. Far from zero (``1e9 + Normal(0, 1)``), references
    of neighbouring parts are close, their difference is exact (Sterbenz's
    lemma), and the offsets keep the digits of the spread that means rounded
    to float64 would lose: the merge is then as exact as one pass.

    Parameters
    ----------
    weights : array-like of shape (n_parts,)
        Total weight of each part.
    references, offsets : array-like of shape (n_parts, n_features)
        Each part's mean is ``references[k] + offsets[k]``.
    sums_of_squares : array-like of shape (n_parts, n_features)
        Weighted centred sum of squares of each part.

    Returns
    -------
    weight : float
    reference, offset : ndarray of shape (n_features,)
        The merged mean is ``reference + offset``.
    sum_of_squares : ndarray of shape (n_features,)
    """
    weights = np.asarray(weights, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    positive = np.flatnonzero(weights > 0)
    reference = references[positive[0] if positive.size else 0]
    rebased = (references - reference) + np.asarray(offsets, dtype=np.float64)
    weight, offset, sum_of_squares = merge_moments(weights, rebased, sums_of_squares)
    return weight, reference, offset, sum_of_squares


def _block_sums(deviation, weights, buffer):
    """``(sum_i w_i d_i, sum_i w_i d_i**2)`` for each column of a block in cache.

    Both are BLAS matrix-vector products (``weights`` are ones for unit weights),
    several times faster than ``d.sum(axis=0)``, whose inner loop is one row.
    ``deviation`` may be ``buffer`` itself: it is squared in place.
    """
    first = weights @ deviation
    squares = np.multiply(deviation, deviation, out=buffer[: deviation.shape[0]])
    return first, weights @ squares


def _deviation(block, shift, buffer):
    """``block - shift`` in float64: the block itself, or written to ``buffer``.

    ``shift`` is None (no shift) or the per-feature shift tiled over whole data
    rows, ``_SHIFT_ROW_WIDTH`` values or so (see :func:`_tiled`).
    """
    n_rows, n_features = block.shape
    if shift is None and block.dtype == np.float64:
        return block
    deviation = buffer[:n_rows]
    if block.dtype != np.float64:
        # A plain widening copy, then a float64 subtraction in cache, is ~2x
        # faster than one mixed-dtype subtraction.
        np.copyto(deviation, block)
        block = deviation
    if shift is None:
        return deviation
    if block.size % shift.size == 0 and block.flags.c_contiguous:
        width = shift.size
        np.subtract(block.reshape(-1, width), shift, out=deviation.reshape(-1, width))
    else:
        np.subtract(block, shift[:n_features], out=deviation)
    return deviation


def _tiled(shift, rows_per_group):
    """The per-feature ``shift`` repeated for ``rows_per_group`` data rows."""
    return np.tile(shift, rows_per_group)


def _centred_block_moments(block, weights, weight, centre, buffer):
    """Moments of one block by a compensated two-pass around ``centre``.

    ``S = sum w d**2 - (sum w d)**2 / W`` with ``d = x - centre``: with
    ``centre`` the block's (rounded) mean, the correction term removes the
    rounding error of that mean (Chan et al. eq. 1.7). Returns the mean as an
    offset from ``centre``, which keeps the digits that ``centre + offset``
    would round away far from zero.
    """
    deviation = _deviation(block, centre, buffer)
    correction, squares = _block_sums(deviation, weights, buffer)
    return correction / weight, squares - correction * correction / weight


def _scaled_block_moments(block, weights, weight, buffer):
    """Moments of a finite block whose squares overflow: scale by max |x| first.

    The scale is a power of two, so that scaling is exact and the centred pass
    on the scaled block keeps every digit of the spread; the one at or below
    max |x| (scaled values within +-2) stays finite even for max |x| ~ 1.8e308.
    """
    largest = np.max(np.abs(block), axis=0).astype(np.float64)
    scale = np.ldexp(1.0, np.frexp(largest)[1] - 1)
    scaled = np.divide(block, scale, dtype=np.float64)
    centre = (weights @ scaled) / weight
    offset, squares = _centred_block_moments(scaled, weights, weight, centre, buffer)
    return (centre + offset) * scale, squares * scale * scale


def _block_moments(block, weights, weight, shift, buffer, estimator_name=None):
    """Weight, mean and centred sum of squares of one row block.

    The block's sums are taken around ``shift``: raw sums when it is None
    (float64 data read in place, the fast path), else sums of ``x - shift``
    in ``buffer``. When more than :data:`_MAX_CANCELLATION` digits cancel, the
    block is recomputed centred on its own mean while it is in cache.

    Parameters
    ----------
    block : ndarray of shape (n_rows, n_features)
        Rows of X, float32 or float64.
    weights : ndarray of shape (n_rows,), float64
        Sample weights of these rows (ones for unit weights).
    weight : float
        Their sum.
    shift : ndarray of shape (k * n_features,) or None
        Per-feature shift tiled over ``k`` rows (see :func:`_tiled`), or None.
    buffer : ndarray of shape (>= n_rows, n_features), float64
        Scratch space, reused across blocks.
    estimator_name : str, default=None
        Named in the error raised for NaN or infinite values.

    Returns
    -------
    mean : ndarray of shape (n_features,)
        The block's mean, as an offset from ``centre`` if that is not None,
        else from ``shift`` (from 0 if ``shift`` is None).
    sum_of_squares : ndarray of shape (n_features,)
    centre : ndarray of shape (k * n_features,) or None
        The block's rounded mean, tiled like ``shift``, if the block was
        recomputed around it: a better shift for the blocks that follow.
    """
    n_features = block.shape[1]
    if weight == 0.0:
        # Nothing to learn from these rows, but they must still be finite.
        if not np.isfinite(block.sum(dtype=np.float64)):
            assert_all_finite(block, input_name="X", estimator_name=estimator_name)
        return np.zeros(n_features), np.zeros(n_features), None
    first, second = _block_sums(_deviation(block, shift, buffer), weights, buffer)
    mean = first / weight
    sum_of_squares = second - first * mean
    # One test on the fast path: fewer than _MAX_CANCELLATION digits lost and
    # S >= 0 (columns with second == 0 are exact and pass); it also fails on
    # the NaN that non-finite sums leave in sum_of_squares.
    if (sum_of_squares * _TRUSTED_RATIO >= second).all():
        return mean, sum_of_squares, None
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        # NaN or inf in the data make the sums non-finite (0 * inf is NaN even
        # at zero weight) and raise here; finite data whose squares overflowed
        # are recomputed on a scaled copy.
        assert_all_finite(block, input_name="X", estimator_name=estimator_name)
        mean, sum_of_squares = _scaled_block_moments(block, weights, weight, buffer)
        if shift is not None:
            mean -= shift[:n_features]
        return mean, sum_of_squares, None
    if shift is not None:
        mean += shift[:n_features]
    centre = _tiled(mean, max(1, _SHIFT_ROW_WIDTH // n_features))
    return *_centred_block_moments(block, weights, weight, centre, buffer), centre


def weighted_moments(X, sample_weight=None, *, block_rows=None, estimator_name=None):
    """Weight, weighted mean and weighted centred sum of squares of each column.

    ``(W, reference + offset, S)`` of :func:`weighted_moments_about`: see there.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi._stats import weighted_moments
    >>> X = 1e9 + np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> weight, mean, sum_of_squares = weighted_moments(X)
    >>> weight, mean - 1e9, sum_of_squares
    (2.0, array([2., 4.]), array([2., 8.]))
    """
    weight, reference, offset, sum_of_squares = weighted_moments_about(
        X, sample_weight, block_rows=block_rows, estimator_name=estimator_name
    )
    return weight, reference + offset, sum_of_squares


def weighted_moments_about(
    X, sample_weight=None, *, reference=None, block_rows=None, estimator_name=None
):
    """Weight, weighted mean (as reference + offset) and centred sum of squares.

    One pass over ``X`` in row blocks that fit in cache; accumulation in float64
    whatever the dtype of ``X``; stable for data far from zero. float64 blocks
    are summed in place until one of them loses too many digits to
    cancellation; from then on each block is summed around the mean of the
    last block that did, in a float64 buffer. float32 blocks are widened into
    that buffer. Block means are kept and merged as offsets from the first such
    mean, so that far from zero they keep the digits of the spread.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data, float32 or float64, already validated for shape and dtype but
        not for finiteness: a NaN or infinity raises ``ValueError`` here.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights; None means unit weights (the fast path).
    block_rows : int, default=None
        Rows per block; by default about :data:`_BLOCK_ELEMENTS` elements a block.
    estimator_name : str, default=None
        Named in the error raised for NaN or infinite values.
    reference : ndarray of shape (n_features,), default=None
        The value to give the mean against. By default the mean of the first
        block that needed recentring, or 0 when none did. Passing the
        reference of earlier statistics (``partial_fit``) makes the offsets of
        the two directly comparable, so that their merge loses no digit.

    Returns
    -------
    weight : float
        Total weight ``W``.
    reference : ndarray of shape (n_features,)
        The reference, given or chosen.
    offset : ndarray of shape (n_features,)
        ``xbar - reference``, with the digits that ``xbar`` itself, rounded to
        float64, would lose far from zero.
    sum_of_squares : ndarray of shape (n_features,)
        Weighted centred sum of squares ``S``.
    """
    n_samples, n_features = X.shape
    rows_per_group = max(1, _SHIFT_ROW_WIDTH // n_features)
    if block_rows is None:
        # Whole groups of rows, so that shifts subtract along long rows.
        block_rows = _BLOCK_ELEMENTS // n_features
        block_rows = max(1, block_rows - block_rows % rows_per_group)
    block_rows = max(1, min(block_rows, n_samples))
    buffer = np.empty((block_rows, n_features), dtype=np.float64)
    ones = np.ones(block_rows)
    # Block means come back as offsets from `shift` (from 0 while it is None)
    # and are stored as offsets from `reference` (from 0 while it is None);
    # `shift_offset` is `shift - reference`, None when that is 0.
    chosen = reference is None
    shift = None
    shift_offset = None if chosen else -np.asarray(reference, dtype=np.float64)
    n_blocks = -(-n_samples // block_rows)
    weights = np.empty(n_blocks)
    means = np.empty((n_blocks, n_features))
    sums_of_squares = np.empty((n_blocks, n_features))
    # Non-finite sums are expected (they flag NaN, inf and overflow): no warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for k, start in enumerate(range(0, n_samples, block_rows)):
            block = X[start : start + block_rows]
            if sample_weight is None:
                block_weights = ones[: block.shape[0]]
                weights[k] = block.shape[0]
            else:
                block_weights = sample_weight[start : start + block_rows]
                weights[k] = block_weights.sum()
            mean, sums_of_squares[k], centre = _block_moments(
                block, block_weights, weights[k], shift, buffer, estimator_name
            )
            if centre is not None:
                shift = _tiled(centre[:n_features], rows_per_group)
                if chosen and reference is None:
                    reference = centre[:n_features]
                    means[:k] -= reference
                    shift_offset = None
                else:
                    shift_offset = centre[:n_features] - reference
            means[k] = mean if shift_offset is None else mean + shift_offset
        weight, mean, sum_of_squares = (
            (float(weights[0]), means[0], sums_of_squares[0])
            if n_blocks == 1
            else merge_moments(weights, means, sums_of_squares)
        )
    if reference is None:
        reference = np.zeros(n_features)
    return weight, np.asarray(reference, dtype=np.float64), mean, sum_of_squares
