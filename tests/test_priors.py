"""Priors of any strength, priors from the data, and the defects of issue 7.

References here are closed forms computed in the tests: the conditional
posterior of tau given a pinned mu (a conjugate Gamma), the Student-t
evidence, and the exact invariances of the model under a vague prior.
"""

import threading
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.special import gammaln

from skvi import VariationalNormalEstimator
from skvi.exceptions import PriorDataConflictWarning
from tests._registry import SEED_PRIORS

X3 = np.array([[1.0], [2.0], [3.0]])


def _seed_prior_estimator(**params):
    """The estimator with the priors not given at skvi 0.2's defaults, N(0, 1)
    and Gamma(1, 1): these tests are about that prior at extreme scales."""
    return VariationalNormalEstimator(**{**SEED_PRIORS, **params})


def _log_evidence_mu_known(x, mu, a0, b0):
    """log p(x | mu) with tau ~ Gamma(a0, b0) integrated out (closed form)."""
    n = len(x)
    an, bn = a0 + n / 2, b0 + 0.5 * np.sum((x - mu) ** 2)
    return (
        gammaln(an)
        - gammaln(a0)
        + a0 * np.log(b0)
        - an * np.log(bn)
        - 0.5 * n * np.log(2 * np.pi)
    )


@pytest.mark.parametrize("prior_std", [1e-150, 1e-200, 1e-300])
def test_very_tight_prior_pins_mu_at_the_prior(prior_std):
    """Issue 7: prior_std=1e-150 gave posterior_mean_ 2.2e-16 and ELBO -2.5e268.

    With mu pinned at m0 = 0 by the prior, q(tau) is the exact conditional
    Gamma(a0 + n/2, b0 + sum x**2 / 2), q(mu) moves from 0 by
    s0**2 W E[tau] xbar to first order, and the ELBO is log p(X | mu = 0).
    """
    est = _seed_prior_estimator(prior_std=prior_std).fit(X3)
    shape, rate = 1.0 + 1.5, 1.0 + 0.5 * 14.0
    assert_allclose(est.posterior_shape_, shape, rtol=1e-14)
    assert_allclose(est.posterior_rate_, rate, rtol=1e-14)
    expected_mean = prior_std * (prior_std * 3 * shape / rate * 2.0)
    if expected_mean > 1e-290:  # below that the answer itself is subnormal
        assert_allclose(est.posterior_mean_, expected_mean, rtol=1e-10)
    else:
        assert abs(est.posterior_mean_[0]) <= 1e-290
    assert_allclose(est.posterior_std_, prior_std, rtol=1e-12)
    assert_allclose(est.elbo_, _log_evidence_mu_known(X3[:, 0], 0.0, 1.0, 1.0))


@pytest.mark.parametrize("prior_std", [1e155, 1e200, 1e300])
def test_very_vague_prior_is_accepted(prior_std):
    """Issue 7: prior_std=1e155 was refused as "not representable".

    Past a few orders of magnitude beyond the data, a vaguer prior changes
    nothing but log s0 in KL(q(mu) || p(mu)): the ELBO moves by exactly
    -log(s0 / s0'), and q is the same to rounding.
    """
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 2.0, size=(40, 2))
    vague = _seed_prior_estimator(prior_std=prior_std).fit(X)
    reference = _seed_prior_estimator(prior_std=1e12).fit(X)
    for name in ("posterior_mean_", "posterior_std_", "posterior_rate_"):
        assert_allclose(getattr(vague, name), getattr(reference, name), rtol=1e-12)
    assert_allclose(
        vague.elbo_ - reference.elbo_,
        -2 * np.log(prior_std / 1e12),
        rtol=1e-12,
    )


