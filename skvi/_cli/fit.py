"""``skvi fit``: fit VariationalNormalEstimator (--robust: the Student-t model)."""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import sys
import warnings

from .common import (
    CREDIBLE_LEVEL,
    DEFAULT_CHUNK_ROWS,
    CommandLineError,
    add_missing_option,
    check_estimator_options,
    column_list,
    option_name,
    positive_int,
    probability,
    raise_if_interrupted,
)

_DESCRIPTION = """\
Each column j is modelled as independent draws from Normal(mu_j, 1/tau_j), with
priors mu_j ~ Normal(prior_mean, prior_std**2) and tau_j ~ Gamma(prior_shape,
prior_rate), and fitted by coordinate-ascent variational inference. For each
column it prints the posterior mean of mu, the central credible interval of
the exact posterior of mu (computed from the same statistics) and the noise
standard deviation, then the ELBO and the iterations used.

By default the priors come from the data: the unit-information prior (Kass and
Wasserman, 1995), worth one observation, mu_j ~ Normal(mean_j, var_j) and
tau_j ~ Gamma(1/2, var_j/2), from each column's mean and variance (a column
with no spread uses var_j = mean_j**2, or 1 when mean_j = 0). Each --prior-*
option replaces the data's choice for its own parameter, with one value for
every column.

FILE is a CSV file with a header row of column names and one number per field
(an unnamed column, like the index that pandas writes, is called "column N");
"-" reads standard input. Compressed files (.gz, .bz2, .xz, .zip, .zst) are
read as they are. The file is read once, in chunks of at most --chunk-rows
rows (fewer for files with many columns), each merged into the fit, so memory
stays bounded whatever the number of rows. Without FILE, the fit runs on
scikit-learn's diabetes data (load_diabetes(scaled=False): 442 patients, 10
columns), to show a real result at once.

With --robust, the noise is Student-t with --degrees-of-freedom NU (default 4)
instead of Normal (VariationalStudentEstimator, the same priors): a few gross
outliers then barely move the posterior mean; its interval is again the exact
posterior's (a 2-D quadrature over mu and tau, a few more passes over the rows),
and a column nu shows the degrees of freedom (fitted per column with
--fit-degrees-of-freedom). Each of its iterations passes
over every row, so --robust holds the columns fitted in memory (8 bytes a
value) instead of merging chunks. The Student-t model has no exact posterior
to compare with: with --robust, --diagnose checks q by Pareto-smoothed
importance sampling instead (k-hat per column).
"""

_EPILOG = """\
examples:
  skvi fit                                 fit the diabetes data
  skvi fit scores.csv --columns score,age  two columns of a file
  skvi fit scores.csv.gz --json > fit.json
  skvi fit scores.csv --prior-std 100      your own prior sd for mu
  skvi fit spend.csv --robust              Student-t noise: outliers barely count
  skvi fit scores.csv --missing drop       leave out rows with a blank field
  cat scores.csv | skvi fit -              read standard input
  skvi fit scores.csv --plot fit.png       also draw the ELBO and q(mu)

exit status: 0 done; 2 bad input (a missing or malformed file, an invalid
option), with one line on stderr; 74 the output cannot be written (a full
disk), with one line on stderr; 130 interrupted by Ctrl-C; 141 the reader of
the output closed the pipe before the output was written (as head -1 does on
an output larger than the pipe's buffer; a smaller one is written whole, and
the status is 0). On a terminal, a progress bar shows on stderr while a large
file is read.
"""

