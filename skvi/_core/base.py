"""The fitting loop shared by skvi's estimators; rollback on error; version stamps.

:class:`VariationalEstimator` runs coordinate ascent variational inference
(CAVI; Blei, Kucukelbir and McAuliffe, 2017, Algorithm 1) once for every
model, over abstract hooks that each model implements, in the manner of
scikit-learn's ``mixture._base.BaseMixture``. Around the loop: the ELBO
history and its guard against decreases, ``verbose`` output, the
``ConvergenceWarning``, ``score`` as the weighted mean of the ELBO shares,
a per-estimator lock, rollback of every attribute when a call fails, version
stamps on pickles and the placement of fitted arrays on X's device.

References
----------
D. M. Blei, A. Kucukelbir and J. D. McAuliffe, "Variational inference: a
review for statisticians", JASA 112(518), 2017.
"""

# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import math
import threading
import time
import warnings
import weakref
from abc import ABCMeta, abstractmethod
from functools import partial

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ..exceptions import (
    ConvergenceWarning,
    ELBODecreaseWarning,
    InconsistentVersionWarning,
)
from .namespaces import (
    array_space,
    check_same_space,
    float_dtypes,
    is_dask_collection,
    to_namespace,
    to_numpy,
)
from .parameters import validate_params
from .validation import check_data, check_sample_weight, validate_data

# A decrease of the ELBO smaller than this, relative to max(|ELBO|, W, 1), is
# rounding, not a bug.
_ELBO_DECREASE_RTOL = 1e-9


class VersionedStateMixin:
    """Stamp pickles with the skvi version and warn when another version loads them.

    scikit-learn stamps only classes defined in ``sklearn.*`` modules, so
    skvi stamps its own, the same way: the state carries ``_skvi_version`` and
    loading it with another skvi version emits
    :class:`~skvi.exceptions.InconsistentVersionWarning`.
    """

    def __getstate__(self):
        state = super().__getstate__()
        return dict(state.items(), _skvi_version=__version__)

    def __setstate__(self, state):
        state = dict(state)
        saved_version = state.pop("_skvi_version", "unknown")
        if saved_version != __version__:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_skvi_version=__version__,
                    original_skvi_version=saved_version,
                ),
                stacklevel=2,
            )
        super().__setstate__(state)


@contextlib.contextmanager
def restore_on_error(estimator):
    """Undo every attribute change an estimator makes if the block raises.

    A failed ``fit``, ``partial_fit`` or ``set_params``-then-``fit`` thus
    loses nothing that was fitted before it. Attributes are replaced, never
    mutated in place, by skvi's estimators, so a shallow copy suffices.
    """
    saved = estimator.__dict__.copy()
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise


# One lock per live estimator, held by fit and partial_fit. Kept outside the
# estimator so that it is never pickled, cloned or deep-copied with it.
_LOCKS = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _lock_of(estimator):
    with _LOCKS_GUARD:
        lock = _LOCKS.get(estimator)
        if lock is None:
            lock = _LOCKS[estimator] = threading.RLock()
        return lock


def _best_exponent(weights):
    """The power of two that brings the largest weight near 1, exactly."""
    largest = float(np.max(weights))
    return -np.frexp(largest)[1] if largest > 0 else 0


def _weighted_sums(scores, weights):
    """``(e, sum_i 2^e w_i s_i, sum_i 2^e w_i)`` of one part of the scores.

    The power of two ``2^e`` (exact) brings the part's largest weight near 1,
    so that sums of weights near float64's limits neither overflow nor lose
    the digits of subnormal weights; no weights count as ``w_i = 1, e = 0``.
    """
    if weights is None:
        return 0, float(np.sum(scores)), float(scores.shape[0])
    exponent = int(_best_exponent(weights))
    weights = np.ldexp(weights, exponent)
    return exponent, float(np.dot(weights, scores)), float(weights.sum())


