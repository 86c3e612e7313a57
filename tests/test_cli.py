"""The ``skvi`` command-line program: in-process through main(argv), plus a few
real processes for what only a process shows (the console script, exit codes,
signals, a closed pipe)."""

import bz2
import contextlib
import gzip
import io
import json
import lzma
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_diabetes

import skvi
from skvi import VariationalNormalEstimator
from skvi._cli import main
from skvi._cli.fit import ESTIMATOR_DEFAULTS
from skvi._cli.read import Progress
from skvi.exceptions import PriorDataConflictWarning

# The directory that holds the imported skvi package: a child process then
# runs this skvi, installed (CI) or not (a source checkout).
SKVI_PARENT = str(Path(skvi.__file__).resolve().parent.parent)
DIABETES_COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
NAMES = ["score", "delta", "noise"]


def run(capsys, *args):
    """Run ``skvi ARGS`` in this process: (status, stdout, stderr)."""
    status = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys, *args):
    """Run ``skvi ARGS --json`` and return the parsed result."""
    status, out, err = run(capsys, *args, "--json")
    assert status == 0, err
    assert err == ""
    return json.loads(out)


def data_prior_fit(X, **chosen):
    """The reference: the unit-information prior computed here with numpy."""
    variance = X.var(axis=0)
    priors = {
        "prior_mean": X.mean(axis=0),
        "prior_std": np.sqrt(variance),
        "prior_shape": np.full(X.shape[1], 0.5),
        "prior_rate": variance / 2,
    }
    priors.update(chosen)
    return VariationalNormalEstimator(**priors).fit(X)


def write_csv(path, X, names, fmt="%.17g"):
    """Write X with a header row; 17 significant digits round-trip float64."""
    np.savetxt(path, X, delimiter=",", header=",".join(names), comments="", fmt=fmt)
    return path


def assert_matches(result, estimator, columns, rtol=1e-12, level=0.95):
    """The JSON result holds the estimator's posterior, column by column."""
    assert [column["name"] for column in result["columns"]] == list(columns)
    lower, upper = estimator.credible_interval(level)
    for key, expected in [
        ("posterior_mean", estimator.posterior_mean_),
        ("posterior_std", estimator.posterior_std_),
        ("noise_std", estimator.noise_std_),
    ]:
        assert_allclose([c[key] for c in result["columns"]], expected, rtol=rtol)
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


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(scaled=False).data


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory):
    """A 500-row, 3-column CSV file of known data, and the data."""
    rng = np.random.default_rng(42)
    X = np.column_stack(
        [rng.normal(3.0, 2.0, 500), rng.normal(-1.0, 0.5, 500), rng.normal(0, 1, 500)]
    )
    path = tmp_path_factory.mktemp("csv") / "scores.csv"
    write_csv(path, X, NAMES)
    return path, X


# --------------------------------------------------------------------------
# A right first answer: the default priors come from the data.


def test_default_run_prints_the_diabetes_fit_with_data_priors(capsys, diabetes):
    status, out, err = run(capsys, "fit")
    assert status == 0, err
    # Nothing but the result: stderr stays empty off a terminal.
    assert err == ""
    assert "load_diabetes(scaled=False)" in out
    # The header names the prior used.
    assert "Priors: unit-information prior from the data" in out
    estimator = data_prior_fit(diabetes)
    lower, upper = estimator.credible_interval(0.95)
    rows = {match[0]: match[1:] for match in ROW.findall(out)}
    assert list(rows) == DIABETES_COLUMNS
    for j, name in enumerate(DIABETES_COLUMNS):
        data_mean, mean, low, high, _, noise = rows[name]
        assert _close_to_shown(data_mean, diabetes[:, j].mean())
        assert _close_to_shown(mean, estimator.posterior_mean_[j])
        assert _close_to_shown(low, lower[j])
        assert _close_to_shown(high, upper[j])
        assert float(noise) == pytest.approx(estimator.noise_std_[j], rel=1e-3)
    assert re.search(rf"^ELBO\s+{estimator.elbo_:.6f}$", out, re.MULTILINE)
    assert re.search(rf"^iterations\s+{estimator.n_iter_}$", out, re.MULTILINE)
    assert re.search(r"^converged\s+yes$", out, re.MULTILINE)
    assert re.search(r"^rows read\s+442$", out, re.MULTILINE)
    # The first answer looks right: no column is pulled from its data mean.
    assert "Note:" not in out


