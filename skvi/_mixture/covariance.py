"""The four covariance types of the mixture, one record each, chosen once at fit.

q(Lambda_k) is a Wishart(nu_k, W_k) whose scale is restricted by
``covariance_type`` (Bishop, PRML §10.2; scikit-learn's
BayesianGaussianMixture):

- ``full``: any positive-definite W_k;
- ``tied``: one (nu, W) for every component (K independent Lambda_k with one
  common q: scikit-learn's "tied" updates are exactly CAVI in this family,
  and its bound counts the Wishart K times);
- ``diag``: a diagonal W_k;
- ``spherical``: a multiple of the identity,

and the prior's W0 = covariance_prior^-1 likewise. Everything the model does
differently by type is here, in one :class:`CovarianceType` record per type
(:data:`COVARIANCE_TYPES`): the shape of the statistics and of the prior, the
M-step's inverse scale (Bishop 10.62, and its projection onto the family:
``W_k^-1 = diag(A_k)`` for diag, ``mean(diag A_k) I`` for spherical, whose
ELBO then never decreases either), the SVI step's projection, the precision
Cholesky factors and log|W_k|, the E-step's Mahalanobis terms (numpy here,
array API in skvi._mixture.device), the KL's Wishart terms, and the
covariances as matrices for sampling. The model resolves the record once
(``model.covariance``); nothing else branches on the type's name, so that
a fifth type is one more record.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006,
§10.2 and Appendix B.
"""

# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dtrtri

from . import device
from .triangles import _TRIANGULAR_FEATURES, _lower_product_square_norm, _lower_times

_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)

# The M-step's inverse scales (``_inverse_scale_*``) take the shifts
# delta_k = xbar_k - m0 and shrink_k = beta0 N_k / beta_k, whose cross term
# shrink_k delta_k delta_k^T they add component by component: at d = 1000 a
# (K, d, d) array of cross terms, and the sum it was added to, were two more
# 64 MB arrays per M-step.
#
# The E-step works on (n_components, n_rows) arrays: reductions over the
# components then run along rows of contiguous memory, some 50x faster than
# over a short last axis of (n_rows, n_components). Its products over rows
# are numpy.dot, which releases the GIL for the BLAS call (numpy's matmul
# may hold it), so that the engine's threads run their blocks at once.
# Every Mahalanobis term takes the block's deviations d = x - centre (the
# data's mean, so that the expansions lose few digits) and, for the
# diagonal families, d * d, which the E-step computes once and the
# statistics then reuse. Each family splits its term in two: ``_terms_*``
# (per pass: what depends on q only, computed once) and ``_from_terms_*``
# (per block, a few numpy calls), so that a block's Python stays a small
# share of its time (skvi._core.engine).
#
# log|W_k| = log|precisions_k| - d log nu_k comes from the factors'
# diagonals (|U U^T| = prod_j U_jj**2): no O(K d**3) factorisation of W_k.
#
# The KL of each q(mu_k, Lambda_k) needs tr(W0^-1 W_k), log|W0^-1 W_k| and
# (m_k - m0)^T E[Lambda_k] (m_k - m0) (``_wishart_terms_*``). From the
# precision factors U_k (nu_k W_k = U_k U_k^T) and the Cholesky factor L0 of
# the prior's inverse scale A0 = W0^-1 = L0 L0^T (once per call):
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


