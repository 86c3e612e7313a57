"""KL divergences against quadrature, Monte Carlo on scipy.stats densities, Decimal."""

import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from skvi._core.families.beta import kl_beta
from skvi._core.families.dirichlet import kl_dirichlet
from skvi._core.families.gamma import gamma_expectations, kl_gamma
from skvi._core.families.normal import kl_normal
from skvi._core.families.wishart import kl_normal_wishart, kl_wishart

from ._montecarlo import assert_monte_carlo_mean, random_scale_matrices

positive = st.floats(0.05, 50.0)
location = st.floats(-1e3, 1e3)


def quadrature_kl(q, p):
    """``E_q[log q - log p]`` by adaptive quadrature (scipy's ``expect``)."""
    return q.expect(lambda x: q.logpdf(x) - p.logpdf(x))


# ---------------------------------------------------------------------------
# Normal
# ---------------------------------------------------------------------------


def decimal_kl_normal(mean, std, prior_mean, prior_std):
    """``log(s0/s) + ((s - s0)(s + s0)/s0**2 + ((m - m0)/s0)**2)/2`` in 80 digits."""
    with localcontext() as context:
        context.prec = 80
        m, s, m0, s0 = (Decimal(float(x)) for x in (mean, std, prior_mean, prior_std))
        shift = (m - m0) / s0
        return float((s0 / s).ln() + ((s - s0) * (s + s0) / (s0 * s0) + shift**2) / 2)


@pytest.mark.parametrize(
    ("mean", "std", "prior_mean", "prior_std"),
    [
        (0.3, 0.5, -1.0, 2.0),
        (0.0, 1.0 + 1e-8, 0.0, 1.0),  # nearly equal scales: a 1e-16 divergence
        (1e-100, 1.0, 0.0, 1.0),  # a 5e-201 divergence
        (3e-201, 0.7e-200, 0.0, 1e-200),  # a very tight prior, data-sized ratios
        (2.0, 0.999e-200, 2.0 + 1e-201, 1e-200),
        (1.0, 1.0, 3.0, 1e200),  # a very vague prior
        (5.0, 1e150, -7.0, 1e200),
        (0.0, 1e-200, 0.0, 1e200),  # s / s0 = 1e-400 underflows
        (0.0, 1e-300, 0.0, 1e10),  # s / s0 = 1e-310 is subnormal
    ],
)
def test_kl_normal_matches_decimal_reference(mean, std, prior_mean, prior_std):
    expected = decimal_kl_normal(mean, std, prior_mean, prior_std)
    assert np.isfinite(expected)
    actual = kl_normal(mean, std, prior_mean, prior_std)
    assert actual == pytest.approx(expected, rel=1e-7 if expected < 1e-15 else 1e-14)


def test_kl_normal_is_infinite_only_when_the_divergence_overflows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kl_normal(0.0, 1e200, 0.0, 1e-200) == np.inf
        assert kl_normal(1e300, 1.0, -1e300, 1e-10) == np.inf


@pytest.mark.parametrize(
    ("mean", "std", "prior_mean", "prior_std"),
    [(0.3, 0.5, -1.0, 2.0), (4.0, 3.0, 0.0, 0.1), (0.0, 1.0, 0.0, 1.0)],
)
def test_kl_normal_against_quadrature(mean, std, prior_mean, prior_std):
    expected = quadrature_kl(stats.norm(mean, std), stats.norm(prior_mean, prior_std))
    assert kl_normal(mean, std, prior_mean, prior_std) == pytest.approx(
        expected, rel=1e-8, abs=1e-12
    )


@settings(max_examples=50)
@given(location, positive, location, positive, st.integers(-250, 250))
def test_kl_normal_is_invariant_to_the_unit(mean, std, prior_mean, prior_std, power):
    unit = 10.0**power
    expected = kl_normal(mean, std, prior_mean, prior_std)
    scaled = kl_normal(mean * unit, std * unit, prior_mean * unit, prior_std * unit)
    assert scaled == pytest.approx(expected, rel=1e-12, abs=1e-13)
    assert expected >= 0.0
    assert kl_normal(mean * unit, std * unit, mean * unit, std * unit) == 0.0


# ---------------------------------------------------------------------------
# Gamma
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "rate", "prior_shape", "prior_rate"),
    [(2.0, 3.0, 1.0, 1.0), (50.0, 10.0, 0.5, 0.01), (1.5, 0.2, 4.0, 2.0)],
)
def test_kl_gamma_against_quadrature(shape, rate, prior_shape, prior_rate):
    expected = quadrature_kl(
        stats.gamma(shape, scale=1 / rate),
        stats.gamma(prior_shape, scale=1 / prior_rate),
    )
    assert kl_gamma(shape, rate, prior_shape, prior_rate) == pytest.approx(
        expected, rel=1e-8
    )


