"""What a fit tells about its log: the summary object (``--json``) and its text."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mpmsim.traces.fit import TraceFit
from mpmsim.traces.schedule import clock_hours
from mpmsim.traces.workload_file import iso
from mpmsim.workloads.fitting import COUNT_CRITERION, CRITERION, Fit


def _r(value: float, digits: int = 4) -> float:
    """Rounded to ``digits`` significant digits, for a readable JSON."""
    return float(f"{value:.{digits}g}")


def _stats(values: npt.ArrayLike, *percentiles: int) -> dict[str, float | None]:
    """Mean and the given percentiles (``None`` for an empty sample)."""
    x = np.asarray(values, dtype=np.float64)
    out: dict[str, float | None] = {"mean": _r(float(x.mean())) if len(x) else None}
    for p in percentiles:
        out[f"p{p}"] = _r(float(np.percentile(x, p))) if len(x) else None
    return out


def _busiest_minute(start_s: npt.NDArray[np.float64], first_s: float) -> tuple[float, float]:
    """(requests per second in the busiest clock minute, that minute's start)."""
    minutes, counts = np.unique(np.floor(start_s / 60.0), return_counts=True)
    top = int(np.argmax(counts))
    return float(counts[top]) / 60.0, max(float(minutes[top]) * 60.0, first_s)


def _fit_dict(fit: TraceFit) -> dict[str, Any]:
    """The fitted distributions, each with its candidates."""
    think = fit.think_time_s
    return {
        "requests_per_connection": fit.requests_per_connection.to_dict(),
        "think_time_s": None if think is None else think.to_dict(),
        "classes": {
            c.name: {
                "requests": c.requests,
                "response_bytes": c.response_bytes.to_dict(),
                "service_ms": None if c.service_ms is None else c.service_ms.to_dict(),
            }
            for c in fit.classes
        },
        "criterion": {"continuous": CRITERION, "counts": COUNT_CRITERION},
    }


def _check_dict(fit: TraceFit) -> dict[str, Any]:
    """The connection rule's check against %X and %k."""
    check = fit.check
    x, k = check.x_agreement, check.k_agreement
    return {
        "x_logged": check.x_logged,
        "x_closed": check.x_closed,
        "x_closed_at_end": check.x_closed_at_end,
        "x_agreement": None if x is None else _r(x),
        "ends_logged": check.ends_logged,
        "ends_closed": check.ends_closed,
        "k_logged": check.k_logged,
        "k_agree": check.k_agree,
        "k_agreement": None if k is None else _r(k),
    }


def _schedule_dict(fit: TraceFit) -> dict[str, Any]:
    """How the load's rate was written."""
    schedule, offset = fit.schedule, fit.options.utc_offset_s
    peak = schedule.peak()
    return {
        "mode": "peak" if fit.options.peak else "schedule",
        "window_s": schedule.window_s,
        "windows": len(schedule.windows),
        "mean_requests_per_session": _r(schedule.mean_requests, 6),
        "peak_sessions_per_s": _r(schedule.rate(peak), 6),
        "peak_start": iso(max(peak.start_s, schedule.first_s), offset),
        "duration_s": _r(schedule.window_s if fit.options.peak else schedule.duration_s, 9),
    }


def summarize(fit: TraceFit) -> dict[str, Any]:
    """The summary as one JSON-ready object."""
    cols, conns, offset = fit.columns, fit.connections, fit.options.utc_offset_s
    first, last = float(cols.start_s.min()), float(cols.start_s.max())
    span = max(fit.schedule.duration_s, 1e-9)
    busiest, busiest_at = _busiest_minute(cols.start_s, first)
    codes, counts = np.unique(cols.status, return_counts=True)
    durations = cols.duration_ms[np.isfinite(cols.duration_ms)]
    return {
        "log": cols.source,
        "format": cols.log_format,
        "lines": cols.lines,
        "bad_lines": cols.bad_lines,
        "requests": cols.requests,
        "first": iso(first, offset),
        "last": iso(last, offset),
        "span_s": _r(span, 9),
        "requests_per_s": {"mean": _r(cols.requests / span), "busiest_minute": _r(busiest)},
        "busiest_minute": iso(busiest_at, offset),
        "requests_per_hour": clock_hours(cols.start_s, offset),
        "connections": conns.count,
        "requests_per_connection": _stats(conns.requests, 50, 90),
        "think_time_s": _stats(fit.think_s, 50, 90),
        "response_bytes": _stats(cols.response_bytes, 50, 90, 99),
        "bytes_per_connection": _stats(conns.per_connection(cols.response_bytes), 50, 90),
        "response_bytes_field": cols.bytes_field,
        "service_ms": _stats(durations, 50, 90, 99) if len(durations) else None,
        "status": {
            ("-" if code < 0 else str(code)): int(n)
            for code, n in zip(codes.tolist(), counts.tolist(), strict=True)
        },
        "classes": {c.name: c.requests for c in fit.classes},
        "connection_rule": cols.rule.value,
        "connection_rule_text": cols.rule.text,
        "keepalive_timeout_s": fit.options.keepalive_timeout_s,
        "connection_check": _check_dict(fit),
        "whole_second_times": cols.whole_seconds,
        "cpu_share": fit.options.cpu_share,
        "schedule": _schedule_dict(fit),
        "fits": _fit_dict(fit),
    }


def _quantiles(stats: dict[str, Any], unit: str = "") -> str:
    """``mean 1.9, p50 1, p90 4`` from a stats mapping."""
    return ", ".join(f"{k} {v:,.4g}{unit}" for k, v in stats.items() if v is not None) or "-"


def _fitted(fit: Fit | None) -> str:
    """``-> fitted: spec (KS D ...)``."""
    if fit is None:
        return ""
    return f"\n{'':16}fitted: {fit.shown()} (KS D {fit.chosen.ks:.3f}; {fit.reason})"


def summary_text(summary: dict[str, Any], fit: TraceFit) -> str:
    """The summary as aligned lines, for a terminal."""
    s = summary
    total = max(s["requests"], 1)
    status = ", ".join(f"{code} {n / total:.1%}" for code, n in s["status"].items())
    classes = ", ".join(f"{name} {n / total:.1%}" for name, n in s["classes"].items())
    rows = [
        ("log", f"{s['log']}"),
        ("lines", f"{s['lines']:,} ({s['bad_lines']:,} bad), {s['requests']:,} requests"),
        ("time span", f"{s['first']} to {s['last']} ({s['span_s'] / 3600:,.2f} h)"),
        (
            "requests/s",
            f"mean {s['requests_per_s']['mean']:.4g}, busiest minute "
            f"{s['requests_per_s']['busiest_minute']:.4g} ({s['busiest_minute']})",
        ),
        ("connections", f"{s['connections']:,}; rule: {s['connection_rule_text']}"),
        *[("  check", line) for line in fit.check.sentences()],
        (
            "requests/conn",
            _quantiles(s["requests_per_connection"]) + _fitted(fit.requests_per_connection),
        ),
        ("think time", _quantiles(s["think_time_s"], " s") + _fitted(fit.think_time_s)),
        ("status", status),
        ("bytes", f"{_quantiles(s['response_bytes'])} ({s['response_bytes_field']})"),
        ("bytes/conn", _quantiles(s["bytes_per_connection"])),
    ]
    if s["service_ms"] is not None:
        rows.append(("%D", _quantiles(s["service_ms"], " ms")))
    rows.append(("classes", classes))
    sched = s["schedule"]
    rows.append(
        (
            "load",
            f"{sched['windows']} windows of {sched['window_s']:g} s, peak "
            f"{sched['peak_sessions_per_s']:.4g} sessions/s ({sched['peak_start']}), "
            f"{sched['mean_requests_per_session']:.4g} requests per session; "
            f"written: {sched['mode']}",
        )
    )
    return "\n".join(f"{name:<15} {text}" for name, text in rows)


__all__ = ["summarize", "summary_text"]
