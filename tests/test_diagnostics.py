"""skvi.diagnostics against references that do not use it.

- exact_posterior: the direct 2-D quadrature over (mu, log tau) of
  ``tests/_reference.py`` (the one independent reference of the exact
  posterior; the other suites take it from skvi.diagnostics), and closed
  forms in the limits of a flat and of a point-mass prior on mu.
- linear_response_std: the derivative of q's mean under a perturbation of the
  log joint, by refitting (the definition of linear response), and the exact
  posterior.
- psis_diagnostic: the Pareto shape of a known importance ratio, and the
  exact posterior; for the mixture, its log ratios against a direct
  computation with scipy.stats, and their mean against the ELBO; for the
  Student-t model, its log ratios against scipy.stats.t, and its corrected
  sd against a direct 2-D quadrature of the posterior.
- the protocol: the diagnostics ask the estimator through its methods, so
  any object that has them is answered, and one without them is refused
  with a TypeError naming it and what it lacks.
"""

import importlib.util
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from scipy.special import betaln, gammaln, logsumexp
from sklearn.exceptions import NotFittedError

from skvi import (
    VariationalGaussianMixture,
    VariationalNormalEstimator,
    VariationalStudentEstimator,
)
from skvi.diagnostics import (
    ExactPosterior,
    exact_posterior,
    linear_response_std,
    psis_diagnostic,
)
from tests._reference import exact_posterior as grid_posterior
from tests._registry import SEED_PRIORS

PRIOR_NAMES = ("prior_mean", "prior_std", "prior_shape", "prior_rate")


def _tight(**params):
    """An estimator run to the CAVI fixed point (tol=0)."""
    return VariationalNormalEstimator(
        tol=0.0, max_iter=100_000, **{**SEED_PRIORS, **params}
    )


def _statistics(x, w):
    W = w.sum()
    xbar = np.dot(w, x) / W
    return W, xbar, np.dot(w, (x - xbar) ** 2)


# --------------------------------------------------------------------------
# exact_posterior
# --------------------------------------------------------------------------

SMALL_PROBLEMS = [
    # (x, weights, prior_mean, prior_std, prior_shape, prior_rate)
    ([0.7], None, 0.0, 1.0, 1.0, 1.0),
    ([0.7, -0.2, 1.3], None, 0.0, 1.0, 2.0, 1.0),
    ([3.0, 3.5, 2.2, 4.1], [1.0, 2.0, 0.5, 1.0], 0.0, 0.7, 1.5, 2.0),
    # Strong conflict: two modes.
    ([7.0, 7.0], None, 0.0, 1.0, 1.0, 1.0),
    ([5.0, 5.5, 4.6], None, -1.0, 0.8, 3.0, 0.5),
    # Heavy tails: two equal samples under a vague prior (a Student-t with 3
    # degrees of freedom, cut off only by the prior).
    ([9.0, 9.0], None, 0.0, 10.0, 1.0, 1.0),
    ([0.0, 0.0], None, 0.0, 10.0, 1.0, 1.0),
]


@pytest.mark.parametrize("problem", SMALL_PROBLEMS)
def test_exact_posterior_matches_2d_quadrature(problem):
    x, w, *prior = problem
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    est = _tight(**dict(zip(PRIOR_NAMES, prior, strict=True)))
    est.fit(x[:, np.newaxis], sample_weight=w)
    exact = exact_posterior(est)
    reference = vars(grid_posterior(x, w, *prior))
    assert isinstance(exact, ExactPosterior)
    assert abs(exact.mean[0] - reference.pop("mean")) <= 1e-9 * reference["std"]
    for name, value in reference.items():
        np.testing.assert_allclose(
            getattr(exact, name)[0], value, rtol=1e-9, err_msg=name
        )


@settings(max_examples=25, deadline=None)
@given(
    x=arrays(np.float64, st.integers(1, 30), elements=st.floats(-20, 20)),
    prior_mean=st.floats(-5, 5),
    prior_std=st.floats(-1, 1).map(lambda e: 10.0**e),
    prior_shape=st.floats(-0.5, 1).map(lambda e: 10.0**e),
    prior_rate=st.floats(-1, 1).map(lambda e: 10.0**e),
)
def test_exact_posterior_matches_2d_quadrature_generated(
    x, prior_mean, prior_std, prior_shape, prior_rate
):
    """Against the 2-D grid of tests/_reference.py, over many more cases."""
    prior = (prior_mean, prior_std, prior_shape, prior_rate)
    est = VariationalNormalEstimator(*prior).fit(x[:, np.newaxis])
    exact = exact_posterior(est)
    reference = grid_posterior(x, None, *prior)
    np.testing.assert_allclose(
        exact.log_evidence[0], reference.log_evidence, rtol=1e-9, atol=1e-9
    )
    assert abs(exact.mean[0] - reference.mean) <= 1e-9 * reference.std
    for name in ("std", "tau_mean", "tau_std"):
        np.testing.assert_allclose(
            getattr(exact, name)[0], getattr(reference, name), rtol=1e-8, err_msg=name
        )


def test_exact_posterior_bookkeeping():
    """elbo sums to elbo_, kl = log_evidence - elbo >= 0, std_ratio is q over exact."""
    rng = np.random.default_rng(0)
    X = rng.normal([0.0, 3.0, -2.0], [1.0, 0.5, 3.0], size=(15, 3))
    # The prior at 0 (SEED_PRIORS): the columns at 3 and -2 conflict with it.
    prior = {**SEED_PRIORS, "prior_std": [1.0, 0.3, 10.0]}
    est = VariationalNormalEstimator(**prior).fit(X)
    exact = exact_posterior(est)
    assert exact.mean.shape == exact.kl.shape == (3,)
    np.testing.assert_allclose(exact.elbo.sum(), est.elbo_, rtol=1e-12)
    np.testing.assert_allclose(exact.kl, exact.log_evidence - exact.elbo)
    assert np.all(exact.kl > 0)
    np.testing.assert_allclose(exact.std_ratio, est.posterior_std_ / exact.std)
    # Column by column it is the same as one feature at a time.
    for j in range(3):
        one = VariationalNormalEstimator(
            **{**SEED_PRIORS, "prior_std": est.prior_std_[j]}
        ).fit(X[:, [j]])
        np.testing.assert_allclose(exact_posterior(one).mean, exact.mean[j], rtol=1e-12)


