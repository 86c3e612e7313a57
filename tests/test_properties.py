"""Properties of the variational fit over generated data, weights and priors.

Every test runs on each registered estimator for which its property holds
(``tests/_registry.py``); the priors are drawn from the entry's own ranges.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import ConvergenceWarning

from tests._registry import (
    LOCATION,
    entries_with,
    entry_id,
    move_attribute,
    reference_entries,
)

# The mixture warns when reg_covar dominates data of extreme scale (issue 17);
# the properties here hold all the same, and the warning is tested elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore:reg_covar=.*dominates:UserWarning")


def _parametrize(entries):
    return pytest.mark.parametrize("entry", entries, ids=entry_id)


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


def _usable(entry, sample):
    """The sample, if it has the rows (of positive weight) the entry needs."""
    X, weights = sample
    positive = X.shape[0] if weights is None else int(np.count_nonzero(weights))
    assume(positive >= entry.min_samples)
    return X, weights


def _fit(entry, X, weights, params):
    return entry.clone_params(**params).fit(X, sample_weight=weights)


def _fitted_attributes(estimator):
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("__")
    }


def _assert_finite_and_positive(entry, fitted, history_may_start_below_range=False):
    for name, value in _fitted_attributes(fitted).items():
        if name == "elbo_history_" and history_may_start_below_range:
            # Early iterates far from prior and data may lie below -1.8e308
            # (documented); the history still climbs to a finite elbo_.
            assert not np.any(np.isnan(value)) and np.all(value < np.inf)
            # Rounding is relative to the largest value held, not the last:
            # an early iterate of -5e89 rounds by ~1e74.
            finite = value[np.isfinite(value)]
            assert np.all(np.diff(finite) >= -1e-9 * np.abs(finite).max())
            assert np.isfinite(value[-1])
        elif name != "feature_names_in_":
            assert np.all(np.isfinite(np.asarray(value, dtype=float))), name
    for name in entry.positive:
        assert np.all(getattr(fitted, name) > 0), name


def _total_weight(X, weights):
    return X.shape[0] if weights is None else float(weights.sum())


@_parametrize(entries_with("bound_climbs"))
@settings(max_examples=100)
@given(sample=weighted_data(), draw=st.data())
def test_fit_is_finite_and_the_bound_climbs(entry, sample, draw):
    X, weights = _usable(entry, sample)
    fitted = _fit(entry, X, weights, draw.draw(entry.typical_priors(X.shape[1])))
    _assert_finite_and_positive(entry, fitted)
    history = fitted.elbo_history_
    assert history.shape == (fitted.n_iter_,)
    assert fitted.elbo_ == history[-1]
    # Coordinate ascent never lowers the bound, beyond float64 rounding of it.
    rounding = 1e-12 * max(1.0, np.abs(history).max())
    assert np.all(np.diff(history) >= -rounding)


@_parametrize(entries_with("score_is_elbo_share"))
@settings(max_examples=30)
@given(sample=weighted_data(), draw=st.data())
def test_score_on_the_training_data_is_the_elbo_per_unit_weight(entry, sample, draw):
    """score_samples is each sample's share of the ELBO: ``score * W == elbo_``."""
    X, weights = _usable(entry, sample)
    fitted = _fit(entry, X, weights, draw.draw(entry.typical_priors(X.shape[1])))
    total = _total_weight(X, weights)
    # The ELBO is a sum of terms of order W: rounding is relative to that.
    np.testing.assert_allclose(
        fitted.score(X, sample_weight=weights) * total,
        fitted.elbo_,
        rtol=1e-10,
        atol=1e-10 * total,
    )
    np.testing.assert_allclose(
        np.average(fitted.score_samples(X), weights=weights) * total,
        fitted.elbo_,
        rtol=1e-10,
        atol=1e-10 * total,
    )


