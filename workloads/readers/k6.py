"""Reader for k6's end-of-test summary JSON (handleSummary data or ``--summary-export``)."""

from __future__ import annotations

import json
import re
from typing import Any

from mpmsim.workloads.readers.tool_result import (
    PathLike,
    ToolResult,
    fail,
    load_text,
    pick_percentiles,
)


def _values(metrics: dict[str, Any], name: str) -> dict[str, float]:
    """Numeric stats of one metric, with or without the ``values`` wrapper."""
    metric = metrics.get(name)
    if not isinstance(metric, dict):
        return {}
    inner = metric.get("values", metric)
    if not isinstance(inner, dict):
        return {}
    return {
        k: float(v)
        for k, v in inner.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _trend_percentiles(stats: dict[str, float]) -> dict[float, float]:
    """``p(90)`` / ``p(99.9)`` / ``med`` / ``max`` keys of a trend, percentile -> value."""
    pcts: dict[float, float] = {}
    for key, value in stats.items():
        match = re.fullmatch(r"p\((\d+(?:\.\d+)?)\)", key)
        if match:
            pcts[float(match.group(1))] = value
    if "med" in stats:
        pcts.setdefault(50.0, stats["med"])
    if "max" in stats:
        pcts.setdefault(100.0, stats["max"])
    return dict(sorted(pcts.items()))


def read_k6_summary(path: PathLike) -> ToolResult:
    """Parse a k6 summary JSON into a ToolResult.

    Both shapes: ``metrics.<name>.values.{...}`` (handleSummary) and the older
    ``--summary-export`` without ``values``. Uses http_reqs (count, rate), http_req_failed
    (``passes`` = failed requests), http_req_duration (avg, med, p(N), max; ms), vus / vus_max
    (max = concurrency) and ``state.testRunDurationMs`` when present (else count / rate).
    """
    text = load_text(path, "a k6 summary JSON")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        first = text.lstrip().split("\n", 1)[0]
        if '"type":"Point"' in first.replace(" ", "") or '"type":"Metric"' in first.replace(
            " ", ""
        ):
            raise fail(
                path,
                "k6 --out json (NDJSON samples) is not supported: "
                "expected the end-of-test summary (handleSummary or --summary-export)",
            ) from None
        raise fail(path, f"not a k6 summary: not JSON ({exc.msg} at line {exc.lineno})") from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not (
        "http_reqs" in metrics or "http_req_duration" in metrics
    ):
        raise fail(path, "not a k6 summary: no metrics.http_reqs / metrics.http_req_duration")
    reqs = _values(metrics, "http_reqs")
    failed = _values(metrics, "http_req_failed")
    duration = _values(metrics, "http_req_duration")
    vus = _values(metrics, "vus") or _values(metrics, "vus_max")
    state = data.get("state")
    run_ms = state.get("testRunDurationMs") if isinstance(state, dict) else None
    count, rate = reqs.get("count"), reqs.get("rate")
    duration_s: float | None = None
    if isinstance(run_ms, int | float):
        duration_s = float(run_ms) / 1000.0
    elif count is not None and rate:
        duration_s = count / rate
    pcts = _trend_percentiles(duration)
    users = vus.get("max", vus.get("value"))
    n_failed = failed.get("passes")
    return ToolResult(
        tool="k6",
        source=str(path),
        requests_completed=None if count is None else int(count),
        failed=None if n_failed is None else int(n_failed),
        duration_s=duration_s,
        req_per_s=rate,
        concurrency=None if users is None else int(users),
        lat_mean_ms=duration.get("avg"),
        lat_max_ms=duration.get("max"),
        errors={} if n_failed is None else {"failed": int(n_failed)},
        percentiles_ms=pcts,
        details={f"waiting_{k}_ms": v for k, v in _values(metrics, "http_req_waiting").items()},
        **pick_percentiles(pcts),
    )