def test_default_json_matches_a_direct_fit(capsys, diabetes):
    result = run_json(capsys, "fit")
    assert_matches(result, data_prior_fit(diabetes), DIABETES_COLUMNS)
    assert result["rows_read"] == 442
    assert result["file"] is None
    assert "load_diabetes" in result["data"]
    assert result["priors"] == dict.fromkeys(
        ["prior_mean", "prior_std", "prior_shape", "prior_rate"], "data"
    )
    assert_allclose([c["data_mean"] for c in result["columns"]], diabetes.mean(axis=0))
    assert_allclose(
        [c["prior"]["prior_std"] for c in result["columns"]], diabetes.std(axis=0)
    )
    assert result["notes"] == []


def test_one_explicit_prior_wins_for_its_own_parameter(capsys, csv_data):
    path, X = csv_data
    result = run_json(capsys, "fit", path, "--prior-std", "0.01")
    estimator = data_prior_fit(X, prior_std=0.01)
    assert_matches(result, estimator, NAMES)
    assert result["priors"]["prior_std"] == 0.01
    assert result["priors"]["prior_mean"] == "data"
    status, out, _ = run(capsys, "fit", path, "--prior-std", "0.01")
    assert "except, from the options, for every column: sd of mu 0.01" in out


def test_all_explicit_priors_and_options_are_passed_through(capsys, csv_data):
    path, X = csv_data
    priors = {"prior_mean": 2.5, "prior_std": 0.05, "prior_shape": 3.0, "prior_rate": 4}
    options = [f"--{name.replace('_', '-')}={value}" for name, value in priors.items()]
    result = run_json(capsys, "fit", path, *options, "--max-iter", 7, "--tol", 1e-3)
    assert result["priors"] == priors
    assert result["tol"] == 1e-3
    with pytest.warns(PriorDataConflictWarning) as caught:
        estimator = VariationalNormalEstimator(**priors, max_iter=7, tol=1e-3).fit(X)
    assert_matches(result, estimator, NAMES)
    # This prior pulls the means: the JSON carries the table's note, by the
    # estimator's rule (PriorDataConflictWarning), for the same columns.
    [note] = [note for note in result["notes"] if "pulls the posterior mean" in note]
    pulled = re.search(r"of (\d+) of 3 columns", note)[1]
    assert f"{pulled} of 3 feature(s)" in str(caught[0].message)
    status, out, _ = run(capsys, "fit", path, *options, "--max-iter", 7, "--tol", 1e-3)
    assert "Priors for every column: mu ~ Normal(2.5, 0.05^2)" in out
    for note in result["notes"]:
        assert note.split(".")[0] in " ".join(out.split())


def test_level_sets_the_credible_interval(capsys, csv_data):
    path, X = csv_data
    result = run_json(capsys, "fit", path, "--level", 0.8)
    assert result["credible_level"] == 0.8
    assert_matches(result, data_prior_fit(X), NAMES, level=0.8)
    _, out, _ = run(capsys, "fit", path, "--level", 0.995)
    assert "99.5% credible interval" in out


def test_unit_information_priors_and_the_no_spread_fallback(capsys, tmp_path):
    X = np.array([[1.0, 7.0, 0.0], [3.0, 7.0, 0.0], [8.0, 7.0, 0.0]])
    path = write_csv(tmp_path / "flat.csv", X, ["a", "b", "c"])
    columns = run_json(capsys, "fit", path)["columns"]
    used = {
        name: np.array([column["prior"][name] for column in columns])
        for name in ("prior_mean", "prior_std", "prior_shape", "prior_rate")
    }
    assert_allclose(used["prior_mean"], [4.0, 7.0, 0.0])
    # A constant column: the scale of its value, or 1 at 0.
    assert_allclose(used["prior_std"], [np.std(X[:, 0]), 7.0, 1.0])
    assert_allclose(used["prior_shape"], 0.5)
    # E[tau] = shape / rate = 1 / variance.
    assert_allclose(
        used["prior_shape"] / used["prior_rate"],
        1 / np.array([np.var(X[:, 0]), 49.0, 1.0]),
    )


