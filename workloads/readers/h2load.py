"""Reader for h2load (nghttp2) text output."""

from __future__ import annotations

import re

from mpmsim.workloads.readers.tool_result import (
    PathLike,
    ToolResult,
    command_url,
    fail,
    label_value,
    load_text,
    number,
    time_ms,
    time_s,
)

_FINISHED = re.compile(r"^finished in (\S+), ([\d.]+) req/s, (\S+)/s", re.MULTILINE)
_CLIENTS = re.compile(r"^spawning thread #\d+: (\d+) total client\(s\)", re.MULTILINE)
_MAIN_DURATION = re.compile(r"and (\d+(?:\.\d+)?)s of main duration", re.MULTILINE)
_TABLE_ROW = re.compile(
    r"^(time for request|time for connect|time to 1st byte|req/s(?: \(client\))?)[ \t]*:"
    r"[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)[ \t]+([\d.]+)%",
    re.MULTILINE,
)
_ROW_NAMES = {
    "time for request": "request",
    "time for connect": "connect",
    "time to 1st byte": "ttfb",
}


def _counts(value: str | None) -> dict[str, int]:
    """``1500 total, 1500 started, 0 failed`` -> {"total": 1500, "started": 1500, ...}."""
    if value is None:
        return {}
    return {m.group(2): int(m.group(1)) for m in re.finditer(r"(\d+) (\w+)", value)}


def _timing_table(text: str) -> tuple[dict[str, float], float | None, float | None]:
    """The min/max/mean/sd table as details, with the request row's mean and max (ms)."""
    details: dict[str, float] = {}
    lat_mean = lat_max = None
    for row in _TABLE_ROW.finditer(text):
        cells = dict(zip(("min", "max", "mean", "sd"), row.groups()[1:5], strict=True))
        name = _ROW_NAMES.get(row.group(1))
        if name is None:
            for stat, cell in cells.items():
                value = number(cell)
                if value is not None:
                    details[f"client_req_per_s_{stat}"] = value
            continue
        for stat, cell in cells.items():
            value = time_ms(cell)
            if value is not None:
                details[f"{name}_{stat}_ms"] = value
        if name == "request":
            lat_mean, lat_max = time_ms(cells["mean"]), time_ms(cells["max"])
    return details, lat_mean, lat_max


def read_h2load_text(path: PathLike) -> ToolResult:
    """Parse h2load's summary into a ToolResult.

    Reads 'finished in Xs, Y req/s', 'requests: N total ... succeeded, failed, errored, timeout',
    'status codes: N 2xx, 3xx, 4xx, 5xx', the min/max/mean/sd table (time for request ->
    lat_mean_ms / lat_max_ms; connect and 1st-byte times into ``details``), the clients from
    'spawning thread' lines and, for timing-based runs (``-D``), the main duration.
    requests_completed = succeeded; non_2xx = 3xx + 4xx + 5xx. h2load prints no percentiles.
    """
    text = load_text(path, "h2load output")
    finished = _FINISHED.search(text)
    requests = _counts(label_value(text, "requests"))
    if finished is None or "succeeded" not in requests:
        if "starting benchmark..." in text or _CLIENTS.search(text):
            raise fail(path, "h2load output ends before the 'finished in' / 'requests:' lines")
        raise fail(path, "not h2load output: no 'finished in ...' and 'requests: ...' lines")
    codes = _counts(label_value(text, "status codes"))
    details: dict[str, float] = {f"requests_{k}": float(v) for k, v in requests.items()}
    details.update({f"status_{k}": float(v) for k, v in codes.items()})
    elapsed = time_s(finished.group(1))
    if elapsed is not None:
        details["finished_in_s"] = elapsed

    table, lat_mean, lat_max = _timing_table(text)
    details.update(table)
    main = _MAIN_DURATION.search(text)
    clients = [int(n) for n in _CLIENTS.findall(text)]
    errors = {
        "errored": requests.get("errored", 0),
        "timeout": requests.get("timeout", 0),
        "non_2xx": sum(codes.get(k, 0) for k in ("3xx", "4xx", "5xx")),
    }
    return ToolResult(
        tool="h2load",
        source=str(path),
        requests_completed=requests["succeeded"],
        failed=requests.get("failed"),
        duration_s=float(main.group(1)) if main else elapsed,
        req_per_s=float(finished.group(2)),
        concurrency=sum(clients) if clients else None,
        keepalive=True,
        lat_mean_ms=lat_mean,
        lat_max_ms=lat_max,
        errors=errors,
        url=command_url(text),
        details=details,
    )
