"""Fitting dask arrays and DataFrames, on a real dask.distributed cluster."""

import os
import pickle
import re
import runpy
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402
import joblib  # noqa: E402
import pandas as pd  # noqa: E402
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skvi import VariationalNormalEstimator  # noqa: E402
from skvi._core.base import _weighted_mean, _weighted_sums  # noqa: E402
from tests._fitted import assert_same_fit  # noqa: E402
from tests.conftest import IMPORT_ROOTS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# The largest relative difference from numpy seen by the tests, for the record.
MEASURED = []

# The tests use conftest.py's `client` fixture, one cluster per test process;
# pytest-xdist runs them on one worker (conftest.py's DASK_TESTS).


def _assert_matches(actual, expected):
    MEASURED.append(assert_same_fit(actual, expected, rtol=1e-10))


def _data(n_samples=1_000, n_features=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    # Far from zero and on different scales, so that centring matters.
    X = rng.normal(
        [1e3, -2.0, 0.5][:n_features],
        [1.0, 10.0, 1e-3][:n_features],
        size=(n_samples, n_features),
    )
    weights = rng.uniform(0.0, 3.0, size=n_samples)
    weights[::7] = 0.0
    return X.astype(dtype), weights


CHUNKINGS = [(1_000, 3), (37, 3), (100, 1), (333, 2), (1, 3)]
WEIGHTS = [None, "numpy", "dask"]


# Every chunking with every kind of weights, and each of those with both
# dtypes (all pairs of values: 15 cases rather than the 30 of all triples).
@pytest.mark.parametrize(
    "dtype, chunks, weights",
    [
        ((np.float64, np.float32)[(i + j) % 2], chunks, weights)
        for i, chunks in enumerate(CHUNKINGS)
        for j, weights in enumerate(WEIGHTS)
    ],
)
def test_dask_array_equals_numpy_fit(client, dtype, chunks, weights):
    X, sample_weight = _data(dtype=dtype)
    if chunks == (1, 3):
        # One-row chunks: fewer rows, to keep the task count small.
        X, sample_weight = X[:60], sample_weight[:60]
    if weights is None:
        sample_weight = None
    expected = VariationalNormalEstimator().fit(X, sample_weight=sample_weight)
    if weights == "dask":
        # Chunked differently from X on purpose: it is rechunked to X's rows.
        sample_weight = da.from_array(sample_weight, chunks=250)
    actual = VariationalNormalEstimator().fit(
        da.from_array(X, chunks=chunks), sample_weight=sample_weight
    )
    _assert_matches(actual, expected)


def test_integer_and_boolean_arrays_are_cast_to_float64(client):
    X = np.arange(60).reshape(20, 3) % 7
    expected = VariationalNormalEstimator().fit(X.astype(np.float64))
    actual = VariationalNormalEstimator().fit(da.from_array(X, chunks=(6, 2)))
    _assert_matches(actual, expected)
    flags = X > 3
    _assert_matches(
        VariationalNormalEstimator().fit(da.from_array(flags, chunks=7)),
        VariationalNormalEstimator().fit(flags.astype(np.float64)),
    )


def test_chunks_with_zero_weight_or_no_rows(client):
    X, sample_weight = _data(n_samples=90)
    sample_weight[30:60] = 0.0  # the whole middle chunk
    expected = VariationalNormalEstimator().fit(X, sample_weight=sample_weight)
    weights = da.from_array(sample_weight, chunks=30)
    actual = VariationalNormalEstimator().fit(
        da.from_array(X, chunks=30), sample_weight=weights
    )
    _assert_matches(actual, expected)
    # Filtering a DataFrame can leave empty partitions.
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=3)
    kept = frame[frame["a"] > -np.inf]
    empty = frame[frame["a"] < -np.inf]
    actual = VariationalNormalEstimator().fit(dd.concat([empty, kept]))
    _assert_matches(
        actual, VariationalNormalEstimator().fit(pd.DataFrame(X, columns=list("abc")))
    )