@pytest.mark.parametrize("location", [0.0, 1e8])
def test_exact_posterior_flat_prior_limit_is_student_t(location):
    """A vague prior on mu (sd 1e200) leaves the Student-t of the likelihood.

    p(mu | X) is proportional to (1 + W (mu - xbar)**2 / (2 B))**-a_n, a
    Student-t with 2 a_n - 1 degrees of freedom, whose variance is
    2 B / (W (2 a_n - 3)), and whose normalising constant is
    u B(1/2, a_n - 1/2) with u = sqrt(2 B / W).
    """
    rng = np.random.default_rng(1)
    x = location + rng.normal(0.0, 1e-3, size=8)
    prior = dict(prior_mean=0.0, prior_std=1e200, prior_shape=2.0, prior_rate=1e-6)
    est = VariationalNormalEstimator(**prior).fit(x[:, np.newaxis])
    exact = exact_posterior(est)
    W, xbar, S = _statistics(x, np.ones_like(x))
    a_n, B = 2.0 + W / 2, 1e-6 + S / 2
    np.testing.assert_allclose(exact.mean[0], xbar, rtol=1e-15, atol=1e-12)
    np.testing.assert_allclose(
        exact.std[0], math.sqrt(2 * B / (W * (2 * a_n - 3))), rtol=1e-8
    )
    np.testing.assert_allclose(exact.tau_mean[0], (a_n - 0.5) / B, rtol=1e-8)
    u = math.sqrt(2 * B / W)
    log_evidence = (
        -0.5 * math.log(2 * math.pi)
        - math.log(1e200)
        + 2.0 * math.log(1e-6)
        - gammaln(2.0)
        + gammaln(a_n)
        - W / 2 * math.log(2 * math.pi)
        - a_n * math.log(B)
        + math.log(u)
        + betaln(0.5, a_n - 0.5)
    )
    np.testing.assert_allclose(exact.log_evidence[0], log_evidence, rtol=1e-10)


def test_exact_posterior_point_mass_prior_limit():
    """A prior sd of 1e-200 pins mu at m0: tau ~ Gamma(a_n, b0 + (S + W d**2)/2)."""
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, size=12)
    prior = dict(prior_mean=1.0, prior_std=1e-200, prior_shape=1.5, prior_rate=2.0)
    est = VariationalNormalEstimator(**prior).fit(x[:, np.newaxis])
    exact = exact_posterior(est)
    W, xbar, S = _statistics(x, np.ones_like(x))
    a_n, rate = 1.5 + W / 2, 2.0 + (S + W * (xbar - 1.0) ** 2) / 2
    np.testing.assert_allclose(exact.mean[0], 1.0, rtol=1e-15)
    np.testing.assert_allclose(exact.std[0], 1e-200, rtol=1e-8)
    np.testing.assert_allclose(exact.tau_mean[0], a_n / rate, rtol=1e-12)
    np.testing.assert_allclose(exact.tau_std[0], math.sqrt(a_n) / rate, rtol=1e-10)
    # q is then exact: the mean-field family holds the posterior.
    np.testing.assert_allclose(exact.std_ratio[0], 1.0, rtol=1e-8)
    assert abs(exact.kl[0]) < 1e-8


def test_exact_posterior_narrow_and_far_from_the_prior():
    """A weight of 10**6 at 1e6, prior Normal(0, 1e7**2): a posterior 1e-9 wide.

    Across that width the prior's log density changes by about 1e-23, so the
    posterior is the flat-prior Student-t, in closed form. (The grid of
    tests/_reference.py would need 1e16 points to span prior and data here.)
    """
    x = np.array([1e6 - 1e-6, 1e6, 1e6 + 1e-6])
    w = np.full(3, 1e6 / 3)
    prior = (0.0, 1e7, 1.0, 1e-12)
    est = _tight(**dict(zip(PRIOR_NAMES, prior, strict=True)))
    est.fit(x[:, np.newaxis], sample_weight=w)
    exact = exact_posterior(est)
    W, xbar, S = _statistics(x, w)
    a_n, B = 1.0 + W / 2, 1e-12 + S / 2
    std = math.sqrt(2 * B / (W * (2 * a_n - 3)))
    assert std < 1e-8
    np.testing.assert_allclose(exact.std[0], std, rtol=1e-4)
    assert abs(exact.mean[0] - xbar) < 1e-4 * std
    np.testing.assert_allclose(exact.tau_mean[0], (a_n - 0.5) / B, rtol=1e-4)
    np.testing.assert_allclose(exact.std_ratio[0], 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "prior_std, n",
    # Not one sample under a flat prior: see the docstring.
    [(1e-300, 1), (1e-300, 30), (1e-3, 1), (1e-3, 30), (1e300, 30)],
)
@pytest.mark.parametrize("location, scale", [(0.0, 1e-6), (5.0, 1.0), (1e8, 1e6)])
@pytest.mark.parametrize("prior_rate", [1e-10, 1e10])
def test_exact_posterior_on_extreme_scales(prior_std, n, location, scale, prior_rate):
    """Priors from a point mass to flat, data far from zero or near it, one
    sample or many, noise priors from tiny to huge: finite, no warning, and
    the ELBO below the evidence (KL >= 0, to rounding).

    Left out: one sample under a flat prior (sd 1e300), whose posterior of mu
    has tails like |mu|**-(2 a0 + 1), cut off only at 1e300:
    its sd is set by the prior's scale and quad warns that it converges slowly.
    """
    X = location + scale * np.random.default_rng(n).standard_normal((n, 1))
    # The prior mean at 0, the data at 0, 5 or 1e8 (prior_shape 1: skvi 0.2's).
    est = VariationalNormalEstimator(
        prior_mean=0.0, prior_std=prior_std, prior_shape=1.0, prior_rate=prior_rate
    )
    est.fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact = exact_posterior(est)
    for name in ("mean", "std", "tau_mean", "tau_std", "log_evidence", "kl"):
        assert np.all(np.isfinite(getattr(exact, name))), name
    assert exact.std[0] > 0
    assert exact.kl[0] > -1e-9 * max(1.0, abs(exact.log_evidence[0]))


def test_exact_posterior_refuses_other_input():
    with pytest.raises(NotFittedError):
        exact_posterior(VariationalNormalEstimator())
    with pytest.raises(TypeError, match="VariationalNormalEstimator"):
        exact_posterior(object())


# --------------------------------------------------------------------------
# linear_response_std
# --------------------------------------------------------------------------


def _conflicting_data(n, conflict, prior_std, n_features=4, seed=0):
    """Unit-noise data whose mean is ``conflict`` prior sds from the prior mean 0."""
    rng = np.random.default_rng(seed)
    return conflict * prior_std + rng.standard_normal((n, n_features))


def _agreeing_fit(n, n_features=8, seed=0, **prior):
    """A fit whose prior mean is exactly the data's mean (xbar == m0)."""
    X = np.random.default_rng(seed).standard_normal((n, n_features))
    first = VariationalNormalEstimator().fit(X)
    est = _tight(prior_mean=first.sample_mean_, **prior).fit(X)
    np.testing.assert_array_equal(est.sample_mean_, est.prior_mean_)
    return X, est


