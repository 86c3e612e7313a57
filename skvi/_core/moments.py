"""The Normal model's fast pass: weight, mean and diagonal scatter of one weight vector.

:func:`weighted_moments_about` computes the sufficient statistics of
:mod:`skvi._core.stats` for one weight vector and a diagonal scatter: ``W``,
``xbar = reference + offset`` and ``S = sum_i w_i (x_i - xbar)**2`` per
feature. Within a block the raw sums ``sum w x`` and ``sum w x**2`` are
cheapest (two BLAS matrix-vector products on a block in cache), but
``S = sum w x**2 - (sum w x)**2 / W`` loses about ``log10(sum w x**2 / S)``
digits to cancellation. Where a block loses more than
``skvi._core.stats._MAX_CANCELLATION`` of them the block is recomputed
centred on its own mean while it is still in cache (a compensated two-pass,
Chan et al. eq. 1.7), and the blocks that follow are summed around that
mean: one subtraction into a buffer in cache instead of a second pass.
Well-scaled data thus pay for one read of X and nothing more; badly scaled
data for one read and one subtraction. Blocks are merged with Chan's
formulas (:func:`skvi._core.stats.merge_moments`).

Finiteness is read off the sums: a NaN or an infinity in X makes a block's sums
non-finite, and only then is the block checked element-wise, to raise the usual
scikit-learn error. Sums that overflow although the data are finite (values
beyond about 1e154) are recomputed on the block scaled, exactly, by a power of
two near its maximum; the block's scaled-back centre then serves as the
reference for its mean, so that such data too are merged without loss.

Threads
-------
Every pass runs on skvi's row-block engine (:mod:`skvi._core.engine`): blocks
whose boundaries depend on X's shape only, each summed by one thread, the
blocks' results merged in block order, so that results are bit-identical
whatever the number of threads. The fast path sums every block around one
shift (none on well-scaled data; else the first block's mean, probed once
before the pass), then checks all blocks at once and recomputes centred only
the blocks that lost digits: a block's Python is two ``numpy.dot`` calls and
a multiplication, and ``numpy.dot`` releases the GIL where a vector-matrix
``matmul`` does not (numpy 2.4), so the pass scales with the cores.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances", Stanford CS report STAN-CS-79-773, 1979.
"""

# SPDX-License-Identifier: BSD-3-Clause

import threading

import numpy as np

from . import engine
from .stats import _TRUSTED_RATIO, _thread_buffers, merge_moments
from .validation import assert_all_finite

# Subtracting a per-feature shift from rows of a few features runs a numpy inner
# loop per row; viewed as rows of about this many values (whole data rows each)
# the same subtraction runs ~1.3x faster.
_SHIFT_ROW_WIDTH = 512


def _block_sums(deviation, weights, buffer):
    """``(sum_i w_i d_i, sum_i w_i d_i**2)`` for each column of a block in cache.

    Both are BLAS matrix-vector products (``weights`` are ones for unit weights),
    several times faster than ``d.sum(axis=0)``, whose inner loop is one row.
    ``numpy.dot``, not ``@``: it releases the GIL for the BLAS call, where
    numpy's vector-matrix ``matmul`` holds it, and so keeps other threads'
    blocks running (:mod:`skvi._core.engine`). ``deviation`` may be ``buffer``
    itself: it is squared in place.
    """
    if deviation.shape[0] == 1:
        # numpy.dot scales a single row by BLAS, which turns 0 * NaN into 0:
        # a NaN in a weightless last row must still show in the sums.
        first = weights[0] * deviation[0]
        return first, first * deviation[0]
    first = np.dot(weights, deviation)
    squares = np.multiply(deviation, deviation, out=buffer[: deviation.shape[0]])
    return first, np.dot(weights, squares)


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


def _overflow_scale(block):
    """Per-column power of two at or below max |x|: scaled values lie within +-2."""
    largest = np.max(np.abs(block), axis=0).astype(np.float64)
    return np.ldexp(1.0, np.frexp(largest)[1] - 1)


