"""Input validation shared by skvi's estimators.

This is the one module that imports scikit-learn's private helpers, so that a
change in scikit-learn is mended in one place.
"""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from sklearn.utils import assert_all_finite
from sklearn.utils._param_validation import Interval, InvalidParameterError
from sklearn.utils.validation import _check_sample_weight

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
]

FINITE_REAL = Interval(Real, None, None, closed="neither")
POSITIVE_REAL = Interval(Real, 0, None, closed="neither")
NON_NEGATIVE_REAL = Interval(Real, 0, None, closed="left")
POSITIVE_INT = Interval(Integral, 1, None, closed="left")


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
        array = np.asarray(value, dtype=np.float64)
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


def check_sample_weight(sample_weight, X):
    """Validate frequency weights: finite, >= 0, not all 0, one per row.

    Returns None for ``sample_weight=None`` so that callers can take their
    unit-weight fast path, else a float64 array of shape (n_samples,).
    """
    if sample_weight is None:
        return None
    try:
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, allow_all_zero_weights=True
        )
    except ValueError as exc:
        if "NaN" in str(exc) or "infinity" in str(exc):
            raise ValueError(
                f"{exc} sample_weight must be finite: remove those samples or give "
                "them a finite weight (0 drops a sample)."
            ) from None
        raise
    negative = sample_weight < 0
    if negative.any():
        raise ValueError(
            f"sample_weight must be >= 0 (frequency weights); got {negative.sum()} "
            f"negative value(s), the smallest {sample_weight.min():g}. "
            "Use weight 0 to drop a sample."
        )
    if not sample_weight.any():
        raise ValueError(
            "sample_weight is zero for every sample, so there is nothing to fit. "
            "Give at least one sample a positive weight."
        )
    return sample_weight


def is_dask_collection(X):
    """Whether X is a dask collection, without importing dask."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "__dask_graph__")