@pytest.mark.parametrize(
    "n, conflict, prior_std",
    [(5, 3, 1.0), (20, 4, 0.5), (20, 8, 0.5), (20, 0, 0.5), (20, None, 0.5)],
    ids=["n5-conflict3", "n20-conflict4", "n20-conflict8", "n20-near", "n20-equal"],
)
def test_linear_response_is_the_response_of_q(n, conflict, prior_std):
    """Var_LR(mu) = d E_q[mu] / dt when t mu is added to the log joint.

    Adding ``t mu`` moves the prior mean to ``m0 + t s0**2``; adding ``t tau``
    moves the prior rate to ``b0 - t``. Refitting to CAVI's fixed point at
    +-h gives the response by central differences: the definition of linear
    response, free of the closed form's algebra. ``conflict=None``: the
    prior mean is exactly the data's mean, where the closed form leaves the
    sd of mu uncorrected; the response of q says the same.
    """
    prior = dict(prior_std=prior_std, prior_shape=2.0, prior_rate=2.0)
    if conflict is None:
        X, est = _agreeing_fit(n, **prior)
        prior_mean = est.prior_mean_
    else:
        X = _conflicting_data(n, conflict, prior_std, n_features=8)
        prior_mean = np.zeros(X.shape[1])
        est = _tight(prior_mean=prior_mean, **prior).fit(X)
    corrected = linear_response_std(est)
    # The fixed point is solved to rounding (skvi._normal.diag), so the step can be
    # small: at h = 1e-4 the O(h**2) error is 1e-10 to 5e-9 of the variance
    # (the latter for two-mode data, n20-conflict8), the rounding error about
    # 1e-16 |m| / h.
    h = 1e-4
    shifted = [
        _tight(**{**prior, "prior_mean": prior_mean + t * prior_std**2})
        .fit(X)
        .posterior_mean_
        for t in (-h, h)
    ]
    np.testing.assert_allclose(
        (shifted[1] - shifted[0]) / (2 * h), corrected.std**2, rtol=1e-7
    )
    rates = [
        _tight(**{**prior, "prior_mean": prior_mean, "prior_rate": 2.0 - t}).fit(X)
        for t in (-h, h)
    ]
    precision = [fit.posterior_shape_ / fit.posterior_rate_ for fit in rates]
    np.testing.assert_allclose(
        (precision[1] - precision[0]) / (2 * h), corrected.tau_std**2, rtol=1e-7
    )


@pytest.mark.parametrize(
    "n, conflict, prior_std, tolerance", [(100, 8, 0.25, 0.02), (50, 8, 0.25, 0.035)]
)
def test_linear_response_close_to_exact_where_mean_field_is_far(
    n, conflict, prior_std, tolerance
):
    """Mean-field sd 8-30% too small; linear response within 2% (n = 100), 3.5% (50).

    What linear response leaves is the gap that mean-field has even without
    conflict (the Student-t widening of mu's marginal, about 1/(2 a_n) of
    the sd: 1% at n = 100, 2% at n = 50), which no linear correction sees.
    """
    X = _conflicting_data(n, conflict, prior_std, n_features=8)
    est = _tight(prior_std=prior_std, prior_shape=2.0, prior_rate=2.0).fit(X)
    exact = exact_posterior(est)
    corrected = linear_response_std(est)
    # The case is one where mean-field is badly off...
    assert np.all(exact.std_ratio < 0.95)
    # ...and linear response is not.
    np.testing.assert_allclose(corrected.std / exact.std, 1.0, atol=tolerance)
    np.testing.assert_allclose(corrected.tau_std / exact.tau_std, 1.0, atol=0.01)


@pytest.mark.parametrize("n, conflict, prior_std", [(20, 4, 0.5), (10, 4, 0.5)])
def test_linear_response_removes_most_of_the_error_at_small_n(n, conflict, prior_std):
    """At n = 10 to 20 the Student-t widening is 4-6% of the sd: linear
    response still removes most of mean-field's error, not all of it."""
    X = _conflicting_data(n, conflict, prior_std, n_features=8)
    est = _tight(prior_std=prior_std, prior_shape=2.0, prior_rate=2.0).fit(X)
    exact = exact_posterior(est)
    corrected = linear_response_std(est)
    mean_field_error = np.mean(1 - exact.std_ratio)
    assert mean_field_error > 0.1
    assert np.mean(np.abs(corrected.std / exact.std - 1)) < 0.5 * mean_field_error


def test_linear_response_leaves_agreeing_data_alone():
    """With xbar = m the mean gets no correction (h1 = 0); tau still does."""
    x = np.array([-1.0, 0.0, 1.0])[:, np.newaxis]
    est = _tight().fit(x)
    corrected = linear_response_std(est)
    np.testing.assert_allclose(corrected.std, est.posterior_std_, rtol=1e-12)
    assert (
        corrected.tau_std[0]
        > math.sqrt(est.posterior_shape_[0]) / (est.posterior_rate_[0])
    )


def test_no_linear_response_meets_the_target_where_data_agree_with_the_prior():
    """The counterexample to "LR within 2% of exact wherever mean-field is 5% off".

    With the prior mean exactly the data's mean, a tilt ``t mu`` of the log
    joint moves E_q[mu] but not, to first order, E_q[(x - mu)**2], so E_q[tau]
    does not respond: the linear-response sd of mu is mean-field's, to
    rounding (and test_linear_response_is_the_response_of_q checks, by
    refitting, that this is q's true response). The exact sd exceeds it by the
    Student-t widening of mu's marginal: about 1/(2 a_n) (a_n = a0 + n/2 = 12
    at n = 20) times the data's share of q(mu)'s precision, ``1 - s**2/s0**2``
    (0.84 here), so 3.1% on average and above 2.4% in every feature: more than
    the 2% that the issue asks of the correction. (Mean-field is 3% off here;
    the vague-prior case below is 5% off.)
    """
    X, est = _agreeing_fit(
        20, n_features=32, prior_std=0.5, prior_shape=2.0, prior_rate=2.0
    )
    corrected = linear_response_std(est)
    np.testing.assert_allclose(corrected.std, est.posterior_std_, rtol=1e-14)
    exact = exact_posterior(est)
    # Exact sd more than 2% above mean-field's (and so linear response's),
    # feature by feature, by about share / (2 a_n) on average.
    assert np.all(exact.std > 1.02 * corrected.std)
    widening = np.mean(exact.std / est.posterior_std_ - 1)
    share = 1 - (est.posterior_std_ / 0.5) ** 2
    assert 0.8 < widening / np.mean(share / (2 * 12)) < 1.05


