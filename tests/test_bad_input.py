"""Every bad input gets a clear error that names the problem and the fix.

Table-driven over every estimator in ``tests/_registry.py`` and every method
that takes data. Each row gives the exception type and a regex that must match
both the problem and what to do about it. ``docs/errors.md`` lists the same
table for users.
"""

import inspect
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, InvalidParameterError

from tests._registry import ESTIMATORS, estimator_id

N_SAMPLES, N_FEATURES = 20, 2
COLUMNS = ["a", "b"]


def _good_X():
    return np.random.default_rng(0).normal(size=(N_SAMPLES, N_FEATURES))


def _with(value):
    X = _good_X()
    X[3, 1] = value
    return X


def _dataframe_with_text_column():
    return pd.DataFrame({"a": _good_X()[:, 0], "b": ["x"] * N_SAMPLES})


def _object_array():
    X = _good_X().astype(object)
    X[0, 0] = object()
    return X


NAN_FIX = r"contains NaN.*(imputer|drop samples with missing values)"
INF_FIX = r"contains infinity.*Drop or replace the infinite values"
NUMERIC_FIX = r"X must be numeric.*drop or encode the non-numeric columns"

# (id, bad X, exception, regex naming the problem and the fix)
BAD_X = [
    ("nan", lambda: _with(np.nan), ValueError, NAN_FIX),
    ("+inf", lambda: _with(np.inf), ValueError, INF_FIX),
    ("-inf", lambda: _with(-np.inf), ValueError, INF_FIX),
    (
        "0-samples",
        lambda: np.empty((0, N_FEATURES)),
        ValueError,
        r"0 sample\(s\).*X is empty: pass at least one row",
    ),
    (
        "0-features",
        lambda: np.empty((N_SAMPLES, 0)),
        ValueError,
        r"0 feature\(s\).*X has no columns: pass at least one feature",
    ),
    (
        "1-d",
        lambda: _good_X()[:, 0],
        ValueError,
        r"Expected 2D array, got 1D array.*Reshape your data.*reshape\(-1, 1\)",
    ),
    (
        "3-d",
        lambda: _good_X()[:, :, np.newaxis],
        ValueError,
        r"dim 3.*Pass a 2-D array of shape \(n_samples, n_features\)",
    ),
    (
        "strings",
        lambda: np.array([["1.0", "x"]] * N_SAMPLES),
        ValueError,
        r"could not convert string to float.*" + NUMERIC_FIX,
    ),
    (
        "object",
        _object_array,
        TypeError,
        r"must be a string or a real number.*" + NUMERIC_FIX,
    ),
    (
        "complex",
        lambda: _good_X() + 1j,
        ValueError,
        r"Complex data not supported.*real numbers.*np\.real\(X\)",
    ),
    (
        "dataframe-text-column",
        _dataframe_with_text_column,
        ValueError,
        r"could not convert.*non-numeric column\(s\): 'b'.*select_dtypes",
    ),
    (
        "scipy-sparse",
        lambda: sp.csr_matrix(_good_X()),
        TypeError,
        r"Sparse data was passed.*dense data is required.*\.toarray\(\)",
    ),
]


def _raises(error, message):
    """pytest.raises with a regex in which ``.`` also matches newlines."""
    return pytest.raises(error, match=re.compile(message, re.DOTALL))


def _methods(estimator):
    """The methods that take X: fit, partial_fit where it exists, the scores."""
    names = ["fit", "partial_fit", "score", "score_samples"]
    return [name for name in names if hasattr(estimator, name)]


def _takes_sample_weight(estimator, method):
    return "sample_weight" in inspect.signature(getattr(estimator, method)).parameters


def _fitted(estimator, like=None):
    """A fitted clone; on a DataFrame with the same columns when ``like`` is one."""
    X = _good_X()
    if isinstance(like, pd.DataFrame):
        X = pd.DataFrame(X, columns=COLUMNS)
    return clone(estimator).fit(X)


def _estimator_for(estimator, method, like=None):
    """Fresh for fit and partial_fit; fitted for the methods that need it."""
    if method in ("fit", "partial_fit"):
        return clone(estimator)
    return _fitted(estimator, like)


def _cases(table, methods_of):
    return [
        pytest.param(
            estimator,
            method,
            *row[1:],
            id=f"{estimator_id(estimator)}-{method}-{row[0]}",
        )
        for estimator in ESTIMATORS
        for method in methods_of(estimator)
        for row in table
    ]


@pytest.mark.parametrize(
    "estimator, method, make_X, error, message", _cases(BAD_X, _methods)
)
def test_bad_X(estimator, method, make_X, error, message):
    X = make_X()
    target = _estimator_for(estimator, method, like=X)
    with _raises(error, message):
        getattr(target, method)(X)


def test_complex_error_does_not_dump_the_data():
    """scikit-learn's complex-data error prints the whole array; skvi's does not."""
    for estimator in ESTIMATORS:
        with pytest.raises(ValueError) as info:
            clone(estimator).fit(_good_X() + 1j)
        assert "\n" not in str(info.value)
        assert "1.j" not in str(info.value)


