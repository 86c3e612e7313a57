"""The Student-t model's CAVI: q(w)'s pass over X, the sweep, nu, SQUAREM, the ELBO.

What a fit of :class:`~skvi.VariationalStudentEstimator` computes, as pure
functions of its typed contract: :class:`StudentData` (what the fit reads of
X, once) and the states of q (:class:`StudentStart`, then
:class:`StudentState`). The maths is in the comments beside the code: the
model, the CAVI updates and the ELBO (Bishop, PRML §2.3.7 and §10.1;
Archambeau and Verleysen, 2007), the ECM step on nu (Liu and Rubin, 1995) and
the SQUAREM extrapolation of the sweeps (Varadhan and Roland, 2008). Every
pass over X goes through the row-block engine (:mod:`skvi._core.engine`), or
dask's reduction (:mod:`skvi._core.dask_passes`), with the same block
function.

References
----------
.. [1] C. M. Bishop, "Pattern Recognition and Machine Learning", Springer,
   2006, §2.3.7 and §10.1.
.. [2] C. Archambeau and M. Verleysen, "Robust Bayesian clustering", Neural
   Networks 20(1), 2007.
.. [3] C. Liu and D. B. Rubin, "ML estimation of the t distribution using EM
   and its extensions, ECM and ECME", Statistica Sinica 5, 1995.
.. [4] R. Varadhan and C. Roland, "Simple and globally convergent methods for
   accelerating the convergence of any EM algorithm", Scandinavian Journal of
   Statistics 35(2), 2008.
"""

# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import dataclass, fields
from functools import partial

import numpy as np
from scipy.special import betaln, digamma

from .._core import engine
from .._core.families.gamma import gamma_expectations
from .._core.families.normal import LOG_2PI
from .._core.moments import weighted_moments_about
from .._core.namespaces import is_dask_collection
from .._core.normal_gamma import _kl_to_prior, _update_mean
from .._core.stats import _chan_merge

# The model, for each feature j (Bishop, PRML §2.3.7, the Student-t as a scale
# mixture of Normals; Archambeau and Verleysen, 2007, for the variational treatment):
#
#     mu_j  ~ Normal(m0, s0**2),   tau_j ~ Gamma(a0, b0)      (the Normal's priors)
#     w_ij  ~ Gamma(nu/2, nu/2)                               (shape, rate)
#     x_ij | mu_j, tau_j, w_ij ~ Normal(mu_j, 1/(w_ij tau_j))  (row i has weight v_i)
#
# Integrating w_ij out gives x_ij ~ Student-t(nu, mu_j, 1/tau_j) (PRML eq.
# 2.161): an outlier gets a small w_ij and so little say in mu_j and tau_j.
# Mean field q(mu_j) q(tau_j) prod_i q(w_ij). With c_ij = E[tau]
# ((x_ij - m)**2 + s**2), the CAVI updates (log q* = E_{-z}[log p] + const,
# Bishop eq. 10.9) are:
#
#   q(w_ij) = Gamma(alpha, beta_ij),  alpha = (nu + 1)/2,  beta_ij = (nu + c_ij)/2
#   q(mu):    the Normal's update with the weights v_i E[w_ij]: their total
#             A = sum_i v_i E[w_i] and mean xbar_w = sum_i v_i E[w_i] x_i / A
#   q(tau):   a = a0 + V/2 (V = sum_i v_i),
#             b = b0 + (S_w + A (xbar_w - m)**2 + A s**2)/2,
#             S_w = sum_i v_i E[w_i] (x_i - xbar_w)**2.
#
# ELBO. With q(w_ij) optimal given q(mu) q(tau), each row's share of
# E[log p(x, w | mu, tau)] - E[log q(w)] is the log-normaliser of q*(w_ij)
# (log of the integral of exp E_{-w}[log p] over w):
#
#   l_ij = (E[log tau] - log 2 pi)/2 + (nu/2) log(nu/2) - log Gamma(nu/2)
#          + log Gamma(alpha) - alpha log beta_ij
#        = (E[log tau] - log 2 pi)/2 + log Gamma(alpha) - log Gamma(nu/2)
#          - log(nu/2)/2 - alpha log(1 + c_ij/nu)
#
# so that ELBO = sum_ij v_i l_ij - KL(q(mu)||p(mu)) - KL(q(tau)||p(tau)), every
# constant kept. (As nu -> inf, l_ij -> the Normal's E[log N(x | mu, 1/tau)].)
# A sweep updates q(mu), q(tau), then every q(w_ij) (one pass over X, which
# also gives the sums the next sweep needs and sum_i v_i log(1 + c_ij/nu)): each
# update maximises the ELBO over one factor, so it never decreases, and the
# state ends with q(w) optimal, which score_samples recomputes from q(mu)
# q(tau) alone: score(X_train) * V == elbo_. q(w) starts at its prior (E[w] = 1,
# the Normal's statistics) and q(tau) at its prior.


