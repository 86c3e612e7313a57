"""Array API input (PyTorch, CuPy, array-api-strict) under scikit-learn's dispatch.

scikit-learn turns ``array_api_dispatch`` on only when the environment
variable ``SCIPY_ARRAY_API=1`` was set before scipy was imported, and that
variable changes scipy's behaviour for the whole process. So these tests run
in a process of their own: in the main run, :func:`test_array_api_suite`
starts ``pytest tests/test_array_api.py`` with the variable set and checks
that it passes; there (``SCIPY_ARRAY_API=1``) the other tests of this module
run, and that one is skipped. (scikit-learn's own suite runs its array API
tests only when the variable is set for the whole run, and skips them
otherwise; a run of skvi's suite with ``SCIPY_ARRAY_API=1`` set runs them
directly.)

The reference is the numpy path: every fitted array and every method's
output on array-api-strict float64 input agree with numpy's to 1e-12, and
live in array-api-strict's namespace, on X's device. PyTorch's CPU tensors
get the same tests where torch is installed.
"""

# SPDX-License-Identifier: BSD-3-Clause

import inspect
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import clone, config_context
from sklearn.exceptions import ConvergenceWarning

from skvi import (
    VariationalGaussianMixture,
    VariationalNormalEstimator,
)

from ._registry import ENTRIES

xps = pytest.importorskip("array_api_strict", reason="array-api-strict (test extra)")

IN_ARRAY_API_PROCESS = os.environ.get("SCIPY_ARRAY_API") == "1"

needs_scipy_array_api = pytest.mark.skipif(
    not IN_ARRAY_API_PROCESS,
    reason="runs in the SCIPY_ARRAY_API=1 process of test_array_api_suite",
)

ROOT = Path(__file__).resolve().parent.parent


def _dispatch_unavailable():
    """Why scikit-learn cannot turn array API dispatch on here, or None."""
    import scipy
    from sklearn.utils.fixes import parse_version

    if parse_version(scipy.__version__) < parse_version("1.14.0"):
        return (
            f"scikit-learn's array API dispatch needs scipy >= 1.14; "
            f"this is scipy {scipy.__version__}"
        )
    return None


if IN_ARRAY_API_PROCESS and _dispatch_unavailable():
    pytest.skip(_dispatch_unavailable(), allow_module_level=True)


@pytest.mark.skipif(IN_ARRAY_API_PROCESS, reason="this is that process")
def test_array_api_suite():
    """This module's tests, in a process with SCIPY_ARRAY_API=1, pass."""
    if _dispatch_unavailable():
        pytest.skip(_dispatch_unavailable())
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "0",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestUnraisableExceptionWarning",
            str(Path(__file__).resolve()),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    # The tests ran (not all skipped): at least the agreement tests passed.
    assert " passed" in result.stdout, result.stdout[-2000:]


# --------------------------------------------------------------------------
# The estimators and data


ESTIMATORS = {
    "normal-diag": VariationalNormalEstimator(),
    "normal-full": VariationalNormalEstimator(covariance_type="full"),
    **{
        f"mixture-{covariance_type}": VariationalGaussianMixture(
            n_components=3,
            covariance_type=covariance_type,
            max_iter=40,
            random_state=0,
        )
        for covariance_type in ("full", "tied", "diag", "spherical")
    },
    # Its K rows are gathered from the device (no host copy of X).
    "mixture-random-rows": VariationalGaussianMixture(
        n_components=3, init_params="random_from_data", max_iter=40, random_state=0
    ),
}


