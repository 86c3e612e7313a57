"""Time per iteration and peak memory: VariationalGaussianMixture against scikit-learn.

Run by hand, e.g.::

    python benchmarks/bench_mixture.py                          # the README table
    python benchmarks/bench_mixture.py --rows 1e4 1e5 --features 2 10   # quick
    python benchmarks/bench_mixture.py --wide                   # wide data only
    python benchmarks/bench_mixture.py --wide --threads 1 --types full tied
    python benchmarks/bench_mixture.py --array-api torch --device cuda  # on a GPU
    python benchmarks/bench_mixture.py --threads 1 2 all --rows 1e6 --features 10

``--array-api torch|cupy`` (with ``--device cuda`` or ``cpu``) times skvi
against scikit-learn's GaussianMixture on the same device, at 2e6 x 10,
K = 8, full and diag, float64 and float32 (benchmarks/_array_api.py).
``--threads`` with several counts sweeps them (benchmarks/_threads.py).

After the main table it runs wide data: ``--wide-rows`` rows (2000) of
``--wide-features`` features (200 and 1000; none with an empty list), in a
table of its own: milliseconds per iteration and skvi's time over
scikit-learn's (the target of issue 17 is a ratio of at most 1). ``--wide``
runs only that table.

Both estimators get the same data (a mixture of 8 Gaussians), the same
initialisation (``init_params="random"`` with the same ``random_state``
draws the same responsibilities in both; scikit-learn's 'tied' start from
the one-hot 'random_from_data' or 'k-means++' responsibilities counts every
row in its second moment, rows of zero responsibility included, so it would
not start where skvi does) and the same number of
iterations (``tol=0``). An iteration is what each fit loop repeats:
scikit-learn's ``_e_step`` + ``_m_step`` + ``_compute_lower_bound``, skvi's
``_sweep`` (M-step then E-step) + ``_elbo``; each is timed by wrapping those
methods, and the table shows the fastest iteration (the least disturbed by
other load on the machine; the
initialisation and scikit-learn's final E-step are not counted).

Both run on the threads they use by default (``--threads 1`` runs both under
``threadpoolctl.threadpool_limits(1)``). Peak memory is :mod:`tracemalloc`'s
peak during a separate, untimed one-iteration fit (numpy reports its
allocations to it); X is allocated before tracing starts, so the figure is
the memory beyond X.
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
import time
import tracemalloc
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from _threads import (  # noqa: E402
    median_time,
    plain_split,
    report_share,
    thread_counts,
)

from skvi import VariationalGaussianMixture  # noqa: E402

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


class _TimedSklearn(BayesianGaussianMixture):
    """scikit-learn's estimator with its iteration's three steps timed."""

    def _timed(self, name, method, *args, **kwargs):
        start = time.perf_counter()
        result = method(*args, **kwargs)
        self._times.setdefault(name, []).append(time.perf_counter() - start)
        return result

    def _e_step(self, X, xp=None):
        return self._timed("e", super()._e_step, X, xp=xp)

    def _m_step(self, X, log_resp, xp=None):
        return self._timed("m", super()._m_step, X, log_resp, xp=xp)

    def _compute_lower_bound(self, log_resp, log_prob_norm):
        return self._timed("b", super()._compute_lower_bound, log_resp, log_prob_norm)

    def iteration_times(self):
        n = len(self._times["m"])
        # The (n+1)-th E-step is the final one after the loop.
        return [
            self._times["e"][i] + self._times["m"][i] + self._times["b"][i]
            for i in range(n)
        ]


class _TimedSkvi(VariationalGaussianMixture):
    """skvi's estimator with its iteration (sweep + ELBO) timed."""

    def _sweep(self, data, state):
        start = time.perf_counter()
        state = super()._sweep(data, state)
        self._times.setdefault("sweep", []).append(time.perf_counter() - start)
        return state

    def _elbo(self, data, state):
        start = time.perf_counter()
        elbo = super()._elbo(data, state)
        self._times.setdefault("elbo", []).append(time.perf_counter() - start)
        return elbo

    def iteration_times(self):
        # The base computes no ELBO before the first sweep when max_iter > 0.
        return [
            s + e
            for s, e in zip(self._times["sweep"], self._times["elbo"], strict=True)
        ]


def _data(n_samples, n_features, n_components, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, size=(n_components, n_features))
    labels = rng.integers(0, n_components, n_samples)
    X = centres[labels]
    X += rng.normal(size=(n_samples, n_features))
    return X


def _params(covariance_type, n_components, iterations):
    return dict(
        n_components=n_components,
        covariance_type=covariance_type,
        init_params="random",
        random_state=0,
        max_iter=iterations,
        tol=0.0,
    )


def _per_iteration(cls, X, params):
    estimator = cls(**params)
    estimator._times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)
    return min(estimator.iteration_times()), estimator


