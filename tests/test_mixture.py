"""VariationalGaussianMixture against scikit-learn, Monte Carlo and its own promises."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import BayesianGaussianMixture

from skvi import VariationalGaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
WEIGHT_PRIORS = ["dirichlet_process", "dirichlet_distribution"]


def _blobs(n_per=(60, 80, 50), d=3, seed=0, spread=4.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, size=(len(n_per), d))
    X = np.concatenate(
        [
            rng.normal(c, rng.uniform(0.5, 1.5), size=(n, d))
            for c, n in zip(centres, n_per, strict=True)
        ]
    )
    labels = np.repeat(np.arange(len(n_per)), n_per)
    return X, labels


def _given_responsibilities(X, n_components, seed=0):
    """Initial responsibilities that depend on each row only (not on its index)."""
    centres = np.random.default_rng(seed).normal(size=(n_components, X.shape[1]))
    logits = -0.5 * ((X[:, None, :] - centres) ** 2).sum(-1) / 10.0
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


class _BGMWithResponsibilities(BayesianGaussianMixture):
    """scikit-learn's estimator started from the given responsibilities."""

    def __init__(self, *, resp=None, **params):
        super().__init__(**params)
        self.resp = resp

    def _initialize_parameters(self, X, random_state, xp=None):
        self._initialize(X, self.resp)


def _with_responsibilities(monkeypatch, resp_of_X):
    monkeypatch.setattr(
        VariationalGaussianMixture,
        "_initial_responsibilities",
        lambda self, data, random_state: resp_of_X(data.X),
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
def test_agrees_with_scikit_learn_from_the_same_responsibilities(
    monkeypatch, covariance_type, weight_prior
):
    X, _ = _blobs()
    resp = _given_responsibilities(X, 4)
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=weight_prior,
        max_iter=12,
        tol=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = _BGMWithResponsibilities(resp=resp, **params).fit(X)
        _with_responsibilities(monkeypatch, lambda X_: resp)
        ours = VariationalGaussianMixture(**params).fit(X)
    assert ours.n_iter_ == reference.n_iter_ == 12
    for name in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        assert_allclose(getattr(ours, name), getattr(reference, name), rtol=1e-6)
    for name in ["mean_precision_", "degrees_of_freedom_"]:
        assert_allclose(getattr(ours, name), getattr(reference, name), rtol=1e-6)
    if hasattr(reference, "lower_bounds_"):  # scikit-learn >= 1.7 keeps the trace
        assert_allclose(
            np.ravel(ours.lower_bounds_), np.ravel(reference.lower_bounds_), rtol=1e-9
        )
    assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=1e-9)
    assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-8)


