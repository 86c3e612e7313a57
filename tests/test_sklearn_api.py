"""VariationalNormalEstimator's scikit-learn surface: pipelines, search, persistence.

Expected values come from scikit-learn itself (clone, Pipeline, a manual
refit) or from a second, independent fit; none is a number the code printed.
"""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skvi import VariationalNormalEstimator
from skvi.exceptions import ConvergenceWarning
from tests._fitted import FITTED_ATTRIBUTES

FITTED_ARRAYS = [
    name
    for name in FITTED_ATTRIBUTES
    if name not in ("elbo_", "n_iter_", "converged_", "n_features_in_")
]

DEFAULTS = dict(
    prior_mean=0.0,
    prior_std=1.0,
    prior_shape=1.0,
    prior_rate=1.0,
    max_iter=100,
    tol=1e-8,
    verbose=0,
)


def _assert_identical(a, b):
    for name in FITTED_ATTRIBUTES:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal([5.0, -1.0, 0.0], [2.0, 0.5, 1.0], size=(120, 3))


# --------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------


def test_pipeline_fits_and_scores(data):
    pipe = Pipeline([("scale", StandardScaler()), ("vi", VariationalNormalEstimator())])
    pipe.fit(data)
    scaled = StandardScaler().fit_transform(data)
    direct = VariationalNormalEstimator().fit(scaled)
    _assert_identical(pipe.named_steps["vi"], direct)
    assert pipe.score(data) == direct.score(scaled)
    assert_array_equal(pipe.score_samples(data), direct.score_samples(scaled))
    # Standardised columns have mean 0 and sd 1: the posterior says so.
    assert_allclose(pipe.named_steps["vi"].posterior_mean_, 0.0, atol=1e-12)
    assert_allclose(pipe.named_steps["vi"].noise_std_, 1.0, atol=0.02)


def test_pipeline_passes_sample_weight(data):
    w = np.random.default_rng(1).integers(0, 3, size=len(data)).astype(float)
    pipe = Pipeline([("vi", VariationalNormalEstimator())])
    pipe.fit(data, vi__sample_weight=w)
    _assert_identical(
        pipe.named_steps["vi"], VariationalNormalEstimator().fit(data, sample_weight=w)
    )


def test_cross_val_score_without_scorer(data):
    scores = cross_val_score(VariationalNormalEstimator(), data, cv=3)
    folds = KFold(3).split(data)
    expected = [
        VariationalNormalEstimator().fit(data[train]).score(data[test])
        for train, test in folds
    ]
    assert_array_equal(scores, expected)


# --------------------------------------------------------------------------
# GridSearchCV
# --------------------------------------------------------------------------


def test_grid_search_refits_best_estimator(data):
    grid = {"prior_std": [0.1, 1.0, 10.0], "prior_rate": [0.1, 1.0, 10.0]}
    search = GridSearchCV(VariationalNormalEstimator(), grid, n_jobs=2, cv=3)
    search.fit(data)
    assert set(search.best_params_) == {"prior_std", "prior_rate"}
    assert search.best_params_["prior_std"] in grid["prior_std"]
    assert search.best_params_["prior_rate"] in grid["prior_rate"]
    fresh = VariationalNormalEstimator(**search.best_params_).fit(data)
    _assert_identical(search.best_estimator_, fresh)
    assert search.best_estimator_.get_params() == fresh.get_params()
    # The winner is the best mean test score; the scores are our own score().
    means = search.cv_results_["mean_test_score"]
    assert search.best_score_ == np.max(means)
    folds = list(KFold(3).split(data))
    params = search.cv_results_["params"][int(np.argmax(means))]
    manual = np.mean(
        [
            VariationalNormalEstimator(**params).fit(data[tr]).score(data[te])
            for tr, te in folds
        ]
    )
    assert search.best_score_ == pytest.approx(manual, rel=1e-12)