@pytest.mark.parametrize("weights", [None, "numpy", "dask"])
def test_dask_dataframe_equals_pandas_fit(client, weights):
    X, sample_weight = _data(n_samples=500)
    frame = pd.DataFrame(X, columns=["price", "volume", "spread"])
    frame["count"] = np.arange(500) % 11  # an int64 column among float ones
    if weights is None:
        sample_weight = None
    expected = VariationalNormalEstimator().fit(frame, sample_weight=sample_weight)
    if weights == "dask":
        sample_weight = dd.from_pandas(pd.Series(sample_weight), npartitions=3)
    dask_frame = dd.from_pandas(frame, npartitions=4)
    actual = VariationalNormalEstimator().fit(dask_frame, sample_weight=sample_weight)
    np.testing.assert_array_equal(
        actual.feature_names_in_, ["price", "volume", "spread", "count"]
    )
    _assert_matches(actual, expected)


def test_nullable_columns_become_float(client):
    frame = pd.DataFrame(
        {"a": pd.array([1, 2, 4], dtype="Int64"), "b": [0.5, 1.5, 2.0]}
    )
    actual = VariationalNormalEstimator().fit(dd.from_pandas(frame, npartitions=2))
    _assert_matches(actual, VariationalNormalEstimator().fit(frame.astype(float)))
    frame.loc[1, "a"] = pd.NA
    with pytest.raises(ValueError, match="Input X contains NaN"):
        VariationalNormalEstimator().fit(dd.from_pandas(frame, npartitions=2))


# Data made on the workers: block k is a function of (seed, k) only, so the
# client can make the same numbers for the reference fit without dask.
N_BLOCKS, BLOCK_ROWS, N_FEATURES = 8, 25_000, 3


def _normal_block(block_id=None, seed=0, on_worker=False):
    if on_worker:
        # Raises ValueError anywhere but in a dask worker.
        distributed.get_worker()
    rng = np.random.default_rng([seed, block_id[0]])
    return rng.normal([5.0, -1.0, 2e4], [2.0, 0.1, 3.0], size=(BLOCK_ROWS, N_FEATURES))


def _worker_data(seed=0):
    return da.map_blocks(
        _normal_block,
        seed=seed,
        on_worker=True,
        chunks=((BLOCK_ROWS,) * N_BLOCKS, (N_FEATURES,)),
        dtype=np.float64,
    )


def _refuse_to_materialise(*args, **kwargs):
    raise AssertionError("X was materialised on the client")


def test_data_made_on_workers_are_never_gathered(client, monkeypatch):
    expected = VariationalNormalEstimator().fit(
        np.concatenate([_normal_block((k, 0)) for k in range(N_BLOCKS)])
    )
    X = _worker_data()
    # Every way a dask array becomes a numpy array on the client.
    for method in ("__array__", "compute", "persist"):
        monkeypatch.setattr(da.Array, method, _refuse_to_materialise)
    with distributed.get_task_stream(client) as tasks:
        actual = VariationalNormalEstimator().fit(X)
    _assert_matches(actual, expected)
    # The blocks were made (_normal_block checks it) and reduced by the
    # workers, one task a block: generation and reduction fuse.
    assert len(tasks.data) >= N_BLOCKS
    assert {t["worker"] for t in tasks.data} <= set(client.scheduler_info()["workers"])


def test_partial_fit_on_dask_chunks_equals_fit(client):
    expected = VariationalNormalEstimator().fit(_worker_data(seed=1))
    estimator = VariationalNormalEstimator()
    X = _worker_data(seed=1)
    for start in range(0, N_BLOCKS * BLOCK_ROWS, 3 * BLOCK_ROWS):
        estimator.partial_fit(X[start : start + 3 * BLOCK_ROWS])
    _assert_matches(estimator, expected)


def test_local_schedulers_give_the_same_fit(client):
    X, sample_weight = _data()
    expected = VariationalNormalEstimator().fit(X, sample_weight=sample_weight)
    for scheduler in ("synchronous", "threads"):
        with dask.config.set(scheduler=scheduler):
            actual = VariationalNormalEstimator().fit(
                da.from_array(X, chunks=128), sample_weight=sample_weight
            )
        _assert_matches(actual, expected)


