"""VariationalGaussianMixture: scikit-learn's Bayesian Gaussian mixture by CAVI.

This module holds the estimator: its parameters, the reading of X (numpy,
dask or an array API device) and the hooks of the shared CAVI loop
(skvi._core.base). Its maths lives in the package's other rooms, each with
its equations: the covariance types (covariance), the weight priors
(weights), the priors' resolution (priors), the initialisations (init), the
E-step (estep), the M-step (mstep), the ELBO and scikit-learn's bound
(bound), partial_fit (svi), the fitted q and predictions (fitted), draws and the log
joint (protocol), the device passes (device), the fit's records (state).

The model (Bishop, PRML §10.2; Blei & Jordan 2006 for the stick-breaking
prior), for K components in d dimensions, sample i with frequency weight
w_i::

    weights  pi ~ Dirichlet(alpha0, ..., alpha0)      ("dirichlet_distribution")
             or pi_k = v_k prod_{j<k} (1 - v_j),
                v_k ~ Beta(1, alpha0), k = 1..K       ("dirichlet_process")
    components (mu_k, Lambda_k) ~ Normal(m0, (beta0 Lambda_k)^-1) Wishart(nu0, W0)
    z_i | pi ~ Categorical(pi);  x_i | z_i = k ~ Normal(mu_k, Lambda_k^-1)

The truncated stick-breaking prior leaves the mass prod_k (1 - v_k) to a
(K+1)-th component that no sample is assigned to (q(z_i = K+1) = 0), so the
model is proper and q(v_K) is a Beta like the others, as in scikit-learn.

Mean-field family q(Z) q(pi or v) prod_k q(mu_k | Lambda_k) q(Lambda_k) with
q(mu_k | Lambda_k) = Normal(m_k, (beta_k Lambda_k)^-1) and q(Lambda_k) a
Wishart(nu_k, W_k) whose scale W_k is restricted by covariance_type
(skvi._mixture.covariance). Each update maximises the ELBO over its factor,
so the ELBO of every covariance type never decreases (with reg_covar = 0).
The loop's iteration is scikit-learn's: an M-step on the last E-step's
statistics, then the E-step, stopped by scikit-learn's rule on its own bound.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006, §10.2.
D. M. Blei and M. I. Jordan, "Variational inference for Dirichlet process
mixtures", Bayesian Analysis 1(1), 2006.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numbers
from dataclasses import replace
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin

from .._core import array_api
from .._core.base import VariationalEstimator
from .._core.component_stats import sufficient_statistics
from .._core.namespaces import array_space, is_dask_collection
from .._core.parameters import NON_NEGATIVE_REAL, POSITIVE_INT, Interval, StrOptions
from .._core.stats import SufficientStatistics
from .._core.svi import SVI_CONSTRAINTS
from .._core.validation import check_data
from . import device
from .bound import (
    _checked_elbo,
    _kl_to_prior,
    _sklearn_lower_bound,
)
from .covariance import COVARIANCE_TYPES
from .estep import _blockwise_local, _merge_local
from .fitted import _FittedMixture
from .init import _Initialisation
from .mstep import _check_representable, _m_step
from .priors import _chunk_moments, _MixturePriors
from .protocol import _PosteriorDraws
from .state import EStep, MixtureData, MixtureState
from .svi import _StochasticVI


class VariationalGaussianMixture(
    _MixturePriors,
    _Initialisation,
    _StochasticVI,
    _PosteriorDraws,
    _FittedMixture,
    VariationalEstimator,
    DensityMixin,
    BaseEstimator,
):
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
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
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
            data = MixtureData.on_device(X, sample_weight, space)
            moments = array_api.statistics(
                X,
                data.device_weight,
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
            data = MixtureData(X=None, dask=X, sample_weight=sample_weight)
        else:
            n_samples = X.shape[0]
            moments = sufficient_statistics(
                X, sample_weight, scatter=scatter, estimator_name=type(self).__name__
            )
            data = MixtureData(X=X, sample_weight=sample_weight)
        _check_representable(moments.mean, moments.scatter)
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {n_samples}"
            )
        return replace(data, n_samples=n_samples, model=self._model(moments))

    # -- the hooks of the CAVI loop -----------------------------------------

    def _expectation(self, data, params):
        """The E-step over all of X, reduced to an :class:`EStep`.

        On a dask collection each chunk is reduced on its worker and only
        the statistics (O(K d^2) numbers) come back to the client.
        """
        if data.dask is not None:
            from .._core.dask_passes import dask_reduce

            local = _merge_local(
                dask_reduce(
                    data.dask,
                    data.sample_weight,
                    partial(_blockwise_local, params=params, model=data.model),
                    estimator_name=type(self).__name__,
                )
            )
        elif data.array is not None:
            local = device.local_step(
                data.array,
                data.device_weight,
                params,
                data.model,
                data.space,
                estimator_name=type(self).__name__,
            )
        else:
            local = _blockwise_local(data.X, data.sample_weight, params, data.model)
        return EStep(*local)

    def _initial_state(self, data, random_state):
        """The starting state (:meth:`_initial_state_quietly`), numpy's warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._initial_state_quietly(data, random_state)

    def _initial_state_quietly(self, data, random_state):
        statistics = self._start(data, random_state)
        params = _m_step(statistics, data.model)
        return MixtureState(params, self._expectation(data, params))

    def _sweep(self, data, state):
        """One sweep (:meth:`_sweep_quietly`), numpy's warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._sweep_quietly(data, state)

    def _sweep_quietly(self, data, state):
        """M-step on the last E-step's statistics, then the E-step."""
        params = _m_step(state.local.statistics, data.model)
        lower_bound = _sklearn_lower_bound(state.local.neg_entropy, params, data.model)
        return MixtureState(
            params,
            self._expectation(data, params),
            state.lower_bounds + (lower_bound,),
            state.start_bound,
        )

    def _elbo(self, data, state):
        """``sum_i w_i log sum_k rho_ik - KL(q(theta) || p(theta))`` (Bishop 10.70)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            kl = _kl_to_prior(state.params, data.model)
        return _checked_elbo(state.local.log_norm - kl)

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
        bounds = state.lower_bounds
        previous = bounds[-2] if len(bounds) > 1 else state.start_bound
        return abs(bounds[-1] - previous) < threshold

    def _total_weight(self, data):
        return data.model.total_weight

    def _check_increase(self, change, elbo, n_iter, data):
        """The ELBO-decrease guard, for exact CAVI only (``reg_covar=0``).

        scikit-learn's ``reg_covar`` adds ``reg_covar * N_k`` to the diagonal
        of each inverse Wishart scale: that M-step is not the maximiser of the
        ELBO over q(theta), so near convergence the ELBO can dip by a small
        amount that is no bug. With ``reg_covar > 0`` the guard is off; so
        it is for float32 X computed in float32 on a device (array API), whose
        rounding of the bound, about 1e-7 of it, is no bug either.
        """
        array = data.array
        in_float32 = (
            array is not None
            and data.space.compute_dtype(array.dtype) == data.space.xp.float32
        )
        if self.reg_covar == 0 and not in_float32:
            super()._check_increase(change, elbo, n_iter, data)

    def _fitted_state(self, data):
        """The last fit's state (:meth:`_fitted_state_quietly`), warnings off."""
        # Overflow is checked where it matters (_OVERFLOW, _checked_elbo).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._fitted_state_quietly(data)

    def _fitted_state_quietly(self, data):
        params = self._fitted_parameters(data.model)
        # scikit-learn's warm start measures its first change from here.
        return MixtureState(
            params, self._expectation(data, params), start_bound=self.lower_bound_
        )

    def _set_fitted(self, data, state):
        # fit starts afresh: a later partial_fit starts its step sizes anew.
        self.__dict__.pop("n_batch_iter_", None)
        self._store(data.model, state.params)
        self.lower_bounds_ = list(state.lower_bounds)
        self.lower_bound_ = self.lower_bounds_[-1] if self.lower_bounds_ else -np.inf
        self.n_samples_seen_ = data.model.total_weight

    # The protocol of skvi.diagnostics (skvi/diagnostics/_protocol.py): what
    # its algorithms ask of this model, answered here where its maths lives
    # (the comment on the log joint at the end of this module).
