"""The Gaussian mixture: VariationalGaussianMixture."""

from .estimator import VariationalGaussianMixture

__all__ = ["VariationalGaussianMixture"]