def test_constant_and_single_row_columns_fit(capsys, tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("a,b\n5,0\n5,0\n5,0\n")
    result = run_json(capsys, "fit", path)
    assert [c["posterior_mean"] for c in result["columns"]] == [5.0, 0.0]
    assert all(np.isfinite(c["noise_std"]) for c in result["columns"])
    path.write_text("a,b\n5,2\n")
    assert run_json(capsys, "fit", path)["rows_read"] == 1


def test_max_iter_reached_is_reported_not_warned(capsys, csv_data):
    path, _ = csv_data
    status, out, err = run(capsys, "fit", path, "--max-iter", 1)
    assert status == 0 and err == ""
    assert re.search(r"^converged\s+no: max_iter=1 reached", out, re.M)
    assert "raise --max-iter" in out
    result = run_json(capsys, "fit", path, "--max-iter", 1)
    assert any("raise --max-iter" in note for note in result["notes"])


def test_estimator_defaults_shown_in_help_are_the_estimators():
    params = VariationalNormalEstimator().get_params()
    assert {name: params[name] for name in ESTIMATOR_DEFAULTS} == ESTIMATOR_DEFAULTS


# --------------------------------------------------------------------------
# Reading CSV files.


def test_csv_file_matches_a_direct_fit(capsys, csv_data):
    path, X = csv_data
    result = run_json(capsys, "fit", path)
    assert_matches(result, data_prior_fit(X), NAMES)
    assert result["rows_read"] == 500
    assert result["file"] == str(path)


def test_chunked_reading_equals_a_direct_fit(capsys, csv_data):
    path, X = csv_data
    # 7 rows a chunk: 72 chunks, the last one short.
    result = run_json(capsys, "fit", path, "--chunk-rows", 7)
    assert_matches(result, data_prior_fit(X), NAMES, rtol=1e-10)
    assert result["rows_read"] == 500


def test_columns_selects_and_orders(capsys, csv_data):
    path, X = csv_data
    result = run_json(capsys, "fit", path, "--columns", "noise,score")
    assert_matches(result, data_prior_fit(X[:, [2, 0]]), ["noise", "score"])


def test_columns_on_the_default_data(capsys, diabetes):
    result = run_json(capsys, "fit", "--columns", "bmi,s5")
    assert_matches(result, data_prior_fit(diabetes[:, [2, 8]]), ["bmi", "s5"])


def test_csv_dialects(capsys, tmp_path):
    """A byte-order mark, CRLF, quoted names, blank and whitespace-only lines."""
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b'\xef\xbb\xbf"first","second"\r\n1.5, 2\r\n2.5,3\r\n  \r\n3.5,"4"\r\n\r\n'
    )
    result = run_json(capsys, "fit", path)
    X = np.array([[1.5, 2.0], [2.5, 3.0], [3.5, 4.0]])
    assert_matches(result, data_prior_fit(X), ["first", "second"])


def test_quoted_field_with_commas_in_a_column_left_out(capsys, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text('name,age,score\n"Smith, John",40,1.5\n"Doe, Jane",30,2.5\n')
    result = run_json(capsys, "fit", path, "--columns", "age,score")
    assert_matches(
        result, data_prior_fit(np.array([[40, 1.5], [30, 2.5]])), ["age", "score"]
    )


COMPRESSORS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
}


@pytest.mark.parametrize("extension", [*COMPRESSORS, "zip"])
def test_compressed_files(capsys, csv_data, tmp_path, extension):
    path, X = csv_data
    packed = tmp_path / f"scores.csv.{extension}"
    if extension == "zip":
        with zipfile.ZipFile(packed, "w") as archive:
            archive.write(path, "scores.csv")
    else:
        packed.write_bytes(COMPRESSORS[extension](path.read_bytes()))
    result = run_json(capsys, "fit", packed, "--chunk-rows", 100)
    assert_matches(result, data_prior_fit(X), NAMES, rtol=1e-10)


