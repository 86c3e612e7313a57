"""Input validation shared by skvi's estimators: one path for every kind of X.

numpy, pandas, dask and array API input are read by the same checks, with
messages that say how to fix X: :func:`validate_data` (scikit-learn's, plus
refusals of dates, durations and masked entries), :func:`check_chunk` (one
array or dask chunk), :func:`check_data` (X and its weights, a dask
collection checked on its metadata), :func:`check_sample_weight` (frequency
weights), :func:`check_weight_sum` and :func:`assert_all_finite`.
The estimators' parameters are checked in :mod:`skvi._core.parameters`
(the one module that imports scikit-learn's private helpers), and where an
array lives (its array API namespace and device) is read in
:mod:`skvi._core.namespaces`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import re
from numbers import Integral, Real

import numpy as np
from sklearn import config_context
from sklearn.utils import assert_all_finite as _sklearn_assert_all_finite
from sklearn.utils.validation import check_array
from sklearn.utils.validation import validate_data as _sklearn_validate_data

from .namespaces import _DTYPES, array_space, float_dtypes, is_dask_collection, to_numpy

__all__ = [
    "assert_all_finite",
    "check_chunk",
    "check_data",
    "check_sample_weight",
    "check_weight_sum",
    "validate_data",
]


_INFINITY_ADVICE = (
    " Drop or replace the infinite values first, e.g. keep the rows "
    "np.isfinite(X).all(axis=1)."
)


# numpy's kinds for dates (M) and durations (m): castable to float, but as raw
# counts of a unit the user never chose, so they are refused (docs/errors.md).
_DATE_KINDS = "Mm"

_DATE_ADVICE = (
    "Dates and durations are not plain numbers: as raw counts their meaning "
    "depends on the unit, so skvi refuses them. Convert them to numbers in the "
    "unit you mean first"
)


def _estimator_label(estimator_name):
    return estimator_name or "skvi"


def _non_numeric_columns(X):
    """The non-numeric columns of a DataFrame, as text for an error message."""
    dtypes = getattr(X, "dtypes", None)
    if not hasattr(dtypes, "items"):
        return ""
    names = [
        repr(name)
        for name, dtype in dtypes.items()
        if getattr(dtype, "kind", "O") not in "biuf"
    ]
    return f" (non-numeric column(s): {', '.join(names)})" if names else ""


def _explain_non_numeric(message, X, estimator_name):
    return (
        f"{message}. X must be numeric{_non_numeric_columns(X)}: drop or encode the "
        "non-numeric columns first, e.g. DataFrame.select_dtypes('number') or "
        "sklearn.preprocessing.OrdinalEncoder."
    )


def _nan_message(input_name, estimator_name):
    """scikit-learn's own message for a NaN in ``input_name``."""
    try:
        with config_context(assume_finite=False):
            _sklearn_assert_all_finite(
                np.array([np.nan]), input_name=input_name, estimator_name=estimator_name
            )
    except ValueError as exc:
        return str(exc)
    raise AssertionError("unreachable: NaN is not finite")  # pragma: no cover


# scikit-learn's input errors that name the problem but not the fix, and the
# fix to append (or the message to use instead). First match wins.
_INPUT_ADVICE = [
    (
        # pd.NA or pd.NaT in an object column: a missing value, as NaN is.
        re.compile(r"not '(NAType|NaTType)'"),
        lambda message, X, name: _nan_message("X", name),
    ),
    (
        re.compile(r"could not convert|argument must be a string or a"),
        _explain_non_numeric,
    ),
    (
        re.compile(r"^Complex data not supported"),
        lambda message, X, name: (
            "Complex data not supported: X must hold real numbers. Pass np.real(X), "
            "np.abs(X), or the real and imaginary parts as separate columns."
        ),
    ),
    (
        re.compile(r"contains infinity"),
        lambda message, X, name: message + _INFINITY_ADVICE,
    ),
    (
        re.compile(r"Found array with dim \d+"),
        lambda message, X, name: (
            message + " Pass a 2-D array of shape (n_samples, n_features), e.g. "
            "X.reshape(len(X), -1)."
        ),
    ),
    (
        re.compile(r"Found array with 0 sample"),
        lambda message, X, name: message + " X is empty: pass at least one row.",
    ),
    (
        re.compile(r"Found array with 0 feature"),
        lambda message, X, name: (
            message + " X has no columns: pass at least one feature."
        ),
    ),
    (
        re.compile(r"features, but \w+ is expecting \d+ features"),
        lambda message, X, name: (
            message + " Pass the columns seen in fit, in the same order, or refit the "
            "estimator on the new columns."
        ),
    ),
]


