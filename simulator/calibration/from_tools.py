"""Calibrate from load-tool outputs (ab, wrk) and the scenario each ran: the CPU from throughput.

DESIGN section 6: ``calibrate`` also reads the raw text of ab and wrk, given the scenario they ran.
Such a text is the client's view only: throughput, latencies, errors. It holds no CPU reading
and no memory reading, so the regressions of :mod:`mpmsim.calibration.fit` (Apache's CPU per
request on what the simulator charges it, PSS on processes and threads) have nothing to work
on. What the throughput does tell, where the server's CPU sets it, is how much CPU a request
costs on that machine: the one figure fitted here, by simulation.

Each output's scenario (its hardware, MPM, directives, mix and cost model) is simulated with
the output's load in place of its own (ab: ``-c`` clients, ``-k``, its completed requests; wrk:
its connections, keep-alive, its duration), from a cold start as a benchmark on a freshly
started server runs. The handler CPU of every mix class that takes it from the cost model is
multiplied by one factor, the same for all (a machine's speed; the classes' ratios are the
base model's), chosen so the simulated throughputs match the measured ones (least squares of
the log ratios; every evaluation uses the scenarios' seeds, so the objective does not move
with the draws). Everything else keeps the base model's values, memory included.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scipy.optimize import minimize_scalar

from mpmsim.calibration.by_simulation import with_params
from mpmsim.engine.replications import RunResult, run_prepared
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel
from mpmsim.spec.reading import load_scenario, load_scenario_data
from mpmsim.spec.resolve import prepare
from mpmsim.workloads.readers import ToolResult, read_ab_text, read_wrk_text

#: Load-tool outputs whose text says the closed loop they ran (clients, keep-alive, extent).
READERS: dict[str, Callable[[Path], ToolResult]] = {"ab": read_ab_text, "wrk": read_wrk_text}

#: Why the other kinds of file ``sniff`` knows cannot be simulated from their text alone.
REFUSED: dict[str, str] = {
    "h2load": "h2load's summary does not say whether it spoke HTTP/1.1 (--h1) or paced its "
    "clients (--rps); give it as a measurement CSV row with tool_cmd",
    "jmeter": "a JMeter JTL does not say its threads' think time or ramp-up; give the run as a "
    "measurement CSV row",
    "locust_stats": "Locust's statistics do not say its users' count or wait time; give the run "
    "as a measurement CSV row",
    "locust_history": "Locust's history does not say its users' wait time; give the run as a "
    "measurement CSV row",
    "k6": "a k6 summary does not say its virtual users' sleep between iterations; give the run "
    "as a measurement CSV row",
    "ab_percentiles": "ab's -e file holds latencies only; give ab's text report",
    "ab_gnuplot": "ab's -g file holds per-request times only; give ab's text report",
    "mod_status": "a mod_status page is a reading of the server, not a load; give the load "
    "tool's output",
}

#: The clients' timeouts the texts do not print: ab -s (30 s) and wrk --timeout (2 s) defaults.
_TIMEOUT_S = {"ab": 30.0, "wrk": 2.0}

#: The load keys of the scenario that describe the network and the start, kept as written.
_NETWORK_KEYS = ("network_rtt_ms", "client_bandwidth_kbps", "syn_retries", "start_s")

#: The factor's search: within this many e-folds of the first guess (a factor of ~20 each way).
_SEARCH_E = 3.0

#: A run whose throughput moves less than this with the vCPUs' speed (d log rate / d log speed:
#: 1 where the CPU alone sets the rate) is not set by the CPU: it tells the fit little.
WEAK_ELASTICITY = 0.3


@dataclass(frozen=True)
class ToolRun:
    """One load-tool output and the scenario it ran, its load replaced by the tool's."""

    label: str
    result: ToolResult
    scenario: dict[str, Any]
    source: str
    base_dir: Path | None


