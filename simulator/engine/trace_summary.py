"""A trace load's own figures: what was replayed, and the logged against the simulated times.

The simulated service time of a replayed request is its latency less the network's round
trips (one; two for the first request of a connection, which connects first), the time from
the request reaching Apache to its response leaving it, as ``%D`` counts it (the wait in the
accept queue included, which ``%D`` does not see).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mpmsim.engine.recorder import OK
from mpmsim.engine.replication import Replication
from mpmsim.spec.resolve import Prepared

_STATS = ("mean", "p50", "p95")


def _stats(prefix: str, values: np.ndarray) -> dict[str, float]:
    """Mean, p50 and p95 of ``values`` as ``{prefix}_mean`` ... (NaN when empty)."""
    if not len(values):
        return {f"{prefix}_{name}": math.nan for name in _STATS}
    p50, p95 = np.percentile(values, (50, 95))
    return {
        f"{prefix}_mean": float(values.mean()),
        f"{prefix}_p50": float(p50),
        f"{prefix}_p95": float(p95),
    }


def summarize_trace(
    prep: Prepared, rep: Replication, start_s: float, end_s: float
) -> dict[str, Any]:
    """One replication's trace figures over the measured window ``[start_s, end_s]``."""
    trace, req = rep.trace, rep.requests
    load_start = prep.scenario.load.start_s
    per_s = trace["offered_per_s"]
    lo = min(max(round(start_s - load_start), 0), len(per_s))
    hi = min(max(round(end_s - load_start), lo), len(per_s))
    length = end_s - start_s
    rec: dict[str, Any] = {
        "trace_connections": trace["connections"],
        "trace_requests_logged": trace["requests_logged"],
        "trace_late": trace["late"],
        "trace_bad_lines": trace["bad_lines"],
        "trace_offered_rps": float(per_s[lo:hi].sum()) / length if length > 0 else 0.0,
    }
    assert prep.trace is not None
    if not prep.trace.has_duration:
        return rec
    logged = trace["logged_ms"]
    if len(logged) != len(req["status"]):  # each replayed request tallies its %D as recorded
        raise RuntimeError(f"{len(logged)} logged times for {len(req['status'])} requests")
    t_end = req["t_end_s"]
    measured = (t_end >= start_s) & (t_end <= end_s) & (req["status"] == OK) & np.isfinite(logged)
    rtt_ms = prep.scenario.load.network_rtt_ms
    latency_ms = (t_end - req["t_start_s"]) * 1000.0
    simulated = latency_ms - rtt_ms * np.where(req["new_connection"], 2.0, 1.0)
    rec.update(_stats("trace_logged_ms", logged[measured]))
    rec.update(_stats("trace_simulated_ms", simulated[measured]))
    return rec


def trace_block(prep: Prepared, mean: Callable[[str], float]) -> dict[str, Any]:
    """The run JSON's ``trace`` block from the replications' means (``mean(key)``)."""
    plan = prep.trace
    assert plan is not None
    options = plan.options

    def r(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 4)

    block: dict[str, Any] = {
        "file": options.path,
        "connection_rule": plan.rule.value,
        "speedup": options.speedup,
        "window_s": [plan.start_s, plan.end_s],
        "replayed_from_s": plan.from_s,
        "service": "logged" if options.logged_service else "mix",
        "connections": round(mean("trace_connections")),
        "requests_logged": round(mean("trace_requests_logged")),
        "requests_replayed": round(mean("sent")),
        "late_requests": round(mean("trace_late")),
        "bad_lines": round(mean("trace_bad_lines")),
        "offered_rps": r(mean("trace_offered_rps")),
    }
    if plan.has_duration:
        block["service_ms"] = {
            side: {name: r(mean(f"trace_{side}_ms_{name}")) for name in _STATS}
            for side in ("logged", "simulated")
        }
    return block


__all__ = ["summarize_trace", "trace_block"]
