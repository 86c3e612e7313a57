"""Saving and loading: joblib and skops.io round trips, version warnings.

Run on every registered estimator (``tests/_registry.py``), with its own data.
"""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import skvi
from skvi.exceptions import InconsistentVersionWarning
from tests._registry import ENTRIES, entry_id
from tests._state import assert_same_state, snapshot

sio = pytest.importorskip("skops.io")

# Estimators fitted on a DataFrame are scored on arrays here, on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:X does not have valid feature names:UserWarning"
)


def _fitted(entry, how):
    X = entry.make_data(50, 3, 0)
    estimator = entry.estimator
    if how == "fit":
        return clone(estimator).fit(X)
    if how == "fit-dataframe":
        return clone(estimator).fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    if how == "fit-weighted":
        return clone(estimator).fit(X, sample_weight=np.arange(50) % 4)
    fitted = clone(estimator)
    for chunk in np.array_split(X, 4):
        fitted.partial_fit(chunk)
    return fitted


HOW = ["fit", "fit-dataframe", "fit-weighted", "partial_fit"]

parametrize_fitted = pytest.mark.parametrize(
    "entry, how",
    [
        pytest.param(entry, how, id=f"{entry.id}-{how}")
        for entry in ENTRIES
        for how in HOW
        if how != "partial_fit" or hasattr(entry.estimator, "partial_fit")
    ],
)

parametrize_entries = pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)

# Methods whose outputs must survive a round trip, where the estimator has them.
PREDICTIONS = {
    "score_samples": lambda est, X: [est.score_samples(X)],
    "predict": lambda est, X: [est.predict(X)],
    "predict_proba": lambda est, X: [est.predict_proba(X)],
    "credible_interval": lambda est, X: est.credible_interval(0.9),
    "sample_posterior": lambda est, X: est.sample_posterior(3, random_state=0),
}


def _assert_same_predictions(entry, loaded, original):
    X = entry.make_data(7, 3, 1)
    methods = [name for name in PREDICTIONS if hasattr(original, name)]
    assert "score_samples" in methods
    for name in methods:
        for left, right in zip(
            PREDICTIONS[name](loaded, X), PREDICTIONS[name](original, X), strict=True
        ):
            np.testing.assert_array_equal(left, right, err_msg=name)


@parametrize_fitted
def test_joblib_round_trip_is_bit_for_bit(entry, how, tmp_path):
    fitted = _fitted(entry, how)
    path = tmp_path / "model.joblib"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same version: no warning
        joblib.dump(fitted, path)
        loaded = joblib.load(path)
    assert type(loaded) is type(fitted)
    assert_same_state(vars(loaded), vars(fitted))
    assert "_skvi_version" not in vars(loaded)
    _assert_same_predictions(entry, loaded, fitted)


@parametrize_fitted
def test_joblib_read_only_memmap(entry, how, tmp_path):
    """Loaded as read-only memmaps, the estimator is the same and still learns."""
    fitted = _fitted(entry, how)
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path, mmap_mode="r")
    mapped = [
        name for name, value in vars(loaded).items() if isinstance(value, np.memmap)
    ]
    assert mapped, "nothing was memory-mapped: the test tests nothing"
    assert not any(getattr(loaded, name).flags.writeable for name in mapped)
    assert_same_state(vars(loaded), vars(fitted))
    _assert_same_predictions(entry, loaded, fitted)
    # Refitting replaces the attributes, never writes into the read-only maps.
    X = entry.make_data(10, 3, 2)
    X = pd.DataFrame(X, columns=["a", "b", "c"]) if how == "fit-dataframe" else X
    if hasattr(loaded, "partial_fit"):
        loaded.partial_fit(X)
        fitted.partial_fit(X)
        assert_same_state(vars(loaded), vars(fitted))
    loaded.fit(X)
    assert_same_state(vars(loaded), vars(clone(fitted).fit(X)))


@parametrize_fitted
def test_skops_round_trip_without_trusting_arbitrary_types(entry, how, tmp_path):
    fitted = _fitted(entry, how)
    path = tmp_path / "model.skops"
    sio.dump(fitted, path)
    untrusted = sio.get_untrusted_types(file=path)
    # Only skvi's own estimator class needs trusting: no numpy or builtin
    # internals that could run code.
    assert untrusted == [f"{type(fitted).__module__}.{type(fitted).__name__}"]
    assert all(name.startswith("skvi.") for name in untrusted)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException, match="skvi"):
        sio.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same version: no warning
        loaded = sio.load(path, trusted=untrusted)
    assert type(loaded) is type(fitted)
    assert_same_state(vars(loaded), vars(fitted))
    _assert_same_predictions(entry, loaded, fitted)


@parametrize_fitted
def test_skops_refuses_trusted_true(entry, how, tmp_path):
    """Trusting everything is not offered (CVE-2024-37065): skops refuses it."""
    path = tmp_path / "model.skops"
    sio.dump(_fitted(entry, how), path)
    with pytest.raises(TypeError):
        sio.load(path, trusted=True)


def _dump_as_version(obj, version, monkeypatch, dump):
    """Save ``obj`` as if by skvi ``version``: the stamp is read at dump time."""
    with monkeypatch.context() as patch:
        patch.setattr("skvi._core.base.__version__", version)
        return dump(obj)


@parametrize_entries
@pytest.mark.parametrize("saved_by", ["0.0.1", "99.0", "0.1.0.dev0"])
def test_other_version_warns_on_pickle_load(entry, saved_by, monkeypatch):
    fitted = _fitted(entry, "fit")
    payload = _dump_as_version(fitted, saved_by, monkeypatch, pickle.dumps)
    with pytest.warns(InconsistentVersionWarning) as record:
        loaded = pickle.loads(payload)
    (warning,) = [w.message for w in record]
    assert warning.original_skvi_version == saved_by
    assert warning.current_skvi_version == skvi.__version__
    assert warning.estimator_name == type(fitted).__name__
    assert f"from skvi version {saved_by} when using version" in str(warning)
    assert "Refit the estimator" in str(warning)
    # The warning does not stop the load: the estimator is all there.
    assert_same_state(vars(loaded), vars(fitted))


@parametrize_entries
def test_other_version_warns_on_skops_load(entry, monkeypatch, tmp_path):
    fitted = _fitted(entry, "fit")
    path = tmp_path / "model.skops"
    _dump_as_version(fitted, "0.0.1", monkeypatch, lambda obj: sio.dump(obj, path))
    trusted = sio.get_untrusted_types(file=path)
    with pytest.warns(InconsistentVersionWarning, match="from skvi version 0.0.1"):
        loaded = sio.load(path, trusted=trusted)
    assert_same_state(vars(loaded), vars(fitted))


@parametrize_entries
def test_unstamped_state_warns(entry):
    """A state with no version at all (not saved by skvi's __getstate__) warns."""
    fitted = _fitted(entry, "fit")
    state = snapshot(fitted)
    loaded = type(fitted).__new__(type(fitted))
    with pytest.warns(InconsistentVersionWarning, match="version unknown"):
        loaded.__setstate__(state)
    assert_same_state(vars(loaded), vars(fitted))


@parametrize_entries
def test_same_version_does_not_warn(entry):
    fitted = _fitted(entry, "fit")
    state = fitted.__getstate__()
    assert state["_skvi_version"] == skvi.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = pickle.loads(pickle.dumps(fitted))
    assert_same_state(vars(loaded), vars(fitted))
    # The stamp lives in the pickle only, not on the estimator.
    assert "_skvi_version" not in vars(fitted)
