"""From replications to the figures users read: throughput, latency, memory, CPU, errors.

Each replication is summarised as one flat record; a run's result aggregates them with 95 %
confidence intervals (Student t over replications, or over 10 batch means of one replication).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from mpmsim.engine.recorder import OK, REFUSED, RESET, SERIES_COLUMNS, TIMEOUT
from mpmsim.engine.replication import Replication
from mpmsim.engine.warmup import auto_warmup_s
from mpmsim.spec.resolve import Prepared

PERCENTILES = (50, 90, 95, 99)
_COL = {name: i for i, name in enumerate(SERIES_COLUMNS)}
N_BATCHES = 10


@dataclass(frozen=True)
class Window:
    """The measured part of a replication: after the warm-up, up to the end."""

    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        """Seconds measured."""
        return max(self.end_s - self.start_s, 0.0)


def measured_window(prep: Prepared, rep: Replication) -> Window:
    """The window of ``rep``: ``warmup_s`` (or MSER-5's choice) to the last response / end."""
    req = rep.requests
    ok = req["status"] == OK
    warm = prep.scenario.warmup_s
    load_start = prep.scenario.load.start_s
    if warm == "auto":
        lat = (req["t_end_s"] - req["t_start_s"])[ok]
        start = max(auto_warmup_s(req["t_end_s"][ok], lat), load_start)
    else:
        start = load_start + float(warm)
    end = rep.end_s
    if prep.duration_s is None and len(req["t_end_s"]):
        end = float(req["t_end_s"].max())
    return Window(min(start, end), end)


def _interp_series(rep: Replication, column: str, t: float) -> float:
    if not rep.series:
        return 0.0
    arr = np.asarray(rep.series)
    return float(np.interp(t, arr[:, 0], arr[:, _COL[column]], left=0.0))


def summarize(prep: Prepared, rep: Replication) -> dict[str, Any]:
    """One flat record of replication ``rep``."""
    req = rep.requests
    window = measured_window(prep, rep)
    in_window = (req["t_end_s"] >= window.start_s) & (req["t_end_s"] <= window.end_s)
    status = req["status"]
    ok = in_window & (status == OK)
    latency_ms = (req["t_end_s"] - req["t_start_s"])[ok] * 1000.0
    completed = int(ok.sum())
    span = window.length_s
    rec: dict[str, Any] = {
        "replication": rep.index,
        "warmup_s": window.start_s,
        "window_s": span,
        "throughput_rps": completed / span if span > 0 else 0.0,
        "completed": completed,
        "refused": int((in_window & (status == REFUSED)).sum()),
        "timeout": int((in_window & (status == TIMEOUT)).sum()),
        "reset": int((in_window & (status == RESET)).sum()),
    }
    if completed:
        rec["latency_mean_ms"] = float(latency_ms.mean())
        for p, v in zip(PERCENTILES, np.percentile(latency_ms, PERCENTILES), strict=True):
            rec[f"latency_p{p}_ms"] = float(v)
        rec["latency_max_ms"] = float(latency_ms.max())
    else:
        rec["latency_mean_ms"] = math.nan
        for p in PERCENTILES:
            rec[f"latency_p{p}_ms"] = math.nan
        rec["latency_max_ms"] = math.nan
    c = rep.counters
    busy_at_start = _interp_series(rep, "cpu_busy_core_s", window.start_s)
    vcpus = prep.hardware.vcpus
    cpu_busy = c["cpu_busy_core_s"] - busy_at_start
    elapsed = rep.end_s - window.start_s
    rec["cpu_utilization"] = cpu_busy / (vcpus * elapsed) if elapsed > 0 else 0.0
    # Busy CPU time (context-switch losses included, as /proc counts it) per response, in
    # milliseconds of the reference core.
    rec["cpu_ms_per_request"] = (
        1000.0 * cpu_busy * prep.hardware.cpu_speed / completed if completed else math.nan
    )
    series = np.asarray(rep.series) if rep.series else np.zeros((0, len(SERIES_COLUMNS)))
    rows = series[series[:, 0] >= window.start_s] if len(series) else series
    mem = rows[:, _COL["memory_mib"]] if len(rows) else np.zeros(0)
    rec["memory_peak_mib"] = c["memory_peak_mib"]
    rec["memory_mean_mib"] = float(mem.mean()) if len(mem) else c["memory_peak_mib"]
    rec["memory_limit_mib"] = c["memory_limit_mib"]
    rec["ram_exceeded"] = bool(c["ram_exceeded"])
    mrw = prep.directives.MaxRequestWorkers
    busy = rows[:, _COL["busy_workers"]] if len(rows) else np.zeros(0)
    rec["workers_busy_mean"] = float(busy.mean()) if len(busy) else 0.0
    rec["workers_at_cap_fraction"] = float((busy >= mrw).mean()) if len(busy) else 0.0
    held = rows[:, _COL["keepalive_held_workers"]] if len(rows) else np.zeros(0)
    rec["keepalive_held_mean"] = float(held.mean()) if len(held) else 0.0
    ka_async = rows[:, _COL["keepalive_async_conns"]] if len(rows) else np.zeros(0)
    rec["keepalive_async_mean"] = float(ka_async.mean()) if len(ka_async) else 0.0
    queue = rows[:, _COL["accept_queue"]] if len(rows) else np.zeros(0)
    rec["accept_queue_mean"] = float(queue.mean()) if len(queue) else 0.0
    rec["throttled_fraction"] = float(rows[:, _COL["throttled"]].mean()) if len(rows) else 0.0
    for key in ("processes_peak", "threads_peak", "busy_peak", "keepalive_peak"):
        rec[key] = int(c[key])
    for key in ("sent", "finished", "reconnects", "syn_drops", "oom_kills", "conns_accepted"):
        rec[key] = int(c[key])
    rec["in_flight"] = rec["sent"] - rec["finished"]
    rec["cpu_credits_end"] = c["cpu_credits_end"]
    rec["cpu_surplus_credits"] = c["cpu_surplus_credits"]
    rec["events"] = int(c["events"])
    rec["wall_s"] = rep.wall_s
    rec["simulated_s"] = rep.end_s
    rec["batch_throughput"] = _batch_throughput(req["t_end_s"][ok], window)
    return rec


def _batch_throughput(t_end: np.ndarray, window: Window) -> list[float]:
    if window.length_s <= 0:
        return []
    edges = np.linspace(window.start_s, window.end_s, N_BATCHES + 1)
    counts, _ = np.histogram(t_end, bins=edges)
    width = window.length_s / N_BATCHES
    return [float(x / width) for x in counts]


def ci95(values: Sequence[float]) -> float | None:
    """Half-width of the 95 % Student-t confidence interval of the mean (None for < 2 values)."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(arr) < 2:
        return None
    sd = float(arr.std(ddof=1))
    return float(stats.t.ppf(0.975, len(arr) - 1) * sd / math.sqrt(len(arr)))
