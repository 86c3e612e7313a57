"""Bayesian Gaussian mixture by CAVI: scikit-learn's model, weights, SVI, dask."""

# SPDX-License-Identifier: BSD-3-Clause

# The model (Bishop, PRML §10.2; Blei & Jordan 2006 for the stick-breaking
# prior), for K components in d dimensions, sample i with frequency weight w_i:
#
#   weights  pi ~ Dirichlet(alpha0, ..., alpha0)            ("dirichlet_distribution")
#            or pi_k = v_k prod_{j<k} (1 - v_j),
#               v_k ~ Beta(1, alpha0), k = 1..K             ("dirichlet_process")
#   components (mu_k, Lambda_k) ~ Normal(m0, (beta0 Lambda_k)^-1) Wishart(nu0, W0)
#   z_i | pi ~ Categorical(pi);  x_i | z_i = k ~ Normal(mu_k, Lambda_k^-1)
#
# The truncated stick-breaking prior leaves the mass prod_k (1 - v_k) to a
# (K+1)-th component that no sample is assigned to (q(z_i = K+1) = 0), so the
# model is proper and q(v_K) is a Beta like the others, as in scikit-learn.
#
# Mean-field family q(Z) q(pi or v) prod_k q(mu_k | Lambda_k) q(Lambda_k) with
# q(mu_k | Lambda_k) = Normal(m_k, (beta_k Lambda_k)^-1) and q(Lambda_k) a
# Wishart(nu_k, W_k) whose scale W_k is, by covariance_type:
#   full       any positive-definite matrix
#   tied       the same (nu, W) for every component (K independent Lambda_k
#              with one common q: scikit-learn's "tied" updates are exactly
#              CAVI in this family, and its bound counts the Wishart K times)
#   diag       a diagonal matrix
#   spherical  a multiple of the identity
# and the prior scale W0 = covariance_prior^-1 (diag(covariance_prior)^-1,
# covariance_prior^-1 I) likewise. The restricted scale is the projection of
# the full update: W_k^-1 = diag(A_k) for diag, mean(diag A_k) I for
# spherical, where A_k is the full update below; dof and the means do not
# change. Each update maximises the ELBO over its factor, so the ELBO of
# every covariance type never decreases (with reg_covar = 0; see below).
#
# CAVI updates, from N_k = sum_i w_i r_ik, xbar_k = sum_i w_i r_ik x_i / N_k,
# C_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T:
#   E-step (10.46-10.49, 10.64-10.66):
#     log rho_ik = E[log pi_k] + 1/2 E[log|Lambda_k|] - d/2 log 2 pi
#                  - d / (2 beta_k) - nu_k/2 (x_i - m_k)^T W_k (x_i - m_k)
#     r_ik = rho_ik / sum_j rho_ij                       (log-sum-exp)
#     E[log|Lambda_k|] = sum_{j=1..d} psi((nu_k + 1 - j)/2) + d log 2 + log|W_k|
#     E[log pi_k] = psi(alpha_k) - psi(sum_j alpha_j)                (Dirichlet)
#                 = E[log v_k] + sum_{j<k} E[log(1 - v_j)]       (stick-breaking)
#   M-step (10.58, 10.60-10.63; Blei & Jordan 2006, eq. 18-19):
#     alpha_k = alpha0 + N_k;   or  a_k = 1 + N_k, b_k = alpha0 + sum_{j>k} N_j
#     beta_k = beta0 + N_k,  m_k = (beta0 m0 + N_k xbar_k) / beta_k
#     nu_k = nu0 + N_k  (tied: nu0 + N/K)
#     A_k = W0^-1 + C_k + N_k reg_covar I
#           + beta0 N_k / beta_k (xbar_k - m0)(xbar_k - m0)^T,   W_k^-1 = A_k
#     (tied: A = W0^-1 + 1/K sum_k (...)).  reg_covar is scikit-learn's
#     regulariser (it adds reg_covar to each component's covariance); with
#     reg_covar = 0 these are exact CAVI updates.
#   scikit-learn's normalisation is kept: covariances_ = A_k / nu_k, so that
#   precisions_ = nu_k W_k = E_q[Lambda_k] and precisions_cholesky_ factors it.
#
# The full ELBO, no constant dropped (10.70, with the q(Z) of the E-step
# that follows the M-step, so that the data and assignment terms collapse):
#   L = sum_i w_i log sum_k rho_ik - KL(q(pi) || p(pi))
#       - sum_k KL(q(mu_k, Lambda_k) || p(mu_k, Lambda_k))
# Its first term is also each sample's share in score_samples.
#
# scikit-learn's lower bound (BayesianGaussianMixture._compute_lower_bound),
# evaluated after the M-step on the q(Z) of the E-step before it, equals the
# full ELBO of that same pair minus a constant when reg_covar = 0:
#   c = K [d(d-1)/4 log pi + d/2 log beta0 + log B(W0, nu0)] - W d/2 log 2 pi
#       + {lgamma(K alpha0) - K lgamma(alpha0)   (Dirichlet) | K log alpha0 (DP)}
# with log B(W, nu) = -nu/2 log|W| - nu d/2 log 2 - log Gamma_d(nu/2) and W
# the total sample weight: at the M-step's optimum the expected log-density
# of each conjugate block cancels against its q, leaving log-normalisers.

