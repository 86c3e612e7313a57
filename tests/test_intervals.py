"""credible_interval: the exact central interval of p(mu | X), and q's.

References that do not use skvi's quadrature:

- ``tests/_reference.py``'s ``exact_interval``: ``P(mu < c | X)`` as an
  integral over ``log tau`` of the conditional Normal's CDF, by
  scipy.integrate.quad, solved by brentq (skvi integrates the density of mu
  with tau integrated out, by Gauss-Legendre panels);
- closed forms in the limits of a flat prior on mu (a Student-t) and of a
  point-mass one (the Normal prior itself);
- coverage over many simulated data sets: under the model with its parameters
  drawn from the prior, an exact 95% interval covers the truth 95% of the
  time whatever the prior; under weak priors it is close to the t interval,
  and covers a fixed true mean about 95% of the time.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose
from scipy import stats

import skvi._normal.exact
from skvi import VariationalNormalEstimator
from skvi.diagnostics import exact_posterior
from tests._reference import exact_interval as reference_interval
from tests._reference import full_marginal_interval as reference_full_interval

PRIOR_NAMES = ("prior_mean", "prior_std", "prior_shape", "prior_rate")
WEAK = dict(prior_mean=0.0, prior_std=1e3, prior_shape=1e-3, prior_rate=1e-3)
# Explicit priors throughout: the estimator's defaults are not what is tested.
UNIT = dict(prior_mean=0.0, prior_std=1.0, prior_shape=1.0, prior_rate=1.0)


def _fit(x, w=None, **prior):
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    return VariationalNormalEstimator(**prior).fit(x, sample_weight=w)


def _statistics(est, j=0):
    prior = tuple(float(getattr(est, f"{name}_")[j]) for name in PRIOR_NAMES)
    weight, data_mean, sum_of_squares, _ = est._normal_gamma_statistics()
    return weight, data_mean[j], sum_of_squares[j], prior


# --------------------------------------------------------------------------
# Accuracy against an independent quadrature
# --------------------------------------------------------------------------

rows = np.random.default_rng(20).normal(3.0, 2.0, size=100)
PROBLEMS = {
    # name: (x, weights, prior)
    "2 rows": ([0.7, -0.2], None, (0.0, 1.0, 1.0, 1.0)),
    "8 rows, weak prior": (rows[:8], None, (0.0, 1e3, 1e-3, 1e-3)),
    "100 rows": (rows, None, (0.0, 10.0, 2.0, 1.0)),
    "fractional weights": (
        [3.0, 3.5, 2.2, 4.1],
        [1.0, 2.0, 0.5, 1.0],
        (0, 0.7, 1.5, 2),
    ),
    # 10**7 rows, from their statistics: three values of weight 10**7 / 3.
    "1e7 rows": ([0.1, 0.3, -0.2], [1e7 / 3] * 3, (0.0, 1.0, 1.0, 1.0)),
    "1e7 rows far from 0": (
        [1e6 - 1e-6, 1e6, 1e6 + 1e-6],
        [1e7 / 3] * 3,
        (0.0, 1e7, 1.0, 1e-12),
    ),
    # Prior-data conflict: the exact posterior has two modes.
    "conflict, two modes": ([7.0, 7.0], None, (0.0, 1.0, 1.0, 1.0)),
    "conflict, 3 rows": ([5.0, 5.5, 4.6], None, (-1.0, 0.8, 3.0, 0.5)),
    "conflict, 30 rows": (rows[:30] + 10.0, None, (0.0, 0.5, 2.0, 1.0)),
    # Heavy tails: two equal values under a vague prior.
    "heavy tails": ([9.0, 9.0], None, (0.0, 10.0, 1.0, 1.0)),
    "tight prior": (rows[:10], None, (1.0, 1e-3, 1.0, 1.0)),
}


@pytest.mark.parametrize("level", [0.5, 0.95, 0.999])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_exact_interval_matches_an_independent_quadrature(name, level):
    """Agreement to 1e-9 of the posterior sd (so 1e-9 relative, or better,
    for bounds at least one sd from 0), from 2 rows to 1e7, under conflict."""
    x, w, prior = PROBLEMS[name]
    est = _fit(x, w, **dict(zip(PRIOR_NAMES, prior, strict=True)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lower, upper = est.credible_interval(level, method="exact")
    expected = reference_interval(*_statistics(est), level)
    sd = exact_posterior(est).std[0]
    assert abs(lower[0] - expected[0]) <= 1e-9 * sd
    assert abs(upper[0] - expected[1]) <= 1e-9 * sd
    assert_allclose([lower[0], upper[0]], expected, rtol=1e-6)


@settings(max_examples=20, deadline=None)
@given(
    x=arrays(np.float64, st.integers(1, 30), elements=st.floats(-20, 20)),
    prior_mean=st.floats(-5, 5),
    prior_std=st.floats(-2, 2).map(lambda e: 10.0**e),
    prior_shape=st.floats(-1, 1).map(lambda e: 10.0**e),
    prior_rate=st.floats(-2, 2).map(lambda e: 10.0**e),
    level=st.sampled_from([0.5, 0.9, 0.95, 0.999]),
)
def test_exact_interval_matches_an_independent_quadrature_generated(
    x, prior_mean, prior_std, prior_shape, prior_rate, level
):
    """The same agreement over many more cases, one sample to 30."""
    prior = (prior_mean, prior_std, prior_shape, prior_rate)
    est = VariationalNormalEstimator(*prior).fit(x[:, np.newaxis])
    lower, upper = est.credible_interval(level)
    expected = reference_interval(*_statistics(est), level)
    sd = exact_posterior(est).std[0]
    assert abs(lower[0] - expected[0]) <= 1e-9 * sd
    assert abs(upper[0] - expected[1]) <= 1e-9 * sd


def test_panels_halved_give_the_same_interval_and_a_warning_at_the_end(
    monkeypatch,
):
    """With a tolerance no rule meets, every panel is halved (_MAX_REFINEMENTS
    times), the interval does not move, and a RuntimeWarning says the
    tolerance was not reached, rather than nothing."""
    x, w, prior = PROBLEMS["conflict, two modes"]
    est = _fit(x, w, **dict(zip(PRIOR_NAMES, prior, strict=True)))
    expected = est.credible_interval(0.95)
    monkeypatch.setattr(skvi._normal.exact, "_PANEL_TOLERANCE", -1.0)
    monkeypatch.setattr(skvi._normal.exact, "_MAX_REFINEMENTS", 3)
    with pytest.warns(RuntimeWarning, match="did not reach its tolerance"):
        refined = est.credible_interval(0.95)
    sd = exact_posterior(est).std[0]
    assert_allclose(refined, expected, rtol=0, atol=1e-12 * sd)


def test_exact_interval_flat_prior_limit_is_the_student_t():
    """Under a flat prior on mu, p(mu | X) is proportional to
    (1 + W (mu - xbar)**2 / (2 B))**-a_n: a Student-t with 2 a_n - 1 degrees of
    freedom about xbar, of scale sqrt(2 B / (W (2 a_n - 1)))."""
    x = np.random.default_rng(1).normal(5.0, 2.0, size=(8, 1))
    est = _fit(x, prior_mean=0.0, prior_std=1e200, prior_shape=0.5, prior_rate=1e-3)
    W, xbar, S, _ = _statistics(est)
    a_n, B = 0.5 + W / 2, 1e-3 + S / 2
    dof = 2 * a_n - 1
    for level in (0.5, 0.95, 1 - 1e-9):
        t = stats.t(dof, loc=xbar, scale=math.sqrt(2 * B / (W * dof)))
        lower, upper = est.credible_interval(level)
        # scipy 1.11's t quantiles are themselves good to ~2e-11 (the oldest
        # supported scipy; 1.17's to 1e-16).
        assert_allclose(lower[0], t.ppf((1 - level) / 2), rtol=1e-10)
        assert_allclose(upper[0], t.isf((1 - level) / 2), rtol=1e-10)


def test_exact_interval_point_mass_prior_limit_is_the_prior():
    """A prior Normal(0, 1e-200**2) on mu: the likelihood is flat across it,
    and the interval is the prior's, +-z 1e-200."""
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(12, 1))
    est = _fit(x, prior_mean=0.0, prior_std=1e-200, prior_shape=1.5, prior_rate=2.0)
    lower, upper = est.credible_interval(0.9)
    z = stats.norm.isf(0.05)
    assert_allclose(lower[0], -z * 1e-200, rtol=1e-12)
    assert_allclose(upper[0], z * 1e-200, rtol=1e-12)


