"""Shared references for the expectation, KL and natural-parameter tests."""

import numpy as np

# Monte Carlo checks pass when the estimate is within this many standard errors
# of the closed form: with a fixed seed they are deterministic, and a wrong
# formula (a missing log 2, a swapped sign) moves the estimate by many more.
N_STANDARD_ERRORS = 5.0


def assert_monte_carlo_mean(samples, expected, axis=0):
    """Mean of ``samples`` over ``axis`` is ``expected`` to N standard errors."""
    samples = np.asarray(samples, dtype=float)
    n = samples.shape[axis]
    estimate = samples.mean(axis=axis)
    standard_error = samples.std(axis=axis, ddof=1) / np.sqrt(n)
    error = np.abs(estimate - expected)
    bound = N_STANDARD_ERRORS * standard_error + 1e-12 * np.abs(expected)
    assert np.all(error <= bound), (
        f"Monte Carlo mean {estimate} vs closed form {expected}: "
        f"error {error} exceeds {N_STANDARD_ERRORS} standard errors {standard_error}"
    )


def random_scale_matrices(rng, n_matrices, dimension):
    """Well-conditioned symmetric positive definite matrices, shape (n, d, d)."""
    factor = rng.normal(size=(n_matrices, dimension, dimension))
    return factor @ np.swapaxes(factor, -1, -2) / dimension + 0.5 * np.eye(dimension)