@dataclass(frozen=True, eq=False)
class CovarianceType:
    """What one covariance type supplies to the mixture's steps.

    Attributes
    ----------
    name : str
        The ``covariance_type``.
    scatter : {"full", "diag"}
        The statistics the M-step needs (skvi._core.stats' scatter).
    dof_shape : tuple
        How the dof broadcast against ``covariances_`` (scikit-learn's shapes).
    shared_dof : bool
        One nu for every component (``nu = nu0 + N / K``), as one q(Lambda).
    prior_shape : callable
        ``d -> shape`` of ``covariance_prior``.
    as_matrix : callable
        ``(covariance_prior, d) -> W0^-1`` as a (d, d) matrix.
    from_empirical : callable
        The default prior from the data's (ddof=1) covariance or its diagonal.
    regularised : callable
        ``(prior, reg_covar, d) ->`` the prior with ``reg_covar`` added.
    inverse_scale : callable
        The M-step's ``A_k = W_k^-1`` (Bishop 10.62), projected on the family.
    project : callable
        The SVI step's projection of full inverse scales onto the family.
    precision_cholesky : callable
        ``covariances_ -> precisions_cholesky_``.
    precisions : callable
        ``precisions_cholesky_ -> precisions_``.
    log_det_scale : callable
        ``(U, nu, d) -> log|W_k|``.
    scale : callable
        ``(U, nu, K, d) -> W_k`` as (K, d, d) matrices.
    covariance_matrices : callable
        ``(covariances_, K, d) ->`` (K, d, d) matrices.
    terms, from_terms : callable
        The E-step's Mahalanobis terms, per pass and per block.
    row_elements : callable
        ``(K, d) ->`` float64 values an E-step block holds per row.
    wishart_terms : callable
        The KL's ``tr(A0 W_k)``, ``||U_k^T (m_k - m0)||**2`` and ``log|A0|``.
    device_terms, device_mahalanobis : callable
        The E-step's Mahalanobis terms on an array API device.
    """

    name: str
    scatter: str
    dof_shape: tuple
    shared_dof: bool
    prior_shape: Callable
    as_matrix: Callable
    from_empirical: Callable
    regularised: Callable
    inverse_scale: Callable
    project: Callable
    precision_cholesky: Callable
    precisions: Callable
    log_det_scale: Callable
    scale: Callable
    covariance_matrices: Callable
    terms: Callable
    from_terms: Callable
    row_elements: Callable
    wishart_terms: Callable
    device_terms: Callable
    device_mahalanobis: Callable

    def __reduce__(self):
        # Pickled by name (dask ships the model to its workers): the record
        # holds functions, some of them lambdas.
        return (covariance_type, (self.name,))

    def prior_matrix(self, covariance_prior, d):
        """The prior's inverse scale W0^-1 as a (d, d) matrix."""
        return self.as_matrix(np.asarray(covariance_prior, dtype=np.float64), d)

    def mahalanobis(self, deviation, squares, shifted_means, precisions_cholesky):
        """Mahalanobis terms of this family, shape (K, n), in one call."""
        return self.from_terms(
            deviation, squares, self.terms(shifted_means, precisions_cholesky)
        )


def covariance_type(name):
    """The record of ``covariance_type`` ``name``."""
    return COVARIANCE_TYPES[name]


def _mahalanobis_terms(shifted_means, params, model):
    """The per-pass terms of the E-step's Mahalanobis distances (``terms``)."""
    return model.covariance.terms(shifted_means, params.precisions_cholesky)


def _wishart_scale(params, model):
    """The Wishart scales ``W_k`` as (K, d, d) matrices, whatever the type.

    Not part of skvi._mixture.mstep's ``_complete``: the fit's iterations do
    not need them (the KL takes its terms from the factors,
    ``wishart_terms``), and K dense d x d matrices for the diagonal types
    cost more than their iteration at d = 1000. The SVI step, sampling and
    the diagnostics ask for them.
    """
    K, d = params.means.shape
    return model.covariance.scale(
        params.precisions_cholesky, params.degrees_of_freedom, K, d
    )


# ---------------------------------------------------------------------------
# full: any positive-definite scale per component.


def _inverse_scale_full(
    prior_inverse_scale, scatter, deviation, shrink, n_k, reg_covar, K
):
    """``A_k = W0^-1 + C_k + N_k reg I + cross_k`` (Bishop 10.62)."""
    d = prior_inverse_scale.shape[0]
    A = prior_inverse_scale + scatter
    for k in range(K):
        A[k] += shrink[k] * np.outer(deviation[k], deviation[k])
    A[:, np.arange(d), np.arange(d)] += (n_k * reg_covar)[:, None]
    return A


def _precision_cholesky_full(covariances):
    """Upper factors U_k with ``U_k U_k^T = covariances_k^-1``: ``U_k = L_k^-T``.

    ``L_k`` by numpy's batched Cholesky, ``L_k^-1`` by LAPACK's triangular
    inverse (dtrtri, d**3/3 flops; numpy's general inverse of the same factor
    took 2 d**3 and a pass of ``np.triu``: 5x slower at d = 1000). dtrtri
    returns ``L_k^-1`` in Fortran order with zeros above the diagonal, so
    that its transpose is ``U_k`` in C order, triangular as it is.
    """
    try:
        lower = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ValueError(_ILL_DEFINED) from None
    # Each U_k replaces L_k in place: no second (K, d, d) array.
    for factor in lower:
        inverse, info = dtrtri(factor, lower=1)
        if info != 0:
            raise ValueError(_ILL_DEFINED)
        factor[...] = inverse.T
    return lower


