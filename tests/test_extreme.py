"""Extreme data stay accurate: checked against references that do not use skvi.

The references are the exact posterior by quadrature
(:func:`skvi.diagnostics.exact_posterior`, itself checked against a direct 2-D
quadrature in ``tests/test_diagnostics.py``), and the CAVI fixed point solved
here from the model equations with statistics accumulated in extended
precision (``math.fsum`` and ``np.longdouble``), for the registered estimators
that declare that reference; and, for every registered estimator, the same fit
in other units (priors moved by their units, ``tests/_registry.py``).
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import optimize

from tests._registry import (
    ENTRIES,
    LOCATION,
    entries_with,
    entry_id,
    reference_entries,
    restore_attribute,
)
from tests._state import assert_same_state, snapshot


def _parametrize(entries):
    return pytest.mark.parametrize("entry", entries, ids=entry_id)


# The tests that compare with the Normal model's exact posterior or its CAVI
# fixed point run on the entries that declare that reference; the others on all.
parametrize_references = _parametrize(reference_entries())
parametrize_entries = _parametrize(ENTRIES)


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


def _tight(entry, **params):
    return entry.clone_params(**{**entry.tight_stop, **params})


def _array_attributes(entry, estimator):
    return [
        name
        for name in entry.fitted_attributes
        if isinstance(getattr(estimator, name), np.ndarray)
    ]


def assert_all_finite(entry, estimator):
    for name in entry.fitted_attributes:
        assert np.all(np.isfinite(getattr(estimator, name))), name
    for name in entry.positive:
        assert np.all(getattr(estimator, name) > 0), name


@dataclass
class Exact:
    mean: float
    std: float
    log_evidence: float


def _first_feature(exact):
    """The exact posterior's ``mean``, ``std`` and ``log_evidence`` of feature 0."""
    return Exact(float(exact.mean[0]), float(exact.std[0]), exact.log_evidence[0])


# The reference's default priors: Normal(0, 1) on mu, Gamma(1, 1) on tau.
UNIT_PRIOR = dict(mean=0.0, std=1.0, shape=1.0, rate=1.0)


@parametrize_references
@pytest.mark.parametrize("x", [[0.7], [3.0], [-2.5]])
def test_single_sample_is_mostly_prior(entry, x):
    """One sample moves the prior a little; compare with the exact posterior."""
    reference = entry.reference
    params = reference.params(**UNIT_PRIOR)
    fitted = _tight(entry, **params).fit(np.array(x)[:, np.newaxis])
    exact = _first_feature(reference.exact(fitted))
    assert_all_finite(entry, fitted)
    mean, std = reference.mean_of(fitted)[0], reference.std_of(fitted)[0]
    # Shrunk more than half way back to the prior mean 0, on the data's side.
    assert 0 < mean / x[0] < 0.6
    # Mean-field VI: mean close to the exact one, sd too small but not by much.
    assert abs(mean - exact.mean) < 0.1 * exact.std
    assert 0.6 * exact.std < std <= exact.std
    assert std < UNIT_PRIOR["std"]
    assert exact.log_evidence - 0.5 < fitted.elbo_ <= exact.log_evidence
    fixed_point = cavi_fixed_point(x)
    np.testing.assert_allclose(mean, fixed_point.mean, rtol=1e-6)
    np.testing.assert_allclose(std, fixed_point.std, rtol=1e-6)


def _assert_at_fixed_point(reference, fitted, fixed_point):
    np.testing.assert_allclose(
        reference.mean_of(fitted)[0], fixed_point.mean, rtol=1e-6
    )
    np.testing.assert_allclose(reference.std_of(fitted)[0], fixed_point.std, rtol=1e-6)
    np.testing.assert_allclose(
        reference.noise_std_of(fitted)[0], fixed_point.noise_std, rtol=1e-6
    )


@parametrize_references
@pytest.mark.parametrize("x", [[0.7, -0.2], [3.0, 3.5], [1e-3, -1e-3]])
def test_two_samples(entry, x):
    reference = entry.reference
    params = reference.params(**UNIT_PRIOR)
    fitted = _tight(entry, **params).fit(np.array(x)[:, np.newaxis])
    exact = _first_feature(reference.exact(fitted))
    assert_all_finite(entry, fitted)
    _assert_at_fixed_point(reference, fitted, cavi_fixed_point(x))
    assert abs(reference.mean_of(fitted)[0] - exact.mean) < 0.1 * exact.std
    assert exact.log_evidence - 0.5 < fitted.elbo_ <= exact.log_evidence


