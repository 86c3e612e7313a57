"""The full Normal fit's units and float64's range.

``VariationalNormalEstimator(covariance_type="full")`` runs CAVI in units of
a power of two per feature (the comment above :func:`feature_units`), so
that data in units of 1e-150 or 1e150 give the same fit, and maps q back
exactly; this module holds those units, the checks that refuse priors and
fits float64 cannot represent (with one clear message, :data:`BREAKDOWN`),
the symmetrisation the updates share, the change of ``E[Lambda]`` the fixed
point stops on (:func:`relative_change`, free of those units) and the noise
covariance ``E[Lambda]^-1 = W^-1 / nu`` (:func:`noise_covariance`, formed
without an inversion). Where a feature's prior outweighs its data, the
fit's units leave ``E[Lambda]`` with entries of 1e-223 beside O(1): only
computations invariant under such a diagonal scaling (Cholesky factors,
entries against their diagonal) are accurate there.

References
----------
N. J. Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
SIAM, 2002, §2.1 (scaling by a power of two is exact), ch. 9 (LU with partial
pivoting is not invariant under diagonal scaling) and ch. 10 (Cholesky is).
"""

# SPDX-License-Identifier: BSD-3-Clause

import dataclasses

import numpy as np

# The one error of a full fit that float64 cannot represent.
BREAKDOWN = (
    "The fit is not representable in float64: the posterior came out NaN, "
    "infinite or singular. The data and the priors are on very different "
    "scales (with covariance_type='full', a prior_mean more than about 1e8 "
    "noise sds from the data is too far). Choose priors on the scale of the "
    "data (prior_mean=None takes it from the data), or rescale X."
)


def symmetric(matrix):
    """``(A + A^T) / 2``: a matrix that rounding left almost symmetric, exactly so."""
    return 0.5 * (matrix + matrix.T)


def relative_change(new, old):
    """``max_ij |new_ij - old_ij| / sqrt(old_ii old_jj)``, ``old`` positive definite.

    The change of each entry against the sizes its row and column's diagonal
    give it, invariant under the fit's units (``C^-1 A C^-1`` for any
    positive ``c``): against the largest entry, the change of a feature whose
    prior outweighs its data by 2**745 in those units, with entries of 1e-223
    beside O(1), would never be seen.
    """
    root = np.sqrt(np.diag(old))
    return np.max(np.abs(new - old) / root[:, None] / root[None, :])


def check_representable(state, elbo):
    """Raise, rather than return NaN or inf, when the fit leaves float64's range."""
    values = (state.mean, state.covariance, state.scale, elbo)
    if not all(np.all(np.isfinite(value)) for value in values):
        raise ValueError(BREAKDOWN)


# q(mu)'s covariance is about s0**2 where the prior dominates: below this
# prior_std it would leave float64's normal range.
SMALLEST_PRIOR_STD = float(np.sqrt(np.finfo(np.float64).tiny))


def check_prior_std(prior_std):
    """Refuse a prior_std whose square underflows (module comment), clearly."""
    if np.any(prior_std < SMALLEST_PRIOR_STD):
        raise ValueError(
            f"covariance_type='full' takes prior_std >= {SMALLEST_PRIOR_STD:.3g} "
            f"(got {np.min(prior_std):.3g}): q(mu)'s covariance, about "
            "prior_std**2 where the prior dominates, must be representable in "
            "float64. Use covariance_type='diag', which takes any positive "
            "prior_std, or rescale X by c and the priors with it (prior_mean "
            "and prior_std by c, prior_rate by c**2)."
        )


def check_prior_scale(prior_scale):
    """Refuse a Wishart prior whose scale ``W0`` is not finite, clearly."""
    if not np.all(np.isfinite(prior_scale)):
        raise ValueError(BREAKDOWN)


# The fit runs in units of a power of two per feature (Higham, Accuracy and
# Stability of Numerical Algorithms, §2.1: scaling by a power of two is exact
# unless it over- or underflows). With x' = x / c, c_j = 2^e_j, the model is
# the same with m0' = m0 / c, s0' = s0 / c, b0' = b0 / c**2 (W0' = C W0 C), and
# q's parameters map back as m = c m', S_mu = C S_mu' C, W = C^-1 W' C^-1;
# the KLs are unchanged and each row's density gains a factor 1 / prod_j c_j,
# so ELBO = ELBO' - W_tot sum_j log c_j. c_j = 2^e_j is the power of two at
# or above the data's sd along feature j (|xbar_j| for constant data, 1 for
# zeros), moved, where needed and possible, into the exponents that keep
# every scaled quantity in float64's range: the sd and the data's distance
# from prior_mean within 2^+-500 (their squares, times W_tot, enter W^-1),
# xbar and m0 below 2^1000, s0' below 2^1000 with s0'**2 above float64's
# smallest normal number (SMALLEST_PRIOR_STD), and b0' within 2^+-1000. The
# scaled problem, and so the fit, is thus the same for data in units of
# 1e-150 or 1e150 (exactly for units that are powers of two); only fitted
# attributes that cannot be represented in the original units (a covariance
# of 1e-400, say) are refused.
_MIN_EXPONENT, _MAX_EXPONENT = -1000, 1000