def test_no_linear_response_meets_the_target_under_a_vague_prior():
    """Mean-field 5.1% too small at n = 20, and linear response no better.

    Under a vague prior on mu (sd 1e300) q's mean is the data's mean, so
    h1 = 0 and the linear-response sd is mean-field's. In closed form (flat
    prior): mean-field's variance is 2 B / (W (2 a_n - 1)) at the fixed point,
    the exact one (a Student-t) 2 B / (W (2 a_n - 3)); with a0 = 1/2 and
    n = 20, a_n = 10.5 and the ratio of sds is sqrt(18/20) = 0.9487.
    """
    X = np.random.default_rng(3).normal(5.0, 2.0, size=(20, 4))
    est = _tight(prior_std=1e300, prior_shape=0.5, prior_rate=1.0).fit(X)
    corrected = linear_response_std(est)
    np.testing.assert_array_equal(est.posterior_mean_, est.sample_mean_)
    np.testing.assert_allclose(corrected.std, est.posterior_std_, rtol=1e-14)
    exact = exact_posterior(est)
    np.testing.assert_allclose(exact.std_ratio, math.sqrt(18 / 20), rtol=1e-8)
    assert np.all(corrected.std / exact.std < 0.95)


def test_linear_response_std_method():
    X = _conflicting_data(30, 3, 1.0)
    est = VariationalNormalEstimator(prior_mean=0.0).fit(X)
    std, tau_std = est.linear_response_std()
    expected = linear_response_std(est)
    np.testing.assert_array_equal(std, expected.std)
    np.testing.assert_array_equal(tau_std, expected.tau_std)
    assert np.all(std > est.posterior_std_)  # the prior at 0 conflicts: a correction
    # The fields were named mean and precision, though they hold sds: the old
    # names still work, with a FutureWarning.
    with pytest.warns(FutureWarning, match=r"LinearResponseStd.mean .* use .*\.std"):
        np.testing.assert_array_equal(expected.mean, std)
    with pytest.warns(FutureWarning, match=r"\.precision .* use .*\.tau_std"):
        np.testing.assert_array_equal(expected.precision, tau_std)


# --------------------------------------------------------------------------
# psis_diagnostic
# --------------------------------------------------------------------------


def test_pareto_shape_of_a_known_ratio():
    """q = Normal(0, 1), p = Normal(0, sigma**2): tail k = 1 - 1/sigma**2.

    Checks that skvi hands arviz-stats the ratios the right way round (the
    other way, the fitted tail is bounded, k < 0). The tail is Pareto only
    asymptotically (w = exp(c x**2)), and 8000 draws estimate k = 0.75 low.
    """
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    from skvi.diagnostics._psis import _pareto_smoothed_log_weights

    x = np.random.default_rng(0).standard_normal((8000, 1))
    wide = stats.norm.logpdf(x, 0.0, 2.0) - stats.norm.logpdf(x)
    narrow = stats.norm.logpdf(x, 0.0, 0.5) - stats.norm.logpdf(x)
    log_weights, khat = _pareto_smoothed_log_weights(np.hstack([wide, narrow]))
    assert 0.55 < khat[0] < 0.85
    assert khat[1] < 0.0  # bounded ratios
    np.testing.assert_allclose(logsumexp(log_weights, axis=0), 0.0, atol=1e-12)


def _psis_case(n, conflict, prior_std, n_features=16, seed=0):
    X = _conflicting_data(n, conflict, prior_std, n_features, seed)
    est = VariationalNormalEstimator(**{**SEED_PRIORS, "prior_std": prior_std}).fit(X)
    return X, est


def test_khat_small_for_large_n_and_large_for_a_poor_fit():
    """k-hat follows KL(q || p), averaged over features to tame its noise.

    For this model the weights' tail is never light (q(mu) has a fixed
    variance where p's grows as tau falls), so even an excellent q gives k-hat
    near 0.45; a poor q (sd 40% too small) gives about 0.7.
    """
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    X, est = _psis_case(10_000, 0.3, 10.0)
    good = psis_diagnostic(est, X, n_draws=4000, random_state=0)
    X, est = _psis_case(4, 5, 1.0)
    assert np.mean(exact_posterior(est).std_ratio) < 0.7
    poor = psis_diagnostic(est, X, n_draws=4000, random_state=0)
    assert np.mean(good.khat) < 0.5
    assert np.mean(poor.khat) > 0.6
    assert np.mean(poor.khat) > np.mean(good.khat) + 0.15
    assert np.mean(poor.reading != "good") > np.mean(good.reading != "good")


def test_khat_above_the_do_not_trust_line_where_q_is_worst():
    """k-hat > 0.7 where mean-field's sd is about half the exact one.

    That is not at the tiniest n: with 2 or 3 samples 3 to 8 prior sds away
    the posterior stays close to the prior and q's sd is 0.68-0.93 of exact,
    and k-hat averages 0.46-0.67 (never above 0.7 in 20 seeds). q is worst
    (sd ratio 0.44-0.50) at n = 6 to 8 with the data 5 to 6 prior sds away,
    near where the exact posterior splits into two modes; there the mean
    k-hat over 32 features exceeded 0.7 in 60 of 60 seeds (data and draws,
    4000 draws; lowest 0.705, mean 0.74). docs/diagnostics.md has the table.
    """
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    X, est = _psis_case(8, 6, 1.0, n_features=64)
    assert np.mean(exact_posterior(est).std_ratio) < 0.5
    check = psis_diagnostic(est, X, n_draws=4000, random_state=0)
    assert np.mean(check.khat) > 0.7
    assert np.mean(check.reading == "do not trust") > 0.5


def test_psis_corrects_q_toward_the_exact_posterior():
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    X, est = _psis_case(20, 4, 0.5)
    exact = exact_posterior(est)
    check = psis_diagnostic(est, X, n_draws=4000, random_state=1)
    # The draws' own moments are q's.
    np.testing.assert_allclose(check.q_std["mu"], est.posterior_std_, rtol=0.05)
    q_error = np.abs(est.posterior_std_ / exact.std - 1)
    corrected_error = np.abs(check.std["mu"] / exact.std - 1)
    assert np.mean(corrected_error) < 0.5 * np.mean(q_error)
    q_mean_error = np.abs(est.posterior_mean_ - exact.mean) / exact.std
    corrected_mean_error = np.abs(check.mean["mu"] - exact.mean) / exact.std
    assert np.mean(corrected_mean_error) < 0.5 * np.mean(q_mean_error)
    # The evidence estimate lies between the ELBO and a little above log p(X).
    assert np.all(check.log_evidence > exact.elbo)
    np.testing.assert_allclose(check.log_evidence, exact.log_evidence, atol=0.05)


@pytest.mark.parametrize(
    "n, conflict, prior_std, factor",
    # The error left, as a share of q's: measured 0.2-0.35 (sd) and 0.3-0.4
    # (mean) for the first two, 0.55-0.6 and 0.45-0.5 at n = 5 (k-hat 0.64-0.68).
    [(100, 8, 0.25, 0.5), (10, 4, 0.5, 0.5), (5, 3, 1.0, 0.7)],
)
def test_psis_moves_moments_toward_the_exact_ones(n, conflict, prior_std, factor):
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    X, est = _psis_case(n, conflict, prior_std)
    exact = exact_posterior(est)
    check = psis_diagnostic(est, X, n_draws=4000, random_state=0)
    q_error = np.abs(est.posterior_std_ / exact.std - 1)
    corrected_error = np.abs(check.std["mu"] / exact.std - 1)
    assert np.mean(corrected_error) < factor * np.mean(q_error)
    q_mean_error = np.abs(est.posterior_mean_ - exact.mean) / exact.std
    corrected_mean_error = np.abs(check.mean["mu"] - exact.mean) / exact.std
    assert np.mean(corrected_mean_error) < factor * np.mean(q_mean_error)