def _with_advice(exc, X, estimator_name):
    """``exc`` with the fix appended to its message, or None if it has none."""
    message = str(exc)
    for pattern, explain in _INPUT_ADVICE:
        if pattern.search(message):
            better = explain(message, X, estimator_name)
            # A missing value is a ValueError, whatever numpy raised.
            missing = better.startswith("Input X contains NaN")
            return (ValueError if missing else type(exc))(better)
    return None


def _refuse_masked(X, input_name, estimator_name, advice):
    """A masked array's data if nothing is masked; else a ValueError.

    scikit-learn's ``check_array`` reads the data under the mask, so that the
    hidden values would be fitted. A masked entry is a missing value, as NaN
    is, and gets the same treatment: it is refused, with the ways to fill or
    drop it.
    """
    if not np.ma.getmaskarray(X).any():
        return np.ma.getdata(X)
    n_masked = int(np.ma.count_masked(X))
    raise ValueError(
        f"Input {input_name} contains {n_masked} masked value(s). "
        f"{_estimator_label(estimator_name)} does not read numpy masks (scikit-learn "
        "ignores them, so the hidden values would be fitted): a masked entry is a "
        f"missing value, as NaN is. {advice}"
    )


_X_MASK_ADVICE = (
    "Drop the incomplete rows, X[~np.ma.getmaskarray(X).any(axis=1)], or fill the "
    "masked entries with NaN, X.filled(np.nan), and impute them, e.g. with "
    "sklearn.impute.SimpleImputer."
)


def _refuse_dates(X):
    """Raise for dates and durations: an array of such a dtype, or such columns."""
    dtypes = getattr(X, "dtypes", None)
    if hasattr(dtypes, "items"):
        dated = [
            f"{name!r} ({dtype})"
            for name, dtype in dtypes.items()
            if getattr(dtype, "kind", "O") in _DATE_KINDS
        ]
        if dated:
            raise ValueError(
                f"X has date or duration column(s) {', '.join(dated)}. "
                f"{_DATE_ADVICE}, e.g. durations in seconds with "
                "df[column].dt.total_seconds(), dates in seconds since an origin "
                "with (df[column] - pd.Timestamp('2000-01-01')).dt.total_seconds() "
                "(NaT becomes NaN); or drop the column(s)."
            )
        return
    dtype = getattr(X, "dtype", None)
    if getattr(dtype, "kind", "O") in _DATE_KINDS:
        raise ValueError(
            f"X has dtype {dtype}. {_DATE_ADVICE}, e.g. durations in seconds with "
            "X / np.timedelta64(1, 's'), dates in seconds since an origin with "
            "(X - np.datetime64('2000-01-01')) / np.timedelta64(1, 's') "
            "(NaT becomes NaN)."
        )


def _plain_numbers(X, estimator_name):
    """X, refused if it holds dates or masked values: what check_array would misread."""
    _refuse_dates(X)
    if isinstance(X, np.ma.MaskedArray):
        X = _refuse_masked(X, "X", estimator_name, _X_MASK_ADVICE)
    return X


def _estimator_name(estimator):
    return estimator if isinstance(estimator, str) else type(estimator).__name__


