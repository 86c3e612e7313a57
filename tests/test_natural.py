"""Natural parameters: round trips, scipy.stats densities, conjugacy, SVI steps."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from skvi._core.families.beta import beta_to_natural, natural_to_beta
from skvi._core.families.dirichlet import dirichlet_to_natural, natural_to_dirichlet
from skvi._core.families.wishart import (
    natural_to_normal_wishart,
    normal_wishart_to_natural,
)
from skvi._core.svi import natural_step, svi_step_size

from ._montecarlo import random_scale_matrices

positive = st.floats(1e-3, 1e3)


def assert_parts_close(actual, expected, rtol, atol=0.0):
    assert len(actual) == len(expected)
    for part, reference in zip(actual, expected, strict=True):
        np.testing.assert_allclose(part, reference, rtol=rtol, atol=atol)


# ``a -> a - 1 -> a`` is exact to the rounding of ``a - 1``: one ulp of 1 for a < 1.
ULP_OF_ONE = np.finfo(float).eps


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------


@settings(max_examples=50)
@given(positive, positive)
def test_beta_round_trip(first, second):
    assert_parts_close(
        natural_to_beta(beta_to_natural(first, second)),
        (first, second),
        rtol=ULP_OF_ONE,
        atol=ULP_OF_ONE,
    )


@settings(max_examples=50)
@given(st.lists(positive, min_size=1, max_size=6))
def test_dirichlet_round_trip(concentration):
    natural = dirichlet_to_natural(concentration)
    assert isinstance(natural, tuple) and len(natural) == 1
    np.testing.assert_allclose(
        natural_to_dirichlet(natural), concentration, rtol=ULP_OF_ONE, atol=ULP_OF_ONE
    )


@settings(max_examples=50)
@given(
    dimension=st.integers(1, 4),
    mean_precision=st.floats(1e-2, 1e2),
    excess_dof=st.floats(1e-2, 1e2),
    seed=st.integers(0, 2**32 - 1),
)
def test_normal_wishart_round_trip(dimension, mean_precision, excess_dof, seed):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=dimension)
    scale = random_scale_matrices(rng, 1, dimension)[0]
    parameters = (mean, mean_precision, dimension - 1 + excess_dof, scale)
    natural = normal_wishart_to_natural(*parameters)
    assert_parts_close(natural_to_normal_wishart(natural), parameters, rtol=1e-9)
    assert_parts_close(
        normal_wishart_to_natural(*natural_to_normal_wishart(natural)),
        natural,
        rtol=1e-9,
    )


def test_normal_wishart_batches_components():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(3, 2))
    mean_precision = np.array([0.5, 1.0, 20.0])
    dof = np.array([2.0, 5.0, 9.0])
    scale = random_scale_matrices(rng, 3, 2)
    natural = normal_wishart_to_natural(mean, mean_precision, dof, scale)
    assert [part.shape for part in natural] == [(3, 2), (3,), (3, 2, 2), (3,)]
    for k in range(3):
        assert_parts_close(
            [part[k] for part in natural],
            normal_wishart_to_natural(mean[k], mean_precision[k], dof[k], scale[k]),
            rtol=1e-14,
        )
    assert_parts_close(
        natural_to_normal_wishart(natural), (mean, mean_precision, dof, scale), 1e-12
    )


# ---------------------------------------------------------------------------
# The natural parameters are those of scipy's densities:
# log q(x1) - log q(x2) = eta . (T(x1) - T(x2)).
# ---------------------------------------------------------------------------


def _pairing(natural, statistics):
    """``eta . T``: the sum over parts of elementwise products."""
    return sum(
        np.sum(np.multiply(eta, t)) for eta, t in zip(natural, statistics, strict=True)
    )


def _assert_log_density_difference(natural, statistic, log_density, first, second):
    expected = log_density(first) - log_density(second)
    actual = _pairing(natural, statistic(first)) - _pairing(natural, statistic(second))
    assert actual == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_beta_natural_parameters_match_scipy():
    a, b = 0.7, 3.0
    _assert_log_density_difference(
        beta_to_natural(a, b),
        lambda v: (np.log(v), np.log1p(-v)),
        stats.beta(a, b).logpdf,
        0.1,
        0.65,
    )


def test_dirichlet_natural_parameters_match_scipy():
    concentration = np.array([0.8, 2.0, 5.0])
    _assert_log_density_difference(
        dirichlet_to_natural(concentration),
        lambda pi: (np.log(pi),),
        stats.dirichlet(concentration).logpdf,
        np.array([0.2, 0.3, 0.5]),
        np.array([0.05, 0.9, 0.05]),
    )


def test_normal_wishart_natural_parameters_match_scipy():
    rng = np.random.default_rng(1)
    mean, mean_precision, dof = np.array([0.5, -1.0]), 3.0, 4.5
    scale = random_scale_matrices(rng, 1, 2)[0]

    def log_density(point):
        mu, precision = point
        return stats.multivariate_normal(
            mean, np.linalg.inv(mean_precision * precision)
        ).logpdf(mu) + stats.wishart(df=dof, scale=scale).logpdf(precision)

    def statistic(point):
        mu, precision = point
        return (
            precision @ mu,
            mu @ precision @ mu,
            precision,
            np.linalg.slogdet(precision)[1],
        )

    first, second = stats.wishart(df=dof, scale=scale).rvs(2, random_state=rng)
    _assert_log_density_difference(
        normal_wishart_to_natural(mean, mean_precision, dof, scale),
        statistic,
        log_density,
        (rng.normal(size=2), first),
        (rng.normal(size=2), second),
    )


# ---------------------------------------------------------------------------
# Conjugate updates are additions in natural parameters.
# ---------------------------------------------------------------------------


def test_normal_wishart_posterior_is_prior_plus_statistics():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3)) @ np.diag([1.0, 2.0, 0.5]) + 1.0
    n_samples = X.shape[0]
    prior_mean, prior_beta, prior_dof = np.zeros(3), 0.1, 4.0
    prior_scale = random_scale_matrices(rng, 1, 3)[0]
    # Bishop (2006), eqs. 10.60-10.63 with unit responsibilities.
    x_bar = X.mean(axis=0)
    scatter = (X - x_bar).T @ (X - x_bar) / n_samples
    beta = prior_beta + n_samples
    mean = (prior_beta * prior_mean + n_samples * x_bar) / beta
    shift = x_bar - prior_mean
    inverse_scale = (
        np.linalg.inv(prior_scale)
        + n_samples * scatter
        + prior_beta * n_samples / beta * np.outer(shift, shift)
    )
    posterior = (mean, beta, prior_dof + n_samples, np.linalg.inv(inverse_scale))

    statistics = (X.sum(axis=0), -0.5 * n_samples, -0.5 * X.T @ X, 0.5 * n_samples)
    natural = tuple(
        eta + t
        for eta, t in zip(
            normal_wishart_to_natural(prior_mean, prior_beta, prior_dof, prior_scale),
            statistics,
            strict=True,
        )
    )
    assert_parts_close(natural_to_normal_wishart(natural), posterior, rtol=1e-10)


def test_one_dimensional_posteriors_are_prior_plus_statistics():
    # Dirichlet and Beta with counts.
    counts = np.array([3.0, 0.0, 7.0])
    (natural,) = dirichlet_to_natural(np.ones(3))
    np.testing.assert_allclose(natural_to_dirichlet((natural + counts,)), 1 + counts)
    natural = beta_to_natural(1.0, 0.5)
    assert_parts_close(
        natural_to_beta((natural[0] + 3, natural[1] + 7)), (4.0, 7.5), rtol=1e-15
    )


# ---------------------------------------------------------------------------
# Stochastic VI step
# ---------------------------------------------------------------------------


def test_natural_step_is_the_convex_combination():
    current = beta_to_natural(np.array([2.0, 3.0]), np.array([1.0, 5.0]))
    target = beta_to_natural(np.array([10.0, 1.0]), np.array([4.0, 0.5]))
    stepped = natural_step(current, target, 0.25)
    assert isinstance(stepped, tuple)
    assert_parts_close(
        stepped,
        [0.75 * c + 0.25 * t for c, t in zip(current, target, strict=True)],
        1e-15,
    )
    # rho = 1 is the CAVI update itself.
    assert_parts_close(natural_step(current, target, 1.0), target, rtol=0.0)
    array_step = natural_step(np.array([1.0, 2.0]), np.array([3.0, 6.0]), 0.5)
    np.testing.assert_array_equal(array_step, [2.0, 4.0])


@settings(max_examples=50)
@given(positive, positive, positive, positive, st.floats(1e-6, 1.0))
def test_natural_step_stays_in_the_family(a, b, target_a, target_b, rho):
    current, target = beta_to_natural(a, b), beta_to_natural(target_a, target_b)
    stepped = natural_step(current, target, rho)
    new_a, new_b = natural_to_beta(stepped)
    assert min(a, target_a) * (1 - 1e-12) <= new_a <= max(a, target_a) * (1 + 1e-12)
    assert min(b, target_b) * (1 - 1e-12) <= new_b <= max(b, target_b) * (1 + 1e-12)


@pytest.mark.parametrize("step_size", [0.0, -0.1, 1.5, np.nan, "0.5", None])
def test_natural_step_refuses_bad_step_sizes(step_size):
    with pytest.raises(ValueError, match=r"step_size must be a number in \(0, 1\]"):
        natural_step((1.0, -1.0), (2.0, -2.0), step_size)


def test_natural_step_refuses_parameters_of_different_families():
    with pytest.raises(ValueError, match="same family"):
        natural_step(beta_to_natural(1.0, 1.0), dirichlet_to_natural([1.0, 2.0]), 0.5)


def test_svi_averages_noisy_targets_into_the_cavi_posterior():
    # Gamma precision of known-mean data, the mini-batch statistics replicated
    # N/B times (Hoffman et al. eq. 24), with a Robbins-Monro schedule. With
    # rho_0 = 1 the iterate is sum_t w_t target_t, w_t = rho_t prod_{s>t}(1 - rho_s),
    # sum_t w_t = 1: an unbiased estimate of the full-data (CAVI) update whose
    # standard error follows from the weights and the sampling variance.
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 2.0, size=1000)
    n, batch_size, n_steps = x.size, 50, 2000
    # Gamma(a, b) in natural parameters (a - 1, -b) (Bishop 2006, B.26).
    prior = (0.0, -1.0)
    exact_shape, exact_rate = 1.0 + 0.5 * n, 1.0 + 0.5 * x @ x
    rho = svi_step_size(np.arange(n_steps), delay=1.0, forgetting_rate=0.6)
    natural = prior
    for step_size in rho:
        batch = rng.choice(x, size=batch_size, replace=False)
        replication = n / batch_size
        target = (
            prior[0] + replication * 0.5 * batch_size,
            prior[1] - replication * 0.5 * batch @ batch,
        )
        natural = natural_step(natural, target, float(step_size))
    shape, rate = natural[0] + 1.0, -natural[1]
    assert shape == pytest.approx(exact_shape, rel=1e-12)

    remaining = np.append(np.cumprod((1.0 - rho)[::-1])[::-1][1:], 1.0)
    weights = rho * remaining
    assert weights.sum() == pytest.approx(1.0, rel=1e-12)
    # Variance of a without-replacement batch sum of x**2, times (N/B / 2)**2.
    batch_sum_variance = batch_size * np.var(x**2) * (n - batch_size) / (n - 1)
    target_std = 0.5 * n / batch_size * np.sqrt(batch_sum_variance)
    standard_error = target_std * np.sqrt(np.sum(weights**2))
    assert abs(rate - exact_rate) <= 5 * standard_error
    assert standard_error < 0.02 * exact_rate  # the check has teeth


def test_svi_step_size_is_the_robbins_monro_schedule():
    iterations = np.arange(0, 50)
    rho = svi_step_size(iterations, delay=2.0, forgetting_rate=0.8)
    np.testing.assert_allclose(rho, (iterations + 2.0) ** -0.8, rtol=1e-15)
    assert np.all(np.diff(rho) < 0) and np.all((rho > 0) & (rho <= 1))
    assert svi_step_size(0) == 1.0
