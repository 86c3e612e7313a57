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

from skvi._core.engine import plan
from tests._registry import ENTRIES, entry_id

N_SAMPLES, N_FEATURES = 20, 2
COLUMNS = ["a", "b"]


def _good_X(entry):
    """Data the entry's model suits, (N_SAMPLES, N_FEATURES)."""
    return entry.make_data(N_SAMPLES, N_FEATURES, 0)


def _with(X, value):
    X = X.copy()
    X[3, 1] = value
    return X


def _dataframe_with_text_column(X):
    return pd.DataFrame({"a": X[:, 0], "b": ["x"] * N_SAMPLES})


def _object_array(X):
    X = X.astype(object)
    X[0, 0] = object()
    return X


NAN_FIX = r"contains NaN.*(imputer|drop samples with missing values)"
INF_FIX = r"contains infinity.*Drop or replace the infinite values"
NUMERIC_FIX = r"X must be numeric.*drop or encode the non-numeric columns"

# (id, bad X made from good X, exception, regex naming the problem and the fix)
BAD_X = [
    ("nan", lambda X: _with(X, np.nan), ValueError, NAN_FIX),
    ("+inf", lambda X: _with(X, np.inf), ValueError, INF_FIX),
    ("-inf", lambda X: _with(X, -np.inf), ValueError, INF_FIX),
    (
        "0-samples",
        lambda X: np.empty((0, N_FEATURES)),
        ValueError,
        r"0 sample\(s\).*X is empty: pass at least one row",
    ),
    (
        "0-features",
        lambda X: np.empty((N_SAMPLES, 0)),
        ValueError,
        r"0 feature\(s\).*X has no columns: pass at least one feature",
    ),
    (
        "1-d",
        lambda X: X[:, 0],
        ValueError,
        r"Expected 2D array, got 1D array.*Reshape your data.*reshape\(-1, 1\)",
    ),
    (
        "3-d",
        lambda X: X[:, :, np.newaxis],
        ValueError,
        r"dim 3.*Pass a 2-D array of shape \(n_samples, n_features\)",
    ),
    (
        "strings",
        lambda X: np.array([["1.0", "x"]] * N_SAMPLES),
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
        lambda X: X + 1j,
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
        lambda X: sp.csr_matrix(X),
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


def _fitted(entry, like=None):
    """A fitted clone; on a DataFrame with the same columns when ``like`` is one."""
    X = _good_X(entry)
    if isinstance(like, pd.DataFrame):
        X = pd.DataFrame(X, columns=COLUMNS)
    return clone(entry.estimator).fit(X)


def _estimator_for(entry, method, like=None):
    """Fresh for fit and partial_fit; fitted for the methods that need it."""
    if method in ("fit", "partial_fit"):
        return clone(entry.estimator)
    return _fitted(entry, like)


def _cases(table, methods_of):
    return [
        pytest.param(
            entry,
            method,
            *row[1:],
            id=f"{entry.id}-{method}-{row[0]}",
        )
        for entry in ENTRIES
        for method in methods_of(entry.estimator)
        for row in table
    ]


@pytest.mark.parametrize(
    "entry, method, make_X, error, message", _cases(BAD_X, _methods)
)
def test_bad_X(entry, method, make_X, error, message):
    X = make_X(_good_X(entry))
    target = _estimator_for(entry, method, like=X)
    with _raises(error, message):
        getattr(target, method)(X)


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_complex_error_does_not_dump_the_data(entry):
    """scikit-learn's complex-data error prints the whole array; skvi's does not."""
    X = _good_X(entry)
    with pytest.raises(ValueError) as info:
        clone(entry.estimator).fit(X + 1j)
    assert "\n" not in str(info.value)
    assert "1.j" not in str(info.value)
    assert repr(X[0, 0] + 1j) not in str(info.value)


# Data at score time (or a later partial_fit chunk) that does not match fit.
MISMATCHED_X = [
    (
        "wrong-n-features",
        lambda X: X[:, [0, 1, 1]],
        ValueError,
        r"X has 3 features, but \w+ is expecting 2 features.*"
        r"Pass the columns seen in fit, in the same order, or refit",
    ),
    (
        "other-feature-names",
        lambda X: pd.DataFrame(X, columns=["a", "c"]),
        ValueError,
        r"feature names should match those that were passed during fit"
        r".*unseen at fit time:\n- c",
    ),
    (
        "reordered-feature-names",
        lambda X: pd.DataFrame(X[:, ::-1], columns=["b", "a"]),
        ValueError,
        r"feature names should match.*must be in the same order as they were in fit",
    ),
]


def _methods_after_fit(estimator):
    return [name for name in _methods(estimator) if name != "fit"]


@pytest.mark.parametrize(
    "entry, method, make_X, error, message",
    _cases(MISMATCHED_X, _methods_after_fit),
)
def test_X_unlike_fit(entry, method, make_X, error, message):
    X = make_X(_good_X(entry))
    fitted = _fitted(entry, like=X)
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
    "entry, method, make_weights, error, message",
    _cases(BAD_WEIGHTS, _methods_with_weights),
)
def test_bad_sample_weight(entry, method, make_weights, error, message):
    target = _estimator_for(entry, method)
    with _raises(error, message):
        getattr(target, method)(_good_X(entry), sample_weight=make_weights())


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_zero_weight_rows_must_still_be_finite(entry):
    """A NaN row is not excused by weight 0: it is an error in the data."""
    weights = np.ones(N_SAMPLES)
    weights[3] = 0.0
    with _raises(ValueError, NAN_FIX):
        clone(entry.estimator).fit(_with(_good_X(entry), np.nan), sample_weight=weights)


# Hyperparameters. Which values are bad is read off each estimator's
# _parameter_constraints, for the priors and other parameters its registry
# entry lists, so that a new estimator's priors join by being listed.


def _interval(estimator, name):
    """The Interval constraint of a hyperparameter (its allowed range), or None."""
    for constraint in estimator._parameter_constraints.get(name, []):
        if isinstance(constraint, Interval):
            return constraint
    return None


def _scalar_message(estimator, name, value):
    """InvalidParameterError's text: the parameter, the allowed range, the value."""
    interval = _interval(estimator, name)
    allowed = ".*" if interval is None else re.escape(str(interval))
    got = re.escape(repr(value))
    # Other allowed forms (None, an array-like) may be listed before the range.
    return rf"The '{name}' parameter of \w+ must be (.* )?{allowed}.*Got {got} instead"


def _prior_cases(entry, prior):
    """(parameter, label, value, regex) for every bad value of one prior."""
    estimator, name = entry.estimator, prior.name
    interval = _interval(estimator, name)
    cases = []
    if interval is None:
        # Not a number in a range (an array, or None for a data-based
        # default): its bad values are the entry's own list.
        bad_scalars = []
    else:
        bad_scalars = [("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)]
        bad_scalars += [
            (label, value)
            for label, value in [("zero", 0.0), ("negative", -1.0)]
            if value not in interval
        ]
    for label, value in bad_scalars:
        cases.append((name, label, value, _scalar_message(estimator, name, value)))
        if not prior.per_feature:
            continue
        entry_message = (
            rf"The '{name}' parameter must be > 0 for every feature.*"
            r"use a small positive value for a vague prior"
            if np.isfinite(value)
            else rf"The '{name}' parameter must be finite.*"
            r"Replace NaN and infinite entries with finite values"
        )
        cases.append((name, f"{label}-entry", [1.0, value], entry_message))
    if prior.per_feature:
        for label, value in [("3-values", np.ones(3)), ("2-d", np.ones((2, 1)))]:
            message = (
                rf"The '{name}' parameter must be a scalar or an array of shape "
                rf"\(n_features,\) = \(2,\); got an array of shape "
                rf"{re.escape(str(value.shape))}\. Pass one value per feature"
            )
            cases.append((name, label, value, message))
    text_message = _scalar_message(estimator, name, "wide")
    cases.append((name, "text", "wide", text_message.replace("must be ", "must be .*")))
    return cases


def _hyperparameter_cases():
    """(entry, parameter, value, exception, regex) for every bad value."""
    params = []
    for entry in ENTRIES:
        cases = [case for prior in entry.priors for case in _prior_cases(entry, prior)]
        for name, values in entry.invalid_params.items():
            for value in values:
                message = _scalar_message(entry.estimator, name, value)
                cases.append((name, repr(value), value, message))
        params += [
            pytest.param(
                entry,
                name,
                value,
                InvalidParameterError,
                message,
                id=f"{entry.id}-{name}-{label}",
            )
            for name, label, value, message in cases
        ]
    return params


@pytest.mark.parametrize("entry, name, value, error, message", _hyperparameter_cases())
def test_bad_hyperparameter(entry, name, value, error, message):
    target = clone(entry.estimator).set_params(**{name: value})  # never raises
    with _raises(error, message):
        target.fit(_good_X(entry))
    if "partial_fit" in _methods(entry.estimator):
        with _raises(error, message):
            clone(target).partial_fit(_good_X(entry))


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_valid_edge_hyperparameters_fit(entry):
    """The hyperparameter cases above are bad values, not a broken estimator."""
    edges = [
        prior.name
        for prior in entry.priors
        if prior.per_feature
        and _interval(entry.estimator, prior.name) is not None
        and 0.0 in _interval(entry.estimator, prior.name)
        and -1.0 in _interval(entry.estimator, prior.name)
    ]
    if not edges:
        pytest.skip("no per-feature prior admits 0 and negative values")
    for name in edges:
        fitted = entry.clone_params(**{name: [0.0, -1.0]}).fit(_good_X(entry))
        for attribute in entry.fitted_attributes:
            assert np.all(np.isfinite(getattr(fitted, attribute))), attribute


# Methods that need a fitted estimator.
NOT_FITTED = [
    ("score", lambda est, X: est.score(X)),
    ("score_samples", lambda est, X: est.score_samples(X)),
    ("sample_posterior", lambda est, X: est.sample_posterior(3)),
    ("credible_interval", lambda est, X: est.credible_interval(0.9)),
]


@pytest.mark.parametrize(
    "entry, call",
    [
        pytest.param(entry, call, id=f"{entry.id}-{name}")
        for entry in ENTRIES
        for name, call in NOT_FITTED
        if hasattr(entry.estimator, name)
    ],
)
def test_not_fitted(entry, call):
    with _raises(NotFittedError, r"is not fitted yet\. Call 'fit'"):
        call(clone(entry.estimator), _good_X(entry))


# skvi reads finiteness off the accumulated sums of each row block and checks
# element-wise only when they are not finite: every block, every position
# (both sides of a block boundary among them), and values that could cancel in
# a sum (+inf with -inf) must still be caught. The blocks are those of the
# row-block engine's plan for the one-pass statistics.


def _block_rows(n_features):
    return plan(10**9, n_features)[0]


def _block_cases():
    cases = []
    for n_features in [1, 4]:
        block_rows = _block_rows(n_features)
        # Four and a half blocks: a short last block too.
        n_samples = 4 * block_rows + block_rows // 2
        positions = [
            (0, "first"),
            # Inside the array, where a block starts: the pair of rows
            # (row - 1, row) straddles the boundary of the first two blocks.
            (block_rows, "block-boundary"),
            (-1, "last"),
        ]
        for row, where in positions:
            for values, what in [
                ((np.nan,), "nan"),
                ((np.inf,), "inf"),
                ((np.inf, -np.inf), "inf-and-minus-inf"),
            ]:
                for weighted, how in [(False, "unit"), (True, "weight-0-on-bad-row")]:
                    cases.append(
                        pytest.param(
                            (n_samples, n_features),
                            row,
                            values,
                            weighted,
                            id=f"{n_features}f-{where}-{what}-{how}",
                        )
                    )
    return cases


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
@pytest.mark.parametrize("shape, row, values, weighted", _block_cases())
def test_non_finite_values_found_in_any_block(entry, shape, row, values, weighted):
    """Several row blocks; the bad value in one of them."""
    n_samples = shape[0]
    X = entry.make_data(*shape, 8)
    rows = np.arange(n_samples)[[row, row - 1][: len(values)]]
    X[rows, -1] = values
    weights = None
    if weighted:
        weights = np.ones(n_samples)
        weights[rows] = 0.0
    message = NAN_FIX if np.isnan(values).any() else INF_FIX
    for method in _methods(entry.estimator):
        if method in ("fit", "partial_fit"):
            with _raises(ValueError, message):
                getattr(clone(entry.estimator), method)(X, sample_weight=weights)