def _scale_full(precisions_cholesky, dof, K, d):
    """``W_k = precisions_k / nu_k`` as (K, d, d) matrices.

    ``U_k U_k^T`` by batched BLAS matmul: einsum's loop over the same
    product is some 30x slower at d = 1000.
    """
    scale = precisions_cholesky @ np.swapaxes(precisions_cholesky, -1, -2)
    scale /= dof[:, None, None]
    return scale


def _terms_full(shifted_means, precisions_cholesky):
    """The ``U_k^T`` and ``U_k^T (m_k - c)``.

    Stacked, ``(K d, d)`` and ``(K d, 1)``, for one product per block; for
    wide data (``d >= _TRIANGULAR_FEATURES``) as ``(K, d, d)`` triangles and
    ``(K, d, 1)``, one triangular product per component (:func:`_lower_times`).
    """
    K, d, _ = precisions_cholesky.shape
    transposed = np.ascontiguousarray(precisions_cholesky.transpose(0, 2, 1))
    shift = np.einsum("kd,kde->ke", shifted_means, precisions_cholesky)
    if d >= _TRIANGULAR_FEATURES:
        return transposed, shift[:, :, None]
    return transposed.reshape(K * d, d), shift.reshape(K * d, 1)


def _from_terms_full(deviation, squares, terms):
    """``||U_k^T (x_i - m_k)||^2``, shape (K, n).

    One product with the stacked ``U_k^T``, or, for wide data, one triangular
    product per component (:func:`_terms_full`).
    """
    transposed, shift = terms
    n, d = deviation.shape
    if transposed.ndim == 3:
        result = np.empty((transposed.shape[0], n))
        for k, factor in enumerate(transposed):
            projected = _lower_times(factor, deviation.T)
            projected -= shift[k]
            np.multiply(projected, projected, out=projected)
            projected.sum(axis=0, out=result[k])
        return result
    projected = np.dot(transposed, deviation.T)
    projected -= shift
    np.multiply(projected, projected, out=projected)
    return projected.reshape(-1, d, n).sum(axis=1)


def _mahalanobis_full(deviation, squares, shifted_means, precisions_cholesky):
    """``||U_k^T (x_i - m_k)||^2``, shape (K, n) (:func:`_from_terms_full`)."""
    return _from_terms_full(
        deviation, squares, _terms_full(shifted_means, precisions_cholesky)
    )


def _prior_factor(prior_inverse_scale):
    """``L0`` with ``L0 L0^T = A0`` and ``log|A0| = 2 sum_j log (L0)_jj``."""
    factor = np.linalg.cholesky(prior_inverse_scale)
    return factor, 2.0 * np.log(np.diagonal(factor).copy()).sum()


def _wishart_terms_full(factors, dof, shift, prior_inverse_scale):
    """``tr(A0 W_k)``, ``||U_k^T (m_k - m0)||**2`` and ``log|A0|``, full."""
    prior_factor, log_det_prior = _prior_factor(prior_inverse_scale)
    # One U_k^T L0 (lower times lower) at a time: no (K, d, d) array.
    trace = np.array(
        [_lower_product_square_norm(factor.T, prior_factor) for factor in factors]
    )
    trace /= dof
    projected = np.matmul(shift[:, None, :], factors)[:, 0]
    return trace, np.square(projected).sum(1), log_det_prior


FULL = CovarianceType(
    name="full",
    scatter="full",
    dof_shape=(-1, 1, 1),
    shared_dof=False,
    prior_shape=lambda d: (d, d),
    as_matrix=lambda c, d: c,
    from_empirical=lambda scatter: scatter,
    regularised=lambda c, reg_covar, d: c + reg_covar * np.eye(d),
    inverse_scale=_inverse_scale_full,
    project=lambda a: a,
    precision_cholesky=_precision_cholesky_full,
    precisions=lambda u: u @ np.swapaxes(u, -1, -2),
    log_det_scale=lambda u, dof, d: (
        2.0 * np.log(np.diagonal(u, axis1=1, axis2=2).copy()).sum(1) - d * np.log(dof)
    ),
    scale=_scale_full,
    covariance_matrices=lambda c, K, d: c,
    terms=_terms_full,
    from_terms=_from_terms_full,
    row_elements=lambda K, d: K * d + K + d,
    wishart_terms=_wishart_terms_full,
    device_terms=device._device_terms_full,
    device_mahalanobis=device._mahalanobis_full,
)


# ---------------------------------------------------------------------------
# tied: one scale (and one q(Lambda)) for every component.


