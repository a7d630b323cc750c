"""What a replay reads: the log, its format, the span of it to play, and how it is grouped.

A log is probed once, before any replication: its first records (where it starts, which
connection rule they allow, whether times are whole seconds) and its last ones (where it
ends). A window that starts inside a plain file is found by bisecting byte offsets, so a
replay of the last hour of a day does not parse the 23 before it (a gzip log is read from
its start).
"""

from __future__ import annotations

import functools
import math
import os
from collections import deque
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from mpmsim.errors import InputError
from mpmsim.workloads.access_log import (
    BadLines,
    LineParser,
    compile_format,
    not_a_file,
    open_log,
    parse_lines,
)
from mpmsim.workloads.access_log.connections import (
    APACHE_KEEPALIVE_TIMEOUT_S,
    ConnectionRule,
    choose_rule,
)
from mpmsim.workloads.access_log.record import AccessRecord

HEAD = 1000
"""Records read to choose the connection rule and find where the log starts."""
LOOKAHEAD_S = 30.0
"""Log seconds read ahead and sorted by start: a line is written when its request ends, so
one that took longer than this comes late (it is then replayed as soon as it is read)."""
TAIL_LINES = 200
"""Lines at the log's end read to find where it ends (the latest start among them)."""
_TAIL_BYTES = 1 << 18
_BISECT_STOP_BYTES = 1 << 16


@dataclass(frozen=True)
class TraceOptions:
    """What a scenario asks of a replay (``load.kind: trace``), in the workloads' terms."""

    path: str
    log_format: str = "combined"
    speedup: float = 1.0
    """2 plays the log's connections twice as fast: twice the traffic."""
    window: tuple[float, float] | None = None
    """Offsets into the log, seconds after its first request: the part to replay."""
    rule: str = "auto"
    """A :class:`ConnectionRule` value, or ``auto`` for the best the log allows."""
    keepalive_timeout_s: float = APACHE_KEEPALIVE_TIMEOUT_S
    """The logging server's KeepAliveTimeout: a longer idle gap ends a connection."""
    class_rules: tuple[str, ...] = ()
    """``REGEX=NAME`` URL classes, tried before static by extension vs dynamic."""
    logged_service: bool = False
    """Each request's CPU and wait come from its logged ``%D``, not from its mix class."""
    cpu_share: float = 0.2
    """Share of ``%D`` taken as CPU with ``logged_service`` (the rest is wait)."""


@dataclass(frozen=True)
class TracePlan:
    """A probed log and the part of it a replay plays; offsets are log seconds after
    ``origin_s``, simulated times start at ``from_s`` and run ``speedup`` times faster."""

    options: TraceOptions
    log_format: str
    """The ``LogFormat`` string the options name."""
    rule: ConnectionRule
    origin_s: float
    """Epoch of the log's first request (the least start among its first records)."""
    from_s: float
    """Where the replay starts: the window's start less the warm-up's lead-in."""
    start_s: float
    """The window's start."""
    end_s: float
    """The window's end (the log's end when no window is given, or when it is past it)."""
    whole_seconds: bool
    """Times are whole seconds (``%t``): each request gets a random fraction of its second."""
    has_duration: bool
    """The format logs ``%D`` (or ``%T``)."""
    bytes_out: bool
    """The format logs ``%O``: response sizes on the wire; else ``%b``."""
    offset_bytes: int
    """Where reading starts in a plain file (0 for gzip or the log's start)."""

    @property
    def duration_s(self) -> float:
        """Simulated seconds from the replay's start to the window's end."""
        return (self.end_s - self.from_s) / self.options.speedup

    @property
    def lead_s(self) -> float:
        """Simulated seconds replayed before the window starts (the warm-up's lead-in)."""
        return (self.start_s - self.from_s) / self.options.speedup

    def parser(self) -> LineParser:
        """The format compiled (a parser holds compiled code: one per replication)."""
        return compile_format(self.log_format)


