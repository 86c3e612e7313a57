"""The Student-t model's stochastic VI: the steps of ``partial_fit``.

Hoffman, Blei, Wang and Paisley (2013), Algorithm 1, on the model of
:mod:`skvi._student.updates`: a batch's q(w) at the current q (the local step,
one pass over the batch), then a step of the natural parameters of q(mu) and
q(tau) towards the CAVI update of ``total_samples`` rows like the batch, and a
stochastic Newton step on ``log nu`` when nu is fitted. The maths is in the
comment below and beside each step.

References
----------
.. [1] M. D. Hoffman, D. M. Blei, C. Wang and J. Paisley, "Stochastic
   Variational Inference", Journal of Machine Learning Research 14, 2013.
.. [2] H. Robbins and S. Monro, "A stochastic approximation method", Annals
   of Mathematical Statistics 22(3), 1951.
"""

# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import replace

import numpy as np
from scipy.special import digamma, polygamma

from .._core.namespaces import is_dask_collection
from .._core.normal_gamma import _update_mean
from .updates import _DOF_BOUNDS, _elbo, _state_at

# Stochastic VI (partial_fit; Hoffman, Blei, Wang and Paisley, 2013, "Stochastic
# Variational Inference", JMLR 14, Algorithm 1). Each call takes a batch B of
# total weight W_B from a data set of total weight N (``total_samples``):
#   local step:  q(w_ij) of the batch rows, optimal at the current q(mu) q(tau)
#                (one pass over B: the sums A_B, xbar_w, S_w, L_B of
#                skvi._student.updates);
#   global step: each factor's CAVI target computed as if the data were B
#                replicated N / W_B times (their eq. 24: the batch's sums scaled
#                by c = N / W_B), and its natural parameters moved towards it,
#                eta <- (1 - rho) eta + rho eta_hat (their eq. 25), with
#                rho_t = (learning_offset + t)**(-learning_decay) (their eq. 26).
# q(mu) = Normal(m, s**2) has eta = (m / s**2, -1 / (2 s**2)) and q(tau) =
# Gamma(a, b) has eta = (a - 1, -b). As the CAVI sweep does, q(mu) steps first
# and q(tau)'s target is taken at the stepped q(mu) (a natural-gradient step in
# each factor given the others), so that one batch equal to the data with
# rho = 1 and N = W is exactly one CAVI sweep. A fitted nu (a point estimate)
# takes a Robbins-Monro step rho times the Newton step on log nu of the batch's
# ELBO with q(w) optimal given nu (:func:`_dof_step`): the sweep's ECM step
# would move nu at EM's rate, slow for nu (measured on Student-t(4) data, with
# that step stochastic: about 6% of the way per unit of rho), where the Newton
# step goes all the way.


def _normal_step(mean, std, target_mean, target_std, rho):
    """``eta <- (1 - rho) eta + rho eta_hat`` on q(mu)'s natural parameters.

    With precisions ``1/s**2``: ``1/s'**2 = (1 - rho)/s**2 + rho/s_hat**2`` and
    ``m' = m + omega (m_hat - m)``, ``omega = rho s'**2 / s_hat**2``; written
    with the ratio ``r = s / s_hat``, so that no square of ``s`` leaves float64.
    """
    ratio_squared = (std / target_std) ** 2
    spread = (1.0 - rho) + rho * ratio_squared
    omega = rho * ratio_squared / spread
    return mean + omega * (target_mean - mean), std / np.sqrt(spread)


def _svi_step(data, local, rho, scale):
    """One global step of stochastic VI from a batch's q(w) (comment above).

    ``local`` is the batch's state at the current q (:func:`_state_at`) and
    ``scale = N / W_B``. Returns the new ``(m, s, a, b)`` and nu (unchanged).
    """
    prior_mean, prior_std, prior_shape, prior_rate = data.prior
    weight_w, mean_w = local.weight_w, local.mean_w
    # q(mu): the target is the Normal's update with the weights c v_i E[w_i].
    target_mean, target_std = _update_mean(
        scale * weight_w, mean_w, local.precision_mean, prior_mean, prior_std
    )
    mean, std = _normal_step(local.mean, local.std, target_mean, target_std, rho)
    # q(tau): a_hat = a0 + N/2, b_hat = b0 + c (S_w + A ((xbar_w - m)**2 + s**2))/2.
    target_rate = prior_rate + 0.5 * scale * (
        local.sum_of_squares_w + weight_w * ((mean_w - mean) ** 2 + std**2)
    )
    target_shape = prior_shape + 0.5 * scale * data.weight
    shape = (1.0 - rho) * local.shape + rho * target_shape
    rate = (1.0 - rho) * local.rate + rho * target_rate
    dof = _dof_step(data.weight, local, rho) if data.fit_dof else local.dof
    return mean, std, shape, rate, dof


def _dof_step(weight, local, rho):
    """A stochastic Newton step on ``log nu`` (comment above), at most 1 in size.

    With ``h(nu) = sum_i v_i l_i / W`` (q(w) optimal given nu; ``c_ij`` fixed
    by q(mu) q(tau)), ``A, L, Q`` of ``updates._row_moments`` divided by ``W``:
    ``h' = (psi((nu+1)/2) - psi(nu/2) + 1 - L - A)/2`` (``updates``' g(nu) / W)
    and
    ``h'' = ((psi_1((nu+1)/2) - psi_1(nu/2))/2 + 1/nu - (2A - Q)/(nu+1))/2``;
    in ``t = log nu``, ``dh/dt = nu h'`` and ``d2h/dt2 = nu**2 h'' + nu h'``.
    Where h is not concave in t, a unit step uphill.
    """
    dof = local.dof
    mean_w, mean_log = local.weight_w / weight, local.log_excess / weight
    mean_square = local.square_w / weight
    half, half_up = 0.5 * dof, 0.5 * (dof + 1.0)
    slope = dof * 0.5 * (digamma(half_up) - digamma(half) + 1.0 - mean_log - mean_w)
    second = 0.5 * (polygamma(1, half_up) - polygamma(1, half)) + 1.0 / dof
    second -= (2.0 * mean_w - mean_square) / (dof + 1.0)
    curvature = 0.5 * dof * dof * second + slope
    newton = np.divide(-slope, curvature, out=np.sign(slope), where=curvature < 0.0)
    return np.clip(dof * np.exp(rho * np.clip(newton, -1.0, 1.0)), *_DOF_BOUNDS)


def _scaled_batch(data, total):
    """The data of a batch with its weights (and sums) scaled to total ``N``."""
    scale = total / data.weight
    weights = data.sample_weight
    if weights is None and not is_dask_collection(data.X):
        weights = np.ones(data.X.shape[0])
    return replace(
        data,
        sample_weight=scale if weights is None else scale * weights,
        weight=total,
        sum_of_squares=scale * data.sum_of_squares,
    )


def _stochastic_step(data, fitted, rho, total):
    """partial_fit on a fitted q: the batch's q(w), then one global step.

    ``fitted`` is the current ``(m, s, a, b, nu)`` and ``total`` is ``N``.
    Returns the new state (its q(w) optimal for the batch) and the batch's
    estimate of the ELBO of ``N`` rows (its sums scaled by ``N / W_B``).
    """
    scale = total / data.weight
    local = _state_at(data, *fitted)
    state = _state_at(data, *_svi_step(data, local, rho, scale))
    elbo = _elbo(
        replace(data, weight=total),
        replace(state, log_excess=scale * state.log_excess),
    )
    return state, elbo
