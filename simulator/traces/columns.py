"""A log read into columns (numpy arrays, one entry per request) with its connection keys."""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mpmsim.errors import InputError
from mpmsim.workloads.access_log import BadLines, compile_format, not_a_file, open_log, parse_lines
from mpmsim.workloads.access_log.connections import (
    X_CODES,
    ConnectionRule,
    Key,
    choose_rule,
    connection_key,
)
from mpmsim.workloads.access_log.record import AccessRecord
from mpmsim.workloads.access_log.url_classes import UrlClasses

HEAD = 1000
"""Records read before the connection rule is chosen (the rule needs its fields on most)."""


@dataclass(frozen=True)
class LogColumns:
    """What the fit needs of every request, in the log's order."""

    source: str
    log_format: str
    lines: int
    bad_lines: int
    rule: ConnectionRule
    class_names: tuple[str, ...]
    bytes_field: str
    """``%O`` (bytes sent, headers included) when logged, else ``%b``/``%B``."""
    start_s: npt.NDArray[np.float64]
    end_s: npt.NDArray[np.float64]
    """The line's end (``%{end}t``, or start + ``%D``); the start when neither is logged."""
    duration_ms: npt.NDArray[np.float64]
    """``%D`` (or ``%T``) in ms; NaN where not logged."""
    response_bytes: npt.NDArray[np.float64]
    status: npt.NDArray[np.int16]
    """``%>s``; -1 where not logged."""
    url_class: npt.NDArray[np.int16]
    key: npt.NDArray[np.int64]
    """The number of the request's connection key (see ``connections.connection_key``)."""
    x_code: npt.NDArray[np.int8]
    keepalive: npt.NDArray[np.int64]
    """``%k``; -1 where not logged."""

    @property
    def requests(self) -> int:
        """How many requests (good lines)."""
        return len(self.start_s)

    @property
    def has_duration(self) -> bool:
        """Some requests log how long they took."""
        return bool(np.isfinite(self.duration_ms).any())

    @property
    def whole_seconds(self) -> bool:
        """Every start is a whole second (``%t``): times need dithering before gaps are taken."""
        return bool(np.all(self.start_s == np.floor(self.start_s)))


class _Builder:
    """Appends records to compact arrays (8 bytes or less per field and request)."""

    def __init__(
        self, classes: UrlClasses, key_of: Callable[[AccessRecord], Key], bytes_out: bool
    ) -> None:
        self.classes, self.key_of, self.bytes_out = classes, key_of, bytes_out
        self.keys: dict[Key, int] = {}
        self.start, self.end, self.duration = array("d"), array("d"), array("d")
        self.size, self.status, self.url_class = array("d"), array("h"), array("h")
        self.key, self.x_code, self.keepalive = array("q"), array("b"), array("q")

    def add(self, r: AccessRecord) -> None:
        """One request."""
        start = r.start_s
        assert start is not None  # the format logs a time (checked before the read)
        self.start.append(start)
        self.end.append(r.end_s if r.end_s is not None else start)
        self.duration.append(math.nan if r.duration_us is None else r.duration_us / 1000.0)
        size = r.bytes_out if self.bytes_out else r.body_bytes
        self.size.append(0.0 if size is None else float(size))
        self.status.append(-1 if r.status is None else r.status)
        self.url_class.append(self.classes.classify(r.path))
        self.key.append(self.keys.setdefault(self.key_of(r), len(self.keys)))
        self.x_code.append(X_CODES.get(r.connection_status, 0))
        self.keepalive.append(-1 if r.keepalive_requests is None else r.keepalive_requests)


def read_columns(
    path: str | os.PathLike[str],
    log_format: str,
    classes: UrlClasses,
    *,
    local_offset_s: int = 0,
) -> LogColumns:
    """Stream the log once into columns; the connection rule is chosen on its first records."""
    source = os.fspath(path)
    parser = compile_format(log_format, local_offset_s=local_offset_s, source="--format")
    if "start_s" not in parser.filled:
        raise InputError(
            "the format logs no start time (%t, or an end time and %D)", field="--format"
        )
    if not Path(path).is_file():
        raise InputError(not_a_file(path), file=source)
    tally = BadLines()
    bytes_out = "bytes_out" in parser.filled
    with open_log(path) as handle:
        records = parse_lines(handle, parser, tally, source=source)
        head = list(islice(records, HEAD))
        if not head:
            raise InputError("no request in the log", file=source)
        rule = choose_rule(head, parser.extra_names)
        build = _Builder(classes, connection_key(rule, parser.extra_names), bytes_out)
        for record in chain(head, records):
            build.add(record)
    return LogColumns(
        source=source,
        log_format=parser.log_format,
        lines=tally.lines_read,
        bad_lines=tally.count,
        rule=rule,
        class_names=classes.names,
        bytes_field="%O" if bytes_out else "%b",
        start_s=np.frombuffer(build.start, dtype=np.float64),
        end_s=np.frombuffer(build.end, dtype=np.float64),
        duration_ms=np.frombuffer(build.duration, dtype=np.float64),
        response_bytes=np.frombuffer(build.size, dtype=np.float64),
        status=np.frombuffer(build.status, dtype=np.int16),
        url_class=np.frombuffer(build.url_class, dtype=np.int16),
        key=np.frombuffer(build.key, dtype=np.int64),
        x_code=np.frombuffer(build.x_code, dtype=np.int8),
        keepalive=np.frombuffer(build.keepalive, dtype=np.int64),
    )


__all__ = ["HEAD", "LogColumns", "read_columns"]
