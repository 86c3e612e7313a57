"""The Student-t model: VariationalStudentEstimator, a robust mean.

Its rooms: ``estimator`` (the class and its fit), ``updates`` (the typed data
and states, the CAVI sweep, nu, SQUAREM and the ELBO, with their maths),
``svi`` (partial_fit's stochastic VI steps) and ``posterior`` (what a fitted
posterior answers: expected weights, draws, intervals, the log joint). It
imports the shared core only.
"""

from .estimator import VariationalStudentEstimator

__all__ = ["VariationalStudentEstimator"]