def validate_data(_estimator, /, X="no_validation", y="no_validation", **kwargs):
    """scikit-learn's ``validate_data``, with messages that say how to fix X.

    Same signature and behaviour, except that dates, durations and masked
    entries are refused rather than read as raw numbers (see
    :func:`check_chunk`), that a dask collection is computed first (and is then
    checked as numpy or pandas input), and that some input errors grow a
    sentence on what to do (see ``_INPUT_ADVICE`` and ``docs/errors.md``).
    """
    name = _estimator_name(_estimator)
    if not kwargs.get("skip_check_array", False):
        if is_dask_collection(X):
            # Read whole, as check_array would (scores are one value per row
            # anyway), and checked as numpy and pandas input are.
            X = X.compute()
        X = _plain_numbers(X, name)
    try:
        return _sklearn_validate_data(_estimator, X, y, **kwargs)
    except (TypeError, ValueError) as exc:
        better = _with_advice(exc, X, name)
        if better is None:
            raise
        raise better from None


def check_chunk(X, *, estimator_name=None, ensure_all_finite=True, **check_params):
    """A block of rows of X as a float array, checked as ``check_data`` checks X.

    The part of :func:`check_data` that reads values, on its own: it runs on
    every chunk of a dask collection (on the workers), and through
    :func:`validate_data` on numpy and pandas input, so that both get the same
    errors. Dates, durations and masked entries are refused (scikit-learn
    would read them as raw counts and hidden values); pd.NA and pd.NaT are
    missing values, as NaN is.

    Parameters
    ----------
    X : array-like or pandas DataFrame of shape (n_rows, n_features)
        Rows of the data.
    estimator_name : str, default=None
        Named in the error messages.
    ensure_all_finite : bool, default=True
        Check for NaN and infinity here; False when the caller finds them
        cheaper (skvi's statistics read them off their sums).
    **check_params
        Passed on to scikit-learn's ``check_array`` (e.g. ``ensure_min_samples``).

    Returns
    -------
    ndarray of shape (n_rows, n_features), float64 or float32
    """
    X = _plain_numbers(X, estimator_name)
    try:
        return check_array(
            X,
            dtype=_DTYPES,
            ensure_all_finite=ensure_all_finite,
            estimator=estimator_name,
            input_name="X",
            **check_params,
        )
    except (TypeError, ValueError) as exc:
        better = _with_advice(exc, X, estimator_name)
        if better is None:
            raise
        raise better from None


def check_data(
    estimator,
    X,
    sample_weight=None,
    *,
    reset,
    allow_all_zero=False,
    ensure_all_finite=True,
    ensure_min_samples=1,
):
    """Validate the data of ``fit`` or ``partial_fit``: numpy, pandas or dask.

    One path for all inputs, with scikit-learn's messages and skvi's advice
    (``docs/errors.md``). numpy and pandas input is checked whole here. Of a
    dask collection, what can be known without reading it is checked here
    (its number of dimensions, dtypes, columns and feature names, against
    the estimator's); its values are checked chunk by chunk, by the same
    :func:`check_chunk` and :func:`check_sample_weight`, when
    :func:`skvi._core.dask_passes.dask_reduce` reads it.

    Parameters
    ----------
    estimator : estimator instance
        Whose ``n_features_in_`` and ``feature_names_in_`` are set
        (``reset=True``) or checked.
    X : array-like, pandas DataFrame, dask array or dask DataFrame \
            of shape (n_samples, n_features)
        The data.
    sample_weight : array-like of shape (n_samples,), float or None
        Frequency weights.
    reset : bool
        Whether this call starts a fit (sets the feature attributes).
    allow_all_zero : bool, default=False
        Accept weights that are zero everywhere (a later ``partial_fit``
        chunk); for dask, :func:`skvi._core.dask_passes.dask_reduce` checks this.
    ensure_all_finite : bool, default=True
        Check X for NaN and infinity here (see :func:`check_chunk`).
    ensure_min_samples : int, default=1
        The fewest rows X may have (for dask, :func:`skvi._core.dask_passes.dask_reduce`
        checks it once it has counted them).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), or the dask collection
    sample_weight : ndarray of shape (n_samples,) or None, or as given for dask
    """
    if is_dask_collection(X):
        _check_dask_layout(
            estimator, X, reset=reset, ensure_min_samples=ensure_min_samples
        )
        return X, sample_weight
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=float_dtypes(array_space(X)),
        ensure_all_finite=ensure_all_finite,
        ensure_min_samples=ensure_min_samples,
    )
    sample_weight = check_sample_weight(sample_weight, X, allow_all_zero=allow_all_zero)
    if sample_weight is not None:
        with np.errstate(over="ignore"):
            check_weight_sum(sample_weight.sum())
    return X, sample_weight