def test_exact_interval_per_feature_and_nested_in_level():
    """A joint fit gives each column's own interval; higher levels contain lower."""
    rng = np.random.default_rng(3)
    X = rng.normal([0.0, 30.0, -2.0], [1.0, 5.0, 0.01], size=(6, 3))
    prior = dict(
        prior_mean=[0.0, 0.0, 1.0],
        prior_std=[1.0, 100.0, 0.1],
        prior_shape=[1.0, 1.0, 1.0],
        prior_rate=[1.0, 1.0, 1.0],
    )
    est = _fit(X, **prior)
    intervals = [est.credible_interval(level) for level in (0.5, 0.9, 0.99)]
    for (inner_lo, inner_hi), (outer_lo, outer_hi) in zip(
        intervals[:-1], intervals[1:], strict=True
    ):
        assert np.all((outer_lo < inner_lo) & (inner_hi < outer_hi))
    for j in range(3):
        one = _fit(X[:, j], **{name: value[j] for name, value in prior.items()})
        assert_allclose(
            one.credible_interval(0.9), [b[[j]] for b in intervals[1]], rtol=1e-13
        )


# --------------------------------------------------------------------------
# Coverage: the interval keeps its promise
# --------------------------------------------------------------------------

N_DATA_SETS = 2_000
# The Monte Carlo sd of a coverage of 95% over 2,000 data sets:
# sqrt(0.95 * 0.05 / 2000) = 0.49%, so +-1% is about 2 sd. The seeds are fixed:
# the tests are deterministic.
COVERAGE_SD = math.sqrt(0.95 * 0.05 / N_DATA_SETS)