def test_grid_search_under_the_dask_joblib_backend(client):
    X, _ = _data(n_samples=300, n_features=2)
    grid = {"prior_std": [0.1, 1.0, 100.0], "prior_rate": [0.01, 1.0]}
    expected = GridSearchCV(VariationalNormalEstimator(), grid, cv=3).fit(X)
    with joblib.parallel_backend("dask"):
        with distributed.get_task_stream(client) as tasks:
            actual = GridSearchCV(VariationalNormalEstimator(), grid, n_jobs=2, cv=3)
            actual.fit(X)
    # The candidates were fitted on the cluster...
    assert len(tasks.data) > 0
    # ...to the very same scores.
    assert actual.best_params_ == expected.best_params_
    np.testing.assert_allclose(
        actual.cv_results_["mean_test_score"],
        expected.cv_results_["mean_test_score"],
        rtol=1e-12,
    )
    _assert_matches(actual.best_estimator_, expected.best_estimator_)


X_BAD = np.arange(12.0).reshape(6, 2)


def _numpy_error(X, **fit_params):
    """The error numpy input raises: what the dask input must raise too."""
    with pytest.raises((TypeError, ValueError)) as info:
        VariationalNormalEstimator().fit(X, **fit_params)
    return info.type, str(info.value)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.ones(6), "Expected 2D array, got 1D array instead"),
        (np.ones((2, 3, 2)), "dim 3"),
        (np.ones((6, 2), dtype=complex), "Complex data not supported"),
        (np.array([["a", "b"]] * 3), "could not convert string to float"),
        (np.ones((0, 2)), r"0 sample\(s\) \(shape=\(0, 2\)\)"),
        (np.ones((6, 0)), r"0 feature\(s\) \(shape=\(6, 0\)\)"),
        (np.where(X_BAD == 7, np.nan, X_BAD), "contains NaN"),
        (np.where(X_BAD == 7, np.inf, X_BAD), "infinity"),
    ],
    ids=["1d", "3d", "complex", "strings", "no-rows", "no-features", "nan", "inf"],
)
def test_bad_dask_arrays_raise_what_numpy_raises(client, X, message):
    error, expected = _numpy_error(X)
    with pytest.raises(error, match=message) as info:
        VariationalNormalEstimator().fit(da.from_array(X, chunks=2))
    # numpy's 1-D message quotes the data, which dask does not read for it.
    assert str(info.value) == re.sub(r"\narray=\[.*?\]\.", "", expected, flags=re.S)


def test_bad_dask_dataframes_raise_what_pandas_raises(client):
    frame = pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"], "z": [1j, 2j]})
    error, expected = _numpy_error(frame)
    with pytest.raises(error, match=r"non-numeric column\(s\): 'label', 'z'") as info:
        VariationalNormalEstimator().fit(dd.from_pandas(frame, npartitions=1))
    assert str(info.value) == expected
    error, expected = _numpy_error(frame["x"])
    with pytest.raises(error, match="Expected a 2-dimensional container") as info:
        VariationalNormalEstimator().fit(dd.from_pandas(frame, npartitions=1)["x"])
    assert str(info.value) == expected
    empty = dd.from_pandas(frame[["x"]], npartitions=2)
    with pytest.raises(ValueError, match=r"0 sample\(s\) \(shape=\(0, 1\)\)"):
        VariationalNormalEstimator().fit(empty[empty["x"] > 5])


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.r_[1.0, -2.0, np.ones(4)], "sample_weight must be >= 0"),
        (
            da.from_array(np.r_[np.ones(5), -1.0], chunks=2),
            "sample_weight must be >= 0",
        ),
        (da.from_array(np.r_[1.0, np.nan, np.ones(4)], chunks=4), "contains NaN"),
        (np.zeros(6), "zero for every sample"),
        (da.zeros(6, chunks=2), "zero for every sample"),
        (np.ones(5), r"sample_weight.shape == \(5,\), expected \(6,\)"),
        (da.ones(7, chunks=3), r"sample_weight.shape == \(7,\), expected \(6,\)"),
    ],
)
def test_bad_weights_raise(client, weights, message):
    with pytest.raises(ValueError, match=message):
        VariationalNormalEstimator().fit(
            da.from_array(X_BAD, chunks=2), sample_weight=weights
        )


def test_zero_weight_rows_must_still_be_finite(client):
    X = np.where(X_BAD == 0, np.nan, X_BAD)
    with pytest.raises(ValueError, match="contains NaN"):
        VariationalNormalEstimator().fit(
            da.from_array(X, chunks=2), sample_weight=np.r_[0.0, 0.0, np.ones(4)]
        )


