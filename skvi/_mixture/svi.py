"""partial_fit: stochastic variational inference for the mixture.

Hoffman, Blei, Wang and Paisley (2013), Algorithm 1: each chunk of a
stream gives a local step (the E-step on the chunk, skvi._mixture.estep),
then a natural-gradient step on the global factors q(pi) and each
q(mu_k, Lambda_k). The chunk's statistics scaled up to ``total_samples``
give the CAVI update ``eta_hat`` that the whole stream would give were it
the chunk replicated (their eq. 24); the natural parameters move by

    eta <- (1 - rho_t) eta + rho_t eta_hat,
    rho_t = (learning_offset + t)^-learning_decay,  t = 1, 2, ...

(eqs. 25-26, the step-size schedule of scikit-learn's
LatentDirichletAllocation). A Wishart stepped in natural parameters has a
full scale: the restricted families (tied, diag, spherical) project it back
as the M-step does (the covariance type's ``project``).

References
----------
M. D. Hoffman, D. M. Blei, C. Wang and J. Paisley, "Stochastic variational
inference", JMLR 14, 2013.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils import check_random_state

from .._core.families.wishart import (
    natural_to_normal_wishart,
    normal_wishart_to_natural,
)
from .._core.namespaces import array_space, is_dask_collection
from .._core.svi import natural_step, svi_step_size
from .._core.validation import check_data
from .bound import _checked_elbo, _kl_to_prior
from .covariance import (
    _wishart_scale,
)
from .mstep import _m_step, _parameters
from .state import MixtureData


def _natural_gradient_step(params, target, step_size, model):
    """SVI step on q(pi) and each q(mu_k, Lambda_k) (Hoffman et al. 2013, eq. 25).

    ``eta <- (1 - rho) eta + rho eta_hat`` on the natural parameters of each
    conjugate factor; the stepped Wishart scale is then projected on the
    covariance type's family as in the M-step (``A = W^-1``: its mean over
    the components for tied, its diagonal for diag, the mean of that for
    spherical).
    """
    K = model.n_components
    to_natural, from_natural = (
        model.weight_prior.to_natural,
        model.weight_prior.from_natural,
    )
    concentration = from_natural(
        natural_step(
            to_natural(params.weight_concentration),
            to_natural(target.weight_concentration),
            step_size,
        )
    )
    natural = [
        normal_wishart_to_natural(
            p.means,
            p.mean_precision,
            np.broadcast_to(p.degrees_of_freedom, (K,)),
            _wishart_scale(p, model),
        )
        for p in (params, target)
    ]
    means, mean_precision, dof, scale = natural_to_normal_wishart(
        natural_step(*natural, step_size)
    )
    covariance = model.covariance
    A = covariance.project(np.linalg.inv(scale))
    if covariance.shared_dof:
        dof = float(dof.mean())
    return _parameters(concentration, mean_precision, means, dof, A, model)


class _StochasticVI:
    """VariationalGaussianMixture's ``partial_fit`` (a mixin of the estimator)."""

    def partial_fit(self, X, y=None, sample_weight=None):
        """One step of stochastic variational inference on a chunk of data.

        Hoffman, Blei, Wang and Paisley (2013), Algorithm 1: a local step
        (the E-step on the chunk), then a natural-gradient step on the global
        factors. The chunk's statistics, scaled up to ``total_samples``, give
        the CAVI update ``eta_hat`` that the whole data set would give if it
        were the chunk replicated (their eq. 24); the natural parameters
        move by ``eta <- (1 - rho_t) eta + rho_t eta_hat`` with
        ``rho_t = (learning_offset + t)^-learning_decay``, t = 1, 2, ...
        (eqs. 25-26). In the restricted scale families (tied, diag,
        spherical) the stepped scale is projected back onto the family as
        the M-step does.

        The first call (on an unfitted estimator) resolves the priors from
        its chunk and initialises q as ``fit`` does, from the chunk's
        statistics scaled to ``total_samples``; a fitted estimator continues
        from its q and priors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights of the chunk.

        Returns
        -------
        self : VariationalGaussianMixture
            ``elbo_`` then holds the chunk's unbiased estimate of the ELBO of
            the whole stream, ``total_samples / W_chunk * sum_i w_i log sum_k
            rho_ik - KL``, and ``n_samples_seen_`` is ``total_samples``, the
            weight that q's KL is shared among in ``score_samples``.
        """
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore")
        with self._exclusive(), quiet:
            first = not hasattr(self, "means_")
            if first:
                data = self._fit_data(X, sample_weight, reset=True)
                model = data.model
                random_state = check_random_state(self.random_state)
                statistics = self._start(data, random_state)
                scale = self.total_samples / float(statistics.weight.sum())
                params = _m_step(statistics.scaled(scale), model)
            else:
                space = array_space(X)
                with np.errstate(invalid="ignore", over="ignore"):
                    X, sample_weight = check_data(
                        self, X, sample_weight, reset=False, allow_all_zero=True
                    )
                self._check_continuation("partial_fit", self.n_features_in_)
                self._fit_space = space
                # The priors are those of the first chunk; a bad one set
                # since is refused all the same.
                self._check_priors(self.n_features_in_)
                params, model = self._current()
                data = (
                    MixtureData.on_device(X, sample_weight, space, model=model)
                    if space is not None
                    else MixtureData(
                        X=None if is_dask_collection(X) else X,
                        dask=X if is_dask_collection(X) else None,
                        sample_weight=sample_weight,
                        model=model,
                    )
                )
            statistics, log_norm, _ = self._expectation(data, params)
            if not statistics.weight.sum() > 0:
                return self  # a chunk of zero weight has nothing to teach
            scale = self.total_samples / float(statistics.weight.sum())
            target = _m_step(statistics.scaled(scale), model)
            iteration = getattr(self, "n_batch_iter_", 0) + 1
            rho = float(
                svi_step_size(
                    iteration,
                    delay=self.learning_offset,
                    forgetting_rate=self.learning_decay,
                )
            )
            params = _natural_gradient_step(params, target, min(rho, 1.0), model)
            self._store(model, params)
            self.n_batch_iter_ = iteration
            self.n_samples_seen_ = float(self.total_samples)
            self.elbo_ = _checked_elbo(scale * log_norm - _kl_to_prior(params, model))
        return self
