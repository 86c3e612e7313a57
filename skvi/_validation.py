"""Input validation shared by skvi's estimators.

This is the one module that imports scikit-learn's private helpers, so that a
change in scikit-learn is mended in one place.
"""

# SPDX-License-Identifier: BSD-3-Clause

import re
from numbers import Integral, Real

import numpy as np
from sklearn import config_context, get_config
from sklearn.utils import assert_all_finite as _sklearn_assert_all_finite
from sklearn.utils._param_validation import Interval, InvalidParameterError
from sklearn.utils.validation import check_array
from sklearn.utils.validation import validate_data as _sklearn_validate_data

__all__ = [
    "FINITE_REAL",
    "POSITIVE_INT",
    "POSITIVE_REAL",
    "NON_NEGATIVE_REAL",
    "assert_all_finite",
    "check_prior",
    "check_probability",
    "check_sample_weight",
    "is_dask_collection",
    "validate_data",
    "validate_params",
]

FINITE_REAL = Interval(Real, None, None, closed="neither")
POSITIVE_REAL = Interval(Real, 0, None, closed="neither")
NON_NEGATIVE_REAL = Interval(Real, 0, None, closed="left")
POSITIVE_INT = Interval(Integral, 1, None, closed="left")

_INFINITY_ADVICE = (
    " Drop or replace the infinite values first, e.g. keep the rows "
    "np.isfinite(X).all(axis=1)."
)


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


def _explain_non_numeric(message, X):
    return (
        f"{message}. X must be numeric{_non_numeric_columns(X)}: drop or encode the "
        "non-numeric columns first, e.g. DataFrame.select_dtypes('number') or "
        "sklearn.preprocessing.OrdinalEncoder."
    )


# scikit-learn's input errors that name the problem but not the fix, and the
# fix to append (or the message to use instead).
_INPUT_ADVICE = [
    (
        re.compile(r"could not convert|argument must be a string or a"),
        _explain_non_numeric,
    ),
    (
        re.compile(r"^Complex data not supported"),
        lambda message, X: (
            "Complex data not supported: X must hold real numbers. Pass np.real(X), "
            "np.abs(X), or the real and imaginary parts as separate columns."
        ),
    ),
    (re.compile(r"contains infinity"), lambda message, X: message + _INFINITY_ADVICE),
    (
        re.compile(r"Found array with dim \d+"),
        lambda message, X: (
            message + " Pass a 2-D array of shape (n_samples, n_features), e.g. "
            "X.reshape(len(X), -1)."
        ),
    ),
    (
        re.compile(r"Found array with 0 sample"),
        lambda message, X: message + " X is empty: pass at least one row.",
    ),
    (
        re.compile(r"Found array with 0 feature"),
        lambda message, X: message + " X has no columns: pass at least one feature.",
    ),
    (
        re.compile(r"features, but \w+ is expecting \d+ features"),
        lambda message, X: (
            message + " Pass the columns seen in fit, in the same order, or refit the "
            "estimator on the new columns."
        ),
    ),
]


def _with_advice(exc, X):
    """``exc`` with the fix appended to its message, or None if it has none."""
    message = str(exc)
    for pattern, explain in _INPUT_ADVICE:
        if pattern.search(message):
            return type(exc)(explain(message, X))
    return None


def validate_data(_estimator, /, X="no_validation", y="no_validation", **kwargs):
    """scikit-learn's ``validate_data``, with messages that say how to fix X.

    Same signature and behaviour; only the text of some input errors grows a
    sentence on what to do (see ``_INPUT_ADVICE`` and ``docs/errors.md``).
    """
    try:
        return _sklearn_validate_data(_estimator, X, y, **kwargs)
    except (TypeError, ValueError) as exc:
        better = _with_advice(exc, X)
        if better is None:
            raise
        raise better from None


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


def check_prior(value, name, n_features, *, positive):
    """Broadcast a prior hyperparameter to one finite float64 per feature.

    Parameters
    ----------
    value : float or array-like of shape (n_features,)
        The hyperparameter as the user gave it.
    name : str
        Its parameter name, for the error message.
    n_features : int
        Number of features of the data being fitted.
    positive : bool
        Whether every entry must be > 0.

    Returns
    -------
    ndarray of shape (n_features,), float64

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        (a subclass of ValueError and TypeError, as for scalar parameters) if
        ``value`` is not numeric, has another shape, or has an entry that is
        NaN, infinite or (when ``positive``) not > 0.
    """
    try:
        # A copy: the fitted priors must not change when the user's array does.
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"The '{name}' parameter must be a real number or an array of real "
            f"numbers of shape (n_features,); got {value!r}."
        ) from None
    if array.ndim == 0:
        array = np.full(n_features, float(array))
    elif array.shape != (n_features,):
        raise InvalidParameterError(
            f"The '{name}' parameter must be a scalar or an array of shape "
            f"(n_features,) = ({n_features},); got an array of shape {array.shape}. "
            "Pass one value per feature, in the order of the columns of X."
        )
    if not np.all(np.isfinite(array)):
        raise InvalidParameterError(
            f"The '{name}' parameter must be finite; got {value!r}. "
            "Replace NaN and infinite entries with finite values."
        )
    if positive and not np.all(array > 0):
        raise InvalidParameterError(
            f"The '{name}' parameter must be > 0 for every feature; got {value!r}. "
            "It is a scale, shape or rate of a prior: use a small positive value "
            "for a vague prior."
        )
    return array


def check_probability(level, name="level"):
    """Check that ``level`` is a real number strictly between 0 and 1."""
    if (
        isinstance(level, bool)
        or not isinstance(level, Real)
        or not 0.0 < float(level) < 1.0
    ):
        raise ValueError(
            f"{name} must be a number strictly between 0 and 1, such as 0.95; "
            f"got {level!r}."
        )
    return float(level)


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
    n_samples = X.shape[0]
    if isinstance(sample_weight, Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, float(sample_weight))
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


def validate_params(estimator):
    """Check an estimator's parameters against its ``_parameter_constraints``.

    Runs on every ``fit`` and ``partial_fit`` call (it is cheap, and a
    ``set_params`` between chunks must not slip through), unless the user
    turned validation off with ``sklearn.set_config(skip_parameter_validation=True)``.
    """
    if not get_config()["skip_parameter_validation"]:
        estimator._validate_params()


def is_dask_collection(X):
    """Whether X is a dask collection, without importing dask."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "__dask_graph__")
