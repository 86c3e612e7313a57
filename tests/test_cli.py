"""The ``skvi`` command-line program, run as a user runs it: in a subprocess."""

import io
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_diabetes

import skvi
from skvi import VariationalNormalEstimator
from skvi._cli import _Progress

# The directory that holds the imported skvi package: the child process then
# runs this skvi, installed (CI) or not (a source checkout).
SKVI_PARENT = str(Path(skvi.__file__).resolve().parent.parent)
DIABETES_COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _env(extra_path=()):
    env = dict(os.environ)
    paths = [*map(str, extra_path), SKVI_PARENT]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["MPLBACKEND"] = "Agg"
    return env


def run_skvi(*args, cwd=None, extra_path=()):
    """Run ``python -m skvi ARGS`` and return the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "skvi", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(extra_path),
        cwd=cwd,
        timeout=300,
    )


def write_csv(path, X, names, fmt="%.17g"):
    """Write X with a header row; 17 significant digits round-trip float64."""
    np.savetxt(path, X, delimiter=",", header=",".join(names), comments="", fmt=fmt)
    return path


def assert_matches(result, estimator, columns, rtol=1e-12):
    """The JSON result holds the estimator's posterior, column by column."""
    assert [column["name"] for column in result["columns"]] == list(columns)
    lower, upper = estimator.credible_interval(0.95)
    got = {
        key: np.array([column[key] for column in result["columns"]])
        for key in ("posterior_mean", "posterior_std", "noise_std")
    }
    assert_allclose(got["posterior_mean"], estimator.posterior_mean_, rtol=rtol)
    assert_allclose(got["posterior_std"], estimator.posterior_std_, rtol=rtol)
    assert_allclose(got["noise_std"], estimator.noise_std_, rtol=rtol)
    intervals = np.array([column["credible_interval"] for column in result["columns"]])
    assert_allclose(intervals[:, 0], lower, rtol=rtol)
    assert_allclose(intervals[:, 1], upper, rtol=rtol)
    assert_allclose(result["elbo"], estimator.elbo_, rtol=rtol)
    assert result["n_iter"] == estimator.n_iter_
    assert result["converged"] == estimator.converged_


def _close_to_shown(shown, value):
    """Whether ``shown`` is ``value`` rounded to the digits it displays."""
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown) - value) <= 0.51 * 10.0**-decimals


# Row of the table: name, data mean, mean of mu, [lower, upper], sd of mu, noise sd.
ROW = re.compile(
    r"^(\S+)\s+(\S+)\s+(\S+)\s+\[\s*(\S+),\s*(\S+)\]\s+(\S+)\s+(\S+)$", re.MULTILINE
)


def test_default_run_prints_the_diabetes_fit():
    process = run_skvi("fit")
    assert process.returncode == 0, process.stderr
    # Nothing but the result: stderr stays empty off a terminal.
    assert process.stderr == ""
    out = process.stdout
    assert "load_diabetes(scaled=False)" in out
    data = load_diabetes(scaled=False).data
    estimator = VariationalNormalEstimator().fit(data)
    lower, upper = estimator.credible_interval(0.95)
    rows = {match[0]: match[1:] for match in ROW.findall(out)}
    assert list(rows) == DIABETES_COLUMNS
    for j, name in enumerate(DIABETES_COLUMNS):
        data_mean, mean, low, high, _, noise = rows[name]
        assert _close_to_shown(data_mean, data[:, j].mean())
        assert _close_to_shown(mean, estimator.posterior_mean_[j])
        assert _close_to_shown(low, lower[j])
        assert _close_to_shown(high, upper[j])
        assert float(noise) == pytest.approx(estimator.noise_std_[j], rel=1e-3)
    assert re.search(rf"^ELBO\s+{estimator.elbo_:.6f}$", out, re.MULTILINE)
    assert re.search(rf"^iterations\s+{estimator.n_iter_}$", out, re.MULTILINE)
    assert re.search(r"^converged\s+yes$", out, re.MULTILINE)
    assert re.search(r"^rows read\s+442$", out, re.MULTILINE)


def test_default_run_json_matches_a_direct_fit():
    process = run_skvi("fit", "--json")
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    data = load_diabetes(scaled=False).data
    estimator = VariationalNormalEstimator().fit(data)
    assert_matches(result, estimator, DIABETES_COLUMNS)
    assert result["rows_read"] == 442
    assert result["file"] is None
    assert "load_diabetes" in result["data"]
    assert_allclose([c["data_mean"] for c in result["columns"]], data.mean(axis=0))


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory):
    """A 500-row, 3-column CSV file of known data, and the data."""
    rng = np.random.default_rng(42)
    X = np.column_stack(
        [rng.normal(3.0, 2.0, 500), rng.normal(-1.0, 0.5, 500), rng.normal(0, 1, 500)]
    )
    path = tmp_path_factory.mktemp("csv") / "scores.csv"
    write_csv(path, X, ["score", "delta", "noise"])
    return path, X