def _inverse_scale_tied(
    prior_inverse_scale, scatter, deviation, shrink, n_k, reg_covar, K
):
    """``A = W0^-1 + (sum_k C_k + N reg I + sum_k cross_k) / K`` (tied family)."""
    d = prior_inverse_scale.shape[0]
    total = scatter.sum(0)
    for k in range(K):
        total += shrink[k] * np.outer(deviation[k], deviation[k])
    A = prior_inverse_scale + total / K
    A[np.arange(d), np.arange(d)] += n_k.sum() * reg_covar / K
    return A


def _precision_cholesky_tied(covariance):
    return _precision_cholesky_full(covariance[None])[0]


def _scale_tied(precisions_cholesky, dof, K, d):
    precision = precisions_cholesky @ precisions_cholesky.T / dof
    return np.broadcast_to(precision, (K, d, d))


def _terms_tied(shifted_means, precisions_cholesky):
    """``U^T`` (d, d) and ``U^T (m_k - c)`` as (K, d, 1)."""
    shift = (shifted_means @ precisions_cholesky)[:, :, None]
    return np.ascontiguousarray(precisions_cholesky.T), shift


def _from_terms_tied(deviation, squares, terms):
    """``||U^T x_i - U^T m_k||^2``, shape (K, n): one product, then K shifts.

    For wide data the product is triangular (:func:`_lower_times`).
    """
    transposed, shift = terms
    if deviation.shape[1] >= _TRIANGULAR_FEATURES:
        projected = _lower_times(transposed, deviation.T)
    else:
        projected = np.dot(transposed, deviation.T)
    difference = projected[None] - shift
    np.multiply(difference, difference, out=difference)
    return difference.sum(axis=1)


def _wishart_terms_tied(factors, dof, shift, prior_inverse_scale):
    """The same with one ``U`` for every component: computed once."""
    prior_factor, log_det_prior = _prior_factor(prior_inverse_scale)
    trace = _lower_product_square_norm(factors.T, prior_factor) / dof[0]
    projected = np.dot(shift, factors)
    return trace, np.square(projected).sum(1), log_det_prior


TIED = CovarianceType(
    name="tied",
    scatter="full",
    dof_shape=(),
    shared_dof=True,
    prior_shape=lambda d: (d, d),
    as_matrix=lambda c, d: c,
    from_empirical=lambda scatter: scatter,
    regularised=lambda c, reg_covar, d: c + reg_covar * np.eye(d),
    inverse_scale=_inverse_scale_tied,
    project=lambda a: a.mean(0),
    precision_cholesky=_precision_cholesky_tied,
    precisions=lambda u: u @ u.T,
    log_det_scale=lambda u, dof, d: (
        2.0 * np.log(np.diagonal(u).copy()).sum() - d * np.log(dof)
    ),
    scale=_scale_tied,
    covariance_matrices=lambda c, K, d: np.broadcast_to(c, (K, d, d)),
    terms=_terms_tied,
    from_terms=_from_terms_tied,
    row_elements=lambda K, d: K * d + K + d,
    wishart_terms=_wishart_terms_tied,
    device_terms=device._device_terms_tied,
    device_mahalanobis=device._mahalanobis_tied,
)


# ---------------------------------------------------------------------------
# diag: a diagonal scale per component.


def _inverse_scale_diag(
    prior_inverse_scale, scatter, deviation, shrink, n_k, reg_covar, K
):
    """``diag(A_k)``: the diagonal-scale projection of the full update."""
    cross = shrink[:, None] * deviation**2
    return prior_inverse_scale + scatter + cross + (n_k * reg_covar)[:, None]


def _precision_cholesky_diagonal(covariances):
    if np.any(covariances <= 0.0):
        raise ValueError(_ILL_DEFINED)
    return 1.0 / np.sqrt(covariances)


def _scale_diag(precisions_cholesky, dof, K, d):
    scale = precisions_cholesky**2 / dof[:, None]
    return scale[:, :, None] * np.eye(d)


def _terms_diag(shifted_means, precisions_cholesky):
    """``p_k``, ``-2 p_k (m_k - c)`` and ``sum_j p_kj (m_kj - c_j)^2`` (K, 1)."""
    precisions = precisions_cholesky**2
    return (
        precisions,
        -2.0 * shifted_means * precisions,
        (shifted_means**2 * precisions).sum(1)[:, None],
    )


def _from_terms_diag(deviation, squares, terms):
    """``sum_j p_kj (x_ij - m_kj)^2`` (K, n), expanded about the centre."""
    precisions, linear, constant = terms
    result = np.dot(precisions, squares.T)
    result += np.dot(linear, deviation.T)
    result += constant
    return result


