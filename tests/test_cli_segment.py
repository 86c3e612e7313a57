"""``skvi segment``: the command line's mixture, against the estimator itself."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

from skvi import VariationalGaussianMixture
from skvi._cli import main


def _customers(path, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[10.0, 40.0, 120.0], [30.0, 12.0, 45.0], [200.0, 2.0, 60.0]])
    labels = rng.choice(3, size=600, p=[0.2, 0.5, 0.3])
    X = centres[labels] + rng.normal(size=(600, 3)) * np.array([3.0, 2.0, 10.0])
    np.savetxt(path, X, delimiter=",", header="recency,frequency,value", comments="")
    return X, labels


def _run(capsys, *args):
    status = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_segments_a_file_like_the_estimator(tmp_path, capsys):
    X, truth = _customers(tmp_path / "customers.csv")
    labels_path = tmp_path / "labels.csv"
    status, out, err = _run(
        capsys,
        "segment",
        tmp_path / "customers.csv",
        "--components",
        6,
        "--json",
        "--labels",
        labels_path,
    )
    assert status == 0, err
    result = json.loads(out)
    # The same fit, by hand: standardised columns, the command's defaults.
    centre, scale = X.mean(0), X.std(0)
    est = VariationalGaussianMixture(
        n_components=6, max_iter=500, tol=1e-6, n_init=3, random_state=0
    ).fit((X - centre) / scale)
    kept = np.sort(est.weights_[est.weights_ >= 0.01])[::-1]
    assert_allclose([s["weight"] for s in result["segments"]], kept)
    assert len(result["segments"]) == 3
    assert result["switched_off"] == 3
    assert_allclose(result["elbo"], est.elbo_)
    # Credible intervals: the Student-t marginal of q(mu_k), in data units,
    # checked against draws from q (sample_posterior).
    k = int(np.argmax(est.weights_))
    _, means, _ = est.sample_posterior(20000, random_state=0)
    draws = means[:, k] * scale + centre
    biggest = result["segments"][0]
    for j, name in enumerate(["recency", "frequency", "value"]):
        lo, hi = biggest["credible_interval"][name]
        inside = np.mean((draws[:, j] > lo) & (draws[:, j] < hi))
        assert inside == pytest.approx(0.95, abs=0.01)
        assert lo < biggest["mean"][name] < hi
    # Labels: one line per row, segments numbered by weight, probabilities.
    lines = labels_path.read_text().splitlines()
    assert lines[0] == "row,segment,probability"
    rows = np.array([line.split(",") for line in lines[1:]], dtype=float)
    assert rows.shape == (600, 3)
    assert set(rows[:, 1].astype(int)) == {1, 2, 3}
    assert np.all((rows[:, 2] > 0) & (rows[:, 2] <= 1))
    agreement = stats.contingency.crosstab(truth, rows[:, 1].astype(int)).count
    assert np.all(agreement.max(axis=1) >= 0.95 * agreement.sum(axis=1))


def test_default_data_table_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "segments.png"
    status, out, err = _run(
        capsys,
        "segment",
        "--components",
        3,
        "--columns",
        "age,bmi",
        "--plot",
        figure,
    )
    assert status == 0, err
    assert out.startswith("Data: scikit-learn's diabetes data")
    assert "segment 1: weight" in out
    assert "95% credible interval" in out
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--components", "0"], "--components"),
        (["--columns", "nope"], "unknown column 'nope'"),
        (["--labels", "/no/such/dir/labels.csv"], "cannot write the labels"),
    ],
)
def test_bad_options_give_one_line(capsys, args, message):
    status, out, err = _run(capsys, "segment", *args)
    assert status == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_default_run_prints_no_warning(capsys):
    """`skvi segment` as a new user first runs it: 8 components on all ten
    diabetes columns, full covariances, reg_covar=1e-6, and nothing on stderr
    (it printed ELBODecreaseWarnings: reg_covar's M-step is not exact CAVI)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status, out, err = _run(capsys, "segment", "--json")
    assert status == 0 and err == ""
    assert len(json.loads(out)["segments"]) >= 2


def test_segments_with_no_rows_are_switched_off_not_listed():
    """A component with weight over 1% that no row is assigned to is no
    segment (issue 18: "weight 0.031, size 0")."""
    from argparse import Namespace

    from skvi._cli import segment
    from skvi._cli.read import DataSource

    centres = np.repeat([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], [70, 70, 60], axis=0)
    X = centres + np.random.default_rng(1).normal(size=(200, 2))
    est = VariationalGaussianMixture(n_components=3, random_state=0).fit(X)
    assert np.all(est.weights_ > 0.01)
    biggest = int(np.argmax(est.weights_))
    labels = np.full(200, biggest)  # every row in one component
    args = Namespace(level=0.95, labels=None, plot=None, missing="error")
    args.max_iter, args.tol = 500, 1e-6
    source = DataSource("data", ["x", "y"], iter(()), rows_read=200)
    # The data as they are: centre 0 and spread 1, no power-of-two magnitude.
    unit = (np.zeros(2), 1.0), (np.ones(2), 1.0)
    out = segment.result(source, X, est, labels, None, args, *unit)
    assert [s["size"] for s in out["segments"]] == [200]
    assert out["switched_off"] == 2
    assert "1 segments of at most 3 (2 switched off: weight < 1% or no rows)" in (
        segment.format_table(out)
    )


def test_not_converged_gives_a_hint(tmp_path, capsys):
    X = np.random.default_rng(2).uniform(size=(300, 2))
    np.savetxt(tmp_path / "flat.csv", X, delimiter=",", header="a,b", comments="")
    args = ["segment", tmp_path / "flat.csv", "--max-iter", 3, "--n-init", 1]
    status, out, err = _run(capsys, *args, "--json")
    assert status == 0, err
    result = json.loads(out)
    assert not result["converged"]
    [note] = result["notes"]
    assert "--max-iter 12" in note and "fewer --components" in note
    status, out, err = _run(capsys, *args)
    assert "converged   no: max_iter=3 reached" in out
    assert "Note: The fit did not converge in --max-iter 3" in out


def test_missing_drop_keeps_the_row_numbers_of_the_file(tmp_path, capsys):
    X, _ = _customers(tmp_path / "customers.csv")
    lines = (tmp_path / "customers.csv").read_text().splitlines()
    for row in (0, 7, 100):  # data row numbers; the header is line 0
        fields = lines[row + 1].split(",")
        fields[1] = "NA" if row else ""
        lines[row + 1] = ",".join(fields)
    (tmp_path / "gaps.csv").write_text("\n".join(lines) + "\n")
    labels = tmp_path / "labels.csv"
    status, out, err = _run(
        capsys, "segment", tmp_path / "gaps.csv", "--missing", "drop",
        "--components", 4, "--labels", labels, "--json",
    )  # fmt: skip
    assert status == 0, err
    result = json.loads(out)
    assert (result["rows_read"], result["rows_dropped"]) == (597, 3)
    rows = [int(line.split(",")[0]) for line in labels.read_text().splitlines()[1:]]
    assert rows == [r for r in range(600) if r not in (0, 7, 100)]


def _strict_json(text):
    def refuse(constant):
        raise ValueError(f"{constant} in JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("scale", [3.3e-302, 7.1e-160, 2.5e180, 4.4e302])
def test_segments_at_any_scale(tmp_path, capsys, scale):
    """Two clusters stay two at scales whose squares under- or overflow."""
    X, _ = _customers(tmp_path / "c.csv", seed=2)
    path = tmp_path / "scaled.csv"
    np.savetxt(
        path, X * scale, delimiter=",", header="recency,frequency,value", comments=""
    )
    status, out, err = _run(capsys, "segment", path, "--components", 5, "--json")
    assert status == 0 and err == ""
    result = _strict_json(out)
    assert len(result["segments"]) == 3
    biggest = result["segments"][0]
    assert biggest["credible_interval"]["recency"][0] < biggest["mean"]["recency"]
    assert biggest["mean"]["recency"] < biggest["credible_interval"]["recency"][1]
    # The same segments as at unit scale, in the data's units.
    status, unit_out, _ = _run(
        capsys, "segment", tmp_path / "c.csv", "--components", 5, "--json"
    )
    unit = _strict_json(unit_out)
    assert_allclose(
        [s["mean"]["value"] for s in result["segments"]],
        [s["mean"]["value"] * scale for s in unit["segments"]],
        rtol=1e-6,
    )


def test_labels_never_overwrite_the_input(tmp_path, capsys):
    _customers(tmp_path / "c.csv")
    before = (tmp_path / "c.csv").read_bytes()
    status, out, err = _run(
        capsys, "segment", tmp_path / "c.csv", "--labels", tmp_path / "c.csv"
    )
    assert status == 2 and out == ""
    assert "input file" in err and err.count("\n") == 1
    assert (tmp_path / "c.csv").read_bytes() == before


def test_labels_to_standard_output(tmp_path, capsys):
    _customers(tmp_path / "c.csv")
    status, out, err = _run(
        capsys, "segment", tmp_path / "c.csv", "--labels", "-", "--components", 4
    )
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "row,segment,probability" and len(lines) == 601
    assert not (tmp_path / "-").exists()


def test_a_level_next_to_one(tmp_path, capsys):
    _customers(tmp_path / "c.csv")
    for flag in ([], ["--json"]):
        status, out, err = _run(
            capsys,
            "segment",
            tmp_path / "c.csv",
            "--level",
            "0.9999999999999998",
            *flag,
        )
        assert status == 0 and err == ""
        if flag:
            interval = _strict_json(out)["segments"][0]["credible_interval"]["value"]
            assert np.all(np.isfinite(interval)) and interval[0] < interval[1]
        else:
            assert "99.99999999999998% credible interval" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"x,y\r1,2\r3,4\r", "carriage return"),
        (b'"x\n y",z\n1,2\n', "not closed"),
        (b'x,"y\n1,2\n', "not closed"),
        (b"\n\nx,y\n1,2\n3,4\n", "blank line"),
    ],
)
def test_malformed_headers_get_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    for command in ("segment", "fit"):
        status, out, err = _run(capsys, command, path)
        assert status == 2 and out == ""
        assert message in err and err.count("\n") == 1


