"""Reading the command line's data: a CSV file in chunks, or the example data.

CSV files are parsed by pandas' C parser in chunks of float64 columns. When
parsing fails, a slow diagnostic pass (Python's csv module, line by line)
reads the file again to name the line and column at fault; it runs only on bad
input.
"""

# SPDX-License-Identifier: BSD-3-Clause

import bz2
import csv
import gzip
import io
import lzma
import math
import os
import re
import stat
import sys
import zipfile
from dataclasses import dataclass, field

from .common import (
    CHUNK_CELLS,
    DEFAULT_DATA,
    MAX_COLUMNS,
    MISSING_VALUES,
    CommandLineError,
    interrupted,
)

STDIN = "-"
# How pandas is told the missing values of common.MISSING_VALUES, in the
# cases that spreadsheets, R and pandas write them (NA, N/A, NaN, NULL, None).
_MISSING_SPELLINGS = {
    spelling
    for value in MISSING_VALUES
    for spelling in (value, value.upper(), value.title(), value.capitalize())
} | {"NaN", "nan", "-nan", "+nan"}
# A line longer than this is refused before pandas parses it: memory stays
# bounded (10,000 columns of 17-digit numbers take about 200 kB).
MAX_LINE_BYTES = 2**20
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


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
# Opening: compression inferred from the file name, as pandas infers it.


def _open_zip(raw):
    """The one file inside a zip archive."""
    archive = zipfile.ZipFile(raw)
    names = [info.filename for info in archive.infolist() if not info.is_dir()]
    if len(names) != 1:
        raise CommandLineError(
            f"a zip archive must hold exactly one file to read; this one holds "
            f"{len(names)}"
        )
    return archive.open(names[0])


def _open_zstd(raw):
    """A Zstandard stream (needs the zstandard package, as pandas does)."""
    try:
        import zstandard
    except ImportError:
        raise CommandLineError(
            "reading .zst files needs the zstandard package: pip install zstandard"
        ) from None
    return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))


_DECOMPRESS = {
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw),
    ".bz2": bz2.BZ2File,
    ".xz": lzma.LZMAFile,
    ".zip": _open_zip,
    ".zst": _open_zstd,
}

# The first bytes of each compressed format (RFC 1952; bzip2's "BZh", a block
# size and the block magic; the xz, zip and Zstandard specifications), for
# standard input and for files whose name does not say.
_MAGIC = [
    (re.compile(rb"\x1f\x8b"), ".gz"),
    (re.compile(rb"BZh[1-9]1AY&SY", re.S), ".bz2"),
    (re.compile(rb"\xfd7zXZ\x00"), ".xz"),
    (re.compile(rb"PK\x03\x04"), ".zip"),
    (re.compile(rb"\x28\xb5\x2f\xfd"), ".zst"),
]


def _sniff_compression(stream):
    """The compression of a buffered binary stream, from its first bytes, or None."""
    try:
        head = stream.peek(10)[:10]
    except (AttributeError, OSError, ValueError):
        return None
    for magic, extension in _MAGIC:
        if magic.match(head):
            return extension
    return None


def _open_stdin():
    """Standard input's bytes, decompressed when its first bytes say so."""
    stream = sys.stdin.buffer
    if not hasattr(stream, "peek"):
        # Not a buffered reader (a replaced standard input): make it one.
        stream = io.BufferedReader(stream)
    extension = _sniff_compression(stream)
    if extension is None:
        return stream, None, None
    if extension == ".zip":
        raise CommandLineError(
            "standard input is a zip archive, which cannot be read from a pipe "
            "(zip keeps its index at the end): name the file, or send its "
            "content with unzip -p"
        )
    try:
        return _DECOMPRESS[extension](stream), None, None
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise CommandLineError(f"cannot read standard input: {exc}") from None


def _open_binary(path):
    """``(stream, raw, size)``: decompressed bytes, the file beneath, its size."""
    if path == STDIN:
        return _open_stdin()
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise CommandLineError(f"cannot open {path}: {exc.strerror or exc}") from None
    extension = os.path.splitext(path)[1].lower()
    if extension not in _DECOMPRESS:
        extension = _sniff_compression(raw)
    decompress = _DECOMPRESS.get(extension)
    try:
        stream = decompress(raw) if decompress else raw
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raw.close()
        raise CommandLineError(f"cannot read {path}: {exc}") from None
    except CommandLineError as exc:
        raw.close()
        raise CommandLineError(f"cannot read {path}: {exc}") from None
    return stream, raw, os.fstat(raw.fileno()).st_size


class _LineTooLong(ValueError):
    """A line longer than ``MAX_LINE_BYTES``: refused before it is parsed."""


