"""Which fleet to buy, and the report's answer in one sentence.

The recommendation is the cheapest fleet a month that meets every goal (a single instance is a
fleet of one); on a tie the fewer instances, then the lower cost per million requests. Without
a load to carry (a closed load and no ``--target-rps``) it is the least cost per million
requests served for good instead. None when no fleet meets the goals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mpmsim.search.goals import total_shortfall
from mpmsim.sizing.format import by_unit, rps, usd, with_ci

GOAL_NAMES = {"throughput_rps": "the load", "p95_ms": "p95", "error_rate": "the error rate",
              "memory_mib": "RAM"}  # fmt: skip
"""A goal's name in a sentence."""


def recommend(rows: Sequence[dict[str, Any]], per_request: bool = False) -> dict[str, Any] | None:
    """The fleet to buy from the instance rows (their ``fleet``), or None when none passes.

    ``per_request``: rank by cost per million requests (there is no load to carry).
    """
    ok = [r for r in rows if r["fleet"]["goals_met"]]
    if not ok:
        return None
    key = _per_request_key if per_request else _cost_key
    best = min(ok, key=key)
    f = best["fleet"]
    return {
        "instance": best["instance"],
        "count": f["count"],
        "single": f["count"] == 1,
        "monthly_usd": f["monthly_usd"],
        "usd_per_million_requests": f["usd_per_million_requests"],
        "per_instance_rps": f["per_instance_rps"],
        "block": f["block"],
        **({"fpm_block": f["fpm_block"]} if f.get("fpm_block") else {}),
        "run_args": f["run_args"],
        "n_plus_1": f["n_plus_1"],
        "ranked_by": "usd_per_million_requests" if per_request else "monthly_usd",
        "why": _why(best, [r for r in ok if r is not best], per_request),
    }


def _cost_key(row: dict[str, Any]) -> tuple[float, int, float]:
    f = row["fleet"]
    per_m = f["usd_per_million_requests"]
    return (f["monthly_usd"], f["count"], float("inf") if per_m is None else per_m)


def _per_request_key(row: dict[str, Any]) -> tuple[float, int, float]:
    f = row["fleet"]
    per_m = f["usd_per_million_requests"]
    return (float("inf") if per_m is None else per_m, f["count"], f["monthly_usd"])


def _why(best: dict[str, Any], others: Sequence[dict[str, Any]], per_request: bool) -> str:
    """Why this fleet: the cheapest that meets every goal, and the runner-up."""
    f = best["fleet"]
    what = "instance" if f["count"] == 1 else "fleet"
    if per_request:
        why = (
            f"the least cost per million requests served for good "
            f"({usd(f['usd_per_million_requests'])}) that meets every goal"
        )
        nxt_key, nxt_field = _per_request_key, "usd_per_million_requests"
    else:
        why = f"the cheapest {what} ({usd(f['monthly_usd'])} a month) that meets every goal"
        nxt_key, nxt_field = _cost_key, "monthly_usd"
    if others:
        nxt = min(others, key=nxt_key)
        why += f"; next: {fleet_name(nxt)} at {usd(nxt['fleet'][nxt_field])}"
    return why


def fleet_name(row: dict[str, Any]) -> str:
    """``one c6i.large`` or ``3 x t3.medium``."""
    n = row["fleet"]["count"]
    return f"one {row['instance']}" if n == 1 else f"{n} x {row['instance']}"


def missed(goals: dict[str, dict[str, Any]]) -> str:
    """The goals missed, with achieved against target: ``p95 773 ms > 500 ms``."""
    parts = []
    for name, c in goals.items():
        if c["met"]:
            continue
        sign = "<" if name == "throughput_rps" else ">"
        parts.append(
            f"{GOAL_NAMES.get(name, name)} {by_unit(c['achieved'], c['unit'])} {sign} "
            f"{by_unit(c['target'], c['unit'])}"
        )
    return ", ".join(parts) or "no configuration was simulated"


def answer(data: dict[str, Any]) -> str:
    """The report's first line: what to buy and why, or why nothing qualifies; and when the
    window judged a load still building up (``window_ramp``), that it must be measured again."""
    text = _answer(data)
    if data.get("window_ramp"):
        text += (
            " Judged on a window that opens while the load's sessions still build up (the "
            "warning below): lengthen warmup_s and run the report again before buying."
        )
    return text


def _answer(data: dict[str, Any]) -> str:
    rows, rec = data["instances"], data["recommendation"]
    load = load_words(data["goals"])
    singles_fail = not any(r["goals_met"] for r in rows)
    closest = min(rows, key=lambda r: total_shortfall(r["goals"]) if r["goals"] else 1e9)
    if rec is None:
        head = f"None of these meets the goals ({load})"
        if not closest["goals"]:  # nothing fits in any instance's RAM: nothing was simulated
            why = closest.get("note") or "no configuration was simulated"
            return f"{head}: on {closest['instance']}, {why}."
        return f"{head}: the closest, one {closest['instance']}, misses {missed(closest['goals'])}."
    row = next(r for r in rows if r["instance"] == rec["instance"])
    f = row["fleet"]
    each = "it carries" if f["count"] == 1 else "each carries its share,"
    figures = (
        f"{each} {rps(f['per_instance_rps'] or f['throughput_rps'])}{_served(f)} with p95 "
        f"{with_ci(f['p95_ms'], f['p95_ms_ci95'], 'ms')}"
    )
    buy = f"Buy {fleet_name(row)} ({usd(f['monthly_usd'])} a month, "
    buy += f"{usd(f['usd_per_million_requests'])} per million requests) for {load}: {figures}"
    if singles_fail:
        return (
            f"No single instance meets the goals (closest: {closest['instance']}, "
            f"{missed(closest['goals'])}). {buy}."
        )
    return f"{buy}, within every goal."


def _served(fleet: dict[str, Any]) -> str:
    """What the simulated window measured against what its sessions offered, when they differ.

    An open load's nominal rate is not what a finite window sees (sessions that arrive late
    send some of their requests after it ends); say both so the headline never claims more
    than was measured.
    """
    goal = (fleet.get("goals") or {}).get("throughput_rps") or {}
    offered = goal.get("offered_realised")
    if offered is None:
        return ""
    return f" ({rps(goal['achieved'])} served of {rps(offered)} offered in the measured window)"


def load_words(goals: dict[str, Any]) -> str:
    """The design load in words: ``80 req/s``, ``80 req/s x 1.5 growth = 120 req/s``."""
    base = goals.get("target_rps") or goals.get("offered_rps")
    growth = goals.get("growth") or 1.0
    if base is None:
        load = "the scenario's clients"
        return load if growth == 1.0 else f"{load} x {growth:g} growth"
    if growth == 1.0:
        return rps(base)
    return f"{rps(base)} x {growth:g} growth = {rps(base * growth)}"


__all__ = ["GOAL_NAMES", "answer", "fleet_name", "load_words", "missed", "recommend"]
