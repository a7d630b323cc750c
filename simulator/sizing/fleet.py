"""Fleets: how many instances behind a load balancer carry the load, and each one's share.

The load balancer is assumed to split sessions evenly: with N instances each one sees 1/N of
the sessions of an open load (``sessions_per_s``, or every rate of a schedule) or 1/N of the
clients of a closed one (rounded up; its requests budget, which only sets how long a run lasts,
stays). ``--growth`` multiplies the load first; ``--target-rps`` replaces an
open load's offered rate (the sessions are scaled to carry it) and is, for a closed load, a
throughput the fleet must reach. The count is the smallest N whose member meets every goal at
its share: an analytic guess from the CPU a request costs, then simulations (galloping up from
the guess while it fails, bisecting down to the smallest that passes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from mpmsim.errors import InputError
from mpmsim.search.goals import nominal_offered_rps
from mpmsim.spec.scenario import ClosedLoad, OpenLoad, Scenario, TraceLoad

MAX_COUNT = 64
"""The largest fleet the report sizes; a load that needs more is reported as not carried."""

TARGET_UTILIZATION = 0.85
"""The CPU share the first guess plans for: a queue's waits (and so its p95) climb steeply as
utilisation nears 1, so planning for 100 % would start below the answer. Only a guess: the
simulations decide."""


@dataclass(frozen=True)
class Design:
    """The load the fleet must carry: the scenario's (or ``--target-rps``) times ``growth``."""

    growth: float
    target_rps: float | None
    offered_rps: float | None
    """The scenario's nominal offered rate (open loads), before growth."""

    @property
    def rps(self) -> float | None:
        """Requests per second the whole fleet must carry (None: a closed load, no target)."""
        base = self.target_rps if self.target_rps is not None else self.offered_rps
        return None if base is None else base * self.growth


@dataclass(frozen=True)
class Share:
    """One member's share of the load in a fleet of ``count``."""

    count: int
    factor: float
    """The fraction of the scenario's load one member gets (growth and target included)."""
    sets: tuple[str, ...]
    """``--set`` assignments that give the scenario this share ("" for the whole load)."""
    rps: float | None
    """Requests per second one member must carry (None: a closed load without a target)."""
    target_rps: float | None
    """A throughput goal for the optimizer (closed loads with ``--target-rps``), else None."""


def design_for(scenario: Scenario, growth: float, target_rps: float | None) -> Design:
    """The fleet's design load; bad ``growth`` or ``target_rps`` are input errors."""
    if not math.isfinite(growth) or growth < 1.0:
        raise InputError(
            f"must be >= 1 (1.5 plans for 50 % growth), got {growth}", field="--growth"
        )
    if target_rps is not None and not (math.isfinite(target_rps) and target_rps > 0):
        raise InputError(f"must be > 0, got {target_rps}", field="--target-rps")
    return Design(growth, target_rps, nominal_offered_rps(scenario))


def share_of(scenario: Scenario, design: Design, count: int) -> Share:
    """What one of ``count`` members carries, and the ``--set`` assignments that make it so."""
    load = scenario.load
    if isinstance(load, OpenLoad) and design.target_rps is not None and design.offered_rps:
        factor = design.target_rps * design.growth / (count * design.offered_rps)
    else:
        factor = design.growth / count
    rps = None if design.rps is None else design.rps / count
    target = rps if isinstance(load, ClosedLoad) and design.target_rps is not None else None
    return Share(count, factor, scaled_load_sets(scenario, factor), rps, target)


def scaled_load_sets(scenario: Scenario, factor: float) -> tuple[str, ...]:
    """``--set`` assignments that scale the scenario's load by ``factor`` (none for 1)."""
    if factor == 1.0:
        return ()
    load = scenario.load
    if isinstance(load, OpenLoad):
        rate = load.sessions_per_s
        if isinstance(rate, list):
            schedule = [[t, float(f"{r * factor:.6g}")] for t, r in rate]
            return (f"load.sessions_per_s={json.dumps(schedule)}",)
        return (f"load.sessions_per_s={rate * factor:.6g}",)
    if isinstance(load, TraceLoad):  # a replayed log's connections, 1/N of them as often
        return (f"load.speedup={load.speedup * factor:.6g}",)
    # The requests budget (ab -n) stays: it sets how long a member's run lasts, and a member's
    # 1/N of it could end before the warm-up does.
    return (f"load.clients={max(1, math.ceil(load.clients * factor - 1e-9))}",)


def lb_assumption(scenario: Scenario) -> str:
    """The load-balancer assumption in one sentence."""
    if isinstance(scenario.load, ClosedLoad):
        what = "the clients (load.clients)"
    else:
        what = "the sessions (load.sessions_per_s; a session stays on its instance)"
    return (
        f"A load balancer splits {what} evenly over the fleet's instances; each instance is "
        "simulated alone with its share, and the fleet's figures are N times one member's."
    )


def first_guess(design_rps: float | None, capacity_rps: float | None) -> int:
    """Instances the CPU alone needs at :data:`TARGET_UTILIZATION` (2 when it cannot tell)."""
    if not design_rps or not capacity_rps or capacity_rps <= 0:
        return 2
    return max(1, math.ceil(design_rps / (capacity_rps * TARGET_UTILIZATION)))


def cpu_capacity_rps(
    vcpus: int, cpu_speed: float, cpu_ms_per_request: float | None, usable: float = 1.0
) -> float | None:
    """Requests per second the CPU serves flat out: vCPUs x speed / CPU per request.

    ``usable`` is the share of the CPU available for good (a burstable instance's baseline).
    """
    if not cpu_ms_per_request or cpu_ms_per_request <= 0:
        return None
    return vcpus * cpu_speed * 1000.0 * usable / cpu_ms_per_request


def smallest_count(
    passes: Callable[[int], bool], guess: int, *, known_fail: int = 1, max_count: int = MAX_COUNT
) -> int | None:
    """The smallest count above ``known_fail`` (and at most ``max_count``) that ``passes``.

    Assumes more instances never hurt (each one carries less). From ``guess`` it gallops (steps
    of 1, 2, 4, ...) up while it fails or down while it passes, then bisects between the last
    failure and the first pass; a good guess costs two calls. None when ``max_count`` fails too.
    ``passes`` is called once per count at most.
    """
    lo = known_fail
    if lo >= max_count:
        return None
    n = min(max(guess, lo + 1), max_count)
    step = 1
    if passes(n):
        hi = n
        while hi - step > lo:
            if not passes(hi - step):
                lo = hi - step
                break
            hi -= step
            step *= 2
    else:
        lo = n
        while True:
            if n >= max_count:
                return None
            n = min(max_count, n + step)
            if passes(n):
                break
            lo, step = n, step * 2
        hi = n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi
