"""The ``skvi`` command-line program: fit a CSV file's columns from the shell."""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import csv
import io
import itertools
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ._normal import VariationalNormalEstimator
from ._version import __version__
from .exceptions import ConvergenceWarning

__all__ = ["main"]

CREDIBLE_LEVEL = 0.95
DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_DATA = "scikit-learn's diabetes data, load_diabetes(scaled=False)"
# Spellings of a missing value that spreadsheets and pandas write; named in the
# error message so that the user knows the row was not merely mistyped.
MISSING_VALUES = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
# Panels beyond this make the figure unreadable; the table has every column.
MAX_PLOT_PANELS = 40

_DESCRIPTION = """\
Fit skvi's VariationalNormalEstimator to the columns of a CSV file and print,
for each column, the posterior mean of mu with its 95% credible interval and
the noise standard deviation, then the ELBO and the iterations used.
"""

_FIT_DESCRIPTION = """\
Each column j is modelled as independent draws from Normal(mu_j, 1/tau_j), with
priors mu_j ~ Normal(prior_mean, prior_std**2) and tau_j ~ Gamma(prior_shape,
prior_rate), and fitted by coordinate-ascent variational inference.

FILE is a CSV file with a header row of column names and one number per field
(an unnamed column, like the index that pandas writes, is called "column N");
it is read in chunks of --chunk-rows rows, each merged into the fit with
partial_fit, so memory stays bounded whatever the file size. Without FILE, the
fit runs on scikit-learn's diabetes data (load_diabetes(scaled=False): 442
patients, 10 columns), to show a real result at once.

The priors are scalars applied to every column: put the columns on comparable
scales, or fit them separately with --columns. The default prior on mu,
Normal(0, 1), is informative for data far from 0 (like the diabetes data):
widen it with --prior-std to let the data speak.
"""

_FIT_EPILOG = """\
examples:
  skvi fit                                 fit the diabetes data
  skvi fit scores.csv --columns score,age  two columns of a file
  skvi fit scores.csv --prior-std 100 --json > fit.json
  skvi fit scores.csv --plot fit.png       also draw the ELBO and q(mu)

Bad input (a missing or malformed file, an invalid prior) exits with status 2
and one line on stderr.
"""


class CommandLineError(Exception):
    """A problem with the user's input, reported as one line and exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like skvi's others."""

    def error(self, message):
        """Print ``skvi: error: message`` and a pointer to --help, exit 2."""
        self.exit(2, f"skvi: error: {message} (see '{self.prog} --help')\n")


def _finite_float(text):
    """Parse a finite float for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite; got {text!r}")
    return value


def _positive_float(text):
    """Parse a finite float > 0 for argparse."""
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0; got {text!r}")
    return value


def _positive_int(text):
    """Parse an integer >= 1 for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return value


