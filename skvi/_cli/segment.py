"""``skvi segment``: segment a CSV file's rows with VariationalGaussianMixture."""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import json
import os
import sys
import warnings

from .common import (
    CREDIBLE_LEVEL,
    DEFAULT_CHUNK_ROWS,
    STDIN,
    STDOUT,
    CommandLineError,
    add_missing_option,
    check_estimator_options,
    column_list,
    positive_int,
    probability,
    raise_if_interrupted,
    seed,
)

_DESCRIPTION = """\
Fits a Bayesian Gaussian mixture (skvi.VariationalGaussianMixture, scikit-learn's
BayesianGaussianMixture model, by coordinate-ascent variational inference) to
the rows of a CSV file, with up to K segments: the Dirichlet-process prior
switches off the segments the data do not support. The columns are
standardised before the fit and reported in their own units. For each segment
it prints its weight, its size (the rows assigned to it) and, per column, the
posterior mean of the segment's mean with its credible interval (the Student-t
marginal of q). Segments of weight below 1%, or that no row is assigned to,
are switched off: counted, not shown. The ELBO reported is that of the
standardised columns.

FILE is read as by 'skvi fit' (a header row, one number per field, "-" for
standard input, compressed files as they are), into memory: the fit visits
every row at each iteration. Without FILE it segments scikit-learn's diabetes
data (load_diabetes(scaled=False): 442 patients, 10 columns).
"""

_EPILOG = """\
examples:
  skvi segment --components 4                   segment the diabetes data
  skvi segment customers.csv --components 8 --columns recency,frequency,value
  skvi segment customers.csv --labels segments.csv --plot segments.png
  skvi segment customers.csv --labels - > segments.csv   the labels only
  skvi segment customers.csv --json > segments.json

exit status: 0 done; 2 bad input, with one line on stderr; 74 the output
cannot be written (a full disk), with one line on stderr; 130 interrupted;
141 the reader of the output (or of --labels /dev/stdout) closed the pipe.
"""

# Segments below this weight, or with no row, are switched off: counted, not
# reported.
MIN_WEIGHT = 0.01
# The estimator's defaults, written here so that --help imports nothing heavy.
ESTIMATOR_DEFAULTS = {
    "n_components": 8,
    "covariance_type": "full",
    "max_iter": 500,
    "tol": 1e-6,
    "n_init": 3,
    "random_state": 0,
}


def add_parser(commands):
    """Add the ``segment`` subcommand to ``commands`` and return its parser."""
    segment = commands.add_parser(
        "segment",
        help="find segments of the rows of a CSV file (or the example data)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    segment.add_argument(
        "file",
        nargs="?",
        metavar="FILE.csv",
        help="CSV file with a header row, or - for standard input; default: "
        "scikit-learn's diabetes data",
    )
    segment.add_argument(
        "--components",
        dest="n_components",
        type=positive_int,
        default=ESTIMATOR_DEFAULTS["n_components"],
        metavar="K",
        help="the most segments to consider (default: %(default)s)",
    )
    segment.add_argument(
        "--columns",
        type=column_list,
        metavar="A,B",
        help="comma-separated names of the columns to use (default: all)",
    )
    segment.add_argument(
        "--covariance-type",
        choices=["full", "tied", "diag", "spherical"],
        default=ESTIMATOR_DEFAULTS["covariance_type"],
        help="shape of each segment's spread (default: %(default)s)",
    )
    for name, parse, meaning in [
        ("max_iter", int, "maximum number of iterations per start"),
        ("tol", float, "stop when the ELBO changes by at most TOL"),
        ("n_init", int, "starts; the one with the highest ELBO is kept"),
        ("random_state", seed, "seed of the starts"),
    ]:
        segment.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=parse,
            default=ESTIMATOR_DEFAULTS[name],
            metavar=name.split("_")[-1].upper(),
            help=f"{meaning} (default: %(default)s)",
        )
    segment.add_argument(
        "--level",
        type=probability,
        default=CREDIBLE_LEVEL,
        metavar="P",
        help="probability of the credible intervals (default: %(default)s)",
    )
    segment.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=DEFAULT_CHUNK_ROWS,
        metavar="N",
        help="rows parsed at a time (default: %(default)s)",
    )
    segment.add_argument(
        "--labels",
        metavar="OUT.csv",
        help="write each row's segment and its probability to OUT.csv (- for "
        "standard output, which then holds the labels only; the row numbers "
        "count data rows from 0, dropped rows included)",
    )
    add_missing_option(segment)
    segment.add_argument(
        "--json", action="store_true", help="print the result as JSON, for programs"
    )
    segment.add_argument(
        "--plot",
        metavar="OUT.png",
        help="save a figure of the segments (first two columns) and the ELBO "
        '(needs matplotlib: pip install "skvi[plot]")',
    )
    return segment