def _chunk_weighted_sums(rows, weights, *, score_rows):
    """:func:`_weighted_sums` of ``score_rows(rows)``: one dask chunk's part."""
    return _weighted_sums(score_rows(rows), weights)


def _weighted_mean(parts):
    """``sum_i w_i s_i / sum_i w_i`` from the :func:`_weighted_sums` of the parts.

    Each part is brought to the scale of the largest weight, ``2^e`` with
    the smallest ``e`` (exact, but for contributions below float64's range),
    and the parts are added exactly rounded (``math.fsum``); one part gives
    its own quotient unchanged.
    """
    common = min(exponent for exponent, _, total in parts if total > 0)
    weighted = _sum([math.ldexp(value, common - e) for e, value, _ in parts])
    total = _sum([math.ldexp(total, common - e) for e, _, total in parts])
    return weighted / total


def _sum(values):
    """The exactly rounded sum of a few floats; numpy's if one is not finite."""
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(values))


class VariationalEstimator(VersionedStateMixin, metaclass=ABCMeta):
    """Base class of skvi's estimators: one CAVI loop for every model.

    A model lists it first, then scikit-learn's mixins, then
    ``BaseEstimator``: ``class Model(VariationalEstimator, DensityMixin,
    BaseEstimator)``, so that this class's ``score`` and pickling come first
    and scikit-learn's mixins still precede ``BaseEstimator``.

    A model supplies its statistics, its updates and its ELBO through small
    hooks, in the manner of scikit-learn's ``BaseMixture``; this class runs
    them (Blei, Kucukelbir and McAuliffe, 2017, Algorithm 1)::

        for each of n_init initialisations:
            state = _initial_state(data, random_state)
            repeat up to max_iter times:
                state = _sweep(data, state)          # every factor once
                elbo = _elbo(data, state)            # never decreases
                stop when _converged(elbo - previous, _convergence_threshold(data),
                                     state)  # |change| <= threshold by default
        keep the initialisation with the highest ELBO; _set_fitted(data, state)

    and does the bookkeeping around it: the ELBO history and its guard
    against decreases (:class:`~skvi.exceptions.ELBODecreaseWarning`, which
    can only mean a bug or a numerical breakdown, since each CAVI update
    maximises the ELBO over one factor), ``verbose`` output, the
    :class:`~sklearn.exceptions.ConvergenceWarning`, rollback of every
    attribute when a call fails, and version stamps on pickles.

    **The contract.** A model implements every hook below; they are
    abstract, so a model that misses one fails at instantiation with
    Python's ``TypeError`` naming it. ``data`` and ``state`` are the model's
    own types, opaque to the loop: ``data`` what ``_fit_data`` read (e.g. a
    frozen dataclass of sufficient statistics), ``state`` the variational
    parameters (a small dataclass per model). The loop only passes them from
    one hook to the next, never reads them, and keeps each initialisation's
    last state whole, so that the best one is the one set. ``_sweep``
    returns a new state rather than changing the one it was given;
    ``_elbo`` is pure: it returns a float and writes nothing.

    ``_fit_data(X, sample_weight, *, reset)``
        Validate ``X`` (``validate_data`` sets ``n_features_in_``) and read
        it; returns whatever the other hooks need (e.g. sufficient statistics).
    ``_initial_state(data, random_state)``
        The variational parameters to start from.
    ``_sweep(data, state)``
        One CAVI sweep: each factor updated once, given the others; the new state.
    ``_elbo(data, state)``
        The full ELBO at ``state``, with no constant dropped, as a float.
    ``_convergence_threshold(data)``
        The largest ELBO change that counts as converged.
    ``_set_fitted(data, state)``
        Store the model's fitted attributes.
    ``_sample_scorer()``
        ``rows -> score_samples(rows)``, a picklable function of the fitted
        model (``score`` on dask data maps it over the chunks).

    and may override ``_total_weight(data)`` (the scale of the ELBO guard),
    ``_converged(change, threshold, state)`` (the stopping rule) and, with
    ``warm_start``, ``_fitted_state(data)`` (the state of the last fit).

    The loop reads the options ``max_iter``, ``tol`` and ``verbose``, which
    every model takes, and ``n_init``, ``warm_start``, ``random_state`` and
    ``verbose_interval``, declared below with the value that a model which
    does not take them as parameters behaves with.

    **The meaning of** ``score_samples`` **in every skvi estimator.** It is
    each sample's share of the ELBO::

        score_samples(X)[i] = E_q[log p(x_i | theta, z_i)]
                              - KL(q(z_i) || p(z_i | theta))
                              - KL(q(theta) || p(theta)) / W_train

    where ``theta`` are the global parameters, ``z_i`` the sample's own
    latent variables (if the model has any, with ``q(z_i)`` their optimal
    factor given ``q(theta)``) and ``W_train`` the total training weight.
    Summed over the training samples with their weights it gives the ELBO:
    ``score(X_train, sample_weight=w) * sum(w) == elbo_``. On new data it is
    the ELBO that ``q`` earns per sample, higher is better, so that
    :class:`~sklearn.model_selection.GridSearchCV` compares priors and
    models with no scorer.
    """

    # Options of the loop that not every model takes: the behaviour of a model
    # without them. A model that takes one as a constructor parameter sets it
    # in __init__, which shadows the class attribute; scikit-learn's
    # get_params, clone and repr read the __init__ signature only, so these
    # are never mistaken for parameters.
    n_init = 1
    warm_start = False
    random_state = None
    verbose_interval = 1

    # The hooks (class docstring): each model implements all of them.

    @abstractmethod
    def _fit_data(self, X, sample_weight, *, reset):
        """Validate and read X; the data the other hooks need."""

    @abstractmethod
    def _initial_state(self, data, random_state):
        """The variational parameters to start from."""

    @abstractmethod
    def _sweep(self, data, state):
        """One CAVI sweep, every factor updated once; the new state."""

    @abstractmethod
    def _elbo(self, data, state):
        """The full ELBO at ``state``, a float; pure."""

    @abstractmethod
    def _convergence_threshold(self, data):
        """The largest ELBO change that counts as converged."""

    @abstractmethod
    def _set_fitted(self, data, state):
        """Store the fitted attributes of ``state``."""

    @abstractmethod
    def _sample_scorer(self):
        """``rows -> score_samples(rows)``, picklable, for :meth:`_map_rows`."""

    def fit(self, X, y=None, sample_weight=None):
        """Fit the variational posterior to X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. A pandas DataFrame sets ``feature_names_in_``; a
            dask array or DataFrame is read on the active dask scheduler
            (needs ``skvi[dask]``). Under scikit-learn's
            ``config_context(array_api_dispatch=True)``, a PyTorch or CuPy
            array is fitted on its device, and the fitted arrays stay there
            (user guide, "On a GPU").

        y : None
            Ignored; present for API consistency.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights: an integer weight ``k`` counts as
            ``k`` copies of the row, 0 drops it. None gives every sample
            weight 1.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with self._exclusive():
            data = self._fit_data(X, sample_weight, reset=True)
            self._run_cavi(data)
        return self

    @contextlib.contextmanager
    def _exclusive(self):
        """Validate the parameters, serialise calls across threads, roll back on error.

        scikit-learn's estimators are not thread-safe. skvi's ``fit`` and
        ``partial_fit`` take a per-estimator lock instead, so that chunks
        given to ``partial_fit`` from several threads are all merged, one call
        after another, and none is lost.
        """
        with _lock_of(self), restore_on_error(self):
            validate_params(self)
            # A fit on another array library's data (array API dispatch):
            # the code runs on the host copies of the fitted arrays, and the
            # data hook names where the new ones go (_fit_space).
            self.__dict__.update(self.__dict__.pop("_host_arrays", {}))
            yield
            self._place_fitted(self.__dict__.pop("_fit_space", None))

    def _place_fitted(self, space):
        """Move the fitted arrays to the namespace and device of the data.

        scikit-learn's rule for array API input: the fitted arrays live where
        X lived. The numpy originals stay in ``_host_arrays`` (a dict, so not
        an array attribute), for the host-side code (:meth:`_on_host`).
        """
        if space is None:
            return
        host = {}
        for name, value in list(self.__dict__.items()):
            if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                host[name] = value
                self.__dict__[name] = to_namespace(value, space)
        self._host_arrays = host

    def _on_host(self):
        """This estimator with its fitted arrays as numpy, for host-side code.

        Itself when fitted on numpy; else a shallow twin holding the numpy
        originals of the arrays fitted on another library (the estimator is
        not changed: read-only methods stay thread-safe).
        """
        host = self.__dict__.get("_host_arrays")
        if not host:
            return self
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.__dict__.update(host)
        del twin.__dict__["_host_arrays"]
        return twin

    def _fitted_space(self):
        """The fitted arrays' :class:`~skvi._core.namespaces.ArraySpace`, or None."""
        host = self.__dict__.get("_host_arrays")
        if not host:
            return None
        return array_space(getattr(self, next(iter(host))))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # fit, predict, score_samples, ... compute in the namespace of X
        # under array_api_dispatch (skvi._core.array_api; docs/guide/gpu.md).
        tags.array_api_support = True
        return tags

    def _run_cavi(self, data):
        """Run CAVI from each initialisation; keep the best and set the attributes."""
        max_iter = self.max_iter
        warm = self.warm_start and hasattr(self, "converged_")
        n_init = 1 if warm else self.n_init
        random_state = check_random_state(self.random_state)
        threshold = self._convergence_threshold(data)
        best = None
        for init in range(n_init):
            if self.verbose:
                print(f"Initialization {init}")
            start = time.perf_counter()
            state = (
                self._fitted_state(data)
                if warm
                else self._initial_state(data, random_state)
            )
            history = []
            converged = False
            # A warm start continues the last fit: its first change is
            # measured from that fit's ELBO, as scikit-learn measures it from
            # lower_bound_, so that one-iteration warm fits can converge.
            previous = self.elbo_ if warm else -np.inf
            if max_iter == 0:
                history.append(self._elbo(data, state))
            for n_iter in range(1, max_iter + 1):
                state = self._sweep(data, state)
                elbo = self._elbo(data, state)
                change = elbo - (history[-1] if history else previous)
                if history:
                    # (The last fit's ELBO may be on other data: no guard.)
                    self._check_increase(change, elbo, n_iter, data)
                history.append(elbo)
                if self.verbose and n_iter % self.verbose_interval == 0:
                    line = f"  Iteration {n_iter}\t ELBO {elbo:.10g}"
                    if self.verbose >= 2:
                        line += (
                            f"\t change {change:.3e}"
                            f"\t time lapse {time.perf_counter() - start:.5f}s"
                        )
                    print(line)
                if self._converged(change, threshold, state):
                    converged = True
                    break
            if self.verbose:
                status = "converged" if converged else "did not converge"
                print(f"Initialization {status} after {len(history)} iteration(s).")
            if best is None or history[-1] > best[0][-1]:
                best = (history, converged, state)
        history, converged, state = best
        self._set_fitted(data, state)
        if not converged and max_iter > 0:
            warnings.warn(
                f"CAVI did not converge in max_iter={max_iter} iterations "
                f"(tol={self.tol}) in the best of {n_init} initialization(s). "
                "Increase max_iter or tol, try other initializations, or check "
                "for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.elbo_history_ = np.asarray(history, dtype=np.float64)
        self.elbo_ = float(history[-1])
        self.n_iter_ = len(history) if max_iter > 0 else 0
        self.converged_ = converged

    def _converged(self, change, threshold, state):
        """The stopping rule: the ELBO changed by at most the threshold."""
        return abs(change) <= threshold

    def _check_increase(self, change, elbo, n_iter, data):
        """Warn when the ELBO decreased by more than rounding."""
        scale = max(abs(elbo), self._total_weight(data), 1.0)
        if change < -_ELBO_DECREASE_RTOL * scale:
            warnings.warn(
                f"The ELBO decreased by {-change:.3e} at iteration {n_iter}. "
                "Coordinate ascent cannot decrease it: this is a bug or a "
                "numerical breakdown; please report the data and priors.",
                ELBODecreaseWarning,
                stacklevel=4,
            )

    def _total_weight(self, data):
        """Total sample weight ``W`` of the data being fitted (for scales)."""
        return 1.0

    def _fitted_state(self, data):
        """The state of the last fit, for ``warm_start`` (models that have it)."""
        raise NotImplementedError

    def score(self, X, y=None, sample_weight=None):
        """Mean of :meth:`score_samples` over X: the ELBO per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the features seen in fit. On a dask array or DataFrame
            each row chunk is scored and summed on its worker, and only
            three numbers per chunk come back: X is never gathered.

        y : None
            Ignored; present for API consistency.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the average; any non-negative finite values, however
            large or small. With dask X, a dask array or Series too, as in
            ``fit``.

        Returns
        -------
        score : float
            The weighted mean of ``score_samples(X)``. On the training data
            with its weights, ``score * W_train == elbo_``. Higher is better.
        """
        if is_dask_collection(X):
            from .dask_passes import dask_reduce

            check_is_fitted(self)
            X, sample_weight = check_data(self, X, sample_weight, reset=False)
            parts = dask_reduce(
                X,
                sample_weight,
                partial(_chunk_weighted_sums, score_rows=self._sample_scorer()),
                check_total_weight=False,
                estimator_name=type(self).__name__,
            )
        else:
            # Scores on a device come to the host: n numbers, once.
            scores = np.asarray(to_numpy(self.score_samples(X)), dtype=np.float64)
            sample_weight = check_sample_weight(sample_weight, scores[:, np.newaxis])
            parts = [_weighted_sums(scores, sample_weight)]
        return float(_weighted_mean(parts))

    def _map_rows(
        self,
        X,
        row_function,
        *,
        dtype=np.float64,
        n_columns=None,
        device_function=None,
        method="score_samples",
    ):
        """``row_function`` of the checked rows of X, the fitted model's per-row values.

        numpy and pandas X are checked whole and mapped at once. A dask
        array or DataFrame is checked on the client for what its metadata
        tell (dimensions, dtypes, the number and names of the features seen
        in fit), and mapped chunk by chunk on the workers by
        :func:`skvi._core.dask_passes.dask_map_rows`: the result is a lazy dask array
        with X's row chunks, and X is never gathered.

        Parameters
        ----------
        X : array-like, pandas DataFrame, dask array or dask DataFrame \
                of shape (n_samples, n_features)
        row_function : callable
            ``row_function(rows) -> values``, a picklable pure function of a
            float ndarray of rows.
        dtype : dtype, default=np.float64
            The dtype of ``values``.
        n_columns : int, default=None
            The number of columns of ``values``; None for one value per row.
        device_function : callable, default=None
            ``device_function(rows, space) -> values`` for X of another array
            API library under ``array_api_dispatch`` (:mod:`skvi._core.array_api`); the
            values stay on X's device.
        method : str, default="score_samples"
            The public method, named in the error for X on another namespace
            or device than the fit's.

        Returns
        -------
        values : ndarray or dask.array.Array of shape (n_samples,) or \
                (n_samples, n_columns)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            from .dask_passes import dask_map_rows

            X, _ = check_data(self, X, reset=False)
            return dask_map_rows(
                X,
                row_function,
                dtype=dtype,
                n_columns=n_columns,
                estimator_name=type(self).__name__,
            )
        check_same_space(X, self, method, self._fitted_space())
        space = array_space(X)
        X = validate_data(self, X, reset=False, dtype=float_dtypes(space))
        if space is not None:
            return device_function(X, space)
        return row_function(X)
