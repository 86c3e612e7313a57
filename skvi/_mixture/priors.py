"""The mixture's priors: their checks, defaults and resolution from the data.

scikit-learn's BayesianGaussianMixture's priors, resolved once per fit from
the first read of X (its weighted mean and scatter) into the ``model`` that
the pure functions of the steps take:

- ``weight_concentration_prior`` alpha0 (default 1 / K), of a Dirichlet
  distribution or the stick-breaking Beta(1, alpha0) (skvi._mixture.weights);
- ``mean_precision_prior`` beta0 (default 1) and ``mean_prior`` m0 (default
  the data's mean) of q(mu_k | Lambda_k) = Normal(m0, (beta0 Lambda_k)^-1);
- ``degrees_of_freedom_prior`` nu0 > d - 1 (default d) and
  ``covariance_prior`` W0^-1 of the Wishart (default the data's covariance,
  ddof=1, its diagonal or the mean of that by covariance type; regularised
  by ``reg_covar`` as the components are where it is singular, so that the
  prior stays proper).

The checks raise scikit-learn's InvalidParameterError with its messages.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006, §10.2.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np

from .._core.component_stats import sufficient_statistics
from .._core.parameters import InvalidParameterError
from .covariance import COVARIANCE_TYPES
from .state import MixtureModel
from .weights import WEIGHT_PRIORS


def _is_singular(covariance, mean):
    """Whether an empirical covariance is singular, judged scale-free.

    A feature is constant when its variance is within rounding of zero
    relative to its mean; otherwise the correlation matrix
    ``D^-1/2 C D^-1/2`` (features of any scales, 1e6 against 1e-6, weigh
    alike) is singular when its smallest eigenvalue is below 1e-12.
    """
    variances = np.diagonal(covariance)
    if np.any(variances <= (4.0 * np.finfo(np.float64).eps * np.abs(mean)) ** 2):
        return True
    if not np.any(covariance - np.diag(variances)):
        return False  # diagonal, with no constant feature
    spread = np.sqrt(variances)
    correlation = covariance / spread[:, None] / spread[None, :]
    return bool(np.linalg.eigvalsh(correlation)[0] <= 1e-12)


def _chunk_moments(rows, weights, *, scatter):
    """``(n_rows, statistics)`` of one dask chunk, for the data-dependent priors."""
    return rows.shape[0], sufficient_statistics(rows, weights, scatter=scatter)


class _MixturePriors:
    """VariationalGaussianMixture's priors: checked, defaulted, resolved.

    A mixin of the estimator: it reads the estimator's parameters.
    """

    def _model(self, moments):
        """The resolved priors and settings, as the pure functions take them."""
        weight = float(moments.weight[0])
        data_mean = moments.mean[0]
        d = data_mean.shape[0]
        covariance = COVARIANCE_TYPES[self.covariance_type]
        mean_prior = (
            data_mean
            if self.mean_prior is None
            else self._check_vector(self.mean_prior, "mean_prior", d)
        )
        dof_prior = self._check_dof_prior(d)
        if self.covariance_prior is None:
            covariance_prior = self._empirical_covariance_prior(moments, weight)
        else:
            covariance_prior = self._check_covariance_prior(d)
        prior_inverse_scale_matrix = covariance.prior_matrix(covariance_prior, d)
        scatter = moments.scatter[0]
        self._warn_if_reg_covar_dominates(
            (np.diagonal(scatter) if scatter.ndim == 2 else scatter) / weight
        )
        # The records of the covariance type and weight prior, chosen once.
        return MixtureModel(
            covariance=covariance,
            weight_prior=WEIGHT_PRIORS[self.weight_concentration_prior_type],
            n_components=self.n_components,
            weight_concentration_prior=float(
                1.0 / self.n_components
                if self.weight_concentration_prior is None
                else self.weight_concentration_prior
            ),
            mean_precision_prior=float(
                1.0 if self.mean_precision_prior is None else self.mean_precision_prior
            ),
            mean_prior=mean_prior,
            degrees_of_freedom_prior=dof_prior,
            covariance_prior=covariance_prior,
            prior_inverse_scale=covariance_prior,
            prior_scale=np.linalg.inv(prior_inverse_scale_matrix),
            reg_covar=float(self.reg_covar),
            # The E-step's statistics and expansions are taken about this point.
            centre=data_mean,
            total_weight=weight,
        )

    def _warn_if_reg_covar_dominates(self, variances):
        """Warn when reg_covar is at least the smallest variance of a feature.

        The M-step adds ``reg_covar`` to every component's covariance: on
        data whose spread is of its order (variances of 1e-6 or less at the
        default 1e-6) it widens each component past the gaps between them,
        and clusters merge. scikit-learn says nothing; skvi warns.
        """
        spread = variances[variances > 0]
        if self.reg_covar > 0 and spread.size and self.reg_covar >= spread.min():
            with np.errstate(over="ignore"):
                ratio = self.reg_covar / spread.min()
            times = f"{ratio:.3g} times" if np.isfinite(ratio) else "over 1e308 times"
            warnings.warn(
                f"reg_covar={self.reg_covar:g} is {times} "
                f"the smallest variance of a feature of X ({spread.min():.3g}): "
                "it dominates the components' covariances and can merge clusters. "
                "Standardise X (e.g. sklearn.preprocessing.StandardScaler) or "
                "lower reg_covar.",
                UserWarning,
                stacklevel=5,
            )

    def _empirical_covariance_prior(self, moments, weight):
        """Weighted empirical covariance (ddof=1), its diagonal, or the mean of it."""
        if weight <= 1.0:
            raise ValueError(
                f"The total sample weight is {weight:g} <= 1, too little for the "
                "default covariance_prior (the empirical covariance, ddof=1). "
                "sample_weight are frequency weights (counts), not probabilities: "
                "scale them to the number of observations, or set covariance_prior."
            )
        scatter = moments.scatter[0] / (weight - 1.0)
        family = COVARIANCE_TYPES[self.covariance_type]
        covariance = family.from_empirical(scatter)
        # A singular empirical covariance (fewer samples than features, a
        # constant or collinear feature) would make the prior improper:
        # regularise it as the components are.
        matrix = family.prior_matrix(covariance, scatter.shape[-1])
        if _is_singular(matrix, moments.mean[0]):
            if self.reg_covar == 0:
                raise ValueError(
                    "The empirical covariance of X is singular (fewer samples "
                    "than features, or a constant or collinear feature), so it "
                    "cannot be the default covariance_prior with reg_covar=0. "
                    "Set reg_covar > 0 or pass covariance_prior."
                )
            covariance = family.regularised(covariance, self.reg_covar, matrix.shape[0])
        return covariance

    def _check_priors(self, d):
        """Check the given priors against d features (InvalidParameterError)."""
        if self.mean_prior is not None:
            self._check_vector(self.mean_prior, "mean_prior", d)
        self._check_dof_prior(d)
        if self.covariance_prior is not None:
            self._check_covariance_prior(d)

    def _check_dof_prior(self, d):
        if self.degrees_of_freedom_prior is None:
            return float(d)
        if self.degrees_of_freedom_prior > d - 1.0:
            return float(self.degrees_of_freedom_prior)
        raise InvalidParameterError(
            "The parameter 'degrees_of_freedom_prior' should be greater than "
            f"{d - 1}, but got {self.degrees_of_freedom_prior:.3f}."
        )

    @staticmethod
    def _check_vector(value, name, d):
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.full(1, np.nan)
        if array.shape != (d,) or not np.all(np.isfinite(array)):
            raise InvalidParameterError(
                f"The parameter '{name}' should have the shape ({d},) = "
                f"(n_features,) and finite values, but got {value!r}."
            )
        return array

    def _check_covariance_prior(self, d):
        value = self.covariance_prior
        covariance_type = self.covariance_type
        family = COVARIANCE_TYPES[covariance_type]
        expected = family.prior_shape(d)
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.full(1, np.nan)
        if array.shape != expected:
            raise InvalidParameterError(
                f"The parameter '{covariance_type} covariance_prior' should have "
                f"the shape {expected}, but got {array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise InvalidParameterError(
                f"The parameter '{covariance_type} covariance_prior' should hold "
                f"finite numbers, but got {value!r}."
            )
        matrix = family.prior_matrix(array, d)
        if not (np.allclose(matrix, matrix.T) and np.linalg.eigvalsh(matrix)[0] > 0.0):
            raise InvalidParameterError(
                f"'{covariance_type} covariance_prior' should be symmetric, "
                "positive-definite."
            )
        return array if array.ndim else float(array)
