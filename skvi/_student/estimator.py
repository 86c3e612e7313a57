"""The Student-t model's estimator: :class:`VariationalStudentEstimator`.

The class is the user's manual (its docstring: the model, parameters,
attributes, Notes and references), its parameters and the fit: the hooks of
the shared CAVI loop (``skvi._core.base.VariationalEstimator``) over the
typed data and states of :mod:`skvi._student.updates`, which holds the
updates and their maths; ``partial_fit``, whose steps are in
:mod:`skvi._student.svi`; and ``score_samples``, each sample's share of the
ELBO. What a fitted posterior answers (each entry's expected weight, draws,
credible intervals, the diagnostics' log joint) it inherits from
:class:`~skvi._student.posterior.StudentPosteriorMixin`.
"""

# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import replace
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin

from .._core.base import VariationalEstimator
from .._core.families.gamma import gamma_expectations
from .._core.normal_gamma import (
    _PRIOR_NAMES,
    PRIOR_CONSTRAINTS,
    _check_representable,
    _MeanFieldDraws,
    _unit_information_priors,
    fitted_kl,
    given_priors,
)
from .._core.parameters import (
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    POSITIVE_REAL,
    StrOptions,
)
from .._core.svi import SVI_CONSTRAINTS, svi_step_size
from .._core.validation import check_data
from .posterior import StudentPosteriorMixin
from .svi import _scaled_batch, _stochastic_step
from .updates import (
    StudentData,
    StudentStart,
    _better_of,
    _cavi_sweep,
    _elbo,
    _extrapolate,
    _feature_elbo,
    _first_sweep,
    _sample_scores,
    _weighted_moments,
)

# What partial_fit keeps between its calls (the step count t and the weight
# seen), which fit clears: a later partial_fit starts its step sizes anew.
_STREAM_ATTRIBUTES = ("n_batch_iter_", "_weight_seen")