@dataclass(frozen=True)
class StudentData:
    """What a fit reads of X once: the data, its Normal statistics, the priors.

    Attributes
    ----------
    X : ndarray or dask array of shape (n_samples, n_features)
        The data, checked; every sweep passes over it.
    sample_weight : ndarray of shape (n_samples,) or None
        The weights ``v_i`` (None: all 1).
    weight : float
        ``W = sum_i v_i``.
    data_mean, sum_of_squares : ndarray of shape (n_features,)
        The weighted mean ``xbar`` and ``S = sum_i v_i (x_i - xbar)**2``: the
        sums of q(w) at its prior (E[w] = 1), where the fit starts.
    prior : tuple of 4 floats or ndarrays of shape (n_features,)
        ``(m0, s0, a0, b0)``, the priors on ``mu`` and ``tau``, resolved.
    fit_dof : bool
        Whether nu is fitted (``degrees_of_freedom_update="fit"``).
    """

    X: object
    sample_weight: object
    weight: float
    data_mean: np.ndarray
    sum_of_squares: np.ndarray
    prior: tuple
    fit_dof: bool


@dataclass(frozen=True)
class StudentStart:
    """Where CAVI starts: q(tau) and every q(w) at their priors; no q(mu) yet.

    ``dof`` is nu, ``precision_mean`` is ``E[tau] = a0 / b0`` and the sums are
    those of E[w] = 1: ``weight_w = W``, ``mean_w = xbar``, ``sum_of_squares_w
    = S``. The first sweep starts with q(mu), which needs nothing more.
    """

    dof: np.ndarray
    precision_mean: np.ndarray
    weight_w: np.ndarray
    mean_w: np.ndarray
    sum_of_squares_w: np.ndarray


@dataclass(frozen=True)
class StudentState:
    """q(mu) q(tau), nu, and every q(w_ij) optimal for them (one pass over X).

    ``mean``, ``std`` are ``m``, ``s`` of q(mu); ``shape``, ``rate`` are
    ``a``, ``b`` of q(tau), with ``precision_mean = E[tau]`` and
    ``log_precision_mean = E[log tau]``; ``dof`` is nu. The sums of q(w)
    (:func:`_row_moments`), per feature: ``weight_w = A = sum_i v_i E[w_i]``,
    ``mean_w = xbar_w``, ``sum_of_squares_w = S_w``, ``log_excess = L =
    sum_i v_i log(1 + c_i/nu)`` and ``square_w = Q = sum_i v_i E[w_i]**2``.
    """

    dof: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    shape: np.ndarray
    rate: np.ndarray
    precision_mean: np.ndarray
    log_precision_mean: np.ndarray
    weight_w: np.ndarray
    mean_w: np.ndarray
    sum_of_squares_w: np.ndarray
    log_excess: np.ndarray
    square_w: np.ndarray


