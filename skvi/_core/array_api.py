"""The n-sized passes of both estimators in any array API namespace (GPU).

With scikit-learn's ``array_api_dispatch`` on, a PyTorch or CuPy array (or
array-api-strict's) is fitted where it lives: the passes over its rows, the
only work that grows with n, run here in its namespace on its device, written
with the array API standard alone (https://data-apis.org/array-api/), so
that one code serves every library. What they return is small and goes to
the host as numpy float64: the sufficient statistics (:class:`SufficientStatistics`,
O(K d^2) numbers), the E-step's log-normaliser and entropy (two numbers),
so that the K- and d-sized updates (the M-step, digamma, the Cholesky
factors, the KLs) run unchanged in numpy, with a few small transfers an
iteration. The per-row values (scores, labels, responsibilities) stay on
the device.

The maths is that of the numpy path, with the same formulas:

- the Normal model's diagonal statistics (:func:`moments_about`): each block
  summed about one shift ``c`` (the first block's mean, or the reference of
  earlier statistics), ``sum w (x - c)`` and ``sum w (x - c)**2``; a block that
  loses more than ``skvi._core.stats._MAX_CANCELLATION`` digits to cancellation
  is summed again about its own mean (a compensated two-pass, Chan, Golub &
  LeVeque 1979, eq. 1.7); blocks merged on the host (Chan's formulas);
- a full scatter, and the mixture's per-component statistics
  (:func:`component_statistics`): each component's weighted mean ``c_k`` in a
  first product ``r^T (x - centre)``, then ``S_k = E_k^T (r_k E_k) -
  e_k e_k^T / W_k`` with ``E_k = x - centre - c_k`` and ``e_k = r_k^T E_k``
  (compensated, as ``skvi._core.component_stats._full_scatter``); the
  diagonal families take raw sums about the centre and recompute centred
  only the components that cancelled, as
  ``skvi._core.component_stats.statistics_about``;
- the mixture's E-step and per-row values on a device live with the
  mixture (``skvi._mixture.device``), built on this module's blocks,
  transfers and :func:`component_statistics`.

Precision. Every operation runs in X's dtype: float64 input is computed in
float64 and agrees with the numpy path to rounding (tests: 1e-12); float32
input stays float32, the fast path on a GPU, but the sums that the fit
compares across iterations (``W``, ``sum w x``, ``sum w x**2``,
``sum_i w_i log sum_k rho_ik``) accumulate in float64 where the device has
it. The float32 error is documented in docs/guide/gpu.md.

Memory. The rows are cut into blocks of :data:`skvi._core.engine.DEVICE_BLOCK_ELEMENTS`
values of temporaries (1 GiB of float64), run one after another from the
calling thread: the library parallelises each operation on its device.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances", Stanford CS report STAN-CS-79-773, 1979.
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006, §10.2.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from . import engine
from .component_stats import sufficient_statistics
from .moments import _default_block_rows, weighted_moments_about
from .namespaces import to_namespace, to_numpy
from .stats import _TRUSTED_RATIO, SufficientStatistics, merge_moments_about
from .validation import assert_all_finite

__all__ = [
    "component_statistics",
    "moments_about",
    "statistics",
]


# --------------------------------------------------------------------------
# Helpers: transfers and blocks


def _host(array, space):
    """A (small) device array as numpy float64 on the host."""
    return np.asarray(to_numpy(array, space), dtype=np.float64)


def sum_dtype(space):
    """The dtype sums accumulate in: float64 where the device has it."""
    return space.float_dtype


def device_block(X, rows, dtype, xp):
    """Rows ``rows`` of X in the compute dtype (widened block by block, if at all)."""
    block = X[rows, ...]
    return block if block.dtype == dtype else xp.astype(block, dtype)


def device_plan(n_samples, width):
    """Rows per block for ``width`` values a row: skvi._core.engine' device policy."""
    block_rows, _ = engine.plan(
        n_samples, width, block_elements=engine.DEVICE_BLOCK_ELEMENTS
    )
    return block_rows


def map_device_blocks(function, n_samples, block_rows):
    """``[function(rows) for rows in blocks]``, in order, in the calling thread."""
    return engine.map_blocks(function, n_samples, block_rows, n_threads=1)


def check_finite_on_device(block, space, estimator_name):
    """Raise scikit-learn's error for NaN or infinity in ``block`` (if any)."""
    xp = space.xp
    if not bool(xp.all(xp.isfinite(block))):
        assert_all_finite(
            to_numpy(block, space), input_name="X", estimator_name=estimator_name
        )