def plan_trace(options: TraceOptions, warmup_s: float) -> TracePlan:
    """Probe ``options.path`` and place the replay: ``warmup_s`` simulated seconds of the log
    before the window are played first, as far as the log reaches back."""
    path = options.path
    try:
        parser = compile_format(options.log_format)
    except InputError as error:
        raise InputError(error.detail, field="load.format") from None
    if "start_s" not in parser.filled:
        raise InputError(
            "the format logs no start time (%t, or an end time and %D)", field="load.format"
        )
    if not Path(path).is_file():
        raise InputError(f"{not_a_file(path)}: {path}", field="load.file")
    head = _head(path, parser)
    if not head:
        raise InputError(f"no request in {path}", field="load.file")
    starts = [r.start_s for r in head if r.start_s is not None]
    origin = min(starts)
    whole = all(s == math.floor(s) for s in starts)
    last = _last_start(path, parser.log_format, os.stat(path).st_mtime_ns)
    last += 1.0 if whole else 1e-3  # the last request's own second (or millisecond) too
    span = last - origin
    start, end = options.window if options.window is not None else (0.0, span)
    if start >= span:
        raise InputError(
            f"starts at {start:g} s, after the log's last request ({span:g} s in)",
            field="load.window",
        )
    rule = (
        choose_rule(head, parser.extra_names)
        if options.rule == "auto"
        else ConnectionRule(options.rule)
    )
    begin = max(start - warmup_s * options.speedup, 0.0)
    return TracePlan(
        options=options,
        log_format=parser.log_format,
        rule=rule,
        origin_s=origin,
        from_s=begin,
        start_s=start,
        end_s=min(end, span),
        whole_seconds=whole,
        has_duration="duration_us" in parser.filled,
        bytes_out="bytes_out" in parser.filled,
        offset_bytes=_offset_before(path, parser, origin + begin - LOOKAHEAD_S) if begin else 0,
    )


def _head(path: str, parser: LineParser) -> list[AccessRecord]:
    """The log's first :data:`HEAD` records."""
    with open_log(path) as handle:
        records = parse_lines(handle, parser, BadLines(), source=path)
        try:
            return list(islice(records, HEAD))
        finally:
            records.close()


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


@functools.lru_cache(maxsize=16)
def _last_start(path: str, log_format: str, mtime_ns: int) -> float:
    """The latest start among the log's last lines (a gzip log is read through once; the
    answer is kept for the same file and modification time)."""
    del mtime_ns  # part of the cache key only
    parser = compile_format(log_format)
    if _is_gzip(path):
        with open_log(path) as handle:
            lines = list(deque(handle, maxlen=TAIL_LINES))
    else:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - _TAIL_BYTES, 0))
            text = handle.read().decode("utf-8", "surrogateescape")
        lines = text.split("\n")[-TAIL_LINES:]
    starts = [r.start_s for r in map(parser.parse, lines) if r is not None and r.start_s]
    if not starts:
        raise InputError(
            f"none of the last {len(lines)} lines of {path} parses", field="load.format"
        )
    return max(starts)


def _first_start_after(handle: BinaryIO, offset: int, parser: LineParser) -> float | None:
    """The start of the first whole line after byte ``offset`` that parses (None at the end)."""
    handle.seek(offset)
    if offset:
        handle.readline()  # the rest of a line cut in two
    for _ in range(50):
        raw = handle.readline()
        if not raw:
            return None
        record = parser.parse(raw.decode("utf-8", "surrogateescape"))
        if record is not None and record.start_s is not None:
            return record.start_s
    return None


def _offset_before(path: str, parser: LineParser, epoch_s: float) -> int:
    """A line's byte offset in a plain log at or before the first line starting at
    ``epoch_s`` (nearly ordered logs: bisection on offsets); 0 for a gzip log."""
    if _is_gzip(path):
        return 0
    with open(path, "rb") as handle:
        lo, hi = 0, handle.seek(0, os.SEEK_END)
        while hi - lo > _BISECT_STOP_BYTES:
            mid = (lo + hi) // 2
            found = _first_start_after(handle, mid, parser)
            if found is None or found >= epoch_s:
                hi = mid
            else:
                lo = mid
        if not lo:
            return 0
        handle.seek(lo)
        handle.readline()
        return handle.tell()


__all__ = ["HEAD", "LOOKAHEAD_S", "TraceOptions", "TracePlan", "plan_trace"]