# Data at score time (or a later partial_fit chunk) that does not match fit.
MISMATCHED_X = [
    (
        "wrong-n-features",
        lambda: _good_X()[:, [0, 1, 1]],
        ValueError,
        r"X has 3 features, but \w+ is expecting 2 features.*"
        r"Pass the columns seen in fit, in the same order, or refit",
    ),
    (
        "other-feature-names",
        lambda: pd.DataFrame(_good_X(), columns=["a", "c"]),
        ValueError,
        r"feature names should match those that were passed during fit"
        r".*unseen at fit time:\n- c",
    ),
    (
        "reordered-feature-names",
        lambda: pd.DataFrame(_good_X()[:, ::-1], columns=["b", "a"]),
        ValueError,
        r"feature names should match.*must be in the same order as they were in fit",
    ),
]


def _methods_after_fit(estimator):
    return [name for name in _methods(estimator) if name != "fit"]


@pytest.mark.parametrize(
    "estimator, method, make_X, error, message",
    _cases(MISMATCHED_X, _methods_after_fit),
)
def test_X_unlike_fit(estimator, method, make_X, error, message):
    X = make_X()
    fitted = _fitted(estimator, like=X)
    with _raises(error, message):
        getattr(fitted, method)(X)


# sample_weight: frequency weights, one per row, finite, >= 0, not all zero.
BAD_WEIGHTS = [
    (
        "negative",
        lambda: np.r_[-1.0, np.ones(N_SAMPLES - 1)],
        ValueError,
        r"sample_weight must be >= 0.*1 negative value.*Use weight 0 to drop",
    ),
    (
        "nan",
        lambda: np.r_[np.nan, np.ones(N_SAMPLES - 1)],
        ValueError,
        r"sample_weight contains NaN.*must be finite: remove those samples",
    ),
    (
        "inf",
        lambda: np.r_[np.inf, np.ones(N_SAMPLES - 1)],
        ValueError,
        r"sample_weight contains infinity.*must be finite: remove those samples",
    ),
    (
        "wrong-length",
        lambda: np.ones(N_SAMPLES - 1),
        ValueError,
        rf"shape == \({N_SAMPLES - 1},\), expected \({N_SAMPLES},\).*"
        rf"Pass one weight per row of X.*length {N_SAMPLES}",
    ),
    (
        "2-d",
        lambda: np.ones((N_SAMPLES, 1)),
        ValueError,
        rf"shape == \({N_SAMPLES}, 1\), expected \({N_SAMPLES},\).*"
        r"Pass one weight per row of X",
    ),
    (
        "all-zero",
        lambda: np.zeros(N_SAMPLES),
        ValueError,
        r"sample_weight is zero for every sample.*"
        r"Give at least one sample a positive weight",
    ),
    (
        "text",
        lambda: np.array(["x"] * N_SAMPLES),
        ValueError,
        r"sample_weight must be numeric.*Pass numbers, one per row",
    ),
]


def _methods_with_weights(estimator):
    return [m for m in _methods(estimator) if _takes_sample_weight(estimator, m)]


@pytest.mark.parametrize(
    "estimator, method, make_weights, error, message",
    _cases(BAD_WEIGHTS, _methods_with_weights),
)
def test_bad_sample_weight(estimator, method, make_weights, error, message):
    target = _estimator_for(estimator, method)
    with _raises(error, message):
        getattr(target, method)(_good_X(), sample_weight=make_weights())


def test_zero_weight_rows_must_still_be_finite():
    """A NaN row is not excused by weight 0: it is an error in the data."""
    for estimator in ESTIMATORS:
        weights = np.ones(N_SAMPLES)
        weights[3] = 0.0
        with _raises(ValueError, NAN_FIX):
            clone(estimator).fit(_with(np.nan), sample_weight=weights)


# Hyperparameters. Which values are bad is read off each estimator's
# _parameter_constraints, so that a new estimator's priors join by being listed.


def _interval(estimator, name):
    """The Interval constraint of a hyperparameter (its allowed range), or None."""
    for constraint in estimator._parameter_constraints.get(name, []):
        if isinstance(constraint, Interval):
            return constraint
    return None


def _scalar_message(estimator, name, value):
    """InvalidParameterError's text: the parameter, the allowed range, the value."""
    allowed = re.escape(str(_interval(estimator, name)))
    got = re.escape(repr(value))
    return rf"The '{name}' parameter of \w+ must be {allowed}.*Got {got} instead"