@_parametrize(reference_entries())
@settings(max_examples=100)
@given(sample=weighted_data(), draw=st.data())
def test_posterior_mean_between_prior_and_data(entry, sample, draw):
    """The Normal posterior mean is a weighted average of prior mean and data mean."""
    reference = entry.reference
    X, weights = _usable(entry, sample)
    params = draw.draw(entry.typical_priors(X.shape[1]))
    fitted = _fit(entry, X, weights, params)
    data_mean = np.average(X, axis=0, weights=weights)
    prior_mean = params[reference.prior_mean]
    low = np.minimum(prior_mean, data_mean)
    high = np.maximum(prior_mean, data_mean)
    slack = 1e-12 * (np.abs(low) + np.abs(high) + 1)
    assert np.all(low - slack <= reference.mean_of(fitted))
    assert np.all(reference.mean_of(fitted) <= high + slack)


@_parametrize(reference_entries())
@settings(max_examples=30)
@given(
    x=arrays(
        np.float64,
        st.integers(1, 20),
        elements=st.floats(-20, 20, allow_subnormal=False),
    ),
    weights_seed=st.integers(0, 2**32 - 1),
    weighted=st.booleans(),
    prior=st.fixed_dictionaries(
        {
            "mean": st.floats(-5, 5),
            "std": st.floats(0.2, 5),
            "shape": st.floats(0.5, 5),
            "rate": st.floats(0.2, 5),
        }
    ),
)
def test_elbo_below_log_evidence(entry, x, weights_seed, weighted, prior):
    """``elbo_ <= log p(X)``, with the exact evidence by quadrature."""
    weights = None
    if weighted:
        weights = np.random.default_rng(weights_seed).integers(0, 4, x.size)
        assume(weights.sum() > 0)
    params = entry.reference.params(**prior)
    fitted = _fit(entry, x[:, np.newaxis], weights, params)
    log_evidence = float(entry.reference.exact(fitted).log_evidence.sum())
    assert fitted.elbo_ <= log_evidence + 1e-8 * max(1, abs(log_evidence))
    # Where data and prior agree the posterior is unimodal and mean-field is a
    # good approximation: the gap is a fraction of a nat per parameter, not a
    # broken bound. (Where they conflict, e.g. x = [7, 7] under Normal(0, 1),
    # the exact posterior has a mode at each, and q can only sit on one.)
    w = np.ones_like(x) if weights is None else weights
    data_mean = np.average(x, weights=w)
    if abs(data_mean - prior["mean"]) <= 3 * prior["std"]:
        assert fitted.elbo_ > log_evidence - 2.0


def _assert_same_posterior(entry, actual, expected):
    for name in entry.posterior:
        np.testing.assert_allclose(
            getattr(actual, name),
            getattr(expected, name),
            rtol=1e-9,
            atol=1e-12,
            err_msg=name,
        )


