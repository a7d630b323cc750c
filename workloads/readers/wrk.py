"""Reader for wrk / wrk2 text output (with ``--latency``, wrk2's HdrHistogram and a JSON line)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mpmsim.workloads.readers.tool_result import (
    PathLike,
    ToolResult,
    fail,
    label_value,
    load_text,
    metric,
    number,
    pick_percentiles,
    time_ms,
    time_s,
)

_RUNNING = re.compile(r"^Running (\S+) test @ (\S+)", re.MULTILINE)
_THREADS = re.compile(r"^[ \t]*(\d+) threads and (\d+) connections", re.MULTILINE)
_REQUESTS = re.compile(r"^[ \t]*(\d+) requests in ([\d.]+\w+), ([\d.]+\w*) read", re.MULTILINE)
_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
_STATS_ROW = re.compile(
    r"^[ \t]*(Latency|Req/Sec)[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)[ \t]+([\d.]+)%", re.MULTILINE
)
_DIST_ROW = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\S+)\s*$")
_SPECTRUM_ROW = re.compile(r"^\s*([\d.]+)\s+([01]\.\d+)\s+(\d+)\s+(\S+)\s*$")
_HDR_MEAN = re.compile(r"#\[Mean\s*=\s*([\d.]+),\s*StdDeviation\s*=\s*([\d.]+)\]")
_HDR_MAX = re.compile(r"#\[Max\s*=\s*([\d.]+),\s*Total count\s*=\s*(\d+)\]")
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def _bytes(text: str) -> float | None:
    """Bytes from wrk's binary-unit sizes (``269.19MB``)."""
    match = re.fullmatch(r"([\d.]+)([KMGT]?B)", text.strip())
    return float(match.group(1)) * _BYTES[match.group(2)] if match else None


def _distribution(text: str) -> dict[float, float]:
    """wrk's 'Latency Distribution' block (also wrk2's HdrHistogram one), percentile -> ms."""
    start = text.find("Latency Distribution")
    if start < 0:
        return {}
    table: dict[float, float] = {}
    for line in text[start:].splitlines()[1:]:
        match = _DIST_ROW.match(line)
        if not match:
            break
        value = time_ms(match.group(2))
        if value is not None:
            table[float(match.group(1))] = value
    return table


def _spectrum(text: str) -> dict[float, float]:
    """wrk2 ``-L`` 'Detailed Percentile spectrum' (values in ms, percentile as fraction)."""
    start = text.find("Detailed Percentile spectrum")
    if start < 0:
        return {}
    table: dict[float, float] = {}
    for line in text[start:].splitlines()[1:]:
        if line.lstrip().startswith("#") or line.lstrip().startswith("---"):
            break
        match = _SPECTRUM_ROW.match(line)
        if match:
            table[round(float(match.group(2)) * 100.0, 6)] = float(match.group(1))
    return table


def _json_line(text: str) -> dict[str, Any]:
    """The ``JSON:{...}`` line a ``done()`` script (the harness's wrk_report.lua) prints."""
    match = re.search(r"^JSON:(\{.*\})\s*$", text, re.MULTILINE)
    if not match:
        return {}
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _json_percentile(key: str) -> float | None:
    """``p50`` -> 50, ``p999`` -> 99.9, ``p9999`` -> 99.99 (wrk_report.lua's key names)."""
    match = re.fullmatch(r"p(\d+)", key)
    if not match:
        return None
    digits = match.group(1)
    if digits == "100" or len(digits) <= 2:
        return float(digits)
    return float(f"{digits[:2]}.{digits[2:]}")


@dataclass
class _Run:
    """The figures of one wrk run, refined step by step: text report, HdrHistogram, JSON line."""

    requests: int
    duration_s: float | None
    req_per_s: float | None
    errors: dict[str, int]
    details: dict[str, float]
    pcts: dict[float, float]
    lat_mean_ms: float | None = None
    lat_max_ms: float | None = None


def read_wrk_text(path: PathLike) -> ToolResult:
    """Parse wrk (or wrk2) text output into a ToolResult.

    Reads 'Running T test @ URL', 'N threads and M connections', the Thread Stats rows,
    'Latency Distribution' (wrk 50/75/90/99; wrk2 HdrHistogram incl. 99.9 ... 100 and its
    ``-L`` spectrum), 'R requests in Ts, S read', 'Socket errors', 'Non-2xx or 3xx responses',
    'Requests/sec', 'Transfer/sec'. A ``JSON:{...}`` line from a ``done()`` script (µs values:
    duration_us, requests, errors, lat.min/max/mean/stdev/pNN) takes precedence: it is exact.
    Failed = connect + read + write + timeout socket errors; non-2xx/3xx go to errors["non_2xx"].
    """
    text = load_text(path, "wrk output")
    done, rps_text = _summary(path, text)
    threads = _THREADS.search(text)
    running = _RUNNING.search(text)
    run = _Run(
        requests=int(done.group(1)),
        duration_s=time_s(done.group(2)),
        req_per_s=number(rps_text),
        errors=_errors(text),
        details=_sizes(text, threads, done.group(3)),
        pcts=_distribution(text),
    )
    _read_thread_stats(text, run)
    run.pcts.update(_spectrum(text))
    _read_hdr_histogram(text, run)
    _read_json_line(text, run)
    return ToolResult(
        tool="wrk",
        source=str(path),
        requests_completed=run.requests,
        failed=sum(run.errors[k] for k in ("connect", "read", "write", "timeout")),
        duration_s=run.duration_s,
        req_per_s=run.req_per_s,
        concurrency=int(threads.group(2)) if threads else None,
        keepalive=True,
        lat_mean_ms=run.lat_mean_ms,
        lat_max_ms=run.lat_max_ms,
        errors=run.errors,
        percentiles_ms=dict(sorted(run.pcts.items())),
        url=running.group(2) if running else None,
        details=run.details,
        **pick_percentiles(run.pcts),
    )


