"""The result of ``mpmsim optimize`` as text for the terminal (the JSON holds everything)."""

from __future__ import annotations

import shlex
from typing import Any

from mpmsim.search.assumptions import assumption_lines
from mpmsim.search.php import BUSY_POOL


def render_text(data: dict[str, Any]) -> str:
    """The human-readable summary of an optimize result: the verdict and assumptions first."""
    goal = "the most throughput"
    target = data["goals"].get("throughput_rps")
    if data["objective"] == "memory@load" and target is not None:
        goal = f"the least memory that carries {target:g} req/s"
    lines = [f"optimize {data['scenario']} on {data['hardware']}: {goal}"]
    lines += _verdict(data)
    lines += assumption_lines(data["assumptions"])
    lines.append("")
    lines += _best_table(data["best_per_mpm"])
    if data["goals"]["p95_ms"] is None:
        lines.append(
            "no latency goal was given: add --p95-ms to rule out sizes that keep up only "
            "behind a long queue"
        )
    lines.append("")
    lines += _winner_text(data)
    lines.append("")
    lines.append("simulated points (MaxRequestWorkers: req/s, p95 ms, peak MiB; goals):")
    for p in data["points"]:
        spares = "" if p["spares"] == "given" else f" spares={p['spares']}"
        spares += "" if p["keepalive"] == "given" else f" KeepAlive={p['keepalive']}"
        spares += f" pm.max_children={p['pm.max_children']}" if p.get("pm.max_children") else ""
        missed = [n for n, c in p["goals"].items() if not c["met"]]
        lines.append(
            f"  {p['mpm']} TPC {p['ThreadsPerChild']} MRW {p['MaxRequestWorkers']}{spares}: "
            f"{p['throughput_rps']}, {p['p95_ms']}, {p['memory_peak_mib']}  "
            + ("pass" if p["goals_met"] else f"FAIL ({', '.join(missed)})")
        )
    s = data["search"]
    lines.append(
        f"simulations: {s['simulations']} of a {s['grid_size']}-point grid "
        f"({s['simulated_replications']} replications); wall {data['timing']['wall_s']} s"
    )
    return "\n".join(lines)


def _verdict(data: dict[str, Any]) -> list[str]:
    """Whether a configuration meets the goals, its goals one per line, and advice if none."""
    w, near = data["winner"], data["closest"]
    if w is not None:
        b = w.get("burst")
        lasts = "" if not b or b["sustainable"] else " while the CPU credits last (below)"
        head = f"goals met by {w['mpm']} MaxRequestWorkers {w['MaxRequestWorkers']}{lasts}:"
        row = w
    elif near is not None:
        head = (
            f"no configuration meets the goals; closest: {near['mpm']} MaxRequestWorkers "
            f"{near['MaxRequestWorkers']} (TPC {near['ThreadsPerChild']}), furthest off on "
            f"{data['binding_goal']}:"
        )
        row = near
    else:  # not even the smallest size fits: the advice says what it needs
        return [
            "no configuration meets the goals: none was simulated",
            *(f"  advice: {a}" for a in data["advice"]),
        ]
    lines = [head]
    for name, c in row["goals"].items():
        mark = "met" if c["met"] else f"MISSED by {_num(c['shortfall'])} {c['unit']}"
        also = ""
        if "offered_realised" in c:
            also = (
                f" (this run offered {_num(c['offered_realised'])}, needs >= {_num(c['required'])})"
            )
        lines.append(
            f"  {name:15} target {_num(c['target'])} {c['unit']}, achieved "
            f"{_num(c['achieved'])}{also}: {mark}"
        )
    lines += _interval_lines(row)
    lines += _credit_lines(row, data["hardware"])
    lines += [f"  advice: {a}" for a in data["advice"]]
    return lines


def _interval_lines(row: dict[str, Any]) -> list[str]:
    """The figures the goals were judged on, with their 95 % confidence half-widths."""
    tput, p95 = row["throughput_rps_ci95"], row.get("p95_ms_ci95")
    parts = [f"throughput {_num(row['throughput_rps'])} ± {_num(tput)} req/s"] if tput else []
    if p95 is not None and row["p95_ms"] is not None:
        parts.append(f"p95 {_num(row['p95_ms'])} ± {_num(p95)} ms")
    return [f"  95 % CI: {', '.join(parts)}"] if parts else []


def _credit_lines(row: dict[str, Any], hardware: str) -> list[str]:
    """A burstable instance above its baseline: the figures last only while its credits do."""
    b = row.get("burst")
    if not b or b["sustainable"]:
        return []
    return [
        f"  CPU CREDITS: {hardware} ran at {b['cpu_utilization']:.0%} CPU, {b['note']}: these "
        "figures hold only while its balance lasts",
        f"  for a sustained load, optimize again with --set '{b['empty_balance_set']}' (its "
        "credits at zero), or use mpmsim report, which judges burstable instances there",
    ]


