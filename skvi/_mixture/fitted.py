"""The fitted mixture: stored, read back, continued, and its per-row values.

``_store`` sets q(theta) and the resolved priors as scikit-learn's fitted
attributes (``weights_``, ``means_``, ``covariances_``, ``precisions_``,
``precisions_cholesky_``, ...), keeping the settings that shaped q with it;
``_current`` reads them back as the pure functions take them (on the host,
whatever library the fit's X came from, with the covariance type's record);
``_check_continuation`` refuses a warm start or partial_fit whose shape
the parameters have changed since. Each row's
``log rho_ik`` (Bishop 10.46, skvi._mixture.estep) then gives

- ``predict``: ``argmax_k rho_ik``;
- ``predict_proba``: ``r_ik = rho_ik / sum_j rho_ij`` (10.49);
- ``score_samples``: the row's share of the ELBO, ``log sum_k rho_ik -
  KL(q(theta) || p(theta)) / W``, W the training weight, so that the
  weighted scores of the training rows sum to ``elbo_``.

The same pure functions of rows serve numpy X (in row blocks of the engine,
skvi._core.engine) and each chunk of a dask collection, lazily on its worker
(``VariationalEstimator._map_rows``); on another array library's X they run
on its device (skvi._mixture.device).

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006, §10.2.
"""

# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import replace
from functools import partial

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._core import engine
from . import device
from .bound import _kl_to_prior
from .covariance import (
    _mahalanobis_terms,
    _wishart_scale,
)
from .estep import _log_normalise, _log_rho, _width
from .mstep import _complete
from .state import MixtureModel, MixtureParameters


def _map_log_rho(X, *, params, model, function):
    """``function(log_rho)`` over row blocks of X (Bishop 10.46), concatenated."""
    K, d = params.means.shape
    width = _width(K, d, model.covariance)
    block_rows, _ = engine.plan(X.shape[0], width)
    terms = _mahalanobis_terms(params.means - model.centre, params, model)
    parts = engine.map_blocks(
        lambda rows: function(*_log_rho(X[rows], params, model, terms)),
        X.shape[0],
        block_rows,
        row_elements=width,
    )
    return np.concatenate(parts)


def _labels(log_rho, shift):
    """``argmax_k rho_ik`` of each row."""
    return log_rho.argmax(axis=0)


def _responsibilities(log_rho, shift):
    """``r_ik`` (Bishop 10.49), rows by components."""
    return _log_normalise(log_rho, shift)[1].T


def _log_norm(log_rho, shift):
    """``log sum_k rho_ik`` of each row."""
    return _log_normalise(log_rho, shift)[0]


# The same per-row functions in skvi._core.array_api, for X on a device.
_DEVICE_FUNCTIONS = {
    _labels: "labels",
    _responsibilities: "responsibilities",
    _log_norm: "log_norm",
}


def _sample_scores(X, *, params, model, kl_per_sample):
    """Each row's ``log sum_k rho_ik - KL(q(theta) || p(theta)) / W``."""
    return _map_log_rho(X, params=params, model=model, function=_log_norm) - (
        kl_per_sample
    )