def test_psis_diagnostic_input_checks():
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    X, est = _psis_case(10, 0, 1.0, n_features=2)
    with pytest.raises(ValueError, match="n_draws"):
        psis_diagnostic(est, X, n_draws=10)
    with pytest.raises(ValueError, match="features"):
        psis_diagnostic(est, X[:, :1])
    with pytest.raises(TypeError, match="does not know"):
        psis_diagnostic(object(), X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = [psis_diagnostic(est, X, random_state=3).khat for _ in range(2)]
    np.testing.assert_array_equal(*same)


def test_diagonal_tools_refuse_a_full_fit():
    """A covariance_type="full" fit has no q(tau): a clear error, not AttributeError."""
    X = _conflicting_data(20, 1, 1.0, n_features=2)
    est = VariationalNormalEstimator(covariance_type="full").fit(X)
    calls = [
        lambda: exact_posterior(est),
        lambda: linear_response_std(est),
        est.linear_response_std,
    ]
    for call in calls:
        with pytest.raises(ValueError, match="covariance_type='diag' fits only"):
            call()
    if importlib.util.find_spec("arviz_stats") is not None:
        with pytest.raises(ValueError, match="covariance_type='diag' fits only"):
            psis_diagnostic(est, X)


# --------------------------------------------------------------------------
# psis_diagnostic on the Gaussian mixture
# --------------------------------------------------------------------------

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
WEIGHT_PRIORS = ["dirichlet_process", "dirichlet_distribution"]


def _clusters(n, gap, seed, n_components=3):
    """Unit-variance 2-D clusters ``gap`` apart, equally likely."""
    rng = np.random.default_rng(seed)
    centres = gap * np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])[:n_components]
    return centres[rng.integers(0, n_components, n)] + rng.normal(size=(n, 2))


def _mixture(X, sample_weight=None, **params):
    params = {"random_state": 0, "tol": 1e-6, "max_iter": 2000, **params}
    return VariationalGaussianMixture(**params).fit(X, sample_weight=sample_weight)


def _as_matrices(values, covariance_type, K, d):
    """The (K, d, d) matrices a covariance_type's array stands for."""
    return {
        "full": lambda a: a,
        "tied": lambda a: np.broadcast_to(a, (K, d, d)),
        "diag": lambda a: a[:, :, None] * np.eye(d),
        "spherical": lambda a: a[:, None, None] * np.eye(d),
    }[covariance_type](np.asarray(values, dtype=np.float64))


def _reference_log_ratio(est, X, w, sticks, weights, means, precisions):
    """``log p(theta, X) - log q(theta)`` of one draw, by scipy.stats.

    Written from the model (Bishop §10.2) and the public fitted attributes
    only: q(Lambda_k) = Wishart(nu_k, precisions_k / nu_k), the prior
    Wishart(nu0, covariance_prior^-1), mu_k | Lambda_k Normal with precision
    beta Lambda_k; z summed out by logsumexp.
    """
    K, d = est.means_.shape
    ct = est.covariance_type
    dof = np.broadcast_to(est.degrees_of_freedom_, (K,))
    q_scale = _as_matrices(est.precisions_, ct, K, d) / dof[:, None, None]
    if ct == "tied":
        prior_covariance = np.asarray(est.covariance_prior_)
    else:
        prior_covariance = _as_matrices(
            np.asarray(est.covariance_prior_)[None], ct, 1, d
        )[0]
    prior_scale = np.linalg.inv(prior_covariance)
    log_components = np.array(
        [
            np.log(weights[k])
            + stats.multivariate_normal.logpdf(
                X, means[k], np.linalg.inv(precisions[k])
            )
            for k in range(K)
        ]
    )
    ratio = w @ logsumexp(log_components, axis=0)
    for k in range(K):
        for mean, beta, nu, scale, sign in [
            (
                est.mean_prior_,
                est.mean_precision_prior_,
                est.degrees_of_freedom_prior_,
                prior_scale,
                1.0,
            ),
            (est.means_[k], est.mean_precision_[k], dof[k], q_scale[k], -1.0),
        ]:
            ratio += sign * (
                stats.multivariate_normal.logpdf(
                    means[k], mean, np.linalg.inv(beta * precisions[k])
                )
                + stats.wishart.logpdf(precisions[k], df=nu, scale=scale)
            )
    alpha0 = est.weight_concentration_prior_
    if est.weight_concentration_prior_type == "dirichlet_process":
        a, b = est.weight_concentration_
        ratio += np.sum(
            stats.beta.logpdf(sticks, 1.0, alpha0) - stats.beta.logpdf(sticks, a, b)
        )
    else:
        ratio += stats.dirichlet.logpdf(
            weights, np.full(K, alpha0)
        ) - stats.dirichlet.logpdf(weights, est.weight_concentration_)
    return ratio


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
@pytest.mark.parametrize("weighted", [False, True])
def test_mixture_log_ratios_equal_a_direct_computation(
    covariance_type, weight_prior, weighted
):
    """Each draw's log ratio, z summed out, as scipy.stats computes it."""
    from skvi.diagnostics._psis import _log_ratios

    X = _clusters(60, 4.0, seed=1, n_components=2)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X)) if weighted else None
    est = _mixture(
        X,
        w,
        n_components=2,
        covariance_type=covariance_type,
        weight_concentration_prior_type=weight_prior,
    )
    n_draws, seed = 4, 7
    log_ratios, draws = _log_ratios(est, X, w, n_draws, np.random.RandomState(seed))
    # The draws are sample_posterior's (one implementation of sampling).
    for name, value in zip(
        ["weights", "means", "precisions"],
        est.sample_posterior(n_draws, random_state=seed),
        strict=True,
    ):
        np.testing.assert_array_equal(draws[name], value)
    sticks = [None] * n_draws
    if weight_prior == "dirichlet_process":
        # The sticks drawn with the weights; their stick-breaking is the weights.
        from skvi._mixture.protocol import _sample_posterior

        log_sticks, _ = _sample_posterior(
            *est._current(), n_draws, np.random.RandomState(seed)
        )["log_weight_variables"]
        sticks = np.exp(log_sticks)
        pi = sticks * np.hstack([np.ones((n_draws, 1)), 1.0 - sticks[:, :1]])
        np.testing.assert_allclose(draws["weights"], pi, rtol=1e-13)
    expected = [
        _reference_log_ratio(
            est,
            X,
            np.ones(len(X)) if w is None else w,
            sticks[s],
            draws["weights"][s],
            draws["means"][s],
            draws["precisions"][s],
        )
        for s in range(n_draws)
    ]
    np.testing.assert_allclose(log_ratios, expected, rtol=1e-10)