def _stdin(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_standard_input(capsys, csv_data, monkeypatch):
    path, X = csv_data
    _stdin(monkeypatch, path.read_bytes())
    result = run_json(capsys, "fit", "-", "--chunk-rows", 64)
    assert_matches(result, data_prior_fit(X), NAMES, rtol=1e-10)
    assert result["data"] == "standard input"


@pytest.mark.parametrize("extension", COMPRESSORS)
def test_compressed_standard_input_and_unnamed_files(
    capsys, csv_data, tmp_path, monkeypatch, extension
):
    """gzip, bzip2 or xz on standard input, or in a file whose name does not
    say so, is recognised by its first bytes (it was "not a UTF-8 text file")."""
    path, X = csv_data
    packed = COMPRESSORS[extension](path.read_bytes())
    _stdin(monkeypatch, packed)
    result = run_json(capsys, "fit", "-", "--chunk-rows", 128)
    assert_matches(result, data_prior_fit(X), NAMES, rtol=1e-10)
    unnamed = tmp_path / "scores.csv"
    unnamed.write_bytes(packed)
    result = run_json(capsys, "fit", unnamed)
    assert_matches(result, data_prior_fit(X), NAMES, rtol=1e-10)


MISSING_CSV = (
    "a,b,c\n1,2,x\n,5,6\n7,NA,9\n10,11,\n13,14,15\n16,n/a,18\n19,20,21\n-,23,24\n"
)


def test_missing_drop_leaves_out_the_rows_and_reports_them(capsys, tmp_path):
    """--missing drop: rows with a missing value in a selected column are left
    out and counted; a missing value in a column left out drops nothing."""
    path = tmp_path / "gaps.csv"
    path.write_text(MISSING_CSV)
    complete = np.array([[1.0, 2.0], [10.0, 11.0], [13.0, 14.0], [19.0, 20.0]])
    status, _, err = run(capsys, "fit", path, "--columns", "a,b")
    assert status == 2 and "--missing drop" in err
    result = run_json(
        capsys, "fit", path, "--columns", "a,b", "--missing", "drop", "--chunk-rows", 3
    )
    assert result["rows_read"] == 4 and result["rows_dropped"] == 4
    assert_matches(result, data_prior_fit(complete), ["a", "b"], rtol=1e-10)
    _, out, _ = run(capsys, "fit", path, "--columns", "a,b", "--missing", "drop")
    assert re.search(r"^rows dropped\s+4 \(with a missing value", out, re.M)
    # Column b only: its two missing values drop two rows.
    only_b = run_json(capsys, "fit", path, "--columns", "b", "--missing", "drop")
    assert (only_b["rows_read"], only_b["rows_dropped"]) == (6, 2)
    # Other bad values are still errors, named as before.
    path.write_text("a,b\n1,2\n,3\n4,x\n")
    status, _, err = run(capsys, "fit", path, "--missing", "drop")
    assert status == 2 and "line 4, column 'b': 'x' is not a number" in err


def test_data_waiting_on_a_pipe_is_told_apart_from_a_silent_one(monkeypatch):
    """`cat f.csv | skvi fit` has data waiting (the program stops with a hint);
    a pipe that is open and silent (a notebook kernel's standard input) or
    closed and empty has none (the example data are fitted)."""
    from skvi._cli.read import _stdin_holds_data

    for data in (b"a,b\n1,2\n", b""):
        read_end, write_end = os.pipe()
        with open(read_end, "rb", buffering=0) as reader:
            monkeypatch.setattr(sys, "stdin", reader)
            with open(write_end, "wb", buffering=0) as writer:
                assert not _stdin_holds_data()  # open, nothing written yet
                writer.write(data)
                if data:
                    assert _stdin_holds_data()
            assert _stdin_holds_data() == bool(data)  # the writer has closed


def test_bad_standard_input_is_one_line(capsys, monkeypatch):
    _stdin(monkeypatch, b"a,b\n1,2\n3,x\n")
    status, out, err = run(capsys, "fit", "-")
    assert status == 2 and out == ""
    assert err.startswith("skvi: error: standard input: cannot parse")
    assert len(err.splitlines()) == 1


def test_unnamed_header_column_gets_a_name(capsys, tmp_path):
    """pandas' index column has an empty name: it is shown as ``column N``."""
    path = tmp_path / "indexed.csv"
    path.write_text(",a,b\n0,1.5,2\n1,2.5,3\n")
    result = run_json(capsys, "fit", path, "--columns", "b,column 1")
    assert [column["name"] for column in result["columns"]] == ["b", "column 1"]


def test_progress_bar_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    with Progress(terminal, delay=0.0, interval=0.0) as progress:
        progress.start(total_bytes=None)
        progress.update(1000)
        progress.update(2000)
    text = terminal.getvalue()
    assert "skvi: reading" in text and "3000" in text and "rows" in text
    stream = io.StringIO()
    with Progress(stream, delay=0.0) as progress:
        progress.start(total_bytes=100)
        progress.update(1000)
    assert stream.getvalue() == ""


def test_plot_writes_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    import matplotlib.image

    out = tmp_path / "fit.png"
    status, text, err = run(capsys, "fit", "--plot", out, "--prior-std", 10)
    assert status == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(out).shape
    assert width > 600 and height > 400
    assert re.search(rf"^plot\s+{re.escape(str(out))}$", text, re.M)


def test_plot_panels_for_a_short_fit_and_data_priors():
    """Issue 18: after 2 iterations the distance panel showed one dot under
    ticks 0.945-1.050; the data-mean line hid under the prior-mean line."""
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    from matplotlib.figure import Figure

    from skvi._cli import plot

    figure = Figure()
    plot._elbo_panels(figure, np.array([-10.0, -9.5]))
    for ax in figure.axes:
        assert ax.get_xlim() == (0.5, 2.5)
        assert [t for t in ax.get_xticks() if 0.5 <= t <= 2.5] == [1.0, 2.0]
    column = {
        "name": "a",
        "posterior_mean": 1.0,
        "posterior_std": 0.1,
        "credible_interval": [0.8, 1.2],
        "data_mean": 1.0,
        "prior": {"prior_mean": 1.0},
    }
    ax = Figure().subplots()
    plot._posterior_panel(ax, column, 0.95)
    assert [line.get_label() for line in ax.get_lines()[1:]] == [
        "exact credible interval",
        "data mean = prior mean (from the data)",
    ]
    column["prior"]["prior_mean"] = 0.9
    ax = Figure().subplots()
    plot._posterior_panel(ax, column, 0.95)
    assert [line.get_label() for line in ax.get_lines()[1:]] == [
        "exact credible interval",
        "data mean",
        "prior mean",
    ]


# --------------------------------------------------------------------------
# Bad input: (id, file content or None for no file, arguments, words in the
# message). ``{file}`` in the arguments is the written file, ``{dir}`` its
# directory.
WIDE_HEADER = ",".join(f"c{i}" for i in range(20_001)) + "\n"
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
    ("long first row", "a,b\n1,2,3\n", ["fit", "{file}"], ["line 2", "3 fields"]),
    (
        "long row, column subset",
        "a,b,c\n1,2,3\n4,5,6,7\n",
        ["fit", "{file}", "--columns", "a"],
        ["line 3", "4 fields", "3 columns"],
    ),
    (
        "empty field",
        "a,b\n1,2\n3,\n",
        ["fit", "{file}"],
        ["line 3", "missing value", "--missing drop"],
    ),
    ("NA", "a,b\n1,NA\n", ["fit", "{file}"], ["line 2", "'b'", "missing value"]),
    ("nan", "a,b\n1,2\nnan,4\n", ["fit", "{file}"], ["line 3", "'a'", "missing"]),
    ("inf", "a,b\n1,2\n3,-inf\n", ["fit", "{file}"], ["line 3", "infinite"]),
    ("not UTF-8", b"\xff\xfe\x00\x01", ["fit", "{file}"], ["UTF-8", "line 1"]),
    (
        "bad UTF-8 in the data",
        b"a,b\n1,2\n3,4\n5,\xff\n",
        ["fit", "{file}"],
        ["line 4", "UTF-8"],
    ),
    (
        "thousands separator",
        'a,b\n1,2\n"1,000",3\n',
        ["fit", "{file}"],
        ["line 3", "'1,000'", "thousands"],
    ),
    (
        "bad value after blank lines, in a later chunk",
        "a,b\n1,2\n  \n\n3,4\n5,6\n7,x\n",
        ["fit", "{file}", "--chunk-rows", "2"],
        ["line 7", "'x'"],
    ),
    (
        "ragged row after a quoted line break",
        'name,a\n"two\nlines",1\nx,2,3\n',
        ["fit", "{file}", "--columns", "a"],
        ["line 4", "3 fields"],
    ),
    (
        "a field beyond the csv module's limit",
        'a,b\n1,2\n1,"' + "x" * 200_000 + '"\n',
        ["fit", "{file}"],
        ["line 3", "field larger than field limit"],
    ),
    (
        "a bad byte after a bad value",
        b"a,b\n1,x\n" + b"1,2\n" * 3000 + b"\xff,1\n",
        ["fit", "{file}"],
        ["line 3003", "UTF-8"],
    ),
    ("too many columns", WIDE_HEADER + "1\n", ["fit", "{file}"], ["20,001 columns"]),
    (
        "a data line of 600,000 fields",
        "a,b\n1,2\n" + "1," * 600_000 + "1\n",
        ["fit", "{file}"],
        ["line 3", "longer than 1,048,576 bytes"],
    ),
    ("zip of two files", None, ["fit", "{dir}/two.zip"], ["exactly one file"]),
    ("zip on standard input", None, ["fit", "-"], ["zip archive", "unzip -p"]),
    (
        "data on standard input, no FILE",
        "a,b\n1,2\n",
        ["fit"],
        ["standard input", "'-'", "skvi fit -"],
    ),
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
    ("max-iter 0", None, ["fit", "--max-iter", "0"], ["--max-iter", ">= 1"]),
    ("tol negative", None, ["fit", "--tol", "-1"], ["--tol", ">= 0"]),
    (
        "degrees of freedom without --robust",
        None,
        ["fit", "--degrees-of-freedom", "3"],
        ["--robust"],
    ),
    (
        "fit degrees of freedom without --robust",
        None,
        ["fit", "--fit-degrees-of-freedom"],
        ["--robust"],
    ),
    (
        "degrees of freedom 0",
        None,
        ["fit", "--robust", "--degrees-of-freedom", "0"],
        ["--degrees-of-freedom", "> 0"],
    ),
    (
        "diagnose with --robust without arviz-stats",
        None,
        ["fit", "--robust", "--diagnose"],
        ["--robust", "arviz-stats", 'pip install "skvi[diagnostics]"'],
    ),
    ("level 1", None, ["fit", "--level", "1"], ["--level", "between 0 and 1"]),
    ("chunk-rows not int", None, ["fit", "--chunk-rows", "1.5"], ["--chunk-rows"]),
    (
        "chunk-rows huge",
        None,
        ["fit", "--chunk-rows", "99999999999999999999"],
        ["--chunk-rows", "1,000,000,000"],
    ),
    ("unknown option", None, ["fit", "--bogus"], ["--bogus", "'skvi fit --help'"]),
    ("no command", None, [], ["COMMAND"]),
    ("two files", None, ["fit", "a.csv", "b.csv"], ["b.csv", "'skvi fit --help'"]),
    ("plot format", None, ["fit", "--plot", "{dir}/fit.xyz"], [".png"]),
    ("plot directory", None, ["fit", "--plot", "{dir}/no/fit.png"], ["does not exist"]),
    (
        "plot without matplotlib",
        None,
        ["fit", "--plot", "{dir}/fit.png"],
        ["matplotlib", 'pip install "skvi[plot]"'],
    ),
]