def _coverage(est, truth, level=0.95, method="exact"):
    lower, upper = est.credible_interval(level, method=method)
    return np.mean((lower < truth) & (truth < upper))


def test_exact_intervals_cover_a_fixed_mean_95_percent_under_weak_priors():
    """2,000 samples of n = 8 (one column each, one vectorised fit): the exact
    95% intervals cover the true mean 95% +- 1%; q's fall short (about 92%:
    q's sd is about 0.9 of the exact one at n = 8)."""
    truth = 3.0
    X = np.random.default_rng(0).normal(truth, 2.0, size=(8, N_DATA_SETS))
    est = _fit(X, **WEAK)
    exact = _coverage(est, truth)
    variational = _coverage(est, truth, method="variational")
    assert abs(exact - 0.95) <= 0.01, (exact, COVERAGE_SD)
    assert variational < 0.95 - 2 * COVERAGE_SD, variational
    assert 0.90 < variational < exact


def test_exact_intervals_are_calibrated_under_the_prior():
    """With (mu, tau) drawn from an informative prior and 4 values drawn given
    them, the exact 95% interval holds the drawn mu with probability 0.95
    exactly (the definition of a posterior); q's is too narrow."""
    rng = np.random.default_rng(1)
    prior = dict(prior_mean=2.0, prior_std=1.5, prior_shape=3.0, prior_rate=2.0)
    mu = rng.normal(2.0, 1.5, size=N_DATA_SETS)
    tau = rng.gamma(3.0, 1 / 2.0, size=N_DATA_SETS)
    X = rng.normal(mu, 1 / np.sqrt(tau), size=(4, N_DATA_SETS))
    est = _fit(X, **prior)
    assert abs(_coverage(est, mu) - 0.95) <= 0.01
    assert _coverage(est, mu, method="variational") < 0.95 - 2 * COVERAGE_SD