def test_same_random_state_gives_scikit_learns_kmeans_start():
    X, _ = _blobs(seed=3)
    params = dict(n_components=3, random_state=7, max_iter=2000, tol=1e-12)
    reference = BayesianGaussianMixture(**params).fit(X)
    ours = VariationalGaussianMixture(**params).fit(X)
    # Both stop on scikit-learn's rule, a change of its bound below tol.
    assert ours.n_iter_ == reference.n_iter_
    for name in ["weights_", "means_", "covariances_"]:
        assert_allclose(getattr(ours, name), getattr(reference, name), rtol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
def test_elbo_minus_lower_bound_is_the_documented_constant(
    covariance_type, weight_prior
):
    """``elbo_ - lower_bound_ -> c`` at convergence (reg_covar=0), c from the Notes."""
    X, _ = _blobs(seed=1)
    weights = np.random.default_rng(0).integers(1, 4, len(X)).astype(float)
    est = VariationalGaussianMixture(
        n_components=3,
        covariance_type=covariance_type,
        weight_concentration_prior_type=weight_prior,
        reg_covar=0.0,
        tol=1e-11,
        max_iter=2000,
        random_state=0,
    ).fit(X, sample_weight=weights)
    K, d = est.means_.shape
    W = weights.sum()
    prior_covariance = {
        "full": lambda c: c,
        "tied": lambda c: c,
        "diag": np.diag,
        "spherical": lambda c: c * np.eye(d),
    }[covariance_type](np.asarray(est.covariance_prior_))
    nu0 = est.degrees_of_freedom_prior_
    # log B(W0, nu0) with W0 = covariance_prior^-1, from scipy's Wishart density
    # at the identity: log W(I | nu0, W0) = log B - tr(W0^-1)/2.
    log_b0 = stats.wishart(df=nu0, scale=np.linalg.inv(prior_covariance)).logpdf(
        np.eye(d)
    ) + 0.5 * np.trace(prior_covariance)
    alpha0 = est.weight_concentration_prior_
    weights_term = {
        "dirichlet_process": K * np.log(alpha0),
        "dirichlet_distribution": stats.dirichlet(np.full(K, alpha0)).logpdf(
            np.full(K, 1.0 / K)
        )
        - (alpha0 - 1) * K * np.log(1.0 / K),
    }[weight_prior]
    c = (
        K
        * (d * (d - 1) / 4 * np.log(np.pi) + d / 2 * np.log(est.mean_precision_prior_))
        + K * log_b0
        - W * d / 2 * np.log(2 * np.pi)
        + weights_term
    )
    assert est.converged_
    assert_allclose(est.elbo_ - est.lower_bound_, c, rtol=1e-9, atol=1e-6)


def _logpdf_q_and_p(est, draws):
    """log q(theta) and log p(theta) of each draw, with scipy's densities."""
    weights, means, precisions = draws
    S, K, d = means.shape
    dof = np.broadcast_to(est.degrees_of_freedom_, (K,))
    scale = _wishart_scale(est)
    prior_covariance = _prior_covariance(est)
    prior_scale = np.linalg.inv(prior_covariance)
    log_q = np.zeros(S)
    log_p = np.zeros(S)
    for k in range(K):
        log_q += stats.wishart(df=dof[k], scale=scale[k]).logpdf(
            np.moveaxis(precisions[:, k], 0, -1)
        )
        log_p += stats.wishart(
            df=est.degrees_of_freedom_prior_, scale=prior_scale
        ).logpdf(np.moveaxis(precisions[:, k], 0, -1))
        log_q += _log_normal(
            means[:, k], est.means_[k], est.mean_precision_[k] * precisions[:, k]
        )
        log_p += _log_normal(
            means[:, k], est.mean_prior_, est.mean_precision_prior_ * precisions[:, k]
        )
    alpha0 = est.weight_concentration_prior_
    if est.weight_concentration_prior_type == "dirichlet_process":
        # Recover the sticks v_k = pi_k / prod_{j<k} (1 - v_j).
        remaining = 1.0 - np.concatenate(
            [np.zeros((S, 1)), np.cumsum(weights, axis=1)[:, :-1]], axis=1
        )
        sticks = weights / remaining
        a, b = est.weight_concentration_
        log_q += stats.beta(a, b).logpdf(sticks).sum(1)
        log_p += stats.beta(1.0, alpha0).logpdf(sticks).sum(1)
    else:
        log_q += np.array(
            [stats.dirichlet(est.weight_concentration_).logpdf(w) for w in weights]
        )
        log_p += np.array(
            [stats.dirichlet(np.full(K, alpha0)).logpdf(w) for w in weights]
        )
    return log_q, log_p


def _log_normal(x, mean, precision):
    """log Normal(x | mean, precision^-1), written out; broadcasts over draws."""
    d = precision.shape[-1]
    deviation = x - mean
    return 0.5 * (
        np.linalg.slogdet(precision)[1]
        - d * np.log(2 * np.pi)
        - np.einsum("...i,...ij,...j->...", deviation, precision, deviation)
    )


def _prior_covariance(est):
    d = est.means_.shape[1]
    return {
        "full": lambda c: c,
        "tied": lambda c: c,
        "diag": np.diag,
        "spherical": lambda c: c * np.eye(d),
    }[est.covariance_type](np.asarray(est.covariance_prior_, dtype=float))


def _wishart_scale(est):
    """W_k = precisions_ / nu_k, as (K, d, d) matrices."""
    K, d = est.means_.shape
    dof = np.broadcast_to(est.degrees_of_freedom_, (K,))
    precisions = {
        "full": lambda p: p,
        "tied": lambda p: np.broadcast_to(p, (K, d, d)),
        "diag": lambda p: p[:, :, None] * np.eye(d),
        "spherical": lambda p: p[:, None, None] * np.eye(d),
    }[est.covariance_type](est.precisions_)
    return precisions / dof[:, None, None]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
def test_elbo_equals_a_monte_carlo_estimate_from_q(covariance_type, weight_prior):
    """elbo_ = E_q[log p(X, Z, theta) - log q(Z, theta)], estimated from q's draws.

    The expectation over Z is a sum over q(z_i) (predict_proba); the one over
    theta is a Monte Carlo average over sample_posterior's draws, with
    scipy's densities: nothing here uses skvi's ELBO code.
    """
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(-2, 1, (12, 2)), rng.normal(2, 0.7, (10, 2))])
    weights = rng.integers(1, 3, len(X)).astype(float)
    est = VariationalGaussianMixture(
        n_components=2,
        covariance_type=covariance_type,
        weight_concentration_prior_type=weight_prior,
        random_state=0,
        tol=1e-8,
        max_iter=500,
    ).fit(X, sample_weight=weights)
    S = 3000
    draws = est.sample_posterior(S, random_state=1)
    pi, mu, precisions = draws
    resp = est.predict_proba(X)
    log_lik = _log_normal(X[None, :, None, :], mu[:, None], precisions[:, None])
    with np.errstate(divide="ignore"):
        log_resp = np.where(resp > 0, np.log(resp), 0.0)
    assignment = np.einsum(
        "i,ik,sik->s", weights, resp, np.log(pi)[:, None, :] + log_lik
    ) - np.einsum("i,ik,ik->", weights, resp, log_resp)
    log_q, log_p = _logpdf_q_and_p(est, draws)
    estimate = assignment + log_p - log_q
    stderr = estimate.std() / np.sqrt(S)
    assert abs(estimate.mean() - est.elbo_) < 4 * stderr + 1e-6 * abs(est.elbo_)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_samples=st.integers(8, 40),
    n_features=st.integers(1, 3),
    n_components=st.integers(1, 4),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    weight_prior=st.sampled_from(WEIGHT_PRIORS),
    init_params=st.sampled_from(["kmeans", "random", "random_from_data"]),
)
def test_elbo_never_decreases(
    seed,
    n_samples,
    n_features,
    n_components,
    covariance_type,
    weight_prior,
    init_params,
):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * rng.uniform(0.1, 10.0)
    X[: n_samples // 2] += rng.normal(0, 5, n_features)
    weights = rng.uniform(0.0, 3.0, n_samples) + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = VariationalGaussianMixture(
            n_components=n_components,
            covariance_type=covariance_type,
            weight_concentration_prior_type=weight_prior,
            init_params=init_params,
            reg_covar=0.0,
            max_iter=30,
            tol=0.0,
            random_state=seed,
        ).fit(X, sample_weight=weights)
    history = est.elbo_history_
    assert np.all(np.isfinite(history))
    assert np.all(np.diff(history) >= -1e-10 * np.abs(history).max())
    assert_allclose(est.score(X, sample_weight=weights) * weights.sum(), est.elbo_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(monkeypatch, covariance_type):
    X, _ = _blobs(n_per=(20, 30, 25), seed=2)
    counts = np.random.default_rng(1).integers(0, 4, len(X))
    _with_responsibilities(monkeypatch, lambda X_: _given_responsibilities(X_, 3))
    params = dict(
        n_components=3, covariance_type=covariance_type, tol=1e-9, max_iter=300
    )
    weighted = VariationalGaussianMixture(**params).fit(X, sample_weight=counts)
    repeated = VariationalGaussianMixture(**params).fit(np.repeat(X, counts, axis=0))
    assert weighted.n_iter_ == repeated.n_iter_
    for name in [
        "weights_",
        "means_",
        "covariances_",
        "mean_prior_",
        "covariance_prior_",
    ]:
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-9)
    assert_allclose(weighted.elbo_, repeated.elbo_, rtol=1e-10)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)
    assert_allclose(weighted.score_samples(X), repeated.score_samples(X), rtol=1e-10)