def _column_list(text):
    """Parse ``--columns a,b`` into a list of names."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column names; got {text!r}"
        )
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"a column is named twice in {text!r}")
    return names


def _build_parser():
    """The ``skvi`` parser with its ``fit`` subcommand."""
    parser = _Parser(
        prog="skvi",
        description=_DESCRIPTION,
        epilog="example:\n  skvi fit                  fit the built-in example data\n"
        "  skvi fit data.csv --json  fit a CSV file, print JSON\n\n"
        "Run 'skvi fit --help' for the options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skvi {__version__}")
    commands = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, parser_class=_Parser
    )
    fit = commands.add_parser(
        "fit",
        help="fit the columns of a CSV file (or the example data) and print the "
        "posterior",
        description=_FIT_DESCRIPTION,
        epilog=_FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.set_defaults(handler=_run_fit)
    fit.add_argument(
        "file",
        nargs="?",
        metavar="FILE.csv",
        help="CSV file with a header row; default: scikit-learn's diabetes data",
    )
    fit.add_argument(
        "--columns",
        type=_column_list,
        metavar="A,B",
        help="comma-separated names of the columns to fit (default: all)",
    )
    priors = fit.add_argument_group("priors (scalars, the same for every column)")
    defaults = VariationalNormalEstimator().get_params()
    for name, parse, metavar, meaning in [
        ("prior_mean", _finite_float, "M0", "mean of the Normal prior on mu"),
        ("prior_std", _positive_float, "S0", "sd of the Normal prior on mu, > 0"),
        (
            "prior_shape",
            _positive_float,
            "A0",
            "shape of the Gamma prior on the precision tau, > 0",
        ),
        (
            "prior_rate",
            _positive_float,
            "B0",
            "rate of the Gamma prior on tau, > 0; the prior mean of tau is shape/rate",
        ),
    ]:
        priors.add_argument(
            "--" + name.replace("_", "-"),
            type=parse,
            default=defaults[name],
            metavar=metavar,
            help=meaning + " (default: %(default)s)",
        )
    fit.add_argument(
        "--max-iter",
        type=_positive_int,
        default=defaults["max_iter"],
        metavar="N",
        help="maximum number of CAVI iterations (default: %(default)s)",
    )
    fit.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=DEFAULT_CHUNK_ROWS,
        metavar="N",
        help="rows read and merged at a time; bounds the memory used "
        "(default: %(default)s)",
    )
    fit.add_argument(
        "--json", action="store_true", help="print the result as JSON, for programs"
    )
    fit.add_argument(
        "--plot",
        metavar="OUT.png",
        help="save a figure of the ELBO trace and q(mu) per column "
        '(needs matplotlib: pip install "skvi[plot]")',
    )
    return parser


# --------------------------------------------------------------------------
# Data sources: column names and an iterator of float64 chunks.


@dataclass
class _DataSource:
    """Where the data come from: a description, column names and chunks."""

    description: str
    columns: list
    chunks: object
    path: str | None = None
    rows_read: int = 0


def _select_columns(available, requested):
    """Indices of the requested columns in ``available``; all when None."""
    if requested is None:
        return list(range(len(available)))
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise CommandLineError(
            f"unknown column {unknown[0]!r} in --columns; the available columns "
            f"are: {', '.join(available)}"
        )
    ambiguous = [name for name in requested if available.count(name) > 1]
    if ambiguous:
        raise CommandLineError(
            f"column {ambiguous[0]!r} appears more than once in the header, so "
            "--columns cannot tell which one to use; rename one of them"
        )
    return [available.index(name) for name in requested]


def _default_source(args):
    """The diabetes data shipped with scikit-learn, in chunks like a file."""
    from sklearn.datasets import load_diabetes

    dataset = load_diabetes(scaled=False)
    names = list(dataset.feature_names)
    usecols = _select_columns(names, args.columns)
    data = np.ascontiguousarray(dataset.data[:, usecols], dtype=np.float64)
    chunks = (
        data[start : start + args.chunk_rows]
        for start in range(0, data.shape[0], args.chunk_rows)
    )
    return _DataSource(
        description=f"{DEFAULT_DATA}: {data.shape[0]} patients",
        columns=[names[i] for i in usecols],
        chunks=chunks,
    )


class _CSVChunks:
    """Read a CSV file's numeric columns in chunks of at most ``chunk_rows`` rows.

    Each chunk is parsed by ``np.loadtxt`` from a slice of the file's lines;
    when parsing fails, the slice is scanned again in Python to name the line
    and column at fault (the slow path runs only on bad input).
    """

    def __init__(self, path, usecols, header, chunk_rows, stream, progress):
        self.path = path
        self.usecols = usecols
        self.header = header
        self.chunk_rows = chunk_rows
        self.stream = stream
        self.progress = progress
        # The header is line 1; lines are numbered as an editor shows them.
        self.next_line = 2

    def __iter__(self):
        expected_commas = len(self.header) - 1
        with self.stream:
            while True:
                try:
                    lines = list(itertools.islice(self.stream, self.chunk_rows))
                except UnicodeDecodeError as exc:
                    raise CommandLineError(
                        f"{self.path} is not a UTF-8 text file ({exc.reason} near "
                        f"byte {exc.start} of a block after line {self.next_line})"
                    ) from None
                if not lines:
                    return
                first_line = self.next_line
                self.next_line += len(lines)
                # loadtxt ignores fields beyond usecols, so a row with too many
                # fields would pass silently: count them first (in C, via map;
                # the loop below runs only when some line differs).
                commas = list(map(str.count, lines, itertools.repeat(",")))
                if min(commas) != expected_commas or max(commas) != expected_commas:
                    self._check_fields(lines, first_line)
                try:
                    chunk = np.loadtxt(
                        lines,
                        delimiter=",",
                        usecols=self.usecols,
                        ndmin=2,
                        dtype=np.float64,
                        comments=None,
                        quotechar='"',
                    )
                except ValueError as exc:
                    raise CommandLineError(
                        self._diagnose(lines, first_line, str(exc))
                    ) from None
                if chunk.shape[0] == 0:
                    continue
                if not np.isfinite(chunk).all():
                    raise CommandLineError(self._diagnose(lines, first_line, None))
                self.progress.update(chunk.shape[0], self.stream)
                yield chunk

    def _check_fields(self, lines, first_line):
        """Raise for the first non-blank line whose field count is not the header's."""
        for offset, line in enumerate(lines):
            n_fields = line.count(",") + 1
            if n_fields != len(self.header) and line.strip():
                raise CommandLineError(
                    f"{self.path}, line {first_line + offset} has {n_fields} "
                    f"field{'s' * (n_fields > 1)}, but the header has "
                    f"{len(self.header)} columns"
                )

    def _diagnose(self, lines, first_line, numpy_message):
        """Name the first bad field in ``lines`` and what to do about it."""
        for offset, line in enumerate(lines):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split(",")
            for index in self.usecols:
                text = fields[index].strip().strip('"').strip()
                where = (
                    f"{self.path}, line {first_line + offset}, "
                    f"column {self.header[index]!r}"
                )
                if text.lower() in MISSING_VALUES:
                    return (
                        f"{where}: missing value ({text!r}); skvi fit needs a "
                        "number in every field: drop or fill the row, or leave the "
                        "column out with --columns"
                    )
                try:
                    value = float(text)
                except ValueError:
                    return (
                        f"{where}: {text!r} is not a number; pick numeric columns "
                        "with --columns"
                    )
                if not math.isfinite(value):
                    return (
                        f"{where}: infinite value ({text!r}); skvi fit needs finite "
                        "numbers"
                    )
        return f"{self.path}: cannot parse the data: {numpy_message}"