class VariationalStudentEstimator(
    VariationalEstimator,
    StudentPosteriorMixin,
    _MeanFieldDraws,
    DensityMixin,
    BaseEstimator,
):
    """Robust posterior of the mean and noise of each feature: Student-t noise.

    Each column ``j`` of X is modelled as independent draws with unknown
    location ``mu_j`` and precision ``tau_j`` and heavy-tailed noise, as a
    scale mixture of Normals::

        mu_j  ~ Normal(prior_mean, prior_std**2)
        tau_j ~ Gamma(shape=prior_shape, rate=prior_rate)
        w_ij  ~ Gamma(nu/2, rate=nu/2)
        x_ij | mu_j, tau_j, w_ij ~ Normal(mu_j, 1 / (w_ij tau_j))

    so that ``x_ij | mu_j, tau_j ~ Student-t(nu, mu_j, 1/tau_j)``, with ``nu =
    degrees_of_freedom``. An outlier gets a small weight ``w_ij`` and so
    little say in ``mu_j``: one value 50 sds out moves the posterior mean
    little, where it would move that of
    :class:`~skvi.VariationalNormalEstimator` by its whole share. The posterior
    is approximated by ``q(mu_j) q(tau_j) prod_i q(w_ij)`` = Normal, Gamma and
    Gamma factors, fitted by CAVI; unlike the Normal model, each iteration
    passes over X (the weights change). :meth:`partial_fit` streams batches
    by stochastic VI.

    Parameters
    ----------
    prior_mean, prior_std, prior_shape, prior_rate : float, array-like of \
            shape (n_features,) or None, default=None
        The priors on ``mu`` and ``tau``, as in
        :class:`~skvi.VariationalNormalEstimator`, resolved from the data by
        the same rule where None (the unit-information prior: ``mu ~
        Normal(xbar, v)``, ``tau ~ Gamma(1/2, v/2)`` from each feature's
        weighted mean ``xbar`` and variance ``v``). Outliers widen ``v`` and
        so make this default prior vaguer, never tighter.

    degrees_of_freedom : float, default=4.0
        Degrees of freedom ``nu > 0`` of the Student-t noise: small values
        give heavy tails (``nu = 1`` is the Cauchy), large ones tend to the
        Normal model. With ``degrees_of_freedom_update="fit"``, the start.

    degrees_of_freedom_update : {"fixed", "fit"}, default="fixed"
        ``"fixed"``: every feature's ``nu`` is ``degrees_of_freedom``.
        ``"fit"``: each feature's ``nu`` maximises the ELBO, updated in each
        sweep given q(w) by a bounded 1-D search in ``[0.01, 1e6]`` (Notes).
        A feature with no heavy tail gets a large ``nu`` (hundreds or more:
        the ELBO is nearly flat there, and the fit stops on it).

    max_iter : int, default=100
        Maximum number of CAVI sweeps (passes over X); >= 1.

    tol : float, default=1e-8
        The fit has converged when the ELBO changes by at most
        ``tol * max(W, 1)`` between sweeps (``W`` the total sample weight): a
        change per sample, as in the Normal model. >= 0.

    verbose : int, default=0
        Print the ELBO at every iteration when > 0.

    learning_decay : float, default=0.7
        kappa in (0.5, 1] of the step size ``(learning_offset + t)^-kappa`` of
        :meth:`partial_fit` (named as in
        :class:`~skvi.VariationalGaussianMixture`).

    learning_offset : float, default=10.0
        tau0 >= 0 of that step size; it down-weights the early batches.

    total_samples : float, default=1e6
        Total weight ``N`` of the data set that :meth:`partial_fit` streams
        through (the batch statistics are scaled up to it): set it to the
        number of rows. It sets the width of the posterior; a stream cannot
        know it, and counting the rows seen would grow it with every epoch.

    Attributes
    ----------
    posterior_mean_, posterior_std_ : ndarray of shape (n_features,)
        Mean ``m`` and standard deviation ``s`` of q(mu).

    posterior_shape_, posterior_rate_ : ndarray of shape (n_features,)
        Shape ``a`` and rate ``b`` of q(tau).

    noise_std_ : ndarray of shape (n_features,)
        ``1 / sqrt(E_q[tau])``, the scale of the Student-t noise (its sd is
        that times ``sqrt(nu / (nu - 2))`` for ``nu > 2``).

    degrees_of_freedom_ : ndarray of shape (n_features,)
        Each feature's ``nu``: ``degrees_of_freedom`` everywhere unless
        fitted.

    prior_mean_, prior_std_, prior_shape_, prior_rate_ : ndarray of shape (n_features,)
        The priors used: those given, broadcast, and those resolved from the data.

    sample_mean_ : ndarray of shape (n_features,)
        Weighted mean of the data (not robust), for comparison.

    n_samples_seen_ : float
        Total sample weight ``W`` that q's KL is shared among in
        ``score_samples``: the training weight for fit, ``total_samples``
        after partial_fit.

    n_batch_iter_ : int
        Number of partial_fit steps since the start or the last fit (t of
        the step size); absent after fit.

    elbo_ : float
        Evidence lower bound of the final fit, with all constants:
        ``elbo_ <= log p(X)``, comparable with the Normal model's. After
        partial_fit, the last batch's estimate of it (:meth:`partial_fit`).

    elbo_history_ : ndarray of shape (n_iter_,)
        The ELBO after each sweep of the last fit; non-decreasing.

    n_iter_ : int
        Number of CAVI sweeps run.

    converged_ : bool
        Whether the ELBO change fell within ``tol`` before ``max_iter``.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    VariationalNormalEstimator : The same priors with Normal noise.
    sklearn.linear_model.HuberRegressor : A robust point estimate of a linear fit.

    Notes
    -----
    CAVI updates (Bishop, PRML §10.1 and §2.3.7; the ELBO is written out
    beside the code, in ``skvi/_student/updates.py``): ``q(w_ij) = Gamma((nu
    + 1)/2, (nu + c_ij)/2)`` with ``c_ij =
    E[tau]((x_ij - m)**2 + s**2)``; q(mu) and q(tau) are the Normal model's
    updates with each entry weighted by ``E[w_ij]`` (the shape of q(tau) still
    counts every sample: ``a = prior_shape + W/2``). Each iteration is one pass
    over X through the row-block engine, on every core; dask input is reduced
    chunk by chunk on the workers, one pass per iteration (persist it first).

    With ``degrees_of_freedom_update="fit"``, each sweep also sets each
    feature's ``nu`` to the root of the ELBO's derivative in ``nu`` given
    q(w) (the ECM step of Liu and Rubin, 1995), which keeps the ELBO
    non-decreasing; ``nu`` is a point estimate, not a posterior.

    The expected weights of the fit are those of :meth:`outlier_weights` on
    the training data (q(w) is updated last, from the final q(mu) q(tau)); a
    method rather than an ``(n_samples, n_features)`` attribute, so that the
    fitted estimator stays the size of its parameters, and so that new data
    can be scored too.

    ``partial_fit`` is stochastic VI (Hoffman et al., 2013), as the mixture's:
    every sweep needs every row (the weights ``E[w_ij]`` change with q(mu)
    q(tau)), so batches cannot be merged exactly as the Normal model merges
    them. Each call computes the batch's q(w) at the current q(mu) q(tau),
    then moves the natural parameters of q(mu), then of q(tau), a step
    ``rho_t = (learning_offset + t)^-learning_decay`` towards the CAVI update
    of ``total_samples`` rows like the batch: with ``rho = 1`` and a batch of
    all ``N`` rows, one CAVI sweep. A fitted nu takes ``rho_t`` times the
    Newton step on ``log nu`` of the batch's ELBO (q(w) optimal given nu);
    the sweep's ECM step would climb the ridge between nu and the noise
    scale too slowly. On 1e5 rows of Student-t(4) data in batches of 1,000,
    five epochs leave the posterior mean within 0.3 posterior sds of fit's
    and the noise scale within 0.2 of its sd; with nu fitted, nu 1% from
    fit's and the noise scale within 0.4 sds (``tests/test_student.py``).
    The first call is fit on its batch, its weights scaled to
    ``total_samples``. The priors (resolved from the first batch
    where None) and a fixed nu are those of the fit being continued.

    ``score_samples`` is each sample's share of the ELBO (q(w) of the sample
    optimal given q(mu) q(tau)), so that ``score(X_train) * W == elbo_``.

    References
    ----------
    .. [1] C. M. Bishop, "Pattern Recognition and Machine Learning", Springer,
       2006, §2.3.7 (the Student-t as a scale mixture) and §10.1.
    .. [2] C. Archambeau and M. Verleysen, "Robust Bayesian clustering",
       Neural Networks 20(1), 2007.
    .. [3] C. Liu and D. B. Rubin, "ML estimation of the t distribution using
       EM and its extensions, ECM and ECME", Statistica Sinica 5, 1995.
    .. [4] R. Varadhan and C. Roland, "Simple and globally convergent methods
       for accelerating the convergence of any EM algorithm", Scandinavian
       Journal of Statistics 35(2), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi import VariationalStudentEstimator
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(10.0, 1.0, size=(200, 1))
    >>> X[:2] = 60.0  # two gross outliers
    >>> est = VariationalStudentEstimator().fit(X)
    >>> bool(abs(est.posterior_mean_[0] - 10.0) < 0.2)
    True
    >>> w = est.outlier_weights(X)
    >>> bool(w[:2].max() < 0.01 < 0.3 < w[2:].min())
    True

    A stream, by stochastic VI (``total_samples`` its number of rows):

    >>> stream = VariationalStudentEstimator(total_samples=len(X))
    >>> for batch in np.array_split(X, 4):
    ...     stream = stream.partial_fit(batch)
    >>> bool(abs(stream.posterior_mean_[0] - 10.0) < 0.3)
    True
    """

    _parameter_constraints = {
        **PRIOR_CONSTRAINTS,
        "degrees_of_freedom": [POSITIVE_REAL],
        "degrees_of_freedom_update": [StrOptions({"fixed", "fit"})],
        "max_iter": [POSITIVE_INT],
        "tol": [NON_NEGATIVE_REAL],
        "verbose": ["verbose"],
        # partial_fit's stochastic VI: the mixture's parameters and checks.
        **SVI_CONSTRAINTS,
    }

    def __init__(
        self,
        prior_mean=None,
        prior_std=None,
        prior_shape=None,
        prior_rate=None,
        degrees_of_freedom=4.0,
        degrees_of_freedom_update="fixed",
        max_iter=100,
        tol=1e-8,
        verbose=0,
        learning_decay=0.7,
        learning_offset=10.0,
        total_samples=1e6,
    ):
        self.prior_mean = prior_mean
        self.prior_std = prior_std
        self.prior_shape = prior_shape
        self.prior_rate = prior_rate
        self.degrees_of_freedom = degrees_of_freedom
        self.degrees_of_freedom_update = degrees_of_freedom_update
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.total_samples = total_samples

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Not yet on the array API dispatch (skvi._core.array_api): its passes
        # over X are numpy's and dask's.
        tags.array_api_support = False
        return tags

    def _fit_data(self, X, sample_weight, *, reset):
        """Validate X and the priors, read the Normal statistics once, resolve priors.

        The statistics (W, xbar, S) resolve the priors left None by the
        Normal model's rule and start q(w) at its prior (E[w] = 1); their
        pass also finds NaN and infinity, as in the Normal model.
        """
        # A later partial_fit batch may have zero weight (it then changes nothing).
        X, sample_weight = check_data(
            self,
            X,
            sample_weight,
            reset=reset,
            allow_all_zero=not reset,
            ensure_all_finite=False,
        )
        priors = given_priors(self)
        moments = _weighted_moments(
            X,
            sample_weight,
            allow_all_zero=not reset,
            estimator_name=type(self).__name__,
        )
        weight, reference, offset, sum_of_squares = moments
        if not all(np.all(np.isfinite(moment)) for moment in moments[1:]):
            raise ValueError(
                "The mean or spread of X overflows float64 (values beyond about "
                "1e150). Rescale X, and the priors with it, before fitting."
            )
        data_mean = reference + offset
        from_data = _unit_information_priors(weight, data_mean, sum_of_squares)
        if self.verbose:
            print(f"CAVI on {data_mean.shape[0]} feature(s), total weight {weight:g}")
        return StudentData(
            X=X,
            sample_weight=sample_weight,
            weight=weight,
            data_mean=data_mean,
            sum_of_squares=sum_of_squares,
            prior=tuple(
                from_data[name] if priors[name] is None else priors[name]
                for name in _PRIOR_NAMES
            ),
            fit_dof=self.degrees_of_freedom_update == "fit",
        )

    # The hooks of skvi._core.base.VariationalEstimator's CAVI loop, over the
    # typed contract of skvi._student.updates: StudentData, then StudentStart
    # and StudentState.

    def _initial_state(self, data, random_state):
        """q(tau) and every q(w) at their priors: E[tau] = a0/b0, E[w] = 1."""
        _, _, prior_shape, prior_rate = data.prior
        with np.errstate(over="ignore", divide="ignore"):
            precision_mean = gamma_expectations(prior_shape, prior_rate)[0]
        return StudentStart(
            dof=np.full_like(data.data_mean, float(self.degrees_of_freedom)),
            precision_mean=precision_mean,
            weight_w=np.full_like(data.data_mean, data.weight),
            mean_w=data.data_mean,
            sum_of_squares_w=data.sum_of_squares,
        )

    def _sweep(self, data, state):
        """Two CAVI sweeps, then a squared extrapolation kept where it is better.

        Each sweep is one pass over X (:func:`~skvi._student.updates._cavi_sweep`);
        the extrapolation (:func:`~skvi._student.updates._extrapolate`) costs a
        third pass, and each feature keeps it only where its ELBO is at least
        that of the second sweep, so the ELBO never decreases. From the start
        (no q(mu) q(tau) to extrapolate from), one sweep.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if isinstance(state, StudentStart):
                return _first_sweep(data, state)
            first = _cavi_sweep(data, state)
            second = _cavi_sweep(data, first)
            jumped = _extrapolate(data, state, first, second)
            second_elbo = _feature_elbo(data, second)
            better = np.isfinite(jumped.std) & (
                _feature_elbo(data, jumped)
                >= second_elbo - 1e-13 * np.maximum(np.abs(second_elbo), 1.0)
            )
        return _better_of(better, jumped, second)

    def _elbo(self, data, state):
        """``sum_ij v_i l_ij - KL(q(mu) q(tau) || prior)`` (skvi._student.updates)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return _elbo(data, state)

    def _convergence_threshold(self, data):
        """``tol`` bounds the ELBO's change per unit of weight: ``tol * max(W, 1)``."""
        return self.tol * max(data.weight, 1.0)

    def _total_weight(self, data):
        return data.weight

    def _set_fitted(self, data, state):
        """Set the fitted attributes from the final state of fit."""
        self._set_posterior(data, state, self._elbo(data, state))
        # fit starts afresh: a later partial_fit starts its step sizes anew.
        for name in _STREAM_ATTRIBUTES:
            self.__dict__.pop(name, None)

    def _set_posterior(self, data, state, elbo):
        """Set the fitted q, nu and priors of ``state``, refused out of float64's range.

        ``elbo`` is the state's ELBO, checked with q (fit's, or partial_fit's
        estimate of it).
        """
        # (The shared check reads q(mu) q(tau) and the ELBO by name.)
        _check_representable({**vars(state), "elbo": elbo})
        self._fitted_dof_update = self.degrees_of_freedom_update
        self.n_samples_seen_ = data.weight
        self.sample_mean_ = data.data_mean
        for name, value in zip(_PRIOR_NAMES, data.prior, strict=True):
            setattr(self, f"{name}_", np.asarray(value, dtype=np.float64))
        self.degrees_of_freedom_ = state.dof
        self.posterior_mean_ = state.mean
        self.posterior_std_ = state.std
        self.posterior_shape_ = state.shape
        self.posterior_rate_ = state.rate
        self.noise_std_ = 1.0 / np.sqrt(state.precision_mean)

    def partial_fit(self, X, y=None, sample_weight=None):
        """One step of stochastic variational inference on a batch of rows.

        Hoffman, Blei, Wang and Paisley (2013), Algorithm 1, as
        :meth:`VariationalGaussianMixture.partial_fit
        <skvi.VariationalGaussianMixture.partial_fit>` does it: the batch's
        q(w_ij), optimal at the current q(mu) q(tau) (the local step), then
        a step of each global factor's natural parameters towards the CAVI
        update that the data would give if they were the batch replicated up
        to ``total_samples``: ``eta <- (1 - rho_t) eta + rho_t eta_hat``, with
        ``rho_t = (learning_offset + t)^-learning_decay``, t = 1, 2, ...
        (Notes). With ``degrees_of_freedom_update="fit"``, each feature's nu
        takes ``rho_t`` times the Newton step on ``log nu`` (Notes).

        The first call (on an unfitted estimator) is ``fit`` on its batch
        with the weights scaled to total ``total_samples`` (the priors left
        None resolved from the batch; ``elbo_history_``, ``n_iter_`` and
        ``converged_`` describe that fit): where steps with ``rho = 1`` on
        that batch alone would lead, a better start than the prior for the
        noise scale, which plain steps correct slowly. A fitted estimator (by
        ``fit`` or ``partial_fit``) continues from its q, with its priors and
        nu (changed by ``set_params`` at the next ``fit``; a change of
        ``degrees_of_freedom_update`` is refused). After ``fit``, ``t``
        starts again at 1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch of rows, with the features of the earlier ones. A dask
            array or DataFrame is reduced on the workers.

        y : None
            Ignored; present for API consistency.

        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights of the batch; a later batch of zero weight
            changes nothing.

        Returns
        -------
        self : VariationalStudentEstimator
            ``elbo_`` then holds the batch's estimate of the ELBO of the
            updated q on ``total_samples`` rows, ``score(X, sample_weight) *
            total_samples`` (taken on the batch that moved q, so a little
            optimistic); ``n_samples_seen_`` is ``total_samples``, the weight
            that q's KL is shared among in ``score_samples``.

        Examples
        --------
        >>> import numpy as np
        >>> from skvi import VariationalStudentEstimator
        >>> rng = np.random.default_rng(0)
        >>> X = 10.0 + rng.standard_t(4.0, size=(20_000, 1))
        >>> est = VariationalStudentEstimator(total_samples=len(X))
        >>> for epoch in range(3):
        ...     for batch in np.array_split(X, 20):
        ...         est = est.partial_fit(batch)
        >>> whole = VariationalStudentEstimator().fit(X)
        >>> shift = (est.posterior_mean_ - whole.posterior_mean_) / whole.posterior_std_
        >>> bool(abs(shift[0]) < 3.0)
        True
        """
        with self._exclusive():
            first = not hasattr(self, "posterior_mean_")
            if not first:
                self._check_dof_update()
            data = self._fit_data(X, sample_weight, reset=first)
            if not data.weight > 0:
                return self  # a batch of zero weight has nothing to teach
            total = float(self.total_samples)
            if first:
                # fit on the batch replicated to N (weights times N / W_B): q
                # starts where rho = 1 steps on this batch alone would lead.
                self._run_cavi(_scaled_batch(data, total))
                self._weight_seen = data.weight
                self.n_batch_iter_ = 1
                return self
            # The fit being continued keeps its priors.
            data = replace(
                data, prior=tuple(getattr(self, f"{n}_") for n in _PRIOR_NAMES)
            )
            fitted = (
                self.posterior_mean_,
                self.posterior_std_,
                self.posterior_shape_,
                self.posterior_rate_,
                self.degrees_of_freedom_,
            )
            seen = getattr(self, "_weight_seen", self.n_samples_seen_)
            iteration = getattr(self, "n_batch_iter_", 0) + 1
            # rho_t <= 1: t >= 1 and learning_offset >= 0.
            rho = float(
                svi_step_size(iteration, self.learning_offset, self.learning_decay)
            )
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                state, elbo = _stochastic_step(data, fitted, rho, total)
            seen += data.weight
            sample_mean = self.sample_mean_
            self._set_posterior(
                replace(
                    data,
                    weight=total,
                    data_mean=sample_mean
                    + (data.weight / seen) * (data.data_mean - sample_mean),
                ),
                state,
                elbo,
            )
            self._weight_seen = seen
            self.n_batch_iter_ = iteration
            self.elbo_ = elbo
            if self.verbose:
                print(f"  Batch {iteration}\t rho {rho:.4g}\t ELBO {elbo:.10g}")
        return self

    def _check_dof_update(self):
        """Refuse to continue q with another ``degrees_of_freedom_update``."""
        fitted = getattr(self, "_fitted_dof_update", self.degrees_of_freedom_update)
        if fitted != self.degrees_of_freedom_update:
            raise ValueError(
                "partial_fit continues the fitted q, which has "
                f"degrees_of_freedom_update = {fitted!r}, but "
                f"degrees_of_freedom_update is now {self.degrees_of_freedom_update!r}."
                " Call fit (or use a new estimator) to start again."
            )

    def score_samples(self, X):
        """Each sample's share of the ELBO.

        ``sum_j l_ij - KL(q || prior) / W``, with ``l_ij`` the entry's
        expected log-likelihood under its optimal q(w_ij) (Notes), so that
        the scores of the training samples (unit weights) sum to ``elbo_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the features seen in fit; a dask array or DataFrame is
            scored chunk by chunk on the workers.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher is better. For dask X, a lazy dask array.
        """
        return self._map_rows(X, self._sample_scorer())

    def _sample_scorer(self):
        """``rows -> score_samples(rows)``, the fitted posterior bound."""
        posterior = self._posterior()
        kl = fitted_kl(self)
        return partial(_sample_scores, **posterior, kl=kl / self.n_samples_seen_)
