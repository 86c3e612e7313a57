"""Speed and memory of the ``skvi`` command line against a plain Python process.

Run by hand, e.g.::

    python benchmarks/bench_cli.py                  # the targets of issue #8
    python benchmarks/bench_cli.py --rows 1e5 --repeats 3   # a quick look

Every figure is of whole processes, timed from outside, several repeats taken
in turn (A B A B ...), so that a ratio compares two timings under the same load;
the table shows medians.

- **start-up**: ``skvi --version``, ``skvi --help`` and ``skvi fit --help``
  (target: under 0.3 s), beside ``python -c pass``; ``skvi fit`` on the
  example data against ``python -c "import sklearn.datasets"`` (target: at
  most 1.15x).
- **reading**: ``skvi fit FILE --json`` on files of 1e5 and 3e6 rows x 3
  columns of 17-significant-digit numbers, against a Python process that
  imports skvi and pandas and does the chunked ``pandas.read_csv`` +
  ``partial_fit`` itself (target: at most 1.2x).
- **memory**: the peak resident memory of ``skvi fit FILE --json`` on the
  largest file against a 1,000-row file (target: at most 100 MB more).
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

PLAIN = """\
import sys
import numpy as np
import pandas as pd
from skvi import VariationalNormalEstimator

estimator = VariationalNormalEstimator()
for chunk in pd.read_csv(sys.argv[1], chunksize=100_000, dtype=np.float64):
    estimator.partial_fit(chunk.to_numpy())
print(estimator.posterior_mean_)
"""

SKVI = [sys.executable, "-m", "skvi"]


def run(command):
    """Run ``command`` to its end: (wall seconds, peak resident MB)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    # wait4 gives this child's own resource use, its peak memory included.
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed: {process.stderr.read().decode()}")
    process.stderr.close()
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


def paired(command_a, command_b, repeats):
    """Median times of A and B, and the median of the ratios A/B, in turn."""
    run(command_a), run(command_b)  # warm-up: file cache, .pyc files
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(run(command_a)[0])
        times_b.append(run(command_b)[0])
    ratios = [a / b for a, b in zip(times_a, times_b, strict=True)]
    return (
        statistics.median(times_a),
        statistics.median(times_b),
        statistics.median(ratios),
    )


def write_file(directory, rows, seed=0):
    """A CSV file of ``rows`` x 3 columns of Normal data, 17 significant digits."""
    path = os.path.join(directory, f"data_{rows}.csv")
    if os.path.exists(path):
        return path
    import pandas as pd

    rng = np.random.default_rng(seed)
    with open(path, "w") as file:
        file.write("a,b,c\n")
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            frame = pd.DataFrame(rng.normal([10.0, -3.0, 0.0], [2.0, 0.5, 1.0], (n, 3)))
            frame.to_csv(file, header=False, index=False, float_format="%.17g")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e5, 3e6])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--directory", help="where to keep the data files")
    args = parser.parse_args()
    directory = args.directory or tempfile.mkdtemp(prefix="skvi-bench-cli-")
    rows = [int(n) for n in args.rows]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        f"medians of {args.repeats} repeats; files in {directory}\n"
    )

    print(f"{'start-up':<40}  skvi (s)  baseline (s)  ratio  target")
    for label, command, baseline, target in [
        ("skvi --version", ["--version"], ["-c", "pass"], "< 0.3 s"),
        ("skvi --help", ["--help"], ["-c", "pass"], "< 0.3 s"),
        ("skvi fit --help", ["fit", "--help"], ["-c", "pass"], "< 0.3 s"),
        (
            "skvi fit (example data)",
            ["fit"],
            ["-c", "import sklearn.datasets"],
            "<= 1.15x",
        ),
    ]:
        a, b, ratio = paired(SKVI + command, [sys.executable, *baseline], args.repeats)
        print(f"{label:<40}  {a:8.3f}  {b:12.3f}  {ratio:5.2f}  {target}")

    print(
        "\nreading: skvi fit FILE --json vs read_csv + partial_fit in a plain process"
    )
    print("rows         skvi (s)  plain (s)  ratio  target")
    for n in rows:
        path = write_file(directory, n)
        plain = [sys.executable, "-c", PLAIN, path]
        a, b, ratio = paired(SKVI + ["fit", path, "--json"], plain, args.repeats)
        print(f"{n:<11,}  {a:8.3f}  {b:9.3f}  {ratio:5.2f}  <= 1.2x")

    print("\nmemory: peak resident memory of skvi fit FILE --json")
    small = write_file(directory, 1000)
    large = write_file(directory, max(rows))
    small_mb = min(run(SKVI + ["fit", small, "--json"])[1] for _ in range(2))
    large_mb = max(run(SKVI + ["fit", large, "--json"])[1] for _ in range(2))
    print(
        f"1,000 rows: {small_mb:.0f} MB; {max(rows):,} rows: {large_mb:.0f} MB; "
        f"difference {large_mb - small_mb:.0f} MB (target: <= 100 MB)"
    )


if __name__ == "__main__":
    main()
