"""skvi: scikit-learn-compatible estimators fitted by variational inference."""

# SPDX-License-Identifier: BSD-3-Clause

from ._mixture import VariationalGaussianMixture
from ._normal import VariationalNormalEstimator
from ._version import __version__

__all__ = ["VariationalGaussianMixture", "VariationalNormalEstimator", "__version__"]
