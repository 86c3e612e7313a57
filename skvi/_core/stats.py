"""Weighted sufficient statistics as one type, and their exact merges.

A Normal factor of a model needs, per component ``k``, only the total weight
``W_k = sum_i w_i r_ik``, the weighted mean ``xbar_k = sum_i w_i r_ik x_i / W_k``
and the weighted centred scatter
``S_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T`` (its diagonal alone for
a diagonal model). ``w`` are sample weights and ``r`` the
responsibilities of a mixture's E-step (a single column of ones for a plain
weight vector). :class:`SufficientStatistics` holds them, with the mean kept as
``reference + offset`` (see below). Partial results (row blocks,
``partial_fit`` chunks, dask chunks) are merged here with the parallel
formulas of Chan, Golub & LeVeque (1979):

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

The passes over the data that compute the statistics live beside this
module: :mod:`skvi._core.moments` (one weight vector, diagonal scatter: the
Normal model's fast path, ``weighted_moments_about``) and
:mod:`skvi._core.component_stats` (responsibilities or a full scatter:
``sufficient_statistics``, and ``statistics_about`` for a block whose
deviations the caller holds). Both share the cancellation test below.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances", Stanford CS report STAN-CS-79-773, 1979.
"""

# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import dataclass

import numpy as np

# A block's raw-sum centred sum of squares is trusted while
# sum w x**2 / S <= 10**_MAX_CANCELLATION, i.e. at most that many of float64's
# ~16 digits are lost; past it the block is recomputed centred.
_MAX_CANCELLATION = 4
_TRUSTED_RATIO = 10.0**_MAX_CANCELLATION


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
    >>> from skvi._core.component_stats import sufficient_statistics
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
# Scratch space of the passes (skvi._core.moments, skvi._core.component_stats)


def _thread_buffers(local, count, shape):
    """``count`` float64 scratch arrays of ``shape``, one set per thread."""
    buffers = getattr(local, "buffers", None)
    if buffers is None:
        buffers = local.buffers = [np.empty(shape) for _ in range(count)]
    return buffers