def test_dirichlet_process_switches_surplus_components_off():
    rng = np.random.default_rng(4)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    X = np.concatenate(
        [
            rng.normal(c, 1.0, size=(n, 2))
            for c, n in zip(centres, (300, 250, 200, 350), strict=True)
        ]
    )
    est = VariationalGaussianMixture(
        n_components=10, random_state=0, max_iter=1000, tol=1e-6
    ).fit(X)
    weights = np.sort(est.weights_)
    assert np.all(weights[:6] < 1e-2), weights
    assert np.all(weights[6:] > 0.1), weights


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("max_iter", [1, 5, 100])
def test_fit_predict_equals_fit_then_predict(covariance_type, max_iter):
    X, _ = _blobs(seed=6)
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        max_iter=max_iter,
        random_state=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = VariationalGaussianMixture(**params).fit_predict(X)
        fitted = VariationalGaussianMixture(**params).fit(X)
    np.testing.assert_array_equal(labels, fitted.predict(X))


def test_score_times_weight_is_the_elbo_and_finds_the_segments():
    X, truth = _blobs(n_per=(100, 150, 120), seed=8)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    est = VariationalGaussianMixture(n_components=3, random_state=0).fit(
        X, sample_weight=weights
    )
    assert_allclose(est.score(X, sample_weight=weights) * weights.sum(), est.elbo_)
    assert est.n_samples_seen_ == pytest.approx(weights.sum())
    assert adjusted_rand_score(truth, est.predict(X)) > 0.95
    assert_allclose(est.predict_proba(X).sum(1), 1.0)


