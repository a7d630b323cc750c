"""Minimal parsers for ab, wrk and mod_status output and a runs.csv writer, for ``bench``.

Stand-ins until ``mpmsim.workloads.readers`` exists; swap them for the shared readers then.
Every parser returns cells named like the calibration set's ``runs.csv`` columns; figures the
tool did not report are left out.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

from mpmsim.errors import InputError

Row = dict[str, object]

# The header of the calibration set's runs.csv, in order.
RUN_COLUMNS: tuple[str, ...] = tuple(
    """run_id scenario mpm config_json mrw_nominal mrw_effective threads_per_child server_limit
    content url tool tool_cmd concurrency keepalive rate_per_client repetition warmup_s
    n_requested duration_s requests_completed failed non_2xx err_connect err_read err_write
    err_timeout err_other req_per_s offered_req_per_s clients_starved outstanding_at_end
    lat_mean_ms lat_p50_ms lat_p90_ms lat_p95_ms lat_p99_ms lat_max_ms apache_cpu_s
    apache_cpu_ms_per_req apache_cpu_util cpu0_busy_pct cpu1_busy_pct cpu1_softirq_pct
    client_cpu_s client_bound idle_procs idle_threads idle_rss_mb idle_pss_mb peak_procs
    peak_threads peak_rss_mb peak_pss_mb end_procs n_samples status_mid_ok status_mid_t_s
    status_mid_fetch_ms status_busy status_idle status_processes status_stopping
    status_conns_total status_conns_async_writing status_conns_async_keepalive
    status_conns_async_closing status_conns_async_waitio sb_waiting sb_starting sb_reading
    sb_sending sb_keepalive sb_dns sb_closing sb_logging sb_graceful sb_idle_cleanup sb_open
    mrw_reached err_mrw_reached_lines err_near_mrw_lines err_scoreboard_full_lines
    err_log_lines_error err_log_codes srv_log_requests srv_D_mean_ms srv_D_p50_ms
    srv_D_p90_ms srv_D_p99_ms srv_D_max_ms srv_ka_reused_frac srv_conn_close_frac srv_aborted
    srv_distinct_pids srv_distinct_workers srv_non200 start_ts apache_start_s apache_stop_s
    raw_prefix notes""".split()  # noqa: SIM905 (one line per column would be 110 lines)
)

_WRK_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SCOREBOARD = {
    "_": "sb_waiting", "S": "sb_starting", "R": "sb_reading", "W": "sb_sending",
    "K": "sb_keepalive", "D": "sb_dns", "C": "sb_closing", "L": "sb_logging",
    "G": "sb_graceful", "I": "sb_idle_cleanup", ".": "sb_open",
}  # fmt: skip
_STATUS_KEYS = {
    "BusyWorkers": "status_busy", "IdleWorkers": "status_idle",
    "Processes": "status_processes", "Stopping": "status_stopping",
    "ConnsTotal": "status_conns_total", "ConnsAsyncWriting": "status_conns_async_writing",
    "ConnsAsyncKeepAlive": "status_conns_async_keepalive",
    "ConnsAsyncClosing": "status_conns_async_closing",
    "ConnsAsyncWaitIO": "status_conns_async_waitio",
}  # fmt: skip


def _after(text: str, label: str) -> str | None:
    """The first word after ``label`` on the first line that starts with it."""
    for line in text.splitlines():
        if line.strip().startswith(label):
            rest = line.strip()[len(label) :].split()
            return rest[0] if rest else None
    return None


def parse_ab(text: str, percentiles_csv: str | None = None) -> Row:
    """ab's report (and optionally its ``-e`` percentile CSV) as runs.csv cells."""
    row: Row = {}
    for label, column, kind in (
        ("Complete requests:", "requests_completed", int),
        ("Failed requests:", "failed", int),
        ("Requests per second:", "req_per_s", float),
        ("Time per request:", "lat_mean_ms", float),
        ("Time taken for tests:", "duration_s", float),
    ):
        word = _after(text, label)
        if word is not None:
            row[column] = kind(word)
    if "failed" in row:
        counts = dict.fromkeys(("Connect", "Receive", "Length", "Exceptions"), 0)
        line = next((x for x in text.splitlines() if x.strip().startswith("(Connect:")), "")
        for part in line.strip(" ()").split(","):
            if ":" in part:
                key, value = part.split(":")
                counts[key.strip()] = int(value)
        writes = _after(text, "Write errors:")
        row.update(
            err_connect=counts["Connect"],
            err_read=counts["Receive"],
            err_write=int(writes) if writes else 0,
            err_timeout=0,
            err_other=counts["Length"] + counts["Exceptions"],
            non_2xx=int(_after(text, "Non-2xx responses:") or 0),
        )
    table: dict[int, float] = {}
    for line in text.splitlines():
        head, _, rest = line.strip().partition("%")
        if head.isdigit() and rest.split() and rest.split()[0].isdigit():
            table[int(head)] = float(rest.split()[0])
    for line in (percentiles_csv or "").splitlines()[1:]:
        share, _, value = line.partition(",")
        if share.strip().isdigit() and value.strip():
            table[int(share)] = float(value)
    for pct, column in ((50, "lat_p50_ms"), (90, "lat_p90_ms"), (95, "lat_p95_ms"),
                        (99, "lat_p99_ms"), (100, "lat_max_ms")):  # fmt: skip
        if pct in table:
            row[column] = table[pct]
    return row


