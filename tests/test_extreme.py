"""Extreme data stay accurate: checked against references that do not use skvi.

The references are the exact posterior by quadrature (``tests/_reference.py``),
and the CAVI fixed point solved here from the model equations with statistics
accumulated in extended precision (``math.fsum`` and ``np.longdouble``).
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import optimize
from sklearn.base import clone

from tests._reference import exact_posterior
from tests._registry import ESTIMATORS, estimator_id

FITTED_ARRAYS = [
    "posterior_mean_",
    "posterior_std_",
    "posterior_shape_",
    "posterior_rate_",
    "noise_std_",
    "elbo_history_",
]

parametrize_estimators = pytest.mark.parametrize(
    "estimator", ESTIMATORS, ids=estimator_id
)


@dataclass
class FixedPoint:
    mean: float
    std: float
    noise_std: float


def accurate_moments(x, w=None):
    """``(W, xbar, S)`` of one column, in extended precision.

    ``fsum`` for the sums; the mean refined by a second pass over the exact
    deviations (long double holds the difference of two close float64 exactly).
    """
    x = np.asarray(x, dtype=np.longdouble)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=np.longdouble)
    weight = np.longdouble(math.fsum(w))
    first_mean = np.longdouble(math.fsum(w * x)) / weight
    deviation = x - first_mean
    correction = np.longdouble(math.fsum(w * deviation)) / weight
    deviation -= correction
    return float(weight), first_mean + correction, np.sum(w * deviation * deviation)


def cavi_fixed_point(x, w=None, prior_mean=0.0, prior_std=1.0, shape=1.0, rate=1.0):
    """The mean-field optimum for one feature, from its defining equations.

    With ``t = E[tau]``: ``1/s2 = 1/s0**2 + W t``, ``m = (m0/s0**2 + W t xbar) s2``,
    ``a = a0 + W/2``, ``b = b0 + (S + W (xbar - m)**2 + W s2)/2`` and ``t = a/b``.
    ``t b(t) - a`` is negative at 0 and >= 0 at ``a/b0``: solve it by brentq,
    working relative to ``xbar`` so that a large offset loses nothing.
    """
    weight, xbar, sum_of_squares = accurate_moments(x, w)
    offset = float(np.longdouble(prior_mean) - xbar)  # m0 - xbar
    a = shape + weight / 2

    def posterior(t):
        s2 = 1.0 / (1.0 / prior_std**2 + weight * t)
        shift = offset / prior_std**2 * s2  # m - xbar
        b = rate + 0.5 * (float(sum_of_squares) + weight * shift**2 + weight * s2)
        return s2, shift, b

    def gap(t):
        return t * posterior(t)[2] - a

    t = optimize.brentq(gap, 0.0, a / rate, xtol=1e-300, rtol=1e-15, maxiter=500)
    s2, shift, b = posterior(t)
    return FixedPoint(
        mean=float(xbar + np.longdouble(shift)),
        std=math.sqrt(s2),
        noise_std=math.sqrt(b / a),
    )


def _tight(estimator, **params):
    return clone(estimator).set_params(tol=0.0, max_iter=10_000, **params)


def assert_all_finite(estimator):
    for name in FITTED_ARRAYS:
        assert np.all(np.isfinite(getattr(estimator, name))), name
    assert np.isfinite(estimator.elbo_)
    assert np.all(estimator.posterior_std_ > 0)
    assert np.all(estimator.noise_std_ > 0)


@parametrize_estimators
@pytest.mark.parametrize("x", [[0.7], [3.0], [-2.5]])
def test_single_sample_is_mostly_prior(estimator, x):
    """One sample moves the prior a little; compare with the exact posterior."""
    fitted = _tight(estimator).fit(np.array(x)[:, np.newaxis])
    exact = exact_posterior(x)
    assert_all_finite(fitted)
    mean, std = fitted.posterior_mean_[0], fitted.posterior_std_[0]
    # Shrunk more than half way back to the prior mean 0, on the data's side.
    assert 0 < mean / x[0] < 0.6
    # Mean-field VI: mean close to the exact one, sd too small but not by much.
    assert abs(mean - exact.mean) < 0.1 * exact.std
    assert 0.6 * exact.std < std <= exact.std
    assert std < 1.0  # the prior sd
    assert exact.log_evidence - 0.5 < fitted.elbo_ <= exact.log_evidence
    reference = cavi_fixed_point(x)
    np.testing.assert_allclose(mean, reference.mean, rtol=1e-6)
    np.testing.assert_allclose(std, reference.std, rtol=1e-6)


@parametrize_estimators
@pytest.mark.parametrize("x", [[0.7, -0.2], [3.0, 3.5], [1e-3, -1e-3]])
def test_two_samples(estimator, x):
    fitted = _tight(estimator).fit(np.array(x)[:, np.newaxis])
    exact = exact_posterior(x)
    reference = cavi_fixed_point(x)
    assert_all_finite(fitted)
    np.testing.assert_allclose(fitted.posterior_mean_[0], reference.mean, rtol=1e-6)
    np.testing.assert_allclose(fitted.posterior_std_[0], reference.std, rtol=1e-6)
    np.testing.assert_allclose(fitted.noise_std_[0], reference.noise_std, rtol=1e-6)
    assert abs(fitted.posterior_mean_[0] - exact.mean) < 0.1 * exact.std
    assert exact.log_evidence - 0.5 < fitted.elbo_ <= exact.log_evidence


@parametrize_estimators
@pytest.mark.parametrize("value", [0.0, 5.0, -3.25, 1e9 + 0.1])
def test_constant_column(estimator, value):
    """Zero spread: finite, the noise shrinks with the prior's rate, no NaN."""
    n = 1000
    X = np.column_stack([np.full(n, value), np.random.default_rng(1).normal(size=n)])
    for rate in [1.0, 1e-12]:
        params = {"prior_mean": [value, 0.0], "prior_std": 1e3, "prior_rate": rate}
        fitted = _tight(estimator, **params).fit(X)
        assert_all_finite(fitted)
        reference = cavi_fixed_point(
            X[:, 0], prior_mean=value, prior_std=1e3, rate=rate
        )
        assert fitted.posterior_mean_[0] == pytest.approx(reference.mean, rel=1e-12)
        np.testing.assert_allclose(fitted.noise_std_[0], reference.noise_std, rtol=1e-6)
        np.testing.assert_allclose(fitted.posterior_std_[0], reference.std, rtol=1e-6)
        # The spread is all prior: b = b0 + (W s2 + ...)/2 with W s2 ~ 1/E[tau].
        assert fitted.noise_std_[0] < (0.05 if rate == 1.0 else 1e-6)
        assert fitted.noise_std_[0] < fitted.noise_std_[1]


