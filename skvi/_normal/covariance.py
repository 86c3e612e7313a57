"""The interface of each covariance type of the Normal model: one record, chosen once.

``VariationalNormalEstimator`` holds two models under one public surface:
``covariance_type="diag"``, independent features with ``q(mu_j) q(tau_j)``
(:mod:`skvi._normal.diag`), and ``"full"``, multivariate rows with
``q(mu) q(Lambda)`` (:mod:`skvi._normal.full_covariance`). Each module
exposes one :class:`CovarianceType` record of the same functions (its data
and state are its own frozen dataclasses); the estimator chooses the record
once, from ``covariance_type`` for a fit and from the attributes only that
type sets for a fitted estimator, and calls it with no other branch on the
type, the way scikit-learn's mixtures keep one small function per
covariance type. Both types read X by one route
(:mod:`skvi._normal.statistics`): :class:`~skvi._core.stats.SufficientStatistics`
with a diagonal or a full scatter, merged by ``partial_fit`` the same way.
"""

# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Start:
    """Where CAVI starts: the precision's factor at its prior, no sweep done.

    Attributes
    ----------
    precision_mean : ndarray
        ``E[tau] = a0 / b0`` (diag, shape (n_features,)) or
        ``E[Lambda] = nu0 W0`` (full, (n_features, n_features), in the fit's
        units): q(mu) is updated first, from it.
    sweeps : int
        0: the first sweep is plain CAVI (each type's state counts on).
    """

    precision_mean: np.ndarray
    sweeps: int = 0


@dataclass(frozen=True)
class CovarianceType:
    """The functions of one covariance type, called by the estimator's hooks.

    Attributes
    ----------
    name : {"diag", "full"}
        The ``covariance_type``, and the scatter its statistics keep.
    attributes : tuple of str
        The fitted attributes that only this type sets: a fit of another
        type deletes them, and ``partial_fit`` recognises a fit of this type
        by them.
    check_chunk : callable
        ``(statistics, weighted) -> None``: refuse a chunk's statistics
        before they are merged.
    fit_data : callable
        ``(statistics, priors) -> data``: the type's data (a frozen
        dataclass), with the priors left None resolved from the statistics.
    initial_state : callable
        ``data -> Start``.
    sweep : callable
        ``(data, state) -> state``: one CAVI sweep (the state is the type's
        frozen dataclass, or :class:`Start`).
    elbo : callable
        ``(data, state) -> float``: the full ELBO; writes nothing.
    fitted_attributes : callable
        ``(data, state, elbo) -> dict``: q's fitted attributes by name, after
        checking that the fit is representable in float64.
    sample_scorer : callable
        ``estimator -> (rows -> scores)``: picklable ``score_samples``.
    device_terms : callable
        ``scorer keywords -> (metric, constant)``: the quadratic form's
        matrix (``E[tau]``, or a factor ``U`` of ``E[Lambda] = U^T U``) and
        the row-independent terms of the scores, for X on a device
        (:mod:`skvi._normal.device`).
    draw : callable
        ``(estimator, n_samples, random_state) -> (mu, tau or Lambda)``.
    interval : callable
        ``(estimator, statistics, prior, level) -> (lower, upper)``: the
        exact central interval of each ``mu_j``.
    """

    name: str
    attributes: tuple
    check_chunk: Callable
    fit_data: Callable
    initial_state: Callable
    sweep: Callable
    elbo: Callable
    fitted_attributes: Callable
    sample_scorer: Callable
    device_terms: Callable
    draw: Callable
    interval: Callable