def _wrk_ms(word: str) -> float:
    number = word.rstrip("abcdefghijklmnopqrstuvwxyz")
    return round(float(number) * _WRK_UNIT_MS[word[len(number) :]], 6)


def parse_wrk(text: str) -> Row:
    """wrk's report (``--latency``) as runs.csv cells; wrk gives no p95."""
    row: Row = {}
    errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    in_distribution = False
    for raw in text.splitlines():
        words = raw.split()
        if in_distribution and words and words[0][:-1].isdigit() and words[0][-1] == "%":
            column = {"50": "lat_p50_ms", "90": "lat_p90_ms", "99": "lat_p99_ms"}.get(words[0][:-1])
            if column:
                row[column] = _wrk_ms(words[1])
            continue
        in_distribution = words[:2] == ["Latency", "Distribution"]
        if words[:1] == ["Latency"] and len(words) >= 4 and words[1][0].isdigit():
            row["lat_mean_ms"], row["lat_max_ms"] = _wrk_ms(words[1]), _wrk_ms(words[3])
        elif len(words) >= 4 and words[1:3] == ["requests", "in"]:
            row["requests_completed"] = int(words[0])
            row["duration_s"] = _wrk_ms(words[3].rstrip(",")) / 1000.0
        elif words[:1] == ["Requests/sec:"]:
            row["req_per_s"] = float(words[1])
        elif words[:2] == ["Socket", "errors:"]:
            for i in range(2, len(words) - 1, 2):
                errors[words[i]] = int(words[i + 1].rstrip(","))
        elif raw.strip().startswith("Non-2xx or 3xx responses:"):
            row["non_2xx"] = int(words[-1])
    if "requests_completed" in row:
        row.update({f"err_{kind}": count for kind, count in errors.items()}, err_other=0)
        row["failed"] = sum(errors.values())
        row.setdefault("non_2xx", 0)
    return row


def parse_status(text: str) -> Row:
    """mod_status ``?auto`` output as runs.csv cells (status_* and sb_* counts)."""
    row: Row = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        value = value.strip()
        if not sep:
            continue
        if key in _STATUS_KEYS and value.lstrip("-").isdigit():
            row[_STATUS_KEYS[key]] = int(value)
        elif key == "Scoreboard":
            row.update({column: value.count(char) for char, column in _SCOREBOARD.items()})
    return row


def write_rows(
    rows: Iterable[Mapping[str, object]], path: str | Path, overwrite: bool = False
) -> Path:
    """Write ``rows`` as CSV with the runs.csv header (unknown keys refused, None = blank)."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError("exists; pass overwrite=True (--force) to replace it", file=str(target))
    rows = list(rows)
    extra = sorted({key for row in rows for key in row} - set(RUN_COLUMNS))
    if extra:
        raise InputError(f"not runs.csv columns: {', '.join(extra)}", file=str(target))
    try:
        with target.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(RUN_COLUMNS)
            for row in rows:
                writer.writerow(["" if (v := row.get(c)) is None else v for c in RUN_COLUMNS])
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", file=str(target)) from exc
    return target
