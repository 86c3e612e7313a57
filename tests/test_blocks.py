"""The row-block engine: its plan, its threads, and results independent of them."""

import ast
import re
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import skvi
from skvi import (
    VariationalGaussianMixture,
    VariationalNormalEstimator,
)
from skvi._core import component_stats, engine
from skvi._core.moments import weighted_moments_about
from skvi._core.stats import SufficientStatistics
from skvi._mixture import covariance, estep


@pytest.fixture
def threads(monkeypatch):
    """Set the engine's thread count, with no size below which it stays serial.

    Records the thread count of each pass that used several threads.
    """
    monkeypatch.setattr(engine, "MIN_PARALLEL_ELEMENTS", 0)
    started = []
    run = engine.map_tasks

    def recording(function, n_tasks, *, n_threads=None):
        if n_threads is None:
            n_threads = engine.available_threads() if n_tasks > 1 else 1
        nested = getattr(engine._in_pass, "active", False)
        if min(n_threads, n_tasks) > 1 and not nested:
            started.append(min(n_threads, n_tasks))
        return run(function, n_tasks, n_threads=n_threads)

    monkeypatch.setattr(engine, "map_tasks", recording)

    def set_threads(n_threads):
        monkeypatch.setattr(engine, "available_threads", lambda: n_threads)

    set_threads.started = started
    return set_threads


def random_responsibilities(rng, n_samples, n_components):
    resp = rng.uniform(size=(n_samples, n_components))
    return resp / resp.sum(axis=1, keepdims=True)


def fields(result):
    if isinstance(result, SufficientStatistics):
        return result.weight, result.reference, result.offset, result.scatter
    if isinstance(result, tuple):
        return [value for part in result for value in fields(part)]
    return [result]


def assert_identical(results):
    for result in results[1:]:
        for actual, expected in zip(fields(result), fields(results[0]), strict=True):
            np.testing.assert_array_equal(actual, expected)


# --------------------------------------------------------------------------
# The plan


def test_plan_sizes_blocks_by_their_width():
    rows, groups = engine.plan(10**7, 10)
    assert rows == engine.BLOCK_ELEMENTS // 10 and groups == 1
    # Wide rows: never fewer than MIN_BLOCK_ROWS rows, never more than n.
    assert engine.plan(10**7, 10**6)[0] == engine.MIN_BLOCK_ROWS
    assert engine.plan(5, 10) == (5, 1)
    assert engine.plan(100, 10, block_rows=7) == (7, 1)


