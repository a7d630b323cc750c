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

from mpmsim.engine.classes import summarize_classes
from mpmsim.engine.recorder import OK, SERIES_COLUMNS, STATUS_NAMES
from mpmsim.engine.replication import Replication
from mpmsim.engine.trace_summary import summarize_trace
from mpmsim.engine.warmup import auto_warmup_s
from mpmsim.spec.resolve import Prepared
from mpmsim.spec.scenario import OpenLoad
from mpmsim.spec.session_ramp import short_warmup, think_moments

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


def _in_window(req: dict[str, np.ndarray], window: Window) -> tuple[np.ndarray, np.ndarray]:
    """The requests that ended in ``window``, and those of them that succeeded (masks)."""
    in_window = (req["t_end_s"] >= window.start_s) & (req["t_end_s"] <= window.end_s)
    return in_window, in_window & (req["status"] == OK)


def window_latencies_ms(prep: Prepared, rep: Replication) -> np.ndarray:
    """The latency (ms) of each request of ``rep`` that succeeded in its measured window, the
    ones :func:`summarize`'s percentiles are read from."""
    req = rep.requests
    _, ok = _in_window(req, measured_window(prep, rep))
    return np.asarray((req["t_end_s"] - req["t_start_s"])[ok] * 1000.0, dtype=float)


def summarize(prep: Prepared, rep: Replication) -> dict[str, Any]:
    """One flat record of replication ``rep``."""
    req = rep.requests
    window = measured_window(prep, rep)
    in_window, ok = _in_window(req, window)
    completed = int(ok.sum())
    rec: dict[str, Any] = {
        "replication": rep.index,
        "warmup_s": window.start_s,
        "window_s": window.length_s,
        "throughput_rps": completed / window.length_s if window.length_s > 0 else 0.0,
        "completed": completed,
    }
    if rep.sessions:
        rec["offered_rps"] = _offered_rps(prep, rep, window)
    if rep.trace:
        rec.update(summarize_trace(prep, rep, window.start_s, window.end_s))
    for code, name in enumerate(STATUS_NAMES):
        if code != OK:
            rec[name] = int((in_window & (req["status"] == code)).sum())
    rec.update(_latency((req["t_end_s"] - req["t_start_s"])[ok] * 1000.0))
    rec.update(_cpu(prep, rep, window, completed, int((ok & req["new_connection"]).sum())))
    rec.update(_sampled(prep, rep, window))
    rec.update(_counters(rep))
    rec["batch_throughput"] = _batch_throughput(req["t_end_s"][ok], window)
    edges = _batch_edges(window)
    names = [c.name for c in prep.classes]
    rec.update(summarize_classes(names, req, in_window, window.length_s, edges))
    return rec


def _offered_rps(prep: Prepared, rep: Replication, window: Window) -> float:
    """The load an open load offered in the measured window, requests per second.

    The expected number of requests its sessions send in the window, given when each arrived
    and how many requests it has: request ``i`` comes ``i`` think times after the arrival (a
    gamma-shaped sum with the think time's mean and variance; responses taken as instant, so
    the figure does not depend on the server). Poisson arrivals and random session lengths make
    it differ from the nominal rate by several % in a minute's run. Counting whole sessions by
    their arrival instead is 2-3 % noisier, and several % high while long sessions are still
    building up after a short warm-up (keepalive-idle-browsers: 241 against 215 served by an
    idle server); fixed think-time steps leave 5 % of that bias.
    """
    if window.length_s <= 0:
        return 0.0
    t, n = rep.sessions["t_s"], rep.sessions["requests"]
    index = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)).astype(float)
    start = np.repeat(t, n)
    lo, hi = window.start_s - start, window.end_s - start
    load = prep.scenario.load
    assert isinstance(load, OpenLoad)  # only an open load tallies its sessions
    mean, var = think_moments(load)
    if mean <= 0.0 or var <= 0.0:  # requests at fixed steps
        at = index * mean
        return float(((at >= lo) & (at <= hi)).sum()) / window.length_s
    shape = np.maximum(index * mean * mean / var, 1e-12)
    p = stats.gamma.cdf(hi, shape, scale=var / mean) - stats.gamma.cdf(lo, shape, scale=var / mean)
    first = index == 0
    p[first] = ((lo[first] <= 0.0) & (hi[first] >= 0.0)).astype(float)
    return float(p.sum()) / window.length_s


