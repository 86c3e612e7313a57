"""Reading the command line's data: a CSV file in chunks, or the example data.

The subcommands ask :func:`open_source` for a :class:`DataSource` (its
description, the selected columns and a generator of float64 chunks) and
:func:`describe` names it in messages; :class:`Progress` draws the reading's
progress bar. CSV files are parsed by pandas' C parser in chunks of float64
columns, from the bytes that :mod:`skvi._cli.streams` opens (decompressed,
lines bounded). The header is read and checked, and when parsing fails the
line and column at fault are named, by :mod:`skvi._cli.csv_checks`: a slow
diagnostic pass (Python's csv module, line by line) that reads the file
again; it runs only on bad input.
"""
# SPDX-License-Identifier: BSD-3-Clause

import io
import os
import stat
import sys
from dataclasses import dataclass, field

from .common import (
    CHUNK_CELLS,
    DEFAULT_DATA,
    MISSING_VALUES,
    CommandLineError,
    interrupted,
)
from .csv_checks import (
    column_names,
    describe_without_lines,
    find_bad_field,
    find_bad_utf8,
    find_long_line,
    read_header,
)
from .streams import STDIN, GuardedStream, LineTooLong, open_binary

# How pandas is told the missing values of common.MISSING_VALUES, in the
# cases that spreadsheets, R and pandas write them (NA, N/A, NaN, NULL, None).
_MISSING_SPELLINGS = {
    spelling
    for value in MISSING_VALUES
    for spelling in (value, value.upper(), value.title(), value.capitalize())
} | {"NaN", "nan", "-nan", "+nan"}


@dataclass
class DataSource:
    """Where the data come from: a description, column names and chunks.

    ``chunks`` yields float64 arrays of shape (rows, len(columns)). With
    ``--missing drop``, the rows with a missing value in a selected column
    are left out of them, and ``dropped`` collects their numbers (0 for the
    first data row), one array per chunk.
    """

    description: str
    columns: list
    chunks: object
    path: str | None = None
    rows_read: int = 0
    dropped: list = field(default_factory=list)
    # The rows fitted, kept where the report needs them again (--robust's
    # exact interval); None where the fit merged chunks.
    data: object = None

    @property
    def rows_dropped(self):
        """How many rows ``--missing drop`` left out."""
        return int(sum(len(rows) for rows in self.dropped))


def select_columns(available, requested, header=None):
    """Indices of the requested columns in ``available``; all when None.

    ``header`` holds the names as the file writes them (``available`` may
    tell repeated ones apart): a name repeated there cannot be chosen.
    """
    if requested is None:
        return list(range(len(available)))
    header = available if header is None else header
    ambiguous = [name for name in requested if header.count(name) > 1]
    if ambiguous:
        raise CommandLineError(
            f"column {ambiguous[0]!r} appears more than once in the header, so "
            "--columns cannot tell which one to use; rename one of them"
        )
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


def open_source(path, columns, chunk_rows, progress, missing="error", prog="skvi"):
    """The data to fit: the CSV file at ``path`` ("-": stdin), or the example.

    Without a file, data waiting on standard input (a pipe, or a redirected
    file) are not silently replaced by the example: the user is told to name
    standard input ``-``.
    """
    if path is None:
        if _stdin_holds_data():
            raise CommandLineError(
                "data are waiting on standard input, but no file was named: "
                f"name standard input '-' to read them ({prog} - ...); with no "
                f"file named, {prog} fits the example data"
            )
        return default_source(columns, chunk_rows)
    return csv_source(path, columns, chunk_rows, progress, missing)


# How long a pipe on standard input may stay silent before it is taken to
# hold no data: `cat f.csv | skvi fit` has written long before the program
# gets here, while a pipe that is merely open (a notebook kernel's) never does.
_STDIN_WAIT_S = 0.1