def _weighted_moments(X, sample_weight, *, allow_all_zero=False, estimator_name):
    """``(W, reference, offset, S)`` of X (numpy or dask): the Normal statistics.

    One pass over X (dask: on the workers), as the Normal model reads them;
    ``xbar = reference + offset``. It also finds NaN and infinity in X.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if is_dask_collection(X):
            from .._core.dask_passes import dask_moments_about

            return dask_moments_about(
                X,
                sample_weight,
                allow_all_zero=allow_all_zero,
                estimator_name=estimator_name,
            )
        return weighted_moments_about(X, sample_weight, estimator_name=estimator_name)


_LOG_PI = np.log(np.pi)


def _row_moments(rows, weights, *, mean, std, precision_mean, dof):
    """q(w) of each entry from q(mu) q(tau); the sums the next sweep needs.

    ``z = (x - m) sqrt(E[tau])`` is the deviation in noise units, ``c = z**2 +
    E[tau] s**2`` and ``E[w] = (nu + 1)/(nu + c)``. Returns ``(A, offset,
    S_z, L, Q)`` per feature: ``A = sum_i v_i E[w_i]``, the E[w]-weighted mean
    and centred sum of squares of ``z``, ``L = sum_i v_i log(1 + c_i/nu)``
    and ``Q = sum_i v_i E[w_i]**2`` (for partial_fit's step on nu).
    """
    scale = np.sqrt(precision_mean)
    spread = (std * scale) ** 2
    z = (rows - mean) * scale
    excess = (z * z + spread) / dof
    expected_w = (1.0 + 1.0 / dof) / (1.0 + excess)
    if weights is None:
        log_excess = np.log1p(excess).sum(axis=0)
        weighted = expected_w
    else:
        log_excess = np.dot(weights, np.log1p(excess))
        weighted = expected_w * weights[:, np.newaxis]
    total = weighted.sum(axis=0)
    offset = np.divide(
        (weighted * z).sum(axis=0), total, out=np.zeros_like(total), where=total > 0
    )
    centred = z - offset
    squares = (weighted * expected_w).sum(axis=0)
    return (
        total,
        offset,
        (weighted * centred * centred).sum(axis=0),
        log_excess,
        squares,
    )


def _merge_parts(parts, mean, precision_mean):
    """Merge the parts of :func:`_row_moments` (Chan), back in the units of x.

    Returns ``A``, ``xbar_w``, ``S_w``, ``L`` and ``Q`` per feature.
    """
    totals = np.array([part[0] for part in parts])
    offsets = np.array([part[1] for part in parts])[:, :, np.newaxis]
    scatter = np.sum([part[2] for part in parts], axis=0)[:, np.newaxis]
    total, offset, scatter = _chan_merge(totals, offsets, scatter)
    scale = np.sqrt(precision_mean)
    log_excess = np.sum([part[3] for part in parts], axis=0)
    return (
        total,
        mean + offset[:, 0] / scale,
        scatter[:, 0] / precision_mean,
        log_excess,
        np.sum([part[4] for part in parts], axis=0),
    )


def _weight_pass(X, sample_weight, **params):
    """:func:`_row_moments` over every row block of X (numpy or dask), merged."""
    if is_dask_collection(X):
        from .._core.dask_passes import dask_reduce

        parts = dask_reduce(
            X, sample_weight, partial(_row_moments, **params), ensure_all_finite=False
        )
    else:
        width = 4 * X.shape[1]
        block_rows, _ = engine.plan(X.shape[0], width)

        def block(rows):
            weights = None if sample_weight is None else sample_weight[rows]
            return _row_moments(X[rows], weights, **params)

        parts = engine.map_blocks(block, X.shape[0], block_rows, row_elements=width)
    return _merge_parts(parts, params["mean"], params["precision_mean"])


def _local_constant(log_precision_mean, dof):
    """``l_ij + alpha log(1 + c_ij/nu)``: the part of an entry's ELBO share without x.

    ``(E[log tau] - log 2 pi)/2 + log Gamma(alpha) - log Gamma(nu/2) - log(nu/2)/2``,
    the Gamma ratio as ``log Gamma(1/2) - log B(nu/2, 1/2)`` (no cancellation
    at large ``nu``).
    """
    return (
        0.5 * (log_precision_mean - LOG_2PI)
        + 0.5 * _LOG_PI
        - betaln(0.5 * dof, 0.5)
        - 0.5 * np.log(0.5 * dof)
    )


def _feature_elbo(data, state):
    """``sum_i v_i l_ij - KL(q(mu) q(tau) || prior)`` per feature."""
    dof = state.dof
    alpha = 0.5 * (dof + 1.0)
    local = data.weight * _local_constant(state.log_precision_mean, dof)
    return (
        local
        - alpha * state.log_excess
        - _kl_to_prior(state.mean, state.std, state.shape, state.rate, data.prior)
    )


def _sample_scores(X, *, mean, std, precision_mean, log_precision_mean, dof, kl):
    """Each row's ``sum_j l_ij - KL / V`` (the model's comment), in row blocks."""
    n_samples, n_features = X.shape
    scores = np.empty(n_samples)
    alpha = 0.5 * (dof + 1.0)
    constant = _local_constant(log_precision_mean, dof).sum()
    scale, spread = np.sqrt(precision_mean), precision_mean * std**2

    def block(rows):
        z = (X[rows] - mean) * scale
        scores[rows] = constant - np.dot(np.log1p((z * z + spread) / dof), alpha)

    block_rows, _ = engine.plan(n_samples, 2 * n_features)
    engine.map_blocks(block, n_samples, block_rows, row_elements=2 * n_features)
    return scores - kl


def _expected_weights(X, *, mean, std, precision_mean, dof):
    """Each entry's ``E_q[w_ij] = (nu + 1)/(nu + c_ij)``, in row blocks."""
    n_samples, n_features = X.shape
    out = np.empty((n_samples, n_features))
    scale, spread = np.sqrt(precision_mean), precision_mean * std**2

    def block(rows):
        z = (X[rows] - mean) * scale
        out[rows] = (dof + 1.0) / (dof + z * z + spread)

    block_rows, _ = engine.plan(n_samples, 2 * n_features)
    engine.map_blocks(block, n_samples, block_rows, row_elements=2 * n_features)
    return out