def test_partial_fit_checks_features_of_dask_chunks(client):
    frame = pd.DataFrame(X_BAD, columns=["a", "b"])
    estimator = VariationalNormalEstimator().partial_fit(
        dd.from_pandas(frame, npartitions=2)
    )
    np.testing.assert_array_equal(estimator.feature_names_in_, ["a", "b"])
    fitted = estimator.posterior_mean_.copy()
    with pytest.raises(ValueError, match="feature names should match"):
        estimator.partial_fit(dd.from_pandas(frame[["b", "a"]], npartitions=2))
    renamed = frame.rename(columns={"b": "c"})
    with pytest.raises(ValueError, match="feature names should match"):
        estimator.partial_fit(dd.from_pandas(renamed, npartitions=2))
    with (
        pytest.raises(ValueError, match="expecting 2 features"),
        pytest.warns(UserWarning, match="does not have valid feature names"),
    ):
        estimator.partial_fit(da.ones((4, 3)))
    # A rejected chunk leaves the fit as it was.
    np.testing.assert_array_equal(estimator.posterior_mean_, fitted)


def test_dask_is_imported_only_for_dask_input():
    code = (
        "import sys, numpy as np, pandas as pd, skvi\n"
        "skvi.VariationalNormalEstimator().fit(np.ones((3, 2)) + np.eye(3, 2))\n"
        "skvi.VariationalNormalEstimator().fit(pd.DataFrame(np.eye(3)))\n"
        "assert 'dask' not in sys.modules, [m for m in sys.modules if 'dask' in m]\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(IMPORT_ROOTS))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_cluster_example_runs(client, capsys):
    """examples/dask_cluster.py on a tiny array, against the fixture's cluster.

    In this process (its imports are this process's), through the script's
    ``main(argv)``.
    """
    script = runpy.run_path(str(ROOT / "examples" / "dask_cluster.py"))
    with np.printoptions():  # the script sets numpy's print options
        script["main"](["--rows", "200000", "--scheduler", client.scheduler.address])
    out = capsys.readouterr().out
    lines = dict(line.split(":", 1) for line in out.splitlines())
    posterior_mean = np.array(lines["posterior mean"].strip(" []").split(), float)
    # 2e5 rows pin each mean to a few standard errors (sd / sqrt(2e5)).
    np.testing.assert_allclose(posterior_mean, [5.0, -1.0, 2e4, 0.0], atol=0.03)
    assert "prior_std" in lines["best priors"]


# score and score_samples of dask input: lazy arrays and reductions, on the
# workers, by the numpy path's own row function.


@pytest.fixture
def gathered(monkeypatch):
    """The pickled size of each result the client gathers from the cluster."""
    sizes = []
    gather = distributed.Client.gather

    def measured_gather(self, *args, **kwargs):
        result = gather(self, *args, **kwargs)
        sizes.append(len(pickle.dumps(result)))
        return result

    monkeypatch.setattr(distributed.Client, "gather", measured_gather)
    return sizes


def _refuse_to_compute_on_the_client(monkeypatch):
    """Every way a dask collection becomes a numpy array or pandas frame here."""
    for method in ("__array__", "compute", "persist"):
        monkeypatch.setattr(da.Array, method, _refuse_to_materialise)
    for method in ("compute", "persist"):
        monkeypatch.setattr(dd.DataFrame, method, _refuse_to_materialise)


# Each chunking, dtype and kind of weights at least once, and every chunking
# with weights split differently from X (the fit's test crosses them all).
@pytest.mark.parametrize(
    "dtype, chunks, weights",
    [
        (np.float64, (1_000, 3), None),
        (np.float32, (1_000, 3), "dask"),
        (np.float64, (37, 3), "numpy"),
        (np.float32, (37, 3), "dask"),
        (np.float64, (333, 2), "dask"),
        (np.float32, (333, 2), None),
        (np.float64, (1, 3), "dask"),
        (np.float32, (1, 3), "numpy"),
    ],
)
def test_dask_scores_equal_numpy_scores(client, dtype, chunks, weights):
    X, sample_weight = _data(dtype=dtype)
    if chunks == (1, 3):
        X, sample_weight = X[:60], sample_weight[:60]
    if weights is None:
        sample_weight = None
    estimator = VariationalNormalEstimator().fit(X[::2])
    expected_scores = estimator.score_samples(X)
    expected = estimator.score(X, sample_weight=sample_weight)
    if weights == "dask":
        sample_weight = da.from_array(sample_weight, chunks=250)
    dask_X = da.from_array(X, chunks=chunks)
    scores = estimator.score_samples(dask_X)
    assert isinstance(scores, da.Array)
    assert scores.chunks == (dask_X.chunks[0],)
    assert scores.dtype == expected_scores.dtype
    np.testing.assert_allclose(scores.compute(), expected_scores, rtol=1e-12)
    actual = estimator.score(dask_X, sample_weight=sample_weight)
    assert isinstance(actual, float)
    assert actual == pytest.approx(expected, rel=1e-12, abs=0)
    MEASURED.append(abs(actual - expected) / abs(expected))


@pytest.mark.parametrize("weights", [None, "dask"])
def test_dask_dataframe_scores_equal_pandas_scores(client, weights):
    X, sample_weight = _data(n_samples=500)
    frame = pd.DataFrame(X, columns=["price", "volume", "spread"])
    frame["count"] = np.arange(500) % 11
    estimator = VariationalNormalEstimator().fit(frame)
    if weights is None:
        sample_weight = None
    expected = estimator.score(frame, sample_weight=sample_weight)
    dask_frame = dd.from_pandas(frame, npartitions=4)
    if weights == "dask":
        sample_weight = dd.from_pandas(pd.Series(sample_weight), npartitions=3)
    scores = estimator.score_samples(dask_frame)
    # A DataFrame's partitions are not counted: their lengths are unknown.
    assert len(scores.chunks[0]) == 4 and np.isnan(scores.chunks[0]).all()
    np.testing.assert_allclose(
        scores.compute(), estimator.score_samples(frame), rtol=1e-12
    )
    actual = estimator.score(dask_frame, sample_weight=sample_weight)
    assert actual == pytest.approx(expected, rel=1e-12, abs=0)


def test_full_covariance_scores_dask_input_on_the_workers(client):
    X = np.random.default_rng(1).multivariate_normal(
        [1e3, -2.0], [[1.0, 0.8], [0.8, 1.0]], size=600
    )
    estimator = VariationalNormalEstimator(covariance_type="full").fit(X)
    dask_X = da.from_array(X, chunks=(128, 2))
    np.testing.assert_allclose(
        estimator.score_samples(dask_X).compute(),
        estimator.score_samples(X),
        rtol=1e-12,
    )
    assert estimator.score(dask_X) == pytest.approx(estimator.score(X), rel=1e-12)


@settings(deadline=None, max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e3, 1e3),
            st.one_of(
                st.just(0.0),
                st.floats(0.0, 1e300, allow_subnormal=True),
                st.floats(0.5, 2.0),
            ),
        ),
        min_size=1,
        max_size=40,
    ).filter(lambda pairs: any(weight > 0 for _, weight in pairs)),
    st.lists(st.integers(0, 40), max_size=5),
)
@example(pairs=[(5e-324, 1.0)], cuts=[])
def test_score_merged_from_any_chunks_is_the_weighted_mean(pairs, cuts):
    """The chunks' weighted sums merge to sum w s / sum w, however X is split.

    The reference is exact rational arithmetic; the bound is relative to
    ``sum w |s| / sum w``, the scale of the terms that may cancel, plus two
    units of float64's last place at zero (2**-1074 each): a subnormal score
    loses its last bit to the exact power-of-two scaling of the weights.
    """
    scores = np.array([score for score, _ in pairs])
    weights = np.array([weight for _, weight in pairs])
    edges = sorted({0, len(pairs), *(min(cut, len(pairs)) for cut in cuts)})
    parts = [
        _weighted_sums(scores[start:stop], weights[start:stop])
        for start, stop in zip(edges[:-1], edges[1:], strict=True)
        if stop > start
    ]
    exact_weight = sum(Fraction(weight) for weight in weights)
    exact = (
        sum(Fraction(weight) * Fraction(score) for score, weight in pairs)
        / exact_weight
    )
    scale = sum(Fraction(weight) * abs(Fraction(score)) for score, weight in pairs)
    merged = _weighted_mean(parts)
    bound = Fraction(1e-12) * scale / exact_weight + Fraction(2) ** -1073
    assert abs(Fraction(merged) - exact) <= bound
    # One part is numpy's own weighted mean, unchanged.
    single = _weighted_mean([_weighted_sums(scores, weights)])
    scaled = np.ldexp(weights, -np.frexp(weights.max())[1])
    assert single == np.dot(scaled, scores) / scaled.sum()


