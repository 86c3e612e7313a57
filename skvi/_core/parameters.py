"""The estimators' parameters, and the one door to scikit-learn's private helpers.

Parameters are checked as scikit-learn checks its own (``_parameter_constraints``
read by :func:`validate_params` on every ``fit`` and ``partial_fit``), with
the constraints skvi's estimators share (:data:`FINITE_REAL`,
:data:`POSITIVE_REAL`, :data:`NON_NEGATIVE_REAL`, :data:`POSITIVE_INT`) and
the checks of values that are not scalars (:func:`check_prior`, one finite
value per feature; :func:`check_probability`, a credible level).

This is the one module that imports scikit-learn's private helpers
(``sklearn.utils._param_validation``, ``sklearn.utils._openmp_helpers``,
``sklearn.utils._array_api``, ``sklearn.externals``), so that a change in
scikit-learn is mended in one place: the other modules import them from here
(``Interval``, ``InvalidParameterError``, ``StrOptions``,
``effective_n_threads``, and the array API helpers that
:mod:`skvi._core.namespaces` wraps). ``tests/test_architecture.py`` checks it.
"""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from sklearn import get_config
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

__all__ = [
    "FINITE_REAL",
    "POSITIVE_INT",
    "POSITIVE_REAL",
    "NON_NEGATIVE_REAL",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "check_prior",
    "check_probability",
    "effective_n_threads",
    "validate_params",
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


def validate_params(estimator):
    """Check an estimator's parameters against its ``_parameter_constraints``.

    Runs on every ``fit`` and ``partial_fit`` call (it is cheap, and a
    ``set_params`` between chunks must not slip through), unless the user
    turned validation off with ``sklearn.set_config(skip_parameter_validation=True)``.

    skvi calls this rather than wrapping its methods in scikit-learn's
    ``_fit_context`` decorator, which validates only the first ``partial_fit``
    of a fitted estimator (so a bad ``set_params`` between chunks would slip
    through) and is private besides; the other half of ``_fit_context``,
    skipping the validation of nested scikit-learn estimators, matters little
    here (the mixture's one KMeans per initialisation).
    """
    if not get_config()["skip_parameter_validation"]:
        estimator._validate_params()


def effective_n_threads():
    """The OpenMP threads scikit-learn's own loops would use.

    The cores available to the process (cgroups, ``OMP_NUM_THREADS``), within
    ``threadpoolctl.threadpool_limits``: scikit-learn's private
    ``_openmp_effective_n_threads``, read here only (module docstring).
    """
    return _openmp_effective_n_threads()


_ARRAY_API_HELPERS = (
    "get_namespace_and_device",
    "_convert_to_numpy",
    "_is_numpy_namespace",
    "_max_precision_float_dtype",
)


def _array_api_helper(name):
    """scikit-learn's helper ``name`` (sklearn.utils._array_api), else a clear error."""
    from sklearn.utils import _array_api

    helper = getattr(_array_api, name, None)
    if helper is None:  # pragma: no cover - scikit-learn >= 1.6 has them all
        import sklearn

        raise ImportError(
            f"skvi's array API support needs sklearn.utils._array_api.{name}, "
            f"which scikit-learn {sklearn.__version__} does not have. Upgrade "
            "scikit-learn, or turn array_api_dispatch off to fit on numpy."
        )
    return helper


def _array_api_compat():
    """array-api-compat: scikit-learn's vendored copy, else the package, else None.

    scikit-learn vendors it from 1.7 on; 1.6 needs the package for its array
    API dispatch, and without it no array can be dispatched anyway.
    """
    try:
        from sklearn.externals import array_api_compat
    except ImportError:
        try:
            import array_api_compat
        except ImportError:
            return None
    return array_api_compat
