"""Reader for JMeter JTL result files in CSV form (header line required)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from mpmsim.workloads.readers.tool_result import (
    PathLike,
    ToolResult,
    csv_rows,
    fail,
    load_text,
    number,
)

_REQUIRED = ("timeStamp", "elapsed", "success")
_PERCENTILES = (50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 100.0)


def _timestamp_ms(text: str) -> float | None:
    """Epoch ms from a JTL timeStamp: epoch ms, or a date like ``2024/01/31 12:00:00.123``."""
    value = number(text)
    if value is not None:
        return value
    for fmt in ("%Y/%m/%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), fmt).timestamp() * 1000.0
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.strip()).timestamp() * 1000.0
    except ValueError:
        return None


@dataclass
class _Tally:
    """What a JTL's samples add up to: their times (ms), thread counts, URLs and failures."""

    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    urls: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(
        default_factory=lambda: {"non_2xx": 0, "exceptions": 0, "assertion": 0}
    )
    failed: int = 0


def _tally(path: PathLike, rows: list[tuple[int, dict[str, str]]]) -> _Tally:
    """Add up the samples row by row; a row with bad numbers or a bad ``success`` raises."""
    tally = _Tally()
    for line_no, row in rows:
        stamp, took = _timestamp_ms(row["timeStamp"]), number(row["elapsed"])
        if stamp is None or took is None:
            raise fail(path, f"line {line_no}: timeStamp/elapsed are not numbers")
        tally.starts.append(stamp)
        tally.ends.append(stamp + took)
        tally.elapsed.append(took)
        if "allThreads" in row:
            n = number(row["allThreads"])
            if n is not None:
                tally.threads.append(int(n))
        if row.get("URL"):
            tally.urls.add(row["URL"])
        code = number(row["responseCode"]) if "responseCode" in row else None
        if code is not None and not 200 <= code < 400:
            tally.errors["non_2xx"] += 1
        success = row["success"].strip().lower()
        if success not in ("true", "false"):
            raise fail(path, f"line {line_no}: success must be true or false, got {success!r}")
        if success == "false":
            tally.failed += 1
            if code is None:
                tally.errors["exceptions"] += 1
            elif 200 <= code < 400:
                tally.errors["assertion"] += 1
    return tally


def read_jtl_csv(path: PathLike) -> ToolResult:
    """Aggregate a CSV JTL (one row per sample) into a ToolResult.

    Columns are found by header name (timeStamp, elapsed, success required; allThreads,
    responseCode, URL optional). Throughput = samples / (last timeStamp + its elapsed - first
    timeStamp), as JMeter's Aggregate Report; percentiles of ``elapsed`` (ms, linear
    interpolation); failures from ``success``; concurrency = max ``allThreads``. Failures are
    split into ``non_2xx`` (numeric code outside 200-399), ``exceptions`` (no HTTP code, e.g.
    connection refused) and ``assertion`` (a 2xx/3xx response marked failed).
    """
    text = load_text(path, "a JMeter JTL")
    head = text.lstrip()[:200]
    if head.startswith("<?xml") or head.startswith("<testResults"):
        raise fail(path, "JMeter JTL in XML form is not supported: save results as CSV")
    rows = csv_rows(
        path,
        text,
        _REQUIRED,
        lambda cols: (
            f"not a JMeter CSV JTL with a header line: missing columns {', '.join(cols)} "
            "(set jmeter.save.saveservice.print_field_names=true)"
        ),
    )
    tally = _tally(path, rows)
    if not tally.elapsed:
        raise fail(path, "JMeter JTL has a header but no samples")
    span_s = (max(tally.ends) - min(tally.starts)) / 1000.0
    values = np.asarray(tally.elapsed, dtype=float)
    pcts = {p: float(np.percentile(values, p)) for p in _PERCENTILES}
    return ToolResult(
        tool="jmeter",
        source=str(path),
        requests_completed=len(tally.elapsed),
        failed=tally.failed,
        duration_s=span_s,
        req_per_s=len(tally.elapsed) / span_s if span_s > 0 else None,
        concurrency=max(tally.threads) if tally.threads else None,
        lat_mean_ms=float(values.mean()),
        lat_p50_ms=pcts[50.0],
        lat_p90_ms=pcts[90.0],
        lat_p95_ms=pcts[95.0],
        lat_p99_ms=pcts[99.0],
        lat_max_ms=pcts[100.0],
        errors=tally.errors,
        percentiles_ms=pcts,
        url=tally.urls.pop() if len(tally.urls) == 1 else None,
    )
