"""When no configuration meets the goals: the closest one, and concrete ways to meet them.

Every figure comes from the model itself: the CPU per request the closest configuration
measured, the hardware's vCPUs and burst baseline, Little's law on the load for workers, the
cost model for memory, and the best p95 and error rate any simulated point reached.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from mpmsim.search.goals import Goals, total_shortfall
from mpmsim.search.space import Bounds, Candidate, full_memory_mib, step_for, useful_workers
from mpmsim.spec.resolve import Prepared

BUSY_CEILING = 0.8
"""CPU share a sized machine may use: above it the run queue (and p95) grows fast (M/M/c)."""


class Points(Protocol):
    """What advice needs of a finished search."""

    evals: dict[Candidate, dict[str, Any]]
    goals: Goals

    def checks(self, e: dict[str, Any]) -> dict[str, dict[str, Any]]: ...


def closest(search: Points, mpm: str | None = None) -> Candidate | None:
    """The simulated configuration (of ``mpm``, if given) with the smallest total relative
    shortfall (then the least memory); None when none was simulated."""
    among = [c for c in search.evals if mpm is None or c.mpm == mpm]
    if not among:
        return None

    def key(c: Candidate) -> tuple[float, float, int, Candidate]:
        e = search.evals[c]
        memory = float(e["memory_peak_mib"] or 0.0)
        return (total_shortfall(search.checks(e)), memory, c.max_request_workers, c)

    return min(among, key=key)


def advice(search: Points, prep: Prepared, bounds: Bounds, c: Candidate) -> list[str]:
    """Concrete ways to meet the goals ``c`` (the closest configuration) misses."""
    e = search.evals[c]
    checks = search.checks(e)
    out: list[str] = []
    if "throughput_rps" in checks and not checks["throughput_rps"]["met"]:
        target = float(checks["throughput_rps"]["target"])
        cpu = _cpu_advice(prep, bounds, e, target)
        mem = _memory_advice(prep, bounds, search.goals, c, target)
        out += cpu or mem or [_other(e, target)]
    if "p95_ms" in checks and not checks["p95_ms"]["met"]:
        out.append(_p95_advice(search, bounds))
    if not checks["error_rate"]["met"]:
        out.append(_error_advice(search))
    if not checks["memory_mib"]["met"]:
        out.append(_ram_advice(search, prep))
    return out


def _cpu_ms(prep: Prepared, bounds: Bounds, e: dict[str, Any]) -> float:
    """CPU per request on this machine's vCPUs, ms: measured (switches included), else analytic."""
    hw = prep.hardware
    measured = e.get("cpu_ms_per_request")
    if measured:
        return float(measured) / hw.cpu_speed
    return hw.vcpus * 1000.0 / max(bounds.cpu_rps, 1e-9)


def _cpu_advice(prep: Prepared, bounds: Bounds, e: dict[str, Any], target: float) -> list[str]:
    """vCPUs the target needs, when the CPU (or its burst baseline) is what falls short."""
    hw = prep.hardware
    per_ms = _cpu_ms(prep, bounds, e)
    need = target * per_ms / 1000.0
    throttled = float(e.get("throttled_fraction") or 0.0)
    base = hw.burst.baseline_fraction if hw.burst is not None else 1.0
    usable = hw.vcpus * (base if throttled > 0.05 else 1.0)
    cpu_bound = e["bottleneck"] == "cpu" or need > BUSY_CEILING * usable
    if not cpu_bound:
        return []
    machines = math.ceil(need / (BUSY_CEILING * hw.vcpus))
    out = [
        f"CPU: {target:g} req/s need about {need:.1f} vCPUs busy at this CPU per request "
        f"({per_ms:.1f} ms on {hw.name}'s vCPUs); {hw.name} has {hw.vcpus}: a machine with "
        f"at least {math.ceil(need / BUSY_CEILING)} vCPUs, or {machines} instances of "
        f"{hw.name} behind a balancer (each at most {BUSY_CEILING:.0%} busy)"
    ]
    if hw.burst is not None and hw.burst.mode == "standard" and base < 1.0:
        sustained = hw.vcpus * base
        out.append(
            f"burst: once its CPU credits run out, {hw.name} is held at its {base:.0%} baseline "
            f"({sustained:.1f} vCPUs): about {math.ceil(need / (BUSY_CEILING * sustained))} "
            "instances for a sustained load, or unlimited mode, or a non-burstable type"
        )
    return out


