"""Streaming: partial_fit over any chunking equals fit on the concatenation."""

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skvi import VariationalNormalEstimator
from tests._fitted import assert_same_fit

PRIOR_NAMES = ["prior_mean", "prior_std", "prior_shape", "prior_rate"]


@st.composite
def chunked_data(draw, weighted):
    """Data of 1-3 features, cut into chunks at random, with random priors."""
    n_features = draw(st.integers(1, 3))
    n_samples = draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Locations far from 0 and spreads over many scales: the merge must stay
    # stable where a naive sum of squares would cancel (at |mean| / sd = 1e4
    # it loses 8 digits, at 1e9 all of them). Means are merged as reference +
    # offset, so chunks far from zero lose no digit of the spread.
    location = draw(st.sampled_from([0.0, 1.0, -300.0, 1e4, 1e6, -1e9]))
    spread = draw(st.sampled_from([1e-3, 1.0, 50.0, 100.0]))
    X = rng.normal(location, spread, size=(n_samples, n_features))
    if draw(st.booleans()):
        X = X.astype(np.float32)
    cuts = draw(
        st.lists(st.integers(1, max(n_samples - 1, 1)), max_size=6, unique=True)
    )
    bounds = [0, *sorted(c for c in cuts if c < n_samples), n_samples]
    chunks = [slice(start, stop) for start, stop in pairwise(bounds)]
    sample_weight = None
    if weighted:
        sample_weight = rng.uniform(0.0, 4.0, size=n_samples)
        sample_weight[rng.random(n_samples) < 0.2] = 0.0
        # A chunk of zero weights only is refused by partial_fit (as by fit):
        # give each chunk a positive weight.
        for chunk in chunks:
            sample_weight[chunk.start] = max(sample_weight[chunk.start], 0.5)
    priors = {
        "prior_mean": draw(st.floats(-10.0, 10.0)),
        "prior_std": draw(st.floats(0.01, 100.0)),
        "prior_shape": draw(st.floats(0.1, 10.0)),
        "prior_rate": draw(st.floats(1e-3, 10.0)),
    }
    if draw(st.booleans()):
        # Per-feature priors as well as scalars.
        priors["prior_mean"] = rng.uniform(-10.0, 10.0, size=n_features)
    return X, sample_weight, chunks, priors


def _stream(estimator, X, sample_weight, chunks):
    for chunk in chunks:
        weights = None if sample_weight is None else sample_weight[chunk]
        estimator.partial_fit(X[chunk], sample_weight=weights)
    return estimator


# Data at -1e9 under a prior at 0 with sd 0.01 can take CAVI more than max_iter
# sweeps: the property holds whether or not it converged (converged_ is
# compared too), so the warning that says so is expected, not leaked.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@settings(max_examples=300)
@given(data=st.data(), weighted=st.booleans())
def test_partial_fit_over_any_chunking_equals_fit(data, weighted):
    X, sample_weight, chunks, priors = data.draw(chunked_data(weighted))
    expected = VariationalNormalEstimator(**priors).fit(X, sample_weight=sample_weight)
    streamed = _stream(VariationalNormalEstimator(**priors), X, sample_weight, chunks)
    assert_same_fit(streamed, expected, rtol=1e-10)


def test_partial_fit_far_from_zero_is_as_exact_as_fit():
    """Far from 0 (|mean| / sd ~ 1e6), chunk means rounded to float64 would move
    the merged S by ~1e-10; merged as reference + offset they lose nothing."""
    rng = np.random.default_rng(0)
    X = rng.normal(1e6, 1.0, size=(300, 1))
    sample_weight = rng.uniform(0.1, 3.0, size=300)
    priors = {"prior_std": 1e7, "prior_rate": 1e-6}
    expected = VariationalNormalEstimator(**priors).fit(X, sample_weight=sample_weight)
    streamed = _stream(
        VariationalNormalEstimator(**priors),
        X,
        sample_weight,
        [slice(i, i + 1) for i in range(300)],
    )
    assert_same_fit(streamed, expected, rtol=1e-10)


def test_partial_fit_checks_n_features():
    estimator = VariationalNormalEstimator().partial_fit(np.ones((4, 2)) + np.eye(4, 2))
    fitted = estimator.posterior_mean_.copy()
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 2"):
        estimator.partial_fit(np.ones((4, 3)))
    # The rejected chunk changed nothing.
    np.testing.assert_array_equal(estimator.posterior_mean_, fitted)
    assert estimator.n_samples_seen_ == 4


def test_partial_fit_checks_feature_names():
    frame = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [0.0, 1.0, 0.5]})
    estimator = VariationalNormalEstimator().partial_fit(frame)
    fitted = estimator.posterior_std_.copy()
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        estimator.partial_fit(frame[["b", "a"]])
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- c"):
        estimator.partial_fit(frame.rename(columns={"b": "c"}))
    with pytest.warns(UserWarning, match="fitted with feature names"):
        estimator.partial_fit(frame.to_numpy())
    np.testing.assert_array_equal(estimator.feature_names_in_, ["a", "b"])
    # The bad chunks changed nothing; the unnamed one (a warning) was added.
    assert estimator.n_samples_seen_ == 6
    assert np.all(estimator.posterior_std_ < fitted)


def test_partial_fit_after_fit_continues_from_fit():
    rng = np.random.default_rng(2)
    X = rng.normal(3.0, 2.0, size=(50, 2))
    continued = VariationalNormalEstimator().fit(X[:30]).partial_fit(X[30:])
    assert_same_fit(continued, VariationalNormalEstimator().fit(X))
    # fit starts again: it forgets what partial_fit had merged.
    refit = continued.fit(X[30:])
    assert_same_fit(refit, VariationalNormalEstimator().fit(X[30:]))


def test_set_params_between_chunks_refits_all_data_with_new_priors():
    rng = np.random.default_rng(3)
    X = rng.normal(-1.0, 0.5, size=(40, 2))
    estimator = VariationalNormalEstimator(prior_std=0.1).partial_fit(X[:25])
    estimator.set_params(prior_std=5.0, prior_rate=0.01)
    estimator.partial_fit(X[25:])
    expected = VariationalNormalEstimator(prior_std=5.0, prior_rate=0.01).fit(X)
    assert_same_fit(estimator, expected)
    np.testing.assert_array_equal(estimator.prior_std_, [5.0, 5.0])


def test_later_chunk_of_zero_weights_adds_nothing():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 2))
    est = VariationalNormalEstimator().partial_fit(X)
    before = {k: np.copy(v) for k, v in vars(est).items() if k.endswith("_")}
    est.partial_fit(rng.normal(size=(5, 2)), sample_weight=np.zeros(5))
    assert est.n_samples_seen_ == 40
    for name in ("posterior_mean_", "posterior_std_", "posterior_rate_", "elbo_"):
        np.testing.assert_allclose(getattr(est, name), before[name], rtol=1e-13)
