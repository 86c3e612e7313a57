"""A call that raises leaves the estimator exactly as it was, bit for bit.

Run on every registered estimator, with its own data and its own invalid
parameter values (``tests/_registry.py``).
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from tests._registry import ENTRIES, entry_id
from tests._state import assert_same_state, snapshot

COLUMNS = ["a", "b", "c"]

# Estimators fitted on a DataFrame are also called with arrays here, on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:X does not have valid feature names:UserWarning"
)


class Data:
    """The entry's data: ``data(n_samples=40, n_features=3)``."""

    def __init__(self, entry):
        self.entry = entry

    def __call__(self, n_samples=40, n_features=3, seed=0):
        return self.entry.make_data(n_samples, n_features, seed)


def _with_nan(X):
    X = np.array(X, dtype=float)
    X[5, 1] = np.nan
    return X


def _infinite_above_median(X):
    return np.where(X > np.median(X), np.inf, X)


def _fitted(entry, how):
    """A fitted clone: by fit on an array or a DataFrame, or by chunks."""
    X = Data(entry)()
    estimator = entry.estimator
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


# (id, call(estimator, data), whether it needs an estimator fitted on a DataFrame)
FAILING_CALLS = [
    ("partial_fit-nan", lambda est, data: est.partial_fit(_with_nan(data(10))), False),
    (
        "partial_fit-inf",
        lambda est, data: est.partial_fit(_infinite_above_median(data(10))),
        False,
    ),
    ("partial_fit-n_features", lambda est, data: est.partial_fit(data(10, 2)), False),
    (
        "partial_fit-feature-names",
        lambda est, data: est.partial_fit(_frame(data(10), ["a", "b", "z"])),
        True,
    ),
    (
        "partial_fit-nan-dataframe",
        lambda est, data: est.partial_fit(_frame(_with_nan(data(10)))),
        True,
    ),
    (
        "partial_fit-negative-weight",
        lambda est, data: est.partial_fit(data(10), sample_weight=-np.ones(10)),
        False,
    ),
    ("fit-nan", lambda est, data: est.fit(_with_nan(data())), False),
    # fit resets n_features_in_ before the NaN is found in the sums.
    (
        "fit-nan-other-n_features",
        lambda est, data: est.fit(_with_nan(data(40, 5))),
        False,
    ),
    # ... and deletes feature_names_in_ for an array.
    (
        "fit-nan-array-after-dataframe",
        lambda est, data: est.fit(_with_nan(data())),
        True,
    ),
    ("fit-text", lambda est, data: est.fit(np.array([["1", "x"]] * 5)), False),
    (
        "fit-zero-weights",
        lambda est, data: est.fit(data(), sample_weight=np.zeros(40)),
        False,
    ),
    ("score-nan", lambda est, data: est.score(_with_nan(data())), False),
    ("score-n_features", lambda est, data: est.score(data(10, 4)), False),
    (
        "score_samples-inf",
        lambda est, data: est.score_samples(np.full((5, 3), np.inf)),
        False,
    ),
    ("sample_posterior-0", lambda est, data: est.sample_posterior(0), False),
    ("credible_interval-2", lambda est, data: est.credible_interval(2.0), False),
]


def _calls(estimator):
    return [row for row in FAILING_CALLS if hasattr(estimator, row[0].split("-")[0])]


@pytest.mark.parametrize(
    "entry, how, call",
    [
        pytest.param(entry, how, call, id=f"{entry.id}-{how}-{name}")
        for entry in ENTRIES
        for how in ["fit", "fit-dataframe", "partial_fit"]
        for name, call, needs_dataframe in _calls(entry.estimator)
        if how == "fit-dataframe" or not needs_dataframe
        if how != "partial_fit" or hasattr(entry.estimator, "partial_fit")
    ],
)
def test_failed_call_changes_nothing(entry, how, call):
    data = Data(entry)
    fitted = _fitted(entry, how)
    before = snapshot(fitted)
    scores = fitted.score_samples(data(5))
    with pytest.raises((ValueError, TypeError)):
        call(fitted, data)
    assert_same_state(vars(fitted), before)
    np.testing.assert_array_equal(fitted.score_samples(data(5)), scores)


# set_params never raises (scikit-learn's contract); the fit after it does, and
# must leave every fitted attribute as it was. Bad priors are found after the
# data have been read (and n_features_in_ reset), so this is a real test. Every
# invalid value the entry lists, for its priors and its other parameters.


def _bad_params(entry):
    for prior in entry.priors:
        for index, value in enumerate(prior.invalid):
            yield f"{prior.name}-{index}", {prior.name: value}
    for name, values in entry.invalid_params.items():
        for index, value in enumerate(values):
            yield f"{name}-{index}", {name: value}


@pytest.mark.parametrize(
    "entry, method, params",
    [
        pytest.param(entry, method, params, id=f"{entry.id}-{method}-{label}")
        for entry in ENTRIES
        for method in ["fit", "partial_fit"]
        if hasattr(entry.estimator, method)
        for label, params in _bad_params(entry)
    ],
)
def test_set_params_then_failed_fit_changes_nothing(entry, method, params):
    data = Data(entry)
    fitted = _fitted(entry, "fit-dataframe")
    before = snapshot(fitted)
    fitted.set_params(**params)
    with pytest.raises(ValueError):
        # Another number of features too: fit would reset n_features_in_.
        getattr(fitted, method)(data(30, 3 if method == "partial_fit" else 4))
    assert_same_state(vars(fitted), before, ignore=params)
    for name, value in params.items():
        assert getattr(fitted, name) is value  # the user's setting is kept
    # Setting the old values back gives the old estimator, which still works.
    fitted.set_params(**{name: before[name] for name in params})
    assert_same_state(vars(fitted), before)
    fitted.score(_frame(data(5)))


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_failed_fit_of_a_clone_leaves_clone_unfitted_and_original_intact(entry):
    fitted = _fitted(entry, "fit")
    before = snapshot(fitted)
    (_, params), *_ = _bad_params(entry)
    bad = clone(fitted).set_params(**params)
    fresh = snapshot(bad)
    with pytest.raises(ValueError):
        bad.fit(Data(entry)())
    assert_same_state(vars(bad), fresh)
    with pytest.raises(NotFittedError):
        check_is_fitted(bad)
    assert_same_state(vars(fitted), before)


@pytest.mark.parametrize(
    "entry",
    [entry for entry in ENTRIES if hasattr(entry.estimator, "partial_fit")],
    ids=entry_id,
)
def test_failed_first_partial_fit_leaves_estimator_unfitted(entry):
    data = Data(entry)
    fresh_estimator = clone(entry.estimator)
    fresh = snapshot(fresh_estimator)
    with pytest.raises(ValueError):
        fresh_estimator.partial_fit(_with_nan(data()))
    assert_same_state(vars(fresh_estimator), fresh)
    # The next, good, chunk is then the first one: as if the bad one never came.
    fresh_estimator.partial_fit(data(10, 2))
    assert fresh_estimator.n_features_in_ == 2
    reference = clone(entry.estimator).partial_fit(data(10, 2))
    assert_same_state(vars(fresh_estimator), vars(reference))