@parametrize_estimators
def test_all_equal_weights_but_one(estimator):
    rng = np.random.default_rng(2)
    X = rng.normal(2.0, 3.0, size=(200, 1))
    weights = np.full(200, 2.0)
    weights[17] = 9.0
    fitted = _tight(estimator).fit(X, sample_weight=weights)
    reference = cavi_fixed_point(X[:, 0], weights)
    assert_all_finite(fitted)
    np.testing.assert_allclose(fitted.posterior_mean_[0], reference.mean, rtol=1e-6)
    np.testing.assert_allclose(fitted.posterior_std_[0], reference.std, rtol=1e-6)
    np.testing.assert_allclose(fitted.noise_std_[0], reference.noise_std, rtol=1e-6)
    # Frequency weights: the same as repeating the rows.
    repeated = _tight(estimator).fit(np.repeat(X, weights.astype(int), axis=0))
    for name in ["posterior_mean_", "posterior_std_", "noise_std_"]:
        np.testing.assert_allclose(
            getattr(fitted, name), getattr(repeated, name), rtol=1e-10
        )
    # The odd weight matters: uniform weights give another answer.
    uniform = _tight(estimator).fit(X, sample_weight=np.full(200, 2.0))
    assert abs(uniform.posterior_mean_[0] - fitted.posterior_mean_[0]) > 1e-3