def _looks_numeric(text):
    """Whether a header field is a number, i.e. the header row is missing."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_source(args, progress):
    """Open the CSV file, read its header and set up chunked reading."""
    path = args.file
    try:
        # Closed by the chunk iterator when it is exhausted, or below on error.
        raw = open(path, "rb")
    except OSError as exc:
        raise CommandLineError(f"cannot open {path}: {exc.strerror or exc}") from None
    # A binary handle underneath gives the byte position for the progress
    # line; utf-8-sig drops the byte-order mark that spreadsheets write.
    stream = io.TextIOWrapper(raw, encoding="utf-8-sig", newline=None)
    try:
        try:
            header_line = stream.readline()
        except UnicodeDecodeError as exc:
            raise CommandLineError(
                f"{path} is not a UTF-8 text file ({exc.reason} in the header)"
            ) from None
        if not header_line.strip():
            raise CommandLineError(
                f"{path} is empty: expected a header row of column names, then "
                "rows of numbers"
            )
        header = [name.strip() for name in next(csv.reader([header_line]))]
        # pandas writes its index under an empty name: give such columns a
        # name that the table can show and --columns can select.
        header = [name or f"column {k}" for k, name in enumerate(header, start=1)]
        separators = [sep for sep in (";", "\t", "|") if sep in header_line]
        if len(header) == 1 and separators:
            raise CommandLineError(
                f"{path}, line 1 has no comma but {separators[0]!r}: skvi fit reads "
                "comma-separated files only; save the file with commas"
            )
        if all(_looks_numeric(name) for name in header):
            raise CommandLineError(
                f"{path}, line 1 holds numbers, not column names: add a header "
                "row naming the columns"
            )
        usecols = _select_columns(header, args.columns)
    except CommandLineError:
        stream.close()
        raise
    progress.start(os.fstat(raw.fileno()).st_size)
    chunks = _CSVChunks(path, usecols, header, args.chunk_rows, stream, progress)
    description = path
    if args.columns:
        description += f" ({len(usecols)} of {len(header)} columns)"
    return _DataSource(
        description=description,
        columns=[header[i] for i in usecols],
        chunks=chunks,
        path=path,
    )


class _Progress:
    """A progress line on a terminal: rows read, rate, share of the file.

    It appears only when ``stream`` is a terminal and reading has taken longer
    than ``delay`` seconds, so small files and pipes see nothing; it is
    rewritten in place and cleared by :meth:`close`.
    """

    def __init__(self, stream, delay=0.5, interval=0.2):
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.delay = delay
        self.interval = interval
        self.total_bytes = 0
        self.rows = 0
        self.started = self.last_shown = time.perf_counter()
        self.shown = False

    def start(self, total_bytes):
        """Start the clock for a file of ``total_bytes`` bytes."""
        self.total_bytes = total_bytes
        self.started = self.last_shown = time.perf_counter()

    def update(self, rows, text_stream=None):
        """Count ``rows`` more rows and redraw the line when it is due."""
        self.rows += rows
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.started
        if elapsed < self.delay or now - self.last_shown < self.interval:
            return
        self.last_shown = now
        line = f"skvi: read {self.rows:,} rows ({self.rows / elapsed:,.0f} rows/s"
        if self.total_bytes and text_stream is not None:
            # The binary position runs ahead of the parsed rows by one read
            # buffer at most: close enough for a progress line.
            position = text_stream.buffer.tell()
            line += f", {min(position / self.total_bytes, 1.0):.0%} of the file"
        self.stream.write(f"\r{line})\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self):
        """Erase the progress line, if it was drawn."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