@dataclass(frozen=True)
class ToolFit:
    """The fitted CPU factor, the cost model it gives, and each run's figures under it."""

    factor: float
    classes: dict[str, tuple[float, float]]  # class -> (base cpu_ms, fitted cpu_ms)
    base: CostModel
    costs: CostModel
    runs: list[dict[str, Any]]
    evaluations: int

    def as_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready data."""
        return {
            "kind": "load-tool outputs",
            "fitted": "cpu factor",
            "cpu_factor": round(self.factor, 5),
            "base": self.base.name,
            "classes": {
                k: {"base_cpu_ms": b, "cpu_ms": round(f, 6)} for k, (b, f) in self.classes.items()
            },
            "kept": "everything else, memory included (no CPU or memory readings in the outputs)",
            "runs": self.runs,
            "evaluations": self.evaluations,
        }


def tool_run(path: Path, kind: str, scenario_path: Path) -> ToolRun:
    """Read ``path`` (a ``kind`` output) and the scenario it ran."""
    if kind not in READERS:
        reason = REFUSED.get(kind, f"{kind} output cannot be simulated")
        raise InputError(f"is {kind} output: {reason}", file=str(path))
    result = READERS[kind](path)
    scenario = load_scenario(scenario_path)
    raw = scenario.model_dump(mode="json", exclude_unset=True)
    raw["load"] = tool_load(result, raw.get("load", {}), str(path))
    raw["warmup_s"] = 0.0  # the tool's figures cover its whole run
    raw.pop("duration_s", None)  # the tool's own extent ends the run
    return ToolRun(
        label=path.name,
        result=result,
        scenario=raw,
        source=str(scenario_path),
        base_dir=scenario_path.resolve().parent,
    )


def tool_load(result: ToolResult, load: dict[str, Any], source: str) -> dict[str, Any]:
    """The closed loop ``result``'s tool ran, with the network of the scenario's ``load``."""
    if not result.concurrency:
        raise InputError("the output does not say how many clients ran", file=source)
    out: dict[str, Any] = {
        "kind": "closed",
        "clients": int(result.concurrency),
        "keepalive": bool(result.keepalive),
        "timeout_s": _TIMEOUT_S[result.tool],
        **{k: load[k] for k in _NETWORK_KEYS if k in load},
    }
    if result.tool == "ab":
        done = (result.requests_completed or 0) + (result.failed or 0)
        if done < 1:
            raise InputError("ab completed no request", file=source)
        out["requests"] = done
    else:
        if not result.duration_s:
            raise InputError("the output does not say how long it ran", file=source)
        out["duration_s"] = float(result.duration_s)
    if not result.req_per_s:
        raise InputError("the output has no requests per second", file=source)
    return out


def cpu_classes(runs: Sequence[ToolRun], base: CostModel) -> list[str]:
    """The mix classes of ``runs`` whose handler CPU comes from ``base`` (the ones fitted)."""
    names: list[str] = []
    for run in runs:
        for i, entry in enumerate(run.scenario.get("mix", [])):
            name = entry.get("name")
            if entry.get("cpu_ms") is None and name in base.classes and name not in names:
                names.append(name)
            elif entry.get("cpu_ms") is None and name not in base.classes:
                raise InputError(
                    f"class {name!r} is not in cost model {base.name!r}", file=run.source,
                    field=f"mix[{i}].name",
                )  # fmt: skip
    if not names:
        raise InputError(
            "every mix class gives its own cpu_ms: calibrate fits the cost model's classes "
            "(leave cpu_ms out of the mix to take it from the cost model)",
            file=runs[0].source,
            field="mix",
        )
    return names


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


def fit_cpu_factor(
    runs: Sequence[ToolRun],
    *,
    name: str = "calibrated",
    progress: Callable[[int, float], None] | None = None,
) -> ToolFit:
    """The factor on the classes' handler CPU that reproduces the runs' throughputs."""
    base = base_costs(runs)
    classes = cpu_classes(runs, base)
    if any(base.classes[c].cpu_ms <= 0.0 for c in classes):
        zero = next(c for c in classes if base.classes[c].cpu_ms <= 0.0)
        raise InputError(f"class {zero!r} has no CPU to scale in cost model {base.name!r}",
                         field="costs")  # fmt: skip
    measured = [float(r.result.req_per_s or 0.0) for r in runs]
    calls = 0

    def rates(factor: float) -> list[float]:
        costs = scaled(base, classes, factor)
        return [simulate(r, costs).mean("throughput_rps") for r in runs]

    def objective(z: float) -> float:
        nonlocal calls
        calls += 1
        sims = rates(math.exp(z))
        err = sum(math.log(max(s, 1e-9) / m) ** 2 for s, m in zip(sims, measured, strict=True))
        rms = math.sqrt(err / len(runs))
        if progress:
            progress(calls, rms)
        return err

    # First guess: a CPU-bound rate scales as 1 / CPU.
    at_base = rates(1.0)
    calls += 1
    z0 = -sum(math.log(max(s, 1e-9) / m) for s, m in zip(at_base, measured, strict=True)) / len(
        runs
    )
    sol = minimize_scalar(
        objective, bounds=(z0 - _SEARCH_E, z0 + _SEARCH_E), method="bounded",
        options={"xatol": 0.002},
    )  # fmt: skip
    factor = math.exp(float(sol.x))
    costs = scaled(base, classes, factor)
    costs = costs.model_copy(update={"name": name, "description": _description(base, classes)})
    step = 1.2
    rows = []
    for run, m in zip(runs, measured, strict=True):
        res = simulate(run, costs, replications=3)
        sim = res.mean("throughput_rps")
        sim_one = float(res.records[0]["throughput_rps"])  # replication 0: the fit's draw
        sim_slow = simulate(run, costs, speed=1.0 / step).mean("throughput_rps")
        elasticity = -math.log(max(sim_slow, 1e-9) / max(sim_one, 1e-9)) / math.log(step)
        rows.append(_row(run, m, sim, res, elasticity))
    if all(abs(r["cpu_elasticity"]) < WEAK_ELASTICITY for r in rows):
        raise InputError(
            "no output's throughput depends on the CPU in its scenario (elasticity under "
            f"{WEAK_ELASTICITY:g}: the clients, the network or the directives set the rate), so "
            "none can calibrate it; measure with more clients, until the server's CPU is busy",
            file=", ".join(r.label for r in runs),
        )
    fitted = {c: (base.classes[c].cpu_ms, costs.classes[c].cpu_ms) for c in classes}
    return ToolFit(factor, fitted, base, costs, rows, calls)


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
    }


def _description(base: CostModel, classes: Sequence[str]) -> str:
    return (
        f"Fitted by mpmsim calibrate from load-tool outputs (throughput only) on their "
        f"scenarios, starting from {base.name!r}: the handler CPU of {', '.join(classes)} "
        "scaled by one factor; everything else, memory included, is the base's."
    )
