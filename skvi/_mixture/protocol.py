"""TODO: docstring."""

# SPDX-License-Identifier: BSD-3-Clause

import numbers

import numpy as np

from .._core import engine
from .._core.expectations import (
    LOG_2PI,
    _log_det_from_cholesky,
    _wishart_log_normalizer,
)
from .covariance import (
    _mahalanobis_full,
)
from .weights import (
    _WEIGHT_PRIOR,
)


def _check_n_samples(n_samples):
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise ValueError(f"n_samples must be an integer >= 1; got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(
            f"Invalid value for 'n_samples': {n_samples}. The sampling requires "
            "at least one sample."
        )


def _sample_posterior(params, model, n_samples, rng):
    """Draws of theta from q: a dict of arrays with the draws on the first axis.

    ``"log_weight_variables"``: the sticks' ``(log v, log(1 - v))``
    (Dirichlet process) or ``log pi`` (Dirichlet), each (n_samples, K);
    ``"log_weights"`` and ``"weights"``: log pi and pi, (n_samples, K);
    ``"precisions"``: Lambda_k ~ Wishart(nu_k, W_k), (n_samples, K, d, d);
    ``"precisions_cholesky"``: their lower factors L (Lambda = L L^T);
    ``"means"``: mu_k ~ Normal(m_k, (beta_k Lambda_k)^-1), (n_samples, K, d).
    """
    K, d = params["means"].shape
    weight_prior = _WEIGHT_PRIOR[model["weight_prior_type"]]
    log_variables = weight_prior["sample"](
        params["weight_concentration"], n_samples, rng
    )
    log_weights = weight_prior["log_weights"](log_variables)
    dof = np.broadcast_to(params["degrees_of_freedom"], (K,))
    precisions, lower = _sample_wishart(dof, params["scale"], n_samples, rng)
    # mu = m + L^-T z / sqrt(beta) with Lambda = L L^T, z ~ Normal(0, I).
    noise = rng.standard_normal((n_samples, K, d, 1))
    shift = np.linalg.solve(np.swapaxes(lower, -1, -2), noise)[..., 0]
    means = params["means"] + shift / np.sqrt(params["mean_precision"])[:, None]
    return {
        "log_weight_variables": log_variables,
        "log_weights": log_weights,
        "weights": np.exp(log_weights),
        "means": means,
        "precisions": precisions,
        "precisions_cholesky": lower,
    }


def _sample_wishart(dof, scale, n_samples, rng):
    """Lambda_k ~ Wishart(nu_k, W_k) by the Bartlett decomposition.

    Lambda = L A A^T L^T with W = L L^T, A lower-triangular, A_ii^2 ~
    chi2(nu - i + 1) (i = 1..d), A_ij ~ Normal(0, 1) below the diagonal.
    Returns the draws and their lower Cholesky factors L A (lower-triangular
    with a positive diagonal, so no factorisation is needed).
    """
    K, d, _ = scale.shape
    chol = np.linalg.cholesky(scale)
    A = np.zeros((n_samples, K, d, d))
    rows, cols = np.tril_indices(d, -1)
    A[:, :, rows, cols] = rng.standard_normal((n_samples, K, rows.size))
    i = np.arange(d)
    A[:, :, i, i] = np.sqrt(rng.chisquare(dof[:, None] - i, size=(n_samples, K, d)))
    LA = chol @ A
    return LA @ np.swapaxes(LA, -1, -2), LA


def _log_normal_wishart_pdf(draws, mean, mean_precision, dof, scale):
    """``log Normal(mu_k | m, (beta Lambda_k)^-1) + log Wishart(Lambda_k | W, nu)``.

    Bishop (2006), B.37 and B.78: with ``Lambda = L L^T``,
    ``d/2 log(beta / 2 pi) + 1/2 log|Lambda| - beta/2 ||L^T (mu - m)||^2
    + (nu - d - 1)/2 log|Lambda| - tr(W^-1 Lambda)/2 + log B(W, nu)``, per
    draw and component. ``mean`` (K or 1, d), ``mean_precision`` and ``dof``
    (K,) or scalars, ``scale`` (K or 1, d, d).
    """
    d = mean.shape[-1]
    log_det = draws["_log_det"]
    projected = np.einsum(
        "skij,ski->skj", draws["_precisions_cholesky"], draws["means"] - mean
    )
    inverse_scale = np.linalg.inv(scale)
    trace = np.einsum("kij,skij->sk", inverse_scale, draws["precisions"])
    log_det_scale = _log_det_from_cholesky(np.linalg.cholesky(scale))
    return (
        0.5 * d * (np.log(mean_precision) - LOG_2PI)
        + 0.5 * log_det
        - 0.5 * mean_precision * np.sum(projected**2, axis=-1)
        + 0.5 * (dof - d - 1.0) * log_det
        - 0.5 * trace
        + _wishart_log_normalizer(dof, log_det_scale, d)
    )


def _mixture_data_term(X, sample_weight, *, log_weights, means, lower, log_det, centre):
    """``sum_i w_i log sum_k pi_k Normal(x_i | mu_k, Lambda_k^-1)`` per draw, (S,).

    Rows are taken about ``centre`` (the training data's mean), as the E-step
    does. Each unit of work is a block of draws over all row blocks, so that
    the sum over rows runs in one order whatever the thread count.
    """
    S, K, d = means.shape
    n = X.shape[0]
    # Float64 values a block holds per draw and row: K d projections and K
    # log densities. A task's draws fill a block of the engine's size.
    per_row = K * (d + 1)
    rows, _ = engine.plan(n, per_row)
    step = int(max(1, engine.BLOCK_ELEMENTS // (per_row * rows)))
    # -2 (log pi_k + 1/2 log|Lambda_k| - d/2 log 2 pi), as the E-step's offset.
    offset = 2.0 * log_weights + log_det - d * LOG_2PI
    shifted_means = means - centre

    def draw_block(block):
        draws = slice(block * step, min((block + 1) * step, S))
        m = draws.stop - draws.start
        block_means = shifted_means[draws].reshape(m * K, d)
        block_factors = lower[draws].reshape(m * K, d, d)
        block_offset = offset[draws].reshape(m * K, 1)

        def row_block(rows):
            deviation = np.subtract(X[rows], centre, dtype=np.float64)
            log_density = _mahalanobis_full(deviation, None, block_means, block_factors)
            log_density -= block_offset
            log_density *= -0.5
            log_density = log_density.reshape(m, K, -1)
            top = log_density.max(axis=1)
            np.exp(log_density - top[:, None], out=log_density)
            log_norm = top + np.log(log_density.sum(axis=1))
            return (
                log_norm.sum(axis=1)
                if sample_weight is None
                else np.dot(log_norm, sample_weight[rows])
            )

        # Within a task (a thread of the engine's) the row blocks run in
        # order, so that each draw's sum over rows has one order.
        total = np.zeros(m)
        for part in engine.map_blocks(row_block, n, rows, n_threads=1):
            total += part
        return total

    return np.concatenate(engine.map_tasks(draw_block, -(-S // step)))
