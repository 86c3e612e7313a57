"""Time and memory of VariationalNormalEstimator.fit against a one-pass numpy floor.

Run by hand, e.g.::

    python benchmarks/bench_normal.py                      # the full table
    python benchmarks/bench_normal.py --rows 1e5 1e6 --repeats 3   # a quick look
    python benchmarks/bench_normal.py --array-api torch --device cuda   # on a GPU

``--array-api torch|cupy`` (``--device cuda`` or ``cpu``) times the fit at
1e8 x 10 float32 on the device against ``X.sum(0) + (X * X).sum(0)`` there
(benchmarks/_array_api.py).

Every figure comes from this one run. Each repeat times the floor and then one
case right after it, so that a ratio compares two timings taken under the same
load; the table shows the median time of each case and the median of its
ratios to the floor. Inputs that take less than ~50 ms are timed over several
calls per repeat. The floor is one numpy pass computing per-feature sums and
sums of squares, ``X.sum(0)`` and ``np.einsum("ij,ij->j", X, X)``: the least
work any Normal fit must do, written the obvious way, on one core.

skvi's cases run twice: on one thread (under
``threadpoolctl.threadpool_limits(1)``, as joblib's workers run) and on all the
cores skvi's statistics may use (the "threads" column; see the module
docstring of ``skvi/_core/engine.py``). The floor and the peer run as they are.

Peak memory is measured with :mod:`tracemalloc` (numpy reports its allocations
to it) in a separate, untimed call, so tracing does not slow the timings. X is
allocated before tracing starts, so the figure is the memory *beyond* X.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import sys

# A device run (--array-api torch|cupy, benchmarks/_array_api.py) needs
# scikit-learn's array API dispatch, which needs SCIPY_ARRAY_API=1 before
# scipy is first imported.
if any(argument.startswith("--array-api") for argument in sys.argv[1:]):
    os.environ.setdefault("SCIPY_ARRAY_API", "1")

import argparse
import contextlib
import platform
import statistics
import time
import tracemalloc
import warnings
from functools import partial

import numpy as np
import sklearn
from sklearn.mixture import BayesianGaussianMixture
from sklearn.utils.validation import validate_data
from threadpoolctl import ThreadpoolController, threadpool_info, threadpool_limits

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from _threads import plain_split  # noqa: E402

from skvi import VariationalNormalEstimator  # noqa: E402
from skvi._core import engine, moments  # noqa: E402

# An offset that makes raw sums of squares of Normal(0, 1) data cancel more
# digits than skvi accepts, so that every block takes the stable path; float32
# keeps only ~7 digits, so its offset is smaller.
OFFSETS = {"float64": 1e9, "float32": 1e4}
N_CHUNKS = 10
MIN_TIMING = 0.05  # seconds


def floor(X):
    """One numpy pass: per-feature sum and sum of squares."""
    return X.sum(axis=0), np.einsum("ij,ij->j", X, X)


def fit(X, sample_weight=None):
    if sample_weight is not None:
        sample_weight = sample_weight[: len(X)]  # the warm-up call has fewer rows
    return VariationalNormalEstimator().fit(X, sample_weight=sample_weight)


def fit_validation(X):
    """What fit's validation of X costs (it must not copy X)."""
    return validate_data(
        VariationalNormalEstimator(),
        X,
        reset=True,
        dtype=[np.float64, np.float32],
        ensure_all_finite=False,
    )


def fit_statistics(X):
    """What fit's pass over X costs: the sufficient statistics alone."""
    return moments.weighted_moments_about(X)


def partial_fit(X):
    estimator = VariationalNormalEstimator()
    for chunk in np.array_split(X, N_CHUNKS):
        estimator.partial_fit(chunk)
    return estimator


def sklearn_peer(X):
    with warnings.catch_warnings():
        # A single component converges at once or warns; timing is the point.
        warnings.simplefilter("ignore")
        return BayesianGaussianMixture(
            n_components=1, covariance_type="diag", random_state=0
        ).fit(X)