OFFSET = 1e9


@pytest.fixture(scope="module")
def offset_data():
    """1e9 + Normal(0, 1), 10**6 samples; the raw sum of squares is useless here."""
    noise = np.random.default_rng(3).normal(size=1_000_000)
    return (OFFSET + noise)[:, np.newaxis]


def test_naive_sum_of_squares_fails_on_offset_data(offset_data):
    """Sanity check of the test below: E[x**2] - E[x]**2 loses every digit."""
    x = offset_data[:, 0]
    naive_variance = np.dot(x, x) / x.size - x.mean() ** 2
    assert not abs(math.sqrt(max(naive_variance, 0.0)) - 1.0) < 0.01
    weight, mean, sum_of_squares = accurate_moments(x)
    assert abs(math.sqrt(sum_of_squares / weight) - 1.0) < 0.01


@parametrize_estimators
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
def test_large_offset(estimator, offset_data, weighted):
    weights = np.ones(offset_data.shape[0]) if weighted else None
    params = {"prior_mean": OFFSET, "prior_std": 1e3}
    fitted = clone(estimator).set_params(**params).fit(offset_data, weights)
    assert_all_finite(fitted)
    assert abs(fitted.noise_std_[0] - 1.0) < 0.01
    assert abs(fitted.posterior_mean_[0] - OFFSET) < 0.01
    # And the digits beyond the bounds, against extended precision.
    reference = cavi_fixed_point(offset_data[:, 0], prior_mean=OFFSET, prior_std=1e3)
    np.testing.assert_allclose(fitted.noise_std_[0], reference.noise_std, rtol=1e-7)
    assert abs(fitted.posterior_mean_[0] - reference.mean) < 1e-6


@parametrize_estimators
def test_large_offset_in_chunks(estimator, offset_data):
    """partial_fit merges chunk statistics stably too."""
    params = {"prior_mean": OFFSET, "prior_std": 1e3}
    whole = clone(estimator).set_params(**params).fit(offset_data)
    chunked = clone(estimator).set_params(**params)
    for chunk in np.array_split(offset_data, 7):
        chunked.partial_fit(chunk)
    np.testing.assert_allclose(chunked.noise_std_, whole.noise_std_, rtol=1e-9)
    np.testing.assert_allclose(
        chunked.posterior_mean_ - OFFSET, whole.posterior_mean_ - OFFSET, atol=1e-6
    )


@parametrize_estimators
@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_extreme_magnitudes(estimator, scale):
    """Data and priors scaled by ``c``: the same posterior in units of ``c``.

    mu scales with c, so prior_mean and prior_std do; tau = 1/sigma**2 scales
    with 1/c**2, so Gamma's rate scales with c**2 and its shape not at all.
    """
    X = np.random.default_rng(4).normal(0.3, 1.0, size=(50, 2))
    prior = {"prior_mean": 0.1, "prior_std": 2.0, "prior_shape": 1.5}
    unit = clone(estimator).set_params(prior_rate=0.7, **prior).fit(X)
    scaled_prior = {name: value * scale for name, value in prior.items()}
    scaled_prior["prior_shape"] = prior["prior_shape"]
    scaled = (
        clone(estimator)
        .set_params(prior_rate=0.7 * scale**2, **scaled_prior)
        .fit(X * scale)
    )
    assert_all_finite(scaled)
    for name in ["posterior_mean_", "posterior_std_", "noise_std_"]:
        np.testing.assert_allclose(
            getattr(scaled, name) / scale, getattr(unit, name), rtol=1e-9
        )
    np.testing.assert_allclose(
        scaled.posterior_rate_ / scale**2, unit.posterior_rate_, rtol=1e-9
    )
    np.testing.assert_array_equal(scaled.posterior_shape_, unit.posterior_shape_)
    # ELBO: each of the W * n_features data terms loses log(c) (a density in x).
    np.testing.assert_allclose(
        scaled.elbo_, unit.elbo_ - X.size * math.log(scale), rtol=1e-12
    )
    scores = scaled.score_samples(X * scale)
    assert np.all(np.isfinite(scores))