def test_vague_prior_on_huge_data_matches_the_rescaled_fit():
    """1e160 + 1e150 N(0, 1) with prior_std ~ 1.6e155 (refused in skvi 0.1).

    Scaling X by c scales mu by c and tau by 1/c**2: the fit on X / c with
    prior_std / c and prior_rate / c**2 must be the same fit, rescaled.
    """
    X = 1e160 + 1e150 * np.random.default_rng(7).normal(size=(30, 1))
    c = 2.0**498  # about 1.6e150; a power of two scales exactly
    # Run to the fixed point (tol=0): tol stops each fit within sqrt(tol).
    settings = dict(tol=0.0, max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        huge = _seed_prior_estimator(
            prior_std=1e5 * c, prior_rate=c * c, **settings
        ).fit(X)
        unit = _seed_prior_estimator(prior_std=1e5, prior_rate=1.0, **settings).fit(
            X / c
        )
    assert_allclose(huge.posterior_mean_ / c, unit.posterior_mean_, rtol=1e-12)
    assert_allclose(huge.posterior_std_ / c, unit.posterior_std_, rtol=1e-10)
    assert_allclose(huge.noise_std_ / c, unit.noise_std_, rtol=1e-10)


def test_tight_prior_on_tiny_data_is_finite():
    """1e-160 N(0, 1) with prior_std = 1e-165 (the posterior was NaN in 0.1)."""
    X = 1e-160 * np.random.default_rng(7).normal(size=(30, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The prior pins mu at 0, 1e4 posterior sds from the data mean: that
        # warning is the right one, numpy's are not.
        warnings.simplefilter("ignore", PriorDataConflictWarning)
        est = _seed_prior_estimator(prior_std=1e-165).fit(X)
    assert np.isfinite(est.elbo_)
    assert_allclose(est.posterior_std_, 1e-165, rtol=1e-12)
    assert abs(est.posterior_mean_[0]) < 1e-165


def test_default_priors_on_data_below_1e_minus_154_give_one_clear_error():
    """Their variance, and the data-resolved prior rate, underflow float64:
    one ValueError saying so, no numpy warning, nothing fitted lost."""
    X = 1e-160 * np.random.default_rng(7).normal(size=(30, 1))
    est = VariationalNormalEstimator().fit(np.ones((3, 1)) + X3)
    before = est.posterior_mean_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="spreads below about 1e-154 underflow"):
            est.fit(X)
    assert_array_equal(est.posterior_mean_, before)


@pytest.mark.parametrize("prior_std", [1e-12, 1e-3, 1.0, 1e3, 1e12])
def test_mean_update_agrees_with_exact_rational_arithmetic(prior_std):
    """q(mu) after one sweep against the same equation in exact fractions."""
    from fractions import Fraction

    X = np.array([[1e6 + 0.25], [1e6 - 0.5], [1e6 + 1.75]])
    est = _seed_prior_estimator(prior_mean=-3.0, prior_std=prior_std, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    xbar = sum(Fraction(float(x)) for x in X[:, 0]) / 3
    p0 = 1 / Fraction(prior_std) ** 2
    data_precision = 3 * Fraction(1.0)  # W E[tau] with q(tau) at its prior
    mean = (p0 * Fraction(-3.0) + data_precision * xbar) / (p0 + data_precision)
    # Within a few units of rounding of the larger of m0 and m (m may be a
    # small difference of the two, as for prior_std=1e-3 here).
    scale = max(3.0, abs(float(mean)))
    assert abs(est.posterior_mean_[0] - float(mean)) <= 4e-16 * scale


# --------------------------------------------------------------------------
# Priors resolved from the data (None): the unit-information prior
# --------------------------------------------------------------------------


def test_none_priors_are_the_unit_information_prior():
    rng = np.random.default_rng(3)
    X = rng.normal([48.5, 94.7], [13.0, 14.0], size=(442, 2))
    w = rng.uniform(0.5, 2.0, size=442)
    est = VariationalNormalEstimator(
        prior_mean=None, prior_std=None, prior_shape=None, prior_rate=None
    ).fit(X, sample_weight=w)
    mean = np.average(X, axis=0, weights=w)
    variance = np.average((X - mean) ** 2, axis=0, weights=w)
    assert_allclose(est.prior_mean_, mean, rtol=1e-12)
    assert_allclose(est.prior_std_, np.sqrt(variance), rtol=1e-12)
    assert_allclose(est.prior_shape_, 0.5)
    assert_allclose(est.prior_rate_, variance / 2, rtol=1e-12)
    # A prior worth one observation barely moves the mean from the data's.
    assert np.all(np.abs(est.posterior_mean_ - mean) < 0.01 * est.posterior_std_)
    # The same as giving those numbers explicitly.
    explicit = VariationalNormalEstimator(
        prior_mean=mean,
        prior_std=np.sqrt(variance),
        prior_shape=0.5,
        prior_rate=variance / 2,
    ).fit(X, sample_weight=w)
    assert_allclose(est.posterior_mean_, explicit.posterior_mean_, rtol=1e-12)
    assert_allclose(est.elbo_, explicit.elbo_, rtol=1e-12)


def test_explicit_priors_win_per_parameter():
    X = np.random.default_rng(4).normal(10.0, 3.0, size=(50, 1))
    est = VariationalNormalEstimator(
        prior_mean=None, prior_std=2.0, prior_shape=None, prior_rate=7.0
    ).fit(X)
    assert_allclose(est.prior_mean_, X.mean(0), rtol=1e-12)
    assert_allclose(est.prior_std_, 2.0)
    assert_allclose(est.prior_shape_, 0.5)
    assert_allclose(est.prior_rate_, 7.0)


def test_none_priors_in_partial_fit_use_all_data_seen():
    X = np.random.default_rng(5).normal(-4.0, 0.5, size=(300, 3))
    params = dict(prior_mean=None, prior_std=None, prior_shape=None, prior_rate=None)
    streamed = VariationalNormalEstimator(**params)
    for chunk in np.array_split(X, 7):
        streamed.partial_fit(chunk)
    whole = VariationalNormalEstimator(**params).fit(X)
    for name in (
        "prior_mean_",
        "prior_std_",
        "prior_rate_",
        "posterior_mean_",
        "posterior_std_",
        "noise_std_",
    ):
        assert_allclose(getattr(streamed, name), getattr(whole, name), rtol=1e-12)


def test_none_priors_on_a_constant_column_fall_back_to_its_scale():
    X = np.column_stack([np.full(20, 5.0), np.zeros(20), np.arange(20.0)])
    est = VariationalNormalEstimator(
        prior_mean=None, prior_std=None, prior_shape=None, prior_rate=None
    ).fit(X)
    assert_allclose(est.prior_std_[:2], [5.0, 1.0])
    assert_allclose(est.prior_rate_[:2], [12.5, 0.5])
    assert np.all(np.isfinite(est.posterior_mean_))
    assert_allclose(est.posterior_mean_[:2], [5.0, 0.0], atol=1e-12)
    # One sample: no spread at all.
    single = VariationalNormalEstimator(prior_std=None, prior_rate=None).fit([[3.0]])
    assert_allclose(single.prior_std_, 3.0)


def test_the_defaults_are_the_data_resolved_priors():
    """Issue 18: N(0, 1) on data around 1e6 gave a mean of 0.3 and a noise sd
    of 1e6, silently; the default priors now come from the data."""
    rng = np.random.default_rng(18)
    X = rng.normal([100.0, -5.0, 1e6], [10.0, 2.0, 3.0], size=(3000, 3))
    default = VariationalNormalEstimator()
    assert all(default.get_params()[name] is None for name in SEED_PRIORS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = default.fit(X)
    data = VariationalNormalEstimator(
        prior_mean=None, prior_std=None, prior_shape=None, prior_rate=None
    ).fit(X)
    for name in ("prior_mean_", "prior_rate_", "posterior_mean_", "noise_std_"):
        assert_array_equal(getattr(est, name), getattr(data, name))
    assert np.all(np.abs(est.posterior_mean_ - X.mean(0)) < 0.01 * est.posterior_std_)
    assert_allclose(est.noise_std_, X.std(0), rtol=1e-3)
    # The former default is one argument away, and gives the former answer:
    # the prior decides the third mean, and shrinks the first by over 2 sds.
    with pytest.warns(PriorDataConflictWarning, match=r"2 of 3 feature\(s\) \(0, 2\)"):
        seed = VariationalNormalEstimator(**SEED_PRIORS).fit(X)
    assert abs(seed.posterior_mean_[2]) < 1.0 and seed.noise_std_[2] > 1e5


def test_full_covariance_resolves_the_same_priors_from_the_data():
    rng = np.random.default_rng(19)
    X = rng.multivariate_normal([5.0, -200.0], [[4.0, 3.0], [3.0, 9.0]], size=400)
    full = VariationalNormalEstimator(covariance_type="full").fit(X)
    diag = VariationalNormalEstimator().fit(X)
    for name in ("prior_mean_", "prior_std_", "prior_shape_", "prior_rate_"):
        # (The full scatter's diagonal and the diagonal pass round differently.)
        assert_allclose(getattr(full, name), getattr(diag, name), rtol=1e-10)
    # Wishart(nu0 = 2 a0 + d - 1 = d, W0 = diag(1 / (2 b0)) = diag(1 / v)).
    assert full.prior_dof_ == 2.0
    assert_allclose(full.prior_scale_, np.diag(1.0 / X.var(0)), rtol=1e-10)
    assert_allclose(full.noise_covariance_, np.cov(X.T, bias=True), rtol=0.02)
    explicit = VariationalNormalEstimator(
        covariance_type="full",
        **{name: getattr(diag, name + "_") for name in SEED_PRIORS},
    ).fit(X)
    assert_allclose(full.posterior_mean_, explicit.posterior_mean_, rtol=1e-12)
    assert_allclose(full.elbo_, explicit.elbo_, rtol=1e-12)


def test_grid_search_takes_none_as_a_grid_value():
    from sklearn.model_selection import GridSearchCV

    X = np.random.default_rng(20).normal(50.0, 5.0, size=(120, 2))
    grid = {"prior_mean": [None, 0.0], "prior_std": [None, 1.0]}
    search = GridSearchCV(VariationalNormalEstimator(), grid, cv=3).fit(X)
    # N(0, 1) on mu for data at 50 is refuted by held-out data; None is not.
    assert search.best_params_["prior_mean"] is None
    assert search.best_estimator_.prior_mean is None
    assert_allclose(search.best_estimator_.prior_mean_, X.mean(0), rtol=1e-12)


# --------------------------------------------------------------------------
# PriorDataConflictWarning: one documented rule, here and in `skvi fit`
# --------------------------------------------------------------------------


def test_conflict_rule_is_the_shift_in_posterior_sds_and_its_closed_form():
    """``|m - xbar| > 2 s``, which at the fixed point is ``z se / s0 > 2``."""
    from skvi._core.normal_gamma import prior_data_conflicts

    rng = np.random.default_rng(21)
    X = rng.normal([0.5, 3.0, 8.0, 30.0], 1.0, size=(10, 4))
    est = VariationalNormalEstimator(prior_mean=0.0, prior_std=1.0, tol=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    se = 1.0 / np.sqrt(est.n_samples_seen_ / est.noise_std_**2)
    z = np.abs(est.sample_mean_) / np.sqrt(1.0 + se**2)
    shift = np.abs(est.posterior_mean_ - est.sample_mean_) / est.posterior_std_
    assert_allclose(shift, z * se / 1.0, rtol=1e-9)
    expected = shift > 2.0
    assert_array_equal(expected, [False, False, True, True])
    assert_array_equal(
        prior_data_conflicts(est.sample_mean_, est.posterior_mean_, est.posterior_std_),
        expected,
    )
    [warning] = [w for w in caught if w.category is PriorDataConflictWarning]
    assert "2 of 4 feature(s) (2, 3)" in str(warning.message)
    assert warning.filename == __file__  # points at the caller's fit


def test_no_conflict_warning_for_data_priors_or_agreeing_data():
    rng = np.random.default_rng(22)
    far = rng.normal(1e4, 1.0, size=(50, 3))
    near = rng.normal(0.2, 1.0, size=(50, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VariationalNormalEstimator().fit(far)
        VariationalNormalEstimator(prior_std=1e-3).fit(far)  # centred on the data
        VariationalNormalEstimator(**SEED_PRIORS).fit(near)
        VariationalNormalEstimator(covariance_type="full").partial_fit(far)
    frame = __import__("pandas").DataFrame(far, columns=["a", "b", "c"])
    message = r"3 of 3 feature\(s\) \(a, b, c\)"
    with pytest.warns(PriorDataConflictWarning, match=message):
        VariationalNormalEstimator(covariance_type="full", **SEED_PRIORS).fit(frame)


# --------------------------------------------------------------------------
# score with extreme weights; credible intervals near level 1
# --------------------------------------------------------------------------


@pytest.mark.parametrize("magnitude", [1e300, 1e-310, 5e-324])
def test_score_with_extreme_weights_is_the_weighted_mean(magnitude):
    """Weights summing past 1e308, or subnormal, give the same weighted mean."""
    X = np.random.default_rng(6).normal(size=(50, 2))
    est = VariationalNormalEstimator().fit(X)
    relative = np.arange(1.0, 51.0)
    if magnitude == 5e-324:
        relative = np.ones(50)  # the smallest subnormal has no other multiples
    expected = np.average(est.score_samples(X), weights=relative)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = est.score(X, sample_weight=relative * magnitude)
    assert_allclose(score, expected, rtol=1e-13)


def test_score_on_training_data_with_weights_times_w_is_elbo():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(60, 3))
    w = rng.uniform(0, 3, size=60)
    est = VariationalNormalEstimator().fit(X, sample_weight=w)
    assert_allclose(est.score(X, sample_weight=w) * w.sum(), est.elbo_, rtol=1e-10)


@pytest.mark.parametrize("level", [1 - 1e-16, 1 - 2**-53, 1e-300, 0.5, 0.95])
def test_credible_interval_is_finite_for_any_level(level):
    est = VariationalNormalEstimator().fit(X3)
    lower, upper = est.credible_interval(level, method="variational")
    assert np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))
    exact_lower, exact_upper = est.credible_interval(level, method="exact")
    assert np.all(np.isfinite(exact_lower)) and np.all(np.isfinite(exact_upper))
    assert np.all(exact_lower <= exact_upper)
    q = stats.norm(est.posterior_mean_, est.posterior_std_)
    # The interval holds `level` of q's mass, measured through the tails.
    assert_allclose(q.sf(upper) + q.cdf(lower), 1.0 - level, rtol=1e-9)


# --------------------------------------------------------------------------
# partial_fit from several threads loses nothing
# --------------------------------------------------------------------------


def test_concurrent_partial_fit_merges_every_chunk():
    rng = np.random.default_rng(9)
    chunks = [rng.normal(i, 1.0, size=(2000, 3)) for i in range(24)]
    est = VariationalNormalEstimator()
    barrier = threading.Barrier(4)

    def feed(part):
        barrier.wait()
        for chunk in part:
            est.partial_fit(chunk)

    threads = [threading.Thread(target=feed, args=(chunks[k::4],)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    whole = VariationalNormalEstimator().fit(np.concatenate(chunks))
    assert est.n_samples_seen_ == whole.n_samples_seen_ == 48000
    assert_allclose(est.sample_mean_, whole.sample_mean_, rtol=1e-12)
    assert_allclose(est.posterior_mean_, whole.posterior_mean_, rtol=1e-12)
    assert_allclose(est.noise_std_, whole.noise_std_, rtol=1e-10)


def test_prior_far_from_one_sample_climbs_to_a_finite_fit():
    """Found by hypothesis: the first iterate's ELBO is below -1.8e308."""
    est = VariationalNormalEstimator(
        prior_mean=1e37, prior_std=1e-118, prior_rate=1e-236
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est.fit([[0.0]])
    assert np.isfinite(est.elbo_)
    assert np.all(np.isfinite(est.posterior_mean_))
    assert_allclose(est.posterior_mean_, 1e37, rtol=1e-12)
    finite = est.elbo_history_[np.isfinite(est.elbo_history_)]
    assert np.all(np.diff(finite) >= 0)


def test_streaming_far_beyond_1e154_equals_fit():
    """Issue 7: at 1e160 + 1e145 N(0, 1), partial_fit and dask lost digits
    (noise_std_ 4% off) while fit was exact; now all agree to 1e-10."""
    da = pytest.importorskip("dask.array")
    X = 1e160 + 1e145 * np.random.default_rng(11).normal(size=(3000, 2))
    params = dict(prior_mean=1e160, prior_std=1e150, prior_rate=1e290)
    whole = VariationalNormalEstimator(**params).fit(X)
    streamed = VariationalNormalEstimator(**params)
    for chunk in np.array_split(X, 13):
        streamed.partial_fit(chunk)
    on_dask = VariationalNormalEstimator(**params).fit(
        da.from_array(X, chunks=(250, 2))
    )
    for other in (streamed, on_dask):
        assert_allclose(other.noise_std_, whole.noise_std_, rtol=1e-10)
        assert_allclose(other.posterior_std_, whole.posterior_std_, rtol=1e-10)
        assert_allclose(
            (other.posterior_mean_ - whole.posterior_mean_) / whole.posterior_std_,
            0.0,
            atol=1e-10,
        )
    # And fit itself is right: the same fit on the data scaled exactly to 1.
    c = 2.0**481  # ~6.2e144: a power of two scales exactly
    unit = VariationalNormalEstimator(
        prior_mean=1e160 / c, prior_std=1e150 / c, prior_rate=1e290 / c**2
    ).fit(X / c)
    assert_allclose(whole.noise_std_ / c, unit.noise_std_, rtol=1e-12)
