"""Each row's share of the full Normal model's ELBO: ``score_samples``.

``VariationalNormalEstimator(covariance_type="full").score_samples`` gives
each row ``x`` its share of the ELBO,

    score(x) = E_q[log Normal(x | mu, Lambda^-1)] - KL(q || prior) / W_tot
             = constant - 1/2 (x - m)^T E[Lambda] (x - m),

so that the weighted scores of the training rows sum to ``elbo_``. This
module computes both parts from the quantities the fit's ELBO is computed
from (:func:`skvi._normal.full_covariance.optimal_precision_elbo`): the
statistics ``(W_tot, xbar, S)`` kept for ``partial_fit``, q(mu)'s ``m`` and
``S_mu``, and ``B = W0^-1 + S + W_tot S_mu`` and ``d = xbar - m``, of which
q(Lambda)'s ``W^-1 = B + W_tot d d^T`` (the comment below). It never reads
the stored ``W`` (``posterior_scale_``), whose entries carry the rounding
of ``W^-1``'s condition (1e6 to 1e7 where the data lie far from
prior_mean, the rank-one term dominating): a log-determinant, trace or
quadratic form taken from it lost digits (2.4e-9 relative) that the fit's
ELBO, by the determinant lemma, keeps.

References
----------
C. M. Bishop, "Pattern Recognition and Machine Learning", Springer, 2006,
§10.2.1 and Appendix B (B.79-B.81, the Wishart distribution).
G. H. Golub and C. F. Van Loan, "Matrix Computations", 4th ed., 2013,
§2.1.4 (Sherman-Morrison-Woodbury) and §4.2 (Cholesky).
N. J. Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
SIAM, 2002, ch. 8 (triangular systems).
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy import linalg

from .._core import engine
from .full_units import symmetric

# A factor of E[Lambda] that keeps its small eigenvalue. With B = L L^T
# (Cholesky) and z = L^-1 d, q = z^T z, Sherman-Morrison (Golub & Van Loan
# §2.1.4) gives
#
#     W = (B + W_tot d d^T)^-1 = L^-T (I - W_tot z z^T / (1 + W_tot q)) L^-1.
#
# With t = sqrt(1 + W_tot q) and g = W_tot / (t (1 + t)), the matrix
# F = I - g z z^T is the symmetric square root of the bracket (F^2 =
# I - g (2 - g q) z z^T, and g q = (t - 1) / t, so g (2 - g q) =
# W_tot / t^2): F scales z by 1 / t and leaves its complement alone. So
#
#     E[Lambda] = nu W = U^T U,     U = sqrt(nu) F L^-1,
#
# and each row's quadratic form is ||U (x - m)||^2, a sum of squares: no
# term cancels. Taken from W itself it is ||L^-1 r||^2 - W_tot (z^T L^-1
# r)^2 / t^2, whose two terms (q, some 1e6, for r = d) cancel to 1 / W_tot,
# losing six digits. U's entries carry rounding of about eps |L^-1| (as
# g q = (t - 1)/t < 1) while U shrinks z's direction by 1/t, so ||U r|| is
# accurate to about eps t relative at worst (r along d), 1e-13 at t = 1e3,
# besides L^-1's own (Higham ch. 8). g is written without the cancellation
# of 1 - 1/t, and is 0 where d = 0 (F = I, W = B^-1).
#
# The row-independent constant. The ELBO is the weighted sum over the
# training rows of their scores (Bishop eq. 10.3, the KL shared out by
# weight), and in a score only the quadratic form depends on the row; the
# forms' weighted sum over the training rows is
#
#     T = tr(E[Lambda] (S + W_tot d d^T))
#       = nu (tr(G) + W_tot (q - z^T G z) / t^2),   G = L^-1 S L^-T,
#
# by the same Sherman-Morrison form (d^T W d = q / t^2). So
# W_tot constant - T / 2 = ELBO, i.e.
#
#     constant = (ELBO + T / 2) / W_tot
#              = 1/2 (E[log|Lambda|] - d log 2 pi) - 1/2 tr(E[Lambda] S_mu)
#                - KL(q || prior) / W_tot,
#
# the expected log-likelihood of x = m less the KL share, here from the ELBO
# as the fit computes it (the collapsed form, log|W^-1| by the determinant lemma).
# G <= I (S <= B), so tr(G) lies in [0, d] and W_tot (q - z^T G z) / t^2
# in [0, 1]: T is computed to a few eps nu (d + 1), and the training rows'
# scores sum to the ELBO up to that and the rounding of their quadratic forms.


def precision_factor(weight, data_mean, scatter, mean, covariance, prior, dof):
    """``U`` with ``E[Lambda] = U^T U``, and ``T = tr(E[Lambda] (S + W_tot d d^T))``.

    From ``B = W0^-1 + S + W_tot S_mu`` (as
    :func:`skvi._normal.full_covariance.log_det_inverse_scale` forms it) and
    ``d = xbar - m`` (the comment above); in the fit's units.

    Returns
    -------
    factor : ndarray of shape (n_features, n_features)
        ``U = sqrt(nu) F L^-1``.
    training_quadratic : float
        ``T``, the weighted sum of the training rows' quadratic forms.
    """
    dimension = mean.shape[0]
    shift = data_mean - mean
    base = np.diag(1.0 / np.diag(prior[5])) + scatter + weight * covariance
    lower = linalg.cholesky(symmetric(base), lower=True)
    solved = linalg.solve_triangular(lower, shift, lower=True)
    inverse_lower = linalg.solve_triangular(lower, np.eye(dimension), lower=True)
    squared_norm = float(np.dot(solved, solved))
    root = np.sqrt(1.0 + weight * squared_norm)
    shrink = weight / (root * (1.0 + root))
    factor = np.sqrt(dof) * (
        inverse_lower - shrink * np.outer(solved, np.dot(solved, inverse_lower))
    )
    # G = L^-1 S L^-T, symmetric positive semi-definite.
    whitened = linalg.solve_triangular(
        lower, linalg.solve_triangular(lower, scatter, lower=True).T, lower=True
    )
    training_quadratic = dof * (
        np.trace(whitened)
        + weight * (squared_norm - np.dot(solved, np.dot(whitened, solved))) / root**2
    )
    return factor, float(training_quadratic)


def sample_scores(X, mean, factor, constant):
    """Each row's ``constant - 1/2 ||U (x - m)||^2`` (module comment).

    ``factor`` is ``U`` in the data's units, ``E[Lambda] = U^T U``. In row
    blocks of the engine (skvi._core.engine): a block's temporaries are its
    deviations and their products with ``U^T``.
    """
    n_samples, n_features = X.shape
    scores = np.empty(n_samples)

    def block_scores(rows):
        whitened = np.dot(X[rows] - mean, factor.T)
        quadratic = np.einsum("ij,ij->i", whitened, whitened)
        # A sum of squares of finite deviations is >= 0: NaN there is
        # inf - inf from terms that overflowed, a point beyond float64's reach
        # (its log-density -inf, as the diagonal model gives).
        quadratic[np.isnan(quadratic)] = np.inf
        scores[rows] = constant - 0.5 * quadratic

    block_rows, _ = engine.plan(n_samples, 2 * n_features)
    engine.map_blocks(block_scores, n_samples, block_rows, row_elements=2 * n_features)
    return scores


def device_terms(keywords):
    """``(U, constant)`` of :func:`sample_scores`' keywords, for the device.

    Each row's score is ``constant - 1/2 ||U (x - m)||^2`` there too
    (:func:`skvi._normal.device.normal_scores`).
    """
    return keywords["factor"], keywords["constant"]
