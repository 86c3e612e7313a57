"""Inputs that are not plain numbers: each case decided once, numpy and dask alike.

Each case runs on ``fit``, ``partial_fit`` and ``score``, with numpy or pandas
input and, where dask has the same input, with dask input on the default
threaded scheduler: numpy and dask go through one validation path
(``skvi._core.validation.check_data``), so they must raise the same error, or fit
to the same numbers. ``docs/errors.md`` lists the decisions.
"""

import re

import numpy as np
import pandas as pd
import pytest
import sklearn

from skvi import VariationalNormalEstimator
from skvi._core.validation import check_data
from tests._fitted import assert_same_fit
from tests._state import assert_same_state, snapshot

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

from skvi._core.dask_passes import dask_reduce  # noqa: E402

METHODS = ["fit", "partial_fit", "score"]
N_SAMPLES = 12

NAN_FIX = r"Input X contains NaN\..*(imputer|drop samples with missing values)"
MASK_FIX = (
    r"Input X contains 1 masked value\(s\)\..*missing value, as NaN is.*"
    r"X\[~np\.ma\.getmaskarray\(X\)\.any\(axis=1\)\].*X\.filled\(np\.nan\)"
)
DATE_FIX = (
    r"Dates and durations are not plain numbers.*Convert them to numbers in the "
    r"unit you mean"
)
WEIGHT_SUM_FIX = (
    r"The sum of sample_weight overflows float64.*divide them by a common factor"
)


def _good_X(n_features=2):
    return np.random.default_rng(0).normal(size=(N_SAMPLES, n_features))


def _call(method, X, like=None, **fit_params):
    """``method`` of a fresh estimator, or of one fitted on clean data for score.

    ``like`` is clean data with the columns of X (a DataFrame keeps its
    feature names, so that scoring raises no feature-name warning).
    """
    estimator = VariationalNormalEstimator()
    if method == "score":
        estimator.fit(_good_X() if like is None else like)
    return getattr(estimator, method)(X, **fit_params)


def _raises(error, message):
    return pytest.raises(error, match=re.compile(message, re.DOTALL))


def _to_dask(X):
    """The same data as a dask array or DataFrame of several chunks."""
    if isinstance(X, pd.DataFrame):
        return dd.from_pandas(X, npartitions=3)
    return da.from_array(X, chunks=(5, -1))


def _with_backends(cases):
    """Each case with numpy input and with dask input."""
    return [
        pytest.param(*case[1:], backend, id=f"{case[0]}-{backend}")
        for case in cases
        for backend in ("numpy", "dask")
    ]


def _input(X, backend):
    return _to_dask(X) if backend == "dask" else X


# Masked arrays -------------------------------------------------------------
# A masked entry is a missing value, as NaN is: refused, with the ways to drop
# or fill it. scikit-learn's check_array would read the value under the mask,
# and dropping rows silently would change the total weight without a word.