def test_plan_gives_many_operations_larger_blocks():
    # A block function of many Python steps gets at least
    # ELEMENTS_PER_OPERATION values per step; one of few keeps the default.
    few = 2 * engine.BLOCK_ELEMENTS // engine.ELEMENTS_PER_OPERATION // 4
    assert engine.plan(10**7, 10, operations=few) == engine.plan(10**7, 10)
    many = 4 * engine.BLOCK_ELEMENTS // engine.ELEMENTS_PER_OPERATION
    rows, _ = engine.plan(10**7, 10, operations=many)
    assert rows == 4 * engine.BLOCK_ELEMENTS // 10
    # An explicit size still wins.
    assert engine.plan(10**7, 10, operations=many, block_elements=640)[0] == 64


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_components", [1, 8])
def test_e_step_declares_its_python_steps(covariance_type, weighted, n_components):
    # The mixture's E-step block declares its Python steps to the plan
    # (_e_step_operations): the declaration must stay true as the code
    # changes, or its blocks are mis-sized. Within a half either way: numpy's
    # own Python wrappers differ between versions (numpy 1.26 takes about a
    # third more steps than the 2.4 the declaration was counted on).
    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 3)) + 8.0 * rng.integers(0, 4, size=(600, 1))
    est = VariationalGaussianMixture(
        n_components=n_components,
        covariance_type=covariance_type,
        max_iter=5,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    params, model = est._current()
    weights = rng.uniform(0.5, 2.0, 600) if weighted else None
    terms = covariance._mahalanobis_terms(params.means - model.centre, params, model)
    steps = []

    def count(frame, event, arg):
        if event in ("call", "c_call"):
            steps.append(event)

    sys.setprofile(count)
    try:
        estep._local_step(X, weights, params, model, terms)
    finally:
        sys.setprofile(None)
    declared = estep._e_step_operations(
        n_components, covariance.COVARIANCE_TYPES[covariance_type]
    )
    assert 0.5 * declared <= len(steps) <= 1.5 * declared


def test_plan_folds_large_results_in_fixed_groups():
    # 100 blocks of 2**22-value results: 2**24 values in groups of 2**23.
    # 100 blocks of 2**22-value results fold in groups of 50: two groups'
    # results, 2**23 values, are held at once.
    rows, groups = engine.plan(100 * 64, 10**6, result_elements=2**22)
    assert (rows, groups) == (64, 50)
    assert engine.plan(100 * 64, 10**6, result_elements=10) == (64, 1)
    # A plan is a function of the shape alone.
    assert engine.plan(6400, 10**6, result_elements=2**22) == (rows, groups)


def test_map_blocks_returns_results_in_block_order(threads):
    threads(3)
    slices = engine.map_blocks(lambda rows: rows, 1000, 64)
    assert [s.start for s in slices] == list(range(0, 1000, 64))
    assert slices[-1].stop == 1000
    folded = engine.map_blocks(
        lambda rows: [rows.start],
        1000,
        64,
        merge=lambda parts: [start for part in parts for start in part],
        group_blocks=4,
    )
    # 16 blocks in 4 groups of 4, each group's results folded in order.
    assert folded == [
        list(range(g * 256, min(1000, (g + 1) * 256), 64)) for g in range(4)
    ]
    assert threads.started == [3, 3]


def test_map_tasks_reraises_the_first_failing_task(threads):
    threads(4)

    def task(index):
        if index in (5, 9):
            raise ValueError(f"task {index}")
        return index

    with pytest.raises(ValueError, match="task 5"):
        engine.map_tasks(task, 20)


def test_a_pass_inside_a_pass_runs_in_its_thread(threads):

    threads(2)

    def outer(rows):
        me = threading.get_ident()
        inner = engine.map_blocks(lambda r: threading.get_ident(), 100, 10)
        return [ident == me for ident in inner]

    assert engine.map_blocks(outer, 100, 10) == [[True] * 10] * 10


# --------------------------------------------------------------------------
# Thread policy


@pytest.mark.parametrize(
    "case",
    [
        "unit",
        "weighted",
        "far",
        "float32",
        "responsibilities-diag",
        "responsibilities-full",
    ],
)
def test_statistics_are_bit_identical_whatever_the_thread_count(case, threads):
    rng = np.random.default_rng(32)
    n_samples, block_rows = 5000, 64
    X = rng.standard_normal((n_samples, 3)) + (1e9 if case == "far" else 0.0)
    X[2000:] += 5.0
    if case == "float32":
        X = X.astype(np.float32)
    sample_weight = rng.uniform(0, 2, size=n_samples)
    resp = random_responsibilities(rng, n_samples, 3)
    calls = {
        "unit": lambda: weighted_moments_about(X, block_rows=block_rows),
        "float32": lambda: weighted_moments_about(X, block_rows=block_rows),
        "weighted": lambda: weighted_moments_about(
            X, sample_weight, block_rows=block_rows
        ),
        "far": lambda: weighted_moments_about(X, block_rows=block_rows),
        "responsibilities-diag": lambda: component_stats.sufficient_statistics(
            X, sample_weight, resp, block_rows=block_rows
        ),
        "responsibilities-full": lambda: component_stats.sufficient_statistics(
            X, sample_weight, resp, scatter="full", block_rows=block_rows
        ),
    }
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(calls[case]())
    assert threads.started and set(threads.started) == {2, 3}
    assert_identical(results)


def small_blocks(monkeypatch):
    """Blocks of 64 rows or so, so that small data make many blocks."""
    monkeypatch.setattr(engine, "BLOCK_ELEMENTS", 256)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_mixture_is_bit_identical_whatever_the_thread_count(
    covariance_type, threads, monkeypatch
):
    small_blocks(monkeypatch)
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 1.0, size=(700, 3)) for c in (0.0, 6.0)])
    weights = rng.uniform(0.5, 2.0, len(X))
    fitted = []
    for n in (1, 2, 3):
        threads(n)
        vgm = VariationalGaussianMixture(
            n_components=3,
            covariance_type=covariance_type,
            random_state=0,
            max_iter=20,
        ).fit(X, sample_weight=weights)
        fitted.append(
            (
                vgm.means_,
                vgm.covariances_,
                vgm.weights_,
                np.array(vgm.elbo_history_),
                vgm.score_samples(X),
                vgm.predict_proba(X),
                vgm.predict(X),
            )
        )
    assert set(threads.started) == {2, 3}
    assert_identical(fitted)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_normal_is_bit_identical_whatever_the_thread_count(
    covariance_type, threads, monkeypatch
):
    small_blocks(monkeypatch)
    rng = np.random.default_rng(1)
    X = 1e6 + rng.normal(size=(3000, 4))
    fitted = []
    for n in (1, 2, 3):
        threads(n)
        est = VariationalNormalEstimator(
            covariance_type=covariance_type, prior_mean=1e6
        ).fit(X)
        fitted.append((est.posterior_mean_, est.posterior_std_, est.score_samples(X)))
    assert set(threads.started) == {2, 3}
    assert_identical(fitted)


