"""kaclient's report (the command line, then ``JSON:{...}``) read back as a ToolResult and cells.

The same format as the shared S5 ``*.kaclient.txt`` outputs. Counts are those of the measured
window; ``warmup`` holds the warm-up's.
"""

from __future__ import annotations

import json
from pathlib import Path

from mpmsim.errors import InputError
from mpmsim.workloads.readers import ToolResult
from mpmsim.workloads.readers.tool_result import command_url, load_text

_REQUIRED = ("done_main", "sent_main", "clients", "rate_per_client", "duration_s", "req_per_s")
#: Extras written to the row's notes (as the shared runs.csv does: ``h2_<key>=<value>``).
_NOTE_KEYS = ("late", "skipped", "connects", "server_close", "connect_p50_ms", "connect_max_ms")


def _summary(path: Path) -> tuple[dict[str, object], str]:
    text = load_text(path, "a kaclient report")
    lines = [line for line in text.splitlines() if line.startswith("JSON:")]
    if not lines:
        raise InputError("no 'JSON:' line: not a kaclient report", file=str(path))
    try:
        data = json.loads(lines[-1][len("JSON:") :])
    except json.JSONDecodeError as exc:
        raise InputError(f"bad JSON line: {exc.msg}", file=str(path)) from None
    missing = [k for k in _REQUIRED if k not in data] if isinstance(data, dict) else _REQUIRED
    if missing:
        raise InputError(f"JSON line lacks {', '.join(missing)}", file=str(path))
    return data, text


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def read_kaclient_text(path: Path) -> ToolResult:
    """The measured window of a kaclient report as a ToolResult (errors by kind)."""
    data, text = _summary(path)
    errors = {k: _int(data.get(k)) for k in ("connect_err", "read_err", "timeout")}
    return ToolResult(
        tool="kaclient",
        source=str(path),
        requests_completed=_int(data["done_main"]),
        failed=sum(errors.values()),
        duration_s=_float(data["duration_s"]),
        req_per_s=_float(data["req_per_s"]),
        concurrency=_int(data["clients"]),
        keepalive=True,
        lat_mean_ms=_float(data.get("lat_mean_ms")),
        lat_p50_ms=_float(data.get("lat_p50_ms")),
        lat_p90_ms=_float(data.get("lat_p90_ms")),
        lat_p95_ms=_float(data.get("lat_p95_ms")),
        lat_p99_ms=_float(data.get("lat_p99_ms")),
        lat_max_ms=_float(data.get("lat_max_ms")),
        errors={
            "connect": errors["connect_err"],
            "read": errors["read_err"],
            "timeout": errors["timeout"],
            "non_2xx": _int(data.get("non200")),
        },
        url=command_url(text),
    )


def kaclient_cells(path: Path) -> dict[str, object]:
    """The row cells only kaclient fills: rate, offered load, starved clients, notes."""
    data, _ = _summary(path)
    warm = data.get("warmup")
    notes = [f"h2_{k}={data[k]}" for k in _NOTE_KEYS if data.get(k) is not None]
    if isinstance(warm, dict):
        notes.append(f"h2_done_warm={warm.get('done')}")
    return {
        "rate_per_client": _float(data["rate_per_client"]),
        "offered_req_per_s": _float(data.get("offered_req_per_s")),
        "clients_starved": _int(data.get("clients_starved")),
        "outstanding_at_end": _int(data.get("outstanding_at_end")),
        "n_requested": _int(data["sent_main"]),
        "notes": " ".join(notes),
    }


__all__ = ["kaclient_cells", "read_kaclient_text"]
