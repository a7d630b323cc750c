"""Readers for Locust's ``--csv`` files: ``_stats.csv`` and ``_stats_history.csv``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mpmsim.workloads.readers.tool_result import (
    PathLike,
    ToolResult,
    csv_rows,
    fail,
    load_text,
    number,
    pick_percentiles,
)

_AGGREGATE_NAMES = ("Aggregated", "Total")
_STATS_REQUIRED = ("Name", "Request Count", "Failure Count", "Average Response Time", "Requests/s")
_HISTORY_REQUIRED = (
    "Timestamp",
    "User Count",
    "Name",
    "Requests/s",
    "Total Request Count",
    "Total Failure Count",
    "Total Average Response Time",
)


def _table(path: PathLike, what: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a Locust CSV as dicts; the header must have the required columns."""
    text = load_text(path, what)
    rows = csv_rows(
        path, text, required, lambda cols: f"not a {what}: missing columns {', '.join(cols)}"
    )
    return [row for _, row in rows]


def _percentiles(row: dict[str, str]) -> dict[float, float]:
    """Columns named like ``50%`` / ``99.9%`` (N/A skipped), percentile -> ms."""
    pcts: dict[float, float] = {}
    for name, cell in row.items():
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", name)
        value = number(cell)
        if match and value is not None:
            pcts[float(match.group(1))] = value
    return pcts


def _num(path: PathLike, row: dict[str, str], column: str, line: str) -> float | None:
    """A numeric cell (N/A and blank -> None); anything else raises InputError."""
    cell = row.get(column, "").strip()
    if cell in ("", "N/A"):
        return None
    value = number(cell)
    if value is None:
        raise fail(path, f"{line}: {column}: expected a number, got {cell!r}")
    return value


def _int(value: float | None) -> int | None:
    """int of a float, keeping None."""
    return None if value is None else int(value)


@dataclass(frozen=True)
class _Sample:
    """One Aggregated row of the history: cumulative counts at a timestamp."""

    timestamp_s: float
    users: int
    requests: float
    failures: float
    mean_ms: float
    current_rps: float | None
    row: dict[str, str]


def _sample(path: PathLike, row: dict[str, str], where: str) -> _Sample:
    """Parse one Aggregated history row."""
    stamp = _num(path, row, "Timestamp", where)
    users = _num(path, row, "User Count", where)
    if stamp is None or users is None:
        raise fail(path, f"{where}: Timestamp and User Count are required")
    return _Sample(
        timestamp_s=stamp,
        users=int(users),
        requests=_num(path, row, "Total Request Count", where) or 0.0,
        failures=_num(path, row, "Total Failure Count", where) or 0.0,
        mean_ms=_num(path, row, "Total Average Response Time", where) or 0.0,
        current_rps=_num(path, row, "Requests/s", where),
        row=row,
    )


def read_locust_stats(path: PathLike) -> ToolResult:
    """The ``Aggregated`` row of a Locust ``_stats.csv`` as a ToolResult.

    Request/Failure Count, Average/Max Response Time (ms), Requests/s and every percentile
    column. The file has no user count or duration, so concurrency and duration_s are None.
    """
    rows = _table(path, "Locust _stats.csv", _STATS_REQUIRED)
    total = [r for r in rows if r["Name"].strip() in _AGGREGATE_NAMES]
    if not total:
        raise fail(path, "Locust _stats.csv has no 'Aggregated' row (truncated?)")
    row = total[-1]
    pcts = _percentiles(row)
    where = "Aggregated row"
    failures = _int(_num(path, row, "Failure Count", where))
    return ToolResult(
        tool="locust",
        source=str(path),
        requests_completed=_int(_num(path, row, "Request Count", where)),
        failed=failures,
        req_per_s=_num(path, row, "Requests/s", where),
        lat_mean_ms=_num(path, row, "Average Response Time", where),
        lat_max_ms=_num(path, row, "Max Response Time", where),
        errors={"failures": failures or 0},
        percentiles_ms=pcts,
        **pick_percentiles(pcts),
    )


def read_locust_history(path: PathLike) -> list[ToolResult]:
    """One ToolResult per step of constant User Count in a Locust ``_stats_history.csv``.

    Uses the ``Aggregated`` rows. A step runs from the previous step's last row (or its own
    first row) to its last row: requests and failures are the growth of the Total counts,
    req_per_s = requests / elapsed s, lat_mean_ms from the cumulative averages. A step with
    no elapsed time falls back to the row's current Requests/s. Percentiles are given only
    when the file has per-endpoint rows (``--csv-full-history``): otherwise Locust writes
    cumulative ones, which do not describe the step.
    """
    rows = _table(path, "Locust _stats_history.csv", _HISTORY_REQUIRED)
    full_history = any(r["Name"].strip() not in _AGGREGATE_NAMES for r in rows)
    total = [r for r in rows if r["Name"].strip() in _AGGREGATE_NAMES]
    if not total:
        raise fail(path, "Locust _stats_history.csv has no 'Aggregated' rows")
    samples = [_sample(path, row, f"Aggregated row {i + 1}") for i, row in enumerate(total)]
    steps: list[list[_Sample]] = []
    for sample in samples:
        if steps and steps[-1][-1].users == sample.users:
            steps[-1].append(sample)
        else:
            steps.append([sample])
    results = []
    previous: _Sample | None = None
    for step in steps:
        base, last = previous or step[0], step[-1]
        previous = last
        elapsed = last.timestamp_s - base.timestamp_s
        count = last.requests - base.requests
        timed = elapsed > 0
        mean = None
        if timed and count > 0:
            mean = (last.mean_ms * last.requests - base.mean_ms * base.requests) / count
        pcts = _percentiles(last.row) if full_history else {}
        results.append(
            ToolResult(
                tool="locust",
                source=str(path),
                requests_completed=int(count) if timed else None,
                failed=int(last.failures - base.failures) if timed else None,
                duration_s=elapsed if timed else None,
                req_per_s=count / elapsed if timed else last.current_rps,
                concurrency=last.users,
                lat_mean_ms=mean,
                lat_max_ms=pcts.get(100.0),
                percentiles_ms=pcts,
                details={
                    "timestamp_start_s": base.timestamp_s,
                    "timestamp_end_s": last.timestamp_s,
                },
                **pick_percentiles(pcts),
            )
        )
    return results