# --------------------------------------------------------------------------
# Fitting and reporting.


def _fit_chunks(source, estimator):
    """``partial_fit`` every chunk of ``source``; return the fitted estimator."""
    with warnings.catch_warnings():
        # Every chunk reruns CAVI on the merged statistics; only the last run
        # decides convergence, and the report says whether it did.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for chunk in source.chunks:
            try:
                estimator.partial_fit(chunk)
            except ValueError as exc:
                raise CommandLineError(str(exc)) from None
            source.rows_read += chunk.shape[0]
    if source.rows_read == 0:
        where = source.path or "the data"
        raise CommandLineError(f"{where} has a header row but no data rows")
    return estimator


def _decimals(std):
    """Decimal places that show two significant digits of ``std``."""
    if not (std > 0 and math.isfinite(std)):
        return 6
    return max(0, 1 - math.floor(math.log10(std)))


def _format_number(value, decimals):
    """Fixed-point with ``decimals`` places, or scientific when that is unwieldy."""
    if decimals > 10 or abs(value) >= 1e12:
        return f"{value:.6e}"
    return f"{value:.{decimals}f}"


def _significant(value, digits):
    """``value`` to ``digits`` significant digits, trailing zeros kept (13.80)."""
    return f"{value:#.{digits}g}".rstrip(".")


def _result(source, estimator, args):
    """The fit as a JSON-ready dict: the content of both output formats."""
    lower, upper = estimator.credible_interval(CREDIBLE_LEVEL)
    columns = [
        {
            "name": name,
            # The plain mean, beside the posterior so that the prior's pull
            # is visible.
            "data_mean": float(estimator.sample_mean_[j]),
            "posterior_mean": float(estimator.posterior_mean_[j]),
            "posterior_std": float(estimator.posterior_std_[j]),
            "credible_interval": [float(lower[j]), float(upper[j])],
            "noise_std": float(estimator.noise_std_[j]),
        }
        for j, name in enumerate(source.columns)
    ]
    return {
        "data": source.description,
        "file": source.path,
        "priors": {
            "prior_mean": args.prior_mean,
            "prior_std": args.prior_std,
            "prior_shape": args.prior_shape,
            "prior_rate": args.prior_rate,
        },
        "credible_level": CREDIBLE_LEVEL,
        "columns": columns,
        "elbo": float(estimator.elbo_),
        "n_iter": int(estimator.n_iter_),
        "max_iter": args.max_iter,
        "converged": bool(estimator.converged_),
        "rows_read": source.rows_read,
        "plot": args.plot,
    }