def _read_all(source):
    """Every chunk of ``source``, stacked."""
    import numpy as np

    from . import read

    chunks = list(source.chunks)
    source.rows_read = sum(chunk.shape[0] for chunk in chunks)
    if source.rows_read == 0:
        where = read.describe(source.path)
        raise CommandLineError(f"{where} has a header row but no data rows")
    return np.concatenate(chunks)


def _mean_intervals(estimator, level, centre, scale):
    """Credible intervals of each segment's mean, per column, in data units.

    q(mu_k) = Student-t(m_k, W_k^-1 / (beta_k (nu_k - d + 1)), nu_k - d + 1)
    (Bishop 2006, eq. 10.81 and B.68-B.72), marginal per column.
    """
    import numpy as np
    from scipy import stats

    K, d = estimator.means_.shape
    dof = np.broadcast_to(estimator.degrees_of_freedom_, (K,))
    covariances = {
        "full": lambda c: np.diagonal(c, axis1=1, axis2=2),
        "tied": lambda c: np.broadcast_to(np.diagonal(c), (K, d)),
        "diag": lambda c: c,
        "spherical": lambda c: np.repeat(c[:, None], d, axis=1),
    }[estimator.covariance_type](estimator.covariances_)
    t_dof = dof - d + 1.0
    # W^-1 = covariances_ * nu (scikit-learn's normalisation of covariances_).
    t_scale = np.sqrt(
        covariances * dof[:, None] / (estimator.mean_precision_ * t_dof)[:, None]
    )
    # The upper quantile from the tail (isf): 1 - (1 - level) / 2 rounds to 1
    # for levels within 1e-16 of 1, where ppf is infinite.
    half_width = t_scale * stats.t.isf((1.0 - level) / 2.0, t_dof[:, None])
    return (
        _in_data_units(estimator.means_ - half_width, centre, scale),
        _in_data_units(estimator.means_ + half_width, centre, scale),
    )


def _standardise(X):
    """``(Z, centre, scale)``: X's columns standardised, without overflow.

    Each column is first divided by the power of two at or below its largest
    |x| (exact), so that its mean and sd are those of values within +-2: data
    at 1e300 do not overflow the squares, data at 1e-300 do not underflow
    them. ``centre`` and ``scale`` are pairs ``(in those units, the power of
    two)``; a constant column (sd within rounding of zero) gets scale 1.
    """
    import numpy as np

    largest = np.abs(X).max(axis=0)
    magnitude = np.where(largest > 0, np.ldexp(1.0, np.frexp(largest)[1] - 1), 1.0)
    Y = X / magnitude
    centre = Y.mean(axis=0)
    spread = Y.std(axis=0)
    constant = spread <= 4.0 * np.finfo(np.float64).eps * np.abs(centre)
    spread[constant] = 1.0
    return (Y - centre) / spread, (centre, magnitude), (spread, magnitude)


def _in_data_units(values, centre, scale):
    """Standardised values back in the data's units: ``(z sd + mean) 2**e``."""
    import numpy as np

    (mean, magnitude), (spread, _) = centre, scale
    with np.errstate(over="ignore"):
        return (values * spread + mean) * magnitude


def result(source, X, estimator, labels, probabilities, args, centre, scale):
    """The segments as a dict (the JSON output)."""
    import numpy as np

    lower, upper = _mean_intervals(estimator, args.level, centre, scale)
    means = _in_data_units(estimator.means_, centre, scale)
    sizes = np.bincount(labels, minlength=estimator.n_components)
    order = np.argsort(-estimator.weights_)
    # A component that no row is assigned to segments nothing, whatever its
    # weight (the prior's share of it).
    active = [
        int(k) for k in order if estimator.weights_[k] >= MIN_WEIGHT and sizes[k] > 0
    ]
    return {
        "data": source.description,
        "rows_read": int(source.rows_read),
        "rows_dropped": source.rows_dropped,
        "missing": args.missing,
        "columns": list(source.columns),
        "components": estimator.n_components,
        "covariance_type": estimator.covariance_type,
        "credible_level": args.level,
        "segments": [
            {
                "segment": number,
                "weight": float(estimator.weights_[k]),
                "size": int(sizes[k]),
                "mean": dict(zip(source.columns, means[k].tolist(), strict=True)),
                "credible_interval": {
                    name: [float(lo), float(hi)]
                    for name, lo, hi in zip(
                        source.columns, lower[k], upper[k], strict=True
                    )
                },
            }
            for number, k in enumerate(active, start=1)
        ],
        "switched_off": estimator.n_components - len(active),
        # The ELBO of the fit, to the standardised columns.
        "elbo": float(estimator.elbo_),
        "elbo_of": "the standardised columns",
        "n_iter": int(estimator.n_iter_),
        "converged": bool(estimator.converged_),
        "max_iter": args.max_iter,
        "notes": _notes(estimator, args),
        "labels": args.labels,
        "plot": args.plot,
        # Segment numbers for each component (0: switched off), for labels.
        "_numbers": {k: number for number, k in enumerate(active, start=1)},
    }


