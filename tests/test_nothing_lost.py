"""A call that raises leaves the estimator exactly as it was, bit for bit."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from tests._registry import ESTIMATORS, estimator_id
from tests._state import assert_same_state, snapshot

COLUMNS = ["a", "b", "c"]

# Estimators fitted on a DataFrame are also called with arrays here, on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:X does not have valid feature names:UserWarning"
)


def _data(n_samples=40, n_features=3, seed=0):
    return np.random.default_rng(seed).normal(1.0, 2.0, size=(n_samples, n_features))


def _with_nan(X):
    X = np.array(X, dtype=float)
    X[5, 1] = np.nan
    return X


def _fitted(estimator, how):
    """A fitted clone: by fit on an array or a DataFrame, or by chunks."""
    X = _data()
    if how == "fit":
        return clone(estimator).fit(X)
    if how == "fit-dataframe":
        return clone(estimator).fit(pd.DataFrame(X, columns=COLUMNS))
    fitted = clone(estimator)
    for chunk in np.array_split(X, 3):
        fitted.partial_fit(chunk)
    return fitted


def _frame(X, columns=COLUMNS):
    return pd.DataFrame(X, columns=columns)


# (id, call, whether it needs an estimator fitted on a DataFrame, params it sets)
FAILING_CALLS = [
    ("partial_fit-nan", lambda est: est.partial_fit(_with_nan(_data(10))), False),
    (
        "partial_fit-inf",
        lambda est: est.partial_fit(np.where(_data(10) > 2, np.inf, _data(10))),
        False,
    ),
    ("partial_fit-n_features", lambda est: est.partial_fit(_data(10, 2)), False),
    (
        "partial_fit-feature-names",
        lambda est: est.partial_fit(_frame(_data(10), ["a", "b", "z"])),
        True,
    ),
    (
        "partial_fit-nan-dataframe",
        lambda est: est.partial_fit(_frame(_with_nan(_data(10)))),
        True,
    ),
    (
        "partial_fit-negative-weight",
        lambda est: est.partial_fit(_data(10), sample_weight=-np.ones(10)),
        False,
    ),
    ("fit-nan", lambda est: est.fit(_with_nan(_data())), False),
    # fit resets n_features_in_ before the NaN is found in the sums.
    ("fit-nan-other-n_features", lambda est: est.fit(_with_nan(_data(40, 5))), False),
    # ... and deletes feature_names_in_ for an array.
    ("fit-nan-array-after-dataframe", lambda est: est.fit(_with_nan(_data())), True),
    ("fit-text", lambda est: est.fit(np.array([["1", "x"]] * 5)), False),
    (
        "fit-zero-weights",
        lambda est: est.fit(_data(), sample_weight=np.zeros(40)),
        False,
    ),
    ("score-nan", lambda est: est.score(_with_nan(_data())), False),
    ("score-n_features", lambda est: est.score(_data(10, 4)), False),
    (
        "score_samples-inf",
        lambda est: est.score_samples(np.full((5, 3), np.inf)),
        False,
    ),
    ("sample_posterior-0", lambda est: est.sample_posterior(0), False),
    ("credible_interval-2", lambda est: est.credible_interval(2.0), False),
]


def _calls(estimator):
    return [row for row in FAILING_CALLS if hasattr(estimator, row[0].split("-")[0])]


@pytest.mark.parametrize(
    "estimator, how, call",
    [
        pytest.param(estimator, how, call, id=f"{estimator_id(estimator)}-{how}-{name}")
        for estimator in ESTIMATORS
        for how in ["fit", "fit-dataframe", "partial_fit"]
        for name, call, needs_dataframe in _calls(estimator)
        if how == "fit-dataframe" or not needs_dataframe
    ],
)
def test_failed_call_changes_nothing(estimator, how, call):
    fitted = _fitted(estimator, how)
    before = snapshot(fitted)
    scores = fitted.score_samples(_data(5))
    with pytest.raises((ValueError, TypeError)):
        call(fitted)
    assert_same_state(vars(fitted), before)
    np.testing.assert_array_equal(fitted.score_samples(_data(5)), scores)


# set_params never raises (scikit-learn's contract); the fit after it does, and
# must leave every fitted attribute as it was. Bad priors are found after the
# data have been read (and n_features_in_ reset), so this is a real test.
BAD_PARAMS = [
    {"prior_std": -1.0},
    {"prior_mean": np.ones(5)},
    {"prior_rate": [1.0, np.nan, 1.0]},
    {"prior_shape": [1.0, 0.0, 1.0]},
    {"max_iter": 0},
    {"tol": -1.0},
]


@pytest.mark.parametrize(
    "estimator, method, params",
    [
        pytest.param(
            estimator,
            method,
            params,
            id=f"{estimator_id(estimator)}-{method}-{next(iter(params))}",
        )
        for estimator in ESTIMATORS
        for method in ["fit", "partial_fit"]
        if hasattr(estimator, method)
        for params in BAD_PARAMS
        if set(params) <= set(estimator.get_params())
    ],
)
def test_set_params_then_failed_fit_changes_nothing(estimator, method, params):
    fitted = _fitted(estimator, "fit-dataframe")
    before = snapshot(fitted)
    fitted.set_params(**params)
    with pytest.raises(ValueError):
        # Another number of features too: fit would reset n_features_in_.
        getattr(fitted, method)(_data(30, 3 if method == "partial_fit" else 4))
    assert_same_state(vars(fitted), before, ignore=params)
    for name, value in params.items():
        assert getattr(fitted, name) is value  # the user's setting is kept
    # Setting the old values back gives the old estimator, which still works.
    fitted.set_params(**{name: before[name] for name in params})
    assert_same_state(vars(fitted), before)
    fitted.score(_frame(_data(5)))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=estimator_id)
def test_failed_fit_of_a_clone_leaves_clone_unfitted_and_original_intact(estimator):
    fitted = _fitted(estimator, "fit")
    before = snapshot(fitted)
    bad = clone(fitted).set_params(prior_std=0.0)
    fresh = snapshot(bad)
    with pytest.raises(ValueError):
        bad.fit(_data())
    assert_same_state(vars(bad), fresh)
    with pytest.raises(NotFittedError):
        check_is_fitted(bad)
    assert_same_state(vars(fitted), before)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=estimator_id)
def test_failed_first_partial_fit_leaves_estimator_unfitted(estimator):
    if not hasattr(estimator, "partial_fit"):
        pytest.skip("no partial_fit")
    fresh_estimator = clone(estimator)
    fresh = snapshot(fresh_estimator)
    with pytest.raises(ValueError):
        fresh_estimator.partial_fit(_with_nan(_data()))
    assert_same_state(vars(fresh_estimator), fresh)
    # The next, good, chunk is then the first one: as if the bad one never came.
    fresh_estimator.partial_fit(_data(10, 2))
    assert fresh_estimator.n_features_in_ == 2
    reference = clone(estimator).partial_fit(_data(10, 2))
    assert_same_state(vars(fresh_estimator), vars(reference))
