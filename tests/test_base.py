"""The loop's contract: abstract hooks, declared options, a toy model through it."""

from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.base import BaseEstimator, DensityMixin, clone

from skvi import (
    VariationalGaussianMixture,
    VariationalNormalEstimator,
    VariationalStudentEstimator,
)
from skvi._core.base import VariationalEstimator
from skvi._core.validation import validate_data

HOOKS = {
    "_fit_data",
    "_initial_state",
    "_sweep",
    "_elbo",
    "_convergence_threshold",
    "_set_fitted",
    "_sample_scorer",
}


@dataclass(frozen=True)
class _State:
    """The toy's variational parameter: a point estimate of the mean."""

    mean: float


class _ToyMean(VariationalEstimator, DensityMixin, BaseEstimator):
    """A toy 'model': the mean of X's first column by halving steps.

    Its ELBO, ``-(m - xbar)**2``, rises at every sweep and converges to 0.
    """

    _parameter_constraints = {
        "max_iter": "no_validation",
        "tol": "no_validation",
        "verbose": "no_validation",
    }

    def __init__(self, max_iter=100, tol=1e-12, verbose=0):
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose

    def _fit_data(self, X, sample_weight, *, reset):
        return float(np.mean(validate_data(self, X, reset=reset)[:, 0]))

    def _initial_state(self, data, random_state):
        return _State(mean=0.0)

    def _sweep(self, data, state):
        return _State(mean=0.5 * (state.mean + data))

    def _elbo(self, data, state):
        return -((state.mean - data) ** 2)

    def _convergence_threshold(self, data):
        return self.tol

    def _set_fitted(self, data, state):
        self.mean_ = state.mean

    def _sample_scorer(self):
        return lambda rows: np.zeros(len(rows))


def test_every_model_implements_every_hook():
    assert VariationalEstimator.__abstractmethods__ == HOOKS
    for model in (
        VariationalNormalEstimator,
        VariationalGaussianMixture,
        VariationalStudentEstimator,
    ):
        assert not model.__abstractmethods__
        model()


@pytest.mark.parametrize("missing", sorted(HOOKS))
def test_a_model_missing_a_hook_fails_at_instantiation(missing):
    namespace = {
        name: value for name, value in vars(_ToyMean).items() if name != missing
    }
    incomplete = type("Incomplete", _ToyMean.__bases__, namespace)
    with pytest.raises(TypeError, match=missing):
        incomplete()


def test_a_toy_model_runs_through_the_loop():
    X = np.array([[1.0], [3.0]])
    toy = _ToyMean().fit(X)
    assert toy.converged_ and toy.n_iter_ > 1
    assert toy.mean_ == pytest.approx(2.0, abs=1e-5)
    assert np.all(np.diff(toy.elbo_history_) >= 0)
    # The loop's options the toy does not take: the declared defaults.
    assert (toy.n_init, toy.warm_start, toy.random_state, toy.verbose_interval) == (
        1,
        False,
        None,
        1,
    )


def test_declared_options_are_not_parameters():
    toy = _ToyMean(max_iter=7)
    assert toy.get_params() == {"max_iter": 7, "tol": 1e-12, "verbose": 0}
    assert clone(toy).get_params() == toy.get_params()
    assert "n_init" not in repr(_ToyMean(max_iter=7))
    # A model that takes an option as a parameter reads its own value.
    mixture = VariationalGaussianMixture(n_init=3, warm_start=True, random_state=0)
    assert (mixture.n_init, mixture.warm_start, mixture.random_state) == (3, True, 0)
    assert clone(mixture).get_params()["n_init"] == 3
    assert "n_init" not in VariationalNormalEstimator().get_params()