# --------------------------------------------------------------------------
# Extreme scales, extreme levels, other fits
# --------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_exact_interval_moves_with_the_units(scale):
    """x -> c x with the priors moved along is the same model: the interval
    is c times the one in the original units, to rounding, with no warning."""
    x = np.random.default_rng(4).normal(3.0, 2.0, size=(5, 2))
    prior = dict(
        prior_mean=[0.0, 10.0],
        prior_std=[1.0, 0.5],
        prior_shape=1.5,
        prior_rate=[2.0, 0.1],
    )
    unit = _fit(x, **prior).credible_interval(0.95)
    moved = dict(
        prior,
        prior_mean=np.multiply(prior["prior_mean"], scale),
        prior_std=np.multiply(prior["prior_std"], scale),
        prior_rate=np.multiply(prior["prior_rate"], scale**2),
    )
    moved_fit = _fit(x * scale, **moved)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lower, upper = moved_fit.credible_interval(0.95)
    assert_allclose(lower, unit[0] * scale, rtol=1e-12)
    assert_allclose(upper, unit[1] * scale, rtol=1e-12)


@pytest.mark.parametrize(
    "prior_std, n", [(1e-300, 1), (1e-300, 30), (1e-3, 1), (1e-3, 30), (1e300, 30)]
)
@pytest.mark.parametrize("location, scale", [(0.0, 1e-6), (5.0, 1.0), (1e8, 1e6)])
@pytest.mark.parametrize("prior_rate", [1e-10, 1e10])
def test_exact_interval_on_extreme_scales(prior_std, n, location, scale, prior_rate):
    """The cases of exact_posterior's extreme-scale test: finite, ordered, no
    warning, and about the exact posterior's mean and sd."""
    X = location + scale * np.random.default_rng(n).standard_normal((n, 1))
    est = _fit(
        X, prior_mean=0.0, prior_std=prior_std, prior_shape=1.0, prior_rate=prior_rate
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lower, upper = est.credible_interval(0.95)
        exact = exact_posterior(est)
    assert np.isfinite(lower[0]) and np.isfinite(upper[0])
    assert lower[0] < exact.mean[0] < upper[0]
    assert 2.0 * exact.std[0] < upper[0] - lower[0] < 8.0 * exact.std[0]


@pytest.mark.parametrize("level", [1 - 2**-53, 1e-300])
def test_exact_interval_at_extreme_levels(level):
    """Finite for levels within rounding of 1 (each tail holds 2**-54) or of 0
    (both bounds at the median, and equal to it to rounding)."""
    est = _fit([[1.0], [2.0], [4.0]], **UNIT)
    lower, upper = est.credible_interval(level)
    assert np.isfinite(lower[0]) and np.isfinite(upper[0]) and lower[0] <= upper[0]
    if level < 0.5:
        assert_allclose(lower, upper, rtol=1e-14)
        narrow = est.credible_interval(1e-3)
        assert narrow[0][0] < lower[0] and upper[0] < narrow[1][0]


# --------------------------------------------------------------------------
# covariance_type="full": each coordinate's exact marginal
# --------------------------------------------------------------------------

rng_full = np.random.default_rng(7)
CORRELATED = [[1.0, 0.8], [0.8, 1.0]]
FULL_PROBLEMS = {
    # name: (X, weights, prior)
    "12 rows": (
        rng_full.multivariate_normal([3.0, -1.0], CORRELATED, size=12),
        None,
        ([0.0, 0.0], [1.0, 3.0], 2.0, [1.0, 0.5]),
    ),
    "6 rows in conflict": (
        rng_full.multivariate_normal([3.0, -1.0], CORRELATED, size=6),
        None,
        ([0.0, 2.0], [0.5, 0.5], 1.0, [1.0, 1.0]),
    ),
    "4 weighted rows far from the prior": (
        rng_full.multivariate_normal([5.0, 5.0], CORRELATED, size=4),
        rng_full.uniform(0.5, 2.0, size=4),
        ([0.0, 0.0], [1.0, 1.0], 1.5, [1.0, 1.0]),
    ),
    "40 rows, correlation -0.95": (
        rng_full.multivariate_normal([0.0, 0.0], [[1, -0.95], [-0.95, 1]], size=40),
        None,
        ([0.5, 0.5], [0.3, 10.0], 1.0, [1.0, 1.0]),
    ),
}


@pytest.mark.parametrize("name", list(FULL_PROBLEMS))
def test_full_exact_interval_matches_a_2d_quadrature(name):
    """Each coordinate's interval against Gauss-Legendre on a 2-D grid of the
    exact p(mu | X) (tests/_reference.py), to 1e-9 of the interval's width."""
    X, w, prior = FULL_PROBLEMS[name]
    est = VariationalNormalEstimator(
        *prior, covariance_type="full", tol=0.0, max_iter=10_000
    ).fit(X, sample_weight=w)
    levels = (0.5, 0.95, 0.999)
    for j in range(2):
        expected = reference_full_interval(X, w, prior, levels, feature=j)
        for level, (expected_lower, expected_upper) in zip(
            levels, expected, strict=True
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                lower, upper = est.credible_interval(level)
            width = upper[j] - lower[j]
            assert abs(lower[j] - expected_lower) <= 1e-9 * width
            assert abs(upper[j] - expected_upper) <= 1e-9 * width


@pytest.mark.parametrize(
    "name", ["2 rows", "conflict, two modes", "1e7 rows far from 0"]
)
def test_full_exact_interval_with_one_feature_is_the_diagonal_one(name):
    """With d = 1 the full model is the diagonal one (Wishart(2 a0, 1/(2 b0))
    is Gamma(a0, b0)): two different computations, one answer."""
    x, w, prior = PROBLEMS[name]
    params = dict(zip(PRIOR_NAMES, prior, strict=True))
    diag = _fit(x, w, **params).credible_interval(0.95)
    full = VariationalNormalEstimator(**params, covariance_type="full")
    full.fit(np.reshape(x, (-1, 1)), sample_weight=w)
    width = diag[1][0] - diag[0][0]
    assert_allclose(full.credible_interval(0.95), diag, rtol=0, atol=1e-9 * width)


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_full_exact_interval_moves_with_the_units(scale):
    X, w, prior = FULL_PROBLEMS["6 rows in conflict"]
    prior_mean, prior_std, prior_shape, prior_rate = map(np.asarray, prior)
    unit = VariationalNormalEstimator(*prior, covariance_type="full").fit(X)
    moved = VariationalNormalEstimator(
        prior_mean * scale,
        prior_std * scale,
        prior_shape,
        prior_rate * scale**2,
        covariance_type="full",
    ).fit(X * scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lower, upper = moved.credible_interval(0.95)
    expected = unit.credible_interval(0.95)
    assert_allclose(lower, expected[0] * scale, rtol=1e-10)
    assert_allclose(upper, expected[1] * scale, rtol=1e-10)


def test_full_variational_interval_is_q_and_narrower():
    X, w, prior = FULL_PROBLEMS["6 rows in conflict"]
    est = VariationalNormalEstimator(*prior, covariance_type="full").fit(X)
    lower, upper = est.credible_interval(0.9, method="variational")
    z = stats.norm.isf(0.05)
    assert_allclose(lower, est.posterior_mean_ - z * est.posterior_std_)
    exact_lower, exact_upper = est.credible_interval(0.9)
    assert np.all(upper - lower < exact_upper - exact_lower)


def test_exact_interval_after_partial_fit_equals_fit():
    X = np.random.default_rng(6).normal(1.0, 3.0, size=(40, 2))
    streamed = VariationalNormalEstimator(**dict(UNIT, prior_std=2.0))
    for chunk in np.array_split(X, 4):
        streamed.partial_fit(chunk)
    whole = VariationalNormalEstimator(**dict(UNIT, prior_std=2.0)).fit(X)
    assert_allclose(streamed.credible_interval(), whole.credible_interval(), rtol=1e-12)


def test_full_exact_interval_refuses_what_float64_cannot_hold():
    """A prior sd of 1.6e-154 against data spread 1e10: the scaled scatter
    overflows. A clear error, not NaN; q's interval is still there."""
    X = np.random.default_rng(0).normal(0.0, 1e10, size=(5, 2))
    est = VariationalNormalEstimator(
        **dict(UNIT, prior_std=1.6e-154), covariance_type="full"
    )
    est.fit(X)
    with pytest.raises(ValueError, match="not representable in float64"):
        est.credible_interval()
    assert np.all(np.isfinite(est.credible_interval(method="variational")))