def _elbo_gap(est, X, n_draws, seed):
    """``mean_s r_s - elbo_`` and the Monte Carlo standard error of the mean."""
    from skvi.diagnostics._psis import _log_ratios

    log_ratios, _ = _log_ratios(est, X, None, n_draws, np.random.RandomState(seed))
    return log_ratios.mean() - est.elbo_, log_ratios.std() / np.sqrt(n_draws)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
def test_mixture_log_ratios_average_to_the_elbo_for_separated_clusters(
    covariance_type, weight_prior
):
    """E_q[log p(theta, X) - log q(theta)] >= elbo_, equal where r is 0 or 1.

    Summing z out tightens the bound by sum_i E_q[KL(r_i || p(z_i | x_i,
    theta))]: with clusters 30 sds apart, every responsibility is 0 or 1 to
    rounding and the two agree within Monte Carlo error; with clusters 2 sds
    apart the gain is many standard errors.
    """
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        weight_concentration_prior_type=weight_prior,
    )
    X = _clusters(1500, 30.0, seed=0)
    est = _mixture(X, **params)
    assert np.all((est.predict_proba(X) < 1e-12) | (est.predict_proba(X) > 1 - 1e-12))
    gap, error = _elbo_gap(est, X, 4000, seed=0)
    assert error > 0
    assert abs(gap) < 4 * error, (gap, error)
    X = _clusters(1500, 2.0, seed=0)
    est = _mixture(X, tol=1e-4, **params)  # any q: the bound holds for each
    gap, error = _elbo_gap(est, X, 4000, seed=0)
    assert gap > 4 * error, (gap, error)


def test_psis_diagnostic_takes_either_model():
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    X = _clusters(3000, 10.0, seed=0)
    est = _mixture(X, n_components=3)
    check = psis_diagnostic(est, X, random_state=0)
    # One k-hat for the whole model; the corrected moments have the draws' shapes.
    assert check.khat.shape == ()
    assert check.mean["weights"].shape == (3,)
    assert check.std["means"].shape == (3, 2)
    assert check.mean["precisions"].shape == (3, 2, 2)
    assert check.khat < 0.7 and check.reading == "good"
    np.testing.assert_allclose(
        np.sort(check.mean["means"], axis=0), np.sort(est.means_, axis=0), atol=0.05
    )


def test_psis_diagnostic_refuses_bad_mixture_input():
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    X = _clusters(100, 5.0, seed=0)
    with pytest.raises(NotFittedError):
        psis_diagnostic(VariationalGaussianMixture(n_components=2), X)
    est = _mixture(X, n_components=2)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 2"):
        psis_diagnostic(est, np.hstack([X, X[:, :1]]))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        psis_diagnostic(est, bad)
    with pytest.raises(ValueError, match="sample_weight"):
        psis_diagnostic(est, X, sample_weight=np.ones(5))


# dask: X made on the workers, never gathered; the same answer as numpy.
DASK_BLOCKS, DASK_BLOCK_ROWS = 4, 500


def _dask_block(block_id=None, on_worker=False):
    if on_worker:
        import distributed

        distributed.get_worker()  # raises anywhere but in a dask worker
    return _clusters(DASK_BLOCK_ROWS, 6.0, seed=[11, block_id[0]])


# The test below uses conftest.py's `client` fixture: one 2-worker cluster per
# test process, shared with the other dask tests (conftest.py's DASK_TESTS).


def _refuse_to_materialise(*args, **kwargs):
    raise AssertionError("X was materialised on the client")


@pytest.mark.parametrize("model", ["mixture", "normal", "student"])
def test_psis_on_dask_data_made_on_workers_is_never_gathered(
    client, monkeypatch, model
):
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    da = pytest.importorskip("dask.array")
    import distributed

    X = np.concatenate([_dask_block((k, 0)) for k in range(DASK_BLOCKS)])
    weights = np.random.default_rng(5).uniform(0.0, 2.0, len(X))
    est = {
        "mixture": lambda: _mixture(X, weights, n_components=3),
        "normal": lambda: VariationalNormalEstimator().fit(X, sample_weight=weights),
        "student": lambda: VariationalStudentEstimator().fit(X, sample_weight=weights),
    }[model]()
    expected = psis_diagnostic(est, X, random_state=0, sample_weight=weights)
    dask_X = da.map_blocks(
        _dask_block,
        on_worker=True,
        chunks=((DASK_BLOCK_ROWS,) * DASK_BLOCKS, (2,)),
        dtype=np.float64,
    )
    for method in ("__array__", "compute", "persist"):
        monkeypatch.setattr(da.Array, method, _refuse_to_materialise)
    with distributed.get_task_stream(client) as tasks:
        actual = psis_diagnostic(est, dask_X, random_state=0, sample_weight=weights)
    assert len(tasks.data) >= DASK_BLOCKS
    workers = set(client.scheduler_info()["workers"])
    assert {t["worker"] for t in tasks.data} <= workers
    np.testing.assert_allclose(actual.khat, expected.khat, rtol=1e-8)
    np.testing.assert_allclose(actual.log_evidence, expected.log_evidence, rtol=1e-10)
    for name in expected.mean:
        np.testing.assert_allclose(actual.mean[name], expected.mean[name], rtol=1e-9)
        np.testing.assert_allclose(actual.std[name], expected.std[name], rtol=1e-8)


@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
def test_mixture_khat_small_for_separated_clusters_and_large_where_q_is_poor(
    weight_prior,
):
    """k-hat follows how far q is from the posterior (4000 draws, seeds fixed).

    Measured over 20 data and draw seeds (K = 3 or 2, 'full'; Dirichlet,
    stick-breaking): clusters 10 sds apart, n = 3000, k-hat -0.21 to 0.29
    and -0.23 to 0.21; 12 samples in 3 clusters, 0.65 to 1.38 (19 of 20
    above 0.7) and 0.78 to 1.37 (20 of 20); two clusters 2 sds apart,
    n = 1000 (the assignments uncertain, and q(theta) blind to how they
    couple the components), 0.73 to 1.29 and 0.66 to 1.34 (17 of 20 above
    0.7, all above 0.5). docs/diagnostics.md has the table.
    """
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    params = dict(weight_concentration_prior_type=weight_prior)
    X = _clusters(3000, 10.0, seed=0)
    good = psis_diagnostic(
        _mixture(X, n_components=3, **params), X, n_draws=4000, random_state=0
    )
    assert good.khat < 0.5 and good.reading == "good"
    X = _clusters(12, 10.0, seed=0)
    tiny = psis_diagnostic(
        _mixture(X, n_components=3, **params), X, n_draws=4000, random_state=0
    )
    assert tiny.khat > 0.7 and tiny.reading == "do not trust"
    X = _clusters(1000, 2.0, seed=0, n_components=2)
    overlapping = psis_diagnostic(
        _mixture(X, n_components=2, **params), X, n_draws=4000, random_state=0
    )
    assert overlapping.khat > 0.5


