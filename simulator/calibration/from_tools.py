"""Calibrate from load-tool outputs and the scenario each ran: the CPU from throughput.

DESIGN section 6: ``calibrate`` also reads the raw text of ab and wrk (and other tools'
summaries), given the scenario they ran.
Such a text is the client's view only: throughput, latencies, errors. It holds no CPU reading
and no memory reading, so the regressions of :mod:`mpmsim.calibration.fit` (Apache's CPU per
request on what the simulator charges it, PSS on processes and threads) have nothing to work
on. What the throughput does tell, where the server's CPU sets it, is how much CPU a request
costs on that machine: the one figure fitted here, by simulation.

Each output's scenario (its hardware, MPM, directives, mix and cost model) is simulated with
the output's load in place of its own (ab: ``-c`` clients, ``-k``, its completed requests; wrk:
its connections, keep-alive, its duration), from a cold start as a benchmark on a freshly
started server runs. A JMeter JTL or a k6 summary does not say what its users did between
requests (the test plan's think time, keep-alive): there the scenario's own closed load runs
for the output's duration, its clients must be the users the output counted, and the pause
between requests the output implies (users / rate - response time, Little's law for a closed
loop) is set beside the scenario's think time.

The handler CPU of every mix class that takes it from the cost model is multiplied by one
factor, the same for all (the classes' ratios are the base model's), chosen so the simulated
throughputs match the measured ones (least squares of the log ratios; every evaluation uses
the scenarios' seeds, so the objective does not move with the draws). Everything else keeps
the base model's values, memory included.

The factor absorbs every difference in CPU per request between the base model and the server
measured (accept, close and the request's own CPU stay the base's), so a static page, whose
handler is a small part of its CPU, moves more than the machine's speed would. A run whose
simulated throughput hardly moves with the vCPUs' speed (its clients, its network or its
directives set the rate, not the CPU) tells the CPU little: its elasticity is shown, and a fit
where no run has any is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import least_squares, minimize_scalar

from mpmsim.calibration.by_simulation import with_params
from mpmsim.calibration.tool_runs import SUMMARIES, ToolRun, implied_think_s
from mpmsim.engine.replications import RunResult, run_prepared
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare

#: The factor's search: within this many e-folds of the first guess (a factor of ~20 each way).
_SEARCH_E = 3.0

#: A run whose throughput moves less than this with the vCPUs' speed (d log rate / d log speed:
#: 1 where the CPU alone sets the rate) is not set by the CPU: it tells the fit little.
WEAK_ELASTICITY = 0.3


@dataclass(frozen=True)
class ToolFit:
    """The fitted CPU factor, the cost model it gives, and each run's figures under it."""

    factor: float
    classes: dict[str, tuple[float, float]]  # class -> (base cpu_ms, fitted cpu_ms)
    base: CostModel
    costs: CostModel
    runs: list[dict[str, Any]]
    evaluations: int
    connection_factor: float | None = None
    """The factor on the per-connection CPU, where reports with and without keep-alive told
    it apart (None: kept at the base's)."""
    connection: dict[str, tuple[float, float]] = field(default_factory=dict)
    """accept_cpu_ms and close_cpu_ms: (base, fitted), where fitted."""
    own_cpu: tuple[str, ...] = ()
    """Mix classes that give their own cpu_ms in the scenario: not fitted, kept as written."""
    at_limit: bool = False
    """A factor ended at its search's limit (20 times the first guess either way)."""

    def as_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready data."""
        return {
            "kind": "load-tool outputs",
            "fitted": ["handler CPU", *(["per-connection CPU"] if self.connection else [])],
            "cpu_factor": round(self.factor, 5),
            "connection_cpu_factor": (
                None if self.connection_factor is None else round(self.connection_factor, 5)
            ),
            "connection": {
                k: {"base_ms": b, "ms": round(f, 6)} for k, (b, f) in self.connection.items()
            },
            "base": self.base.name,
            "classes": {
                k: {"base_cpu_ms": b, "cpu_ms": round(f, 6)} for k, (b, f) in self.classes.items()
            },
            "kept": "everything else, memory included (no CPU or memory readings in the outputs)",
            "own_cpu_not_fitted": list(self.own_cpu),
            "factor_at_search_limit": self.at_limit,
            "runs": self.runs,
            "evaluations": self.evaluations,
        }


def cpu_classes(runs: Sequence[ToolRun], base: CostModel) -> tuple[list[str], tuple[str, ...]]:
    """The mix classes of ``runs`` whose handler CPU comes from ``base`` (the ones fitted), and
    those whose cpu_ms the scenario gives itself (kept as written). :func:`base_costs` has
    resolved every mix against ``base``, so each class of the first kind is one of its own."""
    fitted: list[str] = []
    own: set[str] = set()
    for run in runs:
        for entry in run.scenario.get("mix", []):
            if entry.get("cpu_ms") is not None:
                own.add(entry["name"])
            elif entry["name"] not in fitted:
                fitted.append(entry["name"])
    if not fitted:
        raise InputError(
            "every mix class gives its own cpu_ms: calibrate fits the cost model's classes "
            "(leave cpu_ms out of the mix to take it from the cost model)",
            file=runs[0].source,
            field="mix",
        )
    zero = [c for c in fitted if base.classes[c].cpu_ms <= 0.0]
    if zero:
        raise InputError(f"class {zero[0]!r} has no CPU to scale in cost model {base.name!r}",
                         field="costs")  # fmt: skip
    return fitted, tuple(sorted(own))


def base_costs(runs: Sequence[ToolRun]) -> CostModel:
    """The cost model the runs' scenarios name (one for all: they describe one machine)."""
    first: CostModel | None = None
    for run in runs:
        prep = prepare(
            load_scenario_data(run.scenario, source=run.source),
            source=run.source,
            base_dir=run.base_dir,
        )
        if first is None:
            first = prep.costs
        elif prep.costs != first:
            raise InputError(
                f"names another cost model than the first scenario ({first.name!r}): one fit "
                "describes one machine",
                file=run.source,
                field="costs",
            )
    assert first is not None
    return first