def elapsed(function, X, number=1):
    """Mean seconds per call over ``number`` calls."""
    start = time.perf_counter()
    for _ in range(number):
        function(X)
    return (time.perf_counter() - start) / number


def peak_memory(function, X):
    """Peak bytes allocated while ``function(X)`` runs, beyond what existed."""
    tracemalloc.start()
    try:
        function(X)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def load_average():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def thread_limit(controller, threads):
    """A context capping native thread pools to ``threads`` (None: no cap)."""
    if threads is None:
        return contextlib.nullcontext()
    return controller.limit(limits=threads)


def describe_machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = [
        f"{info.get('internal_api')} {info.get('version')} "
        f"({info.get('architecture')}, {info.get('num_threads')} threads)"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}; "
        f"BLAS: {', '.join(blas) or 'unknown'}; OPENBLAS_CORETYPE={coretype}"
    )


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows", nargs="+", type=float, default=[1e5, 1e6, 1e7], help="n_samples"
    )
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument(
        "--dtypes", nargs="+", default=["float64", "float32"], choices=list(OFFSETS)
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--peer-max-rows",
        type=float,
        default=1e6,
        help="run scikit-learn's BayesianGaussianMixture only up to this many rows",
    )
    parser.add_argument(
        "--peer-repeats", type=int, default=3, help="repeats of the (slow) peer"
    )
    parser.add_argument(
        "--block-elements",
        type=int,
        default=None,
        help="override skvi's elements per row block (for tuning)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the tracemalloc calls"
    )
    parser.add_argument(
        "--threads",
        nargs="+",
        default=None,
        help="a thread sweep instead of the table, e.g. --threads 1 2 4 8 all: "
        "fit against a plain thread split of the same sums, and the serial share",
    )
    return parser.parse_args()


SPLIT_ROWS = 32_768


def thread_sweep(args):
    """``fit`` at each thread count against a plain split, with its serial share.

    The plain split: a ThreadPoolExecutor over 32,768-row blocks, each
    ``b.sum(0)`` and ``np.einsum("ij,ij->j", b, b)``, the floor's own pass cut
    into blocks (issue #12).
    """
    from _threads import report_share, sweep, thread_counts

    counts = thread_counts(args.threads)
    rng = np.random.default_rng(0)
    for n_rows in map(int, args.rows):
        for dtype in args.dtypes:
            X = rng.standard_normal((n_rows, args.features)).astype(dtype)
            with threadpool_limits(1):
                unit = statistics.median(elapsed(floor, X) for _ in range(args.repeats))

            def split(n_threads, X=X):
                def block(start, stop):
                    b = X[start:stop]
                    return b.sum(axis=0), np.einsum("ij,ij->j", b, b)

                return plain_split(block, len(X), SPLIT_ROWS, n_threads)

            print(
                f"\n{n_rows:.0e} x {args.features} {dtype}: floor (one thread) "
                f"{1e3 * unit:.1f} ms; load average {load_average()}"
            )
            sweep(
                f"fit {n_rows:.0e}",
                lambda X=X: fit(X),
                split,
                counts,
                args.repeats,
                unit=unit,
            )
            report_share(
                f"fit {n_rows:.0e} {dtype}",
                lambda X=X: fit(X),
                counts,
                timer=lambda data: elapsed(fit, data),
                X=X,
                width=args.features,
            )
            del X