class _GuardedStream(io.RawIOBase):
    """The header line again, then the rest of ``stream``, its lines bounded.

    pandas parses a whole line before it can refuse it, and a line of two
    million fields costs it half a minute and a gigabyte: this wrapper counts
    the bytes since the last line break in each block that pandas reads (two
    C-speed searches, ``find`` and ``rfind``, that stop at the first break)
    and stops at a line longer than ``MAX_LINE_BYTES`` (or than that plus one
    block, for a line that starts and ends in one block). Which line it was
    is found by the diagnosis, only then.
    """

    def __init__(self, head, stream):
        self.head = head
        self.stream = stream
        self.since_break = 0
        # pandas' C parser turns an exception raised here (Ctrl-C among
        # them) into "Calling read(nbytes) on source failed": kept to re-raise.
        self.error = None

    def readable(self):
        return True

    def readinto(self, buffer):
        try:
            return self._readinto(buffer)
        except BaseException as exc:
            self.error = exc
            raise

    def _readinto(self, buffer):
        if self.head:
            data, self.head = self.head[: len(buffer)], self.head[len(buffer) :]
        else:
            data = self.stream.read(len(buffer))
        first_break = data.find(b"\n")
        if first_break < 0:
            self.since_break += len(data)
        else:
            # The line that ends in this block; those within it are shorter
            # than a block.
            if self.since_break + first_break > MAX_LINE_BYTES:
                raise _LineTooLong
            self.since_break = len(data) - data.rfind(b"\n") - 1
        if self.since_break > MAX_LINE_BYTES:
            raise _LineTooLong
        buffer[: len(data)] = data
        return len(data)


# --------------------------------------------------------------------------
# The header.


def _looks_numeric(text):
    """Whether a header field is a number, i.e. the header row is missing."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_header(stream, where):
    """The header line's bytes and its fields, checked."""
    blank = 0
    try:
        line = stream.readline(MAX_LINE_BYTES + 1)
        # Blank lines before the header: counted, to say so (not "empty").
        while line and not line.strip() and blank < MAX_LINE_BYTES:
            blank += 1
            line = stream.readline(MAX_LINE_BYTES + 1)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise CommandLineError(f"cannot read {where}: {exc}") from None
    if blank and line:
        raise CommandLineError(
            f"{where} starts with {blank} blank line(s): the header row of column "
            "names must be the first line; remove the blank lines before it"
        )
    if len(line) > MAX_LINE_BYTES:
        raise CommandLineError(
            f"{where}, line 1 is longer than {MAX_LINE_BYTES:,} bytes: a header "
            f"row of at most {MAX_COLUMNS:,} column names is expected"
        )
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandLineError(
            f"{where} is not a UTF-8 text file (line 1, byte {exc.start + 1}: "
            f"{exc.reason}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise CommandLineError(
            f"{where} is empty: expected a header row of column names, then rows "
            "of numbers"
        )
    if "\r" in text.rstrip("\r\n"):
        raise CommandLineError(
            f"{where} has line breaks that are a lone carriage return (CR, as "
            "old Mac files): save it with LF or CRLF line endings"
        )
    if text.count('"') % 2:
        raise CommandLineError(
            f"{where}, line 1: a quote in the header row is not closed on that "
            "line (an unclosed quote, or a line break inside quotes); the column "
            "names must fit on the first line"
        )
    try:
        fields = next(csv.reader([text]))
    except csv.Error as exc:
        raise CommandLineError(f"{where}, line 1 is not valid CSV: {exc}") from None
    if len(fields) > MAX_COLUMNS:
        raise CommandLineError(
            f"{where} has {len(fields):,} columns; skvi fit reads at most "
            f"{MAX_COLUMNS:,} (parsing time, memory and the table grow with them): "
            "keep the columns you need first, e.g. with cut -d, -f1-10"
        )
    separators = [sep for sep in (";", "\t", "|") if sep in text]
    if len(fields) == 1 and separators:
        raise CommandLineError(
            f"{where}, line 1 has no comma but {separators[0]!r}: skvi fit reads "
            "comma-separated files only; save the file with commas"
        )
    if all(_looks_numeric(name) for name in fields):
        raise CommandLineError(
            f"{where}, line 1 holds numbers, not column names: add a header row "
            "naming the columns"
        )
    return line, fields


def _column_names(header_line, fields):
    """pandas' names for the columns, and the names shown to the user.

    pandas renames a repeated name ``a`` to ``a.1`` and an empty one to
    ``Unnamed: k``; the latter is shown as ``column k+1``, the index that
    pandas writes.
    """
    import pandas as pd

    names = list(pd.read_csv(io.BytesIO(header_line), nrows=0).columns)
    if len(names) != len(fields):
        names = fields
    stripped = [field.strip() for field in fields]
    # A repeated name is shown as the file writes it, with its position (not
    # as pandas' "a.1", a name the file does not hold).
    shown = [
        (
            f"column {k}"
            if not field
            else f"{field} (column {k})"
            if field in stripped[: k - 1]
            else str(name).strip()
        )
        for k, (name, field) in enumerate(zip(names, stripped, strict=True), start=1)
    ]
    return names, shown


# --------------------------------------------------------------------------
# Reading.