@pytest.mark.parametrize("weight_prior", WEIGHT_PRIORS)
def test_mixture_weights_beyond_float64_keep_finite_log_ratios(weight_prior):
    """Empty components under a tiny alpha0: weights below 1e-308, logs finite.

    q's weights are drawn in log space; their mean log is E_q[log pi_k]
    (Bishop B.21: psi(alpha_k) - psi(sum_j alpha_j); for the sticks
    psi(a_k) - psi(a_k + b_k) + sum_{j<k} psi(b_j) - psi(a_j + b_j)), within
    five Monte Carlo standard errors.
    """
    from scipy.special import digamma

    from skvi._mixture.protocol import _sample_posterior
    from skvi.diagnostics._psis import _log_ratios

    X = _clusters(3000, 10.0, seed=0)
    est = _mixture(
        X,
        n_components=5,
        weight_concentration_prior_type=weight_prior,
        weight_concentration_prior=1e-3,
    )
    n_draws = 20_000
    draws = _sample_posterior(*est._current(), n_draws, np.random.RandomState(0))
    assert np.any(draws["weights"] == 0.0)
    assert np.all(np.isfinite(draws["log_weights"]))
    if weight_prior == "dirichlet_process":
        a, b = est.weight_concentration_
        log_rest = digamma(b) - digamma(a + b)
        expected = digamma(a) - digamma(a + b) + np.cumsum(log_rest) - log_rest
    else:
        alpha = est.weight_concentration_
        expected = digamma(alpha) - digamma(alpha.sum())
    error = draws["log_weights"].std(axis=0) / np.sqrt(n_draws)
    assert np.all(np.abs(draws["log_weights"].mean(axis=0) - expected) < 5 * error)
    log_ratios, _ = _log_ratios(est, X, None, 1000, np.random.RandomState(0))
    assert np.all(np.isfinite(log_ratios))


def test_collapsed_importance_weights_read_do_not_trust():
    """Log ratios spread over hundreds of nats: ESS ~1 or NaN, never "good"."""
    rng = np.random.default_rng(12)
    X = rng.normal(-1.0, 0.7, size=(300, 2))
    est = VariationalNormalEstimator().fit(X)
    check = psis_diagnostic(est, X * 13.0, random_state=3)
    assert np.all(check.reading == "do not trust")
    good = psis_diagnostic(est, X, random_state=3)
    assert np.all(good.effective_sample_size > 10)


def test_exact_posterior_out_of_range_warns_and_gives_nan():
    from skvi.exceptions import DiagnosticWarning

    X = np.random.default_rng(5).normal(size=(30, 2)) * 1e-140
    est = VariationalNormalEstimator(
        prior_std=1e290, prior_rate=1e-282, prior_shape=0.5
    ).fit(X)
    with pytest.warns(DiagnosticWarning, match=r"feature\(s\) \[0, 1\]"):
        exact = exact_posterior(est)
    assert np.all(np.isnan(exact.std)) and np.all(np.isnan(exact.kl))


# --------------------------------------------------------------------------
# psis_diagnostic on the Student-t model
# --------------------------------------------------------------------------


def _student_reference_log_ratios(est, X, w, mu, tau):
    """``log p(mu, tau, X) - log q(mu, tau)`` per draw and feature, by scipy.stats.

    From the model and the public fitted attributes only: w_ij integrated
    out, so each entry's likelihood is Student-t(nu_j, mu_j, 1/tau_j).
    """
    nu = est.degrees_of_freedom_
    log_likelihood = np.array(
        [
            w @ stats.t.logpdf(X, nu, loc=mu[s], scale=1.0 / np.sqrt(tau[s]))
            for s in range(len(mu))
        ]
    )
    log_prior = stats.norm.logpdf(mu, est.prior_mean_, est.prior_std_) + (
        stats.gamma.logpdf(tau, est.prior_shape_, scale=1.0 / est.prior_rate_)
    )
    log_q = stats.norm.logpdf(mu, est.posterior_mean_, est.posterior_std_) + (
        stats.gamma.logpdf(tau, est.posterior_shape_, scale=1.0 / est.posterior_rate_)
    )
    return log_likelihood + log_prior - log_q


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dof_update", ["fixed", "fit"])
def test_student_log_ratios_equal_a_direct_computation(weighted, dof_update):
    from skvi.diagnostics._psis import _log_ratios

    rng = np.random.default_rng(4)
    X = 2.0 + rng.standard_t(3.0, size=(300, 3)) * [1.0, 0.1, 10.0]
    X[:3] = 80.0  # outliers: their entries' t terms are far in the tail
    w = rng.uniform(0.0, 2.0, len(X)) if weighted else None
    est = VariationalStudentEstimator(degrees_of_freedom_update=dof_update).fit(
        X, sample_weight=w
    )
    n_draws, seed = 5, 7
    log_ratios, draws = _log_ratios(est, X, w, n_draws, np.random.RandomState(seed))
    # The draws are sample_posterior's (one implementation of sampling).
    mu, tau = est.sample_posterior(n_draws, random_state=seed)
    np.testing.assert_array_equal(draws["mu"], mu)
    np.testing.assert_array_equal(draws["tau"], tau)
    assert log_ratios.shape == (n_draws, 3)
    expected = _student_reference_log_ratios(
        est, X, np.ones(len(X)) if w is None else w, mu, tau
    )
    np.testing.assert_allclose(log_ratios, expected, rtol=1e-10)


def _student_posterior_of_mu(x, nu, prior, est, n_mu=241, n_log_tau=121):
    """Mean and sd of mu under p(mu, tau | x), by a direct 2-D grid quadrature.

    Over (mu, log tau), +-8 of q's sds (widened by 1.5) about q's means, with
    scipy.stats.t for the likelihood (w integrated out) and scipy.stats for
    the priors; the Jacobian tau of log tau included.
    """
    m0, s0, a0, b0 = prior
    mu = est.posterior_mean_[0] + 1.5 * est.posterior_std_[0] * np.linspace(-8, 8, n_mu)
    log_tau_sd = 1.5 / np.sqrt(est.posterior_shape_[0])
    log_tau = np.log(est.posterior_shape_[0] / est.posterior_rate_[0]) + (
        log_tau_sd * np.linspace(-8, 8, n_log_tau)
    )
    M, T = np.meshgrid(mu, np.exp(log_tau), indexing="ij")
    log_p = (
        stats.norm.logpdf(M, m0, s0)
        + stats.gamma.logpdf(T, a0, scale=1.0 / b0)
        + np.log(T)
        + stats.t.logpdf(
            x[:, None, None], nu, loc=M[None], scale=1.0 / np.sqrt(T[None])
        ).sum(axis=0)
    )
    p = np.exp(log_p - log_p.max())
    p_mu = p.sum(axis=1) / p.sum()
    # The grid reaches far enough: nothing at its edges.
    assert p_mu[0] < 1e-12 and p_mu[-1] < 1e-12
    mean = p_mu @ mu
    return mean, np.sqrt(p_mu @ (mu - mean) ** 2)


