"""The measurement CSV (data/apache-bench/runs.csv): typed rows, reading, writing, sniffing."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

from mpmsim.errors import InputError
from mpmsim.workloads.readers.tool_result import PathLike, fail, load_text

# fmt: off
#: The columns of runs.csv, in its order (write_measurements writes exactly these).
MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "run_id", "scenario", "mpm", "config_json", "mrw_nominal", "mrw_effective",
    "threads_per_child", "server_limit", "content", "url", "tool", "tool_cmd", "concurrency",
    "keepalive", "rate_per_client", "repetition", "warmup_s", "n_requested", "duration_s",
    "requests_completed", "failed", "non_2xx", "err_connect", "err_read", "err_write",
    "err_timeout", "err_other", "req_per_s", "offered_req_per_s", "clients_starved",
    "outstanding_at_end", "lat_mean_ms", "lat_p50_ms", "lat_p90_ms", "lat_p95_ms", "lat_p99_ms",
    "lat_max_ms", "apache_cpu_s", "apache_cpu_ms_per_req", "apache_cpu_util", "cpu0_busy_pct",
    "cpu1_busy_pct", "cpu1_softirq_pct", "client_cpu_s", "client_bound", "idle_procs",
    "idle_threads", "idle_rss_mb", "idle_pss_mb", "peak_procs", "peak_threads", "peak_rss_mb",
    "peak_pss_mb", "end_procs", "n_samples", "status_mid_ok", "status_mid_t_s",
    "status_mid_fetch_ms", "status_busy", "status_idle", "status_processes", "status_stopping",
    "status_conns_total", "status_conns_async_writing", "status_conns_async_keepalive",
    "status_conns_async_closing", "status_conns_async_waitio", "sb_waiting", "sb_starting",
    "sb_reading", "sb_sending", "sb_keepalive", "sb_dns", "sb_closing", "sb_logging",
    "sb_graceful", "sb_idle_cleanup", "sb_open", "mrw_reached", "err_mrw_reached_lines",
    "err_near_mrw_lines", "err_scoreboard_full_lines", "err_log_lines_error", "err_log_codes",
    "srv_log_requests", "srv_D_mean_ms", "srv_D_p50_ms", "srv_D_p90_ms", "srv_D_p99_ms",
    "srv_D_max_ms", "srv_ka_reused_frac", "srv_conn_close_frac", "srv_aborted",
    "srv_distinct_pids", "srv_distinct_workers", "srv_non200", "start_ts", "apache_start_s",
    "apache_stop_s", "raw_prefix", "notes",
)
# fmt: on

# fmt: off
#: Columns read_measurements cannot do without (their cells must not be blank either).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "run_id", "scenario", "mpm", "config_json", "mrw_effective", "threads_per_child",
    "server_limit", "content", "url", "tool", "concurrency", "keepalive", "duration_s",
    "requests_completed", "req_per_s",
)
# fmt: on

Kind = Literal["str", "int", "float", "bool"]
Directive = str | int | float | bool


@dataclass(frozen=True)
class MeasuredRun:
    """One measured run (a runs.csv row), typed; blank cells are None.

    ``directives`` merges config_json's ``mpm_params`` and ``server`` (LuaScope is kept apart
    in ``lua_scope``); ``extra`` holds every other column's text (blank cells left out).
    Units as in the column names: s, ms, MB; apache_cpu_util 1.0 = one whole core.
    """

    run_id: str
    scenario: str
    mpm: str
    directives: dict[str, Directive]
    lua_scope: str | None
    mrw_effective: int
    threads_per_child: int
    server_limit: int
    content: str
    url: str
    tool: str
    concurrency: int
    keepalive: bool
    duration_s: float
    requests_completed: int
    req_per_s: float
    rate_per_client: float | None = None
    repetition: int | None = None
    warmup_s: float | None = None
    n_requested: int | None = None
    failed: int | None = None
    non_2xx: int | None = None
    err_connect: int | None = None
    err_read: int | None = None
    err_write: int | None = None
    err_timeout: int | None = None
    err_other: int | None = None
    lat_mean_ms: float | None = None
    lat_p50_ms: float | None = None
    lat_p90_ms: float | None = None
    lat_p95_ms: float | None = None
    lat_p99_ms: float | None = None
    lat_max_ms: float | None = None
    apache_cpu_ms_per_req: float | None = None
    apache_cpu_util: float | None = None
    idle_procs: int | None = None
    idle_threads: int | None = None
    idle_pss_mb: float | None = None
    peak_procs: int | None = None
    peak_threads: int | None = None
    peak_pss_mb: float | None = None
    peak_rss_mb: float | None = None
    notes: str | None = None
    raw_prefix: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def as_row(self) -> dict[str, object]:
        """The run as measurement-CSV cells (inverse of read_measurements).

        Extra columns that runs.csv does not have are left out (write_measurements rejects them).
        """
        row: dict[str, object] = {k: v for k, v in self.extra.items() if k in _COLUMN_SET}
        for name in _KINDS:
            row[name] = getattr(self, name)
        if "config_json" not in row:
            config: dict[str, object] = {"mpm": self.mpm, "mpm_params": self.directives}
            if self.lua_scope is not None:
                config["LuaScope"] = self.lua_scope
            row["config_json"] = json.dumps(config, separators=(",", ":"))
        return row


_SPECIAL = {"directives", "lua_scope", "extra"}
_COLUMN_SET = frozenset(MEASUREMENT_COLUMNS)


def _kind(annotation: object) -> Kind:
    """The cell kind of a field from its annotation text (``int | None`` -> int)."""
    base = str(annotation).split("|")[0].strip()
    if base not in ("str", "int", "float", "bool"):
        raise TypeError(f"no cell kind for {annotation}")
    return cast(Kind, base)


#: Typed columns of MeasuredRun and how to convert their cells.
_KINDS: dict[str, Kind] = {
    f.name: _kind(f.type) for f in fields(MeasuredRun) if f.name not in _SPECIAL
}


MPMS = ("prefork", "worker", "event")
"""The MPMs a measured row may name (Apache 2.4 on Unix)."""


def _cell(path: PathLike, run_id: str, column: str, text: str, kind: Kind) -> object:
    """Convert one cell; a bad value names the run and the column."""
    try:
        if kind == "str":
            return text
        if kind == "bool":
            if text.lower() in ("1", "true", "yes"):
                return True
            if text.lower() in ("0", "false", "no"):
                return False
            raise ValueError
        value = float(text)
        if not math.isfinite(value):
            raise ValueError
        if value < 0:  # rates, times, counts, sizes: none is negative
            raise ValueError
        if kind == "int":
            if not value.is_integer():
                raise ValueError
            return int(value)
        return value
    except ValueError:
        expected = {"int": "a whole number >= 0", "float": "a number >= 0", "bool": "0 or 1"}[kind]
        raise _error_at(path, run_id, column, f"expected {expected}, got {text!r}") from None


def _error_at(path: PathLike, run_id: str, column: str, message: str) -> InputError:
    """An InputError naming file, run and column: ``runs.csv: <run_id>: <column>: message``."""
    return InputError(message, file=str(path), field=f"{run_id}: {column}")


def _config(path: PathLike, run_id: str, text: str) -> tuple[dict[str, Directive], str | None]:
    """Directives (mpm_params + server) and LuaScope from config_json."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        raise _error_at(path, run_id, "config_json", "not valid JSON") from None
    if not isinstance(config, dict):
        raise _error_at(path, run_id, "config_json", "expected a JSON object")
    directives: dict[str, Directive] = {}
    for part in ("mpm_params", "server"):
        block = config.get(part, {})
        if not isinstance(block, dict):
            raise _error_at(path, run_id, "config_json", f"{part} must be an object")
        for key, value in block.items():
            if not isinstance(value, str | int | float | bool):
                raise _error_at(path, run_id, "config_json", f"{part}.{key}: not a scalar")
            directives[str(key)] = value
    scope = config.get("LuaScope")
    return directives, None if scope is None else str(scope)


