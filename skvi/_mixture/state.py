"""The mixture's fit as typed records: the data a fit reads, the state it updates.

The shared CAVI loop (skvi._core.base) passes these between the mixture's
hooks without looking inside:

- :class:`MixtureData`, what ``_fit_data`` read: X where it lives (numpy,
  a dask collection, or another array library's array on its device), the
  frequency weights, and the :class:`MixtureModel`: the resolved priors and
  settings (skvi._mixture.priors), with the covariance type's record
  (skvi._mixture.covariance) and the weight prior's (skvi._mixture.weights)
  chosen once;
- :class:`MixtureState`, one point of the iteration: q(theta)'s parameters
  after an M-step, the E-step on them (the responsibility-weighted
  statistics, ``sum_i w_i log sum_k rho_ik`` and ``sum_i w_i sum_k r_ik log
  r_ik``), and scikit-learn's lower bounds so far, which its stopping rule
  reads. Each sweep makes a new state; none is changed in place, so that the
  loop can keep the best initialisation's.
"""

# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np

from .._core.namespaces import to_namespace, to_numpy
from .covariance import COVARIANCE_TYPES, CovarianceType
from .weights import WEIGHT_PRIORS, WeightPrior


@dataclass(frozen=True)
class MixtureModel:
    """The resolved priors and settings of a fit, as the steps' functions take them.

    Resolved once per fit from the estimator's parameters and the first read
    of X (skvi._mixture.priors), and kept with the fitted q: predictions
    follow the fit, whatever ``set_params`` has changed since. The estimator
    keeps it as a plain dict (:meth:`persisted`, the records by name), so
    that a pickle or skops file holds no type of this module.

    Attributes
    ----------
    covariance : CovarianceType
        The covariance type's record (skvi._mixture.covariance).
    weight_prior : WeightPrior
        The weight prior's record (skvi._mixture.weights).
    n_components : int
        K.
    weight_concentration_prior : float
        alpha0.
    mean_precision_prior : float
        beta0.
    mean_prior : ndarray of shape (n_features,)
        m0.
    degrees_of_freedom_prior : float
        nu0.
    covariance_prior : float or ndarray
        W0^-1 in the covariance type's shape (scikit-learn's
        ``covariance_prior_``).
    prior_inverse_scale : float or ndarray
        The same, as the M-step and the KL take it.
    prior_scale : ndarray of shape (n_features, n_features)
        W0 as a matrix.
    reg_covar : float
        scikit-learn's regulariser of the covariances.
    centre : ndarray of shape (n_features,)
        The data's weighted mean, about which the E-step's statistics and
        expansions are taken.
    total_weight : float
        The training data's total weight W.
    """

    covariance: CovarianceType
    weight_prior: WeightPrior
    n_components: int
    weight_concentration_prior: float
    mean_precision_prior: float
    mean_prior: np.ndarray
    degrees_of_freedom_prior: float
    covariance_prior: Any
    prior_inverse_scale: Any
    prior_scale: np.ndarray
    reg_covar: float
    centre: np.ndarray
    total_weight: float

    @property
    def covariance_type(self):
        return self.covariance.name

    @property
    def weight_prior_type(self):
        return self.weight_prior.name

    def persisted(self):
        """A plain dict of this model: the records by name."""
        values = {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if field.name not in ("covariance", "weight_prior")
        }
        return {
            "covariance_type": self.covariance_type,
            "weight_prior_type": self.weight_prior_type,
            **values,
        }

    @classmethod
    def from_persisted(cls, values):
        """The model of :meth:`persisted`'s dict (other keys ignored)."""
        names = {field.name for field in fields(cls)}
        return cls(
            covariance=COVARIANCE_TYPES[values["covariance_type"]],
            weight_prior=WEIGHT_PRIORS[values["weight_prior_type"]],
            **{key: value for key, value in values.items() if key in names},
        )


