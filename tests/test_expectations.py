"""Expectations of the families against scipy.stats, quadrature and Monte Carlo."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from skvi._core.families.beta import (
    beta_expected_log,
    stick_breaking_expected_log_weights,
)
from skvi._core.families.dirichlet import dirichlet_expected_log
from skvi._core.families.gamma import gamma_expectations
from skvi._core.families.normal import LOG_2PI, expected_log_normal
from skvi._core.families.wishart import (
    wishart_expected_log_det,
    wishart_expected_precision,
)

from ._montecarlo import assert_monte_carlo_mean, random_scale_matrices

positive = st.floats(0.05, 50.0)


def test_log_2pi():
    assert LOG_2PI == pytest.approx(np.log(2 * np.pi), rel=1e-16)


@pytest.mark.parametrize(("shape", "rate"), [(0.3, 2.0), (1.0, 1.0), (7.5, 0.01)])
def test_gamma_expectations_against_quadrature(shape, rate):
    precision_mean, log_precision_mean = gamma_expectations(shape, rate)
    reference = stats.gamma(shape, scale=1.0 / rate)
    assert precision_mean == pytest.approx(reference.mean(), rel=1e-14)
    # E[log tau] by quadrature of log(tau) against the density: no digamma.
    assert log_precision_mean == pytest.approx(reference.expect(np.log), rel=1e-8)


def test_expected_log_normal_against_monte_carlo():
    rng = np.random.default_rng(0)
    x, weights = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.5, 0.5])
    mean, variance, shape, rate = 0.3, 0.2, 4.0, 3.0
    mu = rng.normal(mean, np.sqrt(variance), size=40_000)
    tau = rng.gamma(shape, 1.0 / rate, size=mu.size)
    log_likelihood = (
        weights
        * stats.norm.logpdf(x, loc=mu[:, None], scale=1.0 / np.sqrt(tau[:, None]))
    ).sum(axis=1)
    expected = expected_log_normal(
        (weights * (x - mean) ** 2).sum(),
        weights.sum(),
        variance,
        *gamma_expectations(shape, rate),
    )
    assert_monte_carlo_mean(log_likelihood, expected)


# ---------------------------------------------------------------------------
# Wishart
# ---------------------------------------------------------------------------


@pytest.fixture
def wishart_components():
    """Three components in d = 3: dofs near d, moderate and large."""
    rng = np.random.default_rng(1)
    return np.array([3.5, 6.0, 40.0]), random_scale_matrices(rng, 3, 3)


def test_wishart_expected_precision_matches_scipy(wishart_components):
    dof, scale = wishart_components
    expected = np.stack(
        [stats.wishart(df=n, scale=w).mean() for n, w in zip(dof, scale, strict=True)]
    )
    np.testing.assert_allclose(
        wishart_expected_precision(dof, scale), expected, rtol=1e-14
    )


def test_wishart_expected_log_det_against_monte_carlo(wishart_components):
    dof, scale = wishart_components
    expected = wishart_expected_log_det(dof, scale)
    assert expected.shape == (3,)
    for k, (n, w) in enumerate(zip(dof, scale, strict=True)):
        draws = stats.wishart(df=n, scale=w).rvs(20_000, random_state=k)
        sign, log_det = np.linalg.slogdet(draws)
        assert np.all(sign > 0)
        assert_monte_carlo_mean(log_det, expected[k])


def test_wishart_in_one_dimension_is_a_gamma():
    # W(lambda | w, nu) in d = 1 is Gamma(nu/2, rate 1/(2 w)) (Bishop B.79).
    dof, scale = np.array([0.5, 3.0, 100.0]), np.array([2.0, 0.1, 7.0])
    precision_mean, log_precision_mean = gamma_expectations(dof / 2, 0.5 / scale)
    matrices = scale[:, None, None]
    np.testing.assert_allclose(
        wishart_expected_precision(dof, matrices)[:, 0, 0], precision_mean, rtol=1e-15
    )
    np.testing.assert_allclose(
        wishart_expected_log_det(dof, matrices), log_precision_mean, rtol=1e-14
    )


def test_wishart_broadcasts_dof_over_one_scale():
    scale = random_scale_matrices(np.random.default_rng(2), 1, 4)[0]
    dof = np.array([[4.0, 5.0], [9.0, 30.0]])
    log_det = wishart_expected_log_det(dof, scale)
    assert log_det.shape == (2, 2)
    assert wishart_expected_precision(dof, scale).shape == (2, 2, 4, 4)
    for index in np.ndindex(dof.shape):
        assert log_det[index] == wishart_expected_log_det(dof[index], scale)


@pytest.mark.parametrize("factor", [1e-200, 1e200])
def test_wishart_extreme_scales_stay_finite(factor):
    # det(1e-200 I_3) = 1e-600 underflows; the Cholesky form does not.
    scale = random_scale_matrices(np.random.default_rng(3), 2, 3)
    dof = np.array([3.5, 8.0])
    shift = 3 * np.log(factor)
    np.testing.assert_allclose(
        wishart_expected_log_det(dof, factor * scale),
        wishart_expected_log_det(dof, scale) + shift,
        rtol=1e-14,
    )


@settings(max_examples=50)
@given(
    dimension=st.integers(1, 4),
    excess_dof=st.floats(0.01, 100.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_wishart_expected_log_det_below_log_det_of_mean(dimension, excess_dof, seed):
    # Jensen: log|.| is concave on positive definite matrices.
    scale = random_scale_matrices(np.random.default_rng(seed), 1, dimension)[0]
    dof = dimension - 1 + excess_dof
    log_det_of_mean = np.linalg.slogdet(wishart_expected_precision(dof, scale))[1]
    assert wishart_expected_log_det(dof, scale) < log_det_of_mean


# ---------------------------------------------------------------------------
# Dirichlet, Beta, stick-breaking
# ---------------------------------------------------------------------------


def test_dirichlet_expected_log_against_monte_carlo():
    concentration = np.array([[0.7, 2.0, 5.0], [30.0, 1.0, 1.5]])
    expected = dirichlet_expected_log(concentration)
    assert expected.shape == (2, 3)
    rng = np.random.default_rng(4)
    for row, alpha in enumerate(concentration):
        draws = rng.dirichlet(alpha, size=40_000)
        assert_monte_carlo_mean(np.log(draws), expected[row])


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (1.0, 3.0), (40.0, 2.0)])
def test_beta_expected_log_against_quadrature(a, b):
    log_mean, log_complement_mean = beta_expected_log(a, b)
    reference = stats.beta(a, b)
    assert log_mean == pytest.approx(reference.expect(np.log), rel=1e-8)
    assert log_complement_mean == pytest.approx(
        reference.expect(lambda v: np.log1p(-v)), rel=1e-8
    )


def test_beta_expected_log_broadcasts():
    log_mean, log_complement_mean = beta_expected_log(np.array([1.0, 2.0, 3.0]), 2.0)
    assert log_mean.shape == log_complement_mean.shape == (3,)
    np.testing.assert_array_equal(
        log_complement_mean[1], beta_expected_log(2.0, 2.0)[1]
    )


@settings(max_examples=50)
@given(st.lists(positive, min_size=2, max_size=6))
def test_dirichlet_expected_log_below_log_of_mean(concentration):
    # Jensen: E[log pi_k] < log E[pi_k] = log(alpha_k / sum(alpha)).
    alpha = np.array(concentration)
    assert np.all(dirichlet_expected_log(alpha) < np.log(alpha / alpha.sum()))


STICKS_A = np.array([1.0, 2.5, 0.8, 4.0])
STICKS_B = np.array([3.0, 0.7, 2.0, 1.0])


def _sampled_log_weights(rng, a, b, n_samples, truncate):
    """``log pi_k`` of sampled sticks, from ``pi_k = v_k prod_{j<k} (1 - v_j)``."""
    sticks = rng.beta(a, b, size=(n_samples, a.size))
    if truncate:
        sticks = np.concatenate([sticks, np.ones((n_samples, 1))], axis=1)
    remaining = np.cumprod(1.0 - sticks, axis=1)
    remaining = np.concatenate([np.ones((n_samples, 1)), remaining[:, :-1]], axis=1)
    weights = sticks * remaining
    return np.log(weights), weights


@pytest.mark.parametrize("truncate", [False, True])
def test_stick_breaking_expected_log_weights_against_monte_carlo(truncate):
    rng = np.random.default_rng(5)
    log_weights, weights = _sampled_log_weights(
        rng, STICKS_A, STICKS_B, 40_000, truncate
    )
    expected = stick_breaking_expected_log_weights(
        STICKS_A, STICKS_B, truncate=truncate
    )
    assert expected.shape == (STICKS_A.size + truncate,)
    assert_monte_carlo_mean(log_weights, expected)
    # Only the truncated family puts all the mass on the K components.
    total = weights.sum(axis=1)
    assert np.allclose(total, 1.0) == truncate


def test_stick_breaking_broadcasts_over_leading_axes():
    a = np.stack([STICKS_A, STICKS_B])
    b = np.stack([STICKS_B, STICKS_A])
    batched = stick_breaking_expected_log_weights(a, b)
    assert batched.shape == (2, 4)
    np.testing.assert_array_equal(
        batched[1], stick_breaking_expected_log_weights(STICKS_B, STICKS_A)
    )
