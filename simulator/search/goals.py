"""What a configuration must meet, and whether a simulated one meets it: the one definition.

:class:`Goals` states the targets (memory budget, throughput, p95, error rate);
:class:`Achieved` holds what a simulation measured (from an optimize candidate's summary or a
``mpmsim run --json`` result); :func:`assess` compares them goal by goal::

    goals = goals_for(prep, p95_ms=500, headroom=0.1)
    checks = assess(goals, Achieved.from_run(run_result.to_dict()))
    all_met(checks), binding_goal(checks), checks["throughput_rps"]["shortfall"]

Each check is ``{"target", "achieved", "met", "shortfall", "unit"}`` (shortfall >= 0, in the
goal's unit, 0 when met; None when nothing was measured). ``mpmsim optimize`` and
``mpmsim report`` both judge through this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mpmsim.spec.resolve import Prepared
from mpmsim.spec.scenario import OpenLoad, Scenario
from mpmsim.workloads.distributions import mean_of

#: The share of the RAM left to Apache that sizing keeps free by default (``--headroom``): the
#: page cache, a burst, a child grown past the model's figure.
DEFAULT_HEADROOM = 0.1

CARRY_TOLERANCE = 0.03
"""An open load is carried when throughput >= (1 - 3 %) x the rate its run offered.

The run's ``offered_rps`` is what its sessions sent into the window if answered at once
(session arrivals are Poisson, so it differs from the nominal rate by several %). A server that
keeps up measures about 1 % below it (responses take time, pushing requests past the window's
end) with about 1 % of noise per replication: 0.983-1.012 of it on dynamic-site (4 and 10
sessions/s) and 0.964-1.008 on keepalive-idle-browsers (30 and 60), 8 seeds each on a
c6i.xlarge. optimize judges the mean of at least 3 replications (noise about 0.6 %), so 3 %
passes a server that keeps up and fails one that falls behind (a growing queue).
"""

TARGET_TOLERANCE = 0.01
"""A caller's ``target_rps`` is met when throughput >= (1 - 1 %) x target (closed loads have no
arrival noise; 1 % is the optimizer's default tolerance between candidates)."""

SHORT_NAMES = {
    "memory_mib": "ram",
    "p95_ms": "p95",
    "error_rate": "error_rate",
    "throughput_rps": "throughput",
}
"""Goal -> the name ``violates`` and ``binding`` use, in the order a miss is reported."""


@dataclass(frozen=True)
class Goals:
    """What a configuration must meet: memory budget, p95 and error-rate goals, throughput."""

    memory_budget_mib: float
    p95_ms: float | None
    max_error_rate: float
    headroom: float
    offered_rps: float | None = None
    """An open load's nominal offered rate: throughput above it (a backlog draining) earns
    nothing, and throughput must carry it."""
    target_rps: float | None = None
    """A throughput the caller asks for (a fleet's per-instance share); wins over offered_rps."""

    @property
    def throughput_target(self) -> float | None:
        """The throughput a configuration must carry (None: no throughput goal)."""
        return self.target_rps if self.target_rps is not None else self.offered_rps


@dataclass(frozen=True)
class Achieved:
    """What one simulated configuration achieved (means over its replications)."""

    throughput_rps: float
    p95_ms: float | None
    error_rate: float
    memory_peak_mib: float | None
    ram_exceeded: bool = False
    offered_rps: float | None = None
    """Requests of the sessions that arrived in the measured window, per second (open loads)."""

    @classmethod
    def from_summary(cls, e: Mapping[str, Any]) -> Achieved:
        """From an optimize candidate's summary (``summarize_candidate``'s figures)."""
        return cls(
            throughput_rps=float(e["throughput_rps"] or 0.0),
            p95_ms=e["p95_ms"],
            error_rate=float(e["error_rate"]),
            memory_peak_mib=e["memory_peak_mib"],
            ram_exceeded=bool(e["ram_exceeded"]),
            offered_rps=e.get("offered_rps"),
        )

    @classmethod
    def from_run(cls, d: Mapping[str, Any]) -> Achieved:
        """From the JSON of ``mpmsim run --json`` (``RunResult.to_dict()``)."""
        failed = sum(float(v or 0.0) for v in d["errors"].values())
        done = float(d["completed"] or 0.0)
        return cls(
            throughput_rps=float(d["throughput_rps"] or 0.0),
            p95_ms=d["latency_ms"]["p95"],
            error_rate=failed / max(failed + done, 1.0),
            memory_peak_mib=d["memory_mib"]["peak"],
            ram_exceeded=bool(d["ram_exceeded"]),
            offered_rps=d.get("offered_rps"),
        )


def nominal_offered_rps(scenario: Scenario) -> float | None:
    """An open load's offered rate: sessions per second (a schedule's peak) x requests each."""
    load = scenario.load
    if not isinstance(load, OpenLoad):
        return None
    rate = load.sessions_per_s
    sessions = rate if isinstance(rate, int | float) else max(r for _, r in rate)
    return float(sessions) * mean_of(load.requests_per_session)


