"""The mixture's E-step and per-row values on an array API device (GPU).

With scikit-learn's ``array_api_dispatch`` on, a PyTorch or CuPy array (or
array-api-strict's) is fitted where it lives (skvi._core.array_api): the
n-sized passes run here, written with the array API standard alone, and
return the same numbers as the numpy E-step (skvi._mixture.estep) to
rounding in float64:

- ``log rho_ik`` (Bishop 10.46), with each covariance type's Mahalanobis
  term computed as its numpy one (skvi._mixture.covariance); its per-pass
  arrays made once an E-step from q's K- and d-sized parameters and copied
  to the device in X's dtype (:func:`device_parameters`);
- the log-sum-exp and ``r_ik`` (10.49); the responsibility-weighted
  statistics by the core's :func:`~skvi._core.array_api.component_statistics`,
  so that only :class:`~skvi._core.stats.SufficientStatistics` (O(K d^2)
  numbers) and two sums in float64 return to the host (:func:`local_step`);
- the fitted model's labels, responsibilities and scores, left on the
  device (:func:`row_values`).

Blocks as the core's device passes: ``skvi._core.engine.DEVICE_BLOCK_ELEMENTS``
values of temporaries, in order, in the calling thread.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006, §10.2.
"""

# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np

from .._core import engine
from .._core.array_api import (
    check_finite_on_device,
    component_statistics,
    device_block,
    device_plan,
    map_device_blocks,
    shift_of,
    sum_dtype,
)
from .._core.namespaces import to_namespace
from .._core.stats import SufficientStatistics

# Per covariance type: the per-pass arrays of the Mahalanobis term (from the
# precision factors U and the means less the centre) and the term of a
# block of deviations d = x - centre (and d * d for the diagonal types),
# shape (n, K). skvi._mixture.covariance lists them in each type's record.


def _device_terms_full(U, shifted_means, K, d):
    """``||U_k^T (x - m_k)||^2``: the stacked ``U_k^T`` and ``U_k^T (m_k - c)``."""
    return {
        "stacked": np.ascontiguousarray(U.transpose(0, 2, 1).reshape(K * d, d).T),
        "projected_means": np.einsum("kd,kde->ke", shifted_means, U).reshape(K * d),
    }


def _device_terms_tied(U, shifted_means, K, d):
    """``U`` and ``(m_k - c)^T U``."""
    return {"cholesky": U, "projected_means": shifted_means @ U}


def _device_terms_diag(U, shifted_means, K, d):
    """``p_k^T``, ``2 p_k (m_k - c)`` transposed and ``sum_j p_kj (m_kj - c_j)^2``."""
    precisions = U**2
    return {
        "precisions_t": np.ascontiguousarray(precisions.T),
        "cross_t": np.ascontiguousarray((2.0 * shifted_means * precisions).T),
        "constant": (shifted_means**2 * precisions).sum(1),
    }


def _device_terms_spherical(U, shifted_means, K, d):
    """``p_k``, ``2 (m_k - c)`` transposed and ``||m_k - c||^2``."""
    return {
        "precisions": U**2,
        "means_t": np.ascontiguousarray((2.0 * shifted_means).T),
        "constant": (shifted_means**2).sum(1),
    }


def device_parameters(params, model, space, dtype):
    """What the E-step needs of q(theta), as arrays of ``space`` in X's dtype.

    Computed once an E-step (K- and d-sized), from the host's parameters.
    The centre (the data's mean) is subtracted from X once per block, as
    in ``skvi._mixture.estep._deviations``.
    """
    U = np.asarray(params.precisions_cholesky, dtype=np.float64)
    shifted_means = np.asarray(params.means, dtype=np.float64) - model.centre
    K, d = shifted_means.shape
    arrays = {
        "offset": params.log_rho_offset,
        **model.covariance.device_terms(U, shifted_means, K, d),
    }
    result = {
        name: to_namespace(value, space, dtype=dtype) for name, value in arrays.items()
    }
    result["centre"], result["centre_value"] = shift_of(model.centre, space, dtype)
    result["K"], result["d"] = K, d
    return result


def _mahalanobis_full(deviation, squares, p, xp):
    """``||U_k^T (x_i - m_k)||^2``, shape (n, K): the mixture's, on a device."""
    projected = deviation @ p["stacked"] - p["projected_means"]
    projected = projected * projected
    return xp.sum(xp.reshape(projected, (deviation.shape[0], p["K"], p["d"])), axis=2)


def _mahalanobis_tied(deviation, squares, p, xp):
    """``||U^T x_i - U^T m_k||^2``, shape (n, K): the mixture's, on a device."""
    projected = deviation @ p["cholesky"]
    difference = projected[:, None, :] - p["projected_means"][None, :, :]
    return xp.sum(difference * difference, axis=2)


def _mahalanobis_diag(deviation, squares, p, xp):
    """``sum_j p_kj (x_ij - m_kj)^2`` (n, K), expanded about the centre."""
    return squares @ p["precisions_t"] - deviation @ p["cross_t"] + p["constant"]


def _mahalanobis_spherical(deviation, squares, p, xp):
    """``p_k ||x_i - m_k||^2`` (n, K), expanded about the centre."""
    distance = xp.sum(squares, axis=1)[:, None] - deviation @ p["means_t"]
    return (distance + p["constant"]) * p["precisions"]