@settings(max_examples=50)
@given(positive, positive, positive, positive)
def test_kl_gamma_is_a_divergence(shape, rate, prior_shape, prior_rate):
    assert kl_gamma(shape, rate, prior_shape, prior_rate) >= -1e-12
    assert kl_gamma(shape, rate, shape, rate) == 0.0


# ---------------------------------------------------------------------------
# Wishart and Normal-Wishart
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dof", "prior_dof", "seed"), [(6.0, 3.0, 0), (4.0, 12.5, 1), (30.0, 5.0, 2)]
)
def test_kl_wishart_against_monte_carlo(dof, prior_dof, seed):
    rng = np.random.default_rng(seed)
    scale, prior_scale = random_scale_matrices(rng, 2, 3)
    q = stats.wishart(df=dof, scale=scale)
    p = stats.wishart(df=prior_dof, scale=prior_scale)
    draws = np.moveaxis(q.rvs(4000, random_state=rng), 0, -1)
    assert_monte_carlo_mean(
        q.logpdf(draws) - p.logpdf(draws),
        kl_wishart(dof, scale, prior_dof, prior_scale),
    )


def test_kl_wishart_in_one_dimension_is_the_gamma_kl():
    # W(lambda | w, nu) in d = 1 is Gamma(nu/2, rate 1/(2 w)) (Bishop B.79).
    dof, scale = np.array([0.5, 3.0, 40.0]), np.array([2.0, 1e-3, 7.0])
    prior_dof, prior_scale = np.array([2.0, 1.0, 45.0]), np.array([0.1, 1.0, 6.0])
    np.testing.assert_allclose(
        kl_wishart(dof, scale[:, None, None], prior_dof, prior_scale[:, None, None]),
        kl_gamma(dof / 2, 0.5 / scale, prior_dof / 2, 0.5 / prior_scale),
        rtol=1e-12,
    )


@pytest.mark.parametrize("unit", [1e-100, 1e-5, 1e100])  # scales near 1e-200, 1e200
def test_kl_wishart_is_invariant_to_a_common_linear_map(unit):
    # Lambda -> A Lambda A^T maps W(W, nu) to W(A W A^T, nu), and KL is invariant.
    rng = np.random.default_rng(3)
    scale, prior_scale = random_scale_matrices(rng, 2, 3)
    transform = unit * (np.eye(3) + 0.3 * rng.normal(size=(3, 3)))
    expected = kl_wishart(5.0, scale, 7.0, prior_scale)
    mapped = kl_wishart(
        5.0, transform @ scale @ transform.T, 7.0, transform @ prior_scale @ transform.T
    )
    assert mapped == pytest.approx(expected, rel=1e-10)


def test_kl_wishart_batches_components():
    rng = np.random.default_rng(4)
    scale = random_scale_matrices(rng, 4, 2)
    prior_scale = random_scale_matrices(rng, 1, 2)[0]
    dof = np.array([2.0, 3.0, 10.0, 100.0])
    batched = kl_wishart(dof, scale, 2.5, prior_scale)
    assert batched.shape == (4,)
    for k in range(4):
        assert batched[k] == pytest.approx(
            kl_wishart(dof[k], scale[k], 2.5, prior_scale), rel=1e-14
        )