def _data(n_samples=400, seed=0, far=0.0):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [
            rng.normal(size=(n_samples // 2, 3)),
            [4.0, -3.0, 2.0] + 0.5 * rng.normal(size=(n_samples - n_samples // 2, 3)),
        ]
    )
    return far + X, rng.uniform(0.2, 3.0, size=n_samples)


def _host(array):
    """An array of array-api-strict (or torch) as numpy."""
    from skvi._core.namespaces import to_numpy

    return np.asarray(to_numpy(array))


def _fit(estimator, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clone(estimator).fit(X, **kwargs)


def _array_attributes(estimator):
    """The estimator's fitted ndarray attributes, public and private."""
    return {
        name: value
        for name, value in vars(estimator).items()
        if isinstance(value, np.ndarray)
    }


def _assert_close(actual, expected, name, rtol=1e-12):
    """Agreement to ``rtol`` relative to the array's scale (1 at least)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, name
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert_allclose(actual, expected, rtol=0, atol=rtol * scale, err_msg=name)


# --------------------------------------------------------------------------
# Agreement with numpy


@needs_scipy_array_api
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_fit_agrees_with_numpy(name, weighted):
    """Every fitted array on array-api-strict float64 X equals numpy's, to 1e-12."""
    X, w = _data(far=1e3 if name.startswith("normal") else 0.0)
    kwargs = {"sample_weight": w} if weighted else {}
    reference = _fit(ESTIMATORS[name], X, **kwargs)
    with config_context(array_api_dispatch=True):
        fitted = _fit(
            ESTIMATORS[name],
            xps.asarray(X),
            **({"sample_weight": xps.asarray(w)} if weighted else {}),
        )
    expected = _array_attributes(reference)
    assert expected
    assert not _array_attributes(fitted), "every array moved to X's namespace"
    for attribute, value in expected.items():
        moved = getattr(fitted, attribute)
        assert type(moved).__module__.startswith("array_api_strict"), attribute
        _assert_close(_host(moved), value, attribute)
    if isinstance(getattr(reference, "_statistics", None), dict):
        # The Normal's running statistics (host arrays, for partial_fit): the
        # mean is kept as reference + offset, whose split may differ.
        got, want = fitted._statistics, reference._statistics
        _assert_close(got["weight"], want["weight"], "_statistics weight")
        _assert_close(
            got["reference"] + got["offset"],
            want["reference"] + want["offset"],
            "_statistics reference + offset",
        )
        _assert_close(got["scatter"], want["scatter"], "_statistics scatter")
    assert fitted.n_iter_ == reference.n_iter_
    assert abs(fitted.elbo_ - reference.elbo_) <= 1e-12 * abs(reference.elbo_)


@needs_scipy_array_api
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_methods_agree_with_numpy(name):
    """predict, predict_proba, score_samples, score: X's namespace, numpy's values."""
    X, w = _data()
    X_new, _ = _data(n_samples=50, seed=1)
    reference = _fit(ESTIMATORS[name], X)
    with config_context(array_api_dispatch=True):
        fitted = _fit(ESTIMATORS[name], xps.asarray(X))
        X_xp = xps.asarray(X_new)
        for method in ("score_samples", "predict", "predict_proba"):
            if not hasattr(reference, method):
                continue
            result = getattr(fitted, method)(X_xp)
            assert type(result).__module__.startswith("array_api_strict"), method
            assert result.device == X_xp.device
            expected = getattr(reference, method)(X_new)
            if method == "predict":
                assert_array_equal(_host(result), expected)
            else:
                _assert_close(_host(result), expected, method)
        score = fitted.score(X_xp, sample_weight=xps.asarray(w[:50]))
    assert isinstance(score, float)
    assert abs(score - reference.score(X_new, sample_weight=w[:50])) <= 1e-12 * abs(
        score
    )


@needs_scipy_array_api
def test_fit_predict_and_sample_live_in_the_namespace():
    X, _ = _data()
    estimator = ESTIMATORS["mixture-full"]
    reference = _fit(estimator, X)
    with config_context(array_api_dispatch=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = clone(estimator).fit_predict(xps.asarray(X))
        fitted = _fit(estimator, xps.asarray(X))
        samples, components = fitted.sample(20)
    assert_array_equal(_host(labels), reference.fit_predict(X))
    expected_samples, expected_components = reference.sample(20)
    assert type(samples).__module__.startswith("array_api_strict")
    _assert_close(_host(samples), expected_samples, "sample")
    assert_array_equal(_host(components), expected_components)


@needs_scipy_array_api
@pytest.mark.parametrize("name", ["normal-diag", "normal-full", "mixture-diag"])
def test_partial_fit_agrees_with_numpy(name):
    """Chunks streamed on array-api-strict give numpy's fit, chunk by chunk."""
    X, w = _data()
    estimator = ESTIMATORS[name]
    if name.startswith("mixture"):
        estimator = clone(estimator).set_params(total_samples=len(X))
    reference, streamed = clone(estimator), clone(estimator)
    for rows in np.array_split(np.arange(len(X)), 4):
        reference.partial_fit(X[rows], sample_weight=w[rows])
        with config_context(array_api_dispatch=True):
            streamed.partial_fit(
                xps.asarray(X[rows]), sample_weight=xps.asarray(w[rows])
            )
        for attribute, value in _array_attributes(reference).items():
            if not attribute.startswith("_"):
                _assert_close(_host(getattr(streamed, attribute)), value, attribute)


@needs_scipy_array_api
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_float32_on_a_cpu_device_is_numpys(name):
    """On a CPU device float32 X is widened block by block: numpy's float32 fit."""
    X, _ = _data()
    X = X.astype(np.float32)
    reference = _fit(ESTIMATORS[name], X)
    with config_context(array_api_dispatch=True):
        fitted = _fit(ESTIMATORS[name], xps.asarray(X))
    for attribute, value in _array_attributes(reference).items():
        if not attribute.startswith("_"):
            _assert_close(_host(getattr(fitted, attribute)), value, attribute)


@needs_scipy_array_api
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_float32_accuracy(name, monkeypatch):
    """float32 X stays float32 on an accelerator; its fit is within 1e-4 of float64's.

    The figure docs/guide/gpu.md states: the E-step and the products run in
    float32 (the sums the fit compares accumulate in float64). array-api-strict
    stands in for a GPU here (a CPU device widens float32 to float64, as numpy).
    """
    import skvi._core.namespaces

    monkeypatch.setattr(skvi._core.namespaces, "_is_accelerator", lambda *args: True)
    X, _ = _data()
    reference = _fit(ESTIMATORS[name], X)
    with config_context(array_api_dispatch=True):
        fitted = _fit(ESTIMATORS[name], xps.asarray(X.astype(np.float32)))
        scores = fitted.score_samples(xps.asarray(X.astype(np.float32)))
    # Computed in float32, returned in float64 as on numpy.
    assert scores.dtype == xps.float64
    for attribute in ("posterior_mean_", "posterior_std_", "means_", "covariances_"):
        if hasattr(reference, attribute):
            _assert_close(
                _host(getattr(fitted, attribute)),
                getattr(reference, attribute),
                attribute,
                rtol=1e-4,
            )
    _assert_close(_host(scores), reference.score_samples(X), "scores", rtol=1e-4)


# --------------------------------------------------------------------------
# Without dispatch, or on numpy, nothing changes


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_numpy_input_unchanged_under_dispatch(name):
    """numpy X with dispatch on is the numpy path: bit-identical results."""
    if not IN_ARRAY_API_PROCESS:
        pytest.skip("dispatch needs SCIPY_ARRAY_API=1 (test_array_api_suite)")
    X, w = _data()
    reference = _fit(ESTIMATORS[name], X, sample_weight=w)
    with config_context(array_api_dispatch=True):
        fitted = _fit(ESTIMATORS[name], X, sample_weight=w)
        scores = fitted.score_samples(X)
    for attribute, value in _array_attributes(reference).items():
        assert_array_equal(getattr(fitted, attribute), value, err_msg=attribute)
    assert "_host_arrays" not in vars(fitted)
    assert_array_equal(scores, reference.score_samples(X))


def test_dispatch_off_is_the_numpy_path():
    """Without dispatch nothing of skvi._core.array_api runs: numpy results."""
    X, _ = _data()
    fitted = _fit(ESTIMATORS["mixture-full"], X)
    assert "_host_arrays" not in vars(fitted)
    assert fitted._on_host() is fitted
    assert fitted._fitted_space() is None
    assert isinstance(fitted.predict_proba(X), np.ndarray)


# --------------------------------------------------------------------------
# Errors and rollback


@needs_scipy_array_api
def test_other_namespace_than_fit_is_refused():
    X, _ = _data()
    with config_context(array_api_dispatch=True):
        fitted = _fit(ESTIMATORS["mixture-full"], xps.asarray(X))
        with pytest.raises(ValueError, match=r"predict\(\) must use the same"):
            fitted.predict(X)
        numpy_fitted = _fit(ESTIMATORS["normal-diag"], X)
        with pytest.raises(ValueError, match="same namespace"):
            numpy_fitted.score_samples(xps.asarray(X))


@needs_scipy_array_api
@pytest.mark.parametrize("name", ["normal-diag", "normal-full", "mixture-full"])
def test_nan_gets_scikit_learns_error_and_loses_nothing(name):
    X, _ = _data()
    bad = X.copy()
    bad[7, 1] = np.nan
    with config_context(array_api_dispatch=True):
        fitted = _fit(ESTIMATORS[name], xps.asarray(X))
        before = {
            key: _host(value)
            for key, value in vars(fitted).items()
            if type(value).__module__.startswith("array_api_strict")
        }
        with pytest.raises(ValueError, match="Input X contains NaN"):
            fitted.fit(xps.asarray(bad))
    for key, value in before.items():
        assert type(getattr(fitted, key)).__module__.startswith("array_api_strict")
        assert_array_equal(_host(getattr(fitted, key)), value)


@needs_scipy_array_api
def test_overflowing_float32_squares_are_summed_on_the_host():
    """float32 data whose squares overflow float32: the host's float64 path."""
    rng = np.random.default_rng(0)
    X = (1e20 * rng.normal(size=(200, 2))).astype(np.float32)
    reference = _fit(VariationalNormalEstimator(), X.astype(np.float64))
    with config_context(array_api_dispatch=True):
        fitted = _fit(VariationalNormalEstimator(), xps.asarray(X))
    _assert_close(
        _host(fitted.posterior_std_), reference.posterior_std_, "std", rtol=1e-6
    )


@needs_scipy_array_api
def test_dask_array_of_other_chunks_is_refused():
    da = pytest.importorskip("dask.array")
    X, _ = _data()
    chunks = da.from_array(X, chunks=(100, 3)).map_blocks(
        xps.asarray, meta=xps.asarray(np.empty((0, 3)))
    )
    with pytest.raises(TypeError, match="dask arrays of numpy chunks"):
        VariationalNormalEstimator().fit(chunks)


@needs_scipy_array_api
def test_pickle_keeps_the_namespace():
    X, _ = _data()
    with config_context(array_api_dispatch=True):
        fitted = _fit(ESTIMATORS["mixture-diag"], xps.asarray(X))
        loaded = pickle.loads(pickle.dumps(fitted))
        assert_array_equal(
            _host(loaded.predict(xps.asarray(X))), _host(fitted.predict(xps.asarray(X)))
        )


@needs_scipy_array_api
def test_move_estimator_to_numpy_for_the_host_methods():
    """docs/guide/gpu.md: move_estimator_to(est, numpy, "cpu") for host methods."""
    from sklearn.utils import _array_api

    move = getattr(_array_api, "move_estimator_to", None)
    if move is None:
        pytest.skip("scikit-learn < 1.9 has no move_estimator_to")
    X, _ = _data(far=1e3)
    reference = _fit(VariationalNormalEstimator(), X)
    with config_context(array_api_dispatch=True):
        fitted = _fit(VariationalNormalEstimator(), xps.asarray(X))
    moved = move(fitted, np, "cpu")
    assert isinstance(moved.posterior_mean_, np.ndarray)
    for got, expected in zip(
        moved.credible_interval(0.9), reference.credible_interval(0.9), strict=True
    ):
        _assert_close(got, expected, "credible_interval")


@needs_scipy_array_api
def test_read_only_methods_do_not_change_the_estimator():
    """predict and score read host copies: the estimator's dict is untouched."""
    X, _ = _data()
    with config_context(array_api_dispatch=True):
        fitted = _fit(ESTIMATORS["mixture-full"], xps.asarray(X))
        before = dict(vars(fitted))
        fitted.predict_proba(xps.asarray(X))
        fitted.score(xps.asarray(X))
        fitted.sample(3)
    assert vars(fitted).keys() == before.keys()
    assert all(vars(fitted)[key] is value for key, value in before.items())


# --------------------------------------------------------------------------
# scikit-learn's array API estimator checks


def _namespaces():
    from sklearn.utils._array_api import yield_namespace_device_dtype_combinations

    return list(yield_namespace_device_dtype_combinations())


def _unusable_device(namespace, device):
    """Why ``device`` of ``namespace`` cannot run here, or None.

    scikit-learn's helpers offer torch's CUDA device wherever torch was built
    with CUDA, also on a machine with no GPU driver, where the first array
    fails; such cases are skipped here, as scikit-learn's own CI has them
    only on a GPU machine.
    """
    name = getattr(namespace, "__name__", namespace)
    if name == "torch" and device in ("cuda", "mps"):
        torch = pytest.importorskip("torch")
        backend = torch.cuda if device == "cuda" else torch.backends.mps
        if not backend.is_available():
            return f"torch's {device} device is not available on this machine"
    return None


@needs_scipy_array_api
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.id)
@pytest.mark.parametrize("namespace, device, dtype", _namespaces())
def test_sklearn_array_api_input(entry, namespace, device, dtype):
    """scikit-learn's check_array_api_input, values checked in float64."""
    from sklearn.utils.estimator_checks import check_array_api_input

    from skvi._core.parameters import _array_api_helper  # noqa: F401 - helpers present

    reason = _unusable_device(namespace, device)
    if reason:
        pytest.skip(reason)
    if not entry.estimator.__sklearn_tags__().array_api_support:
        pytest.skip(f"{entry.id} declares no array API support (its tags)")
    # As in tests/test_common.py: a check the entry expects to fail, with why.
    expected_failure = entry.expected_failed_checks.get("check_array_api_input")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # The check's keywords changed across scikit-learn releases.
        keywords = {
            "array_namespace": namespace,
            "device": device,
            "device_name": device,
            "dtype_name": dtype,
            "check_sample_weight": True,
        }
        accepted = inspect.signature(check_array_api_input).parameters
        try:
            check_array_api_input(
                entry.id,
                entry.estimator,
                **{key: value for key, value in keywords.items() if key in accepted},
            )
        except Exception as exc:
            if type(exc).__name__ == "SkipTest":
                pytest.skip(str(exc))
            if expected_failure:
                pytest.xfail(f"{expected_failure} ({type(exc).__name__}: {exc})")
            raise
    assert not expected_failure, f"{entry.id} passes now: drop its expected failure"


@needs_scipy_array_api
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.id)
def test_sklearn_array_api_mixed_inputs_and_same_namespace(entry):
    """The mixed-namespace and same-namespace checks (scikit-learn >= 1.9)."""
    from sklearn.utils import estimator_checks
    from sklearn.utils._array_api import yield_mixed_namespace_input_permutations

    mixed = getattr(estimator_checks, "check_array_api_mixed_inputs", None)
    same = getattr(estimator_checks, "check_array_api_same_namespace", None)
    if mixed is None or same is None:
        pytest.skip("scikit-learn < 1.9 has no mixed or same-namespace checks")
    ran = 0
    for other, X_space, _ in yield_mixed_namespace_input_permutations():
        if _unusable_device(other.xp, other.device) or _unusable_device(
            X_space.xp, X_space.device
        ):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                mixed(entry.id, entry.estimator, X_space, other)
            ran += 1
        except Exception as exc:
            if type(exc).__name__ != "SkipTest":
                raise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        same(entry.id, entry.estimator, "array_api_strict")
    assert ran + 1 >= 1


# --------------------------------------------------------------------------
# PyTorch on the CPU, where installed


@needs_scipy_array_api
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_torch_cpu_agrees_with_numpy(name):
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed (not in the test extra: CPU-only CI)"
    )
    X, w = _data()
    reference = _fit(ESTIMATORS[name], X, sample_weight=w)
    with config_context(array_api_dispatch=True):
        fitted = _fit(
            ESTIMATORS[name], torch.asarray(X), sample_weight=torch.asarray(w)
        )
        scores = fitted.score_samples(torch.asarray(X))
    assert isinstance(scores, torch.Tensor)
    for attribute, value in _array_attributes(reference).items():
        moved = getattr(fitted, attribute)
        assert isinstance(moved, torch.Tensor), attribute
        if not attribute.startswith("_"):
            _assert_close(moved.numpy(), value, attribute)
    _assert_close(scores.numpy(), reference.score_samples(X), "scores")