def _format_table(result):
    """The result as aligned text for people."""
    priors = result["priors"]
    rows = []
    for column in result["columns"]:
        # Show the digits that the uncertainty of mu leaves meaningful.
        decimals = _decimals(column["posterior_std"])
        lower, upper = column["credible_interval"]
        rows.append(
            [
                column["name"],
                _format_number(column["data_mean"], decimals),
                _format_number(column["posterior_mean"], decimals),
                _format_number(lower, decimals),
                _format_number(upper, decimals),
                _significant(column["posterior_std"], 2),
                _significant(column["noise_std"], 4),
            ]
        )
    lower_width = max(len(row[3]) for row in rows)
    upper_width = max(len(row[4]) for row in rows)
    table = [
        [
            "column",
            "data mean",
            "mean of mu",
            f"{result['credible_level']:.0%} credible interval",
            "sd of mu",
            "noise sd",
        ]
    ]
    for name, data_mean, mean, lower, upper, std, noise in rows:
        interval = f"[{lower.rjust(lower_width)}, {upper.rjust(upper_width)}]"
        table.append([name, data_mean, mean, interval, std, noise])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        f"Data: {result['data']}",
        f"Priors for every column: mu ~ Normal({priors['prior_mean']:g}, "
        f"{priors['prior_std']:g}^2), tau ~ Gamma(shape={priors['prior_shape']:g}, "
        f"rate={priors['prior_rate']:g})",
        "",
    ]
    for row in table:
        cells = [row[0].ljust(widths[0])]
        for i in range(1, len(row)):
            # Intervals have one width already; centre them under their title.
            align = str.center if i == 3 else str.rjust
            cells.append(align(row[i], widths[i]))
        lines.append("  ".join(cells).rstrip())
    if result["converged"]:
        converged = "yes"
    else:
        converged = f"no: max_iter={result['max_iter']} reached, raise --max-iter"
    footer = [
        ("ELBO", f"{result['elbo']:.6f}"),
        ("iterations", str(result["n_iter"])),
        ("converged", converged),
        ("rows read", f"{result['rows_read']:,}"),
    ]
    if result["plot"]:
        footer.append(("plot", result["plot"]))
    label_width = max(len(label) for label, _ in footer)
    lines.append("")
    lines.extend(f"{label.ljust(label_width)}  {value}" for label, value in footer)
    note = _prior_note(result)
    if note:
        lines.extend(["", note])
    return "\n".join(lines)


def _prior_note(result):
    """A hint when the prior on mu, not the data, decides the posterior mean."""
    columns = result["columns"]
    pulled = [
        column
        for column in columns
        if abs(column["posterior_mean"] - column["data_mean"])
        > 2 * column["posterior_std"]
    ]
    if not pulled:
        return None
    priors = result["priors"]
    spread = max(abs(column["data_mean"] - priors["prior_mean"]) for column in columns)
    suggestion = 10.0 ** math.ceil(math.log10(10 * spread))
    return (
        f"Note: the prior on mu pulls the posterior mean of {len(pulled)} of "
        f"{len(columns)} columns far\n(over 2 sd of mu) from the data mean. If that "
        "prior is not what you know,\n"
        f"widen it, e.g. --prior-std {suggestion:g}."
    )