def _stdin_holds_data():
    """Whether data are waiting on standard input: a non-empty file, or a pipe
    or socket with at least a byte to read.

    A terminal, the null device, an empty pipe (closed, or open and silent), a
    closed or replaced standard input (a test's capture) hold none. A byte
    read here is lost, which is harmless: when there is one, the program
    stops.
    """
    try:
        descriptor = sys.stdin.fileno()
        mode = os.fstat(descriptor).st_mode
    except (AttributeError, ValueError, OSError):
        return False
    if stat.S_ISREG(mode):
        return os.fstat(descriptor).st_size > 0
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return False
    import select

    try:
        readable, _, _ = select.select([descriptor], [], [], _STDIN_WAIT_S)
        return bool(readable) and os.read(descriptor, 1) != b""
    except (OSError, ValueError):
        return False


def default_source(columns, chunk_rows):
    """The diabetes data shipped with scikit-learn, in chunks like a file."""
    import numpy as np
    from sklearn.datasets import load_diabetes

    dataset = load_diabetes(scaled=False)
    names = list(dataset.feature_names)
    usecols = select_columns(names, columns)
    data = np.ascontiguousarray(dataset.data[:, usecols], dtype=np.float64)
    chunks = (
        data[start : start + chunk_rows]
        for start in range(0, data.shape[0], chunk_rows)
    )
    return DataSource(
        description=f"{DEFAULT_DATA}: {data.shape[0]} patients",
        columns=[names[i] for i in usecols],
        chunks=chunks,
    )


# --------------------------------------------------------------------------
# Reading a CSV file: its header checked (csv_checks), then chunks by pandas.


