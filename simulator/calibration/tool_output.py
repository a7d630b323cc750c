"""What ``mpmsim calibrate`` prints and writes after a fit from load-tool outputs."""

from __future__ import annotations

from pathlib import Path

import yaml

from mpmsim.calibration.from_tools import WEAK_ELASTICITY, ToolFit
from mpmsim.errors import InputError

#: A run the fitted model misses by more than this is named in the first lines.
MISS_PCT = 10.0

#: A test plan's think time the output's figures imply, off the scenario's by more than this
#: share (or 10 ms), is named in the first lines.
THINK_TOLERANCE = 0.25


def headline(fit: ToolFit) -> list[str]:
    """The first lines: what was fitted from what, what drives it, and what it does not match."""
    n = len(fit.runs)
    per_class = ", ".join(f"{c} {b:.4g} -> {f:.4g} ms" for c, (b, f) in fit.classes.items())
    if fit.connection_factor is None:
        what = (
            f"handler CPU x{fit.factor:.3f} of cost model {fit.base.name!r} ({per_class}); it "
            "absorbs every difference in CPU per request"
        )
    else:
        per_conn = ", ".join(
            f"{k.removesuffix('_cpu_ms')} {b:.4g} -> {f:.4g} ms"
            for k, (b, f) in fit.connection.items()
        )
        what = (
            f"handler CPU x{fit.factor:.3f} of cost model {fit.base.name!r} ({per_class}) and "
            f"per-connection CPU x{fit.connection_factor:.3f} ({per_conn}), told apart by the "
            "reports with and without keep-alive"
        )
    lines = [
        f"Fitted from the throughput of {n} load-tool output{'s' if n != 1 else ''} alone (no CPU "
        f"or memory readings): {what}.",
        f"Everything else is {fit.base.name!r}'s, memory included: a sizing from this model takes "
        "its memory from there (measure with `mpmsim bench` to fit it).",
    ]
    if fit.own_cpu:
        lines.append(
            f"Not fitted: the cpu_ms the scenario gives {', '.join(fit.own_cpu)} itself (kept as "
            "written; a cost model holds the classes that take theirs from it)."
        )
    if fit.at_limit:
        lines.append(
            "A factor ended at the search's limit (20 times the first guess): no CPU in range "
            "reproduces these rates, so the figures below, not the factor, are the answer."
        )
    weak = [r["output"] for r in fit.runs if abs(r["cpu_elasticity"]) < WEAK_ELASTICITY]
    if weak:
        lines.append(
            f"Hardly set by the CPU in the model (elasticity under {WEAK_ELASTICITY:g}), so "
            f"telling the fit little: {', '.join(weak)}."
        )
    for r in fit.runs:
        implied, own = r.get("think_s_implied"), r.get("think_s_scenario")
        if implied is None or own is None:
            continue
        if abs(implied - own) > max(THINK_TOLERANCE * own, 0.01):
            lines.append(
                f"LOAD DIFFERS: {r['output']}'s users paused {implied:.3g} s between requests "
                f"(users / rate - response time); the scenario's think time is {own:.3g} s, so "
                "the load simulated is not the one measured: correct load.think_time_s."
            )
    missed = [r for r in fit.runs if abs(r["error_pct"]) > MISS_PCT]
    if missed:
        lines.append(
            f"NOT REPRODUCED within {MISS_PCT:g} % by one CPU factor: "
            + ", ".join(f"{r['output']} ({r['error_pct']:+.1f} %)" for r in missed)
            + ": their load or the model's mechanisms differ from that server's, not only its CPU."
        )
    if any(r["https"] for r in fit.runs):
        lines.append("https: the TLS handshakes' CPU is counted in the fitted handler CPU.")
    return lines


def render(fit: ToolFit) -> str:
    """The fit as text: the headline, then one line per output."""
    out = headline(fit)
    out.append("")
    head = (
        f"{'output':<32} {'tool':<4} {'clients':>7} {'k-a':>3} {'req/s':>9} {'simulated':>10} "
        f"{'error':>8} {'p50 ms':>15} {'p95 ms':>15} {'elasticity':>10}"
    )
    out.append(head)
    for r in fit.runs:
        out.append(
            f"{r['output'][:32]:<32} {r['tool']:<4} {r['clients']:>7} "
            f"{'yes' if r['keepalive'] else 'no':>3} {r['req_per_s_measured']:>9.1f} "
            f"{r['req_per_s_simulated']:>10.1f} {r['error_pct']:>+7.1f}% "
            f"{_pair(r['lat_p50_ms_measured'], r['lat_p50_ms_simulated']):>15} "
            f"{_pair(r['lat_p95_ms_measured'], r['lat_p95_ms_simulated']):>15} "
            f"{r['cpu_elasticity']:>10.2f}"
        )
    out.append(
        "(latencies measured / simulated, not fitted; elasticity: how the simulated rate moves "
        f"with the vCPUs' speed, 1 where the CPU alone sets it; {fit.evaluations} evaluations)"
    )
    return "\n".join(out)


def _pair(measured: float | None, simulated: float) -> str:
    return f"{'-' if measured is None else f'{measured:.3g}'} / {simulated:.3g}"


def write_costs(fit: ToolFit, path: Path, *, force: bool, command: str | None = None) -> None:
    """Write the fitted cost model (usable as ``costs:`` in a scenario)."""
    if path.exists() and not force:
        raise InputError("exists; use --force to overwrite it", file=str(path), field="-o")
    data = fit.costs.model_dump(mode="json", exclude={"justification", "uncertainty"})
    data["calibration"] = {
        "sources": sorted({r["output"] for r in fit.runs} | {r["scenario"] for r in fit.runs}),
        "fitted": {
            "cpu_factor": round(fit.factor, 5),
            **(
                {}
                if fit.connection_factor is None
                else {"connection_cpu_factor": round(fit.connection_factor, 5)}
            ),
        },
        "targets": [
            {k: r[k] for k in ("output", "req_per_s_measured", "req_per_s_simulated", "error_pct")}
            for r in fit.runs
        ],
    }
    header = (
        f"# Cost model fitted by mpmsim calibrate on the throughput of {len(fit.runs)} "
        "load-tool output(s): only the CPU moved.\n"
    ) + (f"# Made by: {command}\n" if command else "")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, width=100), encoding="utf-8")
