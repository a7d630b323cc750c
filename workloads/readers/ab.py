"""Readers for ApacheBench 2.3 output: the text report, ``-e`` percentiles and ``-g`` data."""

from __future__ import annotations

import csv
import io
import re

import pandas as pd

from mpmsim.workloads.readers.tool_result import (
    PathLike,
    ToolResult,
    fail,
    label_value,
    load_text,
    number,
    pick_percentiles,
)

_TABLE_HEADER = "Percentage of the requests served within a certain time (ms)"
_PCT_ROW = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\d+(?:\.\d+)?)(?:\s+\(longest request\))?\s*$")
_CONN_ROW = re.compile(
    r"^(Connect|Processing|Waiting|Total):[ \t]+(-?[\d.]+)[ \t]+(-?[\d.]+)[ \t]+(-?[\d.]+)"
    r"[ \t]+(-?[\d.]+)[ \t]+(-?[\d.]+)[ \t]*$",
    re.MULTILINE,
)
_FAILED_BREAKDOWN = re.compile(
    r"\(Connect:\s*(\d+),\s*Receive:\s*(\d+),\s*Length:\s*(\d+),\s*Exceptions:\s*(\d+)\)"
)
_REQUIRED_LABELS = (
    "Concurrency Level",
    "Time taken for tests",
    "Complete requests",
    "Failed requests",
)
_DETAIL_LABELS = (
    ("Document Length", "document_length_bytes"),
    ("Total transferred", "total_transferred_bytes"),
    ("HTML transferred", "html_transferred_bytes"),
    ("Transfer rate", "transfer_kbytes_per_s"),
    ("Keep-Alive requests", "keepalive_requests"),
    ("Total body sent", "total_body_sent_bytes"),
)
_MEAN_PER_REQUEST = re.compile(r"^Time per request:[ \t]+([\d.]+) \[ms\] \(mean\)[ \t]*$", re.M)
_MEDIAN_WARNING = re.compile(r"(?:WARNING|ERROR): The median and mean[^\n]*\n[^\n]*")
_GNUPLOT_COLUMNS = ("starttime", "seconds", "ctime", "dtime", "ttime", "wait")
_GNUPLOT_NAMES = {
    "seconds": "start_s",
    "ctime": "ctime_ms",
    "dtime": "dtime_ms",
    "ttime": "ttime_ms",
    "wait": "wait_ms",
}


def _leading_number(value: str | None) -> float | None:
    """The first number in a label's value (``10946.57 [#/sec] (mean)`` -> 10946.57)."""
    if value is None:
        return None
    match = re.match(r"[-+]?(?:\d+\.?\d*|\.\d+)", value)
    return float(match.group(0)) if match else None


def _percent_table(text: str) -> dict[float, float]:
    """The 'Percentage of the requests served' table, percentile -> ms."""
    start = text.find(_TABLE_HEADER)
    if start < 0:
        return {}
    table: dict[float, float] = {}
    for line in text[start + len(_TABLE_HEADER) :].splitlines()[1:]:
        match = _PCT_ROW.match(line)
        if not match:
            break
        table[float(match.group(1))] = float(match.group(2))
    return table


def _connection_times(text: str) -> dict[str, float]:
    """The 'Connection Times (ms)' table as details, e.g. ``total_median_ms``."""
    start = text.find("Connection Times (ms)")
    if start < 0:
        return {}
    details: dict[str, float] = {}
    for match in _CONN_ROW.finditer(text, start):
        row = match.group(1).lower()
        for stat, value in zip(
            ("min", "mean", "sd", "median", "max"), match.groups()[1:], strict=True
        ):
            details[f"{row}_{stat}_ms"] = float(value)
    return details


def read_ab_text(path: PathLike) -> ToolResult:
    """Parse an ``ab`` (ApacheBench 2.3) text report into a ToolResult.

    Takes labelled lines (Concurrency Level, Time taken for tests, Complete/Failed requests and
    their breakdown, Write errors, Keep-Alive requests, Non-2xx responses, Requests per second,
    Time per request (mean)), the Connection Times table (into ``details``) and the percentage
    table (integer ms). Keep-alive = the "Keep-Alive requests" line is present.
    """
    text = load_text(path, "ab output")
    rps = _requests_per_second(path, text)
    values = _required_values(path, text)
    failed = int(values["Failed requests"])
    details = _details(text)
    mean = _MEAN_PER_REQUEST.search(text)
    pcts = _percent_table(text)
    return ToolResult(
        tool="ab",
        source=str(path),
        requests_completed=int(values["Complete requests"]),
        failed=failed,
        duration_s=values["Time taken for tests"],
        req_per_s=rps,
        concurrency=int(values["Concurrency Level"]),
        keepalive=label_value(text, "Keep-Alive requests") is not None,
        lat_mean_ms=float(mean.group(1)) if mean else None,
        lat_max_ms=pcts.get(100.0, details.get("total_max_ms")),
        errors=_errors(text, failed),
        percentiles_ms=pcts,
        url=_ab_url(text),
        details=details,
        warnings=tuple(" ".join(m.group(0).split()) for m in _MEDIAN_WARNING.finditer(text)),
        **pick_percentiles(pcts),
    )