def test_student_psis_corrects_q_toward_the_exact_posterior():
    """Well-specified Student-t data, nu = 4: k-hat below 0.7, the sd mended.

    Mean field q(mu) q(tau) prod q(w_i) drops how the weights and mu move
    together (EM's missing information), so q(mu)'s sd is about
    sqrt((nu + 1) / (nu + 3)) of the exact one however many rows (0.845 at
    nu = 4; 0.835 here at n = 50, against a 2-D quadrature). PSIS's
    corrected sd is within 3% of the exact one.
    """
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    nu = 4.0
    X = 1.0 + 2.0 * np.random.default_rng(3).standard_t(nu, size=(50, 1))
    est = VariationalStudentEstimator(degrees_of_freedom=nu).fit(X)
    prior = [getattr(est, f"{name}_")[0] for name in PRIOR_NAMES]
    exact_mean, exact_std = _student_posterior_of_mu(X[:, 0], nu, prior, est)
    check = psis_diagnostic(est, X, n_draws=4000, random_state=0)
    assert check.khat[0] < 0.7 and check.reading[0] != "do not trust"
    q_error = abs(est.posterior_std_[0] - exact_std)
    assert est.posterior_std_[0] / exact_std < 0.9
    assert abs(check.std["mu"][0] - exact_std) < 0.3 * q_error
    assert abs(check.mean["mu"][0] - exact_mean) < 0.05 * exact_std


def test_student_khat_good_where_the_fit_matches_the_data():
    """nu = 10 data fitted with nu = 10: k-hat small on (nearly) every feature.

    Measured over 16 features (seeds fixed): n = 2000, 0.06 to 0.44; nu = 4
    gives larger ones (0.24 to 0.75 at n = 500), q(mu)'s sd being 0.85 of
    the exact one there (the test above).
    """
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    nu = 10.0
    X = 3.0 + 2.0 * np.random.default_rng(1).standard_t(nu, size=(2000, 8))
    est = VariationalStudentEstimator(degrees_of_freedom=nu).fit(X)
    check = psis_diagnostic(est, X, random_state=0)
    assert check.khat.shape == (8,)
    assert np.all(check.khat < 0.7)
    assert np.mean(check.khat) < 0.4
    assert np.mean(check.reading == "good") >= 0.75
    # The corrected moments stay near q's where q is good.
    np.testing.assert_allclose(
        check.mean["mu"], est.posterior_mean_, atol=0.2 * est.posterior_std_.max()
    )


def test_student_khat_do_not_trust_where_nu_is_far_from_the_data():
    """nu fixed at 0.05 on Normal data: k-hat above 0.5 everywhere, mostly >= 0.7.

    Under so heavy a tail every entry's q(w_ij) is vague and the mean-field
    product misses the posterior's shape; measured (16 features, n = 500):
    0.56 to 1.14, 12 of 16 at or above 0.7. The same data with nu = 30: 0.08
    to 0.54, 15 of 16 "good".
    """
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    X = np.random.default_rng(2).normal(size=(500, 16))
    far = VariationalStudentEstimator(degrees_of_freedom=0.05).fit(X)
    near = VariationalStudentEstimator(degrees_of_freedom=30.0).fit(X)
    poor = psis_diagnostic(far, X, random_state=0)
    good = psis_diagnostic(near, X, random_state=0)
    assert np.all(poor.khat > 0.5)
    assert np.mean(poor.reading == "do not trust") >= 0.5
    assert np.mean(good.reading == "good") >= 0.75
    assert np.mean(poor.khat) > np.mean(good.khat) + 0.3


# --------------------------------------------------------------------------
# The protocol: diagnostics ask the estimator, never its class
# --------------------------------------------------------------------------


class _Delegate:
    """An object that is no skvi estimator but answers the protocol.

    It forwards the protocol's methods (and the fitted attributes that
    check_data and check_is_fitted read) to a fitted estimator.
    """

    def __init__(self, fitted, methods):
        self._fitted = fitted
        self._methods = methods
        self.n_features_in_ = fitted.n_features_in_
        self.posterior_std_ = fitted.posterior_std_

    def __getattr__(self, name):
        if name in self._methods:
            return getattr(self._fitted, name)
        raise AttributeError(name)

    def fit(self, X):
        raise NotImplementedError  # scikit-learn's check_is_fitted asks for one

    def __sklearn_tags__(self):
        return self._fitted.__sklearn_tags__()


def test_diagnostics_dispatch_on_the_protocol_not_the_class():
    X = _conflicting_data(20, 2, 1.0, n_features=2)
    est = VariationalNormalEstimator(**SEED_PRIORS).fit(X)
    exact = exact_posterior(
        _Delegate(est, {"_normal_gamma_statistics", "_feature_elbos"})
    )
    np.testing.assert_array_equal(exact.std, exact_posterior(est).std)
    corrected = linear_response_std(_Delegate(est, {"_linear_response"}))
    np.testing.assert_array_equal(corrected.std, linear_response_std(est).std)
    if importlib.util.find_spec("arviz_stats") is not None:
        delegate = _Delegate(est, {"_sample_q", "_log_q", "_log_joint"})
        np.testing.assert_array_equal(
            psis_diagnostic(delegate, X, random_state=0).khat,
            psis_diagnostic(est, X, random_state=0).khat,
        )


@pytest.mark.parametrize(
    "function, missing",
    [
        (exact_posterior, "_feature_elbos"),
        (linear_response_std, "_linear_response"),
        (lambda est: psis_diagnostic(est, np.zeros((200, 2))), "_log_joint"),
    ],
)
def test_an_estimator_without_the_protocol_is_refused_by_name(function, missing):
    X = _conflicting_data(20, 2, 1.0, n_features=2)
    est = VariationalNormalEstimator(**SEED_PRIORS).fit(X)
    everything = {
        "_normal_gamma_statistics",
        "_feature_elbos",
        "_linear_response",
        "_sample_q",
        "_log_q",
        "_log_joint",
    }
    partial_answer = _Delegate(est, everything - {missing})
    with pytest.raises(TypeError, match=rf"does not know _Delegate: .*{missing}"):
        function(partial_answer)


def test_the_student_and_the_mixture_have_no_exact_posterior():
    X = np.random.default_rng(0).normal(size=(50, 2))
    student = VariationalStudentEstimator().fit(X)
    for function in (exact_posterior, linear_response_std):
        with pytest.raises(
            TypeError, match="does not know VariationalStudentEstimator"
        ):
            function(student)
