"""What ``mpmsim optimize`` returns: best per MPM, the winner, its Apache block, the points."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mpmsim.optimize_space import (
    Bounds,
    Candidate,
    apache2buddy,
    apache_block,
    check_block,
    parse_block,
)
from mpmsim.prepare import Prepared
from mpmsim.results import ci95

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Goals:
    """What a configuration must meet: memory budget, p95 and error-rate goals."""

    memory_budget_mib: float
    p95_ms: float | None
    max_error_rate: float
    headroom: float


def better(a: dict[str, Any], b: dict[str, Any], tolerance: float) -> bool:
    """True when ``a``'s throughput is significantly above ``b``'s (paired CRN replications)."""
    xa, xb = a["per_rep"]["throughput_rps"], b["per_rep"]["throughput_rps"]
    diffs = [p - q for p, q in zip(xa, xb, strict=True)]
    mean = float(np.mean(diffs))
    hw = ci95(diffs) or 0.0
    return mean > hw and mean > tolerance * abs(float(np.mean(xb)))


class Search(Protocol):
    """What the result needs of a finished search (:class:`mpmsim.optimizer.Search`)."""

    evals: dict[Candidate, dict[str, Any]]
    goals: Goals
    reps: int
    tolerance: float

    def feasible(self, e: dict[str, Any]) -> bool: ...

    def violated(self, e: dict[str, Any]) -> str: ...

    def choose(self, cands: Sequence[Candidate]) -> Candidate | None: ...


@dataclass(frozen=True)
class OptimizeResult:
    """The answer of :func:`mpmsim.optimize`; ``to_dict()`` is the ``--json`` output."""

    data: dict[str, Any]

    @property
    def best(self) -> dict[str, Any] | None:
        """The winning configuration (None when nothing met the goals)."""
        best: dict[str, Any] | None = self.data["winner"]
        return best

    @property
    def block(self) -> str:
        """The Apache block to paste ("" when nothing met the goals)."""
        return self.best["block"] if self.best else ""

    @property
    def table(self) -> pd.DataFrame:
        """Best configuration per MPM, one row each."""
        import pandas as pd

        return pd.DataFrame(self.data["best_per_mpm"])

    @property
    def points(self) -> pd.DataFrame:
        """Every simulated point (throughput / p95 / memory against MaxRequestWorkers)."""
        import pandas as pd

        return pd.DataFrame(self.data["points"])

    def to_dict(self) -> dict[str, Any]:
        """JSON form; everything but ``timing`` is identical for identical inputs."""
        return self.data


def _row(search: Search, c: Candidate) -> dict[str, Any]:
    e = search.evals[c]
    return {
        "mpm": c.mpm,
        "ThreadsPerChild": c.threads_per_child,
        "ServerLimit": c.server_limit,
        "MaxRequestWorkers": c.max_request_workers,
        "throughput_rps": e["throughput_rps"],
        "throughput_rps_ci95": e["throughput_rps_ci95"],
        "p95_ms": e["p95_ms"],
        "memory_peak_mib": e["memory_peak_mib"],
        "error_rate": e["error_rate"],
        "feasible": search.feasible(e),
        "violates": search.violated(e),
        "bottleneck": e["bottleneck"],
    }


def _binding(search: Search, c: Candidate, line: list[int], ram_top: bool) -> dict[str, str]:
    """Which constraint binds (ram, p95, error_rate or none) and the run's bottleneck.

    With none, ``below`` says what a smaller configuration lacks: a goal, or ``load``
    (significantly less throughput).
    """
    e = search.evals[c]
    larger = [Candidate(c.mpm, m, c.threads_per_child) for m in line if m > c.max_request_workers]
    for other in larger:
        o = search.evals.get(other)
        if o is not None and not search.feasible(o) and better(o, e, search.tolerance):
            return {"constraint": search.violated(o), "bottleneck": e["bottleneck"]}
    if ram_top and c.max_request_workers == line[-1]:
        return {"constraint": "ram", "bottleneck": e["bottleneck"]}
    smaller = [Candidate(c.mpm, m, c.threads_per_child) for m in line if m < c.max_request_workers]
    below = [search.evals[s] for s in smaller if s in search.evals]
    if below:
        # What stops a smaller (cheaper) configuration: a missed goal, or it cannot carry the load.
        o = below[-1]
        why = search.violated(o) if not search.feasible(o) else "none"
        if why == "none" and better(e, o, search.tolerance):
            why = "load"
        return {"constraint": "none", "below": why, "bottleneck": e["bottleneck"]}
    return {"constraint": "none", "bottleneck": e["bottleneck"]}


def build_result(
    search: Search,
    *,
    prep: Prepared,
    bounds: Bounds,
    lines: dict[tuple[str, int], list[int]],
    ram_top: dict[tuple[str, int], bool],
    grid_size: int,
    objective: str,
    timing: dict[str, Any],
    base_sets: Sequence[str] = (),
) -> OptimizeResult:
    """Assemble the result of a finished search."""
    per_line: dict[tuple[str, int], Candidate] = {}
    for key, line in lines.items():
        chosen = search.choose([Candidate(key[0], m, key[1]) for m in line])
        if chosen is not None:
            per_line[key] = chosen
    mpms = list(dict.fromkeys(m for m, _ in lines))
    best_rows: list[dict[str, Any]] = []
    best_cands: list[Candidate] = []
    for m in mpms:
        pick = search.choose([c for k, c in per_line.items() if k[0] == m])
        if pick is None:
            best_rows.append({"mpm": m, "feasible": False})
            continue
        key = (m, pick.threads_per_child)
        row = _row(search, pick)
        row["binding"] = _binding(search, pick, lines[key], ram_top[key])
        best_rows.append(row)
        best_cands.append(pick)
    winner_c = search.choose(best_cands)
    winner: dict[str, Any] | None = None
    if winner_c is not None:
        winner = _winner(search, winner_c, prep, lines, ram_top)
        winner["run_args"] = run_args(winner["block"], prep.scenario.seed, search.reps, base_sets)
    points = [_row(search, c) for c in sorted(search.evals)]
    g = search.goals
    hw = prep.hardware
    data: dict[str, Any] = {
        "scenario": prep.scenario.name,
        "source": prep.source,
        "hardware": hw.name,
        "objective": objective,
        "seed": prep.scenario.seed,
        "replications": search.reps,
        "goals": {
            "ram_mib": hw.ram_mib,
            "os_reserved_mib": hw.os_reserved_mib,
            "headroom": g.headroom,
            "memory_budget_mib": round(g.memory_budget_mib, 2),
            "p95_ms": g.p95_ms,
            "max_error_rate": g.max_error_rate,
        },
        "bounds": bounds.as_dict(),
        "best_per_mpm": best_rows,
        "winner": winner,
        "points": points,
        "search": {
            "grid_size": grid_size,
            "searched_grid_size": sum(len(v) for v in lines.values()),
            "simulations": len(search.evals),
            "simulated_replications": len(search.evals) * search.reps,
            "tolerance": search.tolerance,
            "method": "analytic bounds, then coarse-to-fine with common random numbers; "
            "paired 95 % CIs decide differences",
        },
        "timing": timing,
    }
    return OptimizeResult(data)


def run_args(block: str, seed: int, replications: int, base_sets: Sequence[str]) -> list[str]:
    """``mpmsim run SCENARIO`` arguments that simulate ``block`` as the search did."""
    mpm, raw = parse_block(block)
    args = ["--seed", str(seed), "--replications", str(replications)]
    sets = [*base_sets, f"server.mpm={mpm}"]
    sets += [f"server.directives.{k}={v}" for k, v in raw.items()]
    for s in sets:
        args += ["--set", s]
    return args


def _winner(
    search: Search,
    c: Candidate,
    prep: Prepared,
    lines: dict[tuple[str, int], list[int]],
    ram_top: dict[tuple[str, int], bool],
) -> dict[str, Any]:
    e = search.evals[c]
    key = (c.mpm, c.threads_per_child)
    block = apache_block(c.mpm, e["effective_directives"], None)
    effective, warnings = check_block(block, prep.hardware.vcpus)
    if warnings or effective.MaxRequestWorkers != c.max_request_workers:
        raise AssertionError(f"Apache would adjust the block: {warnings}")
    buddy = apache2buddy(prep, c.mpm, c.threads_per_child)
    out = _row(search, c)
    out["binding"] = _binding(search, c, lines[key], ram_top[key])
    out["block"] = block
    out["apache2buddy"] = buddy
    out["apache2buddy_vs_ours"] = (
        f"apache2buddy's rule allows MaxRequestWorkers {buddy['max_request_workers']} "
        f"((RAM - os_reserved) / {buddy['child_mib']} MiB per child); we recommend "
        f"{c.max_request_workers}: its rule only asks what fits in memory, while the simulation "
        "also stops where more workers no longer add throughput (CPU or the load binds) or "
        "break the latency and error goals, and counts shared pages and connections."
    )
    return out


def render_text(data: dict[str, Any]) -> str:
    """The human-readable summary of an optimize result."""
    lines = [f"optimize {data['scenario']} on {data['hardware']} ({data['objective']})", ""]
    head = (
        f"{'mpm':8} {'TPC':>4} {'SL':>5} {'MRW':>5} {'req/s':>10} {'p95 ms':>9} {'MiB':>8}  binds"
    )
    lines.append(head)
    for r in data["best_per_mpm"]:
        if not r.get("feasible", True) or "throughput_rps" not in r:
            lines.append(f"{r['mpm']:8} no configuration met the goals")
            continue
        lines.append(
            f"{r['mpm']:8} {r['ThreadsPerChild']:>4} {r['ServerLimit']:>5} "
            f"{r['MaxRequestWorkers']:>5} {r['throughput_rps']:>10.1f} {r['p95_ms']!s:>9} "
            f"{r['memory_peak_mib']!s:>8}  {r['binding']['constraint']} "
            f"(bottleneck {r['binding']['bottleneck']})"
        )
    w = data["winner"]
    lines.append("")
    if w is None:
        lines.append("no configuration met the goals")
    else:
        lines.append(f"winner: {w['mpm']} MaxRequestWorkers {w['MaxRequestWorkers']}")
        lines.append(w["block"].rstrip())
        lines.append(f"check it: mpmsim run {data['source']} {shlex.join(w['run_args'])}")
        lines.append(w["apache2buddy_vs_ours"])
    lines.append("")
    lines.append("simulated points (MaxRequestWorkers: req/s, p95 ms, peak MiB):")
    for p in data["points"]:
        lines.append(
            f"  {p['mpm']} TPC {p['ThreadsPerChild']} MRW {p['MaxRequestWorkers']}: "
            f"{p['throughput_rps']}, {p['p95_ms']}, {p['memory_peak_mib']}"
            + ("" if p["feasible"] else f"  [misses {p['violates']}]")
        )
    s = data["search"]
    lines.append(
        f"simulations: {s['simulations']} of a {s['grid_size']}-point grid "
        f"({s['simulated_replications']} replications); wall {data['timing']['wall_s']} s"
    )
    return "\n".join(lines)