def _check_dask_layout(estimator, X, *, reset, ensure_min_samples=1):
    """What ``check_data`` can check of a dask collection without reading it."""
    name = _estimator_name(estimator)
    meta = getattr(X, "_meta", None)
    if getattr(meta, "ndim", None) is None:
        raise TypeError(
            f"{name} accepts a dask array or a dask DataFrame; got "
            f"{type(X).__module__}.{type(X).__name__}."
        )
    library = type(meta).__module__.split(".")[0]
    if library not in ("numpy", "pandas"):
        # A dask array of torch or cupy chunks: skvi's dask path reads numpy.
        raise TypeError(
            f"{name} reads dask arrays of numpy chunks; this one has chunks of "
            f"{type(meta).__module__}.{type(meta).__name__}. Pass the array itself "
            "under sklearn.config_context(array_api_dispatch=True) to compute "
            "where it lives, or turn the chunks into numpy first, e.g. "
            "X.map_blocks(lambda chunk: chunk.cpu().numpy()) for torch, "
            "X.map_blocks(cupy.asnumpy) for cupy."
        )
    # The collection's empty stand-in (its dtypes, columns and number of
    # dimensions) through the same checks as the data: the same errors.
    try:
        check_chunk(
            meta, estimator_name=name, ensure_min_samples=0, ensure_min_features=0
        )
    except ValueError as exc:
        # numpy's 1-D message quotes the data, here the empty stand-in's.
        raise ValueError(str(exc).replace("\narray=[].", "")) from None
    n_samples, n_features = X.shape
    # A dask DataFrame's length, or a dask array's unknown chunks, are not
    # known before reading: dask_reduce then checks the number of rows.
    known_samples = isinstance(n_samples, Integral)
    if n_features == 0 or (known_samples and n_samples < ensure_min_samples):
        # A stand-in of that shape costs nothing and check_array words the error;
        # zeros, since np.empty's leftover memory may hold an inf or a NaN,
        # which would be reported instead.
        rows = n_samples if known_samples else ensure_min_samples
        check_chunk(
            np.zeros((rows, n_features)),
            estimator_name=name,
            ensure_min_samples=ensure_min_samples,
        )
    # scikit-learn reads feature names from eager DataFrames only: the empty
    # pandas stand-in shows a dask DataFrame's columns.
    stand_in = meta if hasattr(meta, "columns") else X
    validate_data(estimator, stand_in, skip_check_array=True, reset=reset)


def check_weight_sum(total):
    """Raise if the total sample weight overflows float64 (beyond about 1.8e308).

    It is the sum of the weights, not the data, that is out of range, and
    the error says so; scoring averages over such weights safely, so only
    fitting calls this.
    """
    if not np.isfinite(total):
        raise ValueError(
            "The sum of sample_weight overflows float64 (it exceeds about 1.8e308), "
            "so the total weight of the data cannot be represented. The weights "
            "are frequency weights, counts of samples: divide them by a common "
            "factor, e.g. sample_weight / sample_weight.max(), keeping in mind "
            "that the posterior's certainty grows with their sum."
        )