def test_scores_of_data_made_on_workers_are_never_gathered(
    client, monkeypatch, gathered
):
    numpy_X = np.concatenate([_normal_block((k, 0)) for k in range(N_BLOCKS)])
    weights = np.random.default_rng(3).uniform(0.0, 2.0, len(numpy_X))
    estimator = VariationalNormalEstimator().fit(numpy_X[::3])
    expected_scores = estimator.score_samples(numpy_X)
    expected = estimator.score(numpy_X)
    expected_weighted = estimator.score(numpy_X, sample_weight=weights)
    X = _worker_data()
    dask_weights = da.from_array(weights, chunks=BLOCK_ROWS)
    _refuse_to_compute_on_the_client(monkeypatch)
    with distributed.get_task_stream(client) as tasks:
        scores = estimator.score_samples(X)
        assert isinstance(scores, da.Array)
        assert scores.chunks == ((BLOCK_ROWS,) * N_BLOCKS,)
        actual = estimator.score(X)
        weighted = estimator.score(X, sample_weight=dask_weights)
        # The scores are compared on the workers, too: one number comes back.
        (largest,) = dask.compute(
            abs(scores - da.from_array(expected_scores, chunks=BLOCK_ROWS)).max()
        )
    assert actual == pytest.approx(expected, rel=1e-12, abs=0)
    assert weighted == pytest.approx(expected_weighted, rel=1e-12, abs=0)
    assert largest <= 1e-12 * np.abs(expected_scores).max()
    # The blocks were made (_normal_block checks it) and scored by the workers;
    # what came back is a few numbers per chunk, not X (4.8 MB) nor its scores.
    assert {t["worker"] for t in tasks.data} <= set(client.scheduler_info()["workers"])
    assert len(tasks.data) >= 3 * N_BLOCKS
    assert gathered and max(gathered) < 2_000, gathered
    MEASURED.extend(
        [abs(actual - expected) / abs(expected), largest / np.abs(expected).max()]
    )