def _latency(latency_ms: np.ndarray) -> dict[str, float]:
    """Mean, percentiles and maximum of the measured responses' latencies (NaN if none)."""
    if not len(latency_ms):
        names = ["latency_mean_ms", *(f"latency_p{p}_ms" for p in PERCENTILES), "latency_max_ms"]
        return dict.fromkeys(names, math.nan)
    out = {"latency_mean_ms": float(latency_ms.mean())}
    for p, v in zip(PERCENTILES, np.percentile(latency_ms, PERCENTILES), strict=True):
        out[f"latency_p{p}_ms"] = float(v)
    out["latency_max_ms"] = float(latency_ms.max())
    return out


def _cpu(
    prep: Prepared, rep: Replication, window: Window, completed: int, new_conns: int
) -> dict[str, float]:
    """CPU utilisation over the measured window, and Apache's busy CPU per response.

    The vCPUs' busy time includes the kernel's work outside Apache's processes
    (``kernel_us_per_request``, ``kernel_us_per_connection``); Apache's CPU per response, as
    /proc/PID/stat counts it, leaves that out.
    """
    cpu_busy = rep.counters["cpu_busy_core_s"] - _interp_series(
        rep, "cpu_busy_core_s", window.start_s
    )
    elapsed = rep.end_s - window.start_s
    vcpus = prep.hardware.vcpus
    costs = prep.costs
    if completed:
        kernel_ms = (
            costs.kernel_us_per_request * completed + costs.kernel_us_per_connection * new_conns
        ) / 1000.0
        # Busy CPU time (context-switch losses included, as /proc counts it) per response, in
        # milliseconds of the reference core.
        per_request = max(1000.0 * cpu_busy * prep.hardware.cpu_speed - kernel_ms, 0.0) / completed
    else:
        per_request = math.nan
    # of which the idle wake-ups (the hardware's idle_wake: a job's extra work after its vCPU
    # rested, mpmsim.engine.idle_wake), what calibrate takes off a lightly loaded row's CPU
    wake_s = rep.counters["idle_wake_s"] - _interp_series(rep, "idle_wake_s", window.start_s)
    return {
        "cpu_utilization": cpu_busy / (vcpus * elapsed) if elapsed > 0 else 0.0,
        "cpu_ms_per_request": per_request,
        "idle_wake_cpu_ms_per_request": 1000.0 * wake_s / completed if completed else math.nan,
    }


def _sampled(prep: Prepared, rep: Replication, window: Window) -> dict[str, Any]:
    """Memory, workers, keep-alive and queue figures from the time series after the warm-up."""
    c = rep.counters
    series = np.asarray(rep.series) if rep.series else np.zeros((0, len(SERIES_COLUMNS)))
    rows = series[series[:, 0] >= window.start_s] if len(series) else series

    def mean(column: str, empty: float = 0.0) -> float:
        return float(rows[:, _COL[column]].mean()) if len(rows) else empty

    busy = rows[:, _COL["busy_workers"]] if len(rows) else np.zeros(0)
    return {
        "memory_peak_mib": c["memory_peak_mib"],
        # without the kernel's socket memory: what a PSS reading of the Apache processes shows
        "memory_apache_peak_mib": c["memory_apache_peak_mib"],
        "memory_mean_mib": mean("memory_mib", c["memory_peak_mib"]),
        "memory_limit_mib": c["memory_limit_mib"],
        "ram_exceeded": bool(c["ram_exceeded"]),
        "workers_busy_mean": mean("busy_workers"),
        "workers_at_cap_fraction": (
            float((busy >= prep.directives.MaxRequestWorkers).mean()) if len(busy) else 0.0
        ),
        # all the workers alive busy (Apache has not started the rest: its spawn rate)
        "workers_none_idle_fraction": (
            float((rows[:, _COL["idle_workers"]] < 0.5).mean()) if len(rows) else 0.0
        ),
        "keepalive_held_mean": mean("keepalive_held_workers"),
        "keepalive_async_mean": mean("keepalive_async_conns"),
        "accept_queue_mean": mean("accept_queue"),
        "throttled_fraction": mean("throttled"),
    }


