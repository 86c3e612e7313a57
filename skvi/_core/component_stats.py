"""Sufficient statistics with responsibilities or a full scatter, in one pass.

:func:`sufficient_statistics` gives the :class:`~skvi._core.stats.SufficientStatistics`
of every component at once, ``W_k = sum_i w_i r_ik``,
``xbar_k = sum_i w_i r_ik x_i / W_k`` and
``S_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T`` (or its diagonal), in a
single pass over row blocks that fit in cache, with matrix products
(``r^T X`` for the sums); one weight vector with a diagonal scatter goes to
the fast pass of :mod:`skvi._core.moments`. :func:`statistics_about` gives the
same for one block whose deviations about a reference the caller already
holds (a mixture's E-step).

Each block is summed around its weighted mean, then recomputed centred, per
component, only where the diagonal kernel cancelled more than
``skvi._core.stats._MAX_CANCELLATION`` digits, or always where the full
kernel's diagonal did (one small matrix product per component, which
measured as fast as one stacked product over all components and needs no
K-fold buffer); the correction ``c = r_k^T (x - centre)`` removes the
rounding of the centre (Chan et al. eq. 1.7). Blocks are merged per
component about that component's own first centre
(:func:`skvi._core.stats._chan_merge`), so that well separated components far
from the common reference keep every digit of their spread. Squares that
overflow although the data are finite are recomputed on the block scaled
exactly by a power of two per feature. The blocks run on the row-block
engine (:mod:`skvi._core.engine`), bit-identical whatever the number of
threads.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances", Stanford CS report STAN-CS-79-773, 1979.
"""

# SPDX-License-Identifier: BSD-3-Clause

import threading

import numpy as np

from . import engine
from .moments import _overflow_scale, weighted_moments_about
from .stats import (
    _TRUSTED_RATIO,
    SufficientStatistics,
    _chan_merge,
    _common_reference,
    _thread_buffers,
)
from .validation import assert_all_finite

# Statistics that no exact scaling of the block brings into float64's range.
_UNREPRESENTABLE = (
    "The statistics of X are not representable in float64: its weights or "
    "responsibilities are NaN or overflow even with X and the weights scaled "
    "exactly (data whose spread is far below the scale of the model's "
    "components, about 1e-150 or less, or weights near 1e308). Rescale X (e.g. "
    "sklearn.preprocessing.StandardScaler), or divide sample_weight by a "
    "common factor."
)


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
    lose more than ``_MAX_CANCELLATION`` digits to cancellation (a
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
    lose more than ``_MAX_CANCELLATION`` digits recomputed centred on
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
    component that loses more than ``_MAX_CANCELLATION`` digits on a
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
    bit-identical whatever their number (:mod:`skvi._core.moments`, "Threads").

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
    >>> from skvi._core.component_stats import sufficient_statistics
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
    component that would lose more than ``_MAX_CANCELLATION`` digits to
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