def _best_table(rows: list[dict[str, Any]]) -> list[str]:
    """The best configuration of each MPM, one line each under a header."""
    lines = [
        f"{'mpm':8} {'TPC':>4} {'SL':>5} {'MRW':>5} {'spares':>8} {'KA':>5} {'req/s':>10} "
        f"{'p95 ms':>9} {'MiB':>8}  binds"
    ]
    for r in rows:
        if not r.get("feasible", True) or "throughput_rps" not in r:
            near = r.get("closest")
            why = ""
            if near is not None:
                missed = ", ".join(n for n, c in near["goals"].items() if not c["met"])
                why = (
                    f" (closest: TPC {near['ThreadsPerChild']} MRW {near['MaxRequestWorkers']}, "
                    f"{near['throughput_rps']:.1f} req/s, p95 {near['p95_ms']} ms; misses {missed})"
                )
            if r.get("note"):
                why = f" ({r['note']})"
            lines.append(f"{r['mpm']:8} no configuration met the goals{why}")
            continue
        lines.append(
            f"{r['mpm']:8} {r['ThreadsPerChild']:>4} {r['ServerLimit']:>5} "
            f"{r['MaxRequestWorkers']:>5} {r['spares']:>8} {r['keepalive']:>5} "
            f"{r['throughput_rps']:>10.1f} "
            f"{r['p95_ms']!s:>9} "
            f"{r['memory_peak_mib']!s:>8}  {r['binding']['constraint']} "
            f"(bottleneck {r['binding']['bottleneck']})" + _setup(r)
        )
    return lines


def _setup(row: dict[str, Any]) -> str:
    """``; event + PHP-FPM (pool www) pm.max_children 12`` for a PHP set-up, else ""."""
    if not row.get("setup"):
        return ""
    pool = f" pm.max_children {row['pm.max_children']}" if row.get("fpm_block") else ""
    return f"; {row['setup']}{pool}"


def _winner_text(data: dict[str, Any]) -> list[str]:
    """The winner, its block, the command that checks it, apache2buddy's figure, p95 U-shapes."""
    w = data["winner"]
    if w is None:
        lines = ["no configuration met the goals: no block to paste"]
        near = data["closest"]
        if near is not None:
            lines += [
                "the closest configuration (it does NOT meet the goals):",
                near["block"].rstrip(),
                f"simulate it: mpmsim run {data['source']} {shlex.join(near['run_args'])}",
            ]
    else:
        spares = "" if w["spares"] == "given" else f", spare settings {w['spares']}"
        spares += "" if w["keepalive"] == "given" else f", KeepAlive {w['keepalive']}"
        setup = (
            f" ({w['setup']}, pm.max_children {w['pm.max_children']})"
            if w.get("fpm_block")
            else (f" ({w['setup']})" if w.get("setup") else "")
        )
        lines = [
            f"winner: {w['mpm']} MaxRequestWorkers {w['MaxRequestWorkers']}{spares}{setup}",
            w["block"].rstrip(),
            *(f"; scaled {note}" for note in w.get("spares_fitted", [])),
            *_pool_lines(w),
            *_pool_use_lines(w, latency_goal=data["goals"]["p95_ms"] is not None),
            f"check it: mpmsim run {data['source']} {shlex.join(w['run_args'])}",
            w["apache2buddy_vs_ours"],
            *_logged_lines(w),
        ]
    for cv in data["curves"]:
        if cv["p95_u_shape"]:
            lines.append(
                f"p95 U-shape on {cv['mpm']} TPC {cv['ThreadsPerChild']}: lowest at "
                f"MaxRequestWorkers {cv['p95_lowest_at']}, higher with fewer and with more"
            )
    return lines


def _logged_lines(row: dict[str, Any]) -> list[str]:
    """What Apache logged in the winner's first replication: a block sized to the load runs
    its workers near MaxRequestWorkers, and Apache says so (AH00484, AH10159, ...)."""
    logged = row.get("error_log") or []
    if not logged:
        return ["Apache's error_log in the winner's run: no warning"]
    lines = ["Apache's error_log in the winner's run (its first replication):"]
    for e in logged:
        times = f" (x{e['count']})" if e.get("count", 1) > 1 else ""
        lines.append(f"  [{e['t_s']} s] {e['code']}: {e['message']}{times}")
    return lines


def _pool_lines(row: dict[str, Any]) -> list[str]:
    """The PHP-FPM pool block to paste under the Apache block (none without a pool)."""
    block = row.get("fpm_block")
    if not block:
        return []
    return ["; PHP-FPM pool (php-fpm.d/www.conf):", block.rstrip()]


def _pool_use_lines(row: dict[str, Any], *, latency_goal: bool) -> list[str]:
    """Each PHP-FPM pool's use at the winner and, busy without a latency goal, what one would do."""
    lines = []
    for name, p in row.get("pools", {}).items():
        lines.append(
            f"pool {name} at the winner: {p['busy_mean']:.2f} of {p['pm.max_children']} "
            f"children busy on average ({p['utilization']:.0%}), peak {p['busy_peak']}; its "
            f"queue {p['queue_mean']:.2f} requests on average, peak {p['queue_peak']}"
        )
        if p["utilization"] > BUSY_POOL and not latency_goal:
            lines.append(
                f"pool {name} runs over {BUSY_POOL:.0%} busy because only throughput and memory "
                "were asked for: a latency goal (--p95-ms) would size pm.max_children larger"
            )
    return lines


def _num(x: float | None) -> str:
    """A figure with 4 significant digits ("-" for none): 64.99, 5028, 0.005."""
    return "-" if x is None else f"{x:.4g}"
