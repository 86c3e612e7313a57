"""The Normal model's passes over X on a device (array API namespaces).

Under scikit-learn's ``array_api_dispatch``, a PyTorch, CuPy or
array-api-strict array is fitted and scored where it lives. The fit's one
pass, the statistics, is the core's (:func:`skvi._core.array_api.statistics`,
diagonal or full scatter; :mod:`skvi._normal.statistics` calls it); this
module holds what only this model does there: ``score_samples``, each row's
``constant - 1/2 (x - m)^T E[Lambda] (x - m)`` with the row-independent
terms and the quadratic form's matrix computed once on the host by the
covariance type's record (its ``device_terms``, from the same formulas as
the numpy path: ``E[tau]``, or for the full model a factor ``U`` of
``E[Lambda] = U^T U``, skvi._normal.full_shares), and the
sample weights moved to X's namespace. Blocks and transfers are the core's
(:mod:`skvi._core.array_api`): rows in blocks of
:data:`skvi._core.engine.DEVICE_BLOCK_ELEMENTS` values, in order, in the
calling thread; the scores stay on the device.
"""

# SPDX-License-Identifier: BSD-3-Clause

from functools import partial

from .._core.array_api import device_block, device_plan, map_device_blocks
from .._core.namespaces import to_namespace


def device_weight(sample_weight, X, space):
    """Checked (numpy) weights as an array of X's space, in X's dtype; or None."""
    if sample_weight is None:
        return None
    return to_namespace(sample_weight, space, dtype=space.compute_dtype(X.dtype))


def device_scorer(covariance_type, scorer):
    """``(rows, space) -> score_samples(rows)`` from the host's ``scorer``.

    ``scorer`` is the record's ``sample_scorer`` (a ``functools.partial``);
    its keywords give ``(metric, constant)`` through the record's
    ``device_terms``, computed once here.
    """
    metric, constant = covariance_type.device_terms(scorer.keywords)
    return partial(
        normal_scores,
        mean=scorer.keywords["mean"],
        metric=metric,
        constant=float(constant),
    )


def normal_scores(X, space, *, mean, metric, constant):
    """Each row's ``constant - 1/2 (x - m)^T E[Lambda] (x - m)``, in ``space``.

    The Normal model's ``score_samples``: ``constant`` holds the terms that do
    not depend on the row (the expected log-likelihood of ``x = m`` less
    ``KL / W``); ``metric`` is ``E[tau]`` (diag, shape (d,): the form is
    ``sum_j E[tau_j] (x_j - m_j)**2``) or a factor ``U`` of ``E[Lambda] =
    U^T U`` (full, (d, d): the form is ``||U (x - m)||^2``, a sum of squares
    that keeps the small eigenvalue of an ill-conditioned ``E[Lambda]``).
    """
    xp = space.xp
    dtype = space.compute_dtype(X.dtype)
    mean_array = to_namespace(mean, space, dtype=dtype)
    metric_array = to_namespace(metric, space, dtype=dtype)
    n_samples, n_features = X.shape
    block_rows = device_plan(n_samples, 2 * n_features)

    def block_scores(rows):
        deviation = device_block(X, rows, dtype, space.xp) - mean_array
        if metric.ndim == 1:
            quadratic = (deviation * deviation) @ metric_array
        else:
            whitened = deviation @ xp.permute_dims(metric_array, (1, 0))
            quadratic = xp.sum(whitened * whitened, axis=1)
        return constant - 0.5 * quadratic

    parts = map_device_blocks(block_scores, n_samples, block_rows)
    scores = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
    # float64 (where the device has it), as the numpy path gives them.
    return xp.astype(scores, space.float_dtype)
