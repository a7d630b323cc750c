"""The sizing report for the terminal: the answer, the pass/fail table, the fleet and its block.

Figures are rounded for people (:mod:`mpmsim.sizing.format`) and carry their 95 % interval
where the simulation gives one.
"""

from __future__ import annotations

import shlex
from typing import Any

from mpmsim.search.assumptions import assumption_lines
from mpmsim.sizing.format import NONE, mib, percent, rps, usd, with_ci
from mpmsim.sizing.recommendation import GOAL_NAMES, fleet_name, load_words, missed


def render_text(data: dict[str, Any]) -> str:
    """The whole report as plain text; its first line is the answer."""
    lines = [data["answer"]]
    # the assumption that most often decides a sizing answer comes before any figure it shaped
    if data.get("memory_assumptions"):
        lines += assumption_lines(data["memory_assumptions"])
    lines += ["", *_fleet_table(data)]
    lines += ["", f"One instance carrying the whole load ({load_words(data['goals'])}):"]
    lines += _single_table(data)
    lines += ["", f"Load balancer: {data['load_balancer']}"]
    if data["recommendation"] is not None:
        lines += ["", *_recommended(data)]
    return "\n".join(lines)


def _binding(fleet: dict[str, Any], row: dict[str, Any]) -> str:
    """What stops a smaller fleet (a passing one), or the goal a failing one misses by most."""
    name = fleet.get("binding_goal") if fleet["goals_met"] else row.get("binding_goal")
    if name is None:
        return NONE
    return str(GOAL_NAMES.get(name, name))


def _fleet_table(data: dict[str, Any]) -> list[str]:
    """Per instance type: the smallest fleet that meets every goal, its cost, pass or fail."""
    head = f"{'instance':12} {'count':>5} {'$/month':>10} {'$/M req':>9}  {'goals':5}  binding goal"
    out = [head]
    for r in data["instances"]:
        f = r["fleet"]
        count = NONE if f["count"] is None else str(f["count"])
        verdict = "pass" if f["goals_met"] else "FAIL"
        out.append(
            f"{r['instance']:12} {count:>5} {usd(f['monthly_usd']):>10} "
            f"{usd(f['usd_per_million_requests']):>9}  {verdict:5}  {_binding(f, r)}"
        )
        if not f["goals_met"] and f.get("note"):
            out.append(f"{'':12} {f['note']}")
    return out


def _single_table(data: dict[str, Any]) -> list[str]:
    """Per instance type: one instance at the whole load, each figure with its interval."""
    out = [
        f"{'instance':12} {'req/s':>16} {'p95':>20} {'errors':>7} {'RAM free':>8} {'CPU':>6}  goals"
    ]
    for r in data["instances"]:
        if r.get("configuration") is None:
            out.append(f"{r['instance']:12} {r.get('note') or 'nothing simulated'}")
            continue
        x = with_ci(r["throughput_rps"], r["throughput_rps_ci95"], "req/s")
        p95 = with_ci(r["p95_ms"], r["p95_ms_ci95"], "ms")
        verdict = "pass" if r["goals_met"] else f"FAIL: {missed(r['goals'])}"
        if not r["goals_met"] and (r["burst"] or {}).get("goals_after"):
            verdict = f"FAIL once its credits run out: {missed(r['goals'])}"
        out.append(
            f"{r['instance']:12} {x:>16} {p95:>20} {percent(r['error_rate'], 2):>7} "
            f"{r['ram_headroom_pct']:>6.1f} % {percent(r['cpu_utilization'], 0):>6}  {verdict}"
        )
        if r["burst"] is not None:
            out.append(f"{'':12} credits: {r['burst']['note']}")
    return out


def _recommended(data: dict[str, Any]) -> list[str]:
    """The fleet, its N+1 option, the block of each member, its check and its run's log."""
    rec = data["recommendation"]
    row = next(r for r in data["instances"] if r["instance"] == rec["instance"])
    f, n1 = row["fleet"], rec["n_plus_1"]
    each = "" if f["count"] == 1 else f", {rps(f['per_instance_rps'])} each"
    out = [
        f"Fleet: {fleet_name(row)}{each}, {usd(f['monthly_usd'])} a month "
        f"({usd(row['price_per_month_usd'])} each). N+1, to carry the load with one instance "
        f"down: {n1['count']} x {row['instance']}, {usd(n1['monthly_usd'])} a month.",
        f"Why: {rec['why']}.",
        "",
        "Apache block (each instance):" if f["count"] > 1 else "Apache block:",
        f["block"].rstrip(),
        f"check it: mpmsim run {shlex.quote(data['source'])} {shlex.join(f['run_args'])}",
    ]
    run = data.get("recommended_run")
    if run is None:
        return out
    verdict = "meets every goal" if run["goals_met"] else f"MISSES {missed(run['goals'])}"
    out += [
        "",
        f"That run: {with_ci(run['throughput_rps'], run['throughput_rps_ci95'], 'req/s')}, "
        f"p95 {with_ci(run['p95_ms'], run['p95_ms_ci95'], 'ms')}, peak memory "
        f"{mib(run['memory_peak_mib'])}; {verdict}.",
    ]
    logged = [*run["warnings"], *(_log_line(e) for e in run["error_log"])]
    out.append("Warnings and error_log of that run:" + ("" if logged else " none"))
    out += [f"  {line}" for line in logged]
    return out


def _log_line(entry: dict[str, Any]) -> str:
    """One error_log line: time, code, message and how often it repeated."""
    times = f" (x{entry['count']})" if entry.get("count", 1) > 1 else ""
    return f"[{entry['t_s']:.1f} s] {entry['code']} {entry['message']}{times}"