def _memory_advice(
    prep: Prepared, bounds: Bounds, goals: Goals, c: Candidate, target: float
) -> list[str]:
    """Memory the workers the load needs take, when that does not fit the budget."""
    workers = useful_workers(prep, c.mpm, bounds)
    step = step_for(c.mpm, c.threads_per_child)
    mrw = max(step, math.ceil(workers / step) * step)
    need = full_memory_mib(prep, Candidate(c.mpm, mrw, c.threads_per_child))
    budget = bounds.memory_budget_mib
    if need <= budget:
        return []
    ram = need / (1.0 - goals.headroom) + prep.hardware.os_reserved_mib
    return [
        f"memory: {target:g} req/s keep about {workers:.0f} workers busy or pinned (Little's "
        f"law on this load), about {need:.0f} MiB with all {mrw} alive and busy; the budget is "
        f"{budget:.0f} MiB: a machine with about {ram:.0f} MiB of RAM, or "
        f"{math.ceil(need / budget)} instances, or lighter children (calibrate the cost model)"
    ]


def _other(e: dict[str, Any], target: float) -> str:
    """Neither CPU nor memory explains the shortfall: name the bottleneck and what to try."""
    return (
        f"throughput: the closest configuration carried {e['throughput_rps']:g} of {target:g} "
        f"req/s (bottleneck: {e['bottleneck']}): try --mpm all, --keepalive and --spares"
    )


def _p95_advice(search: Points, bounds: Bounds) -> str:
    """The best p95 any configuration that fits in memory reached."""
    fits = [c for c, e in search.evals.items() if search.checks(e)["memory_mib"]["met"]]
    timed = [c for c in fits or search.evals if search.evals[c]["p95_ms"] is not None]
    goal = search.goals.p95_ms
    alone = bounds.hold_s * 1000.0
    if not timed:
        return f"p95: no configuration completed a request; a request alone takes {alone:.0f} ms"
    best = min(timed, key=lambda c: (search.evals[c]["p95_ms"], c))
    return (
        f"p95: the best reached is {search.evals[best]['p95_ms']:.0f} ms ({best.label()}) "
        f"against {goal:g} ms (a request alone holds its worker about {alone:.0f} ms here): "
        "loosen --p95-ms or add capacity"
    )


def _error_advice(search: Points) -> str:
    """The lowest error rate any configuration reached."""
    best = min(search.evals, key=lambda c: (search.evals[c]["error_rate"], c))
    rate = search.evals[best]["error_rate"]
    return (
        f"errors: the lowest error rate reached is {rate:.2%} ({best.label()}) against "
        f"{search.goals.max_error_rate:.2%}: clients time out or are refused while the server "
        "is behind; add capacity or loosen --max-error-rate"
    )


def _ram_advice(search: Points, prep: Prepared) -> str:
    """The least memory any configuration needed, when even that exceeds the budget."""
    least = min(search.evals, key=lambda c: (search.evals[c]["memory_peak_mib"] or 0.0, c))
    peak = float(search.evals[least]["memory_peak_mib"] or 0.0)
    g = search.goals
    ram = peak / (1.0 - g.headroom) + prep.hardware.os_reserved_mib
    return (
        f"memory: even the least any configuration needed is {peak:.0f} MiB ({least.label()}), "
        f"against a budget of {g.memory_budget_mib:.0f} MiB: about {ram:.0f} MiB of RAM, or "
        "lighter children or requests (calibrate the cost model)"
    )