# The estimator's parameters that are options: (parameter, type, metavar,
# help). The values are checked after parsing, against the estimator's own
# _parameter_constraints (importing the estimator here would make --help slow).
_PRIOR_OPTIONS = [
    ("prior_mean", float, "M0", "mean of the Normal prior on mu (default: data mean)"),
    (
        "prior_std",
        float,
        "S0",
        "sd of the Normal prior on mu, > 0 (default: data standard deviation)",
    ),
    (
        "prior_shape",
        float,
        "A0",
        "shape of the Gamma prior on the precision tau, > 0 (default: 1/2)",
    ),
    (
        "prior_rate",
        float,
        "B0",
        "rate of the Gamma prior on tau, > 0; the prior mean of tau is shape/rate "
        "(default: data variance / 2)",
    ),
]
# The estimator's defaults, written here so that --help imports nothing heavy;
# tests/test_cli.py checks them against VariationalNormalEstimator().
ESTIMATOR_DEFAULTS = {"max_iter": 100, "tol": 1e-8}
# VariationalStudentEstimator's, checked the same way.
ROBUST_DEFAULTS = {"degrees_of_freedom": 4.0}
_FIT_OPTIONS = [
    ("max_iter", int, "N", "maximum number of CAVI iterations (default: %(default)s)"),
    (
        "tol",
        float,
        "TOL",
        "stop when the ELBO changes by at most TOL per row between iterations "
        "(default: %(default)s)",
    ),
]


def add_parser(commands):
    """Add the ``fit`` subcommand to ``commands`` and return its parser."""
    fit = commands.add_parser(
        "fit",
        help="fit the columns of a CSV file (or the example data) and print the "
        "posterior",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "file",
        nargs="?",
        metavar="FILE.csv",
        help="CSV file with a header row, or - for standard input; default: "
        "scikit-learn's diabetes data",
    )
    fit.add_argument(
        "--columns",
        type=column_list,
        metavar="A,B",
        help="comma-separated names of the columns to fit (default: all)",
    )
    priors = fit.add_argument_group(
        "priors (default: from the data; an option sets one value for every column)"
    )
    for name, parse, metavar, meaning in _PRIOR_OPTIONS:
        priors.add_argument(
            option_name(name), type=parse, metavar=metavar, help=meaning
        )
    for name, parse, metavar, meaning in _FIT_OPTIONS:
        fit.add_argument(
            option_name(name),
            type=parse,
            default=ESTIMATOR_DEFAULTS[name],
            metavar=metavar,
            help=meaning,
        )
    fit.add_argument(
        "--robust",
        action="store_true",
        help="Student-t noise instead of Normal (VariationalStudentEstimator): "
        "outliers get small weights; holds the columns in memory",
    )
    fit.add_argument(
        "--degrees-of-freedom",
        type=float,
        metavar="NU",
        help="degrees of freedom of the Student-t noise, > 0, with --robust "
        f"(default: {ROBUST_DEFAULTS['degrees_of_freedom']:g}; smaller is heavier-"
        "tailed)",
    )
    fit.add_argument(
        "--fit-degrees-of-freedom",
        action="store_true",
        help="with --robust, fit each column's nu by maximising the ELBO, from "
        "--degrees-of-freedom",
    )
    fit.add_argument(
        "--level",
        type=probability,
        default=CREDIBLE_LEVEL,
        metavar="P",
        help="probability of the credible interval of mu (default: %(default)s)",
    )
    fit.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=DEFAULT_CHUNK_ROWS,
        metavar="N",
        help="rows read and merged at a time; bounds the memory used "
        "(default: %(default)s)",
    )
    add_missing_option(fit)
    fit.add_argument(
        "--json", action="store_true", help="print the result as JSON, for programs"
    )
    fit.add_argument(
        "--diagnose",
        action="store_true",
        help="also compare each column's q(mu) with the exact posterior "
        "(skvi.diagnostics.exact_posterior, no second pass over the file): "
        "the exact sd of mu, the sd ratio (q over exact, below 1 when q is too "
        "narrow), KL(q || exact) in nats, and q's credible interval beside the "
        "exact one. With --robust: Pareto-smoothed importance sampling from q "
        "(skvi.diagnostics.psis_diagnostic, 1000 draws, seed 0, one more pass "
        "over the rows held, evaluating every draw; needs arviz-stats): each "
        "column's k-hat, its reading (good below 0.5, usable below 0.7, else "
        "do not trust), q's sd of mu over the importance-corrected one, and q's "
        "credible interval beside the exact one",
    )
    fit.add_argument(
        "--plot",
        metavar="OUT.png",
        help="save a figure of the ELBO trace and q(mu) per column "
        '(needs matplotlib: pip install "skvi[plot]")',
    )
    return fit


