"""The full Normal where a feature's prior outweighs its data by 2**745 in its units.

A feature of entries near 1e-110 to 1e-150 beside O(1) features, under
priors of unit scale (prior_std=1, prior_rate=1), leaves ``E[Lambda]`` in
the fit's units (skvi._normal.full_units) with entries of 1e-223 beside
O(1): hypothesis found ``noise_covariance_[0, 1] = -6.6e94`` where the answer
is 6e-113 (an LU inverse of that ``E[Lambda]``), and the fixed point stopped
with ``posterior_covariance_`` 3e-6 from it (its test never saw the small
entries). Each fitted matrix is checked here against an independent
reference: the exact inverse, in rational arithmetic, of the matrix it must
be the inverse of, entry by entry against the sizes its diagonal gives it.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy import linalg, special

from skvi import VariationalNormalEstimator
from skvi._normal.full_covariance import kl_to_prior
from skvi._normal.full_units import relative_change

UNIT_PRIORS = dict(prior_mean=0.0, prior_std=1.0, prior_shape=1.0, prior_rate=1.0)


def exact_inverse(matrix):
    """A float64 matrix's inverse in rational arithmetic (Gauss-Jordan), rounded."""
    size = matrix.shape[0]
    rows = [
        [Fraction(float(value)) for value in row]
        + [Fraction(int(i == j)) for j in range(size)]
        for i, row in enumerate(matrix)
    ]
    for column in range(size):
        pivot = next(r for r in range(column, size) if rows[r][column] != 0)
        rows[column], rows[pivot] = rows[pivot], rows[column]
        rows[column] = [value / rows[column][column] for value in rows[column]]
        for r in range(size):
            if r != column and rows[r][column] != 0:
                factor = rows[r][column]
                rows[r] = [
                    a - factor * b for a, b in zip(rows[r], rows[column], strict=True)
                ]
    return np.array([[float(value) for value in row[size:]] for row in rows])


def against_diagonal(actual, expected):
    """``max |actual - expected| / sqrt(expected_ii expected_jj)``: scale-free."""
    root = np.sqrt(np.diag(expected))
    return np.max(np.abs(actual - expected) / root[:, None] / root[None, :])


def tiny_feature_data(seed, tiny, n_samples=12, n_features=3, single_entry=False):
    """O(1) correlated features with one feature of size ``tiny``; weights."""
    rng = np.random.default_rng(seed)
    X = (
        rng.normal(size=(n_samples, n_features))
        @ np.array([[1.0, 0.5, 0.0], [0.0, 2.0, 0.3], [0.0, 0.0, 1.5]])[
            :n_features, :n_features
        ]
        + np.array([0.5, -1.0, 2.0])[:n_features]
    )
    column = seed % n_features
    if single_entry:
        X[:, column] = 0.0
        X[seed % n_samples, column] = tiny
    else:
        X[:, column] = tiny * (1.0 + rng.normal(size=n_samples))
    weights = rng.choice([0.0, 0.5, 1.0, 3.0], size=n_samples)
    weights[seed % n_samples] = 1.0
    return X, weights


# (n_samples, n_features, seed, tiny, single_entry, weighted): each but the
# last gave a noise_covariance_ that was not even positive definite (entries
# 1e93 to 1e124 off), or a posterior_covariance_ off its fixed point (seed 18).
CASES = [
    (3, 2, 2, 1e-124, False, True),
    (4, 3, 3, 1e-131, True, True),
    (5, 3, 21, 1e-134, False, False),
    (6, 3, 9, 1e-132, True, True),
    (8, 2, 14, 1e-126, True, True),
    (6, 2, 18, 1e-113, False, True),
    (5, 2, 18, 1e-113, True, False),
    (12, 3, 0, 4.4e-150, False, True),
]


def case_data(n_samples, n_features, seed, tiny, single_entry, weighted):
    X, weights = tiny_feature_data(
        seed,
        tiny,
        n_samples=n_samples,
        n_features=n_features,
        single_entry=single_entry,
    )
    return X, weights if weighted else None


def fit(X, weights, **params):
    with warnings.catch_warnings():
        # The unit prior on mu may decide the O(1) features' means.
        warnings.simplefilter("ignore")
        return VariationalNormalEstimator(
            covariance_type="full", **{**UNIT_PRIORS, **params}
        ).fit(X, sample_weight=weights)


def assert_inverses_of_the_fitted_precision(fitted):
    """``noise_covariance_ = E[Lambda]^-1`` and ``S_mu = (S0^-1 + W E[Lambda])^-1``."""
    precision = fitted.posterior_dof_ * fitted.posterior_scale_
    noise = fitted.noise_covariance_
    assert against_diagonal(noise, exact_inverse(precision)) < 1e-12
    # Positive definite, so each off-diagonal within its diagonal's bound.
    np.linalg.cholesky(noise)
    prior_precision = np.diag(np.broadcast_to(fitted.prior_std_, noise.shape[0]) ** -2)
    # At CAVI's fixed point q(mu) is the update from the final E[Lambda].
    expected = exact_inverse(prior_precision + fitted.n_samples_seen_ * precision)
    assert against_diagonal(fitted.posterior_covariance_, expected) < 1e-12


