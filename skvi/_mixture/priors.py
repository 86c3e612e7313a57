"""TODO: docstring."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from .._core.stats import (
    sufficient_statistics,
)


def _is_singular(covariance, mean):
    """Whether an empirical covariance is singular, judged scale-free.

    A feature is constant when its variance is within rounding of zero
    relative to its mean; otherwise the correlation matrix
    ``D^-1/2 C D^-1/2`` (features of any scales, 1e6 against 1e-6, weigh
    alike) is singular when its smallest eigenvalue is below 1e-12.
    """
    variances = np.diagonal(covariance)
    if np.any(variances <= (4.0 * np.finfo(np.float64).eps * np.abs(mean)) ** 2):
        return True
    if not np.any(covariance - np.diag(variances)):
        return False  # diagonal, with no constant feature
    spread = np.sqrt(variances)
    correlation = covariance / spread[:, None] / spread[None, :]
    return bool(np.linalg.eigvalsh(correlation)[0] <= 1e-12)


def _chunk_moments(rows, weights, *, scatter):
    """``(n_rows, statistics)`` of one dask chunk, for the data-dependent priors."""
    return rows.shape[0], sufficient_statistics(rows, weights, scatter=scatter)