def _exponent(values):
    """``e`` with ``values = f 2^e``, ``1/2 <= |f| < 1``; NaN for 0, inf for inf."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    exponent = np.frexp(values)[1].astype(np.float64)
    exponent = np.where(values == 0.0, np.nan, exponent)
    return np.where(np.isinf(values), np.inf, exponent)


def feature_units(weight, data_mean, scatter, prior):
    """The powers of two ``c_j`` of the fit's units (comment above)."""
    prior_mean, prior_std, _, prior_rate = prior[:4]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        spread = np.sqrt(np.diag(scatter)) / np.sqrt(weight)
        distance = data_mean - prior_mean
    size = np.where(spread > 0.0, spread, np.abs(data_mean))
    size = np.where((size > 0.0) & np.isfinite(size), size, 1.0)
    exponent = _exponent(size)
    lowest = _exponent(SMALLEST_PRIOR_STD)
    bounds = [
        # (exponent of the quantity, how far below, how far above e it may lie)
        (_exponent(spread), 500, 500),
        (_exponent(distance), 500, np.inf),
        (_exponent(data_mean), 1000, np.inf),
        (_exponent(prior_mean), 1000, np.inf),
        (_exponent(prior_std), 1000, 1 - lowest),
        (0.5 * _exponent(prior_rate), 500, 500),
    ]
    low = np.full_like(exponent, -np.inf)
    high = np.full_like(exponent, np.inf)
    for value, below, above in bounds:
        known = np.isfinite(value)
        low = np.where(known, np.maximum(low, value - below), low)
        high = np.where(known, np.minimum(high, value + above), high)
    # Where the bounds conflict, the exponent midway between them.
    exponent = np.where(
        np.ceil(low) <= np.floor(high),
        np.clip(exponent, np.ceil(low), np.floor(high)),
        np.round(0.5 * (low + high)),
    )
    exponent = np.clip(exponent, _MIN_EXPONENT, _MAX_EXPONENT).astype(int)
    return np.ldexp(1.0, exponent)


def scaled_problem(unit, data_mean, scatter, prior):
    """``xbar / c``, ``S / (c c^T)`` and the priors in the units ``c``."""
    prior_mean, prior_std, prior_shape, prior_rate, prior_dof, prior_scale = prior
    # Out of range (inf, 0) only where the fit cannot be represented; its
    # error comes from the sweep, once.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        square = np.outer(unit, unit)
        return (
            data_mean / unit,
            scatter / square,
            (
                prior_mean / unit,
                prior_std / unit,
                prior_shape,
                prior_rate / unit**2,
                prior_dof,
                prior_scale * square,
            ),
        )


def unscaled_state(unit, state, elbo):
    """q's parameters in the data's units: ``m = c m'``, ``S_mu = C S_mu' C``, ``W``.

    ``W = C^-1 W' C^-1``, ``E[Lambda]`` likewise and ``W^-1 = C W'^-1 C``;
    ``noise_covariance`` is ``E[Lambda]^-1 = W^-1 / nu``, from ``W^-1`` as the
    update formed it (the comment above :func:`noise_covariance`). Raises the
    clear error when one of them leaves float64's range there.

    Returns
    -------
    state : FullState
        ``state`` in the data's units.
    noise_covariance : ndarray of shape (n_features, n_features)
    """
    square = np.outer(unit, unit)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        unscaled = dataclasses.replace(
            state,
            mean=unit * state.mean,
            covariance=state.covariance * square,
            scale=state.scale / square,
            inverse_scale=state.inverse_scale * square,
            precision_mean=state.precision_mean / square,
        )
        noise = noise_covariance(unscaled)
    check_representable(unscaled, elbo)
    values = (unscaled.precision_mean, noise)
    if not all(np.all(np.isfinite(value)) for value in values):
        raise ValueError(BREAKDOWN)
    for value in (
        unscaled.covariance,
        unscaled.scale,
        unscaled.precision_mean,
        noise,
    ):
        diagonal = np.diag(value)
        if not np.all((diagonal > 0.0) & np.isfinite(1.0 / diagonal)):
            raise ValueError(BREAKDOWN)
    return unscaled, noise


# E[Lambda]^-1, the noise covariance, is W^-1 / nu (E[Lambda] = nu W, Bishop
# B.80), and the q(Lambda) update forms W^-1 = W0^-1 + S + W_tot d d^T +
# W_tot S_mu itself, a sum of positive semi-definite terms, each entry
# accurate to a few ulps of the terms summed. Inverting E[Lambda] instead loses
# what W lost and more: in the fit's units a feature whose prior rate outweighs
# its data (an entry of 1e-112 beside O(1) features, b0' = 2**744) has an
# E[Lambda] of entries 1e-223 beside O(1), condition 1e224, and LU with partial
# pivoting, which is not invariant under such scaling (Higham, ch. 9), returned
# an off-diagonal of -2.5e206 where the inverse is 0.56, -6.6e94 in the data's
# units where the answer is 6e-113. No inversion, no loss.


def noise_covariance(state):
    """``E[Lambda]^-1 = W^-1 / nu`` of q(Lambda) (comment above)."""
    return state.inverse_scale / state.dof
