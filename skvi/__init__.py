"""skvi: scikit-learn-compatible estimators fitted by variational inference."""

# SPDX-License-Identifier: BSD-3-Clause

from ._normal import VariationalNormalEstimator
from ._version import __version__

__all__ = ["VariationalNormalEstimator", "__version__"]