def _requests_per_second(path: PathLike, text: str) -> float:
    """The 'Requests per second' figure; its absence tells a truncated report from another file."""
    rps = _leading_number(label_value(text, "Requests per second"))
    if rps is not None:
        return rps
    if "This is ApacheBench" in text:
        last = [line.strip() for line in text.splitlines() if line.strip()][-1]
        raise fail(
            path,
            "ab output ends before the 'Requests per second' line "
            f"(truncated, or ab stopped; last line {last!r})",
        )
    raise fail(path, "not ab output: no 'Requests per second' line")


def _required_values(path: PathLike, text: str) -> dict[str, float]:
    """The labelled numbers every complete report has, by label; a missing one raises."""
    values: dict[str, float] = {}
    for label in _REQUIRED_LABELS:
        value = _leading_number(label_value(text, label))
        if value is None:
            raise fail(path, f"not complete ab output: no '{label}' line")
        values[label] = value
    return values


def _errors(text: str, failed: int) -> dict[str, int]:
    """Failures by kind: the 'Failed requests' breakdown (else all 'other'), write, non-2xx."""
    errors: dict[str, int] = {}
    breakdown = _FAILED_BREAKDOWN.search(text)
    if breakdown:
        for key, count in zip(
            ("connect", "read", "length", "exceptions"), breakdown.groups(), strict=True
        ):
            errors[key] = int(count)
    elif failed:
        errors["other"] = failed
    for label, key in (("Write errors", "write"), ("Non-2xx responses", "non_2xx")):
        count = _leading_number(label_value(text, label))
        if count is not None:
            errors[key] = int(count)
    return errors


def _details(text: str) -> dict[str, float]:
    """The Connection Times table, then the transfer and keep-alive figures, named with units."""
    details = _connection_times(text)
    for label, name in _DETAIL_LABELS:
        value = _leading_number(label_value(text, label))
        if value is not None:
            details[name] = value
    return details


def _ab_url(text: str) -> str | None:
    """URL rebuilt from Server Hostname, Server Port, Document Path (https if SSL/TLS)."""
    host = label_value(text, "Server Hostname")
    path = label_value(text, "Document Path")
    if host is None or path is None:
        return None
    port = label_value(text, "Server Port")
    scheme = "https" if label_value(text, "SSL/TLS Protocol") else "http"
    return f"{scheme}://{host}:{port}{path}" if port else f"{scheme}://{host}{path}"


def read_ab_percentiles(path: PathLike) -> dict[float, float]:
    """Parse ab's ``-e`` CSV (``Percentage served,Time in ms``): percentile -> ms."""
    text = load_text(path, "an ab -e percentile CSV")
    rows = list(csv.reader(io.StringIO(text)))
    expected = "expected ab -e output with header 'Percentage served,Time in ms'"
    if not rows or [c.strip() for c in rows[0]] != ["Percentage served", "Time in ms"]:
        raise fail(path, f"not an ab -e percentile CSV: {expected}")
    table: dict[float, float] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        pct = number(row[0]) if len(row) == 2 else None
        ms = number(row[1]) if len(row) == 2 else None
        if pct is None or ms is None or not 0.0 <= pct <= 100.0:
            raise fail(path, f"line {line_no}: expected 'percentage,ms', got {','.join(row)!r}")
        if table and pct <= max(table):
            raise fail(
                path, f"line {line_no}: percentages must increase ({pct:g} after {max(table):g})"
            )
        table[pct] = ms
    if not table:
        raise fail(path, "ab -e percentile CSV has a header but no rows (truncated?)")
    return table


def read_ab_gnuplot(path: PathLike) -> pd.DataFrame:
    """Parse ab's ``-g`` TSV, one row per request.

    Columns: ``starttime`` (ctime text), ``start_s`` (epoch s), ``ctime_ms`` (connect),
    ``dtime_ms`` (processing), ``ttime_ms`` (total), ``wait_ms`` (to first byte). Rows keep the
    file's order (ab writes them sorted by total time, not by start).
    """
    text = load_text(path, "an ab -g TSV")
    lines = [line for line in text.splitlines() if line.strip()]
    header = [c.strip() for c in lines[0].split("\t")] if lines else []
    if header != list(_GNUPLOT_COLUMNS):
        raise fail(
            path, "not an ab -g TSV: expected header 'starttime seconds ctime dtime ttime wait'"
        )
    starts: list[str] = []
    numbers: list[list[int]] = []
    for line_no, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        values = [number(c) for c in cells[1:]]
        if len(cells) != len(_GNUPLOT_COLUMNS) or any(v is None for v in values):
            raise fail(path, f"line {line_no}: expected 6 tab-separated fields, got {line!r}")
        starts.append(cells[0].strip())
        numbers.append([int(v) for v in values if v is not None])
    frame = pd.DataFrame(numbers, columns=list(_GNUPLOT_NAMES.values()), dtype="int64")
    frame.insert(0, "starttime", pd.Series(starts, dtype="object"))
    return frame