def simulate(
    run: ToolRun, costs: CostModel, replications: int = 1, speed: float = 1.0
) -> RunResult:
    """``run``'s scenario with ``costs``, its vCPUs ``speed`` times as fast."""
    raw = dict(run.scenario)
    raw["costs"] = costs.model_dump(exclude={"justification", "uncertainty", "calibration"})
    raw["replications"] = replications
    scenario = load_scenario_data(raw, source=run.source)
    prep = prepare(scenario, source=run.source, base_dir=run.base_dir)
    if speed != 1.0:
        hw = prep.hardware
        prep = replace(prep, hardware=hw.model_copy(update={"cpu_speed": hw.cpu_speed * speed}))
    return run_prepared(prep, replications)


def scaled(base: CostModel, classes: Sequence[str], factor: float) -> CostModel:
    """``base`` with the handler CPU of ``classes`` multiplied by ``factor``."""
    return with_params(
        base, {f"classes.{c}.cpu_ms": base.classes[c].cpu_ms * factor for c in classes}
    )


#: The per-connection CPU a second factor moves, where reports with and without keep-alive
#: tell it apart from the handler's.
CONNECTION_CPU = ("accept_cpu_ms", "close_cpu_ms")


def scaled_connection(costs: CostModel, factor: float) -> CostModel:
    """``costs`` with the per-connection CPU (:data:`CONNECTION_CPU`) multiplied by ``factor``."""
    return with_params(costs, {k: getattr(costs, k) * factor for k in CONNECTION_CPU})


def tells_connections(runs: Sequence[ToolRun]) -> bool:
    """Whether ``runs`` hold reports with and without keep-alive: their rates weigh the
    per-connection CPU (accept, close) differently from the handler's, so both can be fitted."""
    kept = {bool(r.scenario["load"].get("keepalive")) for r in runs}
    return kept == {True, False}