def assert_all_finite(X, *, allow_nan=False, estimator_name=None, input_name=""):
    """scikit-learn's ``assert_all_finite``; the infinity error also says what to do."""
    try:
        # skvi calls this only once the sums of X are known not to be finite, so
        # the check runs even under set_config(assume_finite=True): the
        # alternative is a wrong diagnosis further on.
        with config_context(assume_finite=False):
            _sklearn_assert_all_finite(
                X,
                allow_nan=allow_nan,
                estimator_name=estimator_name,
                input_name=input_name,
            )
    except ValueError as exc:
        if "infinity" not in str(exc):
            raise
        raise ValueError(str(exc) + _INFINITY_ADVICE) from None


def check_sample_weight(sample_weight, X, *, allow_all_zero=False):
    """Validate frequency weights: finite, >= 0, not all 0, one per row.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), float or None
        The weights as the user gave them; a scalar is the same for every row.
    X : ndarray of shape (n_samples, n_features)
        The validated data the weights go with.
    allow_all_zero : bool, default=False
        Accept weights that are all zero (a ``partial_fit`` chunk that adds
        nothing); otherwise there would be nothing to fit or average.

    Returns
    -------
    ndarray of shape (n_samples,), float64, or None
        None for ``sample_weight=None``, so that callers can take their
        unit-weight fast path.
    """
    if sample_weight is None:
        return None
    # Weights of another array API library (torch, cupy), whatever X's:
    # checked, and used by skvi's host-side code, as numpy.
    sample_weight = to_numpy(sample_weight)
    n_samples = X.shape[0]
    if isinstance(sample_weight, Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, float(sample_weight))
    dtype = getattr(sample_weight, "dtype", None)
    if getattr(dtype, "kind", "O") in _DATE_KINDS:
        raise ValueError(
            f"sample_weight has dtype {dtype}. {_DATE_ADVICE}, e.g. durations in "
            "seconds with sample_weight / np.timedelta64(1, 's')."
        )
    if isinstance(sample_weight, np.ma.MaskedArray):
        sample_weight = _refuse_masked(
            sample_weight,
            "sample_weight",
            None,
            "Give the masked samples weight 0 to drop them, sample_weight.filled(0), "
            "or fill in their weights.",
        )
    try:
        sample_weight = check_array(
            sample_weight,
            ensure_2d=False,
            ensure_min_samples=0,
            dtype=np.float64,
            order="C",
            input_name="sample_weight",
        )
    except (TypeError, ValueError) as exc:
        if re.search(r"not '(NAType|NaTType)'", str(exc)):
            # pd.NA or pd.NaT in an object array: a missing weight, as NaN is.
            exc = _nan_message("sample_weight", None)
        if "NaN" in str(exc) or "infinity" in str(exc):
            raise ValueError(
                f"{exc} sample_weight must be finite: remove those samples or give "
                "them a finite weight (0 drops a sample)."
            ) from None
        if "convert" in str(exc) or "argument must be" in str(exc):
            raise ValueError(
                f"sample_weight must be numeric: {exc}. Pass numbers, one per row."
            ) from None
        raise
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected "
            f"({n_samples},). Pass one weight per row of X, as a 1-D array of length "
            f"{n_samples}."
        )
    negative = sample_weight < 0
    if negative.any():
        raise ValueError(
            f"sample_weight must be >= 0 (frequency weights); got {negative.sum()} "
            f"negative value(s), the smallest {sample_weight.min():g}. "
            "Use weight 0 to drop a sample."
        )
    if not allow_all_zero and not sample_weight.any():
        raise ValueError(
            "sample_weight is zero for every sample, so there is nothing to fit "
            "or average. Give at least one sample a positive weight."
        )
    return sample_weight