@parametrize_estimators
def test_float32_input(estimator):
    """Accumulation in float64; every fitted array is float64 (documented)."""
    rng = np.random.default_rng(5)
    X32 = rng.normal(100.0, 0.5, size=(5000, 3)).astype(np.float32)
    X64 = X32.astype(np.float64)  # the same numbers
    params = {"prior_mean": 100.0, "prior_std": 10.0}
    from32 = clone(estimator).set_params(**params).fit(X32)
    from64 = clone(estimator).set_params(**params).fit(X64)
    for name in FITTED_ARRAYS:
        value32, value64 = getattr(from32, name), getattr(from64, name)
        assert value32.dtype == np.float64, name
        np.testing.assert_allclose(
            value32, value64, rtol=float(np.finfo(np.float32).eps)
        )
    assert isinstance(from32.elbo_, float)
    scores = from32.score_samples(X32)
    assert scores.dtype == np.float64
    np.testing.assert_allclose(scores, from64.score_samples(X64), rtol=1e-6)


@parametrize_estimators
def test_values_whose_squares_overflow(estimator):
    """1e160 + 1e150 Normal(0, 1): x**2 overflows, the spread does not."""
    noise = np.random.default_rng(6).normal(size=(1000, 1))
    X = 1e160 + 1e150 * noise
    huge = clone(estimator).set_params(
        prior_mean=1e160, prior_std=1e153, prior_rate=1e300
    )
    huge.fit(X)
    assert_all_finite(huge)
    unit = clone(estimator).set_params(prior_mean=0.0, prior_std=1e3, prior_rate=1.0)
    unit.fit((X - 1e160) / 1e150)
    np.testing.assert_allclose(huge.noise_std_ / 1e150, unit.noise_std_, rtol=1e-5)
    np.testing.assert_allclose(
        (huge.posterior_mean_ - 1e160) / 1e150, unit.posterior_mean_, atol=1e-4
    )


UNREPRESENTABLE = [
    # (xbar - prior_mean)**2 overflows: noise_std_ was inf, the ELBO NaN.
    # (A prior_std whose square over- or underflows is fine since skvi 0.2:
    # tests/test_priors.py.)
    ("prior-mean-far-from-data", 0.0, 1.0, {"prior_mean": 1e256, "prior_std": 1e-3}),
]


@parametrize_estimators
@pytest.mark.parametrize(
    "offset, spread, params",
    [pytest.param(*case[1:], id=case[0]) for case in UNREPRESENTABLE],
)
def test_unrepresentable_fit_raises_instead_of_nan(estimator, offset, spread, params):
    X = offset + spread * np.random.default_rng(7).normal(size=(30, 1))
    message = (
        r"not representable in float64: .* came out NaN, infinite or zero.*"
        r"Choose priors on the scale of the data, or rescale X by c and the priors"
    )
    with warnings.catch_warnings():
        # One clear error, not a trail of numpy overflow warnings before it.
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=message):
            clone(estimator).set_params(**params).fit(X)
    # An estimator fitted before keeps its fit.
    fitted = clone(estimator).fit(np.ones((3, 1)))
    before = fitted.posterior_mean_.copy()
    with pytest.raises(ValueError, match=message):
        fitted.set_params(**params).fit(X)
    np.testing.assert_array_equal(fitted.posterior_mean_, before)
