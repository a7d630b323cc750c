"""The result of ``mpmsim optimize`` as text for the terminal (the JSON holds everything)."""

from __future__ import annotations

import shlex
from typing import Any


def render_text(data: dict[str, Any]) -> str:
    """The human-readable summary of an optimize result."""
    goal = "the most throughput"
    if data["objective"] == "memory@load":
        goal = f"the least memory that carries {data['goals']['offered_rps']:g} req/s"
    lines = [f"optimize {data['scenario']} on {data['hardware']}: {goal}", ""]
    lines += _best_table(data["best_per_mpm"])
    if data["goals"]["p95_ms"] is None:
        lines.append(
            "no latency goal was given: add --p95-ms to rule out sizes that keep up only "
            "behind a long queue"
        )
    lines.append("")
    lines += _winner_text(data)
    lines.append("")
    lines.append("simulated points (MaxRequestWorkers: req/s, p95 ms, peak MiB):")
    for p in data["points"]:
        spares = "" if p["spares"] == "given" else f" spares={p['spares']}"
        spares += "" if p["keepalive"] == "given" else f" KeepAlive={p['keepalive']}"
        lines.append(
            f"  {p['mpm']} TPC {p['ThreadsPerChild']} MRW {p['MaxRequestWorkers']}{spares}: "
            f"{p['throughput_rps']}, {p['p95_ms']}, {p['memory_peak_mib']}"
            + ("" if p["feasible"] else f"  [misses {p['violates']}]")
        )
    s = data["search"]
    lines.append(
        f"simulations: {s['simulations']} of a {s['grid_size']}-point grid "
        f"({s['simulated_replications']} replications); wall {data['timing']['wall_s']} s"
    )
    return "\n".join(lines)


def _best_table(rows: list[dict[str, Any]]) -> list[str]:
    """The best configuration of each MPM, one line each under a header."""
    lines = [
        f"{'mpm':8} {'TPC':>4} {'SL':>5} {'MRW':>5} {'spares':>8} {'KA':>5} {'req/s':>10} "
        f"{'p95 ms':>9} {'MiB':>8}  binds"
    ]
    for r in rows:
        if not r.get("feasible", True) or "throughput_rps" not in r:
            lines.append(f"{r['mpm']:8} no configuration met the goals")
            continue
        lines.append(
            f"{r['mpm']:8} {r['ThreadsPerChild']:>4} {r['ServerLimit']:>5} "
            f"{r['MaxRequestWorkers']:>5} {r['spares']:>8} {r['keepalive']:>5} "
            f"{r['throughput_rps']:>10.1f} "
            f"{r['p95_ms']!s:>9} "
            f"{r['memory_peak_mib']!s:>8}  {r['binding']['constraint']} "
            f"(bottleneck {r['binding']['bottleneck']})"
        )
    return lines


def _winner_text(data: dict[str, Any]) -> list[str]:
    """The winner, its block, the command that checks it, apache2buddy's figure, p95 U-shapes."""
    w = data["winner"]
    if w is None:
        lines = ["no configuration met the goals"]
    else:
        spares = "" if w["spares"] == "given" else f", spare settings {w['spares']}"
        spares += "" if w["keepalive"] == "given" else f", KeepAlive {w['keepalive']}"
        lines = [
            f"winner: {w['mpm']} MaxRequestWorkers {w['MaxRequestWorkers']}{spares}",
            w["block"].rstrip(),
            f"check it: mpmsim run {data['source']} {shlex.join(w['run_args'])}",
            w["apache2buddy_vs_ours"],
        ]
    for cv in data["curves"]:
        if cv["p95_u_shape"]:
            lines.append(
                f"p95 U-shape on {cv['mpm']} TPC {cv['ThreadsPerChild']}: lowest at "
                f"MaxRequestWorkers {cv['p95_lowest_at']}, higher with fewer and with more"
            )
    return lines
