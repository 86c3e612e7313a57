"""The mixture's M-step and bound on wide data, against direct references.

The wide-data paths (issue 17): LAPACK's triangular inverse for the precision
factors, the Normal-Wishart KL from those factors, the merges' between-part
scatter by BLAS. Each is checked against the computation it replaces or
against scikit-learn, at d beyond LAPACK's 64-column blocks.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

from skvi import VariationalGaussianMixture
from skvi._core.families.wishart import kl_normal_wishart
from skvi._core.stats import _between_full
from skvi._mixture import covariance
from skvi._mixture.bound import _kl_to_prior
from skvi._mixture.covariance import _precision_cholesky_full, _wishart_scale

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _wide_blobs(n_samples=240, d=90, n_centres=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(n_centres, d))
    return centres[rng.integers(0, n_centres, n_samples)] + rng.normal(
        size=(n_samples, d)
    )


@pytest.mark.parametrize("d", [1, 5, 150])
def test_precision_factors_are_scikit_learns(d):
    rng = np.random.default_rng(d)
    factors = rng.normal(size=(3, d, 2 * d + 3))
    covariances = factors @ factors.transpose(0, 2, 1) / (2 * d + 3)
    ours = _precision_cholesky_full(covariances)
    reference = _compute_precision_cholesky(covariances, "full")
    assert_allclose(ours, reference, rtol=1e-10, atol=1e-13 * np.abs(reference).max())
    assert not np.any(np.tril(ours, -1))
    assert ours.flags["C_CONTIGUOUS"]
    # U_k U_k^T is the precision.
    assert_allclose(
        ours @ ours.transpose(0, 2, 1), np.linalg.inv(covariances), rtol=1e-8
    )


def test_precision_factors_of_a_singular_covariance_raise_the_clear_error():
    covariances = np.stack([np.eye(70), np.zeros((70, 70))])
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        _precision_cholesky_full(covariances)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("scale", [1.0, 3.1e-130, 7.7e140])
def test_kl_from_the_factors_equals_the_kl_of_the_matrices(covariance_type, scale):
    """_kl_to_prior (O(K d^2) terms) against kl_normal_wishart on W_k and W0."""
    X = _wide_blobs(n_samples=150, d=70, seed=2) * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = VariationalGaussianMixture(
            n_components=3,
            covariance_type=covariance_type,
            reg_covar=1e-6 * scale**2,
            max_iter=4,
            random_state=0,
        ).fit(X)
    params, model = est._current()
    K = params.means.shape[0]
    reference = model.weight_prior.kl(
        params.weight_concentration, model.weight_concentration_prior
    ) + np.sum(
        kl_normal_wishart(
            params.means,
            params.mean_precision,
            np.broadcast_to(params.degrees_of_freedom, (K,)),
            _wishart_scale(params, model),
            model.mean_prior,
            model.mean_precision_prior,
            model.degrees_of_freedom_prior,
            model.prior_scale,
        )
    )
    assert_allclose(_kl_to_prior(params, model), reference, rtol=1e-12)


# 2**-480 and 2**455: each feature scaled by a power of two before its
# products (they would leave float64's normal range), 1 and 2**300 not.
@pytest.mark.parametrize("magnitude", [1.0, 2.0**300, 2.0**-480, 2.0**455])
def test_between_part_scatter_is_the_weighted_sum_of_outer_products(magnitude):
    rng = np.random.default_rng(4)
    n_parts, K, d = 5, 3, 80
    weights = rng.uniform(0.0, 50.0, size=(n_parts, K))
    weights[1, 2] = 0.0
    # Features of sizes 1e-3 to 1e3 times the magnitude.
    spread = rng.normal(size=(n_parts, K, d)) * np.logspace(-3, 3, d) * magnitude
    between = _between_full(weights, spread)
    unit = spread / magnitude  # exact: a power of two
    reference = np.einsum("pk,pki,pkj->kij", weights, unit, unit)
    # Off the diagonal a sum can cancel: errors relative to sqrt(S_ii S_jj).
    size = np.sqrt(np.einsum("kii->ki", reference))
    error = between / magnitude / magnitude - reference
    assert np.abs(error / size[:, :, None] / size[:, None, :]).max() < 1e-14
    assert np.array_equal(between, between.transpose(0, 2, 1))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_wide_fit_agrees_with_scikit_learn(covariance_type):
    """d = 90 > n_k: the same start, three iterations, the same fit."""
    X = _wide_blobs()
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        init_params="random",
        random_state=0,
        max_iter=3,
        tol=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = BayesianGaussianMixture(**params).fit(X)
        ours = VariationalGaussianMixture(**params).fit(X)
    for name in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        expected = getattr(reference, name)
        assert_allclose(
            getattr(ours, name),
            expected,
            rtol=1e-9,
            atol=1e-12 * np.abs(expected).max(),
        )
    assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=1e-12)


def test_merging_a_single_part_returns_its_statistics():
    """One part: no between-part term; the same numbers, in a new array."""
    from skvi._core.component_stats import sufficient_statistics
    from skvi._core.stats import SufficientStatistics

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 30)) * 1e3 + 7.0
    resp = rng.dirichlet(np.ones(3), size=40)
    resp[:, 2] = 0.0  # a component of zero weight
    part = sufficient_statistics(X, None, resp, scatter="full", reference=X.mean(0))
    merged = SufficientStatistics.merge_all([part])
    assert np.array_equal(merged.weight, part.weight)
    assert np.array_equal(merged.mean, part.mean)
    assert np.array_equal(merged.scatter, part.scatter)
    assert merged.scatter is not part.scatter
    # And the same as a merge with a second part of zero weight, through the
    # between-part term.
    empty = sufficient_statistics(
        X[:1], np.zeros(1), resp[:1], scatter="full", reference=X.mean(0)
    )
    assert_allclose(
        SufficientStatistics.merge_all([part, empty]).scatter, part.scatter, rtol=1e-15
    )


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_kl_is_accurate_for_an_ill_conditioned_covariance_prior(covariance_type):
    """cond(covariance_prior) = 2**30: against its exact eigenbasis.

    ``A0 = Q diag(lam) Q^T`` with ``Q = H / 8``, ``H`` the Hadamard matrix of
    order 64, and ``lam`` powers of two from 1 to 2**-30: every entry and
    partial sum is a multiple of 2**-36 below 64, so A0 is exact in float64,
    ``log|A0| = sum_i log lam_i`` and ``tr(A0 W_k) = sum_i lam_i (Q^T W_k
    Q)_ii``, a sum of positive terms, need no inverse of A0. Inverting A0
    first (kl_normal_wishart on W0 = inv(A0)) loses digits to cond(A0).
    """
    from scipy.linalg import hadamard

    from skvi._core.families.wishart import _kl_normal_wishart_from

    d = 64
    H = hadamard(d).astype(float) / 8.0
    lam = np.ldexp(1.0, -np.round(np.linspace(0, 30, d)).astype(int))
    prior = (H * lam) @ H.T
    assert np.array_equal(prior, prior.T)
    X = _wide_blobs(n_samples=300, d=d, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = VariationalGaussianMixture(
            n_components=3,
            covariance_type=covariance_type,
            covariance_prior=prior,
            max_iter=3,
            random_state=0,
        ).fit(X)
    params, model = est._current()
    K = 3
    dof = np.broadcast_to(params.degrees_of_freedom, (K,))
    scale = _wishart_scale(params, model)
    rotated = np.einsum("ji,kjl,lm->kim", H, scale, H)
    trace = np.einsum("i,kii->k", lam, rotated)
    shift = params.means - model.mean_prior
    reference = model.weight_prior.kl(
        params.weight_concentration, model.weight_concentration_prior
    ) + np.sum(
        _kl_normal_wishart_from(
            d,
            params.mean_precision,
            dof,
            model.mean_precision_prior,
            model.degrees_of_freedom_prior,
            trace=trace,
            log_det=params.log_det_scale + np.log(lam).sum(),
            expected_quadratic=dof * np.einsum("ki,kij,kj->k", shift, scale, shift),
        )
    )
    # tr(A0 W_k) to rounding; log|A0| from any factorisation of A0 carries
    # its backward error, about eps cond(A0) d = 1e-8 here (not a bug).
    terms = covariance.COVARIANCE_TYPES[covariance_type].wishart_terms(
        params.precisions_cholesky, dof, shift, prior
    )
    assert_allclose(np.broadcast_to(terms[0], (K,)), trace, rtol=1e-13)
    assert abs(terms[2] - np.log(lam).sum()) < 1e-7
    assert_allclose(_kl_to_prior(params, model), reference, rtol=1e-10)


@pytest.mark.parametrize("d", [1, 7, 129, 300])
def test_square_norm_of_a_product_of_triangles_is_the_dense_one(d):
    from skvi._mixture.triangles import _lower_product_square_norm

    rng = np.random.default_rng(d)
    a = np.tril(rng.normal(size=(d, d)))
    b = np.tril(rng.normal(size=(d, d)))
    # a as the transpose of an upper factor, as the KL passes it.
    upper = np.ascontiguousarray(a.T)
    expected = np.square(a @ b).sum()
    assert_allclose(_lower_product_square_norm(upper.T, b), expected, rtol=1e-13)


@pytest.mark.parametrize("d", [1, 128, 129, 300, 1000])
def test_product_with_a_triangle_is_the_dense_one(d):
    """``_lower_times(a, b) == a b`` for any width, b a transposed row block."""
    from skvi._mixture.triangles import _lower_times

    rng = np.random.default_rng(d + 1)
    a = np.tril(rng.normal(size=(d, d)))
    rows = rng.normal(size=(37, d))  # as the E-step passes it: deviation.T
    expected = a @ rows.T
    actual = _lower_times(a, rows.T)
    assert actual.shape == expected.shape
    assert_allclose(actual, expected, rtol=0, atol=1e-13 * np.abs(expected).max())


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_wide_mahalanobis_terms_through_triangles(covariance_type):
    """At d >= 256 the E-step's ``||U_k^T (x - m_k)||^2`` takes the triangular
    route; it gives the dense formula's values."""
    from skvi._mixture.triangles import _TRIANGULAR_FEATURES

    rng = np.random.default_rng(3)
    d, K, n = _TRIANGULAR_FEATURES + 44, 3, 50
    record = covariance.covariance_type(covariance_type)
    factors = np.triu(rng.normal(size=(K, d, d))) + 3 * np.eye(d)
    factors = factors if covariance_type == "full" else factors[0]
    deviation = rng.normal(size=(n, d))
    shifted_means = rng.normal(size=(K, d))
    terms = record.terms(shifted_means, factors)
    actual = record.from_terms(deviation, deviation**2, terms)
    per_component = factors if covariance_type == "full" else [factors] * K
    expected = np.stack(
        [
            np.square((deviation - shifted_means[k]) @ per_component[k]).sum(1)
            for k in range(K)
        ]
    )
    assert_allclose(actual, expected, rtol=1e-12)


def test_wide_fit_through_triangles_agrees_with_scikit_learn():
    """d = 300: the triangular E-step, the same fit as scikit-learn's."""
    rng = np.random.default_rng(5)
    centres = rng.normal(0.0, 3.0, (3, 300))
    X = centres[rng.integers(0, 3, 400)] + rng.normal(size=(400, 300))
    params = dict(
        n_components=3,
        init_params="random",
        random_state=0,
        max_iter=3,
        tol=0.0,
        reg_covar=1e-3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = BayesianGaussianMixture(**params).fit(X)
        ours = VariationalGaussianMixture(**params).fit(X)
    for name in ["weights_", "means_", "covariances_"]:
        expected = getattr(reference, name)
        assert_allclose(
            getattr(ours, name),
            expected,
            rtol=1e-9,
            atol=1e-12 * np.abs(expected).max(),
        )
    assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=1e-12)