def read_measurements(path: PathLike) -> list[MeasuredRun]:
    """Read a measurement CSV (runs.csv's columns, any order, extra columns allowed).

    A file without rows is an InputError: there is nothing to calibrate against.
    """
    text = load_text(path, "an mpmsim measurement CSV")
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip() for c in rows[0]] if rows else []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise fail(
            path,
            f"not an mpmsim measurement CSV: missing columns {', '.join(missing)} "
            "(expected the columns of data/apache-bench/runs.csv)",
        )
    doubled = sorted({c for c in header if header.count(c) > 1})
    if doubled:
        raise fail(path, f"measurement CSV has repeated columns {', '.join(doubled)}")
    runs = []
    for line_no, cells in enumerate(rows[1:], start=2):
        if not cells or not "".join(cells).strip():
            continue
        if len(cells) != len(header):
            raise fail(
                path, f"line {line_no}: {len(cells)} cells, header has {len(header)} (truncated?)"
            )
        runs.append(_run(path, dict(zip(header, cells, strict=True)), line_no))
    if not runs:
        raise fail(path, "no measurement rows (only a header)")
    return runs


def _run(path: PathLike, cells: dict[str, str], line_no: int) -> MeasuredRun:
    """One typed MeasuredRun from a row's cells."""
    run_id = cells["run_id"].strip() or f"line {line_no}"
    values: dict[str, object] = {}
    for column, kind in _KINDS.items():
        text = cells.get(column, "").strip()
        if text:
            values[column] = _cell(path, run_id, column, text, kind)
        elif column in REQUIRED_COLUMNS:
            hint = (
                " (mpmsim bench records it with --mpm or --apache-config)"
                if column == "mpm"
                else ""
            )
            raise _error_at(path, run_id, column, f"required value is blank{hint}")
    if values["mpm"] not in MPMS:
        raise _error_at(path, run_id, "mpm", f"expected {', '.join(MPMS)}, got {values['mpm']!r}")
    directives, scope = _config(path, run_id, cells["config_json"])
    extra = {k: v for k, v in cells.items() if k not in _KINDS and v.strip()}
    typed = cast(dict[str, Any], values)
    return MeasuredRun(directives=directives, lua_scope=scope, extra=extra, **typed)