def _counters(rep: Replication) -> dict[str, Any]:
    """Peaks and counts over the whole replication, and the simulation's own cost."""
    c = rep.counters
    rec: dict[str, Any] = {}
    for key in (
        "processes_peak",
        "threads_peak",
        "threads_used_peak",
        "busy_peak",
        "keepalive_peak",
    ):
        rec[key] = int(c[key])
    for key in ("sent", "finished", "reconnects", "syn_drops", "oom_kills", "conns_accepted"):
        rec[key] = int(c[key])
    rec["in_flight"] = rec["sent"] - rec["finished"]
    rec.update({k: v for k, v in c.items() if k.startswith("backend.")})  # PHP-FPM, proxies
    rec["cpu_credits_end"] = c["cpu_credits_end"]
    rec["cpu_surplus_credits"] = c["cpu_surplus_credits"]
    rec["events"] = int(c["events"])
    rec["wall_s"] = rep.wall_s
    rec["simulated_s"] = rep.end_s
    return rec


def empty_window_warnings(prep: Prepared, records: Sequence[dict[str, Any]]) -> list[str]:
    """One line saying why no response was measured, if a replication measured none."""
    empty = [r for r in records if r["window_s"] <= 0 or r["completed"] == 0]
    if not empty:
        return []
    where = f"in {len(empty)} of {len(records)} replications, " if len(records) > 1 else ""
    return [f"{where}no response was measured: {_why_empty(prep, empty[0])}"]


def ramp_warnings(prep: Prepared, records: Sequence[dict[str, Any]]) -> list[str]:
    """One line when the measured window opened while an open load's sessions were still
    building up (:mod:`mpmsim.spec.session_ramp`): the window the replications measured on
    average, so that ``warmup_s: auto`` is judged on the start MSER-5 chose."""
    measured = [r for r in records if r["window_s"] > 0]
    if not measured:
        return []
    start = float(np.mean([r["warmup_s"] for r in measured]))
    end = start + float(np.mean([r["window_s"] for r in measured]))
    why = short_warmup(prep.scenario, start, end)
    return [] if why is None else [why]


def _why_empty(prep: Prepared, rec: dict[str, Any]) -> str:
    """The likely cause of a replication without a measured response, and what to change."""
    scenario, end, warm = prep.scenario, rec["simulated_s"], prep.scenario.warmup_s
    if rec["window_s"] <= 0 and warm != "auto":  # MSER-5 cuts among the responses, never after
        warm_end = scenario.load.start_s + warm
        budget = getattr(scenario.load, "requests", None)
        more = f" or raise load.requests ({budget})" if budget else ""
        return (
            f"the load ended at {end:.3g} s, before the warm-up did at {warm_end:.3g} s: "
            f"lower warmup_s{more}"
        )
    failed = ", ".join(f"{k} {rec[k]}" for k in STATUS_NAMES[1:] if rec[k])
    if failed:
        return f"every request in the measured window failed ({failed}): see the bottleneck"
    if rec["sent"] == 0:
        return f"no request was sent in {end:.3g} s: raise the load's rate or duration_s"
    sent = f"{rec['sent']} request was" if rec["sent"] == 1 else f"{rec['sent']} requests were"
    return (
        f"{sent} sent, none completed between the warm-up's end at "
        f"{rec['warmup_s']:.3g} s and the run's end at {end:.3g} s: a request takes longer "
        "than that (raise duration_s)"
    )


def _batch_edges(window: Window) -> np.ndarray | None:
    """The boundaries of the window's ``N_BATCHES`` batches (None for an empty window)."""
    if window.length_s <= 0:
        return None
    return np.linspace(window.start_s, window.end_s, N_BATCHES + 1)


def _batch_throughput(t_end: np.ndarray, window: Window) -> list[float]:
    edges = _batch_edges(window)
    if edges is None:
        return []
    counts, _ = np.histogram(t_end, bins=edges)
    width = window.length_s / N_BATCHES
    return [float(x / width) for x in counts]


def nan_mean(values: Sequence[float]) -> float:
    """Mean of the values that are not NaN (NaN when none is): a figure over replications."""
    vals = [float(v) for v in values if not math.isnan(float(v))]
    return float(np.mean(vals)) if vals else math.nan


def ci95(values: Sequence[float]) -> float | None:
    """Half-width of the 95 % Student-t confidence interval of the mean (None for < 2 values)."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(arr) < 2:
        return None
    sd = float(arr.std(ddof=1))
    return float(stats.t.ppf(0.975, len(arr) - 1) * sd / math.sqrt(len(arr)))