def _scaled_block_moments(block, weights, weight, buffer):
    """Moments of a finite block whose squares overflow: scale by max |x| first.

    The scale is a power of two, so that scaling is exact and the centred pass
    on the scaled block keeps every digit of the spread; the one at or below
    max |x| (scaled values within +-2) stays finite even for max |x| ~ 1.8e308.
    Returns the mean as an offset from the block's centre (its rounded mean,
    scaled back exactly), and that centre: a reference that keeps the digits
    of the spread when blocks and chunks far from zero are merged.
    """
    scale = _overflow_scale(block)
    scaled = np.divide(block, scale, dtype=np.float64)
    centre = np.dot(weights, scaled) / weight
    offset, squares = _centred_block_moments(scaled, weights, weight, centre, buffer)
    return offset * scale, squares * scale * scale, centre * scale


def _block_moments(block, weights, weight, shift, buffer, estimator_name=None):
    """Weight, mean and centred sum of squares of one row block.

    The block's sums are taken around ``shift``: raw sums when it is None
    (float64 data read in place, the fast path), else sums of ``x - shift``
    in ``buffer``. When more than ``_MAX_CANCELLATION`` digits cancel, the
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
    rows_per_group = max(1, _SHIFT_ROW_WIDTH // n_features)
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        # NaN or inf in the data make the sums non-finite (0 * inf is NaN even
        # at zero weight) and raise here; finite data whose squares overflowed
        # are recomputed on a scaled copy.
        assert_all_finite(block, input_name="X", estimator_name=estimator_name)
        mean, sum_of_squares, centre = _scaled_block_moments(
            block, weights, weight, buffer
        )
        return mean, sum_of_squares, _tiled(centre, rows_per_group)
    if shift is not None:
        mean += shift[:n_features]
    centre = _tiled(mean, rows_per_group)
    return *_centred_block_moments(block, weights, weight, centre, buffer), centre


def _probe_shift(X, sample_weight, block_rows, estimator_name):
    """The first block's mean if it must be recentred, else None.

    Every block then sums around it, instead of each finding its own: badly
    scaled data pay for one recentred block, not one per block. A function
    of X alone, so results stay independent of the number of threads.
    """
    block = X[:block_rows]
    weights = (
        np.ones(len(block)) if sample_weight is None else sample_weight[:block_rows]
    )
    buffer = np.empty(block.shape, dtype=np.float64)
    _, _, centre = _block_moments(
        block, weights, weights.sum(), None, buffer, estimator_name
    )
    return None if centre is None else centre[: X.shape[1]].copy()


def _rebased(offsets, own_reference, reference):
    """Offsets about ``own_reference`` (None for 0) as offsets about ``reference``."""
    if own_reference is None:
        return offsets - reference
    if own_reference is reference:
        return offsets
    return offsets + (own_reference - reference)


def _default_block_rows(n_samples, n_features, block_rows):
    """Rows per block (:func:`skvi._core.engine.plan`), in whole shift rows."""
    if block_rows is None:
        rows_per_group = max(1, _SHIFT_ROW_WIDTH // n_features)
        # The plan for any number of rows, in whole shift rows, then cut to n.
        block_rows, _ = engine.plan(2**62, n_features)
        block_rows = max(1, block_rows - block_rows % rows_per_group)
    return max(1, min(block_rows, n_samples))


def weighted_moments_about(
    X, sample_weight=None, *, reference=None, block_rows=None, estimator_name=None
):
    """Weight, weighted mean (as reference + offset) and centred sum of squares.

    One pass over ``X`` in row blocks that fit in cache, on all available
    cores (module docstring, "Threads"); accumulation in float64 whatever the
    dtype of ``X``; stable for data far from zero. float64 blocks are summed in
    place until one of them loses too many digits to cancellation; from then
    on each block of the group is summed around the mean of the last block
    that did, in a float64 buffer. float32 blocks are widened into that
    buffer. Block means are kept and merged as offsets from the first such
    mean, so that far from zero they keep the digits of the spread.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data, float32 or float64, already validated for shape and dtype but
        not for finiteness: a NaN or infinity raises ``ValueError`` here.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights; None means unit weights (the fast path).
    reference : ndarray of shape (n_features,), default=None
        The value to give the mean against. By default the mean of the first
        block that needed recentring, or 0 when none did. Passing the
        reference of earlier statistics (``partial_fit``) makes the offsets of
        the two directly comparable, so that their merge loses no digit.
    block_rows : int, default=None
        Rows per block; by default the engine's plan (:func:`skvi._core.engine.plan`).
    estimator_name : str, default=None
        Named in the error raised for NaN or infinite values.

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

    Examples
    --------
    >>> import numpy as np
    >>> from skvi._core.moments import weighted_moments_about
    >>> X = 1e9 + np.array([[1.0], [2.0], [3.0], [6.0]])
    >>> weight, reference, offset, s = weighted_moments_about(X, reference=[1e9])
    >>> weight, offset, s
    (4.0, array([3.]), array([14.]))
    """
    n_samples, n_features = X.shape
    block_rows = _default_block_rows(n_samples, n_features, block_rows)
    rows_per_group = max(1, _SHIFT_ROW_WIDTH // n_features)
    blocks = engine.block_slices(n_samples, block_rows)
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float64)
    ones = np.ones(block_rows) if sample_weight is None else None
    local = threading.local()

    def block_weights(rows):
        if sample_weight is None:
            return ones[: rows.stop - rows.start]
        return sample_weight[rows]

    # Non-finite sums are expected (they flag NaN, inf and overflow): no warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        # One shift for every block: the reference given (partial_fit), else
        # the first block's mean if that block cancels too many digits.
        if reference is not None and reference.any():
            shift = reference
        elif reference is None and len(blocks) > 1:
            shift = _probe_shift(X, sample_weight, block_rows, estimator_name)
        else:
            shift = None
        tiled = None if shift is None else _tiled(shift, rows_per_group)

        def raw_sums(rows):
            (buffer,) = _thread_buffers(local, 1, (block_rows, n_features))
            # numpy's error state is per thread: set in each one.
            with np.errstate(over="ignore", invalid="ignore"):
                return _block_sums(
                    _deviation(X[rows], tiled, buffer), block_weights(rows), buffer
                )

        sums = engine.map_blocks(
            raw_sums, n_samples, block_rows, row_elements=n_features
        )
        first = np.array([part[0] for part in sums])
        second = np.array([part[1] for part in sums])
        weights = (
            np.array([rows.stop - rows.start for rows in blocks], dtype=np.float64)
            if sample_weight is None
            else np.add.reduceat(sample_weight, [rows.start for rows in blocks])
        )
        positive = weights > 0
        means = first / np.where(positive, weights, 1.0)[:, None]
        sums_of_squares = second - first * means
        # The fast path's one test (see _block_moments), for all blocks at once;
        # blocks of zero weight pass when their sums are finite (0 and 0).
        trusted = np.where(
            positive,
            (sums_of_squares * _TRUSTED_RATIO >= second).all(axis=1),
            np.isfinite(first).all(axis=1) & np.isfinite(second).all(axis=1),
        )
        means[~positive] = 0.0
        sums_of_squares[~positive] = 0.0
        # Each block's own reference: the shift, or the centre it was
        # recomputed about (None stands for 0).
        own = [shift] * len(blocks)
        redo = np.flatnonzero(~trusted)

        def recompute(index):
            rows = blocks[redo[index]]
            buffer = np.empty((rows.stop - rows.start, n_features))
            with np.errstate(over="ignore", invalid="ignore"):
                return _block_moments(
                    X[rows],
                    block_weights(rows),
                    weights[redo[index]],
                    tiled,
                    buffer,
                    estimator_name,
                )

        for index, (mean, sum_of_squares, centre) in zip(
            redo, engine.map_tasks(recompute, len(redo)), strict=True
        ):
            means[index], sums_of_squares[index] = mean, sum_of_squares
            if centre is not None:
                own[index] = centre[:n_features]
        if reference is None:
            chosen = [centre for centre in own if centre is not None]
            reference = chosen[0].copy() if chosen else np.zeros(n_features)
        # Each block's mean rebased on the common reference (Sterbenz: exact
        # when the two are close).
        for index, centre in enumerate(own):
            means[index] = _rebased(means[index], centre, reference)
        weight, offset, sum_of_squares = (
            (float(weights[0]), means[0], sums_of_squares[0])
            if len(weights) == 1
            else merge_moments(weights, means, sums_of_squares)
        )
    return weight, reference, offset, sum_of_squares
