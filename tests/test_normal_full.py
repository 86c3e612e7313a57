"""VariationalNormalEstimator(covariance_type="full") against independent references."""

# SPDX-License-Identifier: BSD-3-Clause

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

from skvi import VariationalNormalEstimator
from skvi._core.families.normal import kl_multivariate_normal, kl_normal
from skvi._core.families.wishart import (
    wishart_expected_log_det,
    wishart_expected_precision,
)
from skvi._normal.covariance import Start
from skvi._normal.full_covariance import (
    cavi_update,
    elbo,
    optimal_precision_elbo,
    wishart_prior,
)
from skvi.exceptions import ELBODecreaseWarning, PriorDataConflictWarning

# Correlated 3-D data, away from zero and not of unit scale.
TRUE_MEAN = np.array([1.0, -2.0, 3.0])
TRUE_COVARIANCE = np.array([[1.0, 0.8, 0.3], [0.8, 2.0, -0.6], [0.3, -0.6, 1.5]])
PRIORS = dict(prior_mean=0.5, prior_std=3.0, prior_shape=2.0, prior_rate=1.5)


def correlated(n_samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(TRUE_MEAN, TRUE_COVARIANCE, size=n_samples)


def full(**params):
    return VariationalNormalEstimator(covariance_type="full", **{**PRIORS, **params})


def documented_wishart_prior(prior_shape, prior_rate, dimension):
    """``nu0 = 2 a0 + d - 1``, ``W0 = diag(1 / (2 b0))``, as the docstring says."""
    return 2.0 * prior_shape + dimension - 1.0, np.diag(0.5 / prior_rate)


def gibbs(X, prior_mean, prior_std, prior_dof, prior_scale, n_steps, n_chains, seed):
    """Gibbs sampler of the semi-conjugate model; both full conditionals conjugate.

    ``mu | Lambda ~ Normal(P^-1 (S0^-1 m0 + Lambda sum x), P^-1)`` with
    ``P = S0^-1 + n Lambda``; ``Lambda | mu ~ Wishart(nu0 + n,
    (W0^-1 + sum (x - mu)(x - mu)^T)^-1)``. ``n_chains`` independent chains
    step together, vectorised; a Wishart(nu, V) draw is ``L W L^T`` with
    ``V = L L^T`` and W scipy's Wishart(nu, I). Returns draws of shape
    (n_steps, n_chains, ...).
    """
    rng = np.random.default_rng(seed)
    n, d = X.shape
    prior_precision = np.diag(1.0 / prior_std**2)
    total = X.sum(axis=0)
    inverse_prior_scale = np.linalg.inv(prior_scale)
    mu = np.broadcast_to(X.mean(axis=0), (n_chains, d))
    mus = np.empty((n_steps, n_chains, d))
    precisions = np.empty((n_steps, n_chains, d, d))
    for t in range(n_steps):
        deviation = X[None] - mu[:, None]
        scatter = np.einsum("cni,cnj->cij", deviation, deviation)
        lower = np.linalg.cholesky(np.linalg.inv(inverse_prior_scale + scatter))
        standard = stats.wishart.rvs(
            df=prior_dof + n, scale=np.eye(d), size=n_chains, random_state=rng
        )
        precision = lower @ standard @ lower.transpose(0, 2, 1)
        covariance = np.linalg.inv(prior_precision + n * precision)
        centre = np.einsum(
            "cij,cj->ci", covariance, prior_precision @ prior_mean + precision @ total
        )
        noise = rng.standard_normal((n_chains, d))
        mu = centre + np.einsum("cij,cj->ci", np.linalg.cholesky(covariance), noise)
        mus[t], precisions[t] = mu, precision
    return mus, precisions


def chains_se(draws):
    """Monte Carlo standard error of the mean over independent chains' means."""
    means = draws.mean(axis=0)
    return means.std(axis=0, ddof=1) / np.sqrt(means.shape[0])


def test_against_gibbs():
    """Posterior mean of mu and E[Lambda] agree with a long Gibbs run within 4 MC s.e.

    With 400 samples and a prior on mu that the data dominate, mean-field's
    own error in these two moments is O(1/n**2) of them, far below the Monte
    Carlo error, so the test measures the derivation, not mean-field. 100
    independent chains of 250 steps, the first 50 of each dropped: 20,000
    draws.
    """
    X = correlated(400, seed=1)
    est = full().fit(X)
    d = X.shape[1]
    prior_dof, prior_scale = documented_wishart_prior(2.0, np.full(d, 1.5), d)
    mus, precisions = gibbs(
        X, np.full(d, 0.5), np.full(d, 3.0), prior_dof, prior_scale, 250, 100, seed=2
    )
    mus, precisions = mus[50:], precisions[50:]
    mean_se = chains_se(mus)
    precision_se = chains_se(precisions.reshape(*precisions.shape[:2], -1))
    mean_error = np.abs(est.posterior_mean_ - mus.mean(axis=(0, 1)))
    expected_precision = est.posterior_dof_ * est.posterior_scale_
    precision_error = np.abs(expected_precision - precisions.mean(axis=(0, 1))).ravel()
    assert np.all(mean_error < 4 * mean_se), mean_error / mean_se
    assert np.all(precision_error < 4 * precision_se), precision_error / precision_se
    # And the variational moments are not trivially those of the data.
    assert np.abs(expected_precision - np.linalg.inv(np.cov(X.T))).max() > 0.0


def test_elbo_by_monte_carlo():
    """elbo_ == E_q[log p(X, mu, Lambda) - log q(mu) - log q(Lambda)] within 4 s.e.

    Every density from scipy.stats, none from skvi.
    """
    X = correlated(60, seed=3)
    est = full().fit(X)
    d = X.shape[1]
    prior_dof, prior_scale = documented_wishart_prior(2.0, np.full(d, 1.5), d)
    mus, precisions = est.sample_posterior(4000, random_state=4)
    q_mu = stats.multivariate_normal(est.posterior_mean_, est.posterior_covariance_)
    p_mu = stats.multivariate_normal(np.full(d, 0.5), np.diag(np.full(d, 9.0)))
    q_precision = stats.wishart(df=est.posterior_dof_, scale=est.posterior_scale_)
    p_precision = stats.wishart(df=prior_dof, scale=prior_scale)
    stacked = np.moveaxis(precisions, 0, -1)
    log_likelihood = np.array(
        [
            stats.multivariate_normal(mu, np.linalg.inv(precision)).logpdf(X).sum()
            for mu, precision in zip(mus, precisions, strict=True)
        ]
    )
    terms = (
        log_likelihood
        + p_mu.logpdf(mus)
        - q_mu.logpdf(mus)
        + p_precision.logpdf(stacked)
        - q_precision.logpdf(stacked)
    )
    se = terms.std(ddof=1) / np.sqrt(len(terms))
    assert abs(terms.mean() - est.elbo_) < 4 * se, (terms.mean(), est.elbo_, se)


def test_elbo_never_decreases_under_plain_cavi():
    """Each plain CAVI update raises the ELBO, from a prior at odds with the data."""
    X = correlated(8, seed=5)
    d = X.shape[1]
    prior_std, prior_rate = np.full(d, 0.3), np.full(d, 0.2)
    prior_dof, prior_scale = wishart_prior(np.full(d, 1.0), prior_rate)
    prior = (np.full(d, -5.0), prior_std, None, None, prior_dof, prior_scale)
    weight, mean = float(len(X)), X.mean(axis=0)
    scatter = (X - mean).T @ (X - mean)
    precision_mean = prior_dof * prior_scale
    values = []
    for _ in range(400):  # plain CAVI creeps here: ~0.85 of the error per step
        state = cavi_update(weight, mean, scatter, prior, precision_mean)
        precision_mean = state.precision_mean
        values.append(elbo(weight, state, prior))
    assert np.all(np.diff(values) >= -1e-10 * np.abs(values[1:]))
    assert values[-1] - values[0] > 1e-3  # it did climb
    history = full(prior_mean=-5.0, prior_std=0.3, prior_shape=1.0, prior_rate=0.2)
    history = history.fit(X)
    rounding = 1e-12 * np.abs(history.elbo_history_[1:])
    assert np.all(np.diff(history.elbo_history_) >= -rounding)
    assert history.elbo_ == pytest.approx(values[-1], rel=1e-12)


def test_fit_is_a_stationary_point_of_the_elbo():
    """Perturbing any factor of the fitted q lowers the ELBO (each is a maximiser)."""
    X = correlated(30, seed=6)
    est = full().fit(X)
    d = X.shape[1]
    weight, mean = float(len(X)), X.mean(axis=0)
    scatter = (X - mean).T @ (X - mean)
    prior = (np.full(d, 0.5), np.full(d, 3.0), None, None) + wishart_prior(
        np.full(d, 2.0), np.full(d, 1.5)
    )
    fitted = cavi_update(
        weight,
        mean,
        scatter,
        prior,
        est.posterior_dof_ * est.posterior_scale_,
    )
    best = elbo(weight, fitted, prior)
    assert best == pytest.approx(est.elbo_, rel=1e-12)
    rng = np.random.default_rng(7)
    for _ in range(20):
        direction = rng.normal(size=(d, d))
        symmetric = 1e-3 * (direction + direction.T)
        for name, delta in [
            ("mean", 1e-3 * rng.normal(size=d)),
            ("covariance", symmetric * est.posterior_covariance_.max()),
            ("scale", symmetric * est.posterior_scale_.max()),
            ("dof", 1e-2 * rng.normal()),
        ]:
            state = dataclasses.replace(fitted, **{name: getattr(fitted, name) + delta})
            state = dataclasses.replace(
                state,
                scatter_about_mean=scatter
                + weight * np.outer(mean - state.mean, mean - state.mean),
                precision_mean=wishart_expected_precision(state.dof, state.scale),
                log_det_mean=float(wishart_expected_log_det(state.dof, state.scale)),
            )
            assert elbo(weight, state, prior) < best, name


@pytest.mark.parametrize("seed", range(4))
def test_optimal_precision_elbo_is_the_elbo_term_by_term(seed):
    """The collapsed ELBO the fit uses equals the module's formula on CAVI states."""
    rng = np.random.default_rng(seed)
    d = 3
    X = rng.normal(size=(20, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    weight, mean = float(len(X)), X.mean(axis=0)
    scatter = (X - mean).T @ (X - mean)
    prior = (
        rng.normal(size=d),
        rng.uniform(0.3, 3.0, size=d),
        None,
        None,
    ) + wishart_prior(np.full(d, rng.uniform(0.5, 3.0)), rng.uniform(0.1, 2.0, d))
    state = Start(prior[4] * prior[5])
    for _ in range(6):
        state = cavi_update(weight, mean, scatter, prior, state.precision_mean)
        assert optimal_precision_elbo(weight, state, prior) == pytest.approx(
            elbo(weight, state, prior), rel=1e-12
        )


def test_elbo_does_not_wobble_far_from_the_prior():
    """Constant data 326 prior sds away: the ELBO at the fixed point stays put.

    Term by term the ELBO cancelled to about 1e-9 relative there (4e-7 on
    -180), above the true change between sweeps, and the ELBO-decrease guard
    fired; the collapsed form is exact to rounding of its own size.
    """
    X = np.full((10, 3), 327.0)
    est = full(prior_mean=1.0, prior_std=1.0, prior_shape=7.0, prior_rate=0.0117, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ELBODecreaseWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", PriorDataConflictWarning)
        est.set_params(max_iter=60).fit(X)
    history = np.asarray(est.elbo_history_[1:])
    assert np.ptp(history) <= 1e-12 * np.abs(est.elbo_)
    # The term-by-term formula at the fitted state agrees to its own 1e-9.
    weight = float(len(X))
    prior = (np.ones(3), np.ones(3), None, None) + wishart_prior(
        np.full(3, 7.0), np.full(3, 0.0117)
    )
    state = cavi_update(
        weight,
        X[0],
        np.zeros((3, 3)),
        prior,
        est.posterior_dof_ * est.posterior_scale_,
    )
    assert est.elbo_ == pytest.approx(elbo(weight, state, prior), rel=1e-8)


def test_one_feature_full_equals_diag():
    """With d = 1, Wishart(2 a0, 1/(2 b0)) is Gamma(a0, b0): the two models agree."""
    rng = np.random.default_rng(8)
    cases = [
        (rng.normal(1.0, 2.0, size=(300, 1)), {}),
        (rng.normal(1.0, 2.0, size=(20, 1)), dict(prior_mean=3.0, prior_std=0.5)),
        (rng.normal(1.0, 2.0, size=(3, 1)), dict(prior_mean=10.0, prior_std=0.1)),
    ]
    for X, priors in cases:
        weights = rng.uniform(0.5, 2.0, size=len(X))
        diag = VariationalNormalEstimator(**priors).fit(X, sample_weight=weights)
        whole = VariationalNormalEstimator(covariance_type="full", **priors).fit(
            X, sample_weight=weights
        )
        for name in ("posterior_mean_", "posterior_std_", "noise_std_", "elbo_"):
            np.testing.assert_allclose(
                getattr(whole, name), getattr(diag, name), rtol=1e-12, err_msg=name
            )
        np.testing.assert_allclose(
            whole.posterior_dof_ / 2, diag.posterior_shape_, rtol=1e-12
        )
        np.testing.assert_allclose(
            0.5 / whole.posterior_scale_[0], diag.posterior_rate_, rtol=1e-12
        )
        np.testing.assert_allclose(
            whole.score_samples(X), diag.score_samples(X), rtol=1e-12
        )


def test_partial_fit_equals_fit():
    X = correlated(500, seed=9) + 1e6
    weights = np.random.default_rng(10).uniform(0, 3, size=len(X))
    priors = dict(prior_mean=1e6)
    whole = full(**priors).fit(X, sample_weight=weights)
    streamed = full(**priors)
    for rows in np.array_split(np.arange(len(X)), 7):
        streamed.partial_fit(X[rows], sample_weight=weights[rows])
    for name in (
        "posterior_mean_",
        "posterior_covariance_",
        "posterior_scale_",
        "noise_covariance_",
        "elbo_",
    ):
        np.testing.assert_allclose(
            getattr(streamed, name), getattr(whole, name), rtol=1e-9, err_msg=name
        )
    assert streamed.posterior_dof_ == pytest.approx(whole.posterior_dof_, rel=1e-14)


def test_score_times_weight_is_elbo():
    X = correlated(50, seed=11)
    weights = np.random.default_rng(12).uniform(0.1, 4.0, size=len(X))
    est = full().fit(X, sample_weight=weights)
    assert est.score(X, sample_weight=weights) * weights.sum() == pytest.approx(
        est.elbo_, rel=1e-12
    )


def test_fitted_attributes_and_draws():
    X = correlated(200, seed=13)
    est = full().fit(X)
    d = X.shape[1]
    nu0, w0 = documented_wishart_prior(2.0, np.full(d, 1.5), d)
    assert est.prior_dof_ == nu0
    np.testing.assert_array_equal(est.prior_scale_, w0)
    assert est.posterior_dof_ == nu0 + len(X)
    np.testing.assert_allclose(
        est.posterior_std_, np.sqrt(np.diag(est.posterior_covariance_))
    )
    np.testing.assert_allclose(
        est.noise_covariance_,
        np.linalg.inv(est.posterior_dof_ * est.posterior_scale_),
        rtol=1e-12,
    )
    np.testing.assert_allclose(est.noise_std_, np.sqrt(np.diag(est.noise_covariance_)))
    # The noise covariance tends to the sample covariance; its correlation shows.
    np.testing.assert_allclose(est.noise_covariance_, np.cov(X.T, bias=True), atol=0.1)
    for name in ("posterior_shape_", "posterior_rate_"):
        assert not hasattr(est, name)
    mus, precisions = est.sample_posterior(20000, random_state=0)
    assert mus.shape == (20000, d) and precisions.shape == (20000, d, d)
    np.testing.assert_allclose(
        mus.mean(axis=0), est.posterior_mean_, atol=5 * est.posterior_std_.max() / 141
    )
    np.testing.assert_allclose(
        np.cov(mus.T), est.posterior_covariance_, rtol=0.05, atol=1e-4
    )
    np.testing.assert_allclose(
        precisions.mean(axis=0),
        est.posterior_dof_ * est.posterior_scale_,
        rtol=0.02,
        atol=0.02,
    )
    lower, upper = est.credible_interval(0.9, method="variational")
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(upper - est.posterior_mean_, z * est.posterior_std_)
    np.testing.assert_allclose(est.posterior_mean_ - lower, z * est.posterior_std_)


def test_switching_covariance_type():
    """A fit of one type drops the other's attributes; partial_fit cannot switch."""
    X = correlated(40, seed=14)
    est = full().fit(X)
    est.set_params(covariance_type="diag").fit(X)
    assert not hasattr(est, "posterior_covariance_")
    assert hasattr(est, "posterior_shape_")
    reference = VariationalNormalEstimator(**PRIORS).fit(X)
    np.testing.assert_array_equal(est.posterior_mean_, reference.posterior_mean_)
    est.set_params(covariance_type="full")
    with pytest.raises(ValueError, match="partial_fit cannot change covariance_type"):
        est.partial_fit(X)
    np.testing.assert_array_equal(est.posterior_mean_, reference.posterior_mean_)


def test_per_feature_prior_shape_refused():
    X = correlated(40, seed=15)
    with pytest.raises(ValueError, match="one prior_shape for all features"):
        full(prior_shape=[1.0, 2.0, 3.0]).fit(X)


def test_none_priors():
    """Unit-information priors resolve per feature, as for "diag"."""
    X = correlated(40, seed=16)
    est = VariationalNormalEstimator(
        covariance_type="full",
        prior_mean=None,
        prior_std=None,
        prior_shape=None,
        prior_rate=None,
    ).fit(X)
    diag = VariationalNormalEstimator(
        prior_mean=None, prior_std=None, prior_shape=None, prior_rate=None
    ).fit(X)
    for name in ("prior_mean_", "prior_std_", "prior_shape_", "prior_rate_"):
        np.testing.assert_allclose(getattr(est, name), getattr(diag, name))
    assert est.prior_dof_ == 1.0 + X.shape[1] - 1


@pytest.mark.parametrize("d", [1, 3])
def test_kl_multivariate_normal_by_monte_carlo(d):
    rng = np.random.default_rng(17 + d)
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    covariance = a @ a.T + 0.5 * np.eye(d)
    prior_covariance = b @ b.T + 0.5 * np.eye(d)
    mean, prior_mean = rng.normal(size=d), rng.normal(size=d)
    q = stats.multivariate_normal(mean, covariance)
    p = stats.multivariate_normal(prior_mean, prior_covariance)
    draws = q.rvs(size=200000, random_state=rng).reshape(-1, d)
    log_ratio = q.logpdf(draws) - p.logpdf(draws)
    se = log_ratio.std(ddof=1) / np.sqrt(len(log_ratio))
    value = kl_multivariate_normal(mean, covariance, prior_mean, prior_covariance)
    assert abs(value - log_ratio.mean()) < 4 * se
    # Exact cross-check by scipy's entropy: KL = -H[q] - E_q[log p].
    precision = np.linalg.inv(prior_covariance)
    shift = mean - prior_mean
    cross = -p.logpdf(prior_mean) + 0.5 * (
        np.trace(precision @ covariance) + shift @ precision @ shift
    )
    assert value == pytest.approx(cross - q.entropy(), rel=1e-10, abs=1e-12)
    if d == 1:
        assert value == pytest.approx(
            kl_normal(
                mean[0],
                np.sqrt(covariance[0, 0]),
                prior_mean[0],
                np.sqrt(prior_covariance[0, 0]),
            ),
            rel=1e-12,
        )


def test_wishart_prior_gives_the_diagonal_models_noise_prior():
    """Under Wishart(2 a0 + d - 1, diag(1/(2 b0))), (Lambda^-1)_jj ~ InvGamma(a0, b0).

    The documented reason for the derivation, checked by sampling with scipy.
    """
    d, prior_shape, prior_rate = 3, 1.7, np.array([0.5, 2.0, 8.0])
    est = VariationalNormalEstimator(
        covariance_type="full", prior_shape=prior_shape, prior_rate=prior_rate
    ).fit(correlated(5, seed=18))
    draws = stats.wishart(df=est.prior_dof_, scale=est.prior_scale_).rvs(
        size=20000, random_state=19
    )
    variances = np.diagonal(np.linalg.inv(draws), axis1=1, axis2=2)
    for j in range(d):
        law = stats.invgamma(prior_shape, scale=prior_rate[j])
        assert stats.kstest(variances[:, j], law.cdf).pvalue > 1e-3
        # ...and not the law of another shape.
        other = stats.invgamma(prior_shape + 0.3, scale=prior_rate[j])
        assert stats.kstest(variances[:, j], other.cdf).pvalue < 1e-6


def test_frequency_weights_are_repeated_rows():
    X = correlated(30, seed=20)
    counts = np.random.default_rng(21).integers(0, 4, size=len(X))
    weighted = full().fit(X, sample_weight=counts)
    repeated = full().fit(np.repeat(X, counts, axis=0))
    for name in ("posterior_mean_", "posterior_covariance_", "posterior_scale_"):
        np.testing.assert_allclose(
            getattr(weighted, name), getattr(repeated, name), rtol=1e-10
        )
    assert weighted.elbo_ == pytest.approx(repeated.elbo_, rel=1e-12)


def test_numerical_breakdown_is_a_clear_error_and_loses_nothing():
    X = correlated(10, seed=22) + 1e9
    est = full(prior_mean=1e9).fit(X)
    before = est.posterior_mean_
    with pytest.raises(ValueError, match="not representable in float64"):
        est.set_params(prior_mean=0.0, prior_std=1e4).fit(X)
    assert est.posterior_mean_ is before


@pytest.mark.parametrize("prior_std", [1e-150, 1e-3, 1e150, 1e300])
def test_vague_and_tight_priors_one_feature_equal_diag(prior_std):
    """prior_std over float64's range (its square never formed): d = 1 is diag."""
    X = np.random.default_rng(30).normal(1.0, 2.0, size=(25, 1))
    priors = dict(prior_mean=0.5, prior_std=prior_std)
    diag = VariationalNormalEstimator(**priors).fit(X)
    whole = VariationalNormalEstimator(covariance_type="full", **priors).fit(X)
    for name in ("posterior_mean_", "posterior_std_", "noise_std_", "elbo_"):
        np.testing.assert_allclose(
            getattr(whole, name), getattr(diag, name), rtol=1e-12, err_msg=name
        )
    np.testing.assert_allclose(
        whole.score_samples(X), diag.score_samples(X), rtol=1e-12
    )


def test_vague_prior_the_kl_grows_by_log_prior_std():
    """prior_std 1e150 -> 1e300: q is the same, the ELBO falls by d log(1e150).

    With the prior flat on q's scale, q(mu) and q(Lambda) no longer depend on
    it, and KL(q(mu) || p(mu)) = 1/2 (tr(S0^-1 S) + |m - m0|**2_{S0^-1} - d
    - log|S0^-1 S|) changes only through log|S0| = 2 d log(s0) (the other
    terms are below 1e-290).
    """
    X = correlated(40, seed=31)
    vague = full(prior_std=1e150).fit(X)
    vaguer = full(prior_std=1e300).fit(X)
    for name in ("posterior_mean_", "posterior_covariance_", "posterior_scale_"):
        np.testing.assert_allclose(
            getattr(vaguer, name), getattr(vague, name), rtol=1e-12, err_msg=name
        )
    np.testing.assert_allclose(
        vague.elbo_ - vaguer.elbo_, 3 * np.log(1e150), rtol=1e-12
    )
    np.testing.assert_allclose(vaguer.score(X) * 40, vaguer.elbo_, rtol=1e-12)
    assert np.all(np.isfinite(vaguer.score_samples(X)))


def test_tight_prior_pins_mu():
    """prior_std 1e-150: mu at the prior mean, q(Lambda) on the scatter about it.

    ``W^-1 = W0^-1 + S + W (xbar - m0)(xbar - m0)^T`` (plus W S_mu, 1e-300).
    """
    X = correlated(30, seed=32)
    prior_mean = np.array([0.5, -1.0, 2.0])
    est = full(prior_mean=prior_mean, prior_std=1e-150).fit(X)
    np.testing.assert_allclose(est.posterior_mean_, prior_mean, rtol=1e-12)
    np.testing.assert_allclose(est.posterior_std_, 1e-150, rtol=1e-10)
    deviation = X - prior_mean
    inverse_scale = np.diag(2.0 * np.full(3, PRIORS["prior_rate"])) + (
        deviation.T @ deviation
    )
    np.testing.assert_allclose(
        est.posterior_scale_, np.linalg.inv(inverse_scale), rtol=1e-10
    )
    assert np.isfinite(est.elbo_)


@pytest.mark.parametrize("prior_std", [1e-200, [1.0, 1e-300, 1.0]])
def test_prior_std_below_the_limit_is_a_clear_error_and_loses_nothing(prior_std):
    X = correlated(20, seed=33)
    est = full().fit(X)
    before = est.posterior_mean_
    with pytest.raises(ValueError, match=r"prior_std >= 1.49e-154 \(got 1e-[23]00\)"):
        est.set_params(prior_std=prior_std).fit(X)
    assert est.posterior_mean_ is before


# dask input, on a real dask.distributed cluster (the fixture of tests/test_dask.py).

FULL_ATTRIBUTES = (
    "posterior_mean_",
    "posterior_std_",
    "posterior_covariance_",
    "posterior_dof_",
    "posterior_scale_",
    "noise_covariance_",
    "noise_std_",
    "sample_mean_",
    "n_samples_seen_",
    "prior_mean_",
    "prior_std_",
    "prior_rate_",
    "elbo_",
    "elbo_history_",
)


# The dask tests below use conftest.py's `client` fixture, one 2-worker cluster
# per test process (conftest.py's DASK_TESTS).


def _assert_same_full_fit(actual, expected, rtol=1e-10):
    assert actual.n_iter_ == expected.n_iter_
    for name in FULL_ATTRIBUTES:
        value, reference = getattr(actual, name), getattr(expected, name)
        scale = np.max(np.abs(reference))
        if name in ("elbo_", "elbo_history_"):
            scale = max(scale, expected.n_samples_seen_)
        np.testing.assert_allclose(
            value, reference, rtol=0, atol=rtol * scale, err_msg=name
        )


def _dask_data(n_samples=1_000, seed=40):
    """Correlated rows far from zero, on different scales; weights with zeros."""
    rng = np.random.default_rng(seed)
    X = correlated(n_samples, seed) * [1.0, 10.0, 1e-3] + [1e3, -2.0, 0.5]
    weights = rng.uniform(0.0, 3.0, size=n_samples)
    weights[::7] = 0.0
    return X, weights


@pytest.mark.parametrize("chunks", [(1_000, 3), (37, 3), (333, 2)])
@pytest.mark.parametrize("weights", [None, "numpy", "dask"])
def test_dask_array_equals_numpy_fit(client, chunks, weights):
    da = pytest.importorskip("dask.array")
    X, sample_weight = _dask_data()
    sample_weight = None if weights is None else sample_weight
    # Priors from the data (None): on the data's scale, feature by feature.
    params = dict(prior_mean=None, prior_std=None, prior_rate=None)
    expected = full(**params).fit(X, sample_weight=sample_weight)
    if weights == "dask":
        sample_weight = da.from_array(sample_weight, chunks=250)
    actual = full(**params).fit(
        da.from_array(X, chunks=chunks), sample_weight=sample_weight
    )
    _assert_same_full_fit(actual, expected)


def test_dask_partial_fit_and_dataframe_equal_numpy(client):
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    X, sample_weight = _dask_data(600, seed=41)
    params = dict(prior_mean=[1e3, -2.0, 0.5], prior_std=[1.0, 10.0, 1e-3])
    expected = full(**params).fit(X, sample_weight=sample_weight)
    streamed = full(**params)
    for rows in np.array_split(np.arange(600), 3):
        streamed.partial_fit(
            da.from_array(X[rows], chunks=70),
            sample_weight=da.from_array(sample_weight[rows], chunks=70),
        )
    _assert_same_full_fit(streamed, expected)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    actual = full(**params).fit(dd.from_pandas(frame, npartitions=4))
    _assert_same_full_fit(actual, full(**params).fit(frame))


def test_dask_bad_input_is_the_numpy_error_and_loses_nothing(client):
    da = pytest.importorskip("dask.array")
    X, _ = _dask_data(200, seed=42)
    est = full(prior_mean=None, prior_std=None).fit(X)
    before = est.posterior_mean_
    bad = X.copy()
    bad[150, 1] = np.nan
    with pytest.raises(ValueError) as numpy_error:
        full().fit(bad)
    with pytest.raises(ValueError) as dask_error:
        est.fit(da.from_array(bad, chunks=50))
    assert str(dask_error.value) == str(numpy_error.value)
    assert est.posterior_mean_ is before


@pytest.mark.parametrize("exponent", [-480, -150, 150, 480])
def test_units_a_power_of_two_give_the_same_fit_exactly(exponent):
    """The fit runs in per-feature powers of two: X 2**e gives the fit scaled by 2**e.

    Bit for bit, since the scaled problem is the same; far beyond the square
    root of float64's range (2**+-480), where the unscaled model overflowed.
    """
    X = correlated(25, seed=9)
    base = full().fit(X)
    c = 2.0**exponent
    moved = full(prior_mean=0.5 * c, prior_std=3.0 * c, prior_rate=1.5 * c**2)
    moved = moved.fit(X * c)
    np.testing.assert_array_equal(moved.posterior_mean_, base.posterior_mean_ * c)
    np.testing.assert_array_equal(
        moved.posterior_covariance_, base.posterior_covariance_ * c**2
    )
    np.testing.assert_array_equal(moved.posterior_scale_, base.posterior_scale_ / c**2)
    np.testing.assert_array_equal(
        moved.noise_covariance_, base.noise_covariance_ * c**2
    )
    shift = -len(X) * X.shape[1] * exponent * np.log(2.0)
    assert moved.elbo_ == pytest.approx(base.elbo_ + shift, rel=1e-13)


@pytest.mark.parametrize("units", [1e-150, 1e150])
def test_units_of_1e150_give_the_same_fit(units):
    """Data and priors in units of 1e-150 or 1e150: the same fit, to rounding."""
    X = correlated(25, seed=10)
    base = full().fit(X)
    moved = full(
        prior_mean=0.5 * units, prior_std=3.0 * units, prior_rate=1.5 * units**2
    ).fit(X * units)
    for name, power in [
        ("posterior_mean_", 1),
        ("posterior_covariance_", 2),
        ("posterior_scale_", -2),
        ("noise_covariance_", 2),
    ]:
        np.testing.assert_allclose(
            getattr(moved, name),
            getattr(base, name) * units**power,
            rtol=1e-12,
            err_msg=name,
        )
