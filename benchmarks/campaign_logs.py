"""Server-side cells of a campaign row: Apache's error log and access log (runs.csv's columns).

The access log format is the shared campaign's (tests/apache.py writes it):
``%{usec}t %D %k %X %P %{tid}P %>s %B "%r"``. Probe and /server-status requests are left out.
Both logs cover the whole life of the server, warm-up included (as in the shared S4/S5 rows).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

#: "server reached MaxRequestWorkers" (prefork AH00161, worker/event AH00484)
MRW_REACHED = ("AH00161", "AH00484")
_LEVEL = re.compile(r"\[[a-z_0-9]+:(warn|error|crit|alert|emerg)\]")
_CODE = re.compile(r"\b(AH\d{5})\b")


def error_log_cells(path: Path) -> dict[str, object]:
    """mrw_reached, the counts of MaxRequestWorkers / scoreboard messages, warn+ lines and codes."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    serious = [line for line in lines if _LEVEL.search(line)]
    codes = Counter(m.group(1) for line in serious if (m := _CODE.search(line)))
    reached = sum(1 for line in lines if any(code in line for code in MRW_REACHED))
    return {
        "mrw_reached": int(reached > 0),
        "err_mrw_reached_lines": reached,
        "err_near_mrw_lines": sum(
            "within MinSpareThreads of MaxRequestWorkers" in x for x in lines
        ),
        "err_scoreboard_full_lines": sum("scoreboard is full" in x for x in lines),
        "err_log_lines_error": len(serious),
        "err_log_codes": ";".join(f"{c}:{n}" for c, n in sorted(codes.items())),
    }


def access_log_cells(path: Path) -> dict[str, object]:
    """srv_* cells: logged requests, %D statistics, keep-alive reuse, closes, pids, workers."""
    durations_us, reused, closed, aborted, non200 = [], 0, 0, 0, 0
    pids: set[str] = set()
    workers: set[tuple[str, str]] = set()
    try:
        handle = path.open(errors="replace")
    except OSError:
        return {}
    with handle:
        for line in handle:
            fields = line.split(" ", 7)
            if len(fields) < 8 or "probe=1" in fields[7] or "/server-status" in fields[7]:
                continue
            _, took, keep, status_x, pid, tid, status, _ = fields
            durations_us.append(int(took))
            reused += keep != "0"
            closed += status_x == "-"
            aborted += status_x == "X"
            non200 += status != "200"
            pids.add(pid)
            workers.add((pid, tid))
    n = len(durations_us)
    if not n:
        return {"srv_log_requests": 0}
    ms = np.asarray(durations_us, dtype=float) / 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "srv_log_requests": n,
        "srv_D_mean_ms": round(float(ms.mean()), 4),
        "srv_D_p50_ms": round(float(p50), 4),
        "srv_D_p90_ms": round(float(p90), 4),
        "srv_D_p99_ms": round(float(p99), 4),
        "srv_D_max_ms": round(float(ms.max()), 4),
        "srv_ka_reused_frac": round(reused / n, 4),
        "srv_conn_close_frac": round(closed / n, 4),
        "srv_aborted": aborted,
        "srv_distinct_pids": len(pids),
        "srv_distinct_workers": len(workers),
        "srv_non200": non200,
    }