def _update_q(data, state, dof):
    """q(mu), q(tau), then every q(w_ij) (one pass over X), with this nu."""
    prior_mean, prior_std, prior_shape, prior_rate = data.prior
    weight_w, mean_w = state.weight_w, state.mean_w
    # q(mu): the Normal's update with the weights v_i E[w_i].
    mean, std = _update_mean(
        weight_w, mean_w, state.precision_mean, prior_mean, prior_std
    )
    # q(tau): a = a0 + W/2, b = b0 + (S_w + A (xbar_w - m)**2 + A s**2)/2.
    rate = prior_rate + 0.5 * (
        state.sum_of_squares_w + weight_w * (mean_w - mean) ** 2 + weight_w * std**2
    )
    return _state_at(data, mean, std, prior_shape + 0.5 * data.weight, rate, dof)


def _first_sweep(data, start):
    """The sweep from the start (:class:`StudentStart`): nu as it was given."""
    return _update_q(data, start, start.dof)


def _cavi_sweep(data, state):
    """A CAVI sweep from a :class:`StudentState`: nu (if fitted), q(mu), q(tau), q(w).

    nu's terms of the ELBO depend on q(w) alone (the comment below), so nu
    updated before q(mu) and q(tau), from the last q(w), is the same step as
    after them.
    """
    dof = _update_dof(data.weight, state) if data.fit_dof else state.dof
    return _update_q(data, state, dof)


# Fitting nu (degrees_of_freedom_update="fit"): the nu that maximises the ELBO
# given q(w) (the ECM step of Liu and Rubin, 1995, as a variational M-step):
# the terms of nu are sum_i v_i E_q[log Gamma(w_i | nu/2, nu/2)], whose
# derivative in nu is
#   g(nu) = W/2 (log(nu/2) + 1 - psi(nu/2)) + (sum_i v_i (E[log w_i] - E[w_i]))/2,
# decreasing in nu (log x - psi(x) decreases), so the maximum is its one root,
# found by bisection in log nu within [_DOF_BOUNDS]; a bound when g keeps
# its sign (nu at the upper bound: the data show no heavy tail). Under
# q(w_i) = Gamma(alpha', beta'_i) of the last sweep (nu' its nu),
# E[log w_i] = psi(alpha') - log(nu'/2) - log(1 + c_i/nu').
_DOF_BOUNDS = (1e-2, 1e6)
_DOF_BISECTIONS = 80


