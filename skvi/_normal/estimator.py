"""VariationalNormalEstimator: the mean and noise of Normal features, by CAVI.

The estimator does validation, bookkeeping and the protocol, as
scikit-learn's estimators do; the maths is in its rooms:
:mod:`skvi._normal.diag` (independent features, q(mu_j) q(tau_j)) and
:mod:`skvi._normal.full_covariance` (a full precision matrix, q(mu)
q(Lambda)), one record per ``covariance_type`` (:mod:`skvi._normal.covariance`)
chosen once; the data are read by one route (:mod:`skvi._normal.statistics`);
the fitted posterior's draws, intervals and the diagnostics' answers are
:class:`skvi._normal.posterior.NormalPosteriorMixin`'s. The CAVI loop is
:class:`skvi._core.base.VariationalEstimator`'s.
"""

# SPDX-License-Identifier: BSD-3-Clause

import dataclasses
import warnings

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted

from .._core.base import VariationalEstimator
from .._core.normal_gamma import (
    _CONFLICT_SDS,
    PRIOR_CONSTRAINTS,
    _MeanFieldDraws,
    prior_data_conflicts,
)
from .._core.parameters import NON_NEGATIVE_REAL, POSITIVE_INT, StrOptions
from ..exceptions import PriorDataConflictWarning
from .device import device_scorer
from .diag import DIAG
from .full_covariance import FULL
from .posterior import NormalPosteriorMixin
from .statistics import fit_statistics

# One record per covariance_type (skvi._normal.covariance).
_COVARIANCE_TYPES = {"diag": DIAG, "full": FULL}