# --------------------------------------------------------------------------
# The Normal model's diagonal statistics: one weight vector, one pass


def _block_sums(deviation, weights, space):
    """``(sum w d, sum w d**2)`` of a block's deviations, accumulated in float64."""
    xp = space.xp
    wide = sum_dtype(space)
    if weights is None:
        first = xp.sum(deviation, axis=0, dtype=wide)
        second = xp.sum(deviation * deviation, axis=0, dtype=wide)
    else:
        weighted = deviation * weights[:, None]
        first = xp.sum(weighted, axis=0, dtype=wide)
        second = xp.sum(weighted * deviation, axis=0, dtype=wide)
    return _host(first, space), _host(second, space)


def shift_of(centre, space, dtype):
    """``centre`` rounded to X's dtype, on the device, and its exact float64 value.

    The deviations are ``x - shift`` in X's dtype; the float64 value of the
    shift actually subtracted is the reference the block's offsets are about.
    """
    shift = to_namespace(np.asarray(centre, dtype=np.float64), space, dtype=dtype)
    return shift, _host(shift, space)


def moments_about(
    X, sample_weight, space, *, reference=None, estimator_name=None, block_rows=None
):
    """``(W, reference, offset, S)`` of ``moments.weighted_moments_about``, on a device.

    One pass over the rows of X in ``space``; the blocks' sums come to the
    host (2 d numbers a block) and are merged there exactly (Chan et al.).
    Each block is summed about one shift (the reference given, else the
    first block's mean) and summed again about its own mean where more than
    ``skvi._core.stats._MAX_CANCELLATION`` digits cancelled. A block whose sums are
    not finite raises scikit-learn's error for NaN or infinity, or (finite
    data whose squares overflow X's dtype) is summed on the host.

    Parameters
    ----------
    X : array of shape (n_samples, n_features), of ``space``
    sample_weight : array of shape (n_samples,) of ``space``, or None
    space : skvi._core.namespaces.ArraySpace
    reference : ndarray of shape (n_features,), default=None
        The point to give the mean against (``partial_fit``).
    estimator_name : str, default=None
    block_rows : int, default=None
        Rows per block; by default the device policy (:mod:`skvi._core.engine`).

    Returns
    -------
    weight : float
    reference, offset, sum_of_squares : ndarray of shape (n_features,), float64
    """
    n_samples, n_features = X.shape
    dtype = space.compute_dtype(X.dtype)
    if block_rows is None:
        block_rows = device_plan(n_samples, 2 * n_features)
    host_weight = None if sample_weight is None else to_numpy(sample_weight, space)
    if reference is not None:
        shift, shift_value = shift_of(reference, space, dtype)
    else:
        # The numpy path's choice (skvi._core.moments._probe_shift): no shift (a
        # reference of 0) unless the rows of numpy's first block lose digits
        # to cancellation; then their mean.
        probe = slice(0, _default_block_rows(n_samples, n_features, None))
        weights = None if sample_weight is None else sample_weight[probe]
        total = (
            float(probe.stop - probe.start)
            if host_weight is None
            else float(host_weight[probe].sum())
        )
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            first, second = _block_sums(
                device_block(X, probe, dtype, space.xp), weights, space
            )
            centre = first / total if total > 0 else np.zeros(n_features)
            trusted = ((second - first * centre) * _TRUSTED_RATIO >= second).all()
        if trusted or not np.isfinite(centre).all():
            centre = np.zeros(n_features)
        shift, shift_value = shift_of(centre, space, dtype)

    def block_moments(rows):
        block = device_block(X, rows, dtype, space.xp)
        weights = None if sample_weight is None else sample_weight[rows]
        weight = (
            float(rows.stop - rows.start)
            if host_weight is None
            else float(host_weight[rows].sum())
        )
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            first, second = _block_sums(block - shift, weights, space)
            finite = np.isfinite(first).all() and np.isfinite(second).all()
            if weight == 0.0:
                if not finite:
                    check_finite_on_device(block, space, estimator_name)
                return 0.0, shift_value, np.zeros(n_features), np.zeros(n_features)
            offset = first / weight
            scatter = second - first * offset
            if finite and (scatter * _TRUSTED_RATIO >= second).all():
                return weight, shift_value, offset, scatter
        if not finite:
            check_finite_on_device(block, space, estimator_name)
            # Finite data whose squares overflow X's dtype: the host's
            # float64 path scales them exactly (skvi._core.stats).
            host = np.asarray(to_numpy(block, space), dtype=np.float64)
            w = None if host_weight is None else host_weight[rows]
            total, own, offset, scatter = weighted_moments_about(
                host, w, estimator_name=estimator_name
            )
            return total, own, offset, scatter
        # Cancellation: again, about the block's own mean (Chan et al. eq. 1.7).
        centre, centre_value = shift_of(shift_value + offset, space, dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            correction, second = _block_sums(block - centre, weights, space)
            offset = correction / weight
            return weight, centre_value, offset, second - correction * offset

    parts = map_device_blocks(block_moments, n_samples, block_rows)
    weights = np.array([part[0] for part in parts])
    references = np.stack([part[1] for part in parts])
    offsets = np.stack([part[2] for part in parts])
    scatters = np.stack([part[3] for part in parts])
    with np.errstate(over="ignore", invalid="ignore"):
        weight, common, offset, scatter = merge_moments_about(
            weights, references, offsets, scatters
        )
        if reference is None:
            reference = common
        else:
            reference = np.asarray(reference, dtype=np.float64)
            offset = (common - reference) + offset
    return weight, reference, offset, scatter


# --------------------------------------------------------------------------
# Per-component statistics (full scatter, or the mixture's E-step)


def _diagonal_components(deviation, resp, weight, space, squares=None):
    """Diagonal statistics about the centre; cancelled components recomputed.

    ``S_kj = r_k^T d_j**2 - (r_k^T d_j)**2 / W_k`` (raw sums about the centre,
    ``d = x - centre``); a component losing more than
    ``skvi._core.stats._MAX_CANCELLATION`` digits is recomputed about its own
    mean, compensated, as ``skvi._core.component_stats._diagonal_scatter_about``.
    Returns ``(offset, scatter)``, the offsets about the centre.
    """
    xp = space.xp
    first = _host(resp.T @ deviation, space)
    if squares is None:
        squares = deviation * deviation
    second = _host(resp.T @ squares, space)
    positive = (weight > 0)[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        offset = np.where(positive, first / np.where(positive, weight[:, None], 1), 0)
        scatter = np.where(positive, second - first * offset, 0.0)
        trusted = (scatter * _TRUSTED_RATIO >= second) | ~positive
    for k in np.flatnonzero(~trusted.all(axis=1)):
        column = resp[:, k]
        centre, centre_value = shift_of(offset[k], space, deviation.dtype)
        centred = deviation - centre
        correction = _host(xp.sum(centred * column[:, None], axis=0), space)
        squares = _host(xp.sum(centred * centred * column[:, None], axis=0), space)
        offset[k] = centre_value + correction / weight[k]
        scatter[k] = squares - correction * correction / weight[k]
    return offset, scatter


def _full_components(deviation, resp, weight, space, squares=None):
    """Full scatters, each component centred on its own mean (compensated).

    ``S_k = E_k^T (r_k E_k) - e_k e_k^T / W_k`` with ``E_k = d - c_k``,
    ``c_k = r_k^T d / W_k`` and ``e_k = r_k^T E_k`` (Chan et al. eq. 1.7, as
    ``skvi._core.component_stats._full_scatter``); symmetrised. Returns
    ``(offset, scatter)``, the offsets about the centre.
    """
    xp = space.xp
    n_components = resp.shape[1]
    n_features = deviation.shape[1]
    first = _host(resp.T @ deviation, space)
    positive = weight > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = np.where(
            positive[:, None], first / np.where(positive, weight, 1.0)[:, None], 0.0
        )
    offset = np.zeros((n_components, n_features))
    scatter = np.zeros((n_components, n_features, n_features))
    components = np.flatnonzero(positive)
    if components.size == 0:
        return offset, scatter
    corrections, products, centre_values = [], [], []
    for k in components:
        column = resp[:, k]
        centre, centre_value = shift_of(centres[k], space, deviation.dtype)
        centred = deviation - centre
        weighted = centred * column[:, None]
        corrections.append(xp.sum(weighted, axis=0))
        products.append(centred.T @ weighted)
        centre_values.append(centre_value)
    # Two transfers for all components.
    corrections = _host(xp.stack(corrections), space)
    products = _host(xp.stack(products), space)
    for index, k in enumerate(components):
        correction = corrections[index]
        offset[k] = centre_values[index] + correction / weight[k]
        product = products[index] - np.outer(correction, correction) / weight[k]
        scatter[k] = 0.5 * (product + product.T)
    return offset, scatter


_COMPONENTS = {"diag": _diagonal_components, "full": _full_components}


def component_statistics(
    deviation, resp, centre, space, *, scatter, X=None, squares=None
):
    """:class:`SufficientStatistics` of one block from its deviations ``x - centre``.

    Parameters
    ----------
    deviation : array of shape (n_rows, n_features), of ``space``
        ``x - centre`` in X's dtype.
    resp : array of shape (n_rows, K), of ``space``
        Each row's weight in each component (frequency weights included).
    centre : ndarray of shape (n_features,), float64
        The exact value of the centre subtracted: the statistics' reference.
    space : skvi._core.namespaces.ArraySpace
    scatter : {"diag", "full"}
    X : array of shape (n_rows, n_features), optional
        The block's rows: if the sums overflow X's dtype, the statistics are
        taken on the host from them (skvi._core.stats scales such data exactly).
    squares : array of shape (n_rows, n_features), optional
        ``deviation * deviation`` if the caller has it (diagonal families).

    Returns
    -------
    statistics : SufficientStatistics
    """
    xp = space.xp
    weight = _host(xp.sum(resp, axis=0, dtype=sum_dtype(space)), space)
    offset, result = _COMPONENTS[scatter](deviation, resp, weight, space, squares)
    if np.isfinite(offset).all() and np.isfinite(result).all():
        return SufficientStatistics(weight, np.asarray(centre), offset, result)
    if X is None:
        raise ValueError(
            "The statistics of X overflow its dtype; refit on numpy float64 data."
        )
    return sufficient_statistics(
        np.asarray(to_numpy(X, space), dtype=np.float64),
        None,
        _host(resp, space),
        scatter=scatter,
        reference=centre,
    )


def statistics(
    X, sample_weight, space, *, scatter, reference=None, estimator_name=None
):
    """The one-component sufficient statistics of X, on a device.

    ``scatter="diag"`` is :func:`moments_about`; ``"full"`` sums each block
    about the reference given (else the first block's mean), compensated.
    """
    if scatter == "diag":
        weight, reference, offset, sum_of_squares = moments_about(
            X,
            sample_weight,
            space,
            reference=reference,
            estimator_name=estimator_name,
        )
        return SufficientStatistics(
            np.array([weight]), reference, offset[None], sum_of_squares[None]
        )
    xp = space.xp
    n_samples, n_features = X.shape
    dtype = space.compute_dtype(X.dtype)
    block_rows = device_plan(n_samples, 3 * n_features)
    if reference is None:
        # The numpy path's reference: the mean of numpy's first block.
        rows = slice(0, engine.plan(n_samples, 3 * n_features + 1)[0])
        block = device_block(X, rows, dtype, space.xp)
        if sample_weight is None:
            total = float(block.shape[0])
            first = xp.sum(block, axis=0, dtype=sum_dtype(space))
        else:
            total = float(_host(xp.sum(sample_weight[rows]), space))
            first = xp.sum(
                block * sample_weight[rows][:, None], axis=0, dtype=sum_dtype(space)
            )
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            centre = _host(first, space) / total if total > 0 else 0.0 * first
        reference = np.where(np.isfinite(centre), centre, 0.0)
    shift, shift_value = shift_of(reference, space, dtype)

    def block_statistics(rows):
        block = device_block(X, rows, dtype, space.xp)
        resp = (
            xp.ones((block.shape[0], 1), dtype=dtype, device=space.device)
            if sample_weight is None
            else sample_weight[rows][:, None]
        )
        with np.errstate(over="ignore", invalid="ignore"):
            part = component_statistics(
                block - shift, resp, shift_value, space, scatter="full", X=block
            )
        if not (np.isfinite(part.offset).all() and np.isfinite(part.scatter).all()):
            check_finite_on_device(block, space, estimator_name)
        return part

    with np.errstate(over="ignore", invalid="ignore"):
        parts = map_device_blocks(block_statistics, n_samples, block_rows)
        merged = SufficientStatistics.merge_all(parts)
    return SufficientStatistics(
        merged.weight,
        np.asarray(reference, dtype=np.float64),
        (merged.reference - reference) + merged.offset,
        merged.scatter,
    )
