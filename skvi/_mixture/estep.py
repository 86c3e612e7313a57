"""The mixture's E-step: log rho, the responsibilities and their statistics.

From q(theta) (Bishop, PRML 10.46-10.49, 10.64-10.66)::

    log rho_ik = E[log pi_k] + 1/2 E[log|Lambda_k|] - d/2 log 2 pi
                 - d / (2 beta_k) - nu_k/2 (x_i - m_k)^T W_k (x_i - m_k)
    r_ik = rho_ik / sum_j rho_ij                                 (log-sum-exp)
    E[log|Lambda_k|] = sum_{j=1..d} psi((nu_k + 1 - j)/2) + d log 2 + log|W_k|
    E[log pi_k] = psi(alpha_k) - psi(sum_j alpha_j)                (Dirichlet)
                = E[log v_k] + sum_{j<k} E[log(1 - v_j)]       (stick-breaking)

(the constants per component in ``log_rho_offset``, skvi._mixture.mstep;
the Mahalanobis term by covariance type, skvi._mixture.covariance). Each
block of rows is reduced at once to what the M-step and the ELBO need: the
responsibility-weighted statistics N_k, xbar_k, C_k (skvi._core.stats, about
the data's mean), ``sum_i w_i log sum_k rho_ik`` and ``sum_i w_i sum_k r_ik
log r_ik``. Rows so far that a Mahalanobis term overflows float64 are scaled
by a power of two (exactly) and given to the nearest component in q's
metric, as in the limit. Blocks run on the row-block engine's threads
(skvi._core.engine), merged in block order whatever the thread count; on
dask, on each chunk's worker.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006, §10.2.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from .._core import engine
from .._core.component_stats import statistics_about
from .._core.stats import SufficientStatistics
from .covariance import (
    _mahalanobis_terms,
)


def _e_step_operations(n_components, covariance):
    """The Python steps of one E-step block, for the row-block engine's policy.

    :func:`_local_step`'s numpy calls and their Python wrappers (counted
    with sys.setprofile by tests/test_blocks.py): about 56 whatever the
    block's size, and two more per component for full scatters (full, tied:
    one syrk each). The engine sizes the blocks from it (skvi._core.engine).
    """
    full = covariance.scatter == "full"
    return 56 + (2 * n_components if full else 0)


def _width(n_components, n_features, covariance):
    """Float64 values per row of an E-step block (the type's ``row_elements``)."""
    return covariance.row_elements(n_components, n_features)


def _deviations(X, model):
    """``d = x - centre`` (float64) and, for diag and spherical, ``d * d``.

    Into the thread's scratch memory (:func:`skvi._core.engine.scratch`): the
    block's callers are done with them before its next block.
    """
    deviation = np.subtract(
        X, model.centre, out=engine.scratch("deviation", X.shape), dtype=np.float64
    )
    squares = (
        np.multiply(deviation, deviation, out=engine.scratch("squares", X.shape))
        if model.covariance.scatter == "diag"
        else None
    )
    return deviation, squares


def _log_rho_from(deviation, squares, params, model, terms=None):
    """``log rho_ik`` of the E-step (Bishop 10.46), shape (K, n_rows), and far rows.

    Returns ``(log_rho, shift)``: ``shift`` is None, or for rows far enough
    that a Mahalanobis term overflows float64 (see :func:`_far_log_rho`) the
    part of ``log rho_ik`` common to all k (0 for the other rows), which
    ``log_rho`` then leaves out.
    """
    if terms is None:
        terms = _mahalanobis_terms(params.means - model.centre, params, model)
    mahalanobis = model.covariance.from_terms(deviation, squares, terms)
    # log rho = E[log pi] + 1/2 (E[log|Lambda|] - d log 2 pi - d / beta - mahalanobis)
    mahalanobis -= params.log_rho_offset[:, None]
    mahalanobis *= -0.5
    shift = None
    if not np.isfinite(mahalanobis.sum()):
        far = ~np.isfinite(mahalanobis).all(axis=0)
        if far.any():
            shift = np.zeros(deviation.shape[0])
            mahalanobis[:, far], shift[far] = _far_log_rho(
                deviation[far], params.means - model.centre, params, model
            )
    return mahalanobis, shift


def _far_log_rho(deviation, shifted_means, params, model):
    """``log rho_ik`` of rows whose Mahalanobis terms overflow, as (relative, shift).

    For each row, with ``s`` the power of two at or below max_j |x_ij - c_j|
    and ``u`` that at or below the largest entry of the precision factors
    (exact scalings), ``D_ik = (s u)**2 Q_ik`` where ``Q_ik`` is the
    Mahalanobis term of ``(x_i - c) / s`` about ``(m_k - c) / s`` with the
    factors over ``u``, of order one. Then
    ``log rho_ik = shift_i + relative_ik`` with ``shift_i = -(s u)**2 min_k
    Q_ik / 2`` (-inf when it overflows: the density is below float64's range)
    and ``relative_ik = -(s u)**2 (Q_ik - min_k Q_ik) / 2 + offset_k / 2``: the
    nearest component, in the metric of q, takes the row, as it does in the
    limit; ties are split by E[log pi_k] and the log-determinants.
    """
    scale = np.ldexp(1.0, np.frexp(np.abs(deviation).max(axis=1))[1] - 1)
    # The factors too, by the power of two at or below their largest entry:
    # a precision near float64's limit (data spread below 1e-154) overflows
    # the term even for a row at distance 1.
    factors = params.precisions_cholesky
    unit = np.ldexp(1.0, int(np.frexp(np.abs(factors).max())[1]) - 1)
    relative = np.empty((shifted_means.shape[0], deviation.shape[0]))
    shift = np.empty(deviation.shape[0])
    # Rows of one scale at a time: far rows are few, their scales fewer.
    for value in np.unique(scale):
        rows = scale == value
        scaled = deviation[rows] / value
        q = model.covariance.mahalanobis(
            scaled, scaled * scaled, shifted_means / value, factors / unit
        )
        nearest = q.min(axis=0)
        factor = value * unit
        shift[rows] = -0.5 * nearest * factor * factor
        relative[:, rows] = -0.5 * (q - nearest) * factor * factor
    relative += 0.5 * params.log_rho_offset[:, None]
    return relative, shift


def _log_rho(X, params, model, terms=None):
    """``(log rho_ik, shift)`` of :func:`_log_rho_from` on rows of X."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _log_rho_from(*_deviations(X, model), params, model, terms)


def _log_normalise(log_rho, shift=None):
    """``log sum_k rho_ik`` per row; ``log_rho`` becomes ``log r_ik`` in place.

    The log-sum-exp shifted by each row's largest term (plus ``shift``, the
    far rows' common term, see :func:`_log_rho_from`); returns also the
    responsibilities ``r_ik = rho_ik / sum_j rho_ij`` (Bishop 10.49).
    """
    top = log_rho.max(axis=0)
    log_rho -= top
    resp = np.exp(log_rho)
    total = resp.sum(axis=0)
    resp /= total
    log_total = np.log(total)
    log_rho -= log_total
    top += log_total
    if shift is not None:
        top += shift
        # r log r is 0 where r is 0 (log r = -inf for a far row's others).
        np.maximum(log_rho, np.finfo(np.float64).min, out=log_rho)
    return top, resp


def _local_step(X, sample_weight, params, model, terms=None):
    """E-step on rows of X, reduced to what the M-step and the ELBO need.

    ``terms``: the pass's :func:`_mahalanobis_terms`, computed here if None.

    Returns
    -------
    statistics : SufficientStatistics
        Responsibility-weighted statistics of these rows.
    log_norm : float
        ``sum_i w_i log sum_k rho_ik``.
    neg_entropy : float
        ``sum_i w_i sum_k r_ik log r_ik``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        deviation, squares = _deviations(X, model)
        log_resp, shift = _log_rho_from(deviation, squares, params, model, terms)
    log_norm, resp = _log_normalise(log_resp, shift)
    np.multiply(log_resp, resp, out=log_resp)
    row_neg_entropy = log_resp.sum(axis=0)
    if sample_weight is None:
        total_log_norm, neg_entropy = log_norm.sum(), row_neg_entropy.sum()
    else:
        total_log_norm = np.dot(sample_weight, log_norm)
        neg_entropy = np.dot(sample_weight, row_neg_entropy)
        resp *= sample_weight
    # The M-step's statistics reuse the block's d (and d * d): one block of
    # the engine's pass, with no pass of its own.
    statistics = statistics_about(
        X,
        deviation,
        squares,
        resp.T,
        model.centre,
        scatter=model.covariance.scatter,
    )
    return statistics, float(total_log_norm), float(neg_entropy)


def _merge_local(parts):
    statistics = SufficientStatistics.merge_all([part[0] for part in parts])
    return (
        statistics,
        float(np.sum([part[1] for part in parts])),
        float(np.sum([part[2] for part in parts])),
    )


def _blockwise_local(X, sample_weight, params, model):
    """:func:`_local_step` over row blocks of X, on all cores, merged in order.

    Through the row-block engine (skvi._core.engine): blocks that depend on X's
    shape only, merged in block order, so that results do not depend on the
    thread count; blocks whose statistics are large (a full scatter per
    component at large d) are merged in fixed groups as they go, so that
    memory holds a bounded number of them. On a dask array this runs on each
    chunk, on its worker.
    """
    n_samples, d = X.shape
    K, covariance = model.n_components, model.covariance
    width = _width(K, d, covariance)
    result = K * d * (d if covariance.scatter == "full" else 1)
    block_rows, _ = engine.plan(
        n_samples, width, operations=_e_step_operations(K, covariance)
    )
    if covariance.scatter == "full":
        # Each block's full statistics are merged at O(K d**2): blocks of at
        # least d rows keep that below the E-step's O(rows K d**2) on wide
        # data (d = 1000: 58-row blocks spent 70% of the time merging).
        block_rows = max(block_rows, d)
    block_rows, group_blocks = engine.plan(
        n_samples, width, block_rows=block_rows, result_elements=result
    )

    terms = _mahalanobis_terms(params.means - model.centre, params, model)

    def block_step(rows):
        weights = None if sample_weight is None else sample_weight[rows]
        return _local_step(X[rows], weights, params, model, terms)

    return _merge_local(
        engine.map_blocks(
            block_step,
            n_samples,
            block_rows,
            merge=_merge_local,
            group_blocks=group_blocks,
            row_elements=width,
        )
    )