@parametrize_references
@pytest.mark.parametrize("value", [0.0, 5.0, -3.25, 1e9 + 0.1])
def test_constant_column(entry, value):
    """Zero spread: finite, the noise shrinks with the prior's rate, no NaN."""
    reference = entry.reference
    n = 1000
    X = np.column_stack([np.full(n, value), np.random.default_rng(1).normal(size=n)])
    for rate in [1.0, 1e-12]:
        params = reference.params(mean=[value, 0.0], std=1e3, shape=1.0, rate=rate)
        fitted = _tight(entry, **params).fit(X)
        assert_all_finite(entry, fitted)
        fixed_point = cavi_fixed_point(
            X[:, 0], prior_mean=value, prior_std=1e3, rate=rate
        )
        assert reference.mean_of(fitted)[0] == pytest.approx(
            fixed_point.mean, rel=1e-12
        )
        np.testing.assert_allclose(
            reference.noise_std_of(fitted)[0], fixed_point.noise_std, rtol=1e-6
        )
        np.testing.assert_allclose(
            reference.std_of(fitted)[0], fixed_point.std, rtol=1e-6
        )
        # The spread is all prior: b = b0 + (W s2 + ...)/2 with W s2 ~ 1/E[tau].
        noise_std = reference.noise_std_of(fitted)
        assert noise_std[0] < (0.05 if rate == 1.0 else 1e-6)
        assert noise_std[0] < noise_std[1]


def _one_odd_weight():
    rng = np.random.default_rng(2)
    X = rng.normal(2.0, 3.0, size=(200, 1))
    weights = np.full(200, 2.0)
    weights[17] = 9.0
    return X, weights


@parametrize_references
def test_all_equal_weights_but_one(entry):
    reference = entry.reference
    X, weights = _one_odd_weight()
    params = reference.params(**UNIT_PRIOR)
    fitted = _tight(entry, **params).fit(X, sample_weight=weights)
    assert_all_finite(entry, fitted)
    _assert_at_fixed_point(reference, fitted, cavi_fixed_point(X[:, 0], weights))
    # The odd weight matters: uniform weights give another answer.
    uniform = _tight(entry, **params).fit(X, sample_weight=np.full(200, 2.0))
    assert abs(reference.mean_of(uniform)[0] - reference.mean_of(fitted)[0]) > 1e-3


@_parametrize(entries_with("frequency_weights"))
def test_integer_weights_are_repeated_rows(entry):
    X, weights = _one_odd_weight()
    fitted = _tight(entry).fit(X, sample_weight=weights)
    repeated = _tight(entry).fit(np.repeat(X, weights.astype(int), axis=0))
    # tol=0 stops where the ELBO no longer changes in float64: the Normal
    # model's parameters are then exact to rounding; the Student-t model's,
    # which converge linearly (accelerated), to about 1e-10.
    for name in entry.posterior:
        np.testing.assert_allclose(
            getattr(fitted, name), getattr(repeated, name), rtol=1e-9, err_msg=name
        )


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


@parametrize_references
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
def test_large_offset(entry, offset_data, weighted):
    reference = entry.reference
    weights = np.ones(offset_data.shape[0]) if weighted else None
    params = reference.params(mean=OFFSET, std=1e3, shape=1.0, rate=1.0)
    fitted = entry.clone_params(**params).fit(offset_data, weights)
    assert_all_finite(entry, fitted)
    assert abs(reference.noise_std_of(fitted)[0] - 1.0) < 0.01
    assert abs(reference.mean_of(fitted)[0] - OFFSET) < 0.01
    # And the digits beyond the bounds, against extended precision.
    fixed_point = cavi_fixed_point(offset_data[:, 0], prior_mean=OFFSET, prior_std=1e3)
    np.testing.assert_allclose(
        reference.noise_std_of(fitted)[0], fixed_point.noise_std, rtol=1e-7
    )
    assert abs(reference.mean_of(fitted)[0] - fixed_point.mean) < 1e-6


@_parametrize(
    [
        entry
        for entry in entries_with("any_scale", "partial_fit_is_fit")
        if hasattr(entry.estimator, "partial_fit")
    ]
)
def test_large_offset_in_chunks(entry, offset_data):
    """partial_fit merges chunk statistics stably too."""
    params = entry.move(entry.expand(entry.weak_priors, 1), shift=OFFSET)
    whole = entry.clone_params(**params).fit(offset_data)
    chunked = entry.clone_params(**params)
    for chunk in np.array_split(offset_data, 7):
        chunked.partial_fit(chunk)
    for name in entry.posterior:
        if entry.units[name] == LOCATION:
            np.testing.assert_allclose(
                getattr(chunked, name) - OFFSET,
                getattr(whole, name) - OFFSET,
                atol=1e-6,
                err_msg=name,
            )
        else:
            np.testing.assert_allclose(
                getattr(chunked, name), getattr(whole, name), rtol=1e-9, err_msg=name
            )