def _documented_messages():
    """docs/errors.md's command-line table: case -> message quoted there."""
    text = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    section = text.partition("## The command line")[2].split("\n## ")[0]
    row = re.compile(r"^\| (.+?) \| `skvi .*?` \| .*? \| `(skvi: error: .*)` \|$", re.M)
    return dict(row.findall(section))


DOCUMENTED = _documented_messages()


def test_every_bad_input_is_documented():
    assert sorted(DOCUMENTED) == sorted(case[0] for case in BAD_INPUTS)


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line(case, tmp_path, capsys, monkeypatch):
    name, content, args, words = case
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", "a\n1\n")
        archive.writestr("b.csv", "b\n2\n")
    if name == "plot without matplotlib":
        # None in sys.modules makes ``import matplotlib`` raise ImportError.
        monkeypatch.setitem(sys.modules, "matplotlib", None)
    if name == "diagnose with --robust without arviz-stats":
        monkeypatch.setitem(sys.modules, "arviz_stats", None)
    # Standard input as a shell gives it: `skvi fit -  < two.zip`, `cat f | skvi fit`.
    stdin = {
        "zip on standard input": tmp_path / "two.zip",
        "data on standard input, no FILE": path,
    }.get(name)
    with contextlib.ExitStack() as stack:
        if stdin is not None:
            opened = stack.enter_context(open(stdin, encoding="utf-8"))
            monkeypatch.setattr(sys, "stdin", opened)
        arguments = [a.format(file=path, dir=tmp_path) for a in args]
        status, out, err = run(capsys, *arguments)
    assert status == 2, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("skvi: error: ")
    for word in words:
        assert word in lines[0]
    # The message that docs/errors.md quotes.
    documented = (
        DOCUMENTED[name].replace("FILE", str(path)).replace("DIR", str(tmp_path))
    )
    if documented.endswith("…"):
        assert lines[0].startswith(documented[:-1])
    else:
        assert lines[0] == documented


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["--version"]])
def test_help_and_version(capsys, args):
    status, out, err = run(capsys, *args)
    assert status == 0 and err == ""
    assert "usage: skvi" in out or out.startswith("skvi ")