def test_a_repeated_column_name_cannot_be_chosen(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("p,q,p\n1,2,3\n2,3,1\n3,1,2\n4,4,4\n")
    status, out, err = _run(capsys, "segment", path, "--columns", "p,q")
    assert status == 2 and "more than once" in err
    status, out, err = _run(capsys, "fit", path, "--json")
    assert status == 0
    assert [c["name"] for c in json.loads(out)["columns"]] == ["p", "q", "p (column 3)"]


@pytest.mark.parametrize("command", ["fit", "segment"])
def test_a_full_disk_gets_one_line(command):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "skvi", command, "--columns", "age,bmi"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert done.returncode == 74
    assert done.stderr.count("\n") == 1 and "cannot write the output" in done.stderr


def _run_quietly(*args):
    """``(status, stdout, stderr)`` of the program in this process."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(arg) for arg in args])
    return status, out.getvalue(), err.getvalue()


@settings(max_examples=25, deadline=None)
@given(
    exponent=st.floats(-300, 300),
    far=st.one_of(st.none(), st.floats(0, 300)),
    command=st.sampled_from(
        [
            ["segment", "--components", "3", "--json"],
            ["segment", "--components", "3", "--covariance-type", "diag", "--json"],
            ["segment", "--components", "2", "--covariance-type", "spherical"],
            ["segment", "--components", "2", "--covariance-type", "tied"],
            ["fit", "--json", "--diagnose"],
            ["fit", "--diagnose"],
        ]
    ),
)
def test_any_scale_and_far_rows_give_valid_output_or_one_line(exponent, far, command):
    """Data from 1e-300 to 1e300, a far row or not: strict JSON, or one error line."""
    import tempfile

    rng = np.random.default_rng(abs(int(exponent * 1000)) % 2**32)
    X = np.concatenate([rng.normal(-3, 1, (30, 2)), rng.normal(3, 1, (30, 2))])
    X = X * 10.0**exponent
    if far is not None:
        X[0, 0] = 10.0 ** min(exponent + far, 307.0)
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/data.csv"
        np.savetxt(path, X, delimiter=",", header="x,y", comments="", fmt="%.17g")
        status, out, err = _run_quietly(command[0], path, *command[1:])
    if status == 0:
        assert err == ""
        if "--json" in command:
            _strict_json(out)
        else:
            assert "nan" not in out.lower().replace("n/a", "")
    else:
        assert status == 2 and out == ""
        assert err.startswith("skvi: error: ") and err.count("\n") == 1


def test_messages_name_the_place_and_the_option(tmp_path, monkeypatch):
    """Standard input by name and by its chunk's rows; an open quote; the seed."""
    import io
    import sys

    bad = "p,q\n" + "".join(f"{i},{i % 5}\n" for i in range(7000)).replace(
        "6100,0", "6100,zz"
    )
    for command in ("fit", "segment"):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(bad.encode())))
        status, out, err = _run_quietly(command, "-", "--chunk-rows", 2500)
        assert status == 2 and "standard input" in err
        assert "rows 5,001 to 7,500" in err
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"p,q\n")))
        status, out, err = _run_quietly(command, "-")
        assert status == 2 and "standard input has a header row" in err
    path = tmp_path / "open.csv"
    path.write_text('p,q\n1,2\n"3,4\n5,6\n7,8\n')
    status, out, err = _run_quietly("segment", path)
    assert status == 2 and "line 3: a quote opened on this line" in err
    status, out, err = _run_quietly("segment", "--random-state", "-3")
    assert status == 2 and "--random-state: must be an integer from 0" in err
