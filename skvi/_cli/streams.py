"""Opening the command line's input as bytes: files, standard input, compression.

:func:`open_binary` gives a file's or standard input's bytes, decompressed:
the compression is inferred from the file name's extension, as pandas
infers it, else (and always for standard input) from the first bytes of the
stream (gzip, bzip2, xz, zip, Zstandard). :class:`GuardedStream` hands those
bytes to pandas with every line bounded by :data:`MAX_LINE_BYTES`, raising
:class:`LineTooLong` before pandas would parse a line of millions of fields.
"""

# SPDX-License-Identifier: BSD-3-Clause

import bz2
import gzip
import io
import lzma
import os
import re
import sys
import zipfile

from .common import CommandLineError

# The path that names standard input.
STDIN = "-"

# A line longer than this is refused before pandas parses it: memory stays
# bounded (10,000 columns of 17-digit numbers take about 200 kB).
MAX_LINE_BYTES = 2**20


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


def open_binary(path):
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


class LineTooLong(ValueError):
    """A line longer than ``MAX_LINE_BYTES``: refused before it is parsed."""


class GuardedStream(io.RawIOBase):
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
                raise LineTooLong
            self.since_break = len(data) - data.rfind(b"\n") - 1
        if self.since_break > MAX_LINE_BYTES:
            raise LineTooLong
        buffer[: len(data)] = data
        return len(data)