class VariationalNormalEstimator(
    VariationalEstimator,
    NormalPosteriorMixin,
    _MeanFieldDraws,
    DensityMixin,
    BaseEstimator,
):
    """Posterior of the mean and noise of each feature, by variational inference.

    Each column ``j`` of X is modelled as independent draws from a Normal
    distribution with unknown mean ``mu_j`` and precision ``tau_j``::

        mu_j  ~ Normal(prior_mean, prior_std**2)
        tau_j ~ Gamma(shape=prior_shape, rate=prior_rate)
        x_ij | mu_j, tau_j ~ Normal(mu_j, 1 / tau_j)

    The posterior is approximated by ``q(mu_j) q(tau_j) = Normal(m_j, s_j**2)
    Gamma(a_j, b_j)``, fitted by coordinate-ascent variational inference
    (CAVI) on weighted sufficient statistics: the data are read once, and each
    iteration costs O(n_features).

    Parameters
    ----------
    prior_mean : float, array-like of shape (n_features,) or None, default=None
        Mean of the Normal prior on each feature's mean ``mu``. None takes it
        from the data: the weighted data mean (the unit-information prior,
        see Notes).

        .. versionchanged:: 0.3
           The default is None (from the data); it was 0.0.

    prior_std : float, array-like of shape (n_features,) or None, default=None
        Standard deviation of the Normal prior on ``mu``; > 0. Any positive
        float64 works, from a very tight 1e-300 to a very vague 1e300 (with
        ``covariance_type="full"``, from 1.5e-154, the square root of
        float64's smallest normal number, to 1e300). None takes it from the
        data: the data's standard deviation (see Notes).

        .. versionchanged:: 0.3
           The default is None (from the data); it was 1.0.

    prior_shape : float, array-like of shape (n_features,) or None, default=None
        Shape of the Gamma prior on each feature's precision ``tau``; > 0.
        None takes 1/2 (the unit-information prior, see Notes).

        .. versionchanged:: 0.3
           The default is None (1/2); it was 1.0.

    prior_rate : float, array-like of shape (n_features,) or None, default=None
        Rate (inverse scale) of the Gamma prior on ``tau``; > 0. The prior
        mean of ``tau`` is ``prior_shape / prior_rate``. None takes it from
        the data: half the data's variance (see Notes).

        .. versionchanged:: 0.3
           The default is None (from the data); it was 1.0. The former
           default prior is ``VariationalNormalEstimator(prior_mean=0.0,
           prior_std=1.0, prior_shape=1.0, prior_rate=1.0)``.

    max_iter : int, default=100
        Maximum number of CAVI sweeps; >= 1.

    tol : float, default=1e-8
        The fit has converged when the ELBO changes by at most
        ``tol * max(W, 1)`` between two sweeps, where ``W`` is the total sample
        weight (the number of samples with unit weights): ``tol`` bounds the
        change of the ELBO per sample. >= 0. From the second sweep on, each
        sweep solves for CAVI's fixed point exactly (see Notes), so the fit
        usually converges in 3 sweeps with its parameters accurate to
        rounding, whatever ``tol``; plain CAVI, whose parameters are only
        accurate to about ``sqrt(tol)``, can need hundreds of sweeps when few
        samples disagree with the prior.

    verbose : int, default=0
        Print the ELBO at every iteration when > 0.

    covariance_type : {"diag", "full"}, default="diag"
        ``"diag"``: the features are independent, each with its own mean and
        precision (the model above). ``"full"``: the rows are multivariate
        Normal, ``x_i ~ Normal(mu, Lambda^-1)`` with a full precision matrix
        ``Lambda``, ``mu ~ Normal(prior_mean, diag(prior_std**2))`` and
        ``Lambda ~ Wishart(2 prior_shape + d - 1, diag(1 / (2 prior_rate)))``,
        fitted with ``q(mu) q(Lambda) = Normal(m, S_mu) Wishart(nu, W)`` (see
        Notes). ``prior_shape`` must then be one number for all features.

    Attributes
    ----------
    posterior_mean_ : ndarray of shape (n_features,)
        Mean ``m`` of q(mu).

    posterior_std_ : ndarray of shape (n_features,)
        Standard deviation ``s`` of q(mu).

    posterior_shape_ : ndarray of shape (n_features,)
        Shape ``a`` of q(tau).

    posterior_rate_ : ndarray of shape (n_features,)
        Rate ``b`` of q(tau).

    noise_std_ : ndarray of shape (n_features,)
        Point summary of the noise standard deviation ``1/sqrt(tau)``:
        ``1 / sqrt(E_q[tau]) = sqrt(b / a)``. With many samples it tends to the
        (weighted, biased) sample standard deviation. For ``"full"``,
        ``sqrt(diag(noise_covariance_))``.

    posterior_covariance_ : ndarray of shape (n_features, n_features)
        (``"full"`` only) Covariance ``S_mu`` of q(mu); ``posterior_std_`` is
        the square root of its diagonal.

    posterior_dof_ : float
        (``"full"`` only) Degrees of freedom ``nu`` of q(Lambda).

    posterior_scale_ : ndarray of shape (n_features, n_features)
        (``"full"`` only) Scale matrix ``W`` of q(Lambda); ``E_q[Lambda] = nu W``.

    noise_covariance_ : ndarray of shape (n_features, n_features)
        (``"full"`` only) Point summary of the noise covariance,
        ``E_q[Lambda]^-1``.

    prior_dof_ : float
        (``"full"`` only) Degrees of freedom ``nu0 = 2 prior_shape + d - 1``
        of the Wishart prior.

    prior_scale_ : ndarray of shape (n_features, n_features)
        (``"full"`` only) Scale matrix ``W0 = diag(1 / (2 prior_rate))`` of the
        Wishart prior.

    prior_mean_, prior_std_, prior_shape_, prior_rate_ : ndarray of shape (n_features,)
        The priors used, one value per feature: those given, broadcast, and
        those resolved from the data where the parameter is None.

    elbo_ : float
        Evidence lower bound of the final fit, summed over features, with all
        constants: ``elbo_ <= log p(X)``.

    elbo_history_ : ndarray of shape (n_iter_,)
        The ELBO after each iteration; non-decreasing. With a prior wildly
        at odds with the data, the first iterates can be so far from both
        that their ELBO lies below float64's range, -1.8e308: those entries
        are -inf. ``elbo_`` itself is always finite.

    n_iter_ : int
        Number of CAVI iterations run.

    sample_mean_ : ndarray of shape (n_features,)
        Weighted mean of the data seen (``xbar``), for comparison with
        ``posterior_mean_``, which lies between it and ``prior_mean``.

    n_samples_seen_ : float
        Total sample weight ``W`` seen by ``fit`` or by all ``partial_fit``
        calls (the number of samples with unit weights).

    converged_ : bool
        Whether the ELBO change fell within ``tol`` before ``max_iter``.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : Variational Gaussian mixture; with
        ``n_components=1`` and ``covariance_type="diag"`` the closest peer, but
        its bound drops constants and it takes no sample weights.
    scipy.stats.bayes_mvs : Frequentist-flavoured intervals for mean and spread.

    Notes
    -----
    Which attributes exist depends on ``covariance_type``:
    ``posterior_shape_`` and ``posterior_rate_`` (the Gamma factors) for
    ``"diag"`` only; ``posterior_covariance_``, ``posterior_dof_``,
    ``posterior_scale_``, ``noise_covariance_``, ``prior_dof_`` and
    ``prior_scale_`` for ``"full"`` only; the others for both.

    With ``covariance_type="full"`` (Bishop, PRML §10.2.1 and §2.3.6), the
    prior on ``mu`` has the diagonal covariance ``diag(prior_std**2)``, and
    the Wishart prior ``Wishart(nu0, W0)`` with ``nu0 = 2 prior_shape + d - 1``
    and ``W0 = diag(1 / (2 prior_rate))`` gives each feature's noise variance
    ``(Lambda^-1)_jj`` the marginal prior ``InvGamma(prior_shape,
    prior_rate)``, that of ``1 / tau_j`` in the diagonal model; with one
    feature the two models are the same. CAVI updates::

        S_mu^-1 = diag(prior_std**-2) + W E[Lambda]
        m       = S_mu (diag(prior_std**-2) prior_mean + W E[Lambda] xbar)
        nu      = nu0 + W
        W^-1    = W0^-1 + S + W (xbar - m)(xbar - m)^T + W S_mu

    with ``S`` the weighted scatter matrix; the ELBO keeps every constant.
    After one plain sweep, each sweep iterates these updates until
    ``E[Lambda]`` stops changing (at most 1000 times), so the parameters are
    CAVI's fixed point to rounding whatever ``tol``. dask input is read as
    for ``"diag"``: each row chunk reduced to its statistics on its worker,
    merged exactly on the client.

    All fitted arrays are float64, whatever the dtype of X; statistics are
    accumulated in float64 with a numerically stable, blockwise pass.

    ``sample_weight`` are frequency weights: an integer weight ``k`` is the
    same as repeating the row ``k`` times; 0 drops the row.

    scipy.sparse input is refused (convert it with ``.toarray()``): every entry
    is an observation in this model, so implicit zeros would be data.

    CAVI's sweeps map ``E[tau]`` to a new value by an increasing function,
    so plain CAVI creeps, monotonically and sometimes slowly, to a fixed point
    of that map. After one plain sweep, each sweep solves for that fixed point
    (Steffensen's method on ``log E[tau]``, kept inside a bracket) and updates
    q from it; where that would not raise a feature's ELBO, the plain sweep is
    kept. The result is the point plain CAVI converges to, to rounding.

    The default priors (each parameter None) are the *unit-information
    prior* (Kass and Wasserman, 1995), a prior worth one observation,
    resolved from the data: ``mu ~ Normal(xbar, v)`` and ``tau ~ Gamma(1/2,
    rate=v/2)``, so that ``E[tau] = 1/v``, where ``xbar`` and ``v = S/W`` are
    the weighted sample mean and variance of the feature (a constant feature
    uses ``v = xbar**2``, or 1 when ``xbar = 0``). Each parameter given as a
    number replaces the data's choice for that parameter only. The rule needs
    no second pass over the data, and ``partial_fit`` and dask input resolve
    it from all the data seen so far, so it still equals ``fit`` on the
    concatenation. The resolved values are in the ``prior_*_`` attributes.
    ``skvi fit`` uses the same priors, and scikit-learn's
    ``BayesianGaussianMixture`` resolves ``mean_prior=None`` the same way, for
    the same reason: a fixed default such as ``Normal(0, 1)`` is a strong
    claim about data in other units (for data around 1e6 it gives a posterior
    mean near 0 and a noise sd near 1e6). Since such a prior depends on the
    data, it changes from one cross-validation fold to the next; to compare
    priors with :class:`~sklearn.model_selection.GridSearchCV`, give numbers
    (``None`` is a valid grid value too).

    With ``covariance_type="full"`` the same rule resolves the same four
    parameters per feature, from the diagonal of the scatter matrix: the
    Wishart prior is then ``Wishart(d, diag(1 / v))``, so that each feature's
    noise variance ``(Lambda^-1)_jj`` has the marginal prior ``InvGamma(1/2,
    v/2)``, as ``1 / tau_j`` has in the diagonal model. The prior's scale
    matrix stays diagonal: the data's correlations reach the posterior
    through the scatter matrix, and putting them in the prior as well would
    count them twice.

    When a prior given explicitly conflicts with the data so much that it,
    not the data, decides a posterior mean (``|posterior_mean_ -
    sample_mean_| > 2 posterior_std_`` for some feature), the fit warns with
    :class:`~skvi.exceptions.PriorDataConflictWarning`, which documents the
    rule. The data-resolved priors never trigger it.

    ``score_samples`` gives each sample's share of the ELBO, so that
    ``score(X_train) * n_train == elbo_`` for unit weights; higher is better,
    and model selection with :class:`~sklearn.model_selection.GridSearchCV`
    over the priors needs no scorer (see :class:`skvi._core.base.VariationalEstimator`
    for the one meaning of ``score_samples`` in every skvi estimator).

    ``fit`` and ``partial_fit`` on one estimator may be called from several
    threads: the calls are serialised, and every chunk is merged.

    References
    ----------
    .. [1] C. M. Bishop, "Pattern Recognition and Machine Learning", Springer,
       2006, §10.1.3 (variational inference for a univariate Gaussian).
    .. [2] D. M. Blei, A. Kucukelbir and J. D. McAuliffe, "Variational
       inference: a review for statisticians", JASA 112(518), 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi import VariationalNormalEstimator
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(0.3, 1.0, size=(100, 1))
    >>> est = VariationalNormalEstimator().fit(X)
    >>> est.posterior_mean_.round(2), est.posterior_std_.round(2)
    (array([0.38]), array([0.1]))
    >>> est.prior_mean_.round(2), est.prior_std_.round(2)  # from the data
    (array([0.38]), array([0.96]))
    >>> lower, upper = est.credible_interval(0.95)
    >>> bool(lower[0] < 0.3 < upper[0])
    True

    Correlated features, with a full noise covariance:

    >>> C = [[1.0, 0.8], [0.8, 1.0]]
    >>> X = rng.multivariate_normal([0.0, 1.0], C, size=500)
    >>> est = VariationalNormalEstimator(covariance_type="full").fit(X)
    >>> est.noise_covariance_.round(1)
    array([[1. , 0.8],
           [0.8, 1. ]])
    """

    _parameter_constraints = {
        **PRIOR_CONSTRAINTS,
        "max_iter": [POSITIVE_INT],
        "tol": [NON_NEGATIVE_REAL],
        "verbose": ["verbose"],
        "covariance_type": [StrOptions({"diag", "full"})],
    }

    def __init__(
        self,
        prior_mean=None,
        prior_std=None,
        prior_shape=None,
        prior_rate=None,
        max_iter=100,
        tol=1e-8,
        verbose=0,
        covariance_type="diag",
    ):
        self.prior_mean = prior_mean
        self.prior_std = prior_std
        self.prior_shape = prior_shape
        self.prior_rate = prior_rate
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.covariance_type = covariance_type

    def partial_fit(self, X, y=None, sample_weight=None):
        """Add a chunk of data and refit on everything seen so far.

        The chunk's sufficient statistics are merged into the running ones
        with the parallel formulas of Chan et al. (1979), then CAVI is run on
        the merged statistics from the prior. After any sequence of chunks the
        estimator equals ``fit`` on their concatenation, to rounding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of data, with the same features as earlier chunks.

        y : None
            Ignored; present for API consistency.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights for this chunk.

        Returns
        -------
        self : VariationalNormalEstimator
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from skvi import VariationalNormalEstimator
        >>> X = np.random.default_rng(0).normal(size=(1000, 2))
        >>> streamed = VariationalNormalEstimator()
        >>> for chunk in np.array_split(X, 10):
        ...     streamed = streamed.partial_fit(chunk)
        >>> whole = VariationalNormalEstimator().fit(X)
        >>> bool(np.allclose(streamed.posterior_mean_, whole.posterior_mean_))
        True
        """
        with self._exclusive():
            first_call = not hasattr(self, "n_samples_seen_")
            data = self._fit_data(X, sample_weight, reset=first_call)
            self._run_cavi(data)
        return self

    def _fit_data(self, X, sample_weight, *, reset):
        """Validate X, sample_weight and the priors, read X once, resolve the priors.

        One route for both covariance types (skvi._normal.statistics): the
        sufficient statistics, merged on a ``partial_fit`` after the first
        into the running ones; then the covariance type's record makes its
        data of them (``fit_data``: the priors given as None resolved from
        the statistics).

        Returns
        -------
        data : DiagData or FullData
            The covariance type's data (skvi._normal.diag, .full_covariance).
        """
        covariance_type = self._covariance_type()
        if not reset and self._fitted_type() is not covariance_type:
            raise ValueError(
                "partial_fit cannot change covariance_type: the statistics seen so "
                f"far are not those of covariance_type={self.covariance_type!r}. "
                "Call fit to start again with the new covariance_type."
            )
        priors, statistics = fit_statistics(
            self, X, sample_weight, covariance_type=covariance_type, reset=reset
        )
        data = covariance_type.fit_data(statistics, priors)
        if self.verbose:
            print(
                f"CAVI on {data.data_mean.shape[0]} feature(s), "
                f"total weight {data.weight:g}"
            )
        return data

    # The hooks of skvi._core.base.VariationalEstimator's CAVI loop, each the
    # covariance type's (skvi._normal.covariance), chosen once.

    def _covariance_type(self):
        """The record of the ``covariance_type`` being fitted."""
        return _COVARIANCE_TYPES[self.covariance_type]

    def _initial_state(self, data, random_state):
        """q(tau) (or q(Lambda)) at its prior; q(mu) is updated first."""
        return self._covariance_type().initial_state(data)

    def _sweep(self, data, state):
        """A CAVI sweep: q(mu), then q(tau); from the second on, to the fixed point.

        The first sweep from the prior is plain CAVI, so that ``elbo_history_``
        shows the climb; each later one solves for CAVI's fixed point (see
        skvi._normal.diag and skvi._normal.full_covariance), so the
        parameters are exact to rounding within a few sweeps whatever ``tol``.
        """
        return self._covariance_type().sweep(data, state)

    def _elbo(self, data, state):
        """``E_q[log p(X | mu, tau)] - KL(q || prior)``, summed; writes nothing."""
        return self._covariance_type().elbo(data, state)

    def _convergence_threshold(self, data):
        """``tol`` bounds the ELBO's change per unit of weight: ``tol * max(W, 1)``."""
        return self.tol * max(data.weight, 1.0)

    def _total_weight(self, data):
        """``W``, the scale of the ELBO-decrease guard."""
        return data.weight

    def _set_fitted(self, data, state):
        """Set the fitted attributes from the final state.

        The record checks that the fit is representable (q's parameters and
        the ELBO, passed explicitly) before anything is set; the attributes
        that only the other type sets (its declared list) are then deleted.
        """
        covariance_type = self._covariance_type()
        # The final state's ELBO (the loop's last; _elbo writes nothing).
        elbo = covariance_type.elbo(data, state)
        fitted = covariance_type.fitted_attributes(data, state, elbo)
        for other in _COVARIANCE_TYPES.values():
            if other is not covariance_type:
                for name in other.attributes:
                    self.__dict__.pop(name, None)
        self.n_samples_seen_ = data.weight
        self.sample_mean_ = data.data_mean
        # The statistics, kept for partial_fit: the mean as reference + offset
        # keeps every digit of the spread when later chunks are merged. Its
        # arrays in a dict, not the SufficientStatistics object: joblib
        # memory-maps them, and skops loads them trusting only this class.
        self._statistics = dataclasses.asdict(data.statistics)
        for name, value in data.priors.items():
            setattr(self, f"{name}_", np.asarray(value, dtype=np.float64))
        for name, value in fitted.items():
            setattr(self, name, value)

    def _run_cavi(self, data):
        """The shared CAVI loop, then the check of a given prior against the data."""
        super()._run_cavi(data)
        self._warn_prior_conflict()

    def _warn_prior_conflict(self):
        """Warn when a given prior on mu decides a posterior mean (see the rule)."""
        conflicts = prior_data_conflicts(
            self.sample_mean_, self.posterior_mean_, self.posterior_std_
        )
        if not conflicts.any():
            return
        names = getattr(self, "feature_names_in_", None)
        named = [
            str(names[j]) if names is not None else str(j)
            for j in np.flatnonzero(conflicts)
        ]
        shown = ", ".join(named[:5]) + (", ..." if len(named) > 5 else "")
        warnings.warn(
            f"The prior on mu, not the data, decides the posterior mean of "
            f"{len(named)} of {self.n_features_in_} feature(s) ({shown}): it is "
            f"more than {_CONFLICT_SDS:g} posterior sds from the data mean. If "
            "that prior is not what you know, widen prior_std, or leave "
            "prior_mean and prior_std at None (the default) to resolve them "
            "from the data.",
            PriorDataConflictWarning,
            stacklevel=4,
        )

    def score_samples(self, X):
        """Each sample's share of the ELBO.

        ``sum_j E_q[log Normal(x_ij | mu_j, 1/tau_j)] - KL(q || prior) / W``,
        where ``W`` is the total training weight, so that the scores of the
        training samples (unit weights) sum to ``elbo_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the features seen in fit. A dask array or DataFrame is
            scored chunk by chunk on the workers (it is never gathered).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher is better. For dask X, a lazy dask array with X's row
            chunks.
        """
        return self._map_rows(
            X, self._sample_scorer(), device_function=self._device_scorer()
        )

    def _device_scorer(self):
        """``(rows, space) -> score_samples(rows)`` for X on a device (array API).

        ``constant - 1/2 (x - m)^T E[Lambda] (x - m)``: the row-independent
        terms, at ``x = m``, less ``KL / W``, are computed once on the host,
        from the same formulas as the numpy path (skvi._normal.device).
        """
        return device_scorer(self._fitted_type(), self._sample_scorer())

    def _sample_scorer(self):
        """``rows -> score_samples(rows)``, the fitted posterior bound."""
        check_is_fitted(self)
        # The numpy originals of arrays fitted on another library's data.
        host = self._on_host()
        return host._fitted_type().sample_scorer(host)

    def _fitted_type(self):
        """The record of the covariance type fitted: the one whose attributes exist."""
        for covariance_type in _COVARIANCE_TYPES.values():
            if all(hasattr(self, name) for name in covariance_type.attributes):
                return covariance_type
        raise AttributeError("no covariance type's attributes are fitted")

    def __setstate__(self, state):
        """Load pickles of skvi 0.3, whose diagonal fits kept ``(W, xbar, S)`` apart."""
        state = dict(state)
        if "_sum_of_squares" in state:
            state["_statistics"] = {
                "weight": np.array([state["n_samples_seen_"]], dtype=np.float64),
                "reference": state.pop("_reference"),
                "offset": state.pop("_offset")[None],
                "scatter": state.pop("_sum_of_squares")[None],
            }
        super().__setstate__(state)
