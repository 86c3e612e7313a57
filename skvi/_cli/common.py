"""The command line's shared error type, defaults and option checks."""

# SPDX-License-Identifier: BSD-3-Clause

# Nothing here imports numpy, scikit-learn or pandas: argument parsing uses it.

import argparse
import signal
import threading

CREDIBLE_LEVEL = 0.95
DEFAULT_CHUNK_ROWS = 100_000
# A larger chunk only costs memory; the bound keeps a mistyped number from
# reaching the reader (and Python's C integers) as a traceback.
MAX_CHUNK_ROWS = 1_000_000_000
# Fields held in memory per chunk (rows times the file's columns): a chunk of
# a wide file has fewer rows, so that memory stays bounded by the chunk.
CHUNK_CELLS = 2**21
# Columns a file may have: the parser's cost and the table grow with them, and
# a 2-million-column line would take minutes and gigabytes.
MAX_COLUMNS = 10_000
# "-" as a file name: standard input for the data, standard output for an
# output file.
STDIN = STDOUT = "-"
DEFAULT_DATA = "scikit-learn's diabetes data, load_diabetes(scaled=False)"
# Spellings of a missing value that spreadsheets and pandas write; named in the
# error message so that the user knows the row was not merely mistyped.
MISSING_VALUES = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
# The exit status of a program whose reader closed the pipe: 128 + SIGPIPE,
# what a shell reports for a program that the signal ended.
EXIT_BROKEN_PIPE = 128 + 13
# 128 + SIGINT: what a shell reports for a program ended by Ctrl-C.
EXIT_INTERRUPTED = 128 + 2
EXIT_BAD_INPUT = 2
# sysexits.h's EX_IOERR: standard output could not be written (a full disk).
EXIT_WRITE_ERROR = 74


def add_missing_option(parser):
    """``--missing {error,drop}``: what a command does with a missing value."""
    parser.add_argument(
        "--missing",
        choices=["error", "drop"],
        default="error",
        help="a row with a missing value (empty, NA, NaN, null, None, -) in a "
        "selected column: stop with an error naming it (error), or leave the "
        "row out and report how many were (drop) (default: %(default)s)",
    )


class CommandLineError(Exception):
    """A problem with the user's input, reported as one line and exit status 2."""


def option_name(parameter):
    """The command-line option of an estimator parameter: ``--prior-std``."""
    return "--" + parameter.replace("_", "-")


def positive_int(text):
    """Parse an integer between 1 and ``MAX_CHUNK_ROWS`` for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= MAX_CHUNK_ROWS:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 1 to {MAX_CHUNK_ROWS:,}; got {text!r}"
        )
    return value


def seed(text):
    """Parse a random seed, an integer from 0 to 2**32 - 1 (numpy's), for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 to {2**32 - 1}; got {text!r}"
        )
    return value


def probability(text):
    """Parse a number strictly between 0 and 1 for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"must be strictly between 0 and 1 (0.95 for 95%); got {text!r}"
        )
    return value


def column_list(text):
    """Parse ``--columns a,b`` into a list of names."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column names; got {text!r}"
        )
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"a column is named twice in {text!r}")
    return names


def describe_constraint(constraint):
    """Say in words what a scikit-learn ``Interval`` constraint accepts.

    >>> from skvi._core.parameters import Interval
    >>> from numbers import Real
    >>> describe_constraint(Interval(Real, 0, None, closed="neither"))
    'a finite number > 0'
    """
    kind = "an integer" if _is_integral(constraint.type) else "a finite number"
    bounds = []
    if constraint.left is not None:
        closed = constraint.closed in ("left", "both")
        bounds.append(f"{'>=' if closed else '>'} {constraint.left:g}")
    if constraint.right is not None:
        closed = constraint.closed in ("right", "both")
        bounds.append(f"{'<=' if closed else '<'} {constraint.right:g}")
    return " ".join([kind, " and ".join(bounds)]).strip()


def _is_integral(kind):
    """Whether an ``Interval``'s type is an integer type."""
    from numbers import Integral

    return isinstance(kind, type) and issubclass(kind, Integral)


def check_estimator_options(estimator_class, values, prog):
    """Check option values against the estimator's ``_parameter_constraints``.

    The checks are the estimator's own, so that the command line states them
    once; only the message is the command line's, naming the option.

    Parameters
    ----------
    estimator_class : type
        An estimator with a ``_parameter_constraints`` dict.
    values : dict
        Parameter name -> value given on the command line.
    prog : str
        The subcommand, for the pointer to its help: ``"skvi fit"``.

    Raises
    ------
    CommandLineError
        For the first value that no constraint of its parameter accepts.
    """
    for name, value in values.items():
        constraints = [
            constraint
            for constraint in estimator_class._parameter_constraints[name]
            # "array-like" and the like: not reachable from a scalar option.
            if hasattr(constraint, "is_satisfied_by")
        ]
        if not any(constraint.is_satisfied_by(value) for constraint in constraints):
            wanted = " or ".join(map(describe_constraint, constraints))
            raise CommandLineError(
                f"argument {option_name(name)}: must be {wanted}; got {value!r} "
                f"(see '{prog} --help')"
            )


# Set by the program's Ctrl-C handler: pandas' C parser turns a
# KeyboardInterrupt raised inside it into a ParserError, which the reader then
# recognises as the interruption it was.
_interrupted = threading.Event()


def interrupted():
    """Whether Ctrl-C was pressed while the program ran."""
    return _interrupted.is_set()


def raise_if_interrupted():
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even if a library caught it.

    A library may catch the KeyboardInterrupt of a Ctrl-C and carry on: numpy
    turns an interrupted import of its C extensions into ImportError, which
    pandas' optional imports catch as a missing package. The commands call
    this before they write anything, so that an interrupted run writes
    nothing and ends with 130.
    """
    if interrupted():
        raise KeyboardInterrupt


def _on_interrupt(signum, frame):
    """Python's own Ctrl-C behaviour, remembered."""
    _interrupted.set()
    raise KeyboardInterrupt


class catch_interrupts:
    """Within the context, Ctrl-C raises KeyboardInterrupt and is remembered.

    Only where Python's default handler is in place, in the main thread; an
    ignored SIGINT (a background job) stays ignored. The previous handler
    comes back at the end.
    """

    def __enter__(self):
        _interrupted.clear()
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self.previous = signal.signal(signal.SIGINT, _on_interrupt)
        return self

    def __exit__(self, *exc_info):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