import numbers
import warnings
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._core import array_api
from .._core.base import VariationalEstimator
from .._core.expectations import (
    _log_det_from_cholesky,
)
from .._core.natural import (
    SVI_CONSTRAINTS,
    svi_step_size,
)
from .._core.stats import (
    SufficientStatistics,
    sufficient_statistics,
)
from .._core.validation import (
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    Interval,
    InvalidParameterError,
    StrOptions,
    array_space,
    check_data,
    is_dask_collection,
    to_namespace,
    to_numpy,
)
from . import device
from .bound import (
    _checked_elbo,
    _kl_to_prior,
    _sklearn_lower_bound,
)
from .covariance import COVARIANCE_TYPES, _wishart_scale
from .estep import (
    _DEVICE_FUNCTIONS,
    _blockwise_local,
    _labels,
    _map_log_rho,
    _merge_local,
    _responsibilities,
    _sample_scores,
)
from .init import (
    _INIT,
    _as_numpy,
    _chunk_nearest_statistics,
    _gather_rows,
    _random_rows,
    _statistics_of_rows,
)
from .mstep import (
    _check_representable,
    _complete,
    _m_step,
    _natural_gradient_step,
)
from .priors import _chunk_moments, _is_singular
from .protocol import (
    _check_n_samples,
    _log_normal_wishart_pdf,
    _mixture_data_term,
    _sample_posterior,
)
from .weights import (
    _LOG_WEIGHT_DENSITY,
    _PRIOR_CONCENTRATION,
    _WEIGHT_PRIOR,
)

# ---------------------------------------------------------------------------
# Per covariance type: the shape of the scatter the M-step needs, the
# projection of the full Wishart update onto the family, the precision
# Cholesky factors, and the Mahalanobis terms of the E-step.


# Each takes the M-step's shifts delta_k = xbar_k - m0 and shrink_k =
# beta0 N_k / beta_k, whose cross term shrink_k delta_k delta_k^T it adds
# component by component: at d = 1000 a (K, d, d) array of cross terms, and
# the sum it was added to, were two more 64 MB arrays per M-step.


# The E-step works on (n_components, n_rows) arrays: reductions over the
# components then run along rows of contiguous memory, some 50x faster than
# over a short last axis of (n_rows, n_components). Its products over rows
# are numpy.dot, which releases the GIL for the BLAS call (numpy's matmul
# may hold it), so that the engine's threads run their blocks at once.
# Every Mahalanobis term takes the block's deviations d = x - centre (the
# data's mean, so that the expansions below lose few digits) and, for the
# diagonal families, d * d, which the E-step computes once and the
# statistics then reuse.


# Each family splits its term in two: ``_terms_*`` (per pass: what depends on
# q only, computed once) and ``_from_terms_*`` (per block, a few numpy calls),
# so that a block's Python stays a small share of its time (skvi._core.engine).


# ---------------------------------------------------------------------------
# Weight priors: the M-step, E[log pi_k], the KL, the point estimate.


# The weights are drawn in log space: rng.beta and rng.dirichlet round a
# stick near 1 to 1.0 and underflow a small weight to 0.0 (as q(v_K) =
# Beta(1 + N_K, alpha0) and a small alpha0 give), where log v, log(1 - v)
# and log pi_k, which the importance ratios of skvi.diagnostics need, are
# lost. From log-Gamma variates they stay finite.


# ---------------------------------------------------------------------------
# Initial responsibilities, as scikit-learn's BaseMixture._initialize_parameters.


# ---------------------------------------------------------------------------
# The two steps, as pure functions of arrays.


