"""Measured runs as simulation scenarios: what was run, what was seen, what the model predicts.

A row of the measurement CSV (``data/apache-bench/runs.csv``, or ``mpmsim bench`` output) names
the MPM and its directives, the load tool and its concurrency, keep-alive and duration. This
module turns it into a scenario on the given hardware and cost model, and compares the figures
the row measured with the simulated ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mpmsim.engine.replications import run_prepared
from mpmsim.engine.summary import summarize
from mpmsim.models.costs import CostModel
from mpmsim.models.hardware import HardwareSpec
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare
from mpmsim.workloads.readers import MeasuredRun

#: The figures compared between a measured run and its simulation.
METRICS = ("req_per_s", "lat_p50_ms", "lat_p95_ms", "cpu_ms_per_req", "peak_pss_mb", "peak_procs")

#: Seconds between Apache's start and the load in the calibration set's cold-start runs.
COLD_START_S = 0.5


@dataclass(frozen=True)
class Setup:
    """How the measurements were taken, beyond what each row says."""

    hardware: HardwareSpec
    network_rtt_ms: float


def observed(run: MeasuredRun) -> dict[str, float]:
    """The comparable figures a row measured (NaN where it has none).

    wrk's latency percentiles include synthetic samples (its coordinated-omission correction),
    so only ab's latencies are compared.
    """
    latency_ok = run.tool == "ab"
    return {
        "req_per_s": run.req_per_s,
        "lat_p50_ms": _nan(run.lat_p50_ms) if latency_ok else math.nan,
        "lat_p95_ms": _nan(run.lat_p95_ms) if latency_ok else math.nan,
        "cpu_ms_per_req": _nan(run.apache_cpu_ms_per_req),
        "peak_pss_mb": _nan(run.peak_pss_mb),
        "peak_procs": _nan(run.peak_procs),
    }


def _nan(x: float | int | None) -> float:
    return math.nan if x is None else float(x)


def requests_per_connection(run: MeasuredRun) -> float:
    """Requests carried by one connection (from the access log's %k share when known)."""
    if not run.keepalive:
        return 1.0
    frac = run.extra.get("srv_ka_reused_frac")
    if frac:
        f = float(frac)
        if 0.0 <= f < 1.0:
            return 1.0 / (1.0 - f)
    mka = run.directives.get("MaxKeepAliveRequests", 100)
    return float(mka) + 1.0 if isinstance(mka, int | float) and mka > 0 else 1e6


def scenario_for(run: MeasuredRun, costs: CostModel, setup: Setup, seed: int = 1) -> dict[str, Any]:
    """A scenario mapping that reproduces ``run`` on ``setup.hardware`` with ``costs``."""
    warm = float(run.warmup_s or 0.0)
    load: dict[str, Any] = {
        "kind": "closed",
        "clients": int(run.concurrency),
        "keepalive": bool(run.keepalive),
        "network_rtt_ms": setup.network_rtt_ms,
        "start_s": COLD_START_S,
    }
    if run.tool == "ab" and run.n_requested and run.n_requested < 500_000 and not warm:
        load["requests"] = int(run.n_requested)
    else:
        load["duration_s"] = warm + float(run.duration_s)
    if run.tool == "wrk":
        load["timeout_s"] = 30.0
    cost_dict = costs.model_dump(exclude={"justification", "uncertainty", "calibration"})
    return {
        "name": run.run_id,
        "seed": seed,
        "warmup_s": warm,
        "replications": 1,
        "sample_interval_s": 0.5,  # the harness sampled memory every 0.5 s
        "hardware": setup.hardware.model_dump(exclude={"sources"}),
        "costs": cost_dict,
        "server": {"mpm": run.mpm, "directives": dict(run.directives)},
        "load": load,
        "mix": [{"name": run.content}],
    }


def simulate(run: MeasuredRun, costs: CostModel, setup: Setup, seed: int = 1) -> dict[str, float]:
    """The figures of :data:`METRICS` that the model predicts for ``run``."""
    prep = prepare(load_scenario_data(scenario_for(run, costs, setup, seed), source=run.run_id))
    res = run_prepared(prep, 1)
    rec = summarize(prep, res.replications[0])
    return {
        "req_per_s": rec["throughput_rps"],
        "lat_p50_ms": rec["latency_p50_ms"],
        "lat_p95_ms": rec["latency_p95_ms"],
        "cpu_ms_per_req": rec["cpu_ms_per_request"],
        "peak_pss_mb": rec["memory_peak_mib"],
        "peak_procs": float(rec["processes_peak"]),
    }


def simulate_row(
    args: tuple[MeasuredRun, Mapping[str, Any], Mapping[str, Any], float],
) -> dict[str, float]:
    """Picklable entry point for worker processes: (run, costs dict, hardware dict, rtt)."""
    run, costs, hardware, rtt = args
    setup = Setup(HardwareSpec.model_validate(hardware), rtt)
    return simulate(run, CostModel.model_validate(costs), setup)