def _wishart_terms_diag(factors, dof, shift, prior_inverse_scale):
    """The same with diagonal ``U_k``, ``A0``: ``sum_j a0_j u_kj**2 / nu_k``."""
    trace = np.dot(factors**2 / dof[:, None], prior_inverse_scale)
    projected = factors * shift
    return trace, np.square(projected).sum(1), np.log(prior_inverse_scale).sum()


DIAG = CovarianceType(
    name="diag",
    scatter="diag",
    dof_shape=(-1, 1),
    shared_dof=False,
    prior_shape=lambda d: (d,),
    as_matrix=lambda c, d: np.diag(c),
    from_empirical=lambda scatter: scatter,
    regularised=lambda c, reg_covar, d: c + reg_covar,
    inverse_scale=_inverse_scale_diag,
    project=lambda a: np.diagonal(a, axis1=1, axis2=2).copy(),
    precision_cholesky=_precision_cholesky_diagonal,
    precisions=np.square,
    log_det_scale=lambda u, dof, d: 2.0 * np.log(u).sum(1) - d * np.log(dof),
    scale=_scale_diag,
    covariance_matrices=lambda c, K, d: c[:, :, None] * np.eye(d),
    terms=_terms_diag,
    from_terms=_from_terms_diag,
    row_elements=lambda K, d: 2 * K + 2 * d,
    wishart_terms=_wishart_terms_diag,
    device_terms=device._device_terms_diag,
    device_mahalanobis=device._mahalanobis_diag,
)


# ---------------------------------------------------------------------------
# spherical: a multiple of the identity per component.


def _inverse_scale_spherical(
    prior_inverse_scale, scatter, deviation, shrink, n_k, reg_covar, K
):
    """``mean(diag A_k)``: the isotropic-scale projection of the full update."""
    cross = shrink[:, None] * deviation**2
    return prior_inverse_scale + (scatter + cross).mean(1) + n_k * reg_covar


def _scale_spherical(precisions_cholesky, dof, K, d):
    return (precisions_cholesky**2 / dof)[:, None, None] * np.eye(d)


def _terms_spherical(shifted_means, precisions_cholesky):
    """``p_k`` (K, 1), ``-2 (m_k - c)`` and ``||m_k - c||^2`` (K, 1)."""
    return (
        (precisions_cholesky**2)[:, None],
        -2.0 * shifted_means,
        (shifted_means**2).sum(1)[:, None],
    )


def _from_terms_spherical(deviation, squares, terms):
    """``p_k ||x_i - m_k||^2``, shape (K, n), expanded about the centre."""
    precisions, linear, constant = terms
    result = np.dot(linear, deviation.T)
    result += squares.sum(axis=1)
    result += constant
    result *= precisions
    return result


def _wishart_terms_spherical(factors, dof, shift, prior_inverse_scale):
    """The same with ``U_k = u_k I``, ``A0 = a0 I``: ``d a0 u_k**2 / nu_k``."""
    d = shift.shape[1]
    trace = d * prior_inverse_scale * (factors**2 / dof)
    quadratic = factors**2 * np.square(shift).sum(1)
    return trace, quadratic, d * np.log(prior_inverse_scale)


SPHERICAL = CovarianceType(
    name="spherical",
    scatter="diag",
    dof_shape=(-1,),
    shared_dof=False,
    prior_shape=lambda d: (),
    as_matrix=lambda c, d: c * np.eye(d),
    from_empirical=lambda scatter: float(scatter.mean()),
    regularised=lambda c, reg_covar, d: c + reg_covar,
    inverse_scale=_inverse_scale_spherical,
    project=lambda a: np.diagonal(a, axis1=1, axis2=2).mean(1),
    precision_cholesky=_precision_cholesky_diagonal,
    precisions=np.square,
    log_det_scale=lambda u, dof, d: d * (2.0 * np.log(u) - np.log(dof)),
    scale=_scale_spherical,
    covariance_matrices=lambda c, K, d: c[:, None, None] * np.eye(d),
    terms=_terms_spherical,
    from_terms=_from_terms_spherical,
    row_elements=lambda K, d: 2 * K + 2 * d,
    wishart_terms=_wishart_terms_spherical,
    device_terms=device._device_terms_spherical,
    device_mahalanobis=device._mahalanobis_spherical,
)

COVARIANCE_TYPES = {record.name: record for record in (FULL, TIED, DIAG, SPHERICAL)}