def _notes(estimator, args):
    """Advice on the fit, the same in the table and in JSON."""
    if estimator.converged_:
        return []
    return [
        f"The fit did not converge in --max-iter {args.max_iter} iterations "
        f"(--tol {args.tol:g}): the segments may still move. Try --max-iter "
        f"{4 * args.max_iter}, fewer --components, or --covariance-type diag; "
        "data with no cluster structure keep the iterations creeping."
    ]


def format_table(result):
    """The segments as aligned text for people."""
    import textwrap

    from .report import dropped_rows, format_level, format_number

    level = format_level(result["credible_level"])
    lines = [
        f"Data: {result['data']}",
        f"{len(result['segments'])} segments of at most {result['components']} "
        f"({result['switched_off']} switched off: weight < {MIN_WEIGHT:.0%} or "
        f"no rows); covariance {result['covariance_type']}",
    ]
    width = max(len(name) for name in result["columns"] + ["column"])
    for segment in result["segments"]:
        cells = []
        for name in result["columns"]:
            lo, hi = segment["credible_interval"][name]
            # The digits that the width of the interval leaves meaningful.
            places = 2 - _floor_log10(hi - lo)
            cells.append(
                (
                    name,
                    format_number(segment["mean"][name], places),
                    f"[{format_number(lo, places)}, {format_number(hi, places)}]",
                )
            )
        mean_width = max(len(mean) for _, mean, _ in cells + [("", "mean", "")])
        lines += [
            "",
            f"segment {segment['segment']}: weight {segment['weight']:.3f}, "
            f"size {segment['size']:,}",
            f"  {'column'.ljust(width)}  {'mean'.rjust(mean_width)}  "
            f"{level} credible interval",
        ]
        lines += [
            f"  {name.ljust(width)}  {mean.rjust(mean_width)}  {interval}"
            for name, mean, interval in cells
        ]
    converged = (
        "yes" if result["converged"] else f"no: max_iter={result['max_iter']} reached"
    )
    footer = [
        ("ELBO", f"{result['elbo']:.6f} (of the standardised columns)"),
        ("iterations", str(result["n_iter"])),
        ("converged", converged),
        ("rows read", f"{result['rows_read']:,}"),
    ]
    if result["missing"] == "drop":
        footer.append(("rows dropped", dropped_rows(result["rows_dropped"])))
    if result["labels"]:
        footer.append(("labels", result["labels"]))
    if result["plot"]:
        footer.append(("plot", result["plot"]))
    width = max(len(label) for label, _ in footer)
    lines.append("")
    lines += [f"{label.ljust(width)}  {value}" for label, value in footer]
    for note in result["notes"]:
        lines += ["", textwrap.fill(f"Note: {note}", width=79)]
    return "\n".join(lines)


def _floor_log10(value):
    import math

    return math.floor(math.log10(value)) if 0 < value < math.inf else 0


def _write_labels(path, rows, segments, probabilities):
    """One line per row: its number, segment (0: switched off) and probability.

    ``rows`` are the data rows' numbers (0 for the first), which skip the
    rows that ``--missing drop`` left out. ``-`` writes them to standard
    output; a reader that has gone (``--labels /dev/stdout | head``) ends the
    program quietly, as on standard output.
    """
    lines = (
        f"{row},{number},{p:.6g}\n"
        for row, number, p in zip(rows, segments, probabilities, strict=True)
    )
    if path == STDOUT:
        sys.stdout.write("row,segment,probability\n")
        sys.stdout.writelines(lines)
        return
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write("row,segment,probability\n")
            out.writelines(lines)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise CommandLineError(f"cannot write the labels to {path}: {exc}") from None