def test_csv_file_matches_a_direct_fit(csv_data):
    path, X = csv_data
    process = run_skvi("fit", path, "--json")
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    assert_matches(
        result, VariationalNormalEstimator().fit(X), ["score", "delta", "noise"]
    )
    assert result["rows_read"] == 500
    assert result["file"] == str(path)


def test_chunked_reading_equals_a_direct_fit(csv_data):
    path, X = csv_data
    # 7 rows a chunk: 72 chunks, the last one short.
    process = run_skvi("fit", path, "--json", "--chunk-rows", 7)
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    estimator = VariationalNormalEstimator().fit(X)
    assert_matches(result, estimator, ["score", "delta", "noise"], rtol=1e-10)
    assert result["rows_read"] == 500


def test_columns_selects_and_orders(csv_data):
    path, X = csv_data
    process = run_skvi("fit", path, "--json", "--columns", "noise,score")
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    assert_matches(
        result, VariationalNormalEstimator().fit(X[:, [2, 0]]), ["noise", "score"]
    )


def test_columns_on_the_default_data():
    process = run_skvi("fit", "--json", "--columns", "bmi,s5")
    assert process.returncode == 0, process.stderr
    data = load_diabetes(scaled=False).data[:, [2, 8]]
    result = json.loads(process.stdout)
    assert_matches(result, VariationalNormalEstimator().fit(data), ["bmi", "s5"])


def test_priors_and_max_iter_are_passed_through(csv_data):
    path, X = csv_data
    priors = {
        "prior_mean": 2.5,
        "prior_std": 0.3,
        "prior_shape": 3.0,
        "prior_rate": 4.0,
    }
    options = [f"--{name.replace('_', '-')}={value}" for name, value in priors.items()]
    process = run_skvi("fit", path, "--json", *options, "--max-iter", 7)
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    assert result["priors"] == priors
    estimator = VariationalNormalEstimator(**priors, max_iter=7).fit(X)
    assert_matches(result, estimator, ["score", "delta", "noise"])


def test_max_iter_reached_is_reported_not_warned(csv_data):
    path, _ = csv_data
    process = run_skvi("fit", path, "--max-iter", 1)
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    assert re.search(r"^converged\s+no: max_iter=1 reached", process.stdout, re.M)


def test_csv_dialects(tmp_path):
    """A byte-order mark, CRLF line ends, quoted names and blank lines are fine."""
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b'\xef\xbb\xbf"first","second"\r\n1.5, 2\r\n2.5,3\r\n\r\n3.5,"4"\r\n\r\n'
    )
    process = run_skvi("fit", path, "--json")
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    X = np.array([[1.5, 2.0], [2.5, 3.0], [3.5, 4.0]])
    assert_matches(result, VariationalNormalEstimator().fit(X), ["first", "second"])


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"]])
def test_help(args):
    process = run_skvi(*args)
    assert process.returncode == 0
    assert "usage: skvi" in process.stdout
    assert "skvi fit" in process.stdout  # the epilog's example
    assert process.stderr == ""


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    import matplotlib.image

    out = tmp_path / "fit.png"
    process = run_skvi("fit", "--plot", out)
    assert process.returncode == 0, process.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(out).shape
    assert width > 600 and height > 400
    assert re.search(rf"^plot\s+{re.escape(str(out))}$", process.stdout, re.M)


def test_progress_line_is_drawn_in_place_and_cleared():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = _Progress(terminal, delay=0.0, interval=0.0)
    progress.start(total_bytes=0)
    progress.update(1000)
    progress.update(2000)
    progress.close()
    text = terminal.getvalue()
    assert text.count("\r") == 3
    assert "3,000 rows" in text and "rows/s" in text
    assert text.endswith("\r\x1b[K")


def test_no_progress_line_off_a_terminal():
    stream = io.StringIO()
    progress = _Progress(stream, delay=0.0, interval=0.0)
    progress.update(1000)
    progress.close()
    assert stream.getvalue() == ""