def test_threadpool_limits_caps_the_threads(threads, monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.undo()  # the real available_threads
    monkeypatch.setattr(engine, "MIN_PARALLEL_ELEMENTS", 0)
    with threadpoolctl.threadpool_limits(limits=1):
        assert engine.available_threads() == 1
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert engine.available_threads() == 1


def test_small_passes_use_no_threads(threads, monkeypatch):
    threads(4)
    monkeypatch.setattr(engine, "MIN_PARALLEL_ELEMENTS", 10_000)
    X = np.random.default_rng(34).standard_normal((2000, 4))
    weighted_moments_about(X, block_rows=64)  # 8000 values: one thread
    assert threads.started == []
    weighted_moments_about(np.vstack([X, X]), block_rows=64)
    assert threads.started == [4]


def test_concurrent_calls_leave_blas_limits_as_they_were(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from concurrent.futures import ThreadPoolExecutor

    threads(2)
    X = np.random.default_rng(35).standard_normal((5000, 3))
    expected = weighted_moments_about(X, block_rows=64)

    def blas_limits():
        return [
            info["num_threads"]
            for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas"
        ]

    before = blas_limits()
    with ThreadPoolExecutor(max_workers=4) as callers:
        results = list(
            callers.map(lambda _: weighted_moments_about(X, block_rows=64), range(16))
        )
    assert blas_limits() == before
    assert_identical([expected, *results])


# --------------------------------------------------------------------------
# One engine: no other row loop or block constant in the package


ROW_LOOP = re.compile(r"for \w+ in range\(0, [^,]+, \w*(rows|step|block)\w*\)")
BLOCK_CONSTANT = re.compile(r"^_?\w*BLOCK\w*\s*=", re.MULTILINE)


def package_modules():
    """Every module but the engine's, and the command line's CSV reader's.

    The command line reads a file in chunks of rows for ``partial_fit`` (and
    the built-in data the same way, to follow one path): input, not a pass
    over an array in memory.
    """
    root = Path(skvi.__file__).parent
    return sorted(
        p for p in root.rglob("*.py") if p.name != "engine.py" and "_cli" not in p.parts
    )


def test_every_pass_over_rows_goes_through_the_engine():
    offenders = []
    for path in package_modules():
        text = path.read_text()
        offenders += [f"{path.name}: {m.group(0)}" for m in ROW_LOOP.finditer(text)]
        offenders += [
            f"{path.name}: {m.group(0)}" for m in BLOCK_CONSTANT.finditer(text)
        ]
        # No thread pool but the engine's.
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "ThreadPoolExecutor":
                offenders.append(f"{path.name}: ThreadPoolExecutor")
    assert offenders == []


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_chunks_run_their_blocks_in_the_task_thread(threads, monkeypatch):
    # dask runs chunks in parallel: a chunk's pass starts no threads of its own.
    da = pytest.importorskip("dask.array")
    import dask

    small_blocks(monkeypatch)
    threads(3)
    X = np.random.default_rng(2).normal(size=(2000, 3))
    with dask.config.set(scheduler="synchronous"):
        fitted = VariationalNormalEstimator().fit(da.from_array(X, chunks=(700, 3)))
        VariationalGaussianMixture(n_components=2, random_state=0).fit(
            da.from_array(X, chunks=(700, 3))
        )
    assert threads.started == []
    np.testing.assert_allclose(
        fitted.posterior_mean_,
        VariationalNormalEstimator().fit(X).posterior_mean_,
        rtol=1e-12,
        atol=1e-15,
    )


def test_scratch_memory_is_per_thread_and_reused():
    """A block's temporaries: the same memory for the same name in one thread,
    other memory in another thread, a new array above the kept size."""
    first = engine.scratch("probe", (10, 3))
    again = engine.scratch("probe", (4, 2))
    assert again.shape == (4, 2) and np.shares_memory(first, again)
    assert not np.shares_memory(first, engine.scratch("other", (10, 3)))
    elsewhere = []
    thread = threading.Thread(
        target=lambda: elsewhere.append(engine.scratch("probe", (10, 3)))
    )
    thread.start()
    thread.join()
    assert not np.shares_memory(first, elsewhere[0])
    large = (engine.SCRATCH_ELEMENTS + 1,)
    assert not np.shares_memory(
        engine.scratch("big", large), engine.scratch("big", large)
    )