def test_the_example_hypothesis_found():
    """20 rows of zeros but ``[4.7e-112, 3, 0]``, 8 sweeps (tol=0)."""
    X = np.zeros((20, 3))
    X[0] = [4.71286152e-112, 3.0, 0.0]
    fitted = fit(X, None, tol=0, max_iter=8)
    noise = fitted.noise_covariance_
    # Was -6.58e94 (and 5.8e-119 for the same data in units 1e3 smaller).
    assert abs(noise[0, 1]) < 1e-110
    assert_inverses_of_the_fitted_precision(fitted)


@pytest.mark.parametrize("case", CASES)
def test_noise_and_mean_covariance_are_the_exact_inverses(case):
    X, weights = case_data(*case)
    assert_inverses_of_the_fitted_precision(fit(X, weights))
    # In as few sweeps as tol=0, max_iter=3 allows: the fixed point is reached.
    assert_inverses_of_the_fitted_precision(fit(X, weights, tol=0, max_iter=3))


@pytest.mark.parametrize("case", CASES)
def test_partial_fit_equals_fit(case):
    X, weights = case_data(*case)
    whole = fit(X, weights)
    streamed = VariationalNormalEstimator(covariance_type="full", **UNIT_PRIORS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rows in np.array_split(np.arange(X.shape[0]), 3):
            chunk = None if weights is None else weights[rows]
            if chunk is None or chunk.sum() > 0:  # rows of weight 0 add nothing
                streamed.partial_fit(X[rows], sample_weight=chunk)
    assert_inverses_of_the_fitted_precision(streamed)
    for name in ("noise_covariance_", "posterior_covariance_", "posterior_scale_"):
        assert against_diagonal(getattr(streamed, name), getattr(whole, name)) < 1e-12
    np.testing.assert_allclose(
        streamed.posterior_mean_, whole.posterior_mean_, rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("case", CASES)
def test_score_samples(case):
    """Against each row's term through ``noise_covariance_``'s Cholesky factor.

    ``E_q[log N(x | mu, Lambda^-1)] - KL / W`` with ``E[Lambda] = N^-1``,
    ``N = noise_covariance_ = L L^T``: the quadratic ``||L^-1 (x - m)||**2``,
    ``tr(E[Lambda] S_mu) = ||L^-1 L_S||_F**2`` and ``log|E[Lambda]| = -2 sum
    log L_ii`` (Bishop 2006, B.80-B.81); and the weighted scores sum to the
    ELBO (each row's share).
    """
    X, weights = case_data(*case)
    fitted = fit(X, weights)
    n_features, dof = X.shape[1], fitted.posterior_dof_
    lower = np.linalg.cholesky(fitted.noise_covariance_)
    deviation = linalg.solve_triangular(
        lower, (X - fitted.posterior_mean_).T, lower=True
    )
    spread = linalg.solve_triangular(
        lower, np.linalg.cholesky(fitted.posterior_covariance_), lower=True
    )
    log_det = (
        special.digamma(0.5 * (dof - np.arange(n_features))).sum()
        + n_features * np.log(2.0)
        - 2.0 * np.sum(np.log(np.diag(lower)))
        - n_features * np.log(dof)
    )
    prior = (fitted.prior_mean_, fitted.prior_std_, None, None)
    kl = kl_to_prior(
        fitted.posterior_mean_,
        fitted.posterior_covariance_,
        dof,
        fitted.posterior_scale_,
        prior + (fitted.prior_dof_, fitted.prior_scale_),
    )
    expected = (
        0.5 * (log_det - n_features * np.log(2.0 * np.pi))
        - 0.5 * (np.sum(deviation**2, axis=0) + np.sum(spread**2))
        - kl / fitted.n_samples_seen_
    )
    scores = fitted.score_samples(X)
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)
    total = fitted.n_samples_seen_
    np.testing.assert_allclose(
        np.average(scores, weights=weights) * total,
        fitted.elbo_,
        rtol=1e-12,
        atol=1e-12 * total,
    )


def test_relative_change_is_free_of_the_units():
    """The fixed point's test sees each entry against its diagonal's sizes."""
    old = np.array([[1e-223, 1e-112], [1e-112, 2.0]])
    new = old * (1.0 + np.array([[1e-6, 0.0], [0.0, 0.0]]))
    unit = np.array([2.0**-370, 1.0])
    scaled = relative_change(new / np.outer(unit, unit), old / np.outer(unit, unit))
    assert relative_change(new, old) == pytest.approx(1e-6)
    assert scaled == pytest.approx(1e-6)