def _log_rho_block(block, p, covariance, xp):
    """``(log rho, d, d * d or None)`` of a block; log rho (Bishop 10.46): (n, K)."""
    deviation = block - p["centre"]
    squares = deviation * deviation if covariance.scatter == "diag" else None
    mahalanobis = covariance.device_mahalanobis(deviation, squares, p, xp)
    # log rho = E[log pi] + 1/2 (E[log|Lambda|] - d log 2 pi - d / beta - mahalanobis)
    return -0.5 * (mahalanobis - p["offset"]), deviation, squares


def _log_normalise(log_rho, xp):
    """``(log sum_k rho_ik, r_ik, log r_ik)`` per row: log-sum-exp (Bishop 10.49)."""
    top = xp.max(log_rho, axis=1, keepdims=True)
    resp = xp.exp(log_rho - top)
    total = xp.sum(resp, axis=1, keepdims=True)
    resp = resp / total
    log_norm = top + xp.log(total)
    return log_norm[:, 0], resp, log_rho - log_norm


def _width(K, d, covariance):
    """Values of temporaries per row of an E-step block (as ``row_elements``)."""
    return (K * d + 3 * K + 2 * d) if covariance.scatter == "full" else (3 * K + 3 * d)


def local_step(X, sample_weight, params, model, space, *, estimator_name=None):
    """``skvi._mixture.estep._local_step`` over all rows of X, in ``space``.

    Returns
    -------
    statistics : SufficientStatistics
        Responsibility-weighted statistics (host, float64).
    log_norm : float
        ``sum_i w_i log sum_k rho_ik``, accumulated in float64.
    neg_entropy : float
        ``sum_i w_i sum_k r_ik log r_ik``, accumulated in float64.
    """
    xp = space.xp
    covariance = model.covariance
    dtype = space.compute_dtype(X.dtype)
    p = device_parameters(params, model, space, dtype)
    n_samples = X.shape[0]
    block_rows = device_plan(n_samples, _width(p["K"], p["d"], covariance))
    wide = sum_dtype(space)

    def block_step(rows):
        block = device_block(X, rows, dtype, space.xp)
        log_rho_block, deviation, squares = _log_rho_block(block, p, covariance, xp)
        log_norm, resp, log_resp = _log_normalise(log_rho_block, xp)
        row_neg_entropy = xp.sum(resp * log_resp, axis=1)
        if sample_weight is None:
            total_log_norm = xp.sum(log_norm, dtype=wide)
            neg_entropy = xp.sum(row_neg_entropy, dtype=wide)
        else:
            weights = sample_weight[rows]
            total_log_norm = xp.sum(
                xp.astype(log_norm, wide) * xp.astype(weights, wide)
            )
            neg_entropy = xp.sum(
                xp.astype(row_neg_entropy, wide) * xp.astype(weights, wide)
            )
            resp = resp * weights[:, None]
        statistics = component_statistics(
            deviation,
            resp,
            p["centre_value"],
            space,
            scatter=covariance.scatter,
            X=block,
            squares=squares,
        )
        return statistics, float(total_log_norm), float(neg_entropy)

    parts = map_device_blocks(block_step, n_samples, block_rows)
    total_log_norm = math.fsum(part[1] for part in parts)
    neg_entropy = math.fsum(part[2] for part in parts)
    if not (math.isfinite(total_log_norm) and math.isfinite(neg_entropy)):
        for rows in engine.block_slices(n_samples, block_rows):
            check_finite_on_device(X[rows, ...], space, estimator_name)
    return (
        SufficientStatistics.merge_all([part[0] for part in parts]),
        total_log_norm,
        neg_entropy,
    )


def _labels(log_rho, xp):
    return xp.argmax(log_rho, axis=1)


def _responsibilities(log_rho, xp):
    return _log_normalise(log_rho, xp)[1]


def _log_norm(log_rho, xp):
    return _log_normalise(log_rho, xp)[0]


ROW_FUNCTIONS = {
    "labels": _labels,
    "responsibilities": _responsibilities,
    "log_norm": _log_norm,
}


def row_values(X, space, *, params, model, function, shift=0.0):
    """``function(log rho)`` of the rows of X, in ``space``, on X's device.

    ``function`` is a key of :data:`ROW_FUNCTIONS`: ``"labels"`` (predict),
    ``"responsibilities"`` (predict_proba), ``"log_norm"`` (score_samples,
    less ``shift``).
    """
    xp = space.xp
    covariance = model.covariance
    dtype = space.compute_dtype(X.dtype)
    p = device_parameters(params, model, space, dtype)
    block_rows = device_plan(X.shape[0], _width(p["K"], p["d"], covariance))
    apply = ROW_FUNCTIONS[function]

    def block(rows):
        log_rho = _log_rho_block(device_block(X, rows, dtype, xp), p, covariance, xp)
        return apply(log_rho[0], xp)

    parts = map_device_blocks(block, X.shape[0], block_rows)
    values = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
    if function == "labels":
        return values
    # Floats as the numpy path gives them: float64 (where the device has it).
    values = xp.astype(values, space.float_dtype)
    return values - shift if function == "log_norm" else values
