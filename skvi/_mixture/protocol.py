"""The mixture's draws from q and its log joint: the diagnostics' protocol.

``sample`` (scikit-learn's draws from the point-estimate mixture),
``sample_posterior`` (whole parameter sets from q, the Wishart by the
Bartlett decomposition) and the protocol of skvi.diagnostics
(skvi/diagnostics/_protocol.py): ``_sample_q``, ``_log_q``, ``_log_joint``,
answered here where the model's maths lives.

The log joint of the model and log q at draws of theta from q, for the
protocol of skvi.diagnostics (Bishop, PRML §10.2), theta = (pi, or the
sticks v; mu_k; Lambda_k), with the assignments z summed out of the joint,
a log-sum-exp over the K components::

  log p(theta, X) = sum_i w_i log sum_{k<=K} pi_k Normal(x_i | mu_k, Lambda_k^-1)
                    + log p(pi or v)
                    + sum_k [log Normal(mu_k | m0, (beta0 Lambda_k)^-1)
                             + log Wishart(Lambda_k | W0, nu0)]
  log q(theta)    = log q(pi or v)
                    + sum_k [log Normal(mu_k | m_k, (beta_k Lambda_k)^-1)
                             + log Wishart(Lambda_k | W_k, nu_k)]

For every covariance_type q(Lambda_k) is a Wishart whose scale W_k is
restricted (diagonal, a multiple of I; 'tied': one common q for K
independent Lambda_k), and the prior is a Wishart too (W0 diagonal or
isotropic likewise): both are full Wishart densities of the full draws.
The weights: under the Dirichlet prior the Dirichlet densities of pi on the
simplex; under the stick-breaking prior the densities of the sticks v,
prod_k Beta(v_k | 1, alpha0) and prod_k Beta(v_k | a_k, b_k), and the
leftover mass prod_k (1 - v_k) belongs to no observed sample (the sum over
k <= K, as in the ELBO). The priors are the fitted ones (_current's model).
The weights' variables come in log space (_sample_posterior), so that a
stick near 1 or a weight below float64's range keeps its density.

Since log sum_k pi_k N_k >= sum_k r_ik log(pi_k N_k / r_ik) for any r_i,
E_q[log p(theta, X) - log q(theta)] >= elbo_: summing z out exactly can only
tighten the bound, by sum_i w_i E_q[KL(r_i || p(z_i | x_i, theta))], which
vanishes where the responsibilities are 0 or 1.

Cost: the data term is one pass over X per draw. For a block of draws and
a block of rows, the Mahalanobis terms of all the draws' components come
from one stacked product (_mahalanobis_full, with the draws' Cholesky
factors in place of q's), then a log-sum-exp over components:
O(n_draws n K d^2) flops and O(n_draws n K) exponentials, in blocks of the
row-block engine (skvi._core.engine): each task a block of draws, passing over
the row blocks in order. On a dask collection each chunk's per-draw sums
are reduced on its worker (X is never gathered); the draws (O(n_draws K
d^2) numbers) travel to each chunk's task.

Label switching: the posterior has K! modes that differ by a permutation
of the components (exactly symmetric under the Dirichlet prior; under the
stick-breaking prior, which is not exchangeable, with unequal masses). q
sits on one. k-hat and the corrected moments speak for that mode, which is
what the fit is read as; the importance-sampling estimate of log p(X)
misses the other modes' mass: for well-separated, all-occupied components
it is low by log K! under the Dirichlet prior (by between 0 and log K!
under the stick-breaking prior).

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006,
§10.2 and Appendix B (B.37, B.78).
"""

# SPDX-License-Identifier: BSD-3-Clause

import numbers
from functools import partial

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._core import engine
from .._core.families.normal import LOG_2PI
from .._core.families.wishart import _log_det_from_cholesky, _wishart_log_normalizer
from .._core.namespaces import is_dask_collection, to_namespace
from .covariance import (
    COVARIANCE_TYPES,
    _mahalanobis_full,
)


