"""One instance type in the report: a single instance at the whole load, and the fleet.

The single instance is a fleet of one. When it misses a goal, the fleet's count is searched
(:func:`mpmsim.sizing.fleet.smallest_count`) from a first guess: the instances the CPU needs,
at the CPU per request the single instance's simulations measured and the share of the CPU the
instance has for good (a T3's baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpmsim.models.hardware import HardwareSpec
from mpmsim.models.hardware.credits import is_burstable, usable_cpu_fraction
from mpmsim.sizing.fleet import (
    MAX_COUNT,
    Design,
    cpu_capacity_rps,
    first_guess,
    share_of,
    smallest_count,
)
from mpmsim.sizing.member import (
    CONFIG_KEYS,
    FIGURE_KEYS,
    Member,
    SearchOptions,
    evaluate_member,
    per_million,
)
from mpmsim.spec.scenario import Scenario


@dataclass(frozen=True)
class Sized:
    """An instance type sized: every member simulated (by count) and the fleet's count."""

    name: str
    hw: HardwareSpec
    members: dict[int, Member] = field(default_factory=dict)
    count: int | None = None
    """The smallest fleet that meets every goal (None: none up to ``max_count``)."""
    max_count: int = MAX_COUNT

    @property
    def single(self) -> Member:
        """One instance carrying the whole load."""
        return self.members[1]

    @property
    def member(self) -> Member | None:
        """One member of the fleet (None when no fleet met the goals)."""
        return None if self.count is None else self.members[self.count]


def size_instance(
    scenario: str | Path,
    sc: Scenario,
    name: str,
    hw: HardwareSpec,
    design: Design,
    opts: SearchOptions,
    hours: float,
    max_count: int = MAX_COUNT,
) -> Sized:
    """Size ``name``: the single instance, then the smallest fleet that meets every goal."""
    members: dict[int, Member] = {}

    def member(n: int) -> Member:
        if n not in members:
            members[n] = evaluate_member(scenario, name, hw, share_of(sc, design, n), opts, hours)
        return members[n]

    single = member(1)
    if single.goals_met:
        count: int | None = 1
    elif "note" in single.row:  # nothing fits in its RAM, whatever the share
        count = None
    else:
        guess = _guess(single, hw, design)
        count = smallest_count(lambda n: member(n).goals_met, guess, max_count=max_count)
    return Sized(name, hw, members, count, max_count)


def _guess(single: Member, hw: HardwareSpec, design: Design) -> int:
    """Instances the CPU needs: CPU per request from the busiest simulated point."""
    points = [
        p
        for p in single.optimized.get("points", [])
        if p["throughput_rps"] and p["cpu_utilization"]
    ]
    cpu_ms = None
    if points:
        top = max(points, key=lambda p: p["throughput_rps"])
        busy_ms = top["cpu_utilization"] * hw.vcpus * hw.mean_cpu_speed * 1000.0
        cpu_ms = busy_ms / top["throughput_rps"]
    capacity = cpu_capacity_rps(hw.vcpus, hw.mean_cpu_speed, cpu_ms, usable_cpu_fraction(hw))
    return first_guess(design.rps, capacity)


def instance_row(sized: Sized, hours: float) -> dict[str, Any]:
    """The report's row for one instance type: its hardware, the single instance, its fleet."""
    hw = sized.hw
    row: dict[str, Any] = {
        "instance": sized.name,
        "vcpus": hw.vcpus,
        "ram_mib": hw.ram_mib,
        "price_per_hour_usd": hw.price_per_hour_usd,
        "burstable": is_burstable(hw),
        "baseline_fraction": hw.burst.baseline_fraction if hw.burst is not None else 1.0,
    }
    single = dict(sized.single.row)
    for key in ("count", "load_factor", "share_sets"):
        single.pop(key, None)
    # "feasible" is the key of earlier versions: it now means the same as goals_met.
    row |= single | {"feasible": single["goals_met"], "fleet": fleet_dict(sized, hours)}
    return row


def fleet_dict(sized: Sized, hours: float) -> dict[str, Any]:
    """The fleet of one instance type: count, cost, one member's goals, block and run_args."""
    tried = [
        {"count": n, "goals_met": m.goals_met, "binding_goal": m.row["binding_goal"]}
        for n, m in sorted(sized.members.items())
    ]
    base: dict[str, Any] = {"instances": sized.name, "max_count": sized.max_count, "tried": tried}
    m = sized.member
    if m is None or sized.count is None:
        why = sized.single.row.get("note") or (
            f"no fleet of up to {sized.max_count} {sized.name} meets every goal"
        )
        return base | {"count": None, "goals_met": False, "monthly_usd": None,
                       "usd_per_million_requests": None, "n_plus_1": None, "note": why}  # fmt: skip
    n, r = sized.count, m.row
    price = float(r["price_per_month_usd"])
    served = float(r["sustained_throughput_rps"] or 0.0)
    if r["per_instance_rps"]:  # the fleet serves its load, not what its members could
        served = min(served, float(r["per_instance_rps"]))
    below = sized.members.get(n - 1)
    out = base | {
        "count": n,
        "per_instance_rps": r["per_instance_rps"],
        "monthly_usd": round(n * price, 2),
        "usd_per_million_requests": per_million(price / hours, served),
        "throughput_rps_total": round(n * served, 2),
        "goals_met": True,
        "goals": r["goals"],
        "binding_goal": None if below is None else below.row["binding_goal"],
        "load_factor": r["load_factor"],
        "share_sets": r["share_sets"],
    }
    out |= {k: r.get(k) for k in (*CONFIG_KEYS, *FIGURE_KEYS)}
    out |= {k: r.get(k) for k in ("ram_headroom_pct", "burst", "block", "run_args")}
    out |= {k: r[k] for k in ("setup", "fpm_block") if r.get(k)}  # PHP's set-up and pool
    out["n_plus_1"] = {"count": n + 1, "monthly_usd": round((n + 1) * price, 2)}
    return out