def _check_plot_target(path):
    """Fail before the fit when the figure cannot be made or saved."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CommandLineError(
            '--plot needs matplotlib, which is not installed: pip install "skvi[plot]"'
        ) from None
    from matplotlib.figure import Figure

    extension = os.path.splitext(path)[1].lstrip(".").lower()
    supported = Figure().canvas.get_supported_filetypes()
    if extension not in supported:
        raise CommandLineError(
            f"cannot save the plot to {path}: give a file name ending in one of "
            f"{', '.join('.' + name for name in sorted(supported))}"
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CommandLineError(
            f"cannot save the plot to {path}: directory {directory} does not exist"
        )


def _plot(estimator, result, path):
    """Save the ELBO trace and q(mu) of each column as small multiples."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    from scipy import stats

    columns = result["columns"][:MAX_PLOT_PANELS]
    n_cols = min(len(columns), 5)
    n_rows = math.ceil(len(columns) / n_cols)
    figure = Figure(
        figsize=(max(2.9 * n_cols, 9.0), 3.2 + 2.3 * n_rows), layout="constrained"
    )
    figure.suptitle(f"skvi fit: {result['data']}", fontweight="bold")
    # Subfigures keep the ELBO panels' axis labels from widening the grid below.
    top, bottom = figure.subfigures(2, 1, height_ratios=[3.2, 2.3 * n_rows])
    history = estimator.elbo_history_
    iterations = np.arange(1, history.size + 1)
    trace, gap = top.subplots(1, 2)
    trace.plot(iterations, history, marker="o", markersize=3)
    trace.set(xlabel="iteration", ylabel="ELBO", title="ELBO per CAVI iteration")
    # The last value is the reference, so only the earlier ones have a distance.
    distance = history[-1] - history[:-1]
    positive = distance > 0
    if positive.any():
        gap.semilogy(
            iterations[:-1][positive], distance[positive], marker="o", markersize=3
        )
    gap.set(
        xlabel="iteration",
        ylabel="final ELBO − ELBO",
        title="Distance to the final ELBO",
    )
    for ax in (trace, gap):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)

    level = f"{result['credible_level']:.0%}"
    title = f"q(mu) per column: posterior mean and {level} credible interval (shaded)"
    more = len(result["columns"]) - len(columns)
    if more:
        title += f"; {more} more columns in the table"
    bottom.suptitle(title)
    axes = bottom.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, column in zip(axes, columns, strict=False):
        mean, std = column["posterior_mean"], column["posterior_std"]
        lower, upper = column["credible_interval"]
        grid_mu = np.linspace(mean - 4 * std, mean + 4 * std, 401)
        density = stats.norm.pdf(grid_mu, mean, std)
        ax.plot(grid_mu, density, color="C0")
        inside = (grid_mu >= lower) & (grid_mu <= upper)
        ax.fill_between(
            grid_mu[inside], density[inside], color="C0", alpha=0.25, linewidth=0
        )
        ax.axvline(mean, color="C0", linewidth=0.8, linestyle="--")
        decimals = _decimals(std)
        ax.set_title(
            f"{column['name']}\n{_format_number(mean, decimals)} "
            f"[{_format_number(lower, decimals)}, {_format_number(upper, decimals)}]",
            fontsize="medium",
        )
        # Density values say nothing across panels; the x axis carries the scale.
        ax.set_yticks([])
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.tick_params(axis="x", labelsize="small")
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    try:
        figure.savefig(path, dpi=110)
    except (OSError, ValueError) as exc:
        raise CommandLineError(f"cannot save the plot to {path}: {exc}") from None


def _run_fit(args):
    """The ``skvi fit`` command."""
    if args.plot:
        _check_plot_target(args.plot)
    progress = _Progress(sys.stderr)
    try:
        source = _csv_source(args, progress) if args.file else _default_source(args)
        estimator = VariationalNormalEstimator(
            prior_mean=args.prior_mean,
            prior_std=args.prior_std,
            prior_shape=args.prior_shape,
            prior_rate=args.prior_rate,
            max_iter=args.max_iter,
        )
        _fit_chunks(source, estimator)
    finally:
        progress.close()
    result = _result(source, estimator, args)
    if args.plot:
        _plot(estimator, result, args.plot)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_format_table(result))
    return 0


def main(argv=None):
    """Run the ``skvi`` program.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 2 on bad input (with one line on stderr), 130 when
        interrupted.

    Examples
    --------
    >>> from skvi._cli import main
    >>> main(["fit", "--columns", "age,bmi", "--prior-std", "100"])
    Data: scikit-learn's diabetes data, load_diabetes(scaled=False): 442 patients
    Priors for every column: mu ~ Normal(0, 100^2), tau ~ Gamma(shape=1, rate=1)
    <BLANKLINE>
    column  data mean  mean of mu  95% credible interval  sd of mu  noise sd
    age         48.52       48.52      [47.30, 49.74]         0.62     13.08
    bmi         26.38       26.38      [25.96, 26.79]         0.21     4.409
    <BLANKLINE>
    ELBO        -3070.556619
    iterations  3
    converged   yes
    rows read   442
    0
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CommandLineError as exc:
        # One line, whatever the message: scripts and people read the last line.
        message = " ".join(str(exc).split())
        print(f"skvi: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skvi: interrupted", file=sys.stderr)
        return 130