def _summary(path: PathLike, text: str) -> tuple[re.Match[str], str]:
    """The 'N requests in T, S read' match and the Requests/sec text, which every run prints."""
    done = _REQUESTS.search(text)
    rps_text = label_value(text, "Requests/sec")
    if done is None or rps_text is None or number(rps_text) is None:
        if _RUNNING.search(text):
            raise fail(path, "wrk output ends before the 'requests in' / 'Requests/sec' lines")
        raise fail(path, "not wrk output: no 'N requests in T' and 'Requests/sec:' lines")
    return done, rps_text


def _sizes(text: str, threads: re.Match[str] | None, read: str) -> dict[str, float]:
    """The first details: thread count, bytes read and bytes per second."""
    details: dict[str, float] = {}
    if threads:
        details["threads"] = float(threads.group(1))
    read_bytes = _bytes(read)
    if read_bytes is not None:
        details["read_bytes"] = read_bytes
    transfer = label_value(text, "Transfer/sec")
    if transfer and _bytes(transfer) is not None:
        details["transfer_bytes_per_s"] = _bytes(transfer) or 0.0
    return details


def _errors(text: str) -> dict[str, int]:
    """Socket errors by kind (all 0 without the line) and the non-2xx/3xx responses."""
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    socket = _SOCKET.search(text)
    if socket:
        errors = dict(zip(errors, (int(g) for g in socket.groups()), strict=True))
    non_2xx = label_value(text, "Non-2xx or 3xx responses")
    errors["non_2xx"] = int(number(non_2xx) or 0) if non_2xx else 0
    return errors


def _read_thread_stats(text: str, run: _Run) -> None:
    """Latency mean/stdev/max and per-thread Req/Sec from the Thread Stats rows."""
    for row in _STATS_ROW.finditer(text):
        if row.group(1) == "Latency":
            run.lat_mean_ms, run.lat_max_ms = time_ms(row.group(2)), time_ms(row.group(4))
            stdev = time_ms(row.group(3))
            if stdev is not None:
                run.details["lat_stdev_ms"] = stdev
        else:
            for stat, cell in zip(("mean", "stdev", "max"), row.groups()[1:4], strict=True):
                value = metric(cell)
                if value is not None:
                    run.details[f"thread_req_per_s_{stat}"] = value


def _read_hdr_histogram(text: str, run: _Run) -> None:
    """wrk2's HdrHistogram mean/stdev/max, which are finer than the Thread Stats row."""
    hdr_mean, hdr_max = _HDR_MEAN.search(text), _HDR_MAX.search(text)
    if hdr_mean:
        run.lat_mean_ms = float(hdr_mean.group(1))
        run.details["lat_stdev_ms"] = float(hdr_mean.group(2))
    if hdr_max:
        run.lat_max_ms = float(hdr_max.group(1))
    if "HdrHistogram" in text or "Thread calibration" in text:
        run.details["wrk2"] = 1.0


def _read_json_line(text: str, run: _Run) -> None:
    """Override the figures with the exact ones of a ``JSON:{...}`` line (µs), if there is one."""
    data = _json_line(text)
    if not data:
        return
    run.requests = int(data.get("requests", run.requests))
    if isinstance(data.get("duration_us"), int | float):
        duration = float(data["duration_us"]) / 1e6
        run.duration_s = duration
        run.req_per_s = run.requests / duration if duration > 0 else run.req_per_s
    json_errors = data.get("errors")
    if isinstance(json_errors, dict):
        for key in ("connect", "read", "write", "timeout"):
            run.errors[key] = int(json_errors.get(key, run.errors[key]))
        run.errors["non_2xx"] = int(json_errors.get("status", run.errors["non_2xx"]))
    lat = data.get("lat")
    if isinstance(lat, dict):
        run.lat_mean_ms = _us_to_ms(lat.get("mean"), run.lat_mean_ms)
        run.lat_max_ms = _us_to_ms(lat.get("max"), run.lat_max_ms)
        for key, value in lat.items():
            pct = _json_percentile(key)
            if pct is not None and isinstance(value, int | float):
                run.pcts[pct] = float(value) / 1000.0


def _us_to_ms(value: object, default: float | None) -> float | None:
    """A µs number from the JSON line in ms, or the default if it is not a number."""
    return float(value) / 1000.0 if isinstance(value, int | float) else default