def _hyperparameter_cases():
    """(estimator, parameter, label, value, exception, regex) for every bad value."""
    cases = []
    for estimator in ESTIMATORS:
        priors = [name for name in estimator.get_params() if name.startswith("prior_")]
        for name in priors:
            interval = _interval(estimator, name)
            bad_scalars = [("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)]
            bad_scalars += [
                (label, value)
                for label, value in [("zero", 0.0), ("negative", -1.0)]
                if value not in interval
            ]
            for label, value in bad_scalars:
                message = _scalar_message(estimator, name, value)
                cases.append(
                    (estimator, name, label, value, InvalidParameterError, message)
                )
                entry_message = (
                    rf"The '{name}' parameter must be > 0 for every feature.*"
                    r"use a small positive value for a vague prior"
                    if np.isfinite(value)
                    else rf"The '{name}' parameter must be finite.*"
                    r"Replace NaN and infinite entries with finite values"
                )
                cases.append(
                    (
                        estimator,
                        name,
                        f"{label}-entry",
                        [1.0, value],
                        InvalidParameterError,
                        entry_message,
                    )
                )
            for label, value in [("3-values", np.ones(3)), ("2-d", np.ones((2, 1)))]:
                message = (
                    rf"The '{name}' parameter must be a scalar or an array of shape "
                    rf"\(n_features,\) = \(2,\); got an array of shape "
                    rf"{re.escape(str(value.shape))}\. Pass one value per feature"
                )
                cases.append(
                    (estimator, name, label, value, InvalidParameterError, message)
                )
            cases.append(
                (
                    estimator,
                    name,
                    "text",
                    "wide",
                    InvalidParameterError,
                    _scalar_message(estimator, name, "wide").replace(
                        "must be ", "must be .*"
                    ),
                )
            )
        for name, values in [("max_iter", [0, -1, 2.5]), ("tol", [-1e-3, np.nan])]:
            if name in estimator.get_params():
                for value in values:
                    message = _scalar_message(estimator, name, value)
                    cases.append(
                        (
                            estimator,
                            name,
                            repr(value),
                            value,
                            InvalidParameterError,
                            message,
                        )
                    )
    return [
        pytest.param(
            estimator,
            name,
            value,
            error,
            message,
            id=f"{estimator_id(estimator)}-{name}-{label}",
        )
        for estimator, name, label, value, error, message in cases
    ]


@pytest.mark.parametrize(
    "estimator, name, value, error, message", _hyperparameter_cases()
)
def test_bad_hyperparameter(estimator, name, value, error, message):
    target = clone(estimator).set_params(**{name: value})  # set_params never raises
    with _raises(error, message):
        target.fit(_good_X())
    if "partial_fit" in _methods(estimator):
        with _raises(error, message):
            clone(target).partial_fit(_good_X())


def test_valid_edge_hyperparameters_fit():
    """The hyperparameter cases above are bad values, not a broken estimator."""
    for estimator in ESTIMATORS:
        for name in estimator.get_params():
            interval = _interval(estimator, name)
            if name.startswith("prior_") and 0.0 in interval:
                fitted = (
                    clone(estimator).set_params(**{name: [0.0, -1.0]}).fit(_good_X())
                )
                assert np.all(np.isfinite(fitted.posterior_mean_))


# Methods that need a fitted estimator.
NOT_FITTED = [
    ("score", lambda est: est.score(_good_X())),
    ("score_samples", lambda est: est.score_samples(_good_X())),
    ("sample_posterior", lambda est: est.sample_posterior(3)),
    ("credible_interval", lambda est: est.credible_interval(0.9)),
]


@pytest.mark.parametrize(
    "estimator, call",
    [
        pytest.param(estimator, call, id=f"{estimator_id(estimator)}-{name}")
        for estimator in ESTIMATORS
        for name, call in NOT_FITTED
        if hasattr(estimator, name)
    ],
)
def test_not_fitted(estimator, call):
    with _raises(NotFittedError, r"is not fitted yet\. Call 'fit'"):
        call(clone(estimator))


# skvi reads finiteness off the accumulated sums of each row block and checks
# element-wise only when they are not finite: every block, every position, and
# values that could cancel in a sum (+inf with -inf) must still be caught.
BLOCK_CASES = [
    pytest.param(
        (n_samples, n_features), row, values, weighted, id=f"{n_features}f-{label}"
    )
    for n_features, n_samples in [(1, 300_000), (4, 100_000)]
    for row, where in [(0, "first"), (n_samples // 2, "middle"), (-1, "last")]
    for values, what in [
        ((np.nan,), "nan"),
        ((np.inf,), "inf"),
        ((np.inf, -np.inf), "inf-and-minus-inf"),
    ]
    for weighted, how in [(False, "unit"), (True, "weight-0-on-bad-row")]
    for label in [f"{where}-{what}-{how}"]
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=estimator_id)
@pytest.mark.parametrize("shape, row, values, weighted", BLOCK_CASES)
def test_non_finite_values_found_in_any_block(estimator, shape, row, values, weighted):
    """Several row blocks of 2**17 values each; the bad value in one of them."""
    n_samples = shape[0]
    X = np.random.default_rng(8).normal(size=shape)
    rows = np.arange(n_samples)[[row, row - 1][: len(values)]]
    X[rows, -1] = values
    weights = None
    if weighted:
        weights = np.ones(n_samples)
        weights[rows] = 0.0
    message = NAN_FIX if np.isnan(values).any() else INF_FIX
    for method in _methods(estimator):
        if method in ("fit", "partial_fit"):
            with _raises(ValueError, message):
                getattr(clone(estimator), method)(X, sample_weight=weights)
