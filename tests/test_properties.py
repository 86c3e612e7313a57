"""Properties of the variational fit over generated data, weights and priors."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from tests._reference import exact_posterior
from tests._registry import ESTIMATORS, estimator_id

parametrize_estimators = pytest.mark.parametrize(
    "estimator", ESTIMATORS, ids=estimator_id
)

values = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)


@st.composite
def weighted_data(draw, max_samples=30, max_features=3):
    """X of shape (n, d), and weights >= 0 with at least one > 0 (or None)."""
    n_samples = draw(st.integers(1, max_samples))
    n_features = draw(st.integers(1, max_features))
    X = draw(arrays(np.float64, (n_samples, n_features), elements=values))
    weights = draw(
        st.none()
        | arrays(np.float64, n_samples, elements=st.sampled_from([0.0, 0.5, 1.0, 3.0]))
    )
    if weights is not None:
        assume(weights.sum() > 0)
    return X, weights


@st.composite
def priors(draw):
    return {
        "prior_mean": draw(st.floats(-100, 100)),
        "prior_std": draw(st.floats(1e-2, 1e2)),
        "prior_shape": draw(st.floats(0.1, 10)),
        "prior_rate": draw(st.floats(1e-2, 1e2)),
    }


def _fit(estimator, X, weights, params):
    return clone(estimator).set_params(**params).fit(X, sample_weight=weights)


def _fitted_attributes(estimator):
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("__")
    }


def _total_weight(X, weights):
    return X.shape[0] if weights is None else float(weights.sum())


@parametrize_estimators
@settings(max_examples=100)
@given(data=weighted_data(), params=priors())
def test_fit_is_finite_and_the_bound_climbs(estimator, data, params):
    X, weights = data
    fitted = _fit(estimator, X, weights, params)
    for name, value in _fitted_attributes(fitted).items():
        if name != "feature_names_in_":
            assert np.all(np.isfinite(np.asarray(value, dtype=float))), name
    assert np.all(fitted.posterior_std_ > 0)
    assert np.all(fitted.noise_std_ > 0)
    history = fitted.elbo_history_
    assert history.shape == (fitted.n_iter_,)
    assert fitted.elbo_ == history[-1]
    # Coordinate ascent never lowers the bound, beyond float64 rounding of it.
    rounding = 1e-12 * max(1.0, np.abs(history).max())
    assert np.all(np.diff(history) >= -rounding)


def _weighted_mean(X, weights):
    return np.average(X, axis=0, weights=weights)


@parametrize_estimators
@settings(max_examples=100)
@given(data=weighted_data(), params=priors())
def test_posterior_mean_between_prior_and_data(estimator, data, params):
    X, weights = data
    fitted = _fit(estimator, X, weights, params)
    data_mean = _weighted_mean(X, weights)
    prior_mean = params["prior_mean"]
    low = np.minimum(prior_mean, data_mean)
    high = np.maximum(prior_mean, data_mean)
    slack = 1e-12 * (np.abs(low) + np.abs(high) + 1)
    assert np.all(low - slack <= fitted.posterior_mean_)
    assert np.all(fitted.posterior_mean_ <= high + slack)


@parametrize_estimators
@settings(max_examples=30)
@given(
    x=arrays(
        np.float64,
        st.integers(1, 20),
        elements=st.floats(-20, 20, allow_subnormal=False),
    ),
    weights_seed=st.integers(0, 2**32 - 1),
    weighted=st.booleans(),
    params=st.fixed_dictionaries(
        {
            "prior_mean": st.floats(-5, 5),
            "prior_std": st.floats(0.2, 5),
            "prior_shape": st.floats(0.5, 5),
            "prior_rate": st.floats(0.2, 5),
        }
    ),
)
def test_elbo_below_log_evidence(estimator, x, weights_seed, weighted, params):
    """``elbo_ <= log p(X)``, with the exact evidence by quadrature."""
    weights = None
    if weighted:
        weights = np.random.default_rng(weights_seed).integers(0, 4, x.size)
        assume(weights.sum() > 0)
    fitted = _fit(estimator, x[:, np.newaxis], weights, params)
    exact = exact_posterior(x, weights, **params)
    assert fitted.elbo_ <= exact.log_evidence + 1e-8 * max(1, abs(exact.log_evidence))
    # Where data and prior agree the posterior is unimodal and mean-field is a
    # good approximation: the gap is a fraction of a nat per parameter, not a
    # broken bound. (Where they conflict, e.g. x = [7, 7] under Normal(0, 1),
    # the exact posterior has a mode at each, and q can only sit on one.)
    w = np.ones_like(x) if weights is None else weights
    data_mean = np.average(x, weights=w)
    if abs(data_mean - params["prior_mean"]) <= 3 * params["prior_std"]:
        assert fitted.elbo_ > exact.log_evidence - 2.0


@parametrize_estimators
@settings(max_examples=60)
@given(data=weighted_data(), params=priors(), seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(estimator, data, params, seed):
    X, weights = data
    order = np.random.default_rng(seed).permutation(X.shape[0])
    fitted = _fit(estimator, X, weights, params)
    shuffled = _fit(
        estimator, X[order], None if weights is None else weights[order], params
    )
    for name in ["posterior_mean_", "posterior_std_", "noise_std_"]:
        np.testing.assert_allclose(
            getattr(shuffled, name), getattr(fitted, name), rtol=1e-9, atol=1e-12
        )
    # Each sample's score depends on that sample only: bit for bit.
    np.testing.assert_array_equal(
        fitted.score_samples(X[order]), fitted.score_samples(X)[order]
    )
    np.testing.assert_allclose(
        fitted.score(X[order]), fitted.score(X), rtol=1e-12, atol=1e-12
    )


@parametrize_estimators
@settings(max_examples=60)
@given(data=weighted_data(), params=priors())
def test_zero_weight_rows_do_not_count(estimator, data, params):
    X, weights = data
    assume(weights is not None)
    kept = weights > 0
    fitted = _fit(estimator, X, weights, params)
    subset = _fit(estimator, X[kept], weights[kept], params)
    for name in ["posterior_mean_", "posterior_std_", "noise_std_"]:
        np.testing.assert_allclose(
            getattr(subset, name), getattr(fitted, name), rtol=1e-9, atol=1e-12
        )


@parametrize_estimators
@settings(max_examples=100)
@given(
    data=weighted_data(),
    params=priors(),
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-1e3, 1e3),
)
def test_affine_transform_of_data_and_priors(estimator, data, params, scale, shift):
    """x -> c x + d with priors moved along transforms the posterior the same way.

    With mu' = c mu + d and tau' = tau / c**2 the model is the same one: prior
    mean c m0 + d, prior sd c s0, Gamma shape a0 and rate b0 c**2. CAVI's
    iterates are equivariant (q(tau) starts at the prior, E[tau'] = E[tau]/c**2),
    so after the same sweeps m' = c m + d, s' = c s, noise' = c noise. The KL
    terms are invariant under the reparametrisation; each of the W weighted
    observations of each feature loses log c in its density, so
    ELBO' = ELBO - W * n_features * log c at every iteration.
    """
    X, weights = data
    # The same number of sweeps for both fits: tol=0 stops only on an exactly
    # flat bound, max_iter otherwise.
    base = {**params, "tol": 0.0, "max_iter": 8}
    moved = {
        **base,
        "prior_mean": params["prior_mean"] * scale + shift,
        "prior_std": params["prior_std"] * scale,
        "prior_rate": params["prior_rate"] * scale**2,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = _fit(estimator, X, weights, base)
        transformed = _fit(estimator, X * scale + shift, weights, moved)
    size = np.abs(X).max() + abs(params["prior_mean"]) + 1
    # tol=0 stops where the ELBO is flat to rounding, which the two fits may
    # reach one sweep apart: the mean then differs by up to ~sqrt(eps |ELBO|)
    # posterior sds.
    resolution = 10 * math.sqrt(np.finfo(float).eps * max(1.0, abs(fitted.elbo_)))
    np.testing.assert_allclose(
        transformed.posterior_mean_,
        fitted.posterior_mean_ * scale + shift,
        rtol=1e-9,
        atol=1e-9 * (size * scale + abs(shift))
        + resolution * scale * fitted.posterior_std_.max(),
    )
    for name in ["posterior_std_", "noise_std_"]:
        np.testing.assert_allclose(
            getattr(transformed, name), getattr(fitted, name) * scale, rtol=1e-6
        )
    np.testing.assert_allclose(
        transformed.posterior_rate_, fitted.posterior_rate_ * scale**2, rtol=1e-6
    )
    shift_of_elbo = -_total_weight(X, weights) * X.shape[1] * math.log(scale)
    n_iter = min(fitted.n_iter_, transformed.n_iter_)
    np.testing.assert_allclose(
        transformed.elbo_history_[:n_iter],
        fitted.elbo_history_[:n_iter] + shift_of_elbo,
        rtol=1e-6,
        atol=1e-6 * (1 + abs(shift_of_elbo)),
    )


def _log_uniform(low, high):
    return st.floats(low, high).map(lambda exponent: 10.0**exponent)


@parametrize_estimators
@settings(max_examples=100)
@given(
    data=weighted_data(max_samples=20, max_features=2),
    scale=_log_uniform(-300, 300),
    offset=st.sampled_from([0.0, 1.0]) | _log_uniform(-300, 300),
    prior_mean=st.sampled_from([0.0]) | _log_uniform(-300, 300),
    prior_std=_log_uniform(-300, 300),
    prior_shape=_log_uniform(-5, 5),
    prior_rate=_log_uniform(-300, 300),
)
def test_any_scale_gives_a_finite_fit_or_a_clear_error(
    estimator, data, scale, offset, prior_mean, prior_std, prior_shape, prior_rate
):
    """Never NaN or inf in a fitted attribute: out of float64's range, an error."""
    X, weights = data
    X = offset + scale * X / 1e3
    params = {
        "prior_mean": prior_mean,
        "prior_std": prior_std,
        "prior_shape": prior_shape,
        "prior_rate": prior_rate,
    }
    estimator = clone(estimator).set_params(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow noise
        try:
            estimator.fit(X, sample_weight=weights)
        except ValueError as exc:
            assert "not representable in float64" in str(
                exc
            ) or "overflows float64" in str(exc)
            assert "Rescale X" in str(exc) or "rescale X" in str(exc)
            return
    for name, value in _fitted_attributes(estimator).items():
        if name == "elbo_history_":
            # Early iterates far from prior and data may lie below -1.8e308
            # (documented); the history still climbs to a finite elbo_.
            assert not np.any(np.isnan(value)) and np.all(value < np.inf)
            assert np.all(np.diff(value[np.isfinite(value)]) >= -1e-9 * abs(value[-1]))
            assert np.isfinite(value[-1])
        elif name != "feature_names_in_":
            assert np.all(np.isfinite(np.asarray(value, dtype=float))), name
    assert np.all(estimator.posterior_std_ > 0)
    assert np.all(estimator.noise_std_ > 0)