def test_grid_search_rejects_a_clearly_wrong_prior():
    """A tiny prior_std around a wrong mean pins mu far from the data: never chosen."""
    rng = np.random.default_rng(2)
    X = rng.normal(5.0, 1.0, size=(200, 2))
    grid = {"prior_std": [0.001, 10.0], "prior_rate": [1.0]}
    search = GridSearchCV(VariationalNormalEstimator(prior_mean=-5.0), grid, cv=4)
    search.fit(X)
    assert search.best_params_["prior_std"] == 10.0
    wrong, right = search.cv_results_["mean_test_score"]
    assert right > wrong + 1.0
    assert_allclose(search.best_estimator_.posterior_mean_, X.mean(0), atol=0.01)


def test_grid_search_over_prior_rate_prefers_the_true_noise_level():
    """With little data per feature the precision prior matters: pick the truth.

    The data have precision 100 (sd 0.1); Gamma(shape=10, rate) has mean
    10 / rate, so rate = 0.1 is the right prior and rate = 100 (precision 0.1,
    sd ~3) is wrong by a factor of 1000.
    """
    rng = np.random.default_rng(3)
    X = rng.normal(0.0, 0.1, size=(12, 4))
    grid = {"prior_rate": [0.1, 100.0], "prior_shape": [10.0]}
    search = GridSearchCV(VariationalNormalEstimator(), grid, cv=3).fit(X)
    assert search.best_params_["prior_rate"] == 0.1


# --------------------------------------------------------------------------
# Persistence
# --------------------------------------------------------------------------