# --------------------------------------------------------------------------
# Real processes: start-up imports, the console script, signals, the pipe.


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [SKVI_PARENT, *filter(None, [env.get("PYTHONPATH")])]
    )
    env["MPLBACKEND"] = "Agg"
    return env


def run_skvi(*args, **kwargs):
    """Run ``python -m skvi ARGS`` and return the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "skvi", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        **kwargs,
    )


def test_help_and_version_import_nothing_heavy():
    code = (
        "import sys\n"
        "import skvi\n"
        "assert 'sklearn' not in sys.modules\n"
        "assert 'VariationalNormalEstimator' in dir(skvi)\n"
        "from skvi._cli import main\n"
        "for argv in (['--version'], ['--help'], ['fit', '--help']):\n"
        "    assert main(argv) == 0\n"
        "heavy = {'sklearn', 'scipy', 'pandas', 'numpy', 'matplotlib'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env()
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines()[-1] == "[]"


def test_console_script_and_exit_codes():
    script = shutil.which("skvi", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the skvi console script is not installed next to python")
    process = subprocess.run(
        [script, "--version"], capture_output=True, text=True, env=_env()
    )
    assert process.returncode == 0
    assert process.stdout.strip() == f"skvi {skvi.__version__}"
    bad = subprocess.run(
        [script, "fit", "--bogus"], capture_output=True, text=True, env=_env()
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("skvi: error: unrecognized arguments: --bogus")


def test_ctrl_c_ends_quietly_with_130():
    # Reading a standard input that never ends: the process waits in the
    # program, where Ctrl-C arrives.
    process = subprocess.Popen(
        [sys.executable, "-m", "skvi", "fit", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        # A terminal's Ctrl-C, whatever an earlier test (dask's cluster) left
        # this process's SIGINT disposition as: children inherit an ignore.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    process.stdin.write(b"a,b\n1,2\n")
    process.stdin.flush()
    # Ctrl-C once the program runs: it has loaded pandas, which only skvi fit
    # imports (or, where /proc is missing, after a while).
    maps = Path(f"/proc/{process.pid}/maps")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not maps.exists():
            time.sleep(3)
            break
        if "pandas" in maps.read_text():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    process.stdin.close()
    assert process.returncode == 130, err
    assert err == b"" and out == b""


def test_closed_pipe_ends_quietly_with_141(tmp_path):
    """`skvi fit | head -1`, a small output to a reader already gone, and
    `skvi segment --labels /dev/stdout | head -1`."""
    path = write_csv(
        tmp_path / "wide.csv", np.ones((3, 2000)), [f"c{i}" for i in range(2000)]
    )

    def start(*args):
        return subprocess.Popen(
            [sys.executable, "-m", "skvi", *args],
            # No data waiting on stdin: the default data are fitted.
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
        )

    # At once: a table larger than a pipe's buffer, read one line; a small
    # table whose reader closes before it is written; and labels larger than
    # a pipe's buffer written to /dev/stdout (issue 18: they exited 2).
    rows = np.random.default_rng(0).normal(size=(6000, 2))
    many = write_csv(tmp_path / "many.csv", rows, ["x", "y"])
    large, small = start("fit", str(path)), start("fit", "--columns", "age")
    labels = start(
        "segment", str(many), "--components", "2", "--n-init", "1",
        "--max-iter", "20", "--labels", "/dev/stdout",
    )  # fmt: skip
    small.stdout.close()
    assert large.stdout.readline().startswith(b"Data:")
    large.stdout.close()
    assert labels.stdout.readline() == b"row,segment,probability\n"
    labels.stdout.close()
    for process in (large, small, labels):
        with process.stderr:
            err = process.stderr.read()
        assert process.wait(timeout=60) == 141, err
        assert err == b""


def test_closed_pipe_in_process(capsys, monkeypatch):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["fit", "--columns", "age"]) == 141


def test_ctrl_c_inside_the_parser_is_still_an_interruption(
    capsys, tmp_path, monkeypatch
):
    """pandas' C parser turns a KeyboardInterrupt raised while it reads into a
    ParserError; the program still ends as interrupted, quietly."""
    from skvi._cli import read

    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n3,x\n")
    monkeypatch.setattr(read, "interrupted", lambda: True)
    assert run(capsys, "fit", path) == (130, "", "")


@pytest.mark.parametrize("command", ["fit", "segment"])
def test_ctrl_c_a_library_swallowed_is_still_an_interruption(
    capsys, tmp_path, monkeypatch, command
):
    """A library may catch Ctrl-C's KeyboardInterrupt and carry on (numpy turns
    an interrupted import of its C extensions into ImportError, which pandas'
    optional imports take for a missing package): the program remembers the
    Ctrl-C, writes nothing and ends with 130."""
    from skvi._cli import common

    path = tmp_path / "data.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(40)))
    labels = tmp_path / "labels.csv"
    enter = common.catch_interrupts.__enter__

    def pressed_and_swallowed(self):
        entered = enter(self)
        common._interrupted.set()  # as _on_interrupt does, before a library
        return entered

    monkeypatch.setattr(common.catch_interrupts, "__enter__", pressed_and_swallowed)
    extra = ["--labels", str(labels)] if command == "segment" else []
    assert run(capsys, command, path, *extra) == (130, "", "")
    assert not labels.exists()


def test_catch_interrupts_remembers_ctrl_c_and_restores_the_handler():
    from skvi._cli.common import catch_interrupts, interrupted

    # Python's own handler, as the program starts with (an earlier test, such
    # as dask's cluster, may have left another one in this process).
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), catch_interrupts():
            assert not interrupted()
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs at the next bytecode
        assert interrupted()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)


def test_readme_example_is_the_programs_output(capsys):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("```console\n$ skvi fit --columns age,bmi,bp,s1\n")[1]
    expected = block.split("```")[0]
    status, out, _ = run(capsys, "fit", "--columns", "age,bmi,bp,s1")
    assert status == 0
    assert out == expected


def test_diagnose_adds_the_exact_sd_ratio_and_kl(capsys, tmp_path):
    """--diagnose: each column's exact sd of mu (against the independent
    quadrature of tests/_reference.py), q's sd ratio and KL(q || exact)."""
    from tests._reference import exact_posterior as reference

    X = np.random.default_rng(5).normal([3.0, -1.0], [1.0, 0.5], size=(8, 2))
    path = write_csv(tmp_path / "small.csv", X, ["a", "b"])
    options = ["--prior-mean", "0", "--prior-std", "0.5"]
    result = run_json(capsys, "fit", path, *options, "--diagnose")
    for j, column in enumerate(result["columns"]):
        exact = reference(X[:, j], **column["prior"])
        assert column["exact_std"] == pytest.approx(exact.std, rel=1e-6)
        assert column["std_ratio"] == pytest.approx(
            column["posterior_std"] / exact.std, rel=1e-6
        )
        # Small data in conflict with the prior: q is too narrow.
        assert column["std_ratio"] < 0.97
        assert column["kl"] > 0
    # The interval is the exact one; q's, narrower, is beside it.
    assert result["credible_interval_method"] == "exact"
    for j, column in enumerate(result["columns"]):
        estimator = VariationalNormalEstimator(**column["prior"]).fit(X[:, [j]])
        exact = estimator.credible_interval(0.95, method="exact")
        q = estimator.credible_interval(0.95, method="variational")
        assert_allclose(column["credible_interval"], np.ravel(exact), rtol=1e-12)
        assert_allclose(column["variational_interval"], np.ravel(q), rtol=1e-12)
        exact_width = np.diff(column["credible_interval"])[0]
        assert np.diff(column["variational_interval"])[0] < 0.97 * exact_width
    _, out, _ = run(capsys, "fit", path, *options, "--diagnose")
    header = next(line for line in out.splitlines() if line.startswith("column"))
    assert "sd / exact sd" in header and "KL(q||exact)" in header
    assert "95% credible interval (exact)" in header
    assert "95% interval of q" in header
    row = next(line for line in out.splitlines() if line.startswith("a "))
    shown = re.findall(r"\[\s*(\S+),\s*(\S+)\]", row)
    assert len(shown) == 2
    q_first = result["columns"][0]["variational_interval"]
    assert _close_to_shown(shown[1][0], q_first[0])
    assert _close_to_shown(shown[1][1], q_first[1])
    # Without the option, neither the columns nor the keys.
    plain = run_json(capsys, "fit", path, *options)
    assert "std_ratio" not in plain["columns"][0]
    assert "variational_interval" not in plain["columns"][0]


