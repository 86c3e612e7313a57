"""Generic hardening over every registered estimator and structure setting.

Far points, weights whose products overflow, data over float64's range and
parameters changed after a fit: a finite answer or one clear error, never NaN,
a silent wrong label or a numpy traceback. Every test runs over each entry of
``tests/_registry.py`` and each value of its structure parameters
(``Entry.structure_params``), so that a new model inherits them.
"""

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from tests._registry import ENTRIES

VARIANTS = [
    pytest.param(entry, name, value, id=f"{entry.id}-{value}")
    for entry in ENTRIES
    for name, value in entry.variants()
]
# Messages of the errors for values out of float64's range.
OUT_OF_RANGE = (
    "overflows float64",
    "beyond float64",
    "not representable in float64",
    "can represent in float64",
)


def _fitted(entry, name, value, X=None, **fit_params):
    X = entry.make_data(60, 2, seed=4) if X is None else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return entry.clone_params(**{name: value}).fit(X, **fit_params), X


def _assert_one_clear_line(exc, fragments):
    message = str(exc)
    assert "\n" not in message.strip()
    assert any(fragment in message for fragment in fragments), message


@pytest.mark.parametrize(("entry", "name", "value"), VARIANTS)
def test_far_points_score_minus_inf_and_get_a_component(entry, name, value):
    """Points whose squared distances overflow: -inf, not NaN; valid labels."""
    estimator, X = _fitted(entry, name, value)
    far = np.array([[3.7e157, -2.0], [-5.0e203, 8.1e190], [1e-3, 6.6e307]])
    with warnings.catch_warnings():
        # numpy's overflow warnings are allowed here (scikit-learn's too).
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = estimator.score_samples(far)
        assert np.all(scores == -np.inf)
        if hasattr(estimator, "predict_proba"):
            resp = estimator.predict_proba(far)
            assert not np.isnan(resp).any()
            np.testing.assert_allclose(resp.sum(axis=1), 1.0)
            # The label is the component that takes the row.
            np.testing.assert_array_equal(estimator.predict(far), resp.argmax(axis=1))
    # Points near the data still score as before.
    assert np.all(np.isfinite(estimator.score_samples(X[:5])))


@pytest.mark.parametrize(("entry", "name", "value"), VARIANTS)
@pytest.mark.parametrize("exponent", [303.5, 305.2, 306.1])
def test_weights_whose_products_overflow(entry, name, value, exponent):
    """Weights summing below float64's limit, products beyond: fit or one error."""
    X = entry.make_data(90, 2, seed=7)
    weights = np.full(90, 10.0**exponent / 90 * 0.9)
    estimator = entry.clone_params(**{name: value})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        for method in ("fit", "partial_fit"):
            if not hasattr(estimator, method):
                continue
            try:
                getattr(estimator, method)(X, sample_weight=weights)
            except ValueError as exc:
                _assert_one_clear_line(exc, OUT_OF_RANGE)
                continue
            assert np.isfinite(estimator.elbo_)


@pytest.mark.parametrize(("entry", "name", "value"), VARIANTS)
def test_changing_the_structure_after_a_fit(entry, name, value):
    """Predictions follow the fit; continuing it as another model is refused."""
    estimator, X = _fitted(entry, name, value)
    before = estimator.score_samples(X)
    for other in entry.structure_params[name]:
        if other == value:
            continue
        estimator.set_params(**{name: other})
        np.testing.assert_array_equal(estimator.score_samples(X), before)
        for call in ("partial_fit", "warm fit"):
            if call == "partial_fit" and hasattr(estimator, "partial_fit"):
                do = estimator.partial_fit
            elif call == "warm fit" and "warm_start" in estimator.get_params():
                estimator.set_params(warm_start=True)
                do = estimator.fit
            else:
                continue
            with pytest.raises(ValueError, match=name) as error:
                do(X)
            _assert_one_clear_line(error.value, [name])
            # Nothing fitted before is lost.
            np.testing.assert_array_equal(estimator.score_samples(X), before)
        estimator.set_params(**{name: value})


@pytest.mark.parametrize("entry", [e for e in ENTRIES], ids=lambda e: e.id)
def test_continuing_on_other_features_is_refused(entry):
    estimator, X = _fitted(entry, *entry.variants()[0])
    wider = np.c_[X, X[:, :1]]
    for method in ("partial_fit", "fit"):
        if method == "fit":
            if "warm_start" not in estimator.get_params():
                continue
            estimator.set_params(warm_start=True)
        if not hasattr(estimator, method):
            continue
        with pytest.raises(ValueError, match="features") as error:
            getattr(estimator, method)(wider)
        _assert_one_clear_line(error.value, ["features"])


@pytest.mark.parametrize(("entry", "name", "value"), VARIANTS)
@settings(max_examples=12, deadline=None)
@given(
    exponent=st.floats(-300, 300),
    weight_exponent=st.floats(-300, 306),
    far=st.floats(0, 300),
)
# A spread so small that the precision's factors near float64's limit make
# even a point at distance 1e-20 overflow its Mahalanobis term (found with
# the tied mixture at 1e-155 and far=155).
@example(exponent=-160.0, weight_exponent=1.0, far=140.0)
@example(exponent=-200.0, weight_exponent=-50.0, far=200.0)
def test_any_scale_weight_and_far_point(
    entry, name, value, exponent, weight_exponent, far
):
    """Random scales, weights and far points: finite results or one clear error."""
    X = entry.make_data(40, 2, seed=11) * 10.0**exponent
    weights = np.full(40, 10.0**weight_exponent / 40)
    estimator = entry.clone_params(**{name: value})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            estimator.fit(X, sample_weight=weights)
        except ValueError as exc:
            _assert_one_clear_line(exc, OUT_OF_RANGE + ("sample weight", "singular"))
            return
        assert np.isfinite(estimator.elbo_)
        points = np.vstack([X[:3], X[:3] + 10.0 ** min(exponent + far, 307.0)])
        scores = estimator.score_samples(points)
        assert not np.isnan(scores).any()
        assert np.all(np.isfinite(scores[:3]))
        if hasattr(estimator, "predict_proba"):
            assert not np.isnan(estimator.predict_proba(points)).any()