def _check_n_samples(n_samples):
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise ValueError(f"n_samples must be an integer >= 1; got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(
            f"Invalid value for 'n_samples': {n_samples}. The sampling requires "
            "at least one sample."
        )


def _sample_posterior(params, model, n_samples, rng):
    """Draws of theta from q: a dict of arrays with the draws on the first axis.

    ``"log_weight_variables"``: the sticks' ``(log v, log(1 - v))``
    (Dirichlet process) or ``log pi`` (Dirichlet), each (n_samples, K);
    ``"log_weights"`` and ``"weights"``: log pi and pi, (n_samples, K);
    ``"precisions"``: Lambda_k ~ Wishart(nu_k, W_k), (n_samples, K, d, d);
    ``"precisions_cholesky"``: their lower factors L (Lambda = L L^T);
    ``"means"``: mu_k ~ Normal(m_k, (beta_k Lambda_k)^-1), (n_samples, K, d).
    """
    K, d = params.means.shape
    weight_prior = model.weight_prior
    log_variables = weight_prior.sample(params.weight_concentration, n_samples, rng)
    log_weights = weight_prior.log_weights(log_variables)
    dof = np.broadcast_to(params.degrees_of_freedom, (K,))
    precisions, lower = _sample_wishart(dof, params.scale, n_samples, rng)
    # mu = m + L^-T z / sqrt(beta) with Lambda = L L^T, z ~ Normal(0, I).
    noise = rng.standard_normal((n_samples, K, d, 1))
    shift = np.linalg.solve(np.swapaxes(lower, -1, -2), noise)[..., 0]
    means = params.means + shift / np.sqrt(params.mean_precision)[:, None]
    return {
        "log_weight_variables": log_variables,
        "log_weights": log_weights,
        "weights": np.exp(log_weights),
        "means": means,
        "precisions": precisions,
        "precisions_cholesky": lower,
    }


def _sample_wishart(dof, scale, n_samples, rng):
    """Lambda_k ~ Wishart(nu_k, W_k) by the Bartlett decomposition.

    Lambda = L A A^T L^T with W = L L^T, A lower-triangular, A_ii^2 ~
    chi2(nu - i + 1) (i = 1..d), A_ij ~ Normal(0, 1) below the diagonal.
    Returns the draws and their lower Cholesky factors L A (lower-triangular
    with a positive diagonal, so no factorisation is needed).
    """
    K, d, _ = scale.shape
    chol = np.linalg.cholesky(scale)
    A = np.zeros((n_samples, K, d, d))
    rows, cols = np.tril_indices(d, -1)
    A[:, :, rows, cols] = rng.standard_normal((n_samples, K, rows.size))
    i = np.arange(d)
    A[:, :, i, i] = np.sqrt(rng.chisquare(dof[:, None] - i, size=(n_samples, K, d)))
    LA = chol @ A
    return LA @ np.swapaxes(LA, -1, -2), LA


def _log_normal_wishart_pdf(draws, mean, mean_precision, dof, scale):
    """``log Normal(mu_k | m, (beta Lambda_k)^-1) + log Wishart(Lambda_k | W, nu)``.

    Bishop (2006), B.37 and B.78: with ``Lambda = L L^T``,
    ``d/2 log(beta / 2 pi) + 1/2 log|Lambda| - beta/2 ||L^T (mu - m)||^2
    + (nu - d - 1)/2 log|Lambda| - tr(W^-1 Lambda)/2 + log B(W, nu)``, per
    draw and component. ``mean`` (K or 1, d), ``mean_precision`` and ``dof``
    (K,) or scalars, ``scale`` (K or 1, d, d).
    """
    d = mean.shape[-1]
    log_det = draws["_log_det"]
    projected = np.einsum(
        "skij,ski->skj", draws["_precisions_cholesky"], draws["means"] - mean
    )
    inverse_scale = np.linalg.inv(scale)
    trace = np.einsum("kij,skij->sk", inverse_scale, draws["precisions"])
    log_det_scale = _log_det_from_cholesky(np.linalg.cholesky(scale))
    return (
        0.5 * d * (np.log(mean_precision) - LOG_2PI)
        + 0.5 * log_det
        - 0.5 * mean_precision * np.sum(projected**2, axis=-1)
        + 0.5 * (dof - d - 1.0) * log_det
        - 0.5 * trace
        + _wishart_log_normalizer(dof, log_det_scale, d)
    )


