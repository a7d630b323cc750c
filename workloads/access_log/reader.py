"""Streaming an access log (plain or gzip) as ``AccessRecord``s, with bad lines counted."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import zlib
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import TextIO

from mpmsim.errors import InputError
from mpmsim.workloads.access_log.bad_lines import BadLines
from mpmsim.workloads.access_log.parser import LineParser, compile_format
from mpmsim.workloads.access_log.record import AccessRecord

PathLike = str | os.PathLike[str]
Records = Generator[AccessRecord, None, None]
"""A stream of records; ``close()`` it to stop a read early (the file is closed too)."""

EARLY_LINES = 1000
"""Lines read before the reader may give up early because most of them were bad."""


def not_a_file(path: PathLike) -> str:
    """Why ``path`` cannot be read as a log: it is a folder, or nothing is there."""
    return "is a folder, not a file" if Path(path).is_dir() else "no such file"


def open_log(path: PathLike) -> TextIO:
    """A log file opened for text, gunzipped when it starts with gzip's magic bytes.

    Bytes that are not UTF-8 are kept as surrogates (never an error); only ``\\n`` ends a line.
    """
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", file=os.fspath(path)) from None
    if magic == b"\x1f\x8b":
        raw = _CheckedGzip(os.fspath(path))
        return io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="\n")
    return open(path, encoding="utf-8", errors="surrogateescape", newline="\n")


class _CheckedGzip(gzip.GzipFile):
    """A gzip file whose truncated or corrupt data is an ``InputError`` naming the file.

    gzip raises ``EOFError`` for a file cut short, which the command line's framework (click)
    takes for Ctrl-D and turns into "aborted"."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "rb")
        self._path = path

    @contextlib.contextmanager
    def _checked(self) -> Iterator[None]:
        try:
            yield
        except (EOFError, OSError, zlib.error) as error:
            what = "truncated" if isinstance(error, EOFError) else f"corrupt ({error})"
            raise InputError(f"the gzip data is {what}: gunzip -t it", file=self._path) from None

    def read(self, size: int | None = -1) -> bytes:
        with self._checked():
            return super().read(size)

    def read1(self, size: int = -1) -> bytes:
        with self._checked():
            return super().read1(size)

    def peek(self, n: int) -> bytes:
        with self._checked():
            return super().peek(n)


def parse_lines(
    lines: Iterable[str],
    parser: LineParser,
    bad_lines: BadLines | None = None,
    *,
    source: str = "<lines>",
) -> Records:
    """The records of ``lines``, in the log's order (not sorted: Apache writes a line when
    its request ends, so start times go back and forth by the longest request).

    A line that does not parse is counted in ``bad_lines`` (read it once the read is over)
    and skipped; lines are numbered from 1. ``InputError`` (with
    the tally's summary) ends the read when most lines are bad: as soon as they are, once
    ``EARLY_LINES`` lines were read, or at the end of a shorter log.
    """
    tally = bad_lines if bad_lines is not None else BadLines()
    parse = parser.parse
    line_no = 0
    try:
        for line_no, line in enumerate(lines, 1):
            record = parse(line)
            if record is not None:
                yield record
                continue
            tally.add(line_no, line)
            if line_no >= EARLY_LINES and tally.count * 2 > line_no:
                tally.lines_read = line_no
                raise _mostly_bad(tally, parser, source)
    finally:
        # Also when the caller stops early: the tally then tells about the lines read.
        tally.lines_read = line_no
    if tally.mostly_bad:
        raise _mostly_bad(tally, parser, source)


def _mostly_bad(tally: BadLines, parser: LineParser, source: str) -> InputError:
    """The error for a log most of whose lines do not match its format."""
    return InputError(f"{tally.summary()}; is the log's format {parser.log_format!r}?", file=source)


def read_access_log(
    path: PathLike,
    log_format: str = "combined",
    *,
    bad_lines: BadLines | None = None,
    local_offset_s: int = 0,
) -> Records:
    """Stream the records of an access log (plain or gzip), in constant memory.

    ``log_format`` is a nickname (``common``, ``combined``, ``vhost_combined``,
    ``combinedio``, ``mpmsim``), a ``LogFormat`` string or a config line. Bad lines are
    counted in ``bad_lines`` (see :func:`parse_lines`). The format is checked at once; the
    file is opened when the first record is asked for and closed after the last.
    """
    source = os.fspath(path)
    parser = compile_format(log_format, local_offset_s=local_offset_s, source=source)
    if not Path(path).is_file():
        raise InputError(not_a_file(path), file=source)
    return _stream(path, parser, bad_lines, source)


def _stream(path: PathLike, parser: LineParser, bad_lines: BadLines | None, source: str) -> Records:
    """Open, parse and close."""
    with open_log(path) as handle:
        yield from parse_lines(handle, parser, bad_lines, source=source)


__all__ = ["EARLY_LINES", "open_log", "parse_lines", "read_access_log"]
