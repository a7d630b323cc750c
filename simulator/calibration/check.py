"""Calibrate's second stage: every row simulated with the fitted model against its measurement.

Rows fitted and held out alike are simulated (the same seed for every row, 1 unless asked:
common random numbers);
each metric's relative error, the mean absolute percentage error per metric and part, and the
rows some metric misses by more than :data:`UNEXPLAINED`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mpmsim.calibration.measured import METRICS, Setup, observed, simulate_row
from mpmsim.engine.executors import TaskMapper
from mpmsim.models.costs import CostModel
from mpmsim.workloads.readers import MeasuredRun

#: A row whose prediction misses a metric by more than this is named as unexplained.
UNEXPLAINED = 0.25


def compare(
    runs: Sequence[MeasuredRun],
    costs: CostModel,
    setup: Setup,
    *,
    held_out: Sequence[bool],
    jobs: int = 2,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 1,
) -> list[dict[str, Any]]:
    """Measured vs predicted figures for every row (simulated in ``jobs`` processes, each with
    ``seed``: another seed draws another realisation of the same model, e.g. other slow phases
    of a shared host, whose spread says how much one seed's figures move)."""
    cost_dict = costs.model_dump()
    hw = setup.hardware.model_dump()
    work = [(r, cost_dict, hw, setup.network_rtt_ms, seed) for r in runs]
    predicted: list[dict[str, float]] = []
    with TaskMapper(jobs) as mapper:
        for pred in mapper.map(simulate_row, work):
            predicted.append(pred)
            if progress:
                progress(len(predicted), len(work))
    out = []
    for run, pred, hold in zip(runs, predicted, held_out, strict=True):
        obs = observed(run)
        row: dict[str, Any] = {"run_id": run.run_id, "mpm": run.mpm, "held_out": hold}
        for m in METRICS:
            o, p = obs[m], pred[m]
            row[f"{m}_measured"] = o
            row[f"{m}_predicted"] = p
            row[f"{m}_error"] = (p - o) / o if o and not math.isnan(o) and o != 0 else math.nan
        out.append(row)
    return out


def mape_by_metric(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean absolute percentage error per metric, for fitted and held-out rows separately."""
    out: dict[str, dict[str, float | None]] = {}
    for part, hold in (("fitted", False), ("held_out", True)):
        out[part] = {}
        for m in METRICS:
            errs = [
                abs(r[f"{m}_error"])
                for r in rows
                if r["held_out"] == hold and not math.isnan(r[f"{m}_error"])
            ]
            out[part][m] = round(100.0 * float(np.mean(errs)), 2) if errs else None
    return out


def unexplained_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows where some metric misses by more than :data:`UNEXPLAINED`, worst first."""
    bad = []
    for r in rows:
        worst = max(
            ((abs(r[f"{m}_error"]), m) for m in METRICS if not math.isnan(r[f"{m}_error"])),
            default=(0.0, ""),
        )
        if worst[0] > UNEXPLAINED:
            bad.append(
                {"run_id": r["run_id"], "metric": worst[1], "error": round(100 * worst[0], 1)}
            )
    return sorted(bad, key=lambda b: -b["error"])