class _FittedMixture:
    """The fitted q: stored, read back, predicted from (a mixin of the estimator)."""

    def _store(self, model, params):
        """Set the priors' and q's attributes (scikit-learn's names)."""
        # The settings that shaped q are kept with it: predictions follow
        # the fit, whatever set_params has changed since.
        self._fitted_model = model.persisted()
        self.weight_concentration_prior_ = model.weight_concentration_prior
        self.mean_precision_prior_ = model.mean_precision_prior
        self.mean_prior_ = model.mean_prior
        self.degrees_of_freedom_prior_ = model.degrees_of_freedom_prior
        self.covariance_prior_ = model.covariance_prior
        self.weight_concentration_ = params.weight_concentration
        self.mean_precision_ = params.mean_precision
        self.means_ = params.means
        self.degrees_of_freedom_ = params.degrees_of_freedom
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.weights_ = model.weight_prior.point(params.weight_concentration)
        self.precisions_ = model.covariance.precisions(params.precisions_cholesky)

    def _fitted_settings(self):
        """The settings q was fitted with (an older pickle's: the current ones)."""
        fitted = getattr(self, "_fitted_model", {})
        return {
            "covariance_type": fitted.get("covariance_type", self.covariance_type),
            "weight_prior_type": fitted.get(
                "weight_prior_type", self.weight_concentration_prior_type
            ),
            "n_components": len(self.means_),
            "n_features": self.means_.shape[1],
        }

    def _check_continuation(self, method, n_features):
        """Refuse to continue a fit whose shape the parameters have changed since.

        ``warm_start`` and ``partial_fit`` start from the fitted q: it has the
        components, covariance type, weight prior and features it was fitted
        with, and cannot be continued as another.
        """
        fitted = self._fitted_settings()
        current = {
            "covariance_type": self.covariance_type,
            "weight_prior_type": self.weight_concentration_prior_type,
            "n_components": self.n_components,
            "n_features": n_features,
        }
        names = {
            "weight_prior_type": "weight_concentration_prior_type",
            "n_features": "the number of features",
        }
        for key, value in current.items():
            if value != fitted[key]:
                name = names.get(key, key)
                raise ValueError(
                    f"{method} continues the fitted q, which has {name} = "
                    f"{fitted[key]!r}, but {name} is now {value!r}. Call fit with "
                    "warm_start=False (or on a new estimator) to start again."
                )

    def _current(self):
        """The fitted parameters and model, as the pure functions take them."""
        check_is_fitted(self)
        # The numpy originals of arrays fitted on another library's data.
        fitted = self._on_host()
        model = MixtureModel.from_persisted(
            {**fitted._fitted_settings(), **fitted._fitted_model}
        )
        params = fitted._fitted_parameters(model)
        params = replace(params, scale=_wishart_scale(params, model))
        return params, model

    def _fitted_parameters(self, model):
        """q(theta) as the fitted attributes hold it, completed for the updates."""
        return _complete(
            MixtureParameters(
                weight_concentration=self.weight_concentration_,
                mean_precision=self.mean_precision_,
                means=self.means_,
                degrees_of_freedom=self.degrees_of_freedom_,
                covariances=self.covariances_,
                precisions_cholesky=self.precisions_cholesky_,
            ),
            model,
        )

    def _blockwise(self, X, function, *, method, dtype=np.float64, n_columns=None):
        """``function(log_rho_block)`` over row blocks of X, concatenated.

        On a dask collection, lazily on each row chunk, on its worker
        (:meth:`_map_rows`), by the same :func:`_map_log_rho`; on another
        array library's X (array API dispatch), on its device (skvi._core.array_api).
        """
        params, model = self._current()
        return self._map_rows(
            X,
            partial(_map_log_rho, params=params, model=model, function=function),
            dtype=dtype,
            n_columns=n_columns,
            device_function=partial(
                device.row_values,
                params=params,
                model=model,
                function=_DEVICE_FUNCTIONS[function],
            ),
            method=method,
        )

    def _sample_scorer(self):
        """``rows -> score_samples(rows)``, the fitted q(theta) bound."""
        params, model = self._current()
        return partial(
            _sample_scores,
            params=params,
            model=model,
            kl_per_sample=_kl_to_prior(params, model) / self.n_samples_seen_,
        )

    def predict(self, X):
        """The most probable component of each sample (argmax of q(z_i)).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array or DataFrame is labelled chunk by chunk on the
            workers (it is never gathered).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            For dask X, a lazy dask array with X's row chunks.
        """
        return self._blockwise(X, _labels, method="predict", dtype=np.intp)

    def predict_proba(self, X):
        """q(z_i = k) of each sample, the responsibilities (Bishop 10.49).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array or DataFrame is read chunk by chunk on the workers
            (it is never gathered).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            For dask X, a lazy dask array with X's row chunks.
        """
        check_is_fitted(self)
        return self._blockwise(
            X,
            _responsibilities,
            method="predict_proba",
            n_columns=self.means_.shape[0],
        )

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then label X with a final E-step (as scikit-learn's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array or DataFrame is fitted as by :meth:`fit`, then
            labelled lazily on the workers, as by :meth:`predict`.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            For dask X, a lazy dask array with X's row chunks.
        """
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def score_samples(self, X):
        """Each sample's share of the ELBO, with its optimal q(z_i).

        ``log sum_k rho_ik - KL(q(theta) || p(theta)) / W``, where W is the
        total training weight: the weighted scores of the training samples
        sum to ``elbo_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array or DataFrame is scored chunk by chunk on the
            workers (it is never gathered).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            For dask X, a lazy dask array with X's row chunks.
        """
        scorer = self._sample_scorer()
        return self._map_rows(
            X,
            scorer,
            device_function=partial(
                device.row_values,
                params=scorer.keywords["params"],
                model=scorer.keywords["model"],
                function="log_norm",
                shift=scorer.keywords["kl_per_sample"],
            ),
        )
