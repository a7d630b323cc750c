"""One instance carrying its share of the load: the optimizer at that share, judged for good.

A member is one instance of a fleet (a single instance is a fleet of one). The optimizer finds
its best Apache configuration at the share; the member then meets the goals when that
configuration does and, on a burstable instance in standard mode above its baseline, when the
same configuration still meets them with an empty credit balance (simulated again): a buyer
runs the load for months, not for the hours a full balance lasts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpmsim.engine.replications import run
from mpmsim.models.hardware import HardwareSpec
from mpmsim.models.hardware.credits import credit_outlook, empty_balance_set, is_burstable
from mpmsim.search.check_command import block_sets
from mpmsim.search.goals import (
    DEFAULT_HEADROOM,
    Achieved,
    all_met,
    assess,
    binding_goal,
    goals_for,
)
from mpmsim.search.optimizer import optimize
from mpmsim.sizing.fleet import Share
from mpmsim.sizing.format import ms, rps

CONFIG_KEYS = ("mpm", "ThreadsPerChild", "ServerLimit", "MaxRequestWorkers", "spares", "keepalive")
FIGURE_KEYS = ("throughput_rps", "throughput_rps_ci95", "p95_ms", "p95_ms_ci95", "error_rate",
               "memory_peak_mib", "cpu_utilization")  # fmt: skip


@dataclass(frozen=True)
class SearchOptions:
    """How the optimizer searches each member (the options ``mpmsim optimize`` takes)."""

    mpm: str | None = "all"
    p95_ms: float | None = None
    max_error_rate: float = 0.01
    headroom: float = DEFAULT_HEADROOM
    replications: int | None = None
    jobs: int = 1
    scheduler: str | None = None
    cache_dir: str | Path | None = None
    resume: bool = False
    progress: Callable[[str], None] | None = None
    overrides: tuple[str, ...] = ()
    """The user's ``--set`` assignments, applied before the instance and the share."""

    def optimize(
        self, scenario: str | Path, sets: tuple[str, ...], target_rps: float | None
    ) -> dict[str, Any]:
        """``mpmsim optimize``'s JSON for ``scenario`` with ``sets`` applied."""
        return optimize(
            scenario, mpm=self.mpm, p95_ms=self.p95_ms, max_error_rate=self.max_error_rate,
            headroom=self.headroom, replications=self.replications, jobs=self.jobs,
            scheduler=self.scheduler, cache_dir=self.cache_dir, resume=self.resume,
            overrides=sets, progress=self.progress, target_rps=target_rps,
        ).to_dict()  # fmt: skip


@dataclass(frozen=True)
class Member:
    """One instance at its share: the optimizer's answer and what the report says of it."""

    share: Share
    optimized: dict[str, Any]
    """``mpmsim optimize --json`` at this share (its ``points`` feed the report's curves)."""
    row: dict[str, Any]
    """The report's JSON for this member (see :func:`evaluate_member`)."""

    @property
    def goals_met(self) -> bool:
        """True when the member meets every goal for good."""
        return bool(self.row["goals_met"])


def evaluate_member(
    scenario: str | Path,
    instance: str,
    hw: HardwareSpec,
    share: Share,
    opts: SearchOptions,
    hours: float,
) -> Member:
    """Optimize one ``instance`` at ``share`` and judge it for good.

    The row holds the configuration (the optimizer's winner, or its ``closest`` miss), its
    figures with their 95 % intervals, ``goals`` per goal, ``goals_met``, ``binding_goal``
    (the goal missed by most), RAM headroom, the credit outlook, the price and $/M requests.
    """
    if opts.progress is not None:
        opts.progress(f"report: {instance}, {share.count} instance(s)")
    row: dict[str, Any] = {
        "count": share.count,
        "load_factor": round(share.factor, 6),
        "share_sets": list(share.sets),
        "per_instance_rps": None if share.rps is None else round(share.rps, 4),
        "price_per_month_usd": round(hw.price_per_hour_usd * hours, 2),
    }
    unjudged = {"goals_met": False, "goals": {}, "binding_goal": None, "configuration": None,
                "burst": None, "usd_per_million_requests": None}  # fmt: skip
    sets = (*opts.overrides, f"hardware={instance}", *share.sets)
    data = opts.optimize(scenario, sets, share.target_rps)
    row["simulations"] = data["search"]["simulations"]
    row["memory_budget_mib"] = data["goals"]["memory_budget_mib"]
    config = data["winner"] or data.get("closest")
    if config is None:  # nothing simulated: not even the smallest size fits (advice says why)
        note = next(iter(data.get("advice") or []), None)
        return Member(share, data, row | unjudged | ({"note": note} if note else {}))
    row |= _configuration(config, hw, data["winner"] is not None)
    if is_burstable(hw):
        planned = planned_utilization(row)
        row["burst"] = credit_outlook(hw, planned, hours) | {"cpu_utilization": round(planned, 4)}
        if row["goals_met"] and not row["burst"]["sustainable"]:
            _after_credits(row, scenario, instance, share, opts, data["replications"])
    row["binding_goal"] = binding_goal(row["goals"])
    surplus = (row["burst"] or {}).get("surplus_usd_per_month", 0.0)
    row["price_per_month_usd"] = round(row["price_per_month_usd"] + surplus, 2)
    row["usd_per_million_requests"] = per_million(
        row["price_per_month_usd"] / hours, row["sustained_throughput_rps"]
    )
    return Member(share, data, row)


