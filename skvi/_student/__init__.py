"""The Student-t model: VariationalStudentEstimator."""

from .estimator import VariationalStudentEstimator

__all__ = ["VariationalStudentEstimator"]