def _mixture_data_term(X, sample_weight, *, log_weights, means, lower, log_det, centre):
    """``sum_i w_i log sum_k pi_k Normal(x_i | mu_k, Lambda_k^-1)`` per draw, (S,).

    Rows are taken about ``centre`` (the training data's mean), as the E-step
    does. Each unit of work is a block of draws over all row blocks, so that
    the sum over rows runs in one order whatever the thread count.
    """
    S, K, d = means.shape
    n = X.shape[0]
    # Float64 values a block holds per draw and row: K d projections and K
    # log densities. A task's draws fill a block of the engine's size.
    per_row = K * (d + 1)
    rows, _ = engine.plan(n, per_row)
    step = int(max(1, engine.BLOCK_ELEMENTS // (per_row * rows)))
    # -2 (log pi_k + 1/2 log|Lambda_k| - d/2 log 2 pi), as the E-step's offset.
    offset = 2.0 * log_weights + log_det - d * LOG_2PI
    shifted_means = means - centre

    def draw_block(block):
        draws = slice(block * step, min((block + 1) * step, S))
        m = draws.stop - draws.start
        block_means = shifted_means[draws].reshape(m * K, d)
        block_factors = lower[draws].reshape(m * K, d, d)
        block_offset = offset[draws].reshape(m * K, 1)

        def row_block(rows):
            deviation = np.subtract(X[rows], centre, dtype=np.float64)
            log_density = _mahalanobis_full(deviation, None, block_means, block_factors)
            log_density -= block_offset
            log_density *= -0.5
            log_density = log_density.reshape(m, K, -1)
            top = log_density.max(axis=1)
            np.exp(log_density - top[:, None], out=log_density)
            log_norm = top + np.log(log_density.sum(axis=1))
            return (
                log_norm.sum(axis=1)
                if sample_weight is None
                else np.dot(log_norm, sample_weight[rows])
            )

        # Within a task (a thread of the engine's) the row blocks run in
        # order, so that each draw's sum over rows has one order.
        total = np.zeros(m)
        for part in engine.map_blocks(row_block, n, rows, n_threads=1):
            total += part
        return total

    return np.concatenate(engine.map_tasks(draw_block, -(-S // step)))


class _PosteriorDraws:
    """Draws and densities of VariationalGaussianMixture (a mixin of the estimator)."""

    def sample(self, n_samples=1):
        """Draw samples from the point-estimate mixture, as scikit-learn's.

        The generator is seeded from ``random_state`` on every call.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)
        _check_n_samples(n_samples)
        space = self._fitted_space()
        fitted = self._on_host()
        rng = check_random_state(fitted.random_state)
        counts = rng.multinomial(n_samples, fitted.weights_)
        d = fitted.means_.shape[1]
        covariances = COVARIANCE_TYPES[
            fitted._fitted_settings()["covariance_type"]
        ].covariance_matrices(fitted.covariances_, len(counts), d)
        X = np.vstack(
            [
                rng.multivariate_normal(mean, covariance, int(count))
                for mean, covariance, count in zip(
                    fitted.means_, covariances, counts, strict=True
                )
            ]
        )
        y = np.repeat(np.arange(len(counts)), counts)
        if space is not None:
            # Drawn on the host (O(n d) numbers), returned where the fit is.
            return to_namespace(X, space), to_namespace(y, space)
        return X, y

    def sample_posterior(self, n_samples=1, random_state=None):
        """Draw whole parameter sets (weights, means, precisions) from q.

        Parameters
        ----------
        n_samples : int, default=1
            Number of draws.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        weights : ndarray of shape (n_samples, n_components)
            pi. Under the Dirichlet-process prior they sum to less than 1: the
            rest belongs to the components beyond the truncation.
        means : ndarray of shape (n_samples, n_components, n_features)
            mu_k ~ Normal(m_k, (beta_k Lambda_k)^-1).
        precisions : ndarray of shape (n_samples, n_components, n_features, \
n_features)
            Lambda_k ~ Wishart(nu_k, W_k), full matrices whatever the
            covariance_type (a Wishart with a diagonal scale has full draws;
            'tied' draws each component's from the common q, independently).

        Examples
        --------
        >>> import numpy as np
        >>> from skvi import VariationalGaussianMixture
        >>> X = np.random.default_rng(0).normal(size=(100, 2))
        >>> vgm = VariationalGaussianMixture(n_components=2, random_state=0).fit(X)
        >>> weights, means, precisions = vgm.sample_posterior(10, random_state=0)
        >>> weights.shape, means.shape, precisions.shape
        ((10, 2), (10, 2, 2), (10, 2, 2, 2))
        """
        params, model = self._current()
        _check_n_samples(n_samples)
        draws = _sample_posterior(
            params, model, n_samples, check_random_state(random_state)
        )
        return draws["weights"], draws["means"], draws["precisions"]

    def _sample_q(self, n_draws, random_state):
        """Protocol: whole parameter sets from q, ``sample_posterior``'s draws.

        Also the model's own: the weights' variables and log weights (in log
        space, so that a weight below float64's range keeps its ratio), the
        precisions' Cholesky factors and their log determinants.
        """
        params, model = self._current()
        draws = _sample_posterior(params, model, n_draws, random_state)
        return {
            "weights": draws["weights"],
            "means": draws["means"],
            "precisions": draws["precisions"],
            "_log_weight_variables": draws["log_weight_variables"],
            "_log_weights": draws["log_weights"],
            "_precisions_cholesky": draws["precisions_cholesky"],
            "_log_det": _log_det_from_cholesky(draws["precisions_cholesky"]),
        }

    def _log_q(self, draws):
        """Protocol: ``log q(pi or v) + sum_k log q(mu_k, Lambda_k)`` per draw."""
        params, model = self._current()
        K = params.means.shape[0]
        log_weights_q = model.weight_prior.log_density(
            draws["_log_weight_variables"], params.weight_concentration
        )
        log_q = _log_normal_wishart_pdf(
            draws,
            params.means,
            params.mean_precision,
            np.broadcast_to(params.degrees_of_freedom, (K,)),
            params.scale,
        )
        return log_weights_q + np.sum(log_q, axis=1)

    def _log_joint(self, X, sample_weight, draws):
        """Protocol: ``log p(theta, X)`` per draw, the assignments z summed out.

        ``sum_i w_i log sum_k pi_k Normal(x_i | mu_k, Lambda_k^-1)`` (a pass
        over X, on the workers for a dask collection) plus the log priors of
        the weights' variables and of each ``(mu_k, Lambda_k)``.
        """
        params, model = self._current()
        data_term = partial(
            _mixture_data_term,
            log_weights=draws["_log_weights"],
            means=draws["means"],
            lower=draws["_precisions_cholesky"],
            log_det=draws["_log_det"],
            centre=model.centre,
        )
        if is_dask_collection(X):
            from .._core.dask_passes import dask_reduce

            log_likelihood = np.sum(
                dask_reduce(
                    X, sample_weight, data_term, estimator_name=type(self).__name__
                ),
                axis=0,
            )
        else:
            log_likelihood = data_term(X, sample_weight)
        weight_prior = model.weight_prior
        log_weights_prior = weight_prior.log_density(
            draws["_log_weight_variables"],
            weight_prior.prior_concentration(
                params.weight_concentration, model.weight_concentration_prior
            ),
        )
        log_prior = _log_normal_wishart_pdf(
            draws,
            model.mean_prior[None],
            model.mean_precision_prior,
            model.degrees_of_freedom_prior,
            model.prior_scale[None],
        )
        return log_likelihood + log_weights_prior + np.sum(log_prior, axis=1)