def _configuration(config: dict[str, Any], hw: HardwareSpec, won: bool) -> dict[str, Any]:
    """A configuration's settings, figures, block, goals and RAM headroom."""
    out = {k: config.get(k) for k in (*CONFIG_KEYS, *FIGURE_KEYS)}
    out |= {"configuration": "winner" if won else "closest", "block": config.get("block"),
            "binding": config.get("binding"), "run_args": config.get("run_args"),
            "goals": config["goals"], "goals_met": won, "burst": None}  # fmt: skip
    out |= {k: config[k] for k in ("setup", "fpm_block", "pm.max_children") if k in config}
    out["ram_headroom_pct"] = _ram_headroom_pct(out["memory_peak_mib"], hw)
    out["sustained_throughput_rps"] = out["throughput_rps"]
    return out


def _ram_headroom_pct(peak_mib: float | None, hw: HardwareSpec) -> float:
    """The share of the RAM left to Apache (RAM - os_reserved_mib) that its peak left free, %."""
    usable = hw.ram_mib - hw.os_reserved_mib
    return round(100.0 * (1.0 - (peak_mib or 0.0) / usable), 1)


def _after_credits(
    row: dict[str, Any],
    scenario: str | Path,
    instance: str,
    share: Share,
    opts: SearchOptions,
    replications: int,
) -> None:
    """Run the member's configuration again with an empty balance; judge the goals on that,
    and show that run's figures (those of the full balance kept in ``burst.full_balance``),
    with its ``--set`` in the member's ``run_args``, so that every figure the report quotes
    for the member is the one its goals were judged on."""
    sets = (*opts.overrides, empty_balance_set(instance), *share.sets, *block_sets(row["block"]))
    if row.get("setup"):  # PHP: the set-up and the pool come with the run's own --set list
        args = row["run_args"]
        ran = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--set"]
        sets = (*ran, empty_balance_set(instance))
    res = run(scenario, overrides=sets, replications=replications)
    after = res.to_dict()
    goals = goals_for(res.prepared, p95_ms=opts.p95_ms, max_error_rate=opts.max_error_rate,
                      headroom=opts.headroom, target_rps=share.target_rps)  # fmt: skip
    checks = assess(goals, Achieved.from_run(after))
    x = float(after["throughput_rps"] or 0.0)
    p95 = after["latency_ms"]["p95"]
    full = {k: row[k] for k in FIGURE_KEYS}
    row["burst"] |= {"throughput_after_rps": x, "p95_after_ms": p95, "goals_after": checks,
                     "full_balance": full}  # fmt: skip
    row["burst"]["note"] += (
        f"; the figures are its empty balance's (a full one: {rps(full['throughput_rps'])}, "
        f"p95 {ms(full['p95_ms'])})"
    )
    row |= _judged_figures(after)
    row["run_args"] = [*row["run_args"], "--set", empty_balance_set(instance)]
    row["ram_headroom_pct"] = _ram_headroom_pct(row["memory_peak_mib"], res.prepared.hardware)
    row["sustained_throughput_rps"] = x
    row["goals"] = checks
    row["goals_met"] = all_met(checks)


def _judged_figures(d: dict[str, Any]) -> dict[str, Any]:
    """A run's figures under the member row's names (:data:`FIGURE_KEYS`)."""
    return {
        "throughput_rps": d["throughput_rps"],
        "throughput_rps_ci95": d["throughput_rps_ci95"],
        "p95_ms": d["latency_ms"]["p95"],
        "p95_ms_ci95": d["latency_ms_ci95"]["p95"],
        "error_rate": round(Achieved.from_run(d).error_rate, 6),
        "memory_peak_mib": d["memory_mib"]["peak"],
        "cpu_utilization": d["cpu_utilization"],
    }


def planned_utilization(row: dict[str, Any]) -> float:
    """CPU utilisation at the member's nominal share, from the simulated CPU per request.

    Poisson arrivals offer a run a little more or less than the nominal rate; the credit
    balance is planned for the nominal rate (never below what the run measured).
    """
    util = float(row["cpu_utilization"] or 0.0)
    x, share = row["throughput_rps"], row["per_instance_rps"]
    if not x or not share:
        return util
    # A saturated CPU cannot be busier than 100 %, whatever the share.
    return min(max(util, util * float(share) / float(x)), max(util, 1.0))


def per_million(usd_per_hour: float, rps: float | None) -> float | None:
    """Dollars per million requests served at ``rps`` (None when nothing is served)."""
    return None if not rps or rps <= 0.0 else usd_per_hour / (rps * 3600.0) * 1e6