@settings(max_examples=50)
@given(
    dimension=st.integers(1, 4),
    excess_dof=st.floats(0.01, 50.0),
    prior_excess_dof=st.floats(0.01, 50.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_kl_wishart_is_a_divergence(dimension, excess_dof, prior_excess_dof, seed):
    scale, prior_scale = random_scale_matrices(
        np.random.default_rng(seed), 2, dimension
    )
    dof, prior_dof = dimension - 1 + excess_dof, dimension - 1 + prior_excess_dof
    assert kl_wishart(dof, scale, prior_dof, prior_scale) >= -1e-10
    assert kl_wishart(dof, scale, dof, scale) == pytest.approx(0.0, abs=1e-12 * dof)


def _normal_wishart_log_density(mu, precision, mean, mean_precision, dof, scale):
    """``log N(mu | m, (beta Lambda)^-1) + log W(Lambda | W, nu)``, scipy's Wishart."""
    dimension = mu.shape[-1]
    deviation = mu - mean
    quadratic = np.einsum("ni,nij,nj->n", deviation, precision, deviation)
    log_det = np.linalg.slogdet(precision)[1]
    log_normal = 0.5 * (
        dimension * np.log(mean_precision / (2 * np.pi))
        + log_det
        - mean_precision * quadratic
    )
    log_wishart = stats.wishart(df=dof, scale=scale).logpdf(
        np.moveaxis(precision, 0, -1)
    )
    return log_normal + log_wishart


def test_kl_normal_wishart_against_monte_carlo():
    rng = np.random.default_rng(5)
    scale, prior_scale = random_scale_matrices(rng, 2, 2)
    q = (np.array([0.5, -1.0]), 3.0, 6.0, scale)
    p = (np.array([0.0, 0.2]), 0.5, 3.0, prior_scale)
    precision = stats.wishart(df=q[2], scale=q[3]).rvs(8000, random_state=rng)
    # mu = m + (beta Lambda)^(-1/2) z through the Cholesky factor of beta Lambda.
    cholesky = np.linalg.cholesky(q[1] * precision)
    z = rng.normal(size=(precision.shape[0], 2, 1))
    mu = q[0] + np.linalg.solve(np.swapaxes(cholesky, -1, -2), z)[..., 0]
    log_ratio = _normal_wishart_log_density(
        mu, precision, *q
    ) - _normal_wishart_log_density(mu, precision, *p)
    assert_monte_carlo_mean(log_ratio, kl_normal_wishart(*q, *p))


def test_kl_normal_wishart_in_one_dimension_is_normal_gamma():
    # In d = 1, N(mu | m, 1/(beta tau)) Gamma(tau | nu/2, 1/(2w)): the Normal KL
    # is linear in tau, so its expectation is the Normal KL at tau = E[tau] = nu w.
    mean, beta, dof, scale = 0.7, 2.0, 5.0, 0.3
    prior_mean, prior_beta, prior_dof, prior_scale = -0.4, 0.01, 1.0, 10.0
    tau, _ = gamma_expectations(dof / 2, 0.5 / scale)
    expected = kl_normal(
        mean, 1 / np.sqrt(beta * tau), prior_mean, 1 / np.sqrt(prior_beta * tau)
    ) + kl_gamma(dof / 2, 0.5 / scale, prior_dof / 2, 0.5 / prior_scale)
    actual = kl_normal_wishart(
        [mean],
        beta,
        dof,
        [[scale]],
        [prior_mean],
        prior_beta,
        prior_dof,
        [[prior_scale]],
    )
    assert actual == pytest.approx(expected, rel=1e-13)


def test_kl_normal_wishart_batches_and_stays_finite_for_extreme_mean_precision():
    rng = np.random.default_rng(6)
    scale = random_scale_matrices(rng, 3, 2)
    mean = rng.normal(size=(3, 2))
    beta = np.array([1e-200, 1.0, 1e200])
    batched = kl_normal_wishart(
        mean, beta, 4.0, scale, np.zeros(2), 1.0, 3.0, np.eye(2)
    )
    assert batched.shape == (3,) and np.all(np.isfinite(batched))
    # d/2 (r - 1 - log r) with r = beta0 / beta is all that changes with beta.
    reference = kl_normal_wishart(
        mean, 1.0, 4.0, scale, np.zeros(2), 1.0, 3.0, np.eye(2)
    )
    log_r = -np.log(beta)
    np.testing.assert_allclose(
        batched - reference,
        [np.exp(log_r[0]) - 1 - log_r[0], 0.0, -1 - log_r[2]],
        rtol=1e-12,
        atol=1e-12,
    )


# ---------------------------------------------------------------------------
# Dirichlet and Beta
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("concentration", "prior_concentration"),
    [([2.0, 3.0, 1.0], [1.0, 1.0, 1.0]), ([20.0, 1.5, 8.0, 0.9], [0.8, 4.0, 2.0, 2.0])],
)
def test_kl_dirichlet_against_monte_carlo(concentration, prior_concentration):
    rng = np.random.default_rng(7)
    draws = rng.dirichlet(concentration, size=20_000).T
    log_ratio = stats.dirichlet(concentration).logpdf(draws) - stats.dirichlet(
        prior_concentration
    ).logpdf(draws)
    assert_monte_carlo_mean(log_ratio, kl_dirichlet(concentration, prior_concentration))


def test_kl_dirichlet_batches_over_leading_axes():
    concentration = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 9.0]])
    batched = kl_dirichlet(concentration, np.ones(3))
    assert batched.shape == (2,)
    assert batched[1] == kl_dirichlet(concentration[1], np.ones(3))


@pytest.mark.parametrize(
    ("a", "b", "prior_a", "prior_b"),
    [(2.0, 1.0, 1.0, 1.0), (1.0, 7.0, 1.0, 0.7), (30.0, 4.0, 2.0, 2.0)],
)
def test_kl_beta_against_quadrature(a, b, prior_a, prior_b):
    expected = quadrature_kl(stats.beta(a, b), stats.beta(prior_a, prior_b))
    assert kl_beta(a, b, prior_a, prior_b) == pytest.approx(expected, rel=1e-8)


@settings(max_examples=50)
@given(
    st.lists(st.tuples(positive, positive), min_size=2, max_size=5),
)
def test_kl_dirichlet_and_beta_are_divergences(pairs):
    concentration, prior_concentration = np.array(pairs).T
    assert kl_dirichlet(concentration, prior_concentration) >= -1e-10
    assert kl_dirichlet(concentration, concentration) == 0.0
    a, b = concentration[:2]
    prior_a, prior_b = prior_concentration[:2]
    assert kl_beta(a, b, prior_a, prior_b) >= -1e-10
    assert kl_beta(a, b, a, b) == 0.0
