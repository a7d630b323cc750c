"""The common shape of one load-tool run, and the text helpers every reader shares."""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

from mpmsim.errors import InputError

PathLike = str | os.PathLike[str]

#: Error keys that have their own measurement-CSV column; every other key goes to err_other.
_OWN_COLUMNS = {
    "connect": "err_connect",
    "read": "err_read",
    "write": "err_write",
    "timeout": "err_timeout",
}


@dataclass(frozen=True)
class ToolResult:
    """One load-tool run, reduced to the figures every tool (mostly) reports.

    Times are milliseconds, durations seconds; ``None`` means the tool did not report it.
    ``errors`` counts failures by kind as the tool names them (connect, read, write, timeout,
    length, exceptions, non_2xx ...); ``percentiles_ms`` maps percentile (0-100) to latency.
    ``details`` holds the other numbers a tool gives (transfer, connection-time table, ...),
    named with their unit.
    """

    tool: str
    source: str
    requests_completed: int | None = None
    failed: int | None = None
    duration_s: float | None = None
    req_per_s: float | None = None
    concurrency: int | None = None
    keepalive: bool | None = None
    lat_mean_ms: float | None = None
    lat_p50_ms: float | None = None
    lat_p90_ms: float | None = None
    lat_p95_ms: float | None = None
    lat_p99_ms: float | None = None
    lat_max_ms: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    percentiles_ms: dict[float, float] = field(default_factory=dict)
    url: str | None = None
    details: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def as_row(self) -> dict[str, object]:
        """The run as measurement-CSV cells (column names of runs.csv; None = blank)."""
        known = self.failed is not None or bool(self.errors)
        row: dict[str, object] = {
            "tool": self.tool,
            "url": _url_path(self.url),
            "concurrency": self.concurrency,
            "keepalive": None if self.keepalive is None else int(self.keepalive),
            "duration_s": self.duration_s,
            "requests_completed": self.requests_completed,
            "failed": self.failed,
            "non_2xx": self.errors.get("non_2xx", 0) if known else None,
        }
        for key, column in _OWN_COLUMNS.items():
            row[column] = self.errors.get(key, 0) if known else None
        other = sum(n for k, n in self.errors.items() if k not in _OWN_COLUMNS and k != "non_2xx")
        row["err_other"] = other if known else None
        row.update(
            req_per_s=self.req_per_s,
            lat_mean_ms=self.lat_mean_ms,
            lat_p50_ms=self.lat_p50_ms,
            lat_p90_ms=self.lat_p90_ms,
            lat_p95_ms=self.lat_p95_ms,
            lat_p99_ms=self.lat_p99_ms,
            lat_max_ms=self.lat_max_ms,
        )
        return row


def _url_path(url: str | None) -> str | None:
    """Path (and query) of a URL, as runs.csv's ``url`` column holds it."""
    if url is None:
        return None
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


# --- helpers shared by the readers ---------------------------------------------------------


def fail(path: PathLike, message: str) -> InputError:
    """An InputError that names the file."""
    return InputError(message, file=str(path))


def csv_rows(
    path: PathLike, text: str, required: Sequence[str], missing: Callable[[list[str]], str]
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row by column name) of a header-driven CSV; blank lines are skipped.

    ``missing(columns)`` words the error when required columns are absent; a row whose field
    count differs from the header's is reported as truncated.
    """
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip() for c in rows[0]] if rows else []
    absent = [c for c in required if c not in header]
    if absent:
        raise fail(path, missing(absent))
    table = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise fail(
                path, f"line {line_no}: {len(row)} fields, header has {len(header)} (truncated?)"
            )
        table.append((line_no, dict(zip(header, row, strict=True))))
    return table


def load_text(path: PathLike, what: str) -> str:
    """Whole text of a file (gzip is unpacked); unreadable or binary files raise InputError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise fail(path, f"cannot read {what}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise fail(path, f"not {what}: damaged gzip data ({exc})") from None
    if b"\x00" in raw[:4096]:
        raise fail(path, f"not {what}: binary data")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def label_value(text: str, label: str) -> str | None:
    """The text after ``label:`` on the first line that starts with it (leading blanks allowed)."""
    match = re.search(rf"^[ \t]*{re.escape(label)}:[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    return match.group(1) if match else None


_TIME_UNITS_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}
_TIME_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(ns|us|µs|ms|s|m|h)\s*$")
_METRIC_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_METRIC_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*([kKMGT]?)\s*$")


def time_ms(text: str) -> float | None:
    """Milliseconds from a time with a unit (``71.73us``, ``4.10s``, ``1.5m``); None if not one."""
    match = _TIME_RE.match(text)
    if not match:
        return None
    value = float(match.group(1))
    unit = match.group(2)
    if unit in ("us", "µs"):
        return value / 1000.0
    if unit == "ns":
        return value / 1e6
    return value * _TIME_UNITS_MS[unit]


def time_s(text: str) -> float | None:
    """Seconds from a time with a unit; None if the text is not a time."""
    match = _TIME_RE.match(text)
    if not match:
        return None
    if match.group(2) == "s":
        return float(match.group(1))
    ms = time_ms(text)
    return None if ms is None else ms / 1000.0


def metric(text: str) -> float | None:
    """A number with an optional k/M/G suffix (``16.00k``); None if not one."""
    match = _METRIC_RE.match(text)
    if not match:
        return None
    return float(match.group(1)) * _METRIC_SUFFIX[match.group(2)]


def number(text: str) -> float | None:
    """A finite float, or None for anything else (blank, N/A, nan, words)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class LatencyPercentiles(TypedDict):
    """The ToolResult percentile fields, to pass on with ``**``."""

    lat_p50_ms: float | None
    lat_p90_ms: float | None
    lat_p95_ms: float | None
    lat_p99_ms: float | None


def pick_percentiles(pcts: dict[float, float]) -> LatencyPercentiles:
    """The lat_p50/p90/p95/p99 fields from a percentile table (missing ones None)."""
    return LatencyPercentiles(
        lat_p50_ms=pcts.get(50.0),
        lat_p90_ms=pcts.get(90.0),
        lat_p95_ms=pcts.get(95.0),
        lat_p99_ms=pcts.get(99.0),
    )


def command_url(text: str) -> str | None:
    """URL on a harness command line (first line like ``taskset -c 0 tool ... URL``), if any."""
    first = text.lstrip().split("\n", 1)[0]
    urls = re.findall(r"https?://\S+", first)
    return urls[-1] if urls else None
