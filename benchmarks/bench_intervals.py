"""Time of credible_interval(method="exact") per column, against its neighbours.

Run by hand, e.g.::

    python benchmarks/bench_intervals.py                   # the table
    python benchmarks/bench_intervals.py --columns 1 100 --repeats 3

The exact interval is computed from the fitted statistics (no pass over the
data), so its cost depends on the number of columns and on the shape of each
column's posterior, not on the number of rows. For each number of columns and
three kinds of column (few rows under a weak prior; many rows; few rows in
conflict with the prior, whose exact posterior has two modes), the table shows
the median time of ``credible_interval(0.95, method="exact")`` per column, and
its ratios, under the same load, to ``fit`` on the data (one pass over 8 or
10,000 rows and the CAVI solve), to ``method="variational"`` and to
``skvi.diagnostics.exact_posterior`` (adaptive quadrature, a Python loop over
columns). Each repeat times the cases back to back, so a ratio compares
timings taken under the same load.

The Student-t model (VariationalStudentEstimator) has no statistics to
keep: its exact interval (``method="exact", X=X``) passes over the rows to
build an interpolant of its likelihood (one pass per try, all nodes at
once), so its cost grows with the rows. Its table (``--student-rows``, a few
columns of Student-t(4) data under the default priors) shows the time of
the exact interval and its ratio to the fit's own time on the same data,
timed back to back.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import os
import platform
import statistics
import sys
import time
from functools import partial

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from skvi import (  # noqa: E402
    VariationalNormalEstimator,
    VariationalStudentEstimator,
)
from skvi.diagnostics import exact_posterior  # noqa: E402

MIN_TIMING = 0.05  # seconds
# Data sets larger than this (8 bytes a value) are skipped.
MAX_VALUES = 2e7

KINDS = {
    # name: (rows, column mean, priors)
    "8 rows, weak prior": (
        8,
        3.0,
        dict(prior_mean=0.0, prior_std=1e3, prior_shape=1e-3, prior_rate=1e-3),
    ),
    "10,000 rows": (
        10_000,
        3.0,
        dict(prior_mean=0.0, prior_std=10.0, prior_shape=1.0, prior_rate=1.0),
    ),
    "3 rows, conflict (two modes)": (
        3,
        7.0,
        dict(prior_mean=0.0, prior_std=1.0, prior_shape=1.0, prior_rate=1.0),
    ),
}


FULL_KINDS = {
    "1,000 rows": (
        1_000,
        3.0,
        dict(prior_mean=0.0, prior_std=10.0, prior_shape=1.0, prior_rate=1.0),
    ),
    "8 rows, conflict": (
        8,
        7.0,
        dict(prior_mean=0.0, prior_std=1.0, prior_shape=1.0, prior_rate=1.0),
    ),
}


def seconds_per_call(function):
    """The time of one call, over enough calls to last ``MIN_TIMING``."""
    calls, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_TIMING:
            return elapsed / calls
        calls *= 2


def ratios_to_exact(cases, repeats):
    """Median time of ``cases["exact"]`` and its median ratios to the others."""
    times = {case: [] for case in cases}
    for _ in range(repeats):
        for case, function in cases.items():
            times[case].append(seconds_per_call(function))
    ratios = {
        case: statistics.median(
            e / t for e, t in zip(times["exact"], times[case], strict=True)
        )
        for case in cases
    }
    return statistics.median(times["exact"]), ratios


def diagonal_table(args, rng):
    header = (
        f"{'kind':30s} {'columns':>7s} {'exact ms/col':>12s} "
        f"{'/ fit':>7s} {'/ variational':>13s} {'/ exact_posterior':>17s}"
    )
    print(header)
    print("-" * len(header))
    for name, (rows, centre, prior) in KINDS.items():
        for columns in args.columns:
            if rows * columns > MAX_VALUES:
                print(
                    f"{name:30s} {columns:7d}  (skipped: over {MAX_VALUES:.0e} values)"
                )
                continue
            X = rng.normal(centre, 2.0, size=(rows, columns))
            est = VariationalNormalEstimator(**prior).fit(X)
            cases = {
                "exact": partial(est.credible_interval, 0.95, method="exact"),
                "fit": partial(VariationalNormalEstimator(**prior).fit, X),
                "variational": partial(
                    est.credible_interval, 0.95, method="variational"
                ),
            }
            # exact_posterior loops over columns in Python: not beyond 1000.
            if columns <= 1000:
                cases["exact_posterior"] = partial(exact_posterior, est)
            seconds, ratios = ratios_to_exact(cases, args.repeats)
            posterior = (
                f"{ratios['exact_posterior']:17.2f}"
                if "exact_posterior" in ratios
                else f"{'-':>17s}"
            )
            print(
                f"{name:30s} {columns:7d} {1e3 * seconds / columns:12.4f} "
                f"{ratios['fit']:7.2f} {ratios['variational']:13.1f} {posterior}"
            )


def full_table(args, rng):
    header = (
        f"{'full, kind':30s} {'columns':>7s} {'exact ms':>12s} "
        f"{'/ fit':>7s} {'/ variational':>13s}"
    )
    print(header)
    print("-" * len(header))
    for name, (rows, centre, prior) in FULL_KINDS.items():
        for columns in args.full_columns:
            # Correlated columns: a common factor plus noise.
            common = rng.normal(size=(rows, 1))
            X = centre + 2.0 * (0.8 * common + 0.6 * rng.normal(size=(rows, columns)))
            make = partial(VariationalNormalEstimator, **prior, covariance_type="full")
            est = make().fit(X)
            cases = {
                "exact": partial(est.credible_interval, 0.95, method="exact"),
                "fit": partial(make().fit, X),
                "variational": partial(
                    est.credible_interval, 0.95, method="variational"
                ),
            }
            seconds, ratios = ratios_to_exact(cases, args.repeats)
            print(
                f"{name:30s} {columns:7d} {1e3 * seconds:12.3f} "
                f"{ratios['fit']:7.2f} {ratios['variational']:13.1f}"
            )


def student_table(args, rng):
    header = (
        f"{'Student-t, rows':>15s} {'columns':>7s} {'exact s':>9s} {'fit s':>9s} "
        f"{'exact / fit':>11s}"
    )
    print(header)
    print("-" * len(header))
    for rows in args.student_rows:
        columns = args.student_columns
        X = 3.0 + 2.0 * rng.standard_t(4.0, size=(rows, columns))
        est = VariationalStudentEstimator().fit(X)
        cases = {
            "exact": partial(est.credible_interval, 0.95, method="exact", X=X),
            "fit": partial(VariationalStudentEstimator().fit, X),
        }
        # Large data: one call per timing, fewer repeats.
        repeats = args.repeats if rows <= 100_000 else max(1, args.repeats // 2)
        times = {case: [] for case in cases}
        for _ in range(repeats):
            for case, function in cases.items():
                start = time.perf_counter()
                function()
                times[case].append(time.perf_counter() - start)
        ratio = statistics.median(
            e / f for e, f in zip(times["exact"], times["fit"], strict=True)
        )
        print(
            f"{rows:15,d} {columns:7d} {statistics.median(times['exact']):9.3f} "
            f"{statistics.median(times['fit']):9.3f} {ratio:11.2f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--columns", type=int, nargs="+", default=[1, 10, 100, 1000, 10000]
    )
    parser.add_argument("--full-columns", type=int, nargs="+", default=[2, 10, 50])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--student-rows",
        type=int,
        nargs="+",
        default=[1_000, 100_000, 1_000_000],
        help="rows of the Student-t table (e.g. add 10000000: about 1 GiB)",
    )
    parser.add_argument("--student-columns", type=int, default=3)
    parser.add_argument(
        "--only-student", action="store_true", help="the Student-t table only"
    )
    args = parser.parse_args(argv)
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    rng = np.random.default_rng(0)
    if not args.only_student:
        diagonal_table(args, rng)
        print()
        full_table(args, rng)
        print()
    student_table(args, rng)


if __name__ == "__main__":
    main()