@_parametrize(entries_with("row_order"))
@settings(max_examples=60)
@given(sample=weighted_data(), draw=st.data(), seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(entry, sample, draw, seed):
    X, weights = _usable(entry, sample)
    params = draw.draw(entry.typical_priors(X.shape[1]))
    order = np.random.default_rng(seed).permutation(X.shape[0])
    fitted = _fit(entry, X, weights, params)
    shuffled = _fit(
        entry, X[order], None if weights is None else weights[order], params
    )
    _assert_same_posterior(entry, shuffled, fitted)
    # Each sample's score depends on that sample only: bit for bit.
    np.testing.assert_array_equal(
        fitted.score_samples(X[order]), fitted.score_samples(X)[order]
    )
    np.testing.assert_allclose(
        fitted.score(X[order]), fitted.score(X), rtol=1e-12, atol=1e-12
    )


@_parametrize(entries_with("zero_weight_rows"))
@settings(max_examples=60)
@given(sample=weighted_data(), draw=st.data())
def test_zero_weight_rows_do_not_count(entry, sample, draw):
    X, weights = _usable(entry, sample)
    assume(weights is not None)
    params = draw.draw(entry.typical_priors(X.shape[1]))
    kept = weights > 0
    fitted = _fit(entry, X, weights, params)
    subset = _fit(entry, X[kept], weights[kept], params)
    _assert_same_posterior(entry, subset, fitted)


@_parametrize(entries_with("affine"))
@settings(max_examples=100)
@given(
    sample=weighted_data(),
    draw=st.data(),
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-1e3, 1e3),
)
def test_affine_transform_of_data_and_priors(entry, sample, draw, scale, shift):
    """x -> c x + d with priors moved along transforms the posterior the same way.

    Priors moved by their units (``Entry.move``) give the same model in the
    new units; CAVI's iterates are equivariant (for the Normal: mu' = c mu + d
    and tau' = tau / c**2, q(tau) starts at the prior, E[tau'] = E[tau]/c**2),
    so after the same sweeps every fitted attribute moves by its units. The KL
    terms are invariant under the reparametrisation; each of the W weighted
    observations of each feature loses log c in its density, so
    ELBO' = ELBO - W * n_features * log c at every iteration.
    """
    X, weights = _usable(entry, sample)
    params = draw.draw(entry.typical_priors(X.shape[1]))
    # The same number of sweeps for both fits: tol=0 stops only on an exactly
    # flat bound, max_iter otherwise.
    base = {**params, **entry.affine_stop}
    moved = entry.move(base, scale, shift)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = _fit(entry, X, weights, base)
        transformed = _fit(entry, X * scale + shift, weights, moved)
    locations = [prior.name for prior in entry.priors if prior.units == LOCATION]
    size = np.abs(X).max() + sum(np.max(np.abs(params[n])) for n in locations) + 1
    # tol=0 stops where the ELBO is flat to rounding, which the two fits may
    # reach one sweep apart: a location then differs by up to ~sqrt(eps |ELBO|)
    # of its scale (for the Normal's mean, posterior sds).
    resolution = 10 * math.sqrt(np.finfo(float).eps * max(1.0, abs(fitted.elbo_)))
    for name, units in entry.units.items():
        expected = move_attribute(entry, name, getattr(fitted, name), scale, shift)
        if units == LOCATION:
            spread = entry.scales.get(name)
            spread = 0.0 if spread is None else np.max(spread(fitted))
            tolerance = dict(
                rtol=1e-9,
                atol=1e-9 * (size * scale + abs(shift)) + resolution * scale * spread,
            )
        else:
            # An attribute whose entries can cross zero (a covariance matrix's
            # off-diagonal) is compared against its scale, moved by its units.
            spread = entry.scales.get(name)
            spread = 0.0 if spread is None else np.max(spread(fitted)) * scale**units
            tolerance = dict(rtol=entry.affine_rtol, atol=entry.affine_rtol * spread)
        np.testing.assert_allclose(
            getattr(transformed, name), expected, err_msg=name, **tolerance
        )
    shift_of_elbo = -_total_weight(X, weights) * X.shape[1] * math.log(scale)
    n_iter = min(fitted.n_iter_, transformed.n_iter_)
    np.testing.assert_allclose(
        transformed.elbo_history_[:n_iter],
        fitted.elbo_history_[:n_iter] + shift_of_elbo,
        rtol=entry.affine_rtol,
        atol=entry.affine_rtol * (1 + abs(shift_of_elbo)),
    )


def _log_uniform(low, high):
    return st.floats(low, high).map(lambda exponent: 10.0**exponent)


@_parametrize(entries_with("any_scale"))
@settings(max_examples=100)
@given(
    sample=weighted_data(max_samples=20, max_features=2),
    draw=st.data(),
    scale=_log_uniform(-300, 300),
    offset=st.sampled_from([0.0, 1.0]) | _log_uniform(-300, 300),
)
def test_any_scale_gives_a_finite_fit_or_a_clear_error(
    entry, sample, draw, scale, offset
):
    """Never NaN or inf in a fitted attribute: out of float64's range, an error."""
    X, weights = _usable(entry, sample)
    X = offset + scale * X / 1e3
    estimator = entry.clone_params(**draw.draw(entry.extreme_priors(X.shape[1])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow noise
        try:
            estimator.fit(X, sample_weight=weights)
        except ValueError as exc:
            # "not representable in float64", or a prior that "must be
            # representable in float64" (the full model's q(mu) covariance).
            assert "representable in float64" in str(exc) or "overflows float64" in str(
                exc
            )
            assert "Rescale X" in str(exc) or "rescale X" in str(exc)
            return
    _assert_finite_and_positive(entry, estimator, history_may_start_below_range=True)