def fit_cpu_factor(
    runs: Sequence[ToolRun],
    *,
    name: str = "calibrated",
    progress: Callable[[int, float], None] | None = None,
) -> ToolFit:
    """The factor on the classes' handler CPU (and, where reports with and without keep-alive
    tell it apart, a second one on the per-connection CPU) that reproduces the runs'
    throughputs."""
    base = base_costs(runs)
    classes, own = cpu_classes(runs, base)
    measured = np.array([float(r.result.req_per_s or 0.0) for r in runs])
    two = tells_connections(runs)
    calls = 0

    def costs_at(z: Sequence[float]) -> CostModel:
        costs = scaled(base, classes, math.exp(z[0]))
        return scaled_connection(costs, math.exp(z[1])) if two else costs

    def residuals(z: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        costs = costs_at([float(v) for v in z])
        sims = np.array([simulate(r, costs).mean("throughput_rps") for r in runs])
        res: np.ndarray = np.log(np.maximum(sims, 1e-9) / measured)
        if progress:
            progress(calls, float(np.sqrt(np.mean(res * res))))
        return res

    # First guess: a CPU-bound rate scales as 1 / CPU.
    z0 = float(np.mean(residuals(np.zeros(2))))  # too fast by that much: that much more CPU
    if two:
        start = np.array([z0, z0])
        sol = least_squares(
            residuals, start, bounds=(start - _SEARCH_E, start + _SEARCH_E), diff_step=0.05,
            max_nfev=40,
        )  # fmt: skip
        z = [float(v) for v in sol.x]
    else:
        one = minimize_scalar(
            lambda v: float(np.sum(residuals(np.array([v, 0.0])) ** 2)),
            bounds=(z0 - _SEARCH_E, z0 + _SEARCH_E), method="bounded", options={"xatol": 0.002},
        )  # fmt: skip
        z = [float(one.x), 0.0]
    costs = costs_at(z).model_copy(
        update={"name": name, "description": _description(base, classes, two)}
    )
    rows = _rows(runs, measured, costs)
    if all(abs(r["cpu_elasticity"]) < WEAK_ELASTICITY for r in rows):
        raise InputError(
            "no output's throughput depends on the CPU in its scenario (elasticity under "
            f"{WEAK_ELASTICITY:g}: the clients, the network or the directives set the rate), so "
            "none can calibrate it; measure with more clients, until the server's CPU is busy",
            file=", ".join(r.label for r in runs),
        )
    fitted = {c: (base.classes[c].cpu_ms, costs.classes[c].cpu_ms) for c in classes}
    conn = {k: (getattr(base, k), getattr(costs, k)) for k in CONNECTION_CPU} if two else {}
    factor_conn = math.exp(z[1]) if two else None
    limit = any(abs(v - z0) > _SEARCH_E - 0.01 for v in z[: 2 if two else 1])
    return ToolFit(math.exp(z[0]), fitted, base, costs, rows, calls, factor_conn, conn, own, limit)


def _rows(runs: Sequence[ToolRun], measured: np.ndarray, costs: CostModel) -> list[dict[str, Any]]:
    """Each run's figures under the fitted ``costs`` (three replications), and how its
    simulated rate moves with the vCPUs' speed (d log rate / d log speed, from replication 0:
    the fit's draw)."""
    step = 1.2
    rows = []
    for run, m in zip(runs, measured, strict=True):
        res = simulate(run, costs, replications=3)
        sim = res.mean("throughput_rps")
        sim_one = float(res.records[0]["throughput_rps"])
        sim_slow = simulate(run, costs, speed=1.0 / step).mean("throughput_rps")
        elasticity = -math.log(max(sim_slow, 1e-9) / max(sim_one, 1e-9)) / math.log(step)
        rows.append(_row(run, float(m), sim, res, elasticity))
    return rows


def _row(run: ToolRun, measured: float, sim: float, res: RunResult, el: float) -> dict[str, Any]:
    r = run.result
    return {
        "output": run.label,
        "scenario": run.source,
        "tool": r.tool,
        "clients": r.concurrency,
        "keepalive": bool(r.keepalive),
        "req_per_s_measured": measured,
        "req_per_s_simulated": round(sim, 1),
        "req_per_s_ci95": res.ci("throughput_rps"),
        "error_pct": round(100.0 * (sim / measured - 1.0), 2),
        "lat_p50_ms_measured": r.lat_p50_ms,
        "lat_p50_ms_simulated": round(res.mean("latency_p50_ms"), 3),
        "lat_p95_ms_measured": r.lat_p95_ms,
        "lat_p95_ms_simulated": round(res.mean("latency_p95_ms"), 3),
        "failed": r.failed,
        "cpu_elasticity": round(el, 3),
        "https": bool(r.url and r.url.startswith("https:")),
        **_think(run),
    }


def _think(run: ToolRun) -> dict[str, Any]:
    """A test plan's think time: the scenario's, and what the output implies (Little's law)."""
    if run.result.tool not in SUMMARIES:
        return {}
    implied, scenario = implied_think_s(run)
    return {
        "think_s_implied": None if implied is None else round(implied, 4),
        "think_s_scenario": scenario,
    }


def _description(base: CostModel, classes: Sequence[str], two: bool) -> str:
    conn = " and the per-connection CPU (accept, close) by another" if two else ""
    return (
        f"Fitted by mpmsim calibrate from load-tool outputs (throughput only) on their "
        f"scenarios, starting from {base.name!r}: the handler CPU of {', '.join(classes)} "
        f"scaled by one factor{conn}; everything else, memory included, is the base's."
    )
