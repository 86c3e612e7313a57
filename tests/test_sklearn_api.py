"""The scikit-learn surface of every registered estimator: pipelines, search, params.

Expected values come from scikit-learn itself (clone, Pipeline, a manual
refit) or from a second, independent fit; none is a number the code printed.
Names of priors and attributes come from each estimator's entry in
``tests/_registry.py``; the checks that need the Normal model's meaning run on
the entries that declare that reference.
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
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skvi.exceptions import ConvergenceWarning
from tests._registry import ENTRIES, entries_with, entry_id, reference_entries
from tests._state import assert_same_state, snapshot

parametrize_entries = pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
parametrize_references = pytest.mark.parametrize(
    "entry", reference_entries(), ids=entry_id
)


def _data(entry, n_samples=120, n_features=3, seed=0):
    return entry.make_data(n_samples, n_features, seed)


def _assert_identical(entry, a, b):
    for name in entry.fitted_attributes + entry.exact_attributes:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _array_attributes(entry, estimator):
    return [
        name
        for name in entry.fitted_attributes
        if isinstance(getattr(estimator, name), np.ndarray)
    ]


def _fitted_priors(entry, params, n_features=3):
    """The fitted copy each prior in ``params`` must have: broadcast per feature."""
    return {
        prior.fitted: np.broadcast_to(
            np.asarray(params[prior.name], dtype=float), (n_features,)
        )
        for prior in entry.priors
        if prior.name in params and prior.per_feature
    }


# --------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------


@parametrize_entries
def test_pipeline_fits_and_scores(entry):
    data = _data(entry)
    pipe = Pipeline([("scale", StandardScaler()), ("vi", clone(entry.estimator))])
    pipe.fit(data)
    scaled = StandardScaler().fit_transform(data)
    direct = clone(entry.estimator).fit(scaled)
    _assert_identical(entry, pipe.named_steps["vi"], direct)
    assert pipe.score(data) == direct.score(scaled)
    assert_array_equal(pipe.score_samples(data), direct.score_samples(scaled))


@parametrize_references
def test_pipeline_standardised_columns_have_mean_0_and_sd_1(entry):
    data = _data(entry)
    # The reference's unit priors: Normal(0, 1) on the mean, Gamma(1, 1).
    unit = entry.reference.params(mean=0.0, std=1.0, shape=1.0, rate=1.0)
    pipe = Pipeline([("scale", StandardScaler()), ("vi", entry.clone_params(**unit))])
    fitted = pipe.fit(data).named_steps["vi"]
    # Standardised columns have mean 0 and sd 1: the posterior says so.
    assert_allclose(entry.reference.mean_of(fitted), 0.0, atol=1e-12)
    assert_allclose(entry.reference.noise_std_of(fitted), 1.0, atol=0.02)


@parametrize_entries
def test_pipeline_passes_sample_weight(entry):
    data = _data(entry)
    w = np.random.default_rng(1).integers(0, 3, size=len(data)).astype(float)
    pipe = Pipeline([("vi", clone(entry.estimator))])
    pipe.fit(data, vi__sample_weight=w)
    _assert_identical(
        entry,
        pipe.named_steps["vi"],
        clone(entry.estimator).fit(data, sample_weight=w),
    )


@parametrize_entries
def test_cross_val_score_without_scorer(entry):
    data = _data(entry)
    scores = cross_val_score(clone(entry.estimator), data, cv=3)
    folds = KFold(3).split(data)
    expected = [
        clone(entry.estimator).fit(data[train]).score(data[test])
        for train, test in folds
    ]
    assert_array_equal(scores, expected)


# --------------------------------------------------------------------------
# GridSearchCV
# --------------------------------------------------------------------------


@parametrize_entries
def test_grid_search_refits_best_estimator(entry):
    data = _data(entry)
    grid = entry.search_grid
    search = GridSearchCV(clone(entry.estimator), grid, n_jobs=2, cv=3)
    search.fit(data)
    assert set(search.best_params_) == set(grid)
    for name, values in grid.items():
        assert search.best_params_[name] in values
    fresh = entry.clone_params(**search.best_params_).fit(data)
    _assert_identical(entry, search.best_estimator_, fresh)
    assert search.best_estimator_.get_params() == fresh.get_params()
    # The winner is the best mean test score; the scores are our own score().
    means = search.cv_results_["mean_test_score"]
    assert search.best_score_ == np.max(means)
    folds = list(KFold(3).split(data))
    params = search.cv_results_["params"][int(np.argmax(means))]
    manual = np.mean(
        [entry.clone_params(**params).fit(data[tr]).score(data[te]) for tr, te in folds]
    )
    assert search.best_score_ == pytest.approx(manual, rel=1e-12)


@parametrize_references
def test_grid_search_rejects_a_clearly_wrong_prior(entry):
    """A tiny prior sd around a wrong mean pins mu far from the data: never chosen."""
    reference = entry.reference
    rng = np.random.default_rng(2)
    X = rng.normal(5.0, 1.0, size=(200, 2))
    grid = {reference.prior_std: [0.001, 10.0], reference.prior_rate: [1.0]}
    estimator = entry.clone_params(**reference.params(mean=-5.0, shape=1.0))
    search = GridSearchCV(estimator, grid, cv=4)
    search.fit(X)
    assert search.best_params_[reference.prior_std] == 10.0
    wrong, right = search.cv_results_["mean_test_score"]
    assert right > wrong + 1.0
    assert_allclose(reference.mean_of(search.best_estimator_), X.mean(0), atol=0.01)


@parametrize_references
def test_grid_search_over_prior_rate_prefers_the_true_noise_level(entry):
    """With little data per feature the precision prior matters: pick the truth.

    The data have precision 100 (sd 0.1); Gamma(shape=10, rate) has mean
    10 / rate, so rate = 0.1 is the right prior and rate = 100 (precision 0.1,
    sd ~3) is wrong by a factor of 1000.
    """
    reference = entry.reference
    rng = np.random.default_rng(3)
    X = rng.normal(0.0, 0.1, size=(12, 4))
    grid = {reference.prior_rate: [0.1, 100.0], reference.prior_shape: [10.0]}
    estimator = entry.clone_params(**reference.params(mean=0.0, std=1.0))
    search = GridSearchCV(estimator, grid, cv=3).fit(X)
    assert search.best_params_[reference.prior_rate] == 0.1


# --------------------------------------------------------------------------
# Persistence
# --------------------------------------------------------------------------


def _assert_same_posterior_methods(loaded, est):
    # Each returns a tuple of arrays, of other shapes for some estimators.
    calls = {
        "credible_interval": lambda fitted: fitted.credible_interval(0.9),
        "sample_posterior": lambda fitted: fitted.sample_posterior(5, random_state=0),
    }
    for name, call in calls.items():
        if hasattr(est, name):
            for left, right in zip(call(loaded), call(est), strict=True):
                assert_array_equal(left, right, err_msg=name)


@parametrize_entries
def test_joblib_round_trip(entry, tmp_path):
    data = _data(entry)
    est = entry.clone_params(**entry.other_params).fit(data)
    path = tmp_path / "est.joblib"
    joblib.dump(est, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no version warning on the same version
        loaded = joblib.load(path)
    assert loaded is not est
    _assert_identical(entry, loaded, est)
    assert loaded.get_params() == est.get_params()
    assert loaded.score(data) == est.score(data)
    assert_array_equal(loaded.score_samples(data), est.score_samples(data))
    _assert_same_posterior_methods(loaded, est)


@parametrize_entries
def test_pickle_round_trip_unfitted_and_fitted(entry):
    data = _data(entry)
    unfitted = entry.clone_params(**entry.other_params)
    assert pickle.loads(pickle.dumps(unfitted)).get_params() == unfitted.get_params()
    est = clone(entry.estimator).fit(data)
    _assert_identical(entry, pickle.loads(pickle.dumps(est)), est)


@parametrize_entries
def test_skops_round_trip(entry, tmp_path):
    sio = pytest.importorskip("skops.io")
    data = _data(entry)
    est = entry.clone_params(**entry.other_params).fit(data)
    path = tmp_path / "est.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.startswith(("skvi.", "numpy.")) for t in untrusted), untrusted
    loaded = sio.load(path, trusted=untrusted)
    _assert_identical(entry, loaded, est)
    assert loaded.score(data) == est.score(data)


# --------------------------------------------------------------------------
# clone, get_params, set_params, parameter validation
# --------------------------------------------------------------------------


@parametrize_entries
def test_get_params_defaults(entry):
    assert type(entry.estimator)().get_params() == entry.defaults


@parametrize_entries
def test_clone_is_unfitted_with_equal_params(entry):
    data = _data(entry)
    est = entry.clone_params(**entry.other_params).fit(data)
    copy = clone(est)
    assert copy is not est
    assert copy.get_params().keys() == est.get_params().keys()
    for name in entry.other_params:
        assert_array_equal(getattr(copy, name), getattr(est, name), err_msg=name)
    for name in entry.fitted_attributes + entry.exact_attributes:
        assert not hasattr(copy, name), name
    _assert_identical(entry, copy.fit(data), est)


@parametrize_entries
def test_set_params(entry):
    data = _data(entry)
    est = clone(entry.estimator)
    assert est.set_params(**entry.other_params) is est
    for name, value in entry.other_params.items():
        assert getattr(est, name) is value
    fitted = est.fit(data)
    for name, value in _fitted_priors(entry, entry.other_params).items():
        assert_allclose(getattr(fitted, name), value, err_msg=name)
    _assert_identical(entry, fitted, entry.clone_params(**entry.other_params).fit(data))
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(**{entry.prior_names[0] + "_typo": 1.0})


@parametrize_entries
def test_set_params_in_pipeline(entry):
    data = _data(entry)
    pipe = Pipeline([("vi", clone(entry.estimator))])
    pipe.set_params(
        **{f"vi__{name}": value for name, value in entry.other_params.items()}
    )
    for name, value in entry.other_params.items():
        assert pipe.get_params()[f"vi__{name}"] is value
    fitted = pipe.fit(data).named_steps["vi"]
    for name, value in _fitted_priors(entry, entry.other_params).items():
        assert_allclose(getattr(fitted, name), value, err_msg=name)


def _invalid_params(entry):
    """Every invalid value the entry lists, one parameter at a time."""
    invalid = {prior.name: prior.invalid for prior in entry.priors}
    for name, values in {**invalid, **entry.invalid_params}.items():
        for index, value in enumerate(values):
            yield pytest.param(entry, {name: value}, id=f"{entry.id}-{name}-{index}")


@pytest.mark.parametrize(
    "entry, params", [case for entry in ENTRIES for case in _invalid_params(entry)]
)
def test_invalid_parameters_raise_at_fit_not_init(entry, params):
    est = type(entry.estimator)(**params)  # __init__ validates nothing
    for key, value in params.items():
        assert getattr(est, key) is value
    with pytest.raises(InvalidParameterError, match=next(iter(params))):
        est.fit(_data(entry))


@parametrize_entries
def test_failed_fit_keeps_previous_fit(entry):
    data = _data(entry)
    est = clone(entry.estimator).fit(data)
    before = snapshot(est)
    per_feature = [prior.name for prior in entry.priors if prior.per_feature]
    if per_feature:
        params = {per_feature[0]: [1.0, 2.0]}  # two values for three features
    else:
        params = {entry.priors[0].name: entry.priors[0].invalid[0]}
    est.set_params(**params)
    with pytest.raises(ValueError):
        est.fit(data)
    assert_same_state(vars(est), before, ignore=params)


# --------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------


@parametrize_entries
def test_dataframe_sets_feature_names(entry):
    data = _data(entry)
    df = pd.DataFrame(data, columns=["age", "bmi", "bp"])
    est = clone(entry.estimator).fit(df)
    assert_array_equal(est.feature_names_in_, ["age", "bmi", "bp"])
    assert est.n_features_in_ == 3
    # pandas hands over a column-major array, so sums may round differently.
    from_array = clone(entry.estimator).fit(data)
    for name in _array_attributes(entry, est):
        assert_allclose(
            getattr(est, name), getattr(from_array, name), rtol=1e-13, err_msg=name
        )
    assert est.score(df) == pytest.approx(from_array.score(data), rel=1e-13)
    with pytest.raises(ValueError, match="feature names"):
        est.score(df.rename(columns={"bp": "glucose"}))


@parametrize_entries
def test_array_fit_has_no_feature_names(entry):
    data = _data(entry)
    est = clone(entry.estimator).fit(data)
    assert not hasattr(est, "feature_names_in_")
    with pytest.warns(UserWarning, match="feature names"):
        est.score(pd.DataFrame(data, columns=["a", "b", "c"]))


@parametrize_entries
@pytest.mark.parametrize("method", ["fit", "score_samples", "score"])
def test_one_dimensional_input_is_rejected(entry, method):
    data = _data(entry)
    est = clone(entry.estimator).fit(data[:, :1])
    with pytest.raises(ValueError, match="Reshape your data"):
        getattr(est, method)(data[:, 0])


@parametrize_entries
def test_wrong_number_of_features_is_rejected(entry):
    data = _data(entry)
    est = clone(entry.estimator).fit(data)
    with pytest.raises(ValueError, match="features"):
        est.score_samples(data[:, :2])


@parametrize_entries
def test_unfitted_methods_raise_not_fitted(entry):
    est = clone(entry.estimator)
    calls = {
        "score_samples": lambda: est.score_samples(np.zeros((2, 1))),
        "sample_posterior": lambda: est.sample_posterior(2),
        "credible_interval": lambda: est.credible_interval(),
    }
    for name, call in calls.items():
        if hasattr(est, name):
            with pytest.raises(NotFittedError):
                call()


@parametrize_entries
def test_list_and_float32_input_match_float64(entry):
    data = _data(entry)
    est = clone(entry.estimator).fit(data)
    from_list = clone(entry.estimator).fit(data.tolist())
    _assert_identical(entry, from_list, est)
    as32 = data.astype(np.float32)
    from32 = clone(entry.estimator).fit(as32)
    reference = clone(entry.estimator).fit(as32.astype(np.float64))
    for name in _array_attributes(entry, reference):
        assert getattr(from32, name).dtype == np.float64
        assert_allclose(
            getattr(from32, name), getattr(reference, name), rtol=1e-10, err_msg=name
        )


def _fixed_sweeps(est, X, n=300):
    est.set_params(tol=0.0, max_iter=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


@pytest.mark.parametrize("entry", entries_with("independent_features"), ids=entry_id)
def test_array_priors_equal_per_column_fits(entry):
    data = _data(entry)
    priors = entry.per_column_priors
    # The joint fit stops on the summed ELBO, and a change of the ELBO is
    # second order in the distance to the optimum; so every fit runs with
    # tol=0, until the ELBO stops changing in float64. That resolves the
    # parameters to about sqrt(machine epsilon) (1.5e-8) for a model that
    # converges linearly (the Student-t model; the Normal model solves its
    # fixed point, to rounding), hence rtol=1e-7.
    joint = _fixed_sweeps(entry.clone_params(**priors), data)
    for name, value in priors.items():
        assert_array_equal(getattr(joint, entry.prior(name).fitted), value)
    elbo = 0.0
    for j in range(3):
        single = _fixed_sweeps(
            entry.clone_params(**{k: float(v[j]) for k, v in priors.items()}),
            data[:, [j]],
        )
        for name in entry.posterior:
            assert_allclose(
                getattr(joint, name)[j],
                getattr(single, name)[0],
                rtol=1e-7,
                err_msg=name,
            )
        elbo += single.elbo_
    assert joint.elbo_ == pytest.approx(elbo, rel=1e-12)


@parametrize_entries
def test_scalar_priors_broadcast(entry):
    data = _data(entry)
    scalars = {
        prior.name: entry.other_params[prior.name]
        for prior in entry.priors
        if prior.per_feature and np.ndim(entry.other_params.get(prior.name, [])) == 0
    }
    if not scalars:
        pytest.skip("no per-feature prior given as a scalar in other_params")
    est = entry.clone_params(**scalars).fit(data)
    for name, value in _fitted_priors(entry, scalars).items():
        assert_array_equal(getattr(est, name), value, err_msg=name)
    # The same priors given per feature, as a list and as an array.
    per_feature = {
        name: ([value] * 3 if index % 2 == 0 else np.full(3, value))
        for index, (name, value) in enumerate(scalars.items())
    }
    _assert_identical(entry, est, entry.clone_params(**per_feature).fit(data))


@parametrize_entries
def test_sparse_input_is_refused(entry):
    sparse = pytest.importorskip("scipy.sparse")
    data = _data(entry)
    with pytest.raises(TypeError, match="dense data is required"):
        clone(entry.estimator).fit(sparse.csr_matrix(data))
    est = clone(entry.estimator).fit(data)
    with pytest.raises(TypeError, match="dense data is required"):
        est.score_samples(sparse.csr_matrix(data))


@parametrize_entries
def test_fitted_priors_do_not_alias_the_users_array(entry):
    X = _data(entry, 30)
    arrays = [
        prior
        for prior in entry.priors
        if prior.per_feature and np.ndim(entry.other_params.get(prior.name, 0)) == 1
    ]
    if not arrays:
        pytest.skip("no per-feature prior given as an array in other_params")
    prior = arrays[0]
    value = np.array(entry.other_params[prior.name], dtype=float)
    expected = value.copy()
    est = entry.clone_params(**{prior.name: value}).fit(X)
    before = est.score(X)
    value[:] = 50.0
    assert_array_equal(getattr(est, prior.fitted), expected)
    assert est.score(X) == before


@parametrize_entries
def test_nan_is_reported_as_nan_even_when_assume_finite(entry):
    X = _data(entry, 30, 2)
    X[3, 1] = np.nan
    with config_context(assume_finite=True):
        with pytest.raises(ValueError, match="Input X contains NaN"):
            clone(entry.estimator).fit(X)


@parametrize_entries
def test_skip_parameter_validation_is_respected(entry):
    X = _data(entry, 30, 1)
    with pytest.raises(InvalidParameterError):
        entry.clone_params(tol=-1.0).fit(X)
    with config_context(skip_parameter_validation=True):
        with pytest.warns(ConvergenceWarning):
            est = entry.clone_params(tol=-1.0, max_iter=5).fit(X)
    assert est.n_iter_ == 5