def test_robust_diagnose_adds_psis_khat(capsys, tmp_path):
    """--robust --diagnose: PSIS from q, as psis_diagnostic gives it (seed 0).

    Student-t data with a few gross outliers: k-hat good where nu fits the
    data; with nu = 0.05, far too heavy a tail, q is poor and a note says so.
    """
    pytest.importorskip("arviz_stats", reason="PSIS needs the diagnostics extra")
    from skvi import VariationalStudentEstimator
    from skvi.diagnostics import psis_diagnostic

    rng = np.random.default_rng(6)
    X = 50.0 + 10.0 * rng.standard_t(10.0, size=(1000, 2))
    X[:5, 0] = 600.0
    path = write_csv(tmp_path / "spend.csv", X, ["spend", "visits"])
    result = run_json(capsys, "fit", path, "--robust", "--diagnose")
    check = psis_diagnostic(VariationalStudentEstimator().fit(X), X, random_state=0)
    for j, column in enumerate(result["columns"]):
        assert column["khat"] == pytest.approx(check.khat[j], rel=1e-9)
        assert column["psis_reading"] == check.reading[j] == "good"
        assert column["psis_std"] == pytest.approx(check.std["mu"][j], rel=1e-9)
        assert column["psis_std_ratio"] == pytest.approx(
            column["posterior_std"] / column["psis_std"], rel=1e-12
        )
    assert result["notes"] == []
    _, out, _ = run(capsys, "fit", path, "--robust", "--diagnose")
    header = next(line for line in out.splitlines() if line.startswith("column"))
    # nu, PSIS's three columns, then q's interval beside the exact one.
    expected = "nu k-hat PSIS reading sd / PSIS sd 95% interval of q".split()
    assert header.split()[-12:] == expected
    for column in result["columns"]:
        lower, upper = column["variational_interval"]
        assert lower < column["posterior_mean"] < upper
    options = ["--robust", "--diagnose", "--degrees-of-freedom", "0.05"]
    status, out, err = run(capsys, "fit", path, *options, "--json")
    assert status == 0 and err == ""
    poor = json.loads(out)  # strict JSON: no NaN nor Infinity
    readings = [column["psis_reading"] for column in poor["columns"]]
    assert "do not trust" in readings
    assert any("PSIS does not trust q" in note for note in poor["notes"])