def test_warm_start_continues_and_the_elbo_keeps_climbing():
    X, _ = _blobs(seed=9)
    est = VariationalGaussianMixture(
        n_components=4, warm_start=True, max_iter=1, tol=0.0, random_state=0
    )
    elbos = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(20):
            elbos.append(est.fit(X).elbo_)
    assert np.all(np.diff(elbos) >= -1e-9 * abs(elbos[-1]))
    assert elbos[-1] > elbos[0]


def test_monotonic_likelihood_as_in_scikit_learn():
    """scikit-learn's own ``test_monotonic_likelihood``
    (sklearn/mixture/tests/test_bayesian_mixture.py), on skvi.

    One iteration per warm-started fit: ``lower_bound_`` never decreases, and
    the run converges (the first change of a warm fit is measured from the
    last fit's ELBO, as scikit-learn measures it from its bound). It ran 600
    fits without converging, ``lower_bound_`` drifting down by rounding.
    """
    from sklearn.mixture.tests.test_gaussian_mixture import RandomData

    rng = np.random.RandomState(0)
    rand_data = RandomData(rng, scale=20)
    for prior_type in WEIGHT_PRIORS:
        for covariance_type in COVARIANCE_TYPES:
            X = rand_data.X[covariance_type]
            est = VariationalGaussianMixture(
                weight_concentration_prior_type=prior_type,
                n_components=2 * rand_data.n_components,
                covariance_type=covariance_type,
                warm_start=True,
                max_iter=1,
                random_state=rng,
                tol=1e-3,
            )
            current = -np.inf
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                for _ in range(600):
                    previous, current = current, est.fit(X).lower_bound_
                    assert current >= previous, (prior_type, covariance_type)
                    if est.converged_:
                        break
            assert est.converged_, (prior_type, covariance_type)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_posterior_has_the_moments_of_q(covariance_type):
    X, _ = _blobs(seed=10)
    est = VariationalGaussianMixture(
        n_components=3,
        covariance_type=covariance_type,
        weight_concentration_prior_type="dirichlet_distribution",
        random_state=0,
    ).fit(X)
    weights, means, precisions = est.sample_posterior(20000, random_state=0)
    alpha = est.weight_concentration_
    assert_allclose(weights.mean(0), alpha / alpha.sum(), atol=5e-3)
    assert_allclose(means.mean(0), est.means_, atol=0.05)
    K, d = est.means_.shape
    expected = (
        _wishart_scale(est)
        * np.broadcast_to(est.degrees_of_freedom_, (K,))[:, None, None]
    )
    assert_allclose(
        precisions.mean(0), expected, rtol=0.05, atol=0.02 * np.abs(expected).max()
    )