# The KL of each q(mu_k, Lambda_k) needs tr(W0^-1 W_k), log|W0^-1 W_k| and
# (m_k - m0)^T E[Lambda_k] (m_k - m0). From the precision factors U_k
# (nu_k W_k = U_k U_k^T) and the Cholesky factor L0 of the prior's inverse
# scale A0 = W0^-1 = L0 L0^T (once per call):
#   tr(A0 W_k) = ||U_k^T L0||_F**2 / nu_k       (a sum of squares)
#   log|W0^-1 W_k| = log|W_k| + log|A0|          (both from diagonals)
#   nu_k (m_k - m0)^T W_k (m_k - m0) = ||U_k^T (m_k - m0)||**2
# One product of two triangles per component for full (one for tied),
# O(K d**2) for the diagonal types. Factorising each W_k again and solving
# with the factor of W0 = inv(A0) (kl_normal_wishart on the matrices) took
# three more O(K d**3) steps per ELBO (K times the same d x d work for tied:
# 1.4 s per iteration at d = 1000), and lost digits where A0 is
# ill-conditioned: with the default covariance_prior of 60 rows in 1000
# dimensions (cond(A0) ~ 4e8) tr(A0 W_k) came out 243.4975 for 243.3332,
# the ELBO 35 nats off. The sum of squares has no cancellation;
# sum_ij (A0)_ij (W_k)_ij, as cheap given W_k, had terms 2.6e6 times larger
# than their sum there.