@_parametrize(entries_with("any_scale"))
@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_extreme_magnitudes(entry, scale):
    """Data and priors scaled by ``c``: the same posterior in units of ``c``.

    Each prior and each fitted attribute moves by its units (for the Normal:
    mu scales with c, so prior_mean and prior_std do; tau = 1/sigma**2 scales
    with 1/c**2, so Gamma's rate scales with c**2 and its shape not at all).
    """
    X = np.random.default_rng(4).normal(0.3, 1.0, size=(50, 2))
    priors = entry.expand(entry.unit_priors, X.shape[1])
    unit = entry.clone_params(**priors).fit(X)
    scaled = entry.clone_params(**entry.move(priors, scale)).fit(X * scale)
    assert_all_finite(entry, scaled)
    for name, units in entry.units.items():
        value = getattr(scaled, name)
        if units == 0:
            np.testing.assert_array_equal(value, getattr(unit, name), err_msg=name)
        else:
            np.testing.assert_allclose(
                restore_attribute(entry, name, value, scale),
                getattr(unit, name),
                rtol=1e-9,
                err_msg=name,
            )
    # ELBO: each of the W * n_features data terms loses log(c) (a density in x).
    np.testing.assert_allclose(
        scaled.elbo_, unit.elbo_ - X.size * math.log(scale), rtol=1e-12
    )
    scores = scaled.score_samples(X * scale)
    assert np.all(np.isfinite(scores))


@parametrize_entries
def test_float32_input(entry):
    """Accumulation in float64; every fitted array is float64 (documented)."""
    rng = np.random.default_rng(5)
    X = rng.normal(100.0, 0.5, size=(5000, 3))
    # Two groups of rows, so that each of a 2-component mixture's components
    # has data (on one group, CAVI takes 1479 iterations to empty one).
    X[::2] += 3.0
    X32 = X.astype(np.float32)
    X64 = X32.astype(np.float64)  # the same numbers
    params = entry.move(entry.expand(entry.weak_priors, 3), shift=100.0)
    from32 = entry.clone_params(**params).fit(X32)
    from64 = entry.clone_params(**params).fit(X64)
    arrays = _array_attributes(entry, from64)
    assert arrays, "no fitted arrays: the test tests nothing"
    for name in arrays:
        value32, value64 = getattr(from32, name), getattr(from64, name)
        assert value32.dtype == np.float64, name
        np.testing.assert_allclose(
            value32, value64, rtol=float(np.finfo(np.float32).eps), err_msg=name
        )
    assert isinstance(from32.elbo_, float)
    scores = from32.score_samples(X32)
    assert scores.dtype == np.float64
    np.testing.assert_allclose(scores, from64.score_samples(X64), rtol=1e-6)


@_parametrize(entries_with("any_scale"))
def test_values_whose_squares_overflow(entry):
    """1e160 + 1e150 Normal(0, 1): x**2 overflows, the spread does not."""
    noise = np.random.default_rng(6).normal(size=(1000, 1))
    scale, shift = 1e150, 1e160
    X = shift + scale * noise
    priors = entry.expand(entry.weak_priors, 1)
    huge = entry.clone_params(**entry.move(priors, scale, shift))
    huge.fit(X)
    assert_all_finite(entry, huge)
    unit = entry.clone_params(**priors)
    unit.fit((X - shift) / scale)
    for name in entry.posterior:
        tolerance = dict(atol=1e-4) if entry.units[name] == LOCATION else {"rtol": 1e-5}
        np.testing.assert_allclose(
            restore_attribute(entry, name, getattr(huge, name), scale, shift),
            getattr(unit, name),
            err_msg=name,
            **tolerance,
        )


UNREPRESENTABLE = [
    # (xbar - prior_mean)**2 overflows: noise_std_ was inf, the ELBO NaN.
    # (A prior_std whose square over- or underflows is fine since skvi 0.2:
    # tests/test_priors.py.)
    ("prior-mean-far-from-data", 0.0, 1.0, {"mean": 1e256, "std": 1e-3}),
]


@parametrize_references
@pytest.mark.parametrize(
    "offset, spread, prior",
    [pytest.param(*case[1:], id=case[0]) for case in UNREPRESENTABLE],
)
def test_unrepresentable_fit_raises_instead_of_nan(entry, offset, spread, prior):
    params = entry.reference.params(**{**UNIT_PRIOR, **prior})
    X = offset + spread * np.random.default_rng(7).normal(size=(30, 1))
    message = (
        r"not representable in float64: .* came out NaN, infinite or zero.*"
        r"Choose priors on the scale of the data, or rescale X by c and the priors"
    )
    with warnings.catch_warnings():
        # One clear error, not a trail of numpy overflow warnings before it.
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=message):
            entry.clone_params(**params).fit(X)
    # An estimator fitted before keeps its fit.
    fitted = entry.clone_params().fit(np.ones((3, 1)))
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=message):
        fitted.set_params(**params).fit(X)
    assert_same_state(vars(fitted), before, ignore=params)