def _format(value: object) -> str:
    """A value as CSV cell text (None/NaN blank, bools 1/0, dicts as compact JSON)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def write_measurements(
    rows: Iterable[Mapping[str, object]], path: PathLike, *, overwrite: bool = False
) -> None:
    """Write rows with runs.csv's full header in its order (missing values blank).

    Unknown keys raise InputError, as does an existing file unless ``overwrite`` is True.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise fail(path, "file exists; pass overwrite=True to replace it")
    lines = []
    for i, row in enumerate(rows, start=1):
        unknown = sorted(str(k) for k in row if k not in _COLUMN_SET)
        if unknown:
            raise fail(path, f"row {i}: unknown columns {', '.join(unknown)}")
        lines.append([_format(row.get(c)) for c in MEASUREMENT_COLUMNS])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # runs.csv's line ends
    writer.writerow(MEASUREMENT_COLUMNS)
    writer.writerows(lines)
    try:
        target.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    except OSError as exc:
        raise fail(path, f"cannot write: {exc.strerror or exc}") from None


# fmt: off
#: What sniff can answer, in the order it tries.
KINDS_OF_FILE: tuple[str, ...] = (
    "measurements", "ab", "ab_percentiles", "ab_gnuplot", "wrk", "h2load", "jmeter",
    "locust_stats", "locust_history", "k6", "mod_status",
)
# fmt: on


def _sniff_header(first: str) -> str | None:
    """Which CSV/TSV kind a header line names, if any."""
    if first.startswith("starttime\tseconds\tctime"):
        return "ab_gnuplot"
    cells = {c.strip() for c in next(csv.reader([first]), [])}
    if first.strip() == "Percentage served,Time in ms":
        return "ab_percentiles"
    if {"run_id", "config_json"} <= cells:  # its reader names any other column missing
        return "measurements"
    if {"timeStamp", "elapsed"} <= cells:
        return "jmeter"
    if {"Timestamp", "User Count", "Name"} <= cells:
        return "locust_history"
    if {"Name", "Request Count"} <= cells:
        return "locust_stats"
    return None


def sniff(path: PathLike) -> str:
    """Which reader fits a file, judged by its content (one of KINDS_OF_FILE)."""
    text = load_text(path, "a benchmark result file")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
            return "k6"
    kind = _sniff_header(stripped.split("\n", 1)[0].rstrip("\r"))
    if kind:
        return kind
    checks = (
        ("ab", r"^This is ApacheBench|^Requests per second:"),
        ("wrk", r"^Running \S+ test @ |^[ \t]*\d+ requests in \S+, \S+ read"),
        ("h2load", r"^finished in \S+, [\d.]+ req/s|^starting benchmark\.\.\.$"),
        ("mod_status", r"^Scoreboard: |^BusyWorkers: "),
    )
    for name, pattern in checks:
        if re.search(pattern, text, re.MULTILINE):
            return name
    raise fail(path, f"unrecognised file: expected one of {', '.join(KINDS_OF_FILE)}")