def main():
    from _array_api import normal_main, wants_array_api

    if wants_array_api():
        return normal_main()
    args = parse_args()
    if args.block_elements:
        engine.BLOCK_ELEMENTS = args.block_elements
    print(describe_machine())
    print(
        f"block: {engine.BLOCK_ELEMENTS} float64 values of temporaries; threads "
        f"available to skvi: {engine.available_threads()}; "
        f"load average {load_average()}"
    )
    if args.threads:
        thread_sweep(args)
        return
    print(
        f"time: median of {args.repeats} repeats ({args.peer_repeats} for the peer); "
        "ratio: median of per-repeat ratios to the floor timed just before; "
        "memory: tracemalloc peak beyond X"
    )
    print(
        f"| {'rows':>5} | {'dtype':7} | {'case':31} | {'threads':>7} | {'time':>12} "
        f"| {'× floor':>7} | {'peak memory beyond X':>24} |"
    )
    print(f"|{'-' * 7}|{'-' * 9}|{'-' * 33}|{'-' * 9}|{'-' * 14}|{'-' * 9}|{'-' * 26}|")
    controller = ThreadpoolController()
    all_cores = engine.available_threads()
    rng = np.random.default_rng(0)
    for n_rows in map(int, args.rows):
        for dtype in args.dtypes:
            X = rng.standard_normal((n_rows, args.features)).astype(dtype)
            X_offset = X + np.asarray(OFFSETS[dtype], dtype=dtype)
            weights = rng.uniform(0.0, 2.0, size=n_rows)
            skvi_cases = [
                ("fit", fit, X),
                ("  of which validate_data", fit_validation, X),
                ("  of which weighted_moments", fit_statistics, X),
                (f"fit, X + {OFFSETS[dtype]:.0e}", fit, X_offset),
                ("fit, sample_weight", partial(fit, sample_weight=weights), X),
                (f"partial_fit, {N_CHUNKS} chunks", partial_fit, X),
            ]
            # (name, function, data, thread cap or None, threads shown)
            cases = [("floor (sum + einsum)", floor, X, None, "1")]
            for threads in (1, None) if all_cores > 1 else (None,):
                shown = str(threads or all_cores)
                cases += [case + (threads, shown) for case in skvi_cases]
            if n_rows <= args.peer_max_rows:
                cases.append(
                    ("sklearn BayesianGaussianMixture", sklearn_peer, X, None, "all")
                )
            for _, function, data, _, _ in cases:
                function(data[:1000])  # warm up imports and caches
            # Small inputs are timed over several calls, so that one timing
            # lasts long enough (~50 ms) not to be a scheduler's time slice.
            number = max(1, round(MIN_TIMING / elapsed(floor, X)))
            keys = [(name, shown) for name, _, _, _, shown in cases]
            times = {key: [] for key in keys}
            ratios = {key: [] for key in keys}
            for repeat in range(args.repeats):
                for key, (_, function, data, threads, _) in zip(
                    keys, cases, strict=True
                ):
                    if function is sklearn_peer and repeat >= args.peer_repeats:
                        continue
                    calls = 1 if function is sklearn_peer else number
                    # The cap is set outside the timed calls (it costs ~ms).
                    with thread_limit(controller, threads):
                        floor_time = elapsed(floor, data, calls)
                        case_time = elapsed(function, data, calls)
                    times[key].append(case_time)
                    ratios[key].append(case_time / floor_time)
            for key, (name, function, data, threads, shown) in zip(
                keys, cases, strict=True
            ):
                memory = "-"
                if not args.no_memory:
                    with thread_limit(controller, threads):
                        peak = peak_memory(function, data)
                    memory = (
                        f"{peak / 2**20:.1f} MiB ({100 * peak / X.nbytes:.1f}% of X)"
                    )
                print(
                    f"| {n_rows:>5.0e} | {dtype:7} | {name:31} | {shown:>7} "
                    f"| {1e3 * statistics.median(times[key]):>9.1f} ms "
                    f"| {statistics.median(ratios[key]):>6.2f}x "
                    f"| {memory:>24} |",
                    flush=True,
                )
            if n_rows <= args.peer_max_rows:
                speedup = statistics.median(
                    times[("sklearn BayesianGaussianMixture", "all")]
                )
                speedup /= statistics.median(times[("fit", str(all_cores))])
                print(
                    f"| {n_rows:>5.0e} | {dtype:7} | {'fit speed-up over the peer':31} "
                    f"| {'all':>7} | {speedup:>10.0f} x | {'':>7} | {'':>24} |"
                )
            else:
                not_run = "sklearn peer: not run (slow)"
                print(
                    f"| {n_rows:>5.0e} | {dtype:7} | {not_run:31} | {'-':>7} "
                    f"| {'-':>12} | {'-':>7} | {'-':>24} |"
                )
            del X, X_offset, weights
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