@dataclass(frozen=True)
class MixtureParameters:
    """q(theta) in scikit-learn's form, and what the steps derive from it once.

    Attributes
    ----------
    weight_concentration : ndarray or tuple of ndarray
        q(pi)'s alpha (Dirichlet) or q(v)'s Beta pairs ``(a, b)`` (sticks).
    mean_precision : ndarray of shape (n_components,)
        beta_k.
    means : ndarray of shape (n_components, n_features)
        m_k.
    degrees_of_freedom : ndarray of shape (n_components,) or float
        nu_k (one nu for tied).
    covariances : ndarray
        ``W_k^-1 / nu_k`` in the covariance type's shape (scikit-learn's).
    precisions_cholesky : ndarray
        Their precisions' factors U_k, ``U_k U_k^T = nu_k W_k``.
    log_det_scale, expected_log_det : ndarray of shape (n_components,)
        log|W_k| and E[log|Lambda_k|] (skvi._mixture.mstep's ``_complete``).
    log_rho_offset : ndarray of shape (n_components,)
        The E-step's constant per component, ``-2 (E[log pi_k] + 1/2
        E[log|Lambda_k|] - d/2 log 2 pi - d / (2 beta_k))``.
    scale : ndarray of shape (n_components, n_features, n_features) or None
        W_k as matrices, only where SVI, sampling and the diagnostics ask
        (the fitted q read back).
    """

    weight_concentration: Any
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: Any
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    log_det_scale: np.ndarray = None
    expected_log_det: np.ndarray = None
    log_rho_offset: np.ndarray = None
    scale: np.ndarray = None


@dataclass(frozen=True)
class MixtureData:
    """The data of a fit: X where it lives, its weights and the model.

    Attributes
    ----------
    X : ndarray or None
        Numpy X (float64 as validated), or None when X is elsewhere.
    sample_weight : ndarray or None
        Frequency weights, on the host (numpy, or dask's for dask X).
    model : MixtureModel
        The resolved priors and settings, as the pure functions take them.
    n_samples : int or None
        Rows of X (None for a partial_fit chunk, which does not need it).
    dask : dask collection or None
        X as a dask array or DataFrame, read chunk by chunk on the workers.
    array : array or None
        X as another array library's array (array API dispatch).
    space : ArraySpace or None
        That array's namespace and device (skvi._core.validation).
    device_weight : array or None
        The weights copied to X's device in X's dtype, once a fit.
    """

    X: Any
    sample_weight: Any
    model: MixtureModel = None
    n_samples: int = None
    dask: Any = None
    array: Any = None
    space: Any = None
    device_weight: Any = None

    @classmethod
    def on_device(cls, X, sample_weight, space, **fields):
        """The data of a fit on another array library's X: X and its weights there.

        The weights are checked on the host (numpy) and copied to X's device
        in X's dtype, once a fit.
        """
        return cls(
            X=None,
            array=X,
            space=space,
            sample_weight=sample_weight,
            device_weight=None
            if sample_weight is None
            else to_namespace(sample_weight, space, dtype=space.compute_dtype(X.dtype)),
            **fields,
        )

    def on_host(self):
        """This data with X as numpy: a host copy of a device X, made once a call.

        The initialisations (k-means, k-means++, random rows) are
        scikit-learn's numpy code (skvi._mixture.init).
        """
        if self.array is None:
            return self
        return replace(self, X=to_numpy(self.array, self.space))


class EStep(NamedTuple):
    """The E-step on q(theta), reduced to what the M-step and the ELBO need.

    Attributes
    ----------
    statistics : SufficientStatistics
        The responsibility-weighted statistics of X (skvi._mixture.estep).
    log_norm : float
        ``sum_i w_i log sum_k rho_ik``.
    neg_entropy : float
        ``sum_i w_i sum_k r_ik log r_ik``.
    """

    statistics: Any
    log_norm: float
    neg_entropy: float


@dataclass(frozen=True)
class MixtureState:
    """One state of the CAVI iteration (scikit-learn's order: M-step, E-step).

    Attributes
    ----------
    params : MixtureParameters
        q(theta) after the M-step (skvi._mixture.mstep).
    local : EStep
        The E-step on ``params``.
    lower_bounds : tuple of float
        scikit-learn's lower bound after each M-step of this fit.
    start_bound : float
        The bound a first change is measured from: -inf, or a warm start's
        last ``lower_bound_``.
    """

    params: MixtureParameters
    local: EStep
    lower_bounds: tuple = ()
    start_bound: float = float("-inf")