def memory_budget_mib(prep: Prepared, headroom: float) -> float:
    """RAM Apache may use: (RAM - os_reserved) less ``headroom``."""
    hw = prep.hardware
    return (hw.ram_mib - hw.os_reserved_mib) * (1.0 - headroom)


def goals_for(
    prep: Prepared,
    *,
    p95_ms: float | None = None,
    max_error_rate: float = 0.01,
    headroom: float = DEFAULT_HEADROOM,
    target_rps: float | None = None,
) -> Goals:
    """The goals of a prepared scenario on its machine (memory budget, offered rate filled in)."""
    return Goals(
        memory_budget_mib(prep, headroom),
        p95_ms,
        max_error_rate,
        headroom,
        nominal_offered_rps(prep.scenario),
        target_rps,
    )


def _check(
    target: float, achieved: float | None, met: bool, short: float | None, unit: str
) -> dict[str, Any]:
    """One goal's check; the shortfall is 0 when met and never negative."""
    r = None if achieved is None else round(achieved, 4)
    gap = None if short is None else round(max(short, 0.0) if not met else 0.0, 4)
    return {"target": round(target, 4), "achieved": r, "met": met, "shortfall": gap, "unit": unit}


def _throughput(goals: Goals, a: Achieved, target: float) -> dict[str, Any]:
    """The throughput goal: carry the load actually offered (open loads), or reach the target."""
    realised = a.offered_rps
    if goals.offered_rps and realised is not None:
        # Poisson sessions: judge against what this run generated, scaled to a caller's target.
        need = (1.0 - CARRY_TOLERANCE) * realised * target / goals.offered_rps
        out = _check(
            target,
            a.throughput_rps,
            a.throughput_rps >= need,
            realised * target / goals.offered_rps - a.throughput_rps,
            "req/s",
        )
        return out | {"offered_realised": round(realised, 4), "required": round(need, 4)}
    need = (1.0 - (CARRY_TOLERANCE if goals.offered_rps else TARGET_TOLERANCE)) * target
    out = _check(
        target, a.throughput_rps, a.throughput_rps >= need, target - a.throughput_rps, "req/s"
    )
    return out | {"required": round(need, 4)}


def assess(goals: Goals, a: Achieved) -> dict[str, dict[str, Any]]:
    """Each goal that applies, checked: throughput_rps, p95_ms, error_rate, memory_mib."""
    out: dict[str, dict[str, Any]] = {}
    target = goals.throughput_target
    if target is not None and target > 0:
        out["throughput_rps"] = _throughput(goals, a, target)
    if goals.p95_ms is not None:
        p95 = a.p95_ms
        ok = p95 is not None and p95 <= goals.p95_ms
        out["p95_ms"] = _check(
            goals.p95_ms, p95, ok, None if p95 is None else p95 - goals.p95_ms, "ms"
        )
    out["error_rate"] = _check(
        goals.max_error_rate,
        a.error_rate,
        a.error_rate <= goals.max_error_rate,
        a.error_rate - goals.max_error_rate,
        "fraction",
    )
    peak = a.memory_peak_mib or 0.0
    fits = not a.ram_exceeded and peak <= goals.memory_budget_mib
    out["memory_mib"] = _check(
        goals.memory_budget_mib, peak, fits, peak - goals.memory_budget_mib, "MiB"
    )
    return out


def all_met(checks: Mapping[str, Mapping[str, Any]]) -> bool:
    """True when every checked goal is met."""
    return all(c["met"] for c in checks.values())


def first_missed(checks: Mapping[str, Mapping[str, Any]]) -> str:
    """The first missed goal by its short name (ram, p95, error_rate, throughput) or ``none``."""
    for name, short in SHORT_NAMES.items():
        if name in checks and not checks[name]["met"]:
            return short
    return "none"


def relative_shortfall(check: Mapping[str, Any]) -> float:
    """How far one goal is missed, as a fraction of its target (0 met; inf: nothing measured).

    A throughput shortfall is relative to the rate the run offered (what it is measured
    against); an error-rate goal of 0 counts in whole error rates (the target is no scale).
    """
    if check["met"]:
        return 0.0
    if check["shortfall"] is None:
        return math.inf
    scale = abs(float(check.get("offered_realised", check["target"]))) or 1.0
    return float(check["shortfall"]) / scale


def total_shortfall(checks: Mapping[str, Mapping[str, Any]]) -> float:
    """The sum of the relative shortfalls: how far a configuration is from meeting every goal."""
    return sum(relative_shortfall(c) for c in checks.values())


def binding_goal(checks: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The missed goal with the largest relative shortfall (its full name), None if all met."""
    missed = [(relative_shortfall(c), n) for n, c in checks.items() if not c["met"]]
    return max(missed)[1] if missed else None


__all__ = [
    "CARRY_TOLERANCE",
    "SHORT_NAMES",
    "TARGET_TOLERANCE",
    "Achieved",
    "Goals",
    "all_met",
    "assess",
    "binding_goal",
    "first_missed",
    "goals_for",
    "memory_budget_mib",
    "nominal_offered_rps",
    "relative_shortfall",
    "total_shortfall",
]
