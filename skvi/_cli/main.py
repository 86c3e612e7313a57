"""The ``skvi`` program: argument parsing, subcommands and exit codes."""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import errno
import importlib
import os
import sys
import warnings

from .._version import __version__
from .common import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_WRITE_ERROR,
    CommandLineError,
    catch_interrupts,
    interrupted,
)

__all__ = ["main"]

# One module per subcommand, each with ``add_parser(commands)`` (which must not
# import anything heavy) and a ``run(args)`` handler set as the default
# ``handler``. A new subcommand is a new module and a new name here.
SUBCOMMANDS = ("fit", "segment")

_DESCRIPTION = """\
Fit skvi's variational estimators to the columns of a CSV file from the shell
and print the posterior, as a table or as JSON.
"""

_EPILOG = """\
examples:
  skvi fit                  fit the built-in example data
  skvi fit data.csv --json  fit a CSV file, print JSON
  skvi segment --components 4  segment the built-in example data

Run 'skvi COMMAND --help' for a command's options.
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like skvi's others."""

    def error(self, message):
        """Print ``skvi: error: message`` and a pointer to --help, exit 2."""
        self.exit(
            EXIT_BAD_INPUT, f"skvi: error: {message} (see '{self.prog} --help')\n"
        )

    def parse_args(self, args=None, namespace=None):
        """Parse, and point an unknown option to the help of its subcommand."""
        args, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = getattr(args, "command_parser", self)
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        return args


def build_parser():
    """The ``skvi`` parser with its subcommands."""
    parser = _Parser(
        prog="skvi",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skvi {__version__}")
    commands = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, parser_class=_Parser
    )
    for name in SUBCOMMANDS:
        module = importlib.import_module(f".{name}", __package__)
        command_parser = module.add_parser(commands)
        command_parser.set_defaults(handler=module.run, command_parser=command_parser)
    return parser


def _silence_stdout():
    """Point standard output at the null device, so that no later flush fails.

    This is the recipe of Python's documentation (signal module, "Note on
    SIGPIPE"): after the reader of a pipe has gone, the interpreter's own
    flush at exit would otherwise print "Exception ignored ... BrokenPipeError".
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        # Not a real file (a test's capture): nothing will flush to a pipe.
        pass


def main(argv=None):
    """Run the ``skvi`` program.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success; 2 on bad input, with one line on stderr; 74 when
        standard output cannot be written (a full disk), with one line on
        stderr; 130 when interrupted with Ctrl-C; 141 (128 + SIGPIPE, what
        a shell shows for a program ended by a closed pipe) when the reader
        of the output has closed the pipe before the output was written, as
        ``head -1`` does after the first line of an output larger than the
        pipe's buffer. The
        last two print nothing.

    Examples
    --------
    >>> from skvi._cli import main
    >>> main(["fit", "--columns", "age,bmi"])  # doctest: +NORMALIZE_WHITESPACE
    Data: scikit-learn's diabetes data, load_diabetes(scaled=False): 442 patients
    Priors: unit-information prior from the data, worth one observation
      mu ~ Normal(data mean, data variance), tau ~ Gamma(1/2, rate=data variance/2)
    <BLANKLINE>
    column  data mean  mean of mu  95% credible interval (exact)  sd of mu  noise sd
    age         48.52       48.52          [47.29, 49.74]             0.62     13.11
    bmi         26.38       26.38          [25.96, 26.79]             0.21     4.418
    <BLANKLINE>
    ELBO        -3059.917611
    iterations  2
    converged   yes
    rows read   442
    0
    """
    try:
        try:
            args = build_parser().parse_args(argv)
            with catch_interrupts(), warnings.catch_warnings():
                _quiet_numerics()
                status = args.handler(args)
            # A Ctrl-C that a library caught and carried on from (see
            # common.raise_if_interrupted) still ends the run as interrupted.
            if interrupted():
                raise KeyboardInterrupt
        except SystemExit as exc:
            # argparse's --help, --version and usage errors: a status, like
            # the rest.
            status = exc.code if isinstance(exc.code, int) else int(bool(exc.code))
        except CommandLineError as exc:
            # One line, whatever the message: scripts and people read the
            # last line.
            message = " ".join(str(exc).split())
            print(f"skvi: error: {message}", file=sys.stderr)
            status = EXIT_BAD_INPUT
        # Flush here, not at exit, so that a closed pipe is caught below.
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if interrupted():
            return EXIT_INTERRUPTED
        if exc.errno not in _WRITE_ERRORS:
            raise
        # Standard output cannot be written (a full disk, /dev/full, a
        # device error): one line, and no second failure at exit.
        _silence_stdout()
        print(f"skvi: error: cannot write the output: {exc}", file=sys.stderr)
        return EXIT_WRITE_ERROR
    except Exception:
        # Ctrl-C during the first imports can surface as another error (numpy
        # turns an interrupted import of its C extensions into ImportError).
        if interrupted():
            return EXIT_INTERRUPTED
        raise


# What writing to a full or failing device raises (reading errors are
# CommandLineErrors, raised where the file is read).
_WRITE_ERRORS = {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT}


def _quiet_numerics():
    """No numpy RuntimeWarning on stderr, which is for the one-line error only.

    Values out of float64's range are checked where they matter and become
    errors or notes; the intermediate warnings are noise. A decrease of the
    ELBO (a bug, skvi.exceptions.ELBODecreaseWarning) is still shown.
    """
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.filterwarnings("default", message="The ELBO decreased")
