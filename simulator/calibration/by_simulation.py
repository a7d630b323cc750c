"""Fit cost-model parameters by simulation: scenarios with a target throughput each.

Used where only published figures exist (a benchmark's req/s under a known configuration), such
as the MPM primer's t3.medium table. Each evaluation simulates every scenario with the same seed
(common random numbers, so the objective is smooth in the parameters) and
``scipy.optimize.least_squares`` minimises the log ratio of simulated to target throughput,
within bounds, with a robust loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from mpmsim.engine.replications import run_prepared
from mpmsim.models.costs import CostModel
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare

#: Parameters this fit may move, with their bounds.
BOUNDS: dict[str, tuple[float, float]] = {
    "classes.static.cpu_ms": (0.001, 10.0),
    "thread_switch_us": (0.0, 1000.0),
    "process_switch_us": (0.0, 5000.0),
    "fork_cpu_ms": (0.0, 500.0),
    "accept_cpu_ms": (0.0, 5.0),
    "accept_mutex_us": (0.0, 5000.0),
    "switch_us_per_task": (0.0, 10.0),
    "switch_us_per_process": (0.0, 10.0),
}


@dataclass(frozen=True)
class Target:
    """A scenario (raw mapping) and the throughput it should show."""

    label: str
    scenario: Mapping[str, Any]
    throughput_rps: float


@dataclass(frozen=True)
class SimFit:
    """Fitted parameters, and per target: simulated throughput and error."""

    costs: CostModel
    values: dict[str, float]
    results: list[dict[str, Any]]
    evaluations: int


def with_params(base: CostModel, values: Mapping[str, float]) -> CostModel:
    """``base`` with dotted parameters (``classes.static.cpu_ms``) replaced."""
    data = base.model_dump()
    for key, value in values.items():
        node: Any = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = float(value)
    return CostModel.model_validate(data)


def simulated_throughput(target: Target, costs: CostModel, replications: int = 1) -> float:
    """Mean simulated throughput of ``target``'s scenario with ``costs``."""
    raw = dict(target.scenario)
    raw["costs"] = costs.model_dump(exclude={"justification", "uncertainty", "calibration"})
    prep = prepare(load_scenario_data(raw, source=target.label))
    res = run_prepared(prep, replications)
    return res.mean("throughput_rps")


def fit_by_simulation(
    targets: Sequence[Target],
    base: CostModel,
    params: Sequence[str],
    *,
    progress: Callable[[int, float], None] | None = None,
) -> SimFit:
    """Choose ``params`` so the targets' simulated throughputs match (log-ratio least squares)."""
    unknown = [p for p in params if p not in BOUNDS]
    if unknown:
        raise ValueError(f"cannot fit {unknown}; fittable: {sorted(BOUNDS)}")
    lo = np.array([BOUNDS[p][0] for p in params])
    hi = np.array([BOUNDS[p][1] for p in params])
    x0 = np.clip(np.array([_get(base, p) for p in params]), lo + 1e-9, hi)
    calls = 0

    def resid(x: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        costs = with_params(base, dict(zip(params, x, strict=True)))
        r = np.array([math.log(simulated_throughput(t, costs) / t.throughput_rps) for t in targets])
        if progress:
            progress(calls, float(np.sqrt(np.mean(r * r))))
        return r

    # Work in log space of the parameters: they span orders of magnitude.
    lo_l, hi_l = np.log(np.maximum(lo, 1e-6)), np.log(hi)

    def resid_log(z: np.ndarray) -> np.ndarray:
        return resid(np.exp(z))

    sol = least_squares(
        resid_log, np.log(np.maximum(x0, 1e-6)), bounds=(lo_l, hi_l), loss="soft_l1",
        f_scale=0.1, diff_step=0.05, max_nfev=60,
    )  # fmt: skip
    values = {p: float(v) for p, v in zip(params, np.exp(sol.x), strict=True)}
    costs = with_params(base, values)
    results = []
    for t in targets:
        sim = simulated_throughput(t, costs, replications=3)
        results.append(
            {"label": t.label, "target_rps": t.throughput_rps, "simulated_rps": round(sim, 1),
             "error_pct": round(100 * (sim / t.throughput_rps - 1), 2)}
        )  # fmt: skip
    return SimFit(costs=costs, values=values, results=results, evaluations=calls)


def _get(costs: CostModel, key: str) -> float:
    node: Any = costs.model_dump()
    for part in key.split("."):
        node = node[part]
    return float(node)