# Bad input: (id, file content or None for no file, arguments, words in the message).
# ``{file}`` in the arguments is replaced by the path of the written file.
BAD_INPUTS = [
    ("missing file", None, ["fit", "{dir}/absent.csv"], ["absent.csv", "No such"]),
    ("directory", None, ["fit", "{dir}"], ["cannot open"]),
    ("empty file", "", ["fit", "{file}"], ["empty", "header"]),
    ("blank file", "\n\n", ["fit", "{file}"], ["empty"]),
    ("header only", "a,b\n", ["fit", "{file}"], ["no data rows"]),
    ("no header", "1,2\n3,4\n", ["fit", "{file}"], ["line 1", "header"]),
    ("semicolons", "a;b\n1,5;2\n", ["fit", "{file}"], ["';'", "comma-separated"]),
    ("non-numeric", "a,b\n1,2\n3,abc\n", ["fit", "{file}"], ["line 3", "'b'", "'abc'"]),
    ("short row", "a,b,c\n1,2,3\n4,5\n", ["fit", "{file}"], ["line 3", "2 fields"]),
    (
        "long row, column subset",
        "a,b,c\n1,2,3\n4,5,6,7\n",
        ["fit", "{file}", "--columns", "a"],
        ["line 3", "4 fields", "3 columns"],
    ),
    ("empty field", "a,b\n1,2\n3,\n", ["fit", "{file}"], ["line 3", "missing value"]),
    ("NA", "a,b\n1,NA\n", ["fit", "{file}"], ["line 2", "'b'", "missing value"]),
    ("nan", "a,b\n1,2\nnan,4\n", ["fit", "{file}"], ["line 3", "'a'", "missing"]),
    ("inf", "a,b\n1,2\n3,-inf\n", ["fit", "{file}"], ["line 3", "infinite"]),
    ("not UTF-8", b"\xff\xfe\x00\x01", ["fit", "{file}"], ["UTF-8"]),
    (
        "unknown column",
        "a,b\n1,2\n",
        ["fit", "{file}", "--columns", "a,zz"],
        ["'zz'", "available", "a, b"],
    ),
    (
        "unknown default column",
        None,
        ["fit", "--columns", "bmi,glucose"],
        ["'glucose'", "age, sex, bmi"],
    ),
    ("prior std 0", None, ["fit", "--prior-std", "0"], ["--prior-std", "> 0"]),
    ("prior std nan", None, ["fit", "--prior-std", "nan"], ["--prior-std", "finite"]),
    ("prior rate negative", None, ["fit", "--prior-rate=-1"], ["--prior-rate"]),
    ("prior mean inf", None, ["fit", "--prior-mean", "inf"], ["--prior-mean"]),
    ("prior not a number", None, ["fit", "--prior-shape", "x"], ["--prior-shape"]),
    ("max-iter 0", None, ["fit", "--max-iter", "0"], ["--max-iter"]),
    ("chunk-rows not int", None, ["fit", "--chunk-rows", "1.5"], ["--chunk-rows"]),
    ("unknown option", None, ["fit", "--bogus"], ["--bogus"]),
    ("no command", None, [], ["COMMAND"]),
    ("two files", None, ["fit", "a.csv", "b.csv"], ["b.csv"]),
    ("plot format", None, ["fit", "--plot", "{dir}/fit.xyz"], [".png"]),
    ("plot directory", None, ["fit", "--plot", "{dir}/no/fit.png"], ["does not exist"]),
    (
        "plot without matplotlib",
        None,
        ["fit", "--plot", "{dir}/fit.png"],
        ["matplotlib", 'pip install "skvi[plot]"'],
    ),
]


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """Run every bad input at once, as many at a time as there are CPUs."""
    directory = tmp_path_factory.mktemp("bad")
    # A matplotlib that cannot be imported, first on the path, stands for an
    # environment without it.
    blocker = directory / "no_matplotlib"
    (blocker / "matplotlib").mkdir(parents=True)
    (blocker / "matplotlib" / "__init__.py").write_text(
        "raise ImportError('No module named matplotlib')\n"
    )

    def run(case):
        name, content, args, _ = case
        path = directory / (re.sub(r"\W+", "_", name) + ".csv")
        if content is not None:
            data = content.encode() if isinstance(content, str) else content
            path.write_bytes(data)
        args = [a.format(file=path, dir=directory) for a in args]
        extra = [blocker] if name == "plot without matplotlib" else []
        return run_skvi(*args, cwd=directory, extra_path=extra)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(
            zip(
                [case[0] for case in BAD_INPUTS], pool.map(run, BAD_INPUTS), strict=True
            )
        )


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line(case, bad_input_runs):
    name, _, _, words = case
    process = bad_input_runs[name]
    assert process.returncode == 2, (process.stdout, process.stderr)
    assert process.stdout == ""
    assert "Traceback" not in process.stderr
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert lines[0].startswith("skvi: error: ")
    for word in words:
        assert word in lines[0]


def test_unnamed_header_column_gets_a_name(tmp_path, capsys):
    """pandas' index column has an empty name: it is shown as ``column N``."""
    from skvi._cli import main

    path = tmp_path / "indexed.csv"
    path.write_text(",a,b\n0,1.5,2\n1,2.5,3\n")
    assert main(["fit", str(path), "--json", "--columns", "b,column 1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [column["name"] for column in result["columns"]] == ["b", "column 1"]
