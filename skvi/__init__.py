"""skvi: scikit-learn-compatible estimators fitted by variational inference."""

# SPDX-License-Identifier: BSD-3-Clause

# The public names are imported on first use (PEP 562), so that the command
# line's --help and --version start without scikit-learn, scipy or pandas.
# ``from skvi import VariationalNormalEstimator`` works as before.

import importlib

from ._version import __version__

__all__ = [
    "VariationalGaussianMixture",
    "VariationalNormalEstimator",
    "VariationalStudentEstimator",
    "__version__",
]

# Public name -> the private module that defines it.
_LAZY = {
    "VariationalGaussianMixture": "._mixture",
    "VariationalNormalEstimator": "._normal",
    "VariationalStudentEstimator": "._student",
}


def __getattr__(name):
    """Import a public name from its module on first use, then keep it."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    """The module's names, the lazy ones included."""
    return sorted(set(globals()) | set(__all__))
