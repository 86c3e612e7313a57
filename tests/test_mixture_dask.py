"""VariationalGaussianMixture on dask arrays, on a 2-worker LocalCluster."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from skvi import VariationalGaussianMixture  # noqa: E402

N_BLOCKS, BLOCK_ROWS, N_FEATURES = 6, 700, 3

# The tests use conftest.py's `client` fixture, one cluster per test process;
# pytest-xdist runs them on one worker (conftest.py's DASK_TESTS).


def _block(block_id=None, on_worker=False):
    if on_worker:
        # Raises ValueError anywhere but in a dask worker.
        distributed.get_worker()
    rng = np.random.default_rng([7, block_id[0]])
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 6.0, 40.0]])
    labels = rng.integers(0, 3, BLOCK_ROWS)
    return centres[labels] + rng.normal(size=(BLOCK_ROWS, N_FEATURES))


def _worker_data():
    return da.map_blocks(
        _block,
        on_worker=True,
        chunks=((BLOCK_ROWS,) * N_BLOCKS, (N_FEATURES,)),
        dtype=np.float64,
    )


def _refuse_to_materialise(*args, **kwargs):
    raise AssertionError("X was materialised on the client")


def _assert_same_fit(actual, expected, rtol=1e-6):
    for name in ["weights_", "means_", "covariances_", "degrees_of_freedom_"]:
        assert_allclose(getattr(actual, name), getattr(expected, name), rtol=rtol)
    assert_allclose(actual.elbo_history_, expected.elbo_history_, rtol=1e-9)
    assert_allclose(actual.lower_bounds_, expected.lower_bounds_, rtol=1e-9)
    assert actual.n_iter_ == expected.n_iter_


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("weighted", [False, True])
def test_dask_fit_equals_numpy_fit(client, monkeypatch, covariance_type, weighted):
    X = np.concatenate([_block((k, 0)) for k in range(N_BLOCKS)])
    weights = np.random.default_rng(0).uniform(0.0, 3.0, len(X)) if weighted else None
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        init_params="random_from_data",
        # Four starting rows for three clusters put two in one cluster. How
        # long CAVI takes to empty one of the two depends on the rows drawn,
        # and every iteration is a round trip to the workers: with tied
        # covariances, 295 iterations from random_state=0, 23 (41 weighted)
        # from 1; at most 24 for the other covariance types.
        random_state=1,
        tol=1e-4,
        max_iter=1000,
    )
    expected = VariationalGaussianMixture(**params).fit(X, sample_weight=weights)
    dask_X = _worker_data()
    # Every way a dask array becomes a numpy array on the client: the fit
    # gathers only the K initial rows (dask.compute on X[rows]) and the
    # per-chunk statistics.
    for method in ("__array__", "compute", "persist"):
        monkeypatch.setattr(da.Array, method, _refuse_to_materialise)
    with distributed.get_task_stream(client) as tasks:
        actual = VariationalGaussianMixture(**params).fit(dask_X, sample_weight=weights)
    _assert_same_fit(actual, expected)
    assert {t["worker"] for t in tasks.data} <= set(client.scheduler_info()["workers"])
    assert_allclose(actual.predict_proba(X), expected.predict_proba(X), atol=1e-8)


def test_dask_fit_with_kmeans_start_finds_the_segments(client):
    X = _worker_data()
    est = VariationalGaussianMixture(n_components=3, random_state=0).fit(X)
    numpy_X = np.concatenate([_block((k, 0)) for k in range(N_BLOCKS)])
    assert_allclose(est.score(numpy_X) * len(numpy_X), est.elbo_, rtol=1e-9)
    assert np.sort(est.weights_).min() > 0.25


def test_dask_random_init_is_refused_with_advice(client):
    with pytest.raises(ValueError, match="random_from_data"):
        VariationalGaussianMixture(n_components=2, init_params="random").fit(
            _worker_data()
        )


# predict, predict_proba, score_samples and score on dask input: lazy arrays
# and reductions on the workers, by the numpy path's own functions.

from tests.test_dask import (  # noqa: E402
    _refuse_to_compute_on_the_client,
    gathered,  # noqa: F401  (what the client gathers, measured)
)

dd = pytest.importorskip("dask.dataframe")

import dask  # noqa: E402
import pandas as pd  # noqa: E402


def _numpy_data():
    return np.concatenate([_block((k, 0)) for k in range(N_BLOCKS)])


def _fitted(covariance_type="full", X=None):
    return VariationalGaussianMixture(
        n_components=4,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=0,
        max_iter=1000,
    ).fit(_numpy_data()[::5] if X is None else X)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_dask_predictions_equal_numpy_predictions(client, covariance_type):  # noqa: F811
    X = _numpy_data()
    weights = np.random.default_rng(1).uniform(0.0, 3.0, len(X))
    estimator = _fitted(covariance_type)
    # Uneven row chunks, and the columns split: rechunked to whole rows.
    dask_X = da.from_array(X, chunks=(1_000, 2))
    row_chunks = (1_000,) * 4 + (200,)

    labels = estimator.predict(dask_X)
    assert isinstance(labels, da.Array) and labels.chunks == (row_chunks,)
    expected_labels = estimator.predict(X)
    assert labels.dtype == expected_labels.dtype
    np.testing.assert_array_equal(labels.compute(), expected_labels)

    resp = estimator.predict_proba(dask_X)
    assert isinstance(resp, da.Array) and resp.chunks == (row_chunks, (4,))
    expected_resp = estimator.predict_proba(X)
    assert_allclose(resp.compute(), expected_resp, rtol=1e-12, atol=1e-15)

    scores = estimator.score_samples(dask_X)
    assert isinstance(scores, da.Array) and scores.chunks == (row_chunks,)
    expected_scores = estimator.score_samples(X)
    assert_allclose(scores.compute(), expected_scores, rtol=1e-12)

    for sample_weight, dask_weight in [
        (None, None),
        (weights, weights),
        (weights, da.from_array(weights, chunks=777)),
    ]:
        expected = estimator.score(X, sample_weight=sample_weight)
        actual = estimator.score(dask_X, sample_weight=dask_weight)
        assert isinstance(actual, float)
        assert actual == pytest.approx(expected, rel=1e-12, abs=0)


def test_dask_dataframe_predictions_equal_pandas_predictions(client):  # noqa: F811
    frame = pd.DataFrame(_numpy_data(), columns=["recency", "frequency", "value"])
    estimator = _fitted(X=frame.iloc[::5])
    dask_frame = dd.from_pandas(frame, npartitions=3)
    resp = estimator.predict_proba(dask_frame)
    # A DataFrame's partitions are not counted: their lengths are unknown.
    assert np.isnan(resp.chunks[0]).all() and resp.chunks[1] == (4,)
    assert_allclose(resp.compute(), estimator.predict_proba(frame), rtol=1e-12)
    np.testing.assert_array_equal(
        estimator.predict(dask_frame).compute(), estimator.predict(frame)
    )
    weights = dd.from_pandas(pd.Series(np.arange(len(frame)) % 3.0), npartitions=2)
    assert estimator.score(dask_frame, sample_weight=weights) == pytest.approx(
        estimator.score(frame, sample_weight=np.arange(len(frame)) % 3.0),
        rel=1e-12,
    )


def test_predictions_of_data_made_on_workers_never_gather_X(
    client,  # noqa: F811
    monkeypatch,
    gathered,  # noqa: F811
):
    numpy_X = _numpy_data()
    weights = np.random.default_rng(2).uniform(0.0, 3.0, len(numpy_X))
    estimator = _fitted()
    expected = {
        "labels": estimator.predict(numpy_X),
        "resp": estimator.predict_proba(numpy_X),
        "scores": estimator.score_samples(numpy_X),
    }
    expected_score = estimator.score(numpy_X, sample_weight=weights)
    X = _worker_data()
    _refuse_to_compute_on_the_client(monkeypatch)
    with distributed.get_task_stream(client) as tasks:
        actual = {
            "labels": estimator.predict(X),
            "resp": estimator.predict_proba(X),
            "scores": estimator.score_samples(X),
        }
        for values in actual.values():
            assert isinstance(values, da.Array)
            assert values.chunks[0] == (BLOCK_ROWS,) * N_BLOCKS
        score = estimator.score(X, sample_weight=da.from_array(weights, chunks=500))
        # Compared with numpy's on the workers: a few numbers come back.
        mismatches, resp_error, score_error = dask.compute(
            (actual["labels"] != da.from_array(expected["labels"], BLOCK_ROWS)).sum(),
            abs(actual["resp"] - da.from_array(expected["resp"], BLOCK_ROWS)).max(),
            abs(actual["scores"] - da.from_array(expected["scores"], BLOCK_ROWS)).max(),
        )
    assert mismatches == 0
    assert resp_error <= 1e-12
    assert score_error <= 1e-12 * np.abs(expected["scores"]).max()
    assert score == pytest.approx(expected_score, rel=1e-12, abs=0)
    # The blocks were made (_block checks it) and read by the workers; what
    # came back is a few numbers per chunk, not X (100 kB) nor its labels.
    assert {t["worker"] for t in tasks.data} <= set(client.scheduler_info()["workers"])
    assert gathered and max(gathered) < 1_000, gathered


def test_dask_fit_predict_returns_lazy_labels(client, monkeypatch):  # noqa: F811
    estimator = VariationalGaussianMixture(
        n_components=3, init_params="random_from_data", random_state=0
    )
    _refuse_to_compute_on_the_client(monkeypatch)
    labels = estimator.fit_predict(_worker_data())
    assert isinstance(labels, da.Array)
    assert labels.chunks == ((BLOCK_ROWS,) * N_BLOCKS,)
    (labels,) = dask.compute(labels)
    np.testing.assert_array_equal(labels, estimator.predict(_numpy_data()))
    # The three true segments, found.
    assert len(np.unique(labels)) == 3


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score"]
)
def test_dask_predictions_check_features_at_the_call(client, monkeypatch, method):  # noqa: F811
    frame = pd.DataFrame(_numpy_data()[::10], columns=["a", "b", "c"])
    estimator = _fitted(X=frame)
    _refuse_to_compute_on_the_client(monkeypatch)
    call = getattr(estimator, method)
    with (
        pytest.raises(ValueError, match="expecting 3 features") as dask_error,
        pytest.warns(UserWarning, match="does not have valid feature names"),
    ):
        call(da.ones((10, 4), chunks=5))
    with (
        pytest.raises(ValueError) as numpy_error,
        pytest.warns(UserWarning, match="does not have valid feature names"),
    ):
        call(np.ones((10, 4)))
    assert str(dask_error.value) == str(numpy_error.value)
    with pytest.raises(ValueError, match="feature names should match"):
        call(dd.from_pandas(frame[["c", "a", "b"]], npartitions=2))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples"])
def test_dask_predictions_check_each_chunk(client, method):  # noqa: F811
    estimator = _fitted()
    X = _numpy_data()[:100].copy()
    X[57, 1] = np.nan
    with pytest.raises(ValueError) as numpy_error:
        getattr(estimator, method)(X)
    # Lazy: the chunk with the NaN raises when the result is computed.
    values = getattr(estimator, method)(da.from_array(X, chunks=20))
    with pytest.raises(ValueError) as dask_error:
        values.compute()
    assert str(dask_error.value) == str(numpy_error.value)
    assert "Input X contains NaN" in str(dask_error.value)


def test_dask_score_checks_each_chunk_at_the_call(client):  # noqa: F811
    estimator = _fitted()
    X = _numpy_data()[:100].copy()
    X[57, 1] = np.inf
    with pytest.raises(ValueError) as numpy_error:
        estimator.score(X)
    with pytest.raises(ValueError) as dask_error:
        estimator.score(da.from_array(X, chunks=20))
    assert str(dask_error.value) == str(numpy_error.value)
    with pytest.raises(ValueError, match="zero for every sample"):
        estimator.score(
            da.from_array(_numpy_data()[:100], chunks=20),
            sample_weight=da.zeros(100, chunks=30),
        )
