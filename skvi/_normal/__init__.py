"""The Normal model: VariationalNormalEstimator, diagonal and full covariance."""

from .estimator import VariationalNormalEstimator

__all__ = ["VariationalNormalEstimator"]