def test_joblib_round_trip(data, tmp_path):
    est = VariationalNormalEstimator(prior_std=[1.0, 2.0, 3.0]).fit(data)
    path = tmp_path / "est.joblib"
    joblib.dump(est, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no version warning on the same version
        loaded = joblib.load(path)
    assert loaded is not est
    _assert_identical(loaded, est)
    assert loaded.get_params() == est.get_params()
    assert loaded.score(data) == est.score(data)
    assert_array_equal(loaded.score_samples(data), est.score_samples(data))
    assert_array_equal(loaded.credible_interval(0.9), est.credible_interval(0.9))
    assert_array_equal(
        loaded.sample_posterior(5, random_state=0),
        est.sample_posterior(5, random_state=0),
    )


def test_pickle_round_trip_unfitted_and_fitted(data):
    unfitted = VariationalNormalEstimator(prior_mean=3.0)
    assert pickle.loads(pickle.dumps(unfitted)).get_params() == unfitted.get_params()
    est = VariationalNormalEstimator().fit(data)
    _assert_identical(pickle.loads(pickle.dumps(est)), est)


def test_skops_round_trip(data, tmp_path):
    sio = pytest.importorskip("skops.io")
    est = VariationalNormalEstimator(prior_rate=2.0).fit(data)
    path = tmp_path / "est.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.startswith(("skvi.", "numpy.")) for t in untrusted), untrusted
    loaded = sio.load(path, trusted=untrusted)
    _assert_identical(loaded, est)
    assert loaded.score(data) == est.score(data)


# --------------------------------------------------------------------------
# clone, get_params, set_params, parameter validation
# --------------------------------------------------------------------------


def test_get_params_defaults():
    assert VariationalNormalEstimator().get_params() == DEFAULTS


def test_clone_is_unfitted_with_equal_params(data):
    est = VariationalNormalEstimator(prior_mean=[1.0, 2.0, 3.0], tol=1e-6).fit(data)
    copy = clone(est)
    assert copy is not est
    assert copy.get_params().keys() == est.get_params().keys()
    assert_array_equal(copy.prior_mean, est.prior_mean)
    assert copy.tol == est.tol
    assert not hasattr(copy, "posterior_mean_")
    assert not hasattr(copy, "elbo_")
    _assert_identical(copy.fit(data), est)


def test_set_params(data):
    est = VariationalNormalEstimator()
    assert est.set_params(prior_std=0.01, max_iter=7) is est
    assert est.prior_std == 0.01 and est.max_iter == 7
    fitted = est.fit(data)
    assert_allclose(fitted.prior_std_, 0.01)
    _assert_identical(
        fitted, VariationalNormalEstimator(prior_std=0.01, max_iter=7).fit(data)
    )
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(prior_sd=1.0)


def test_set_params_in_pipeline(data):
    pipe = Pipeline([("vi", VariationalNormalEstimator())])
    pipe.set_params(vi__prior_mean=4.0)
    assert pipe.get_params()["vi__prior_mean"] == 4.0
    assert_allclose(pipe.fit(data).named_steps["vi"].prior_mean_, 4.0)


@pytest.mark.parametrize(
    "params",
    [
        {"prior_std": 0.0},
        {"prior_std": -1.0},
        {"prior_shape": 0.0},
        {"prior_rate": -2.0},
        {"prior_mean": np.inf},
        {"max_iter": 0},
        {"max_iter": 1.5},
        {"tol": -1e-3},
        {"prior_std": "wide"},
    ],
)
def test_invalid_parameters_raise_at_fit_not_init(data, params):
    est = VariationalNormalEstimator(**params)  # __init__ validates nothing
    for key, value in params.items():
        assert getattr(est, key) is value
    with pytest.raises(InvalidParameterError, match=next(iter(params))):
        est.fit(data)


def test_scalar_parameter_errors_are_invalid_parameter_errors(data):
    with pytest.raises(InvalidParameterError, match="prior_std"):
        VariationalNormalEstimator(prior_std=0.0).fit(data)
    with pytest.raises(InvalidParameterError, match="max_iter"):
        VariationalNormalEstimator(max_iter=0).fit(data)


@pytest.mark.parametrize(
    "params",
    [
        {"prior_std": [1.0, 0.0, 1.0]},
        {"prior_rate": [1.0, 1.0, -1.0]},
        {"prior_mean": [0.0, np.nan, 0.0]},
        {"prior_mean": [0.0, 1.0]},  # wrong length
        {"prior_shape": [[1.0, 1.0, 1.0]]},  # wrong shape
    ],
)
def test_invalid_array_priors_raise(data, params):
    (name,) = params
    with pytest.raises(InvalidParameterError, match=name):
        VariationalNormalEstimator(**params).fit(data)


def test_failed_fit_keeps_previous_fit(data):
    est = VariationalNormalEstimator().fit(data)
    before = est.posterior_mean_.copy()
    est.set_params(prior_std=[1.0, 2.0])
    with pytest.raises(ValueError):
        est.fit(data)
    assert_array_equal(est.posterior_mean_, before)


# --------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------


def test_dataframe_sets_feature_names(data):
    df = pd.DataFrame(data, columns=["age", "bmi", "bp"])
    est = VariationalNormalEstimator().fit(df)
    assert_array_equal(est.feature_names_in_, ["age", "bmi", "bp"])
    assert est.n_features_in_ == 3
    # pandas hands over a column-major array, so sums may round differently.
    from_array = VariationalNormalEstimator().fit(data)
    for name in FITTED_ARRAYS:
        assert_allclose(getattr(est, name), getattr(from_array, name), rtol=1e-13)
    assert est.score(df) == pytest.approx(from_array.score(data), rel=1e-13)
    with pytest.raises(ValueError, match="feature names"):
        est.score(df.rename(columns={"bp": "glucose"}))


def test_array_fit_has_no_feature_names(data):
    est = VariationalNormalEstimator().fit(data)
    assert not hasattr(est, "feature_names_in_")
    with pytest.warns(UserWarning, match="feature names"):
        est.score(pd.DataFrame(data, columns=["a", "b", "c"]))


@pytest.mark.parametrize("method", ["fit", "score_samples", "score"])
def test_one_dimensional_input_is_rejected(data, method):
    est = VariationalNormalEstimator().fit(data[:, :1])
    with pytest.raises(ValueError, match="Reshape your data"):
        getattr(est, method)(data[:, 0])


def test_wrong_number_of_features_is_rejected(data):
    est = VariationalNormalEstimator().fit(data)
    with pytest.raises(ValueError, match="features"):
        est.score_samples(data[:, :2])


def test_unfitted_methods_raise_not_fitted():
    from sklearn.exceptions import NotFittedError

    est = VariationalNormalEstimator()
    for call in (
        lambda: est.score_samples(np.zeros((2, 1))),
        lambda: est.sample_posterior(2),
        lambda: est.credible_interval(),
    ):
        with pytest.raises(NotFittedError):
            call()


def test_list_and_float32_input_match_float64(data):
    est = VariationalNormalEstimator().fit(data)
    from_list = VariationalNormalEstimator().fit(data.tolist())
    _assert_identical(from_list, est)
    as32 = data.astype(np.float32)
    from32 = VariationalNormalEstimator().fit(as32)
    reference = VariationalNormalEstimator().fit(as32.astype(np.float64))
    for name in FITTED_ARRAYS:
        assert getattr(from32, name).dtype == np.float64
        assert_allclose(getattr(from32, name), getattr(reference, name), rtol=1e-10)


def _fixed_sweeps(est, X, n=300):
    est.set_params(tol=0.0, max_iter=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


def test_array_priors_equal_per_column_fits(data):
    priors = dict(
        prior_mean=np.array([4.0, 0.0, -1.0]),
        prior_std=np.array([3.0, 0.2, 1.0]),
        prior_shape=np.array([2.0, 1.0, 5.0]),
        prior_rate=np.array([1.0, 0.1, 4.0]),
    )
    # The joint fit stops on the summed ELBO, and a change of the ELBO is
    # second order in the distance to the optimum; so every fit runs with
    # tol=0, until the ELBO stops changing in float64. That resolves the
    # parameters to about sqrt(machine epsilon), hence rtol=1e-8.
    joint = _fixed_sweeps(VariationalNormalEstimator(**priors), data)
    for name, value in priors.items():
        assert_array_equal(getattr(joint, name + "_"), value)
    elbo = 0.0
    for j in range(3):
        single = _fixed_sweeps(
            VariationalNormalEstimator(**{k: float(v[j]) for k, v in priors.items()}),
            data[:, [j]],
        )
        for name in FITTED_ARRAYS[:5]:
            assert_allclose(
                getattr(joint, name)[j], getattr(single, name)[0], rtol=1e-8
            )
        elbo += single.elbo_
    assert joint.elbo_ == pytest.approx(elbo, rel=1e-12)


def test_scalar_priors_broadcast(data):
    est = VariationalNormalEstimator(prior_mean=2.0, prior_rate=3.0).fit(data)
    assert_array_equal(est.prior_mean_, np.full(3, 2.0))
    assert_array_equal(est.prior_rate_, np.full(3, 3.0))
    same = VariationalNormalEstimator(
        prior_mean=[2.0] * 3, prior_rate=np.full(3, 3.0)
    ).fit(data)
    _assert_identical(est, same)


def test_sparse_input_is_refused(data):
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="dense data is required"):
        VariationalNormalEstimator().fit(sparse.csr_matrix(data))
    est = VariationalNormalEstimator().fit(data)
    with pytest.raises(TypeError, match="dense data is required"):
        est.score_samples(sparse.csr_matrix(data))


def test_fitted_priors_do_not_alias_the_users_array():
    X = np.random.default_rng(0).normal(size=(30, 2))
    prior_std = np.array([1.0, 2.0])
    est = VariationalNormalEstimator(prior_std=prior_std).fit(X)
    before = est.score(X)
    prior_std[:] = 50.0
    assert_array_equal(est.prior_std_, [1.0, 2.0])
    assert est.score(X) == before


def test_nan_is_reported_as_nan_even_when_assume_finite():
    X = np.random.default_rng(0).normal(size=(30, 2))
    X[3, 1] = np.nan
    with config_context(assume_finite=True):
        with pytest.raises(ValueError, match="Input X contains NaN"):
            VariationalNormalEstimator().fit(X)


def test_skip_parameter_validation_is_respected():
    X = np.random.default_rng(0).normal(size=(30, 1))
    with pytest.raises(InvalidParameterError):
        VariationalNormalEstimator(tol=-1.0).fit(X)
    with config_context(skip_parameter_validation=True):
        with pytest.warns(ConvergenceWarning):
            est = VariationalNormalEstimator(tol=-1.0, max_iter=5).fit(X)
    assert est.n_iter_ == 5