def test_sample_is_drawn_from_the_point_estimates():
    X, _ = _blobs(seed=11)
    est = VariationalGaussianMixture(n_components=3, random_state=0).fit(X)
    samples, labels = est.sample(3000)
    assert samples.shape == (3000, 3)
    for k in np.unique(labels):
        assert_allclose(samples[labels == k].mean(0), est.means_[k], atol=0.2)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"degrees_of_freedom_prior": 1.5}, "should be greater than 2"),
        ({"covariance_prior": np.eye(2)}, "should have the shape"),
        ({"mean_prior": [0.0, 1.0]}, "should have the shape"),
        ({"n_components": 500}, "Expected n_samples >= n_components"),
    ],
)
def test_bad_priors_raise_clear_errors(params, message):
    X, _ = _blobs()
    with pytest.raises(ValueError, match=message):
        VariationalGaussianMixture(**params).fit(X)


def test_probability_weights_are_refused_with_advice():
    X, _ = _blobs()
    with pytest.raises(ValueError, match="frequency weights"):
        VariationalGaussianMixture().fit(X, sample_weight=np.full(len(X), 0.5 / len(X)))


def _four_segments(n_samples, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
    labels = rng.choice(4, size=n_samples, p=[0.4, 0.3, 0.2, 0.1])
    spread = np.array([1.0, 0.7, 1.2, 0.8])[labels, None]
    return centres[labels] + rng.normal(size=(n_samples, 2)) * spread, labels


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_partial_fit_streams_to_the_batch_fit(covariance_type):
    """SVI over 1e6 samples in chunks of 1e4 lands on the batch posterior."""
    X, labels = _four_segments(1_000_000)
    batch = VariationalGaussianMixture(
        n_components=4, covariance_type=covariance_type, random_state=0
    ).fit(X)
    streamed = VariationalGaussianMixture(
        n_components=4,
        covariance_type=covariance_type,
        random_state=0,
        total_samples=len(X),
    )
    for start in range(0, len(X), 10_000):
        streamed.partial_fit(X[start : start + 10_000])
    assert streamed.n_batch_iter_ == 100
    batch_elbo_per_sample = batch.elbo_ / len(X)
    assert abs(streamed.score(X) - batch_elbo_per_sample) <= 0.01 * abs(
        batch_elbo_per_sample
    )
    assert adjusted_rand_score(labels, streamed.predict(X)) >= 0.95


def test_partial_fit_steps_follow_the_robbins_monro_schedule(monkeypatch):
    """rho_t = (learning_offset + t)^-learning_decay, as LatentDirichletAllocation."""
    X, _ = _four_segments(4_000, seed=1)
    seen = []
    import skvi._mixture.svi as svi

    original = svi._natural_gradient_step

    def spy(params, target, step_size, model):
        seen.append(step_size)
        return original(params, target, step_size, model)

    monkeypatch.setattr(svi, "_natural_gradient_step", spy)
    est = VariationalGaussianMixture(
        n_components=4, learning_offset=3.0, learning_decay=0.6, total_samples=4_000
    )
    for start in range(0, 4_000, 1_000):
        est.partial_fit(X[start : start + 1_000])
    assert_allclose(seen, (3.0 + np.arange(1, 5)) ** -0.6)


def test_partial_fit_with_step_one_on_the_whole_data_is_a_cavi_sweep(monkeypatch):
    """rho = 1 and the chunk being all the data: the step is fit's M-step."""
    X, _ = _four_segments(2_000, seed=2)
    _with_responsibilities(monkeypatch, lambda X_: _given_responsibilities(X_, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        swept = VariationalGaussianMixture(n_components=4, max_iter=1, tol=0.0).fit(X)
    streamed = VariationalGaussianMixture(
        n_components=4, learning_offset=0.0, learning_decay=1.0, total_samples=2_000
    ).partial_fit(X)
    for name in ["weights_", "means_", "covariances_", "degrees_of_freedom_"]:
        assert_allclose(getattr(streamed, name), getattr(swept, name), rtol=1e-9)


def _assert_same_predictions(loaded, original, X):
    np.testing.assert_array_equal(loaded.predict_proba(X), original.predict_proba(X))
    np.testing.assert_array_equal(loaded.score_samples(X), original.score_samples(X))
    assert loaded.elbo_ == original.elbo_


@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
def test_joblib_and_skops_round_trips(tmp_path, weight_prior):
    joblib = pytest.importorskip("joblib")
    sio = pytest.importorskip("skops.io")
    X, _ = _blobs(seed=12)
    fitted = VariationalGaussianMixture(
        n_components=3, weight_concentration_prior_type=weight_prior, random_state=0
    ).fit(X)
    joblib.dump(fitted, tmp_path / "vgm.joblib")
    _assert_same_predictions(joblib.load(tmp_path / "vgm.joblib"), fitted, X)
    sio.dump(fitted, tmp_path / "vgm.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "vgm.skops")
    assert all(name.startswith("skvi.") for name in untrusted)
    loaded = sio.load(tmp_path / "vgm.skops", trusted=untrusted)
    _assert_same_predictions(loaded, fitted, X)


def test_grid_search_picks_the_number_of_segments_without_a_scorer():
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = _four_segments(1200, seed=3)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), VariationalGaussianMixture(random_state=0)),
        {
            "variationalgaussianmixture__n_components": [1, 2, 4],
            "variationalgaussianmixture__weight_concentration_prior_type": [
                "dirichlet_distribution"
            ],
        },
        cv=3,
    ).fit(X)
    assert search.best_params_["variationalgaussianmixture__n_components"] == 4


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", [3, 8])
def test_stops_where_scikit_learn_stops_at_default_settings(covariance_type, seed):
    """scikit-learn's rule, |change of its bound| < tol: the same n_iter_ and fit."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(c, 1.3, (120, 3)) for c in (-5.0, 1.0, 6.0)])
    params = dict(n_components=5, covariance_type=covariance_type, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = BayesianGaussianMixture(**params).fit(X)
        ours = VariationalGaussianMixture(**params).fit(X)
        assert ours.n_iter_ == reference.n_iter_
        assert_allclose(ours.covariances_, reference.covariances_, rtol=1e-8)
        # A warm start measures its first change from the last lower_bound_.
        reference.set_params(warm_start=True, max_iter=4).fit(X)
        ours.set_params(warm_start=True, max_iter=4).fit(X)
    assert ours.n_iter_ == reference.n_iter_


def test_far_rows_match_the_direct_log_density_where_it_is_finite():
    """The scaled far-row path gives the direct path's log-sum-exp and resp."""
    from skvi._mixture.estep import (
        _deviations,
        _far_log_rho,
        _log_normalise,
        _log_rho_from,
    )

    X, _ = _blobs()
    for covariance_type in COVARIANCE_TYPES:
        est = VariationalGaussianMixture(
            n_components=3, covariance_type=covariance_type, random_state=1
        ).fit(X)
        params, model = est._current()
        # Far enough to exercise the scaling, near enough that the direct
        # path resolves every difference of its Mahalanobis terms.
        points = np.array([[21.0, -7.0, 1.0], [-30.0, 10.0, 5.0]])
        deviation, squares = _deviations(points, model)
        direct, shift = _log_rho_from(deviation, squares, params, model)
        assert shift is None
        relative, far_shift = _far_log_rho(
            deviation, params.means - model.centre, params, model
        )
        expected_norm, expected_resp = _log_normalise(direct.copy())
        norm, resp = _log_normalise(relative, far_shift)
        assert_allclose(norm, expected_norm, rtol=1e-12)
        assert_allclose(resp, expected_resp, atol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_covariance_prior_of_features_on_different_scales(covariance_type):
    """Not singular, so scikit-learn's empirical covariance, no reg_covar added."""
    X, _ = _blobs()
    X = X * np.array([1e5, 2e-2, 3.0])  # variances 1e10 to 1e-3
    ours = VariationalGaussianMixture(
        n_components=2, covariance_type=covariance_type, max_iter=0
    ).fit(X)
    reference = BayesianGaussianMixture(
        n_components=2, covariance_type=covariance_type, max_iter=0
    ).fit(X)
    assert_allclose(ours.covariance_prior_, reference.covariance_prior_, rtol=1e-10)


def test_warns_when_reg_covar_dominates_the_spread():
    """Clusters 2e-4 apart merge under reg_covar=1e-6: said, not silent."""
    X, _ = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="reg_covar=1e-06 .* clusters") as record:
            VariationalGaussianMixture(n_components=3, random_state=0).fit(X * 3e-5)
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        VariationalGaussianMixture(n_components=3, random_state=0).fit(X * 3e-2)