def csv_source(path, columns, chunk_rows, progress, missing="error"):
    """Open a CSV file, read and check its header, and set up chunked reading.

    ``missing``: "error" stops at the first missing value, naming it; "drop"
    leaves out the rows with one in a selected column, and counts them.
    """
    where = "standard input" if path == STDIN else path
    stream, raw, size = _open_binary(path)
    try:
        header_line, fields = _read_header(stream, where)
        names, shown = _column_names(header_line, fields)
        usecols = select_columns(
            shown, columns, header=[field.strip() for field in fields]
        )
        guarded = _GuardedStream(header_line, stream)
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
            return _describe_without_lines(self.where, exc, rows_before, self.rows)
        stream, raw, _ = _open_binary(self.where)
        with raw:
            if isinstance(exc, _LineTooLong):
                message = _find_long_line(stream, self.where)
            elif isinstance(exc, UnicodeDecodeError):
                message = _find_bad_utf8(stream, self.where)
            else:
                # A bad byte further on is not this error: read past it.
                text = io.TextIOWrapper(
                    stream, encoding="utf-8-sig", errors="replace", newline=""
                )
                message = _find_bad_field(
                    text,
                    self.where,
                    len(self.names),
                    self.usecols,
                    self.shown,
                    drop_missing=self.dropped is not None,
                )
        return message or f"{self.where}: cannot parse the data: {exc}"


def _long_line_message(where):
    """What to do about a line longer than ``MAX_LINE_BYTES``."""
    return (
        f"{where} is longer than {MAX_LINE_BYTES:,} bytes; skvi fit reads rows of "
        f"at most {MAX_COLUMNS:,} columns, so that memory stays bounded"
    )


def _find_long_line(stream, where):
    """The first line longer than ``MAX_LINE_BYTES``, read a bounded piece at a time."""
    number, length = 1, 0
    while piece := stream.readline(MAX_LINE_BYTES + 1):
        length += len(piece)
        if length > MAX_LINE_BYTES:
            return _long_line_message(f"{where}, line {number}")
        if piece.endswith(b"\n"):
            number, length = number + 1, 0
    return None


def _describe_without_lines(where, exc, rows_before, chunk_rows):
    """A message for data that cannot be read again (standard input).

    The fault lies in the chunk that failed: rows ``rows_before + 1`` to
    ``rows_before + chunk_rows`` (pandas parses a chunk at a time).
    """
    rows = f"rows {rows_before + 1:,} to {rows_before + chunk_rows:,}"
    if isinstance(exc, _LineTooLong):
        return _long_line_message(f"{where}: a line in {rows}")
    if isinstance(exc, UnicodeDecodeError):
        return f"{where} is not UTF-8 text ({exc.reason}); send UTF-8"
    detail = " ".join(str(exc).split())
    return (
        f"{where}: cannot parse the data in {rows}: {detail} "
        "(save it to a file for the line and column at fault)"
    )


def describe(path):
    """How the messages name a data source: its path, or standard input."""
    return "standard input" if path == STDIN else (path or "the data")


def _find_bad_utf8(stream, where):
    """The first line that is not UTF-8, with the byte at fault."""
    for number, line in enumerate(stream, start=1):
        try:
            line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            return (
                f"{where}, line {number} is not UTF-8 text (byte {exc.start + 1}, "
                f"{line[exc.start : exc.start + 1]!r}: {exc.reason}); save the "
                "file as UTF-8"
            )
    return None


def _find_bad_field(text, where, n_columns, usecols, shown, drop_missing=False):
    """The first ragged row, or missing, non-numeric or infinite field.

    With ``drop_missing``, a missing field is no fault (its row is dropped).
    """
    reader = csv.reader(text)
    next(reader, None)  # the header, checked already
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:
            return (
                f"{where}, line {reader.line_num}: {exc}; is a quote left open "
                "on this line or before?"
            )
        if row is None:
            return None
        # Lines as an editor numbers them: line_num is the row's last line.
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        spans_lines = line > first_line
        if len(row) != n_columns and spans_lines:
            # A ragged row over several lines: a quote left open swallowed them.
            return (
                f"{where}, line {first_line}: a quote opened on this line is not "
                f"closed as expected (the row runs to line {line} with "
                f"{len(row)} field{'s' * (len(row) > 1)}, the header has {n_columns}): "
                "is a quote left open?"
            )
        if len(row) != n_columns:
            return (
                f"{where}, line {line} has {len(row)} field{'s' * (len(row) > 1)}, "
                f"but the header has {n_columns} columns"
            )
        for index in usecols:
            field_text = row[index].strip()
            if drop_missing and field_text.lower() in MISSING_VALUES:
                continue
            problem = _field_problem(field_text)
            if problem:
                return f"{where}, line {line}, column {shown[index]!r}: {problem}"


def _field_problem(text):
    """What is wrong with one field's text, or None when it is a finite number."""
    if text.lower() in MISSING_VALUES:
        return (
            f"missing value ({text!r}); skvi needs a number in every field: "
            "drop such rows with --missing drop, fill them, or leave the column "
            "out with --columns"
        )
    try:
        if "_" in text:
            raise ValueError
        value = float(text)
    except ValueError:
        if _THOUSANDS.match(text):
            return (
                f"{text!r} is not a number: write numbers without thousands separators"
            )
        return f"{text!r} is not a number; pick numeric columns with --columns"
    if not math.isfinite(value):
        return f"infinite value ({text!r}); skvi fit needs finite numbers"
    return None


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