def _masked_X():
    X = np.ma.masked_array(_good_X())
    X[3, 1] = np.ma.masked
    return X


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_masked_entries_are_missing_values(method, backend):
    with _raises(ValueError, MASK_FIX):
        _call(method, _input(_masked_X(), backend))


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_masked_array_with_nothing_masked_is_its_data(method, backend):
    X = np.ma.masked_array(_good_X(), mask=False)
    expected = VariationalNormalEstimator().fit(_good_X())
    assert_same_fit(_call(method, _input(X, backend)), expected, rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_masked_sample_weight_is_refused(method):
    weights = np.ma.masked_array(np.ones(N_SAMPLES))
    weights[2] = np.ma.masked
    with _raises(
        ValueError,
        r"Input sample_weight contains 1 masked value\(s\).*"
        r"sample_weight\.filled\(0\)",
    ):
        _call(method, _good_X(), sample_weight=weights)


# Dates and durations -------------------------------------------------------
# numpy casts them to float as counts of their unit (seconds, nanoseconds...),
# a number the user never chose: refused, with the conversion to write.


def _date_arrays():
    counts = np.arange(2 * N_SAMPLES).reshape(N_SAMPLES, 2)
    return [
        ("datetime64", counts.astype("datetime64[s]"), r"dtype datetime64\[s\]"),
        ("timedelta64", counts.astype("timedelta64[ms]"), r"dtype timedelta64\[ms\]"),
    ]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("X, what, backend", _with_backends(_date_arrays()))
def test_date_arrays_are_refused(method, X, what, backend):
    with _raises(ValueError, rf"X has {what}\. {DATE_FIX}.*np\.timedelta64\(1, 's'\)"):
        _call(method, _input(X, backend))


def _frame_with(column):
    return pd.DataFrame({"a": _good_X()[:, 0], "t": column})


def _date_columns():
    return [
        (
            "datetime",
            pd.date_range("2020-01-01", periods=N_SAMPLES, freq="h"),
            r"'t' \(datetime64\[.s\]\)",
        ),
        (
            "datetime-tz",
            pd.date_range("2020-01-01", periods=N_SAMPLES, freq="h", tz="UTC"),
            r"'t' \(datetime64\[.s, UTC\]\)",
        ),
        (
            "timedelta",
            pd.to_timedelta(np.arange(N_SAMPLES), unit="s"),
            r"'t' \(timedelta64\[.s\]\)",
        ),
    ]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("column, named, backend", _with_backends(_date_columns()))
def test_date_columns_are_refused_by_name(method, column, named, backend):
    X = _frame_with(column)
    like = _frame_with(np.arange(N_SAMPLES, dtype=float))
    with _raises(
        ValueError,
        rf"X has date or duration column\(s\) {named}\. {DATE_FIX}.*"
        r"\.dt\.total_seconds\(\)",
    ):
        _call(method, _input(X, backend), like=like)


def test_the_advised_conversion_fits():
    """The conversion the message gives turns NaT into NaN, not a huge count."""
    durations = np.arange(2 * N_SAMPLES).reshape(N_SAMPLES, 2).astype("timedelta64[s]")
    seconds = durations / np.timedelta64(1, "s")
    fitted = VariationalNormalEstimator().fit(seconds)
    np.testing.assert_allclose(
        fitted.sample_mean_, np.arange(2 * N_SAMPLES).reshape(N_SAMPLES, 2).mean(0)
    )
    durations[0, 0] = np.timedelta64("NaT")
    with _raises(ValueError, NAN_FIX):
        VariationalNormalEstimator().fit(durations / np.timedelta64(1, "s"))


@pytest.mark.parametrize(
    "method, weights_backend",
    [
        (method, backend)
        for method in METHODS
        for backend in ("numpy", "pandas", "dask")
        # score takes in-memory weights only: no dask weights there.
        if not (method == "score" and backend == "dask")
    ],
)
def test_date_sample_weights_are_refused(method, weights_backend):
    weights = np.arange(1, N_SAMPLES + 1).astype("timedelta64[s]")
    if weights_backend == "pandas":
        weights = pd.Series(weights)
    X = _good_X()
    if weights_backend == "dask":
        weights, X = da.from_array(weights, chunks=5), _to_dask(X)
    with _raises(
        ValueError,
        rf"sample_weight has dtype timedelta64\[s\]\. {DATE_FIX}.*"
        r"sample_weight / np\.timedelta64\(1, 's'\)",
    ):
        _call(method, X, sample_weight=weights)


# Missing values that are not NaN -------------------------------------------


def _object_column(missing):
    values = pd.Series(_good_X()[:, 1], dtype=object)
    values[4] = missing
    return values


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "missing, backend",
    [
        pytest.param(missing, backend, id=f"{label}-{backend}")
        for label, missing in [("pd.NA", pd.NA), ("pd.NaT", pd.NaT)]
        for backend in ("numpy", "dask")
    ],
)
def test_pandas_missing_values_get_the_nan_error(method, missing, backend):
    X = _frame_with(_object_column(missing))
    like = _frame_with(_good_X()[:, 1])
    with _raises(ValueError, NAN_FIX):
        _call(method, _input(X, backend), like=like)


@pytest.mark.parametrize("method", METHODS)
def test_pd_na_in_an_object_array_gets_the_nan_error(method):
    X = _good_X().astype(object)
    X[2, 0] = pd.NA
    with _raises(ValueError, NAN_FIX):
        _call(method, X)


def test_pd_na_is_missing_even_when_finiteness_is_assumed():
    """set_config(assume_finite=True) skips scikit-learn's check, not this one."""
    X = _good_X().astype(object)
    X[2, 0] = pd.NA
    with sklearn.config_context(assume_finite=True), _raises(ValueError, NAN_FIX):
        VariationalNormalEstimator().fit(X)


@pytest.mark.parametrize("method", METHODS)
def test_pd_na_in_sample_weight_gets_the_nan_error(method):
    weights = np.ones(N_SAMPLES, dtype=object)
    weights[1] = pd.NA
    with _raises(ValueError, r"Input sample_weight contains NaN.*must be finite"):
        _call(method, _good_X(), sample_weight=weights)


# dask accepts what pandas accepts, and fits it to the same numbers ----------


def _accepted_frames():
    X = _good_X()
    return [
        ("bool-and-float", pd.DataFrame({"a": X[:, 0], "b": X[:, 1] > 0})),
        (
            "numeric-categorical",
            pd.DataFrame(
                {"a": X[:, 0], "b": pd.Categorical(np.arange(N_SAMPLES) % 3 * 1.5)}
            ),
        ),
        (
            "nullable-integer",
            pd.DataFrame({"a": X[:, 0], "b": pd.array(np.arange(N_SAMPLES), "Int64")}),
        ),
        (
            "numbers-as-text",
            pd.DataFrame({"a": X[:, 0], "b": [f"{v:.3f}" for v in X[:, 1]]}),
        ),
    ]


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    "frame", [pytest.param(f, id=label) for label, f in _accepted_frames()]
)
def test_dask_fits_what_pandas_fits(method, frame):
    expected = getattr(VariationalNormalEstimator(), method)(frame)
    # The values, not the category codes nor the text, are what is fitted.
    np.testing.assert_allclose(
        expected.sample_mean_, frame.astype(float).mean().to_numpy(), rtol=1e-12
    )
    actual = getattr(VariationalNormalEstimator(), method)(_to_dask(frame))
    assert_same_fit(actual, expected, rtol=1e-12)
    np.testing.assert_array_equal(actual.feature_names_in_, ["a", "b"])
    assert actual.score(frame) == pytest.approx(expected.score(frame), rel=1e-12)