def _check_outputs(args):
    """Refuse output paths that would overwrite the input, or clash."""
    outputs = {"--labels": args.labels, "--plot": args.plot}
    if args.labels == STDOUT and args.json:
        raise CommandLineError(
            "--labels - writes the labels to standard output, where --json "
            "writes the result: write the labels to a file instead"
        )
    if args.plot == STDOUT:
        raise CommandLineError("--plot needs a file name, not - (standard output)")
    for option, path in outputs.items():
        if not path or path == STDOUT:
            continue
        if args.file and args.file != STDIN and _same_file(path, args.file):
            raise CommandLineError(
                f"{option} {path} is the input file: writing it would overwrite "
                "the data; choose another file name"
            )
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            what = "the labels" if option == "--labels" else "the plot"
            raise CommandLineError(f"cannot write {what} to {path}: no such directory")
    if args.labels and args.plot and args.labels != STDOUT:
        if os.path.abspath(args.labels) == os.path.abspath(args.plot):
            raise CommandLineError("--labels and --plot name the same file")


def _same_file(path, other):
    """Whether ``path`` is ``other`` (the same file, or the same name)."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return os.path.abspath(path) == os.path.abspath(other)


def _plot(X, segment, estimator, result, path):
    """Rows on the first two columns coloured by segment; the ELBO trace."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax_rows, ax_elbo) = plt.subplots(1, 2, figsize=(11, 4.5))
    columns = result["columns"]
    y = 1 if X.shape[1] > 1 else 0
    for number in sorted(set(segment)):
        rows = segment == number
        ax_rows.scatter(
            X[rows, 0],
            X[rows, y],
            s=6,
            alpha=0.5,
            color="0.7" if number == 0 else plt.get_cmap("tab10")(number - 1),
            label=f"segment {number}" if number else "switched off",
        )
    ax_rows.set(xlabel=columns[0], ylabel=columns[y], title="segments")
    ax_rows.legend(fontsize="small", markerscale=2)
    ax_elbo.plot(
        np.arange(1, len(estimator.elbo_history_) + 1), estimator.elbo_history_
    )
    ax_elbo.ticklabel_format(useOffset=False, style="plain", axis="y")
    ax_elbo.set(
        xlabel="iteration", ylabel="ELBO (nats)", title="ELBO of the kept start"
    )
    ax_elbo.grid(alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise CommandLineError(f"cannot save the plot to {path}: {exc}") from None
    finally:
        plt.close(fig)


def run(args):
    """The ``skvi segment`` command."""
    import numpy as np

    from .. import VariationalGaussianMixture
    from ..exceptions import ConvergenceWarning
    from . import plot, read
    from .report import json_safe

    options = {
        name: getattr(args, name)
        for name in ("n_components", "max_iter", "tol", "n_init")
    }
    check_estimator_options(VariationalGaussianMixture, options, "skvi segment")
    _check_outputs(args)
    if args.plot:
        plot.check_target(args.plot)
    with read.Progress(sys.stderr) as progress:
        source = read.open_source(
            args.file,
            args.columns,
            args.chunk_rows,
            progress,
            missing=args.missing,
            prog="skvi segment",
        )
        X = _read_all(source)
    Z, centre, scale = _standardise(X)
    estimator = VariationalGaussianMixture(
        covariance_type=args.covariance_type,
        random_state=args.random_state,
        **options,
    )
    with warnings.catch_warnings():
        # The report says whether the fit converged.
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            estimator.fit(Z)
        except ValueError as exc:
            raise CommandLineError(str(exc)) from None
    probabilities = estimator.predict_proba(Z)
    labels = probabilities.argmax(axis=1)
    outcome = result(source, X, estimator, labels, probabilities, args, centre, scale)
    # Segment numbers by weight, 0 for the switched-off components.
    numbering = np.zeros(estimator.n_components, dtype=int)
    for k, number in outcome.pop("_numbers").items():
        numbering[k] = number
    segments = numbering[labels]
    raise_if_interrupted()
    if args.labels:
        rows = np.arange(source.rows_read + source.rows_dropped)
        if source.dropped:
            rows = np.delete(rows, np.concatenate(source.dropped))
        _write_labels(args.labels, rows, segments, probabilities.max(axis=1))
    if args.plot:
        _plot(X, segments, estimator, outcome, args.plot)
    if args.labels == STDOUT:
        return 0
    if args.json:
        print(json.dumps(json_safe(outcome), indent=2, allow_nan=False))
    else:
        print(format_table(outcome))
    return 0