def _peak_memory(cls, X, params):
    estimator = cls(**dict(params, max_iter=1))
    estimator._times = {}
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _mib(n_bytes):
    return f"{n_bytes / 2**20:,.1f}"


def _cases(n_samples, n_features, args):
    """Each covariance type on one data set: both estimators' s/iter and memory."""
    X = _data(n_samples, n_features, args.components)
    for covariance_type in args.types:
        params = _params(covariance_type, args.components, args.iterations)
        reference, fitted_reference = _per_iteration(_TimedSklearn, X, params)
        ours, fitted = _per_iteration(_TimedSkvi, X, params)
        # Same start, same iterations: the same fit, to rounding.
        agreement = np.max(np.abs(fitted.means_ - fitted_reference.means_)) / np.max(
            np.abs(fitted_reference.means_)
        )
        memory = (
            ("-", "-")
            if args.no_memory
            else (
                _mib(_peak_memory(_TimedSklearn, X, params)),
                _mib(_peak_memory(_TimedSkvi, X, params)),
            )
        )
        yield {
            "type": covariance_type,
            "sklearn": reference,
            "skvi": ours,
            "memory": memory,
            "note": "" if agreement < 1e-6 else f" means differ: {agreement:.1e}",
        }


def main(argv=None):
    from _array_api import mixture_main, wants_array_api

    if wants_array_api(argv):
        return mixture_main(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="*", default=[1e4, 1e5, 1e6])
    parser.add_argument("--features", type=int, nargs="*", default=[2, 10, 50])
    parser.add_argument("--types", nargs="+", default=COVARIANCE_TYPES)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument(
        "--threads",
        nargs="+",
        default=["default"],
        help="'default' (every core), '1', or a sweep such as 1 2 4 8 all: "
        "per-iteration time at each count against a plain thread split of the "
        "same E-step and statistics, and the serial share",
    )
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument(
        "--block-elements",
        type=int,
        default=None,
        help="override skvi's float64 values per row block (for tuning; the "
        "E-step's declared operations then no longer raise it)",
    )
    # Wide data (issue 17): few rows, many features, after the main table.
    parser.add_argument("--wide-rows", type=float, default=2e3)
    parser.add_argument("--wide-features", type=int, nargs="*", default=[200, 1000])
    parser.add_argument("--wide", action="store_true", help="only the wide-data table")
    args = parser.parse_args(argv)
    if args.wide:
        args.rows, args.features = [], []
    if args.block_elements:
        from skvi._core import engine

        engine.BLOCK_ELEMENTS = args.block_elements
        engine.ELEMENTS_PER_OPERATION = 0
    if args.threads not in (["default"], ["1"]):
        return thread_sweep(args)
    args.threads = args.threads[0]

    blas = ", ".join(
        f"{info['internal_api']} {info.get('version')} ({info['num_threads']} threads)"
        for info in threadpool_info()
        if info["user_api"] == "blas"
    )
    print(
        f"# Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}; BLAS: {blas}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} (1 min) "
        f"at start; threads: {args.threads}"
    )
    limits = threadpool_limits(1) if args.threads == "1" else contextlib.nullcontext()
    main_cases = [(int(n), d) for n in args.rows for d in args.features]
    wide_cases = [(int(args.wide_rows), d) for d in args.wide_features]
    with limits:
        if main_cases:
            print(
                "| n | d | type | sklearn s/iter | skvi s/iter | speed-up "
                "| sklearn peak MiB | skvi peak MiB |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for n_samples, n_features in main_cases:
            for row in _cases(n_samples, n_features, args):
                print(
                    f"| {n_samples:.0e} | {n_features} | {row['type']} "
                    f"| {row['sklearn']:.4f} | {row['skvi']:.4f} "
                    f"| {row['sklearn'] / row['skvi']:.1f}x "
                    f"| {row['memory'][0]} | {row['memory'][1]} |" + row["note"],
                    flush=True,
                )
        if wide_cases:
            print(
                f"\nWide data, K = {args.components}: ms per iteration, "
                "skvi / scikit-learn (target <= 1)"
            )
            print(
                "| n | d | type | sklearn ms/iter | skvi ms/iter | skvi / sklearn "
                "| sklearn peak MiB | skvi peak MiB |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for n_samples, n_features in wide_cases:
            for row in _cases(n_samples, n_features, args):
                print(
                    f"| {n_samples:.0e} | {n_features} | {row['type']} "
                    f"| {1e3 * row['sklearn']:.1f} | {1e3 * row['skvi']:.1f} "
                    f"| {row['skvi'] / row['sklearn']:.2f} "
                    f"| {row['memory'][0]} | {row['memory'][1]} |" + row["note"],
                    flush=True,
                )
    print(f"# load average {os.getloadavg()[0]:.2f} (1 min) at the end")


# ---------------------------------------------------------------------------
# Thread sweep


SPLIT_ROWS = 4096


def _split_e_step(X, means, lower, offset, covariance_type):
    """A plain numpy E-step + responsibility statistics on one row block.

    The pass written the obvious way (as scikit-learn's, with numpy.dot):
    log densities per component, a log-sum-exp, then ``N_k``, ``r^T x`` and
    the scatters (full) or ``r^T x**2`` (diag). The hardware's limit for
    this pass on these cores, not skvi's code.
    """
    K = means.shape[0]
    n = X.shape[0]
    log_prob = np.empty((n, K))
    if covariance_type == "full":
        for k in range(K):
            y = np.dot(X - means[k], lower[k])
            log_prob[:, k] = np.einsum("ij,ij->i", y, y)
    else:
        precision = lower**2
        log_prob[:] = (
            np.dot(X * X, precision.T)
            - 2.0 * np.dot(X, (means * precision).T)
            + (means**2 * precision).sum(1)
        )
    log_prob *= -0.5
    log_prob += offset
    top = log_prob.max(axis=1, keepdims=True)
    resp = np.exp(log_prob - top)
    total = resp.sum(axis=1, keepdims=True)
    resp /= total
    n_k = resp.sum(axis=0)
    sums = np.dot(resp.T, X)
    if covariance_type == "full":
        second = [np.dot((X * resp[:, k : k + 1]).T, X) for k in range(K)]
    else:
        second = np.dot(resp.T, X * X)
    return n_k, sums, second, float((np.log(total) + top).sum())


def _sweep_case(X, covariance_type, args, counts):
    from threadpoolctl import threadpool_limits

    params = _params(covariance_type, args.components, args.iterations)
    rows = []
    for count in counts:
        with threadpool_limits(count):
            ours, fitted = _per_iteration(_TimedSkvi, X, params)
        rows.append({"threads": count, "skvi": ours})
    K, d = fitted.means_.shape
    rng = np.random.default_rng(1)
    means = fitted.means_
    lower = np.broadcast_to(np.eye(d), (K, d, d)).copy()
    if covariance_type != "full":
        lower = np.ones((K, d))
    offset = rng.normal(size=K)
    for row in rows:
        count = row["threads"]

        def split(count=count):
            return plain_split(
                lambda a, b: _split_e_step(
                    X[a:b], means, lower, offset, covariance_type
                ),
                len(X),
                SPLIT_ROWS,
                count,
            )

        split()
        row["split"] = median_time(split, max(3, args.iterations))
    peers = {}
    for count in sorted({counts[0], counts[-1]}):
        with threadpool_limits(count):
            peers[count] = _per_iteration(_TimedSklearn, X, params)[0]
    n, d = X.shape
    print(
        f"\n{n:.0e} x {d}, K = {args.components}, {covariance_type}; "
        f"load average {os.getloadavg()[0]:.2f}; scikit-learn "
        + ", ".join(f"{c} threads {1e3 * t:.0f} ms" for c, t in peers.items())
    )
    print(
        "| threads | skvi ms/iter | skvi speed-up | split ms | split speed-up "
        "| skvi / split speed-up | × scikit-learn (same threads or nearest) |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        row["skvi_speedup"] = rows[0]["skvi"] / row["skvi"]
        row["split_speedup"] = rows[0]["split"] / row["split"]
        nearest = min(peers, key=lambda c, t=row["threads"]: abs(c - t))
        print(
            f"| {row['threads']} | {1e3 * row['skvi']:.1f} "
            f"| {row['skvi_speedup']:.2f} | {1e3 * row['split']:.1f} "
            f"| {row['split_speedup']:.2f} "
            f"| {row['skvi_speedup'] / row['split_speedup']:.2f} "
            f"| {peers[nearest] / row['skvi']:.1f}x |",
            flush=True,
        )

    def one_iteration():
        _per_iteration(_TimedSkvi, X, dict(params, max_iter=1))

    from skvi._mixture.covariance import COVARIANCE_TYPES
    from skvi._mixture.estep import _width

    report_share(
        f"{n:.0e} x {d} {covariance_type} iteration",
        one_iteration,
        counts,
        timer=lambda data: _per_iteration(_TimedSkvi, data, params)[0],
        X=X,
        width=_width(args.components, d, COVARIANCE_TYPES[covariance_type]),
        min_rows=4 * args.components,
    )


def thread_sweep(args):
    counts = thread_counts(args.threads)
    print(
        f"# Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}; {os.cpu_count()} CPUs; "
        f"thread sweep {counts}"
    )
    for n_samples in (int(n) for n in args.rows):
        for n_features in args.features:
            X = _data(n_samples, n_features, args.components)
            for covariance_type in args.types:
                _sweep_case(X, covariance_type, args, counts)


if __name__ == "__main__":
    main()
