"""Weighted sufficient statistics: one stable pass over the data, exact merges.

A Normal factor of a model needs, per component ``k``, only the total weight
``W_k = sum_i w_i r_ik``, the weighted mean ``xbar_k = sum_i w_i r_ik x_i / W_k``
and the weighted centred scatter
``S_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T`` (its diagonal alone for
a diagonal model). ``w`` are sample weights and ``r`` the
responsibilities of a mixture's E-step (a single column of ones for a plain
weight vector). :class:`SufficientStatistics` holds them, with the mean kept as
``reference + offset`` (see below); :func:`sufficient_statistics` computes them in
a single pass over row blocks that fit in cache, all components at once with
matrix products; partial results (blocks, ``partial_fit`` chunks, dask chunks)
are merged with the parallel formulas of Chan, Golub & LeVeque (1979):

    W_k    = sum_p W_pk
    xbar_k = sum_p W_pk xbar_pk / W_k
    S_k    = sum_p S_pk + sum_p W_pk (xbar_pk - xbar_k)(xbar_pk - xbar_k)^T

Far from zero (``1e9 + Normal(0, 1)``) a mean rounded to float64 loses the
digits of the spread, so means are kept and merged as offsets from a common
reference point: ``xbar_pk - xbar_k`` is then computed from small offsets and
keeps every digit. A part's own reference is rebased on the common one as
``(reference_p - reference) + offset_p``, exact when the two are close
(Sterbenz's lemma). Where the squares of the spread of the means would
overflow, the spread is scaled, exactly, by a power of two first.

The Normal model's fast path, :func:`weighted_moments_about` (one weight
vector, diagonal scatter): within a block the raw sums ``sum w x`` and
``sum w x**2`` are cheapest (two BLAS matrix-vector products on a block in
cache), but ``S = sum w x**2 - (sum w x)**2 / W`` loses about
``log10(sum w x**2 / S)`` digits to cancellation. Where a block loses more than
:data:`_MAX_CANCELLATION` of them the block is recomputed centred on its own
mean while it is still in cache (a compensated two-pass, Chan et al. eq. 1.7),
and the blocks that follow are summed around that mean: one subtraction into a
buffer in cache instead of a second pass. Well-scaled data thus pay for one
read of X and nothing more; badly scaled data for one read and one subtraction.
The general path (responsibilities, or a full scatter) sums each block around
its weighted mean, then recomputes centred, per component, only what
cancelled (diagonal) or always (full: one small matrix product per component,
which measured as fast as one stacked product over all components and needs
no K-fold buffer); blocks are merged per component about that component's own
first centre, so that well separated components far from the common reference
keep every digit of their spread.

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
from dataclasses import dataclass

import numpy as np

from . import engine
from .validation import assert_all_finite

# A block's raw-sum centred sum of squares is trusted while
# sum w x**2 / S <= 10**_MAX_CANCELLATION, i.e. at most that many of float64's
# ~16 digits are lost; past it the block is recomputed centred.
_MAX_CANCELLATION = 4
_TRUSTED_RATIO = 10.0**_MAX_CANCELLATION

# Statistics that no exact scaling of the block brings into float64's range.
_UNREPRESENTABLE = (
    "The statistics of X are not representable in float64: its weights or "
    "responsibilities are NaN or overflow even with X and the weights scaled "
    "exactly (data whose spread is far below the scale of the model's "
    "components, about 1e-150 or less, or weights near 1e308). Rescale X (e.g. "
    "sklearn.preprocessing.StandardScaler), or divide sample_weight by a "
    "common factor."
)

# Subtracting a per-feature shift from rows of a few features runs a numpy inner
# loop per row; viewed as rows of about this many values (whole data rows each)
# the same subtraction runs ~1.3x faster.
_SHIFT_ROW_WIDTH = 512


# --------------------------------------------------------------------------
# Merges


# Entries of a between-part factor below this size, and above its inverse,
# have products (and sums of a few) in float64's normal range.
_UNSCALED_LIMIT = 2.0**450


def _power_of_two_above(values):
    """The least power of two >= ``values`` (1 where a value is 0): exact scales."""
    return np.ldexp(1.0, np.frexp(values)[1])


def _between_diagonal(weights, spread):
    """``sum_p W_pk (d_pk)**2`` per component and feature."""
    scale = _power_of_two_above(np.max(np.abs(spread), axis=0))
    unit = spread / scale
    return np.einsum("pk,pkd->kd", weights, unit * unit) * scale * scale


def _between_full(weights, spread):
    """``sum_p W_pk d_pk d_pk^T`` per component.

    With ``B_k = diag(sqrt W_.k) d_.k``, shape (n_parts, d), the sum is
    ``B_k^T B_k``, which numpy.dot gives to BLAS syrk (one triangle, mirrored:
    exactly symmetric); einsum's loop over the same sum took 30x longer at
    d = 1000. Where an entry of B is beyond 2**+-450 (its products could
    leave float64's normal range) each feature is first divided by a power of
    two (exact) and the products multiplied back: elsewhere the two agree to
    the bit, and the scaling's two passes over the (K, d, d) result are saved.
    """
    rooted = np.sqrt(weights).T[:, :, None] * np.swapaxes(spread, 0, 1)
    size = np.abs(rooted)
    scaled = size.max() > _UNSCALED_LIMIT or np.any(
        (size < 1.0 / _UNSCALED_LIMIT) & (size > 0.0)
    )
    if scaled:
        scale = _power_of_two_above(np.max(np.abs(spread), axis=0))
        rooted = np.sqrt(weights).T[:, :, None] * np.swapaxes(spread / scale, 0, 1)
    K, _, d = rooted.shape
    between = np.empty((K, d, d))
    for k in range(K):
        np.dot(rooted[k].T, rooted[k], out=between[k])
    if scaled:
        between *= scale[:, :, None]
        between *= scale[:, None, :]
    return between


_BETWEEN = {1: _between_diagonal, 2: _between_full}


def _chan_merge(weights, offsets, scatter_sum):
    """Merge parts about a common reference (Chan et al., 1979).

    ``W_k = sum_p W_pk``, ``o_k = sum_p W_pk o_pk / W_k`` and
    ``S_k = sum_p S_pk + sum_p W_pk (o_pk - o_k)(o_pk - o_k)^T``, where the
    offsets ``o`` are means minus the common reference. The spreads
    ``o_pk - o_k`` are scaled by a power of two before they are squared, so
    that the squares neither overflow nor underflow (the scaling is exact).
    Parts of zero weight contribute nothing, whatever their offset.

    Parameters
    ----------
    weights : ndarray of shape (n_parts, n_components)
    offsets : ndarray of shape (n_parts, n_components, n_features)
    scatter_sum : ndarray of shape (n_components, n_features) or \
            (n_components, n_features, n_features)
        ``sum_p S_pk``, summed by the caller in its own (deterministic) order.

    Returns
    -------
    weight : ndarray of shape (n_components,)
    offset : ndarray of shape (n_components, n_features)
    scatter : ndarray, shaped like ``scatter_sum``
    """
    total = weights.sum(axis=0)
    if weights.shape[0] == 1:
        # One part: its own offset and scatter (the between-part term is 0);
        # at d = 1000 that term was K d x d products of zeros per E-step.
        return (
            total,
            np.where(weights[0][:, None] > 0, offsets[0], 0.0),
            scatter_sum.copy(),
        )
    share = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    weighted = (weights > 0)[:, :, None]
    offsets = np.where(weighted, offsets, 0.0)
    offset = np.einsum("pk,pkd->kd", share, offsets)
    spread = np.where(weighted, offsets - offset, 0.0)
    between = _BETWEEN[scatter_sum.ndim - 1](weights, spread)
    # Into the fresh between-part array: no third (K, d, d) array at d = 1000.
    between += scatter_sum
    return total, offset, between


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

    Examples
    --------
    >>> import numpy as np
    >>> from skvi._core.stats import merge_moments
    >>> merge_moments([2.0, 1.0], [[1.0], [4.0]], [[2.0], [0.0]])
    (3.0, array([2.]), array([8.]))
    """
    weights = np.asarray(weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    sums_of_squares = np.asarray(sums_of_squares, dtype=np.float64)
    total, mean, sum_of_squares = _chan_merge(
        weights[:, None], means[:, None, :], sums_of_squares.sum(axis=0)[None]
    )
    return float(total[0]), mean[0], sum_of_squares[0]


def _common_reference(weights, references):
    """The reference of the first part of positive weight (else of the first)."""
    positive = np.flatnonzero(weights > 0)
    return references[positive[0] if positive.size else 0]


def merge_moments_about(weights, references, offsets, sums_of_squares):
    """Merge parts whose means are each given as ``reference + offset``.

    The offsets are rebased on one reference (the first part of positive
    weight's) as ``(reference_k - reference) + offset_k`` and merged by
    :func:`merge_moments`. Far from zero (``1e9 + Normal(0, 1)``, or
    ``1e160 + 1e145 Normal(0, 1)``), references of neighbouring parts are
    close, their difference is exact (Sterbenz's lemma), and the offsets keep
    the digits of the spread that means rounded to float64 would lose: the
    merge is then as exact as one pass.

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

    Examples
    --------
    >>> import numpy as np
    >>> from skvi._core.stats import merge_moments_about
    >>> weight, reference, offset, s = merge_moments_about(
    ...     [1.0, 1.0], [[1e9], [1e9 + 2.0]], [[0.5], [-0.5]], [[0.0], [0.0]]
    ... )
    >>> weight, reference - 1e9, offset, s
    (2.0, array([0.]), array([1.]), array([0.5]))
    """
    weights = np.asarray(weights, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    reference = _common_reference(weights, references)
    rebased = (references - reference) + np.asarray(offsets, dtype=np.float64)
    weight, offset, sum_of_squares = merge_moments(weights, rebased, sums_of_squares)
    return weight, reference, offset, sum_of_squares


# --------------------------------------------------------------------------
# The statistics as one type


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """Total weight, mean and scatter of each component, with exact merges.

    The sufficient statistics of a Normal factor, for each of ``K`` components
    (``K = 1`` for a plain weight vector): ``W_k = sum_i w_i r_ik``, the mean
    ``xbar_k = reference + offset[k]`` and the scatter
    ``S_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T`` (its diagonal for a
    diagonal model). Keeping the mean as a shared reference plus per-component
    offsets keeps, far from zero, the digits a rounded mean would lose
    (module docstring).

    Attributes
    ----------
    weight : ndarray of shape (n_components,)
        Total weight of each component.
    reference : ndarray of shape (n_features,)
        The common reference point.
    offset : ndarray of shape (n_components, n_features)
        Each component's weighted mean minus ``reference``.
    scatter : ndarray of shape (n_components, n_features) or \
            (n_components, n_features, n_features)
        Weighted centred scatter: diagonal or full.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi._core.stats import sufficient_statistics
    >>> X = np.array([[1.0], [2.0], [3.0], [4.0]])
    >>> a = sufficient_statistics(X[:2])
    >>> b = sufficient_statistics(X[2:])
    >>> merged = a.merge(b)
    >>> merged.weight, merged.mean, merged.scatter
    (array([4.]), array([[2.5]]), array([[5.]]))
    >>> merged.scaled(0.5).weight
    array([2.])
    """

    weight: np.ndarray
    reference: np.ndarray
    offset: np.ndarray
    scatter: np.ndarray

    @property
    def mean(self):
        """Weighted mean of each component, ``reference + offset``, shape (K, d)."""
        return self.reference + self.offset

    def merge(self, other):
        """The statistics of the union of two disjoint data sets (exact Chan merge)."""
        return SufficientStatistics.merge_all([self, other])

    def scaled(self, factor):
        """Weight and scatter times ``factor``, mean unchanged (SVI's rescaling)."""
        return SufficientStatistics(
            self.weight * factor, self.reference, self.offset, self.scatter * factor
        )

    @staticmethod
    def merge_all(parts):
        """Merge any number of parts, in the order given (so deterministically).

        The common reference is that of the first part of positive total
        weight; the others' offsets are rebased on it.
        """
        parts = list(parts)
        weights = np.stack([part.weight for part in parts])
        references = np.stack([part.reference for part in parts])
        reference = _common_reference(weights.sum(axis=1), references)
        offsets = np.stack(
            [(part.reference - reference) + part.offset for part in parts]
        )
        scatter_sum = parts[0].scatter
        for part in parts[1:]:
            scatter_sum = scatter_sum + part.scatter
        weight, offset, scatter = _chan_merge(weights, offsets, scatter_sum)
        return SufficientStatistics(weight, reference, offset, scatter)


# --------------------------------------------------------------------------
# The fast path: one weight vector, diagonal scatter


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


def _thread_buffers(local, count, shape):
    """``count`` float64 scratch arrays of ``shape``, one set per thread."""
    buffers = getattr(local, "buffers", None)
    if buffers is None:
        buffers = local.buffers = [np.empty(shape) for _ in range(count)]
    return buffers


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
    >>> from skvi._core.stats import weighted_moments_about
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


# --------------------------------------------------------------------------
# The general path: responsibilities (n_samples, K), diagonal or full scatter


def _centred_component(block, column, weight, centre, centred):
    """``(offset, E)`` of one component about ``centre``, compensated.

    ``E = x - centre`` (one subtraction from the data, so that far from zero
    no digit of the spread is lost to a rounded intermediate shift), and the
    offset ``c / W_k`` with ``c = r_k^T E``, which removes the rounding error
    of ``centre`` (Chan et al. eq. 1.7).
    """
    np.subtract(block, centre, out=centred)
    correction = np.dot(column, centred)
    return correction, centred


def _diagonal_scatter(block, responsibilities, weight, centre, buffers):
    """``S_kj = sum_i r_ik (x_ij - xbar_kj)**2`` for all components at once.

    Raw sums about the block's weighted mean ``m`` (``d = x - m``):
    ``r^T (d * d) - (r^T d)**2 / W`` in two matrix products. Components that
    lose more than :data:`_MAX_CANCELLATION` digits to cancellation (a
    component far from ``m`` relative to its spread) are recomputed centred on
    their own mean. Returns each component's ``(centre, offset, scatter)``.
    """
    n_rows = block.shape[0]
    deviation = np.subtract(block, centre, out=buffers[0][:n_rows], dtype=np.float64)
    squares = np.multiply(deviation, deviation, out=buffers[1][:n_rows])
    centres, offset, scatter = _diagonal_scatter_about(
        block, responsibilities, weight, centre, deviation, squares, buffers[1]
    )
    if centres is None:
        centres = np.broadcast_to(centre, offset.shape).copy()
    return centres, offset, scatter


def _diagonal_scatter_about(
    block, responsibilities, weight, centre, deviation, squares, buffer
):
    """:func:`_diagonal_scatter` from ``d = x - centre`` and ``d * d`` given.

    ``buffer`` (at least the block's rows) is overwritten where a component
    is recomputed, so it may be ``squares`` itself. Returns ``(centres,
    offset, scatter)`` with ``centres`` None when every component's centre is
    ``centre`` (none recomputed).
    """
    n_rows = block.shape[0]
    first = np.dot(responsibilities.T, deviation)
    second = np.dot(responsibilities.T, squares)
    # W_k = 0 only where every r_ik is 0, and then r_k^T d = 0: offset 0.
    offset = first / np.where(weight > 0, weight, 1.0)[:, None]
    scatter = second - first * offset
    trusted = scatter * _TRUSTED_RATIO >= second
    if trusted.all():
        return None, offset, scatter
    centres = np.broadcast_to(centre, offset.shape).copy()
    for k in np.flatnonzero(~trusted.all(axis=1) & (weight > 0)):
        column = responsibilities[:, k]
        centres[k] = centre + offset[k]
        correction, centred = _centred_component(
            block, column, weight[k], centres[k], buffer[:n_rows]
        )
        offset[k] = correction / weight[k]
        np.multiply(centred, centred, out=centred)
        scatter[k] = np.dot(column, centred) - correction * offset[k]
    return centres, offset, scatter


def _centred_full_component(block, column, weight, centre, buffers):
    """``(offset, scatter)`` of one component, centred on its rounded mean ``centre``.

    ``S = E^T (r E) - c c^T / W`` with ``E = x - centre`` and ``c = r^T E``
    (Chan et al. eq. 1.7: ``c / W`` is the offset that removes the rounding
    of ``centre``), symmetrised (the correction's two triangles round
    differently). ``buffers`` holds two arrays of at least the block's rows.
    """
    n_rows = block.shape[0]
    correction, centred = _centred_component(
        block, column, weight, centre, buffers[0][:n_rows]
    )
    offset = correction / weight
    # E^T (r E) = B^T B with B = sqrt(r) E: numpy.dot's syrk, symmetric.
    weighted = np.multiply(centred, np.sqrt(column)[:, None], out=buffers[1][:n_rows])
    product = np.dot(weighted.T, weighted)
    product -= np.outer(correction, offset)
    return offset, 0.5 * (product + product.T)


def _full_scatter(block, responsibilities, weight, centre, buffers):
    """``S_k = sum_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T`` for all components at once.

    About the block's weighted mean ``m`` (``d = x - m``), by
    :func:`_full_scatter_about`: one syrk per component, and components that
    lose more than :data:`_MAX_CANCELLATION` digits recomputed centred on
    their own mean. Returns each component's ``(centre, offset, scatter)``.
    """
    n_rows = block.shape[0]
    deviation = np.subtract(block, centre, out=buffers[0][:n_rows], dtype=np.float64)
    centres, offset, scatter = _full_scatter_about(
        block, responsibilities, weight, centre, deviation
    )
    if centres is None:
        centres = np.broadcast_to(centre, offset.shape).copy()
    return centres, offset, scatter


def _full_scatter_about(block, responsibilities, weight, centre, deviation):
    """:func:`_full_scatter` from ``d = x - centre``, by one syrk per component.

    Raw sums about ``centre``: ``s_k = r_k^T d`` (one product for every
    component) and ``M_k = d^T diag(r_k) d = B_k^T B_k`` with
    ``B_k = sqrt(r_k) d``, by BLAS's syrk; then ``S_k = M_k - g_k g_k^T``
    with ``g_k = s_k / sqrt(W_k)``, exactly symmetric as computed. A
    component that loses more than :data:`_MAX_CANCELLATION` digits on a
    diagonal entry (far from ``centre`` relative to its spread) is recomputed
    centred on its own mean (:func:`_centred_full_component`), as the
    diagonal path does.

    Returns ``(centres, offset, scatter)`` with ``centres`` None when every
    component's centre is ``centre`` (none recomputed).
    """
    n_rows, n_features = deviation.shape
    component_major = responsibilities.T
    n_components = component_major.shape[0]
    first = np.dot(component_major, deviation)
    # M_k = B_k^T B_k with B_k = sqrt(r_k) d: numpy.dot of a matrix's
    # transpose with itself is BLAS's syrk (half a product's flops, exactly
    # symmetric), and B_k is written into one buffer of the block's shape.
    roots = np.sqrt(component_major)
    scaled = np.empty_like(deviation)
    second = np.empty((n_components, n_features, n_features))
    for k in range(n_components):
        np.multiply(deviation, roots[k][:, None], out=scaled)
        second[k] = np.dot(scaled.T, scaled)
    # W_k = 0 only where every r_ik is 0, and then s_k = 0: its offset is 0.
    positive = np.where(weight > 0, weight, 1.0)[:, None]
    offset = first / positive
    # s_k s_k^T / W_k as g_k g_k^T with g_k = s_k / sqrt(W_k): exactly
    # symmetric, as M_k is, so S_k needs no symmetrising pass.
    root = first / np.sqrt(positive)
    diagonal = slice(None, None, n_features + 1)
    raw = second.reshape(n_components, -1)[:, diagonal].copy()
    scatter = second
    scatter -= root[:, :, None] * root[:, None, :]
    kept = scatter.reshape(n_components, -1)[:, diagonal] * _TRUSTED_RATIO
    trusted = kept >= raw
    if trusted.all():
        return None, offset, scatter
    centres = np.broadcast_to(centre, offset.shape).copy()
    buffers = [np.empty((n_rows, n_features)) for _ in range(2)]
    for k in np.flatnonzero(~trusted.all(axis=1) & (weight > 0)):
        centres[k] = centre + offset[k]
        offset[k], scatter[k] = _centred_full_component(
            block, responsibilities[:, k], weight[k], centres[k], buffers
        )
    return centres, offset, scatter


_SCATTERS = {"diag": _diagonal_scatter, "full": _full_scatter}
_BUFFERS = {"diag": 2, "full": 2}


def _scale_scatter(scatter, scale):
    """A scatter of data divided by ``scale`` (per feature), scaled back."""
    if scatter.ndim == 2:
        return scatter * scale * scale
    return scatter * scale[:, None] * scale[None, :]


def _component_block(
    block, responsibilities, scatter, buffers, estimator_name, rescaled=False
):
    """Statistics of one row block, all components at once, by matrix products.

    Non-finite results raise the usual error for NaN or infinite data, or,
    for finite data whose squares overflow, are recomputed on the block
    scaled exactly by a power of two per feature (``rescaled`` marks that
    second call); NaN weights, or a scaled block whose statistics are still
    not finite, raise ValueError (``_UNREPRESENTABLE``).

    Returns
    -------
    weight : ndarray of shape (K,)
        ``W_k = r_k^T 1``.
    centre, offset : ndarray of shape (K, n_features)
        Each component's mean is ``centre[k] + offset[k]``: the centre a
        rounded mean, the offset small, keeping the digits the mean rounds
        away (0 and 0 for components of zero weight).
    scatter : ndarray of shape (K, n_features) or (K, n_features, n_features)
    """
    n_features = block.shape[1]
    n_components = responsibilities.shape[1]
    weight = responsibilities.sum(axis=0)
    row_weight = responsibilities.sum(axis=1)
    total = row_weight.sum()
    if total == 0:
        # Nothing to learn from these rows, but they must still be finite.
        if not np.isfinite(block.sum(dtype=np.float64)):
            assert_all_finite(block, input_name="X", estimator_name=estimator_name)
        shape = (n_components, n_features) + (n_features,) * (scatter == "full")
        return weight, np.zeros(shape[:2]), np.zeros(shape[:2]), np.zeros(shape)
    # The block's weighted mean over all components: the diagonal path's shift.
    # Overflow is detected below, and handled: numpy's warnings are noise.
    with np.errstate(over="ignore", invalid="ignore"):
        centre = np.dot(row_weight, block) / total
        centres, offset, result = _SCATTERS[scatter](
            block, responsibilities, weight, centre, buffers
        )
    finite = np.isfinite(centre).all() and np.isfinite(centres).all()
    if finite and np.isfinite(offset).all() and np.isfinite(result).all():
        return weight, centres, offset, result
    assert_all_finite(block, input_name="X", estimator_name=estimator_name)
    if rescaled or np.isnan(responsibilities).any():
        # Scaling cannot help weights that are NaN (a density that overflowed
        # upstream), nor a block already scaled: say so, once.
        raise ValueError(_UNREPRESENTABLE)
    # Scaled values within +-2 and weights within (0, 2] keep every sum of
    # the scaled block finite, so that the second call returns at once; the
    # scatter scaled back may still overflow (its caller then refuses it).
    scale = _overflow_scale(block)
    scaled = np.divide(block, scale, dtype=np.float64)
    largest = max(float(responsibilities.max()), 1.0)
    weight_scale = float(np.ldexp(1.0, np.frexp(largest)[1] - 1))
    _, centres, offset, result = _component_block(
        scaled,
        responsibilities / weight_scale,
        scatter,
        buffers,
        estimator_name,
        rescaled=True,
    )
    with np.errstate(over="ignore"):
        result = _scale_scatter(result, scale) * weight_scale
    return weight, centres * scale, offset * scale, result


def _component_rows(X, sample_weight, responsibilities, rows, scatter, buffers, name):
    """:func:`_component_block` of rows ``rows``, with their weights applied."""
    if responsibilities is None:
        block_resp = (
            np.ones((rows.stop - rows.start, 1))
            if sample_weight is None
            else sample_weight[rows, None]
        )
    else:
        block_resp = np.asarray(responsibilities[rows], dtype=np.float64)
        if sample_weight is not None:
            block_resp = block_resp * sample_weight[rows, None]
    weight, centre, offset, block_scatter = _component_block(
        X[rows], block_resp, scatter, buffers, name
    )
    return weight[None], centre[None], offset[None], block_scatter


def _fold_component_blocks(parts):
    """Blocks' (weights, centres, offsets) stacked, their scatters summed, in order."""
    scatter_sum = parts[0][3]
    for part in parts[1:]:
        scatter_sum = scatter_sum + part[3]
    return (
        np.concatenate([part[0] for part in parts]),
        np.concatenate([part[1] for part in parts]),
        np.concatenate([part[2] for part in parts]),
        scatter_sum,
    )


def _general_statistics(
    X, sample_weight, responsibilities, scatter, reference, block_rows, name
):
    """:func:`sufficient_statistics` for responsibilities or a full scatter.

    Blocks are merged per component about that component's first block
    centre (a reference close to its data, so that rebasing is exact and the
    spread of the block means keeps its digits), then given against the
    common ``reference``: one rounding of each final mean, none of a scatter.
    """
    n_samples, n_features = X.shape
    n_components = 1 if responsibilities is None else responsibilities.shape[1]
    result = n_components * n_features * (n_features if scatter == "full" else 1)
    # Values per row: the buffers' rows and the block's responsibilities.
    width = _BUFFERS[scatter] * n_features + n_components
    if block_rows is None:
        block_rows, _ = engine.plan(n_samples, width)
        if scatter == "full":
            # Each block's full scatter costs O(K d**2) beyond its product
            # (the correction, the symmetrisation, the merge): blocks of at
            # least d rows keep that below the product's O(rows K d**2) on
            # wide data.
            block_rows = max(block_rows, n_features)
    block_rows, group_blocks = engine.plan(
        n_samples, width, block_rows=block_rows, result_elements=result
    )
    local = threading.local()

    def block_statistics(rows):
        buffers = _thread_buffers(local, _BUFFERS[scatter], (block_rows, n_features))
        # numpy's error state is per thread: set in each one.
        with np.errstate(over="ignore", invalid="ignore"):
            return _component_rows(
                X, sample_weight, responsibilities, rows, scatter, buffers, name
            )

    with np.errstate(over="ignore", invalid="ignore"):
        weights, centres, offsets, scatter_sum = _fold_component_blocks(
            engine.map_blocks(
                block_statistics,
                n_samples,
                block_rows,
                merge=_fold_component_blocks,
                group_blocks=group_blocks,
                row_elements=width,
            )
        )
        # Each component's first block of positive weight gives its reference.
        first = np.argmax(weights > 0, axis=0)
        component_reference = centres[first, np.arange(weights.shape[1])]
        rebased = (centres - component_reference) + offsets
        weight, offset, result = _chan_merge(weights, rebased, scatter_sum)
        if reference is None:
            reference = _common_reference(weight, component_reference)
        offset = np.where(
            (weight > 0)[:, None], (component_reference - reference) + offset, 0.0
        )
    return SufficientStatistics(weight, reference, offset, result)


def _check_responsibilities(responsibilities, n_samples):
    """Responsibilities as a 2-D array with one row per sample, else a clear error."""
    responsibilities = np.asarray(responsibilities)
    if responsibilities.ndim != 2 or responsibilities.shape[0] != n_samples:
        raise ValueError(
            "responsibilities must be an array of shape (n_samples, n_components) "
            f"with n_samples = {n_samples}, the rows of X; got shape "
            f"{responsibilities.shape}."
        )
    return responsibilities


def sufficient_statistics(
    X,
    sample_weight=None,
    responsibilities=None,
    *,
    scatter="diag",
    reference=None,
    estimator_name=None,
    block_rows=None,
):
    """Weight, mean and scatter of each component, in one pass over X.

    ``W_k = sum_i w_i r_ik``, ``xbar_k = sum_i w_i r_ik x_i / W_k`` and
    ``S_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T`` (its diagonal for
    ``scatter="diag"``), for all components in the same pass over row blocks,
    with matrix products (``r^T X`` for the sums), on all available cores and
    bit-identical whatever their number (module docstring, "Threads").

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data, float32 or float64, already validated for shape and dtype but
        not for finiteness: a NaN or infinity raises ``ValueError`` here.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights, multiplying the responsibilities; None for ones.
    responsibilities : ndarray of shape (n_samples, n_components), default=None
        Each sample's share in each component (a mixture's E-step); None for
        one component holding every sample.
    scatter : {"diag", "full"}, default="diag"
        The diagonal of each component's scatter, or the whole matrix.
    reference : ndarray of shape (n_features,), default=None
        The point the means are given against (pass that of statistics to be
        merged with, e.g. across ``partial_fit`` calls); by default a mean of
        the first block of positive weight (0 on the fast path when the data
        are well scaled).
    estimator_name : str, default=None
        Named in the error raised for NaN or infinite values.
    block_rows : int, default=None
        Rows per block; by default the engine's plan (:func:`skvi._core.engine.plan`).

    Returns
    -------
    statistics : SufficientStatistics
        ``K = 1`` without responsibilities.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi._core.stats import sufficient_statistics
    >>> X = np.array([[0.0, 1.0], [2.0, 3.0], [10.0, 10.0]])
    >>> r = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> stats = sufficient_statistics(X, responsibilities=r, scatter="full")
    >>> stats.weight, stats.mean
    (array([2., 1.]), array([[ 1.,  2.],
           [10., 10.]]))
    >>> stats.scatter[0]
    array([[2., 2.],
           [2., 2.]])
    """
    if scatter not in _SCATTERS:
        raise ValueError(
            f"scatter must be one of {sorted(_SCATTERS)}; got {scatter!r}."
        )
    n_samples = X.shape[0]
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float64)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if responsibilities is None and scatter == "diag":
        weight, reference, offset, sum_of_squares = weighted_moments_about(
            X,
            sample_weight,
            reference=reference,
            block_rows=block_rows,
            estimator_name=estimator_name,
        )
        return SufficientStatistics(
            np.array([weight]), reference, offset[None], sum_of_squares[None]
        )
    if responsibilities is not None:
        responsibilities = _check_responsibilities(responsibilities, n_samples)
    return _general_statistics(
        X,
        sample_weight,
        responsibilities,
        scatter,
        reference,
        block_rows,
        estimator_name,
    )


def statistics_about(
    block,
    deviation,
    squares,
    responsibilities,
    reference,
    *,
    scatter="diag",
    estimator_name=None,
):
    """Statistics of one row block, from its deviations about ``reference``.

    The same result as ``sufficient_statistics(block, None, responsibilities,
    scatter=scatter, reference=reference)`` to rounding, for a caller that
    already holds ``d = block - reference`` (and, for ``scatter="diag"``,
    ``d * d``): the E-step of a mixture needs them for its Mahalanobis terms,
    and reusing them saves passes over the block. The raw sums ``r^T d`` and
    ``r^T (d * d)`` (diag) or ``d^T diag(r_k) d`` (full, every component in
    one product) are about ``reference`` rather than the block's own mean; a
    component that would lose more than :data:`_MAX_CANCELLATION` digits to
    cancellation is recomputed centred on its own mean, as on the general
    path. No loop over components in the common case, and no second pass of
    the block through the row-block engine: the E-step's block is one block.

    Parameters
    ----------
    block : ndarray of shape (n_rows, n_features)
        The rows, finite.
    deviation : ndarray of shape (n_rows, n_features), float64
        ``block - reference``.
    squares : ndarray of shape (n_rows, n_features) or None
        ``deviation * deviation`` for ``scatter="diag"`` (overwritten where a
        component is recomputed); unused for ``"full"``.
    responsibilities : ndarray of shape (n_rows, n_components)
        Each row's weight in each component (frequency weights included);
        a transposed view of a component-major array is best.
    reference : ndarray of shape (n_features,)
        The point the means are given against.
    scatter : {"diag", "full"}, default="diag"
    estimator_name : str, default=None
        Named in the error raised if the data are not finite.

    Returns
    -------
    statistics : SufficientStatistics
    """
    weight = responsibilities.sum(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        if scatter == "diag":
            centres, offset, result = _diagonal_scatter_about(
                block, responsibilities, weight, reference, deviation, squares, squares
            )
        else:
            centres, offset, result = _full_scatter_about(
                block, responsibilities, weight, reference, deviation
            )
        if centres is not None:
            # A recomputed component's mean is centre + offset: rebase it on
            # the common reference (exact for the others, whose centre is it).
            offset = (centres - reference) + offset
        # One check of both: a sum is finite only if every term is (a sum
        # that overflows sends finite data to the general path: still right).
        finite = np.isfinite(offset.sum() + result.sum())
    if finite:
        return SufficientStatistics(weight, reference, offset, result)
    # Squares that overflow: the general path scales the block exactly.
    return sufficient_statistics(
        block,
        None,
        responsibilities,
        scatter=scatter,
        reference=reference,
        estimator_name=estimator_name,
    )