def test_dask_score_is_numpy_score():
    X = _good_X()
    fitted = VariationalNormalEstimator().fit(X)
    # The chunks' sums are added exactly rounded (math.fsum), numpy's in
    # pairwise order: equal to the last bit or two.
    assert fitted.score(_to_dask(X)) == pytest.approx(fitted.score(X), rel=1e-15)


# Overflow: the message blames what overflowed --------------------------------


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_weight_sum_overflow_blames_the_weights(method, backend):
    weights = np.full(N_SAMPLES, 1e308)
    with _raises(ValueError, WEIGHT_SUM_FIX) as info:
        _call(method, _input(_good_X(), backend), sample_weight=weights)
    assert "of X" not in str(info.value)


def test_running_weight_sum_overflow_blames_the_weights():
    """A partial_fit chunk whose weights are finite, but not with those seen before."""
    estimator = VariationalNormalEstimator().partial_fit(
        _good_X(), sample_weight=np.full(N_SAMPLES, 1e303)
    )
    fitted = snapshot(estimator)
    weights = np.zeros(N_SAMPLES)
    weights[0] = 1.7976e308  # finite; with the 1.2e304 seen, beyond 1.7977e308
    with _raises(ValueError, WEIGHT_SUM_FIX):
        estimator.partial_fit(_good_X(), sample_weight=weights)
    # The chunk is refused whole: the fit is as it was.
    assert_same_state(snapshot(estimator), fitted)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_moment_overflow_blames_X(method, backend):
    X = np.array([[1e308], [-1e308], [1e308], [-1e308], [1e308], [-1e308]])
    message = r"The mean or spread of X overflows float64.*Rescale X"
    with _raises(ValueError, message) as info:
        _call(method, _input(X, backend))
    assert "sample_weight" not in str(info.value)


def test_weighted_spread_overflow_names_both():
    """Finite weights with a finite sum may still make the weighted spread overflow."""
    X = np.array([[0.0], [1e154]] * 3)
    with _raises(
        ValueError,
        r"The mean or spread of X overflows.*weighted spread.*sample_weight|weights",
    ):
        VariationalNormalEstimator().fit(X, sample_weight=np.full(6, 1e10))


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_a_refused_chunk_keeps_the_fit(backend):
    estimator = VariationalNormalEstimator().fit(_good_X())
    fitted = snapshot(estimator)
    for bad in (_masked_X(), _date_arrays()[0][1]):
        with pytest.raises(ValueError):
            estimator.partial_fit(_input(bad, backend))
        assert_same_state(snapshot(estimator), fitted)


# The validation path itself, for the models to come -------------------------


@pytest.mark.parametrize("backend", ["numpy", "dask-array", "dask-dataframe"])
def test_check_data_and_dask_reduce_count_rows_alike(backend):
    """A model needing 2 rows gets numpy's message from 1 row, however it comes."""
    X = _good_X()[:1]
    if backend == "dask-array":
        X = da.from_array(X)
    elif backend == "dask-dataframe":
        # The length of a DataFrame is known only once its partitions are read.
        X = dd.from_pandas(pd.DataFrame(X, columns=["a", "b"]), npartitions=1)
    message = r"Found array with 1 sample\(s\) \(shape=\(1, 2\)\) while a minimum of 2"
    with _raises(ValueError, message):
        X, _ = check_data(
            VariationalNormalEstimator(), X, reset=True, ensure_min_samples=2
        )
        dask_reduce(X, None, _row_count, ensure_min_samples=2)


def _row_count(rows, weights):
    return rows.shape[0]


def test_dask_reduce_gives_each_chunk_checked_rows_and_weights():
    """Float rows and float64 weights of each non-empty chunk, in row order."""
    frame = pd.DataFrame({"a": np.arange(7.0), "b": np.arange(7) % 2 == 0})
    X = dd.concat(
        [
            dd.from_pandas(frame.iloc[:4], npartitions=2),
            dd.from_pandas(frame.iloc[:0], 1),
            dd.from_pandas(frame.iloc[4:], npartitions=1),
        ]
    )
    weights = np.arange(7) % 3
    parts = dask_reduce(X, weights, lambda rows, w: (rows, w))
    np.testing.assert_array_equal(
        np.concatenate([r for r, _ in parts]), frame.astype(float)
    )
    np.testing.assert_array_equal(np.concatenate([w for _, w in parts]), weights)
    assert all(r.dtype == np.float64 and w.dtype == np.float64 for r, w in parts)
