"""``mpmsim report``: one scenario sized on several instances, and which one to buy.

For each instance the user names, :func:`mpmsim.search.optimizer.optimize` finds the best Apache
configuration. The report adds what a purchase needs: the price per month, the cost per million
requests, the RAM headroom, the CPU utilisation and, for a burstable instance in standard mode
that uses more than its baseline, how long a full credit balance lasts and what Apache serves
after it (simulated on the same instance with an empty balance). Every figure is simulated;
prices come from the hardware catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mpmsim.engine.replications import run
from mpmsim.errors import InputError
from mpmsim.models.hardware import HardwareSpec, load_hardware
from mpmsim.search.optimizer import optimize
from mpmsim.search.result import block_sets

HOURS_PER_MONTH = 730.0
"""Hours in the month that prices are quoted for (AWS's convention)."""


def build_report(
    scenario: str | Path,
    instances: Sequence[str],
    *,
    mpm: str | None = "all",
    p95_ms: float | None = None,
    max_error_rate: float = 0.01,
    headroom: float = 0.1,
    replications: int | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    hours_per_month: float = HOURS_PER_MONTH,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Size ``scenario`` on every instance and recommend one; the ``--json`` of the report."""
    names = list(dict.fromkeys(n.strip() for n in instances if n.strip()))
    if not names:
        raise InputError(
            "name at least one instance, e.g. t3.medium,c6i.large", field="--instances"
        )
    specs = [load_hardware(n, source="--instances", field="--instances") for n in names]
    rows: list[dict[str, Any]] = []
    first: dict[str, Any] = {}
    for name, hw in zip(names, specs, strict=True):
        if progress is not None:
            progress(f"report: sizing on {name}")
        data = optimize(
            scenario, mpm=mpm, p95_ms=p95_ms, max_error_rate=max_error_rate, headroom=headroom,
            replications=replications, jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
            resume=resume, overrides=(f"hardware={name}",), progress=progress,
        ).to_dict()  # fmt: skip
        first = first or data
        row = _instance_row(name, hw, data, hours_per_month)
        if row["feasible"] and row["burst"] is not None and not row["burst"]["sustainable"]:
            _after_credits(row, scenario, name, hw, data)
        rows.append(row)
    objective = first["objective"]
    return {
        "scenario": first["scenario"],
        "source": first["source"],
        "objective": objective,
        "goals": {k: first["goals"][k] for k in ("p95_ms", "max_error_rate", "headroom")}
        | {"offered_rps": first["goals"]["offered_rps"]},
        "hours_per_month": hours_per_month,
        "instances": rows,
        "recommendation": recommend(rows, objective, first["goals"]["offered_rps"]),
    }


def _instance_row(
    name: str, hw: HardwareSpec, data: dict[str, Any], hours: float
) -> dict[str, Any]:
    """One instance: its price and the best configuration the search found on it."""
    burstable = hw.burst is not None and hw.burst.baseline_fraction < 1.0
    row: dict[str, Any] = {
        "instance": name,
        "vcpus": hw.vcpus,
        "ram_mib": hw.ram_mib,
        "price_per_hour_usd": hw.price_per_hour_usd,
        "price_per_month_usd": round(hw.price_per_hour_usd * hours, 2),
        "burstable": burstable,
        "baseline_fraction": hw.burst.baseline_fraction if hw.burst is not None else 1.0,
        "simulations": data["search"]["simulations"],
    }
    w = data["winner"]
    if w is None:
        return row | {"feasible": False, "burst": None}
    keys = ["mpm", "ThreadsPerChild", "ServerLimit", "MaxRequestWorkers", "spares", "keepalive"]
    keys += ["throughput_rps", "p95_ms", "memory_peak_mib", "cpu_utilization", "block"]
    row |= {k: w[k] for k in keys} | {"binding": w["binding"], "run_args": w["run_args"]}
    usable = hw.ram_mib - hw.os_reserved_mib
    row["memory_budget_mib"] = data["goals"]["memory_budget_mib"]
    row["ram_headroom_pct"] = round(100.0 * (1.0 - (w["memory_peak_mib"] or 0.0) / usable), 1)
    row["feasible"] = True
    row["burst"] = _burst(hw, float(w["cpu_utilization"]), hours) if burstable else None
    surplus = row["burst"]["surplus_usd_per_month"] if row["burst"] else 0.0
    row["price_per_month_usd"] = round(row["price_per_month_usd"] + surplus, 2)
    row["sustained_throughput_rps"] = w["throughput_rps"]
    row["usd_per_million_requests"] = _per_million(row["price_per_month_usd"] / hours,
                                                   w["throughput_rps"])  # fmt: skip
    return row


def _burst(hw: HardwareSpec, utilization: float, hours: float) -> dict[str, Any]:
    """How the credit balance fares at the simulated CPU utilisation (AWS's credit rules)."""
    b = hw.burst
    assert b is not None
    spend_per_h = utilization * hw.vcpus * 60.0  # credits: 1 vCPU-minute at 100 %
    net = spend_per_h - b.credits_per_hour
    if net <= 0.0:
        note = f"within its {b.baseline_fraction:.0%} baseline: the credits never run out"
        return {"sustainable": True, "hours_until_credits_run_out": None, "note": note,
                "surplus_usd_per_month": 0.0}  # fmt: skip
    if b.mode == "unlimited":
        surplus = net / 60.0 * b.surplus_usd_per_vcpu_hour * hours
        note = (
            f"above its {b.baseline_fraction:.0%} baseline: unlimited mode keeps full speed for "
            f"${surplus:.2f} of surplus credits a month (included in the price)"
        )
        return {"sustainable": True, "hours_until_credits_run_out": None, "note": note,
                "surplus_usd_per_month": round(surplus, 2)}  # fmt: skip
    last_h = b.credits_max / net
    note = (
        f"above its {b.baseline_fraction:.0%} baseline: a full balance ({b.credits_max:g} "
        f"credits) lasts {last_h:.1f} h at this load, then the CPU is held to the baseline"
    )
    return {"sustainable": False, "hours_until_credits_run_out": round(last_h, 2), "note": note,
            "surplus_usd_per_month": 0.0}  # fmt: skip


def _after_credits(
    row: dict[str, Any], scenario: str | Path, name: str, hw: HardwareSpec, data: dict[str, Any]
) -> None:
    """Simulate the chosen configuration with an empty credit balance (held to the baseline)."""
    empty = f"hardware={{base: {name}, burst: {{credits_initial: 0}}}}"
    sets = (empty, *block_sets(row["block"]))
    res = run(scenario, overrides=sets, replications=data["replications"])
    after = res.to_dict()
    x = float(after["throughput_rps"])
    row["sustained_throughput_rps"] = x
    row["burst"]["throughput_after_rps"] = x
    row["burst"]["p95_after_ms"] = after["latency_ms"]["p95"]
    row["burst"]["note"] += f": {x:.1f} req/s, p95 {after['latency_ms']['p95']} ms"
    row["usd_per_million_requests"] = _per_million(hw.price_per_hour_usd, x)


def _per_million(usd_per_hour: float, rps: float) -> float | None:
    return None if rps <= 0.0 else usd_per_hour / (rps * 3600.0) * 1e6


def recommend(
    rows: Sequence[dict[str, Any]], objective: str, offered_rps: float | None
) -> dict[str, str] | None:
    """The instance to buy, or None when no instance met the goals.

    With a target load (an open load): the cheapest per month that carries it for good (a
    burstable instance must carry it on its baseline too). Otherwise: the least cost per million
    requests served for good.
    """
    ok = [r for r in rows if r["feasible"] and r["sustained_throughput_rps"] > 0]
    if objective == "memory@load" and offered_rps:
        need = 0.99 * min(offered_rps, max((r["throughput_rps"] for r in ok), default=0.0))
        carry = [r for r in ok if r["sustained_throughput_rps"] >= need]
        if not carry:
            return None
        best = min(carry, key=lambda r: (r["price_per_month_usd"], -r["ram_headroom_pct"]))
        why = (
            f"the cheapest instance (${best['price_per_month_usd']:.2f} a month) that carries "
            f"{best['sustained_throughput_rps']:.1f} req/s for good within the goals, with "
            f"{best['ram_headroom_pct']:.1f} % of its RAM to spare"
        )
        return {"instance": best["instance"], "why": why}
    if not ok:
        return None
    best = min(ok, key=lambda r: (r["usd_per_million_requests"], r["price_per_month_usd"]))
    why = (
        f"the least cost per million requests served for good "
        f"(${best['usd_per_million_requests']:.4g}: {best['sustained_throughput_rps']:.1f} req/s "
        f"for ${best['price_per_month_usd']:.2f} a month) within the goals"
    )
    return {"instance": best["instance"], "why": why}


def render_text(data: dict[str, Any]) -> str:
    """The report as a table for the terminal."""
    head = (
        f"{'instance':12} {'$/month':>8} {'mpm':8} {'MRW':>5} {'req/s':>9} {'p95 ms':>9} "
        f"{'RAM free':>8} {'CPU':>5} {'$/M req':>9}  burst"
    )
    lines = [f"sizing report: {data['scenario']} ({data['objective']})", "", head]
    for r in data["instances"]:
        if not r["feasible"]:
            lines.append(f"{r['instance']:12} {r['price_per_month_usd']:>8.2f} no configuration "
                         "met the goals")  # fmt: skip
            continue
        per_m = r["usd_per_million_requests"]
        lines.append(
            f"{r['instance']:12} {r['price_per_month_usd']:>8.2f} {r['mpm']:8} "
            f"{r['MaxRequestWorkers']:>5} {r['throughput_rps']:>9.1f} {r['p95_ms']!s:>9} "
            f"{r['ram_headroom_pct']:>7.1f}% {100 * r['cpu_utilization']:>4.0f}% "
            f"{'-' if per_m is None else f'{per_m:.4g}':>9}  "
            f"{r['burst']['note'] if r['burst'] else '-'}"
        )
    rec = data["recommendation"]
    lines.append("")
    if rec is None:
        lines.append("no instance met the goals")
    else:
        lines.append(f"recommended: {rec['instance']}: {rec['why']}")
        block = next(r["block"] for r in data["instances"] if r["instance"] == rec["instance"])
        lines.append(block.rstrip())
    return "\n".join(lines)
