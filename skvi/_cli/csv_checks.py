"""The CSV header's checks, and the diagnosis that names a bad line and column.

:func:`read_header` reads and checks the header line (first, UTF-8,
comma-separated, within the line and column limits, names rather than
numbers) and :func:`column_names` gives pandas' names and the names shown to
the user. When pandas' C parser fails, the diagnosis
re-reads the file slowly, with Python's csv module, to say where and why:
:func:`find_long_line` (a line over ``MAX_LINE_BYTES``), :func:`find_bad_utf8`
(bytes that are not UTF-8), :func:`find_bad_field` (a ragged row, a missing
value, text, a number with thousands separators, an infinite value); from
standard input, which cannot be read twice, :func:`describe_without_lines`
says what pandas said.
"""

# SPDX-License-Identifier: BSD-3-Clause

import csv
import io
import lzma
import math
import re
import zipfile

from .common import MAX_COLUMNS, MISSING_VALUES, CommandLineError
from .streams import MAX_LINE_BYTES, LineTooLong

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


def _looks_numeric(text):
    """Whether a header field is a number, i.e. the header row is missing."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_header(stream, where):
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


def column_names(header_line, fields):
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


def _long_line_message(where):
    """What to do about a line longer than ``MAX_LINE_BYTES``."""
    return (
        f"{where} is longer than {MAX_LINE_BYTES:,} bytes; skvi fit reads rows of "
        f"at most {MAX_COLUMNS:,} columns, so that memory stays bounded"
    )


def find_long_line(stream, where):
    """The first line longer than ``MAX_LINE_BYTES``, read a bounded piece at a time."""
    number, length = 1, 0
    while piece := stream.readline(MAX_LINE_BYTES + 1):
        length += len(piece)
        if length > MAX_LINE_BYTES:
            return _long_line_message(f"{where}, line {number}")
        if piece.endswith(b"\n"):
            number, length = number + 1, 0
    return None


def describe_without_lines(where, exc, rows_before, chunk_rows):
    """A message for data that cannot be read again (standard input).

    The fault lies in the chunk that failed: rows ``rows_before + 1`` to
    ``rows_before + chunk_rows`` (pandas parses a chunk at a time).
    """
    rows = f"rows {rows_before + 1:,} to {rows_before + chunk_rows:,}"
    if isinstance(exc, LineTooLong):
        return _long_line_message(f"{where}: a line in {rows}")
    if isinstance(exc, UnicodeDecodeError):
        return f"{where} is not UTF-8 text ({exc.reason}); send UTF-8"
    detail = " ".join(str(exc).split())
    return (
        f"{where}: cannot parse the data in {rows}: {detail} "
        "(save it to a file for the line and column at fault)"
    )


def find_bad_utf8(stream, where):
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


def find_bad_field(text, where, n_columns, usecols, shown, drop_missing=False):
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
