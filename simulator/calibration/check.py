"""Calibrate's second stage: every row simulated with the fitted model against its measurement.

Rows fitted and held out alike are simulated, each with a seed of its own drawn from the run's
id and the seed asked (1 unless asked; :func:`row_seed`): each real run had its own draws;
each metric's relative error, the mean absolute percentage error per metric and part, and the
rows some metric misses by more than :data:`UNEXPLAINED`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mpmsim.calibration.measured import (
    METRICS,
    Setup,
    measured_warnings,
    observed,
    simulate_row,
)
from mpmsim.engine.executors import TaskMapper
from mpmsim.engine.summary import nan_mean
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel
from mpmsim.models.mpm.warnings import KINDS
from mpmsim.workloads.readers import MeasuredRun

#: A row whose prediction misses a metric by more than this is named as unexplained.
UNEXPLAINED = 0.25


def row_seed(seed: int, run_id: str) -> int:
    """The simulation seed of row ``run_id`` when calibrate is asked for ``seed``.

    The real runs each had their own draws: the shared host's slow phases, the order of
    arrivals. One seed for every row would give every row the same phases, so that, say, all
    the rows of one load fork in a slow phase or none does. Each row gets its own seed, from
    the SHA-256 of ``seed`` and its id: the same on any machine, in any order and any number of
    processes, and the same for a row in every fit (so two cost models are compared on the
    same draws, common random numbers across fits).
    """
    digest = hashlib.sha256(f"{seed}:{run_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def simulate_rows(
    runs: Sequence[MeasuredRun],
    costs: Sequence[CostModel],
    setup: Setup,
    *,
    jobs: int = 2,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 1,
    replications: int = 1,
) -> list[dict[str, float]]:
    """The figures every row of ``runs`` is predicted under each cost model of ``costs`` in
    turn (all the simulations in one pool of ``jobs`` processes, each row with its
    :func:`row_seed` of ``seed``; ``progress(done, total)`` counts them). With
    ``replications`` > 1 each row is simulated that many times (replications 0, 1, ... of its
    seed, as ``mpmsim run`` draws them) and each figure is the replications' mean
    (:func:`mean_figures`)."""
    if replications < 1:
        raise InputError(f"must be >= 1, got {replications}", field="--replications")
    hw = setup.hardware.model_dump()
    seeds = [row_seed(seed, r.run_id) for r in runs]
    work = []
    for model in costs:
        cost_dict = model.model_dump()
        work += [
            (r, cost_dict, hw, setup.network_rtt_ms, s, i)
            for r, s in zip(runs, seeds, strict=True)
            for i in range(replications)
        ]
    predicted: list[dict[str, float]] = []
    with TaskMapper(jobs) as mapper:
        for pred in mapper.map(simulate_row, work):
            predicted.append(pred)
            if progress:
                progress(len(predicted), len(work))
    return [
        mean_figures(predicted[k : k + replications])
        for k in range(0, len(predicted), replications)
    ]


def mean_figures(reps: Sequence[dict[str, float]]) -> dict[str, float]:
    """One row's figures over its replications: each the mean of the replications that have
    it (not NaN), NaN where none has, as ``RunResult.mean`` averages ``mpmsim run``'s (a
    percentile's mean is its Vincentized value; a ``warned_<kind>`` flag becomes the share of
    replications whose parent logged it)."""
    return {k: nan_mean([r[k] for r in reps]) for k in reps[0]}


def compare(
    runs: Sequence[MeasuredRun],
    costs: CostModel,
    setup: Setup,
    *,
    held_out: Sequence[bool],
    jobs: int = 2,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 1,
    replications: int = 1,
) -> list[dict[str, Any]]:
    """Measured vs predicted figures for every row (simulated in ``jobs`` processes, each row with
    its :func:`row_seed` of ``seed``: another seed draws another realisation of the same model,
    e.g. other slow phases of a shared host, whose spread says how much one seed's figures
    move; ``replications`` > 1 predicts each row by the mean of that many realisations, the
    model's expected figures rather than one draw of them)."""
    predicted = simulate_rows(
        runs, [costs], setup, jobs=jobs, progress=progress, seed=seed, replications=replications
    )
    out = []
    for run, pred, hold in zip(runs, predicted, held_out, strict=True):
        its_seed = row_seed(seed, run.run_id)
        obs = observed(run)
        # with the row's seed, measured.simulate(run, costs, setup, seed, i) for i below
        # ``replications`` gives the figures whose mean these are
        row: dict[str, Any] = {"run_id": run.run_id, "mpm": run.mpm, "held_out": hold,
                               "seed": its_seed, "replications": replications}  # fmt: skip
        for m in METRICS:
            o, p = obs[m], pred[m]
            row[f"{m}_measured"] = o
            row[f"{m}_predicted"] = p
            row[f"{m}_error"] = (p - o) / o if o and not math.isnan(o) and o != 0 else math.nan
        real = measured_warnings(run)
        row["warnings_measured"] = None if real is None else ",".join(real)
        # a kind the simulated parent logged in at least half the replications
        row["warnings_predicted"] = ",".join(
            k for k in KINDS if pred.get(f"warned_{k}", 0.0) >= 0.5
        )
        out.append(row)
    return out


def warning_agreement(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How often the simulated parent logged the capacity warnings Apache's did.

    ``rows`` (:func:`compare`'s) carry ``warnings_measured`` and ``warnings_predicted``: the
    kinds (:data:`~mpmsim.models.mpm.warnings.KINDS`, comma-separated, "" for none) the run's
    error log holds (None for a row without its error-log columns) and the simulated parent
    logged. Returns the rows compared, the share whose kinds are the same, and per kind the
    rows whose real log has it, whose simulated log has it, and both.
    """
    pairs = [
        (set(filter(None, r["warnings_measured"].split(","))),
         set(filter(None, r["warnings_predicted"].split(","))))
        for r in rows
        if r.get("warnings_measured") is not None
    ]  # fmt: skip
    same = sum(1 for real, model in pairs if real == model)
    by_kind = {
        k: {"measured": sum(1 for real, _ in pairs if k in real),
            "predicted": sum(1 for _, model in pairs if k in model),
            "both": sum(1 for real, model in pairs if k in real and k in model)}
        for k in KINDS
    }  # fmt: skip
    share = round(100.0 * same / len(pairs), 2) if pairs else None
    return {"rows": len(pairs), "same_pct": share, "by_kind": by_kind}


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