def _update_dof(weight, state):
    """The nu of each feature that maximises the ELBO given q(w): g(nu) = 0."""
    old = state.dof
    expected_log_w = (
        weight * (digamma(0.5 * (old + 1.0)) - np.log(0.5 * old)) - state.log_excess
    )
    free = 0.5 * (expected_log_w - state.weight_w)

    def slope(log_dof):
        half = 0.5 * np.exp(log_dof)
        return 0.5 * weight * (np.log(half) + 1.0 - digamma(half)) + free

    low = np.full_like(old, np.log(_DOF_BOUNDS[0]))
    high = np.full_like(old, np.log(_DOF_BOUNDS[1]))
    for _ in range(_DOF_BISECTIONS):
        middle = 0.5 * (low + high)
        rising = slope(middle) > 0
        low, high = np.where(rising, middle, low), np.where(rising, high, middle)
    return np.exp(0.5 * (low + high))


def _state_at(data, mean, std, shape, rate, dof):
    """The state with this q(mu) q(tau), nu and every q(w_ij) optimal (a pass over X).

    q(w_ij) = Gamma((nu + 1)/2, (nu + c_ij)/2), and the sums of the next sweep.
    """
    precision_mean, log_precision_mean = gamma_expectations(shape, rate)
    weight_w, mean_w, sum_of_squares_w, log_excess, square_w = _weight_pass(
        data.X,
        data.sample_weight,
        mean=mean,
        std=std,
        precision_mean=precision_mean,
        dof=dof,
    )
    return StudentState(
        dof=dof,
        mean=mean,
        std=std,
        shape=shape,
        rate=rate,
        precision_mean=precision_mean,
        log_precision_mean=log_precision_mean,
        weight_w=weight_w,
        mean_w=mean_w,
        sum_of_squares_w=sum_of_squares_w,
        log_excess=log_excess,
        square_w=square_w,
    )


def _extrapolate(data, state, first, second):
    """SQUAREM's step (Varadhan and Roland, 2008, scheme S3) from three iterates.

    CAVI converges linearly here (the weights are missing data, as in EM),
    and near the optimum the ELBO is flat, so plain sweeps stop with the
    parameters accurate to about sqrt(eps) only. With ``theta`` per feature
    ``(m / s, log s, log b, log nu)`` (unit-free; ``nu`` moves only when
    fitted, and stays within its bounds), ``r = theta_1 - theta_0``, ``v =
    theta_2 - 2 theta_1 + theta_0`` and ``alpha = -min(|r| / |v|, ...)`` at
    most -1, the point ``theta_0 - 2 alpha r + alpha**2 v`` is where the
    linear iteration is heading; returned with q(w) optimal for it.
    """
    unit = state.std

    def theta(s):
        return np.stack([s.mean / unit, np.log(s.std), np.log(s.rate), np.log(s.dof)])

    t0, t1, t2 = theta(state), theta(first), theta(second)
    r, v = t1 - t0, t2 - 2.0 * t1 + t0
    r_norm, v_norm = np.sqrt((r * r).sum(axis=0)), np.sqrt((v * v).sum(axis=0))
    alpha = -np.divide(r_norm, v_norm, out=np.ones_like(r_norm), where=v_norm > 0)
    alpha = np.minimum(alpha, -1.0)
    target = t0 - 2.0 * alpha * r + alpha * alpha * v
    return _state_at(
        data,
        target[0] * unit,
        np.exp(target[1]),
        second.shape,
        np.exp(target[2]),
        np.clip(np.exp(target[3]), *_DOF_BOUNDS) if data.fit_dof else second.dof,
    )


def _better_of(better, jumped, second):
    """Each feature's q from ``jumped`` where ``better``, else from ``second``."""
    return StudentState(
        **{
            field.name: np.where(
                better, getattr(jumped, field.name), getattr(second, field.name)
            )
            for field in fields(StudentState)
        }
    )


def _elbo(data, state):
    """The ELBO: ``sum_ij v_i l_ij - KL(q(mu) q(tau) || prior)`` (model comment)."""
    return float(np.sum(_feature_elbo(data, state)))