def test_dask_scores_check_features_at_the_call(client, monkeypatch):
    frame = pd.DataFrame(X_BAD, columns=["a", "b"])
    estimator = VariationalNormalEstimator().fit(frame)
    _refuse_to_compute_on_the_client(monkeypatch)
    for method in ("score_samples", "score"):
        score = getattr(estimator, method)
        with pytest.raises(ValueError, match="expecting 2 features"):
            with pytest.warns(UserWarning, match="does not have valid feature names"):
                score(da.ones((4, 3), chunks=2))
        with pytest.raises(ValueError, match="feature names should match"):
            score(dd.from_pandas(frame[["b", "a"]], npartitions=2))


def test_dask_scores_check_each_chunk(client):
    estimator = VariationalNormalEstimator().fit(X_BAD)
    X = np.where(X_BAD == 7, np.nan, X_BAD)
    with pytest.raises(ValueError) as numpy_error:
        estimator.score_samples(X)
    # Lazy: the chunk with the NaN raises when the scores are computed.
    scores = estimator.score_samples(da.from_array(X, chunks=2))
    with pytest.raises(ValueError) as dask_error:
        scores.compute()
    assert str(dask_error.value) == str(numpy_error.value)
    assert "Input X contains NaN" in str(dask_error.value)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        estimator.score(da.from_array(X, chunks=2))
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        estimator.score(
            da.from_array(X_BAD, chunks=2),
            sample_weight=da.from_array(np.r_[np.ones(5), -1.0], chunks=2),
        )


def test_report_agreement(client):
    """Print the largest relative difference from numpy (run with -s to see it).

    It makes one weighted, unevenly chunked comparison of its own first, so
    that it measures and asserts something when run alone (``-k``, a single
    node id, a random order) as well as after the comparisons above.
    """
    X, sample_weight = _data()
    _assert_matches(
        VariationalNormalEstimator().fit(
            da.from_array(X, chunks=(37, 3)), sample_weight=sample_weight
        ),
        VariationalNormalEstimator().fit(X, sample_weight=sample_weight),
    )
    print(f"\nmax relative difference dask vs numpy: {max(MEASURED):.3e}")
    assert max(MEASURED) <= 1e-10
