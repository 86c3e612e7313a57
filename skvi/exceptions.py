"""Warnings raised by skvi's estimators."""

# SPDX-License-Identifier: BSD-3-Clause

from sklearn.exceptions import ConvergenceWarning
from sklearn.exceptions import (
    InconsistentVersionWarning as _SklearnInconsistentVersionWarning,
)

__all__ = ["ConvergenceWarning", "ELBODecreaseWarning", "InconsistentVersionWarning"]


class ELBODecreaseWarning(RuntimeWarning):
    """The ELBO decreased between two CAVI iterations.

    Coordinate ascent can only increase the evidence lower bound, so a
    decrease larger than floating-point noise means a bug or a numerical
    breakdown (values near the limits of float64). The fit still completes;
    please report the data and priors that trigger it.
    """


class InconsistentVersionWarning(_SklearnInconsistentVersionWarning):
    """An estimator is loaded with a different skvi version than it was saved with.

    A subclass of scikit-learn's own ``InconsistentVersionWarning``, so that a
    filter for that warning catches skvi's too.

    Parameters
    ----------
    estimator_name : str
        Name of the estimator class.

    current_skvi_version : str
        The skvi version that is loading the estimator.

    original_skvi_version : str
        The skvi version that saved the estimator.
    """

    def __init__(self, *, estimator_name, current_skvi_version, original_skvi_version):
        super().__init__(
            estimator_name=estimator_name,
            current_sklearn_version=current_skvi_version,
            original_sklearn_version=original_skvi_version,
        )
        self.current_skvi_version = current_skvi_version
        self.original_skvi_version = original_skvi_version

    def __str__(self):
        return (
            f"Trying to unpickle estimator {self.estimator_name} from skvi version "
            f"{self.original_skvi_version} when using version "
            f"{self.current_skvi_version}. This might lead to breaking code or "
            "invalid results. Use at your own risk. Refit the estimator with the "
            "installed version to be safe."
        )
