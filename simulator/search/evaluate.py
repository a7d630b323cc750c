"""One candidate of ``mpmsim optimize``: its tasks (one per replication) and its summary.

A task is plain data (the scenario's JSON, the candidate's ``--set`` overrides, the seed and a
replication index), so local processes and Dask workers rebuild the same scenario from it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mpmsim.engine.recorder import STATUS_NAMES
from mpmsim.engine.replication import Replication, run_replication
from mpmsim.engine.replications import RunResult
from mpmsim.engine.summary import summarize
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import Prepared, prepare

Task = tuple[str, str, str | None, tuple[str, ...], int, int]
"""(scenario JSON, source, base folder, overrides, seed, replication index)."""


def prepare_task(task: Task) -> Prepared:
    """The prepared candidate scenario of a task (the last field is ignored)."""
    scenario_json, source, base_dir, overrides, seed, _ = task
    sc = load_scenario_data(json.loads(scenario_json), source=source, overrides=overrides)
    sc = sc.model_copy(update={"seed": seed})
    return prepare(sc, source=source, base_dir=Path(base_dir) if base_dir else None)


def simulate_replication(task: Task) -> tuple[dict[str, Any], Replication]:
    """Replication ``task[-1]`` of one candidate: its record and a light copy (no rows)."""
    prep = prepare_task(task)
    return _light(prep, run_replication(prep, task[-1]))


def _light(prep: Prepared, rep: Replication) -> tuple[dict[str, Any], Replication]:
    """Summarize where the rows are, and keep only what the aggregate needs (the error log)."""
    light = dataclasses.replace(rep, requests={}, series=[])
    return summarize(prep, rep), light


def summarize_candidate(
    prep: Prepared, parts: Sequence[tuple[dict[str, Any], Replication]]
) -> dict[str, Any]:
    """The figures the search compares, from a candidate's replications (in index order)."""
    records = tuple(rec for rec, _ in parts)
    res = RunResult(prepared=prep, records=records, replications=tuple(r for _, r in parts))
    d = res.to_dict()
    recs = res.records

    def err_rate(r: dict[str, Any]) -> float:
        bad = sum(r[name] for name in STATUS_NAMES[1:])
        return float(bad / max(bad + r["completed"], 1))

    out = {
        "throughput_rps": d["throughput_rps"],
        "throughput_rps_ci95": d["throughput_rps_ci95"],
        "p95_ms": d["latency_ms"]["p95"],
        "memory_peak_mib": d["memory_mib"]["peak"],
        "ram_exceeded": d["ram_exceeded"],
        "error_rate": round(float(np.mean([err_rate(r) for r in recs])), 6),
        "cpu_utilization": d["cpu_utilization"],
        "cpu_ms_per_request": d["cpu_ms_per_request"],
        "throttled_fraction": d.get("cpu_credits", {}).get("throttled_fraction"),
        "offered_rps": d.get("offered_rps"),
        "bottleneck": d["bottleneck"]["resource"],
        "warnings": d["warnings"],
        "error_log": d["error_log"],
        "effective_directives": d["effective_directives"],
        "backends": d.get("backends") or {},
        "per_rep": {
            "throughput_rps": [float(r["throughput_rps"]) for r in recs],
            "p95_ms": [float(r["latency_p95_ms"]) for r in recs],
        },
        "wall_s": d["sim"]["wall_s"],
    }
    result: dict[str, Any] = json.loads(json.dumps(out))  # what the cache would give back
    return result