def _estimator_options(args):
    """The estimator's parameters given on the command line, by name."""
    names = [name for name, *_ in _PRIOR_OPTIONS + _FIT_OPTIONS]
    return {
        name: getattr(args, name) for name in names if getattr(args, name) is not None
    }


def fit_chunks(source, estimator):
    """``partial_fit`` every chunk of ``source``; no rows are held (None)."""
    from . import read

    for chunk in source.chunks:
        try:
            estimator.partial_fit(chunk)
        except ValueError as exc:
            raise CommandLineError(str(exc)) from None
        source.rows_read += chunk.shape[0]
    if source.rows_read == 0:
        where = read.describe(source.path)
        raise CommandLineError(f"{where} has a header row but no data rows")


def fit_whole(source, estimator):
    """``fit`` on every chunk of ``source`` at once (a model with no partial_fit).

    Returns the rows fitted, held in memory (for --diagnose's PSIS).
    """
    import numpy as np

    chunks = []
    for chunk in source.chunks:
        chunks.append(chunk)
        source.rows_read += chunk.shape[0]
    if source.rows_read == 0:
        where = source.path or "the data"
        raise CommandLineError(f"{where} has a header row but no data rows")
    data = np.concatenate(chunks)
    # Kept for the exact interval, which passes over the rows again.
    source.data = data
    try:
        estimator.fit(data)
    except ValueError as exc:
        raise CommandLineError(str(exc)) from None
    return data


def _model(args):
    """The estimator class, its extra options and how it reads the chunks."""
    if args.robust:
        from .. import VariationalStudentEstimator

        extra = {}
        if args.degrees_of_freedom is not None:
            extra["degrees_of_freedom"] = args.degrees_of_freedom
        if args.fit_degrees_of_freedom:
            extra["degrees_of_freedom_update"] = "fit"
        return VariationalStudentEstimator, extra, fit_whole
    for given, option in [
        (args.degrees_of_freedom is not None, "--degrees-of-freedom"),
        (args.fit_degrees_of_freedom, "--fit-degrees-of-freedom"),
    ]:
        if given:
            raise CommandLineError(
                f"{option} is the Student-t noise's: use it with --robust"
            )
    from .. import VariationalNormalEstimator

    return VariationalNormalEstimator, {}, fit_chunks


def run(args):
    """The ``skvi fit`` command."""
    from ..exceptions import ConvergenceWarning, PriorDataConflictWarning
    from . import plot, priors, read, report

    estimator_class, extra, read_into = _model(args)
    if args.robust and args.diagnose:
        # Checked before reading: PSIS needs arviz-stats (an optional extra).
        try:
            import arviz_stats  # noqa: F401
        except ImportError:
            raise CommandLineError(
                "--diagnose with --robust checks q by Pareto-smoothed importance "
                'sampling, which needs arviz-stats: pip install "skvi[diagnostics]"'
            ) from None
    options = _estimator_options(args)
    check_estimator_options(estimator_class, {**options, **extra}, "skvi fit")
    if args.plot:
        plot.check_target(args.plot)
    chosen = {name: options[name] for name in priors.PRIOR_NAMES if name in options}
    with read.Progress(sys.stderr) as progress:
        source = read.open_source(
            args.file,
            args.columns,
            args.chunk_rows,
            progress,
            missing=args.missing,
            prog="skvi fit",
        )
        estimator = estimator_class(
            max_iter=args.max_iter,
            tol=args.tol,
            # The others stay None: resolved from the data by the estimator.
            **chosen,
            **extra,
        )
        with warnings.catch_warnings():
            # Each chunk reruns CAVI on the merged statistics; only the last
            # run decides convergence, and the report says whether it did;
            # it writes a prior in conflict with the data as a note too.
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", PriorDataConflictWarning)
            data = read_into(source, estimator)
            used = priors.used_priors(estimator)
    result = report.result(source, estimator, used, chosen, args, data=data)
    raise_if_interrupted()
    if args.plot:
        plot.plot(estimator, result, args.plot)
    if args.json:
        print(report.format_json(result))
    else:
        print(report.format_table(result))
    return 0