class VariationalGaussianMixture(VariationalEstimator, DensityMixin, BaseEstimator):
    """Bayesian Gaussian mixture by CAVI: scikit-learn's model, with the full ELBO.

    A drop-in for :class:`sklearn.mixture.BayesianGaussianMixture`: the same
    model, parameters, defaults, updates and fitted attributes (given the same
    initial responsibilities the fits agree to rounding), and in addition

    - ``sample_weight`` (frequency weights) in :meth:`fit`;
    - ``elbo_`` and ``elbo_history_``: the full evidence lower bound, with no
      constant dropped, comparable across priors, models and data sets;
    - :meth:`sample_posterior`: whole parameter sets drawn from q;
    - :meth:`partial_fit`: stochastic variational inference on a stream;
    - dask arrays: the E-step runs blockwise on the workers, and only the
      O(K d^2) statistics come back per iteration.

    Parameters
    ----------
    n_components : int, default=1
        Number of components K (an upper bound: the Dirichlet-process prior
        switches surplus components off).

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Family of the Wishart scale of each q(Lambda_k): any matrix, one
        shared by all components, diagonal, or a multiple of the identity.

    tol : float, default=1e-3
        Convergence threshold, scikit-learn's rule exactly: iterations stop
        when ``lower_bound_`` (scikit-learn's bound, a total over the samples)
        changes by strictly less than ``tol``, so that ``n_iter_`` and the fit
        match :class:`~sklearn.mixture.BayesianGaussianMixture`'s.

    reg_covar : float, default=1e-6
        Added to the diagonal of each component's empirical covariance, as in
        scikit-learn. With 0 the updates are exact CAVI and the ELBO never
        decreases (a decrease raises ELBODecreaseWarning). With a positive
        value the regularised M-step is not exact coordinate ascent, and the
        ELBO can dip slightly near convergence (by ~1e-9 of its value on
        standardised data): expected, so not warned about.

    max_iter : int, default=100
        Maximum number of iterations (E-step then M-step) per initialisation.

    n_init : int, default=1
        Number of initialisations; the one with the highest ELBO is kept.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the initial responsibilities are chosen, as scikit-learn does.

    weight_concentration_prior_type : {'dirichlet_process', \
            'dirichlet_distribution'}, default='dirichlet_process'
        Truncated stick-breaking prior, or a symmetric Dirichlet.

    weight_concentration_prior : float or None, default=None
        alpha0; None means ``1 / n_components``.

    mean_precision_prior : float or None, default=None
        beta0; None means 1.

    mean_prior : array-like of shape (n_features,) or None, default=None
        m0; None means the (weighted) mean of X.

    degrees_of_freedom_prior : float or None, default=None
        nu0 > n_features - 1; None means n_features.

    covariance_prior : float or array-like, default=None
        W0^-1, of shape (n_features, n_features) for 'full' and 'tied',
        (n_features,) for 'diag', a float for 'spherical'; None means the
        (weighted, ddof=1) empirical covariance of X, its diagonal, or the
        mean of its diagonal.

    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation (and :meth:`sample`, as scikit-learn's).

    warm_start : bool, default=False
        Continue from the fitted state on the next :meth:`fit`.

    verbose : int, default=0
        Print progress.

    verbose_interval : int, default=10
        Iterations between two progress lines.

    learning_decay : float, default=0.7
        kappa in (0.5, 1] of the step size ``(learning_offset + t)^-kappa`` of
        :meth:`partial_fit` (named as in LatentDirichletAllocation).

    learning_offset : float, default=10.0
        tau0 >= 0 of that step size; it down-weights the early chunks.

    total_samples : float, default=1e6
        Size of the whole data set that :meth:`partial_fit` streams through
        (the chunk statistics are scaled up to it).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Point estimate of the weights (scikit-learn's).
    means_ : ndarray of shape (n_components, n_features)
        m_k, the means of q(mu_k).
    covariances_ : ndarray
        ``W_k^-1 / nu_k`` (scikit-learn's normalisation): the inverse of
        ``E_q[Lambda_k]``; shape (K, d, d), (d, d), (K, d) or (K,) by type.
    precisions_ : ndarray
        ``E_q[Lambda_k] = nu_k W_k``, same shapes.
    precisions_cholesky_ : ndarray
        Upper Cholesky factor U_k of ``precisions_`` (``U_k U_k^T``).
    weight_concentration_ : ndarray or tuple of two ndarrays
        alpha_k of q(pi), or (a_k, b_k) of the q(v_k).
    mean_precision_ : ndarray of shape (n_components,)
        beta_k.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        nu_k.
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, \
degrees_of_freedom_prior_, covariance_prior_
        The priors used.
    elbo_ : float
        The full ELBO of the fit: ``score(X_train) * W == elbo_`` with W the
        total training weight.
    elbo_history_ : ndarray of shape (n_iter_,)
        The ELBO after each iteration of the kept initialisation;
        non-decreasing.
    lower_bound_ : float
        scikit-learn's bound (constants dropped) at the last iteration.
    lower_bounds_ : list of float
        scikit-learn's bound at each iteration.
    n_iter_ : int
    converged_ : bool
    n_samples_seen_ : float
        Total sample weight W that q's KL is shared among in score_samples:
        the training weight for fit, ``total_samples`` after partial_fit.
    n_batch_iter_ : int
        Number of partial_fit steps taken (t of the step size).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : The same model, without sample
        weights, streaming, dask or the full ELBO.

    Notes
    -----
    **The ELBO and scikit-learn's bound.** One iteration is an E-step then an
    M-step.
    scikit-learn's ``lower_bound_`` is its bound of the last M-step's
    q(theta) with the q(Z) of the E-step before it; with ``reg_covar=0`` that
    bound is the full ELBO of that pair minus the constant::

        c = K [d(d-1)/4 log pi + d/2 log beta0 + log B(W0, nu0)]
            - W d/2 log(2 pi) + {lgamma(K alpha0) - K lgamma(alpha0) | K log alpha0}

        log B(W0, nu0) = -nu0/2 log|W0| - nu0 d/2 log 2 - log Gamma_d(nu0/2)

    (Dirichlet | Dirichlet process). ``elbo_`` is the ELBO of the final q(theta)
    with the q(Z) of the final E-step that scikit-learn also runs (so that
    ``fit_predict`` agrees with ``predict``): being one more coordinate-ascent
    step, ``elbo_ >= lower_bound_ + c``, with equality at convergence. In
    short ``elbo_ - lower_bound_ -> c`` as ``tol -> 0``.

    **score_samples** is each sample's share of the ELBO with its optimal
    q(z_i): ``log sum_k exp(E[log pi_k] + E[log N(x | mu_k, Lambda_k^-1)])
    - KL(q(theta) || p(theta)) / W``. It differs from scikit-learn's
    score_samples by the constant KL / W.

    References
    ----------
    .. [1] C. M. Bishop, "Pattern Recognition and Machine Learning", 2006,
       §10.2.
    .. [2] D. M. Blei and M. I. Jordan, "Variational inference for Dirichlet
       process mixtures", Bayesian Analysis 1(1), 2006.
    .. [3] M. D. Hoffman, D. M. Blei, C. Wang and J. Paisley, "Stochastic
       variational inference", JMLR 14, 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi import VariationalGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (200, 2)), rng.normal(3, 1, (200, 2))])
    >>> vgm = VariationalGaussianMixture(n_components=5, random_state=0).fit(X)
    >>> int((vgm.weights_ > 0.05).sum())
    2
    >>> bool(np.isclose(vgm.score(X) * len(X), vgm.elbo_))
    True
    """

    _parameter_constraints = {
        "n_components": [POSITIVE_INT],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "tol": [NON_NEGATIVE_REAL],
        "reg_covar": [NON_NEGATIVE_REAL],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_init": [POSITIVE_INT],
        "init_params": [
            StrOptions({"kmeans", "random", "random_from_data", "k-means++"})
        ],
        "weight_concentration_prior_type": [
            StrOptions({"dirichlet_process", "dirichlet_distribution"})
        ],
        "weight_concentration_prior": [
            None,
            Interval(numbers.Real, 0.0, None, closed="neither"),
        ],
        "mean_precision_prior": [
            None,
            Interval(numbers.Real, 0.0, None, closed="neither"),
        ],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [
            None,
            Interval(numbers.Real, 0.0, None, closed="neither"),
        ],
        "covariance_prior": [
            None,
            "array-like",
            Interval(numbers.Real, 0.0, None, closed="neither"),
        ],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [POSITIVE_INT],
        **SVI_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        learning_decay=0.7,
        learning_offset=10.0,
        total_samples=1e6,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.total_samples = total_samples

    # -- reading the data and the priors -----------------------------------

    def _fit_data(self, X, sample_weight, *, reset):
        """Validate X, read it once for the data-dependent priors; the model dict."""
        if reset and self.warm_start and hasattr(self, "converged_"):
            self._check_continuation(
                "fit with warm_start=True", np.shape(X)[1] if np.ndim(X) == 2 else None
            )
        space = array_space(X)
        # The finiteness check sums X: inf + -inf there is the error it
        # raises, not a numpy warning.
        with np.errstate(invalid="ignore", over="ignore"):
            X, sample_weight = check_data(
                self, X, sample_weight, reset=reset, ensure_min_samples=2
            )
        scatter = COVARIANCE_TYPES[self.covariance_type].scatter
        self._fit_space = space
        if space is not None:
            # Another library's array (array API dispatch): the passes over
            # its rows run where it lives (skvi._core.array_api).
            n_samples = X.shape[0]
            data = _device_data(X, sample_weight, space)
            moments = array_api.statistics(
                X,
                data["device_weight"],
                space,
                scatter=scatter,
                estimator_name=type(self).__name__,
            )
        elif is_dask_collection(X):
            from .._core.dask_passes import dask_reduce

            parts = dask_reduce(
                X,
                sample_weight,
                partial(_chunk_moments, scatter=scatter),
                ensure_min_samples=2,
                estimator_name=type(self).__name__,
            )
            n_samples = sum(n for n, _ in parts)
            moments = SufficientStatistics.merge_all([part for _, part in parts])
            data = {"X": None, "dask": X, "sample_weight": sample_weight}
        else:
            n_samples = X.shape[0]
            moments = sufficient_statistics(
                X, sample_weight, scatter=scatter, estimator_name=type(self).__name__
            )
            data = {"X": X, "sample_weight": sample_weight}
        _check_representable(moments.mean, moments.scatter)
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {n_samples}"
            )
        return dict(data, n_samples=n_samples, model=self._model(moments))

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
        return {
            "covariance_type": covariance.name,
            # The type's record (skvi._mixture.covariance), chosen here once.
            "covariance": covariance,
            "weight_prior_type": self.weight_concentration_prior_type,
            "n_components": self.n_components,
            "weight_concentration_prior": float(
                1.0 / self.n_components
                if self.weight_concentration_prior is None
                else self.weight_concentration_prior
            ),
            "mean_precision_prior": float(
                1.0 if self.mean_precision_prior is None else self.mean_precision_prior
            ),
            "mean_prior": mean_prior,
            "degrees_of_freedom_prior": dof_prior,
            "covariance_prior": covariance_prior,
            "prior_inverse_scale": covariance_prior,
            "prior_scale": np.linalg.inv(prior_inverse_scale_matrix),
            "reg_covar": float(self.reg_covar),
            # The E-step's statistics and expansions are taken about this point.
            "centre": data_mean,
            "total_weight": weight,
        }

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

    # -- the hooks of the CAVI loop -----------------------------------------

    def _expectation(self, data, params):
        """The E-step over all of X, reduced to statistics, log-norm, entropy.

        On a dask collection each chunk is reduced on its worker and only
        the statistics (O(K d^2) numbers) come back to the client.
        """
        if data.get("dask") is not None:
            from .._core.dask_passes import dask_reduce

            return _merge_local(
                dask_reduce(
                    data["dask"],
                    data["sample_weight"],
                    partial(_blockwise_local, params=params, model=data["model"]),
                    estimator_name=type(self).__name__,
                )
            )
        if data.get("array") is not None:
            return device.local_step(
                data["array"],
                data["device_weight"],
                params,
                data["model"],
                data["space"],
                estimator_name=type(self).__name__,
            )
        return _blockwise_local(data["X"], data["sample_weight"], params, data["model"])

    def _initial_responsibilities(self, data, random_state):
        return _INIT[self.init_params](
            data["X"], data["sample_weight"], self.n_components, random_state
        )

    def _initial_state(self, data, random_state):
        """The starting state (:meth:`_initial_state_quietly`), numpy's warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._initial_state_quietly(data, random_state)

    def _initial_state_quietly(self, data, random_state):
        statistics = self._start(data, random_state)
        params = _m_step(statistics, data["model"])
        return {
            "params": params,
            "local": self._expectation(data, params),
            "lower_bounds": [],
            "start_bound": -np.inf,
        }

    def _start(self, data, random_state):
        """The statistics an initialisation starts from (numpy, dask or a device).

        On another library's X, 'random_from_data' gathers its K rows from
        the device; the other initialisations run scikit-learn's numpy code
        on a host copy of X, made once per initialisation.
        """
        if data.get("dask") is not None:
            return self._dask_initial_statistics(data, random_state)
        if data.get("array") is not None and self.init_params == "random_from_data":
            space = data["space"]
            weights = data["sample_weight"]
            rows = _random_rows(
                data["n_samples"], weights, self.n_components, random_state
            )
            points = np.asarray(
                to_numpy(
                    space.xp.take(data["array"], to_namespace(rows, space), axis=0),
                    space,
                ),
                dtype=np.float64,
            )
            return _statistics_of_rows(
                points,
                np.ones(len(rows)) if weights is None else weights[rows],
                data["model"]["centre"],
                COVARIANCE_TYPES[self.covariance_type].scatter,
            )
        host = _on_host(data)
        return self._initial_statistics(
            host, self._initial_responsibilities(host, random_state)
        )

    def _initial_statistics(self, data, resp):
        return sufficient_statistics(
            data["X"],
            data["sample_weight"],
            resp,
            scatter=COVARIANCE_TYPES[self.covariance_type].scatter,
            reference=data["model"]["centre"],
        )

    def _dask_initial_statistics(self, data, random_state):
        """The initial statistics of a dask fit, with O(K d^2) back from workers.

        'random_from_data' gathers its K rows only, and starts exactly as on
        numpy data. 'kmeans' and 'k-means++' choose their centres on a
        uniform sample of at most 10 000 rows gathered to the client, then
        give each row to its nearest centre on the workers.
        """
        from .._core.dask_passes import dask_reduce

        X, sample_weight, model = data["dask"], data["sample_weight"], data["model"]
        weights = None if sample_weight is None else _as_numpy(sample_weight)
        K = self.n_components
        if self.init_params == "random":
            raise ValueError(
                "init_params='random' draws responsibilities for every row, "
                "which a dask fit does not gather; use 'random_from_data', "
                "'kmeans' or 'k-means++'."
            )
        if self.init_params == "random_from_data":
            rows = _random_rows(data["n_samples"], weights, K, random_state)
            return _statistics_of_rows(
                _gather_rows(X, rows),
                np.ones(K) if weights is None else weights[rows],
                model["centre"],
                COVARIANCE_TYPES[self.covariance_type].scatter,
            )
        size = min(data["n_samples"], 10_000)
        rows = _random_rows(data["n_samples"], weights, size, random_state)
        sample = _gather_rows(X, rows)
        centres = (
            KMeans(n_clusters=K, n_init=1, random_state=random_state)
            .fit(sample)
            .cluster_centers_
            if self.init_params == "kmeans"
            else kmeans_plusplus(sample, K, random_state=random_state)[0]
        )
        return SufficientStatistics.merge_all(
            dask_reduce(
                X,
                sample_weight,
                partial(
                    _chunk_nearest_statistics,
                    centres=centres,
                    scatter=COVARIANCE_TYPES[self.covariance_type].scatter,
                    reference=model["centre"],
                ),
                estimator_name=type(self).__name__,
            )
        )

    def _sweep(self, data, state):
        """One sweep (:meth:`_sweep_quietly`), numpy's warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._sweep_quietly(data, state)

    def _sweep_quietly(self, data, state):
        """M-step on the last E-step's statistics, then the E-step."""
        statistics, _, neg_entropy = state["local"]
        params = _m_step(statistics, data["model"])
        lower_bound = _sklearn_lower_bound(neg_entropy, params, data["model"])
        return {
            "params": params,
            "local": self._expectation(data, params),
            "lower_bounds": state["lower_bounds"] + [lower_bound],
            "start_bound": state["start_bound"],
        }

    def _elbo(self, data, state):
        """``sum_i w_i log sum_k rho_ik - KL(q(theta) || p(theta))`` (Bishop 10.70)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            kl = _kl_to_prior(state["params"], data["model"])
        return _checked_elbo(state["local"][1] - kl)

    def _convergence_threshold(self, data):
        """``tol``, on scikit-learn's bound (see :meth:`_converged`)."""
        return self.tol

    def _converged(self, change, threshold, state):
        """scikit-learn's stopping rule, exactly: ``|change of its bound| < tol``.

        ``BaseMixture.fit_predict`` stops when its lower bound (a total over
        the samples, evaluated after the M-step on the E-step before it)
        changed by strictly less than ``tol``; the first change of a fresh
        start is infinite, that of a warm start is taken from the last fit's
        ``lower_bound_``. The full ELBO is a half-sweep later and larger by a
        constant only at the optimum, so that a rule on it would stop one
        iteration apart from scikit-learn's on some data.
        """
        bounds = state["lower_bounds"]
        previous = bounds[-2] if len(bounds) > 1 else state["start_bound"]
        return abs(bounds[-1] - previous) < threshold

    def _total_weight(self, data):
        return data["model"]["total_weight"]

    def _check_increase(self, change, elbo, n_iter, data):
        """The ELBO-decrease guard, for exact CAVI only (``reg_covar=0``).

        scikit-learn's ``reg_covar`` adds ``reg_covar * N_k`` to the diagonal
        of each inverse Wishart scale: that M-step is not the maximiser of the
        ELBO over q(theta), so near convergence the ELBO can dip by a small
        amount that is no bug. With ``reg_covar > 0`` the guard is off; so
        it is for float32 X computed in float32 on a device (array API), whose
        rounding of the bound, about 1e-7 of it, is no bug either.
        """
        array = data.get("array")
        in_float32 = (
            array is not None
            and data["space"].compute_dtype(array.dtype) == data["space"].xp.float32
        )
        if self.reg_covar == 0 and not in_float32:
            super()._check_increase(change, elbo, n_iter, data)

    def _fitted_state(self, data):
        """The last fit's state (:meth:`_fitted_state_quietly`), warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._fitted_state_quietly(data)

    def _fitted_state_quietly(self, data):
        params = _complete(
            {
                "weight_concentration": self.weight_concentration_,
                "mean_precision": self.mean_precision_,
                "means": self.means_,
                "degrees_of_freedom": self.degrees_of_freedom_,
                "covariances": self.covariances_,
                "precisions_cholesky": self.precisions_cholesky_,
            },
            data["model"],
        )
        return {
            "params": params,
            "local": self._expectation(data, params),
            "lower_bounds": [],
            # scikit-learn's warm start measures its first change from here.
            "start_bound": self.lower_bound_,
        }

    def _set_fitted(self, data, state):
        # fit starts afresh: a later partial_fit starts its step sizes anew.
        self.__dict__.pop("n_batch_iter_", None)
        self._store(data["model"], state["params"])
        self.lower_bounds_ = list(state["lower_bounds"])
        self.lower_bound_ = self.lower_bounds_[-1] if self.lower_bounds_ else -np.inf
        self.n_samples_seen_ = data["model"]["total_weight"]

    def _store(self, model, params):
        """Set the priors' and q's attributes (scikit-learn's names)."""
        # The settings that shaped q are kept with it: predictions follow
        # the fit, whatever set_params has changed since.
        self._fitted_model = {
            key: value for key, value in model.items() if key != "covariance"
        }
        self.weight_concentration_prior_ = model["weight_concentration_prior"]
        self.mean_precision_prior_ = model["mean_precision_prior"]
        self.mean_prior_ = model["mean_prior"]
        self.degrees_of_freedom_prior_ = model["degrees_of_freedom_prior"]
        self.covariance_prior_ = model["covariance_prior"]
        self.weight_concentration_ = params["weight_concentration"]
        self.mean_precision_ = params["mean_precision"]
        self.means_ = params["means"]
        self.degrees_of_freedom_ = params["degrees_of_freedom"]
        self.covariances_ = params["covariances"]
        self.precisions_cholesky_ = params["precisions_cholesky"]
        self.weights_ = _WEIGHT_PRIOR[model["weight_prior_type"]]["point"](
            params["weight_concentration"]
        )
        self.precisions_ = model["covariance"].precisions(params["precisions_cholesky"])

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

    # -- streaming: stochastic variational inference -----------------------

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
                model = data["model"]
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
                    _device_data(X, sample_weight, space)
                    if space is not None
                    else {
                        "X": None if is_dask_collection(X) else X,
                        "dask": X if is_dask_collection(X) else None,
                        "sample_weight": sample_weight,
                    }
                )
            statistics, log_norm, _ = self._expectation(dict(data, model=model), params)
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

    # -- prediction ---------------------------------------------------------

    def _current(self):
        """The fitted parameters and model, as the pure functions take them."""
        check_is_fitted(self)
        # The numpy originals of arrays fitted on another library's data.
        fitted = self._on_host()
        model = {**fitted._fitted_settings(), **fitted._fitted_model}
        model["covariance"] = COVARIANCE_TYPES[model["covariance_type"]]
        params = _complete(
            {
                "weight_concentration": fitted.weight_concentration_,
                "mean_precision": fitted.mean_precision_,
                "means": fitted.means_,
                "degrees_of_freedom": fitted.degrees_of_freedom_,
                "covariances": fitted.covariances_,
                "precisions_cholesky": fitted.precisions_cholesky_,
            },
            model,
        )
        params["scale"] = _wishart_scale(params, model)
        return params, model

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

    # The protocol of skvi.diagnostics (skvi/diagnostics/_protocol.py): what
    # its algorithms ask of this model, answered here where its maths lives
    # (the comment on the log joint at the end of this module).

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
        K = params["means"].shape[0]
        log_weights_q = _LOG_WEIGHT_DENSITY[model["weight_prior_type"]](
            draws["_log_weight_variables"], params["weight_concentration"]
        )
        log_q = _log_normal_wishart_pdf(
            draws,
            params["means"],
            params["mean_precision"],
            np.broadcast_to(params["degrees_of_freedom"], (K,)),
            params["scale"],
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
            centre=model["centre"],
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
        weight_prior = model["weight_prior_type"]
        log_weights_prior = _LOG_WEIGHT_DENSITY[weight_prior](
            draws["_log_weight_variables"],
            _PRIOR_CONCENTRATION[weight_prior](
                params["weight_concentration"], model["weight_concentration_prior"]
            ),
        )
        log_prior = _log_normal_wishart_pdf(
            draws,
            model["mean_prior"][None],
            model["mean_precision_prior"],
            model["degrees_of_freedom_prior"],
            model["prior_scale"][None],
        )
        return log_likelihood + log_weights_prior + np.sum(log_prior, axis=1)


# Per-row values of the fitted model, as pure functions of rows of X: the
# same on numpy input and on each dask chunk (VariationalEstimator._map_rows).


def _device_data(X, sample_weight, space):
    """The data of a fit on another array library's X: X and its weights there.

    The weights are checked on the host (numpy) and copied to X's device in
    X's dtype, once a fit.
    """
    return {
        "X": None,
        "array": X,
        "space": space,
        "sample_weight": sample_weight,
        "device_weight": None
        if sample_weight is None
        else to_namespace(sample_weight, space, dtype=space.compute_dtype(X.dtype)),
    }


def _on_host(data):
    """``data`` with X as numpy: a host copy of a device X, made once an initialisation.

    The initialisations (k-means, k-means++, random rows) are scikit-learn's
    numpy code, as in :func:`_init_kmeans`.
    """
    if data.get("array") is None:
        return data
    return dict(data, X=to_numpy(data["array"], data["space"]))


# The log joint of the model and log q at draws of theta from q, for the
# protocol of skvi.diagnostics (Bishop, PRML §10.2), theta = (pi, or the
# sticks v; mu_k; Lambda_k), with the assignments z summed out of the joint,
# a log-sum-exp over the K components:
#
#   log p(theta, X) = sum_i w_i log sum_{k<=K} pi_k Normal(x_i | mu_k, Lambda_k^-1)
#                     + log p(pi or v)
#                     + sum_k [log Normal(mu_k | m0, (beta0 Lambda_k)^-1)
#                              + log Wishart(Lambda_k | W0, nu0)]
#   log q(theta)    = log q(pi or v)
#                     + sum_k [log Normal(mu_k | m_k, (beta_k Lambda_k)^-1)
#                              + log Wishart(Lambda_k | W_k, nu_k)]
#
# For every covariance_type q(Lambda_k) is a Wishart whose scale W_k is
# restricted (diagonal, a multiple of I; 'tied': one common q for K
# independent Lambda_k), and the prior is a Wishart too (W0 diagonal or
# isotropic likewise): both are full Wishart densities of the full draws.
# The weights: under the Dirichlet prior the Dirichlet densities of pi on the
# simplex; under the stick-breaking prior the densities of the sticks v,
# prod_k Beta(v_k | 1, alpha0) and prod_k Beta(v_k | a_k, b_k), and the
# leftover mass prod_k (1 - v_k) belongs to no observed sample (the sum over
# k <= K, as in the ELBO). The priors are the fitted ones (_current's model).
# The weights' variables come in log space (_sample_posterior), so that a
# stick near 1 or a weight below float64's range keeps its density.
#
# Since log sum_k pi_k N_k >= sum_k r_ik log(pi_k N_k / r_ik) for any r_i,
# E_q[log p(theta, X) - log q(theta)] >= elbo_: summing z out exactly can only
# tighten the bound, by sum_i w_i E_q[KL(r_i || p(z_i | x_i, theta))], which
# vanishes where the responsibilities are 0 or 1.
#
# Cost: the data term is one pass over X per draw. For a block of draws and
# a block of rows, the Mahalanobis terms of all the draws' components come
# from one stacked product (_mahalanobis_full, with the draws' Cholesky
# factors in place of q's), then a log-sum-exp over components:
# O(n_draws n K d^2) flops and O(n_draws n K) exponentials, in blocks of the
# row-block engine (skvi._core.engine): each task a block of draws, passing over
# the row blocks in order. On a dask collection each chunk's per-draw sums
# are reduced on its worker (X is never gathered); the draws (O(n_draws K
# d^2) numbers) travel to each chunk's task.
#
# Label switching: the posterior has K! modes that differ by a permutation
# of the components (exactly symmetric under the Dirichlet prior; under the
# stick-breaking prior, which is not exchangeable, with unequal masses). q
# sits on one. k-hat and the corrected moments speak for that mode, which is
# what the fit is read as; the importance-sampling estimate of log p(X)
# misses the other modes' mass: for well-separated, all-occupied components
# it is low by log K! under the Dirichlet prior (by between 0 and log K!
# under the stick-breaking prior).