def csv_source(path, columns, chunk_rows, progress, missing="error"):
    """Open a CSV file, read and check its header, and set up chunked reading.

    ``missing``: "error" stops at the first missing value, naming it; "drop"
    leaves out the rows with one in a selected column, and counts them.
    """
    where = "standard input" if path == STDIN else path
    stream, raw, size = open_binary(path)
    try:
        header_line, fields = read_header(stream, where)
        names, shown = column_names(header_line, fields)
        usecols = select_columns(
            shown, columns, header=[field.strip() for field in fields]
        )
        guarded = GuardedStream(header_line, stream)
    except BaseException:
        if raw is not None:
            raw.close()
        raise
    # Fields held per chunk are bounded, whatever the number of columns.
    rows = max(1, min(chunk_rows, CHUNK_CELLS // len(fields)))
    progress.start(size)
    reader = _CSVChunks(where, guarded, raw, names, shown, usecols, rows, progress)
    description = where
    if columns:
        description += f" ({len(usecols)} of {len(fields)} columns)"
    source = DataSource(
        description=description,
        columns=[shown[i] for i in usecols],
        chunks=iter(reader),
        path=path,
    )
    if missing == "drop":
        reader.dropped = source.dropped
    return source


class _CSVChunks:
    """Float64 chunks of the selected columns, by pandas' C parser."""

    def __init__(self, where, stream, raw, names, shown, usecols, rows, progress):
        self.where = where
        self.stream = stream
        self.raw = raw
        self.names = names
        self.shown = shown
        self.usecols = usecols
        self.rows = rows
        self.progress = progress
        # A list (the DataSource's) to collect the dropped rows' numbers in,
        # with --missing drop; None stops at a missing value.
        self.dropped = None

    def _reader(self):
        """pandas' chunk reader; every column is parsed, so ragged rows fail."""
        import numpy as np
        import pandas as pd

        selected = {self.names[i] for i in self.usecols}
        if len(selected) == len(self.names):
            dtype = np.float64
        else:
            # Columns left out are kept as text: no parsing, no failure.
            dtype = {
                name: np.float64 if name in selected else object for name in self.names
            }
        # Missing values become NaN only when they are to be dropped; else
        # they fail the parse, and the diagnosis names them.
        dropping = self.dropped is not None
        return pd.read_csv(
            io.BufferedReader(self.stream),
            chunksize=self.rows,
            dtype=dtype,
            engine="c",
            encoding="utf-8",
            na_filter=dropping,
            keep_default_na=False,
            na_values=sorted(_MISSING_SPELLINGS) if dropping else None,
            index_col=False,
        )

    def _frames(self):
        """pandas' chunks, with its warning of dropped fields made an error.

        With ``index_col=False``, a first data row longer than the header
        loses its extra fields with only a ParserWarning: a wrong answer.
        """
        import warnings

        from pandas.errors import ParserWarning

        frames = iter(self._reader())
        while True:
            with warnings.catch_warnings():
                warnings.simplefilter("error", ParserWarning)
                frame = next(frames, None)
            if frame is None:
                return
            yield frame

    def __iter__(self):
        import numpy as np

        order = [self.names[i] for i in self.usecols]
        in_order = order == list(self.names)
        rows_before = 0
        try:
            try:
                for frame in self._frames():
                    frame = frame if in_order else frame[order]
                    chunk = frame.to_numpy(dtype=np.float64)
                    parsed = chunk.shape[0]
                    if self.dropped is not None:
                        missing = np.isnan(chunk).any(axis=1)
                        if missing.any():
                            self.dropped.append(rows_before + np.flatnonzero(missing))
                            chunk = chunk[~missing]
                    if not np.isfinite(chunk).all():
                        raise ValueError("a value that is not finite")
                    rows_before += parsed
                    self.progress.update(parsed, self.raw)
                    if chunk.shape[0] == 0:
                        continue
                    yield chunk
            except (ValueError, Warning) as exc:
                # UnicodeDecodeError and pandas' ParserError are ValueErrors.
                if interrupted() or isinstance(self.stream.error, KeyboardInterrupt):
                    raise KeyboardInterrupt from None
                exc = self.stream.error or exc
                raise CommandLineError(self._diagnose(exc, rows_before)) from None
        finally:
            if self.raw is not None:
                self.raw.close()

    def _diagnose(self, exc, rows_before):
        """Name the line and column at fault, re-reading the file slowly."""
        if self.raw is None:
            # Standard input cannot be read twice: say what pandas said.
            return describe_without_lines(self.where, exc, rows_before, self.rows)
        stream, raw, _ = open_binary(self.where)
        with raw:
            if isinstance(exc, LineTooLong):
                message = find_long_line(stream, self.where)
            elif isinstance(exc, UnicodeDecodeError):
                message = find_bad_utf8(stream, self.where)
            else:
                # A bad byte further on is not this error: read past it.
                text = io.TextIOWrapper(
                    stream, encoding="utf-8-sig", errors="replace", newline=""
                )
                message = find_bad_field(
                    text,
                    self.where,
                    len(self.names),
                    self.usecols,
                    self.shown,
                    drop_missing=self.dropped is not None,
                )
        return message or f"{self.where}: cannot parse the data: {exc}"


def describe(path):
    """How the messages name a data source: its path, or standard input."""
    return "standard input" if path == STDIN else (path or "the data")


# --------------------------------------------------------------------------
# Progress.


class Progress:
    """A progress bar of the file read, on a terminal only (tqdm, on stderr).

    It appears after half a second, so small files and pipes see nothing, and
    is cleared when the context ends.
    """

    def __init__(self, stream, delay=0.5, interval=0.2):
        self.stream = stream
        self.delay = delay
        self.interval = interval
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.bar = None
        self.position = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def start(self, total_bytes):
        """Start a bar over ``total_bytes`` bytes of file (None: rows only)."""
        if not self.enabled:
            return
        from tqdm import tqdm

        unit = {"unit": "B", "unit_scale": True} if total_bytes else {"unit": " rows"}
        self.bar = tqdm(
            total=total_bytes or None,
            file=self.stream,
            delay=self.delay,
            mininterval=self.interval,
            leave=False,
            desc="skvi: reading",
            **unit,
        )

    def update(self, rows, raw=None):
        """Move the bar to the file's position, or by ``rows`` rows."""
        if self.bar is None:
            return
        if self.bar.total:
            # The file's position runs ahead of the parsed rows by a read
            # buffer at most: close enough for a progress bar.
            position = raw.tell()
            self.bar.update(position - self.position)
            self.position = position
        else:
            self.bar.update(rows)

    def close(self):
        """Clear the bar, if it was drawn."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
