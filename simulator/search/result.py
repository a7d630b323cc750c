"""What ``mpmsim optimize`` returns: best per MPM, the winner, its Apache block, the points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mpmsim.engine.summary import ci95
from mpmsim.search.advice import advice, closest
from mpmsim.search.assumptions import memory_assumptions
from mpmsim.search.block import apache_block, check_block
from mpmsim.search.check_command import run_args
from mpmsim.search.goals import CARRY_TOLERANCE, TARGET_TOLERANCE, Goals, all_met, binding_goal
from mpmsim.search.php import php_row, pool_use, setup_preps
from mpmsim.search.row_notes import credits_row, unfit_row, versus_buddy
from mpmsim.search.space import (
    RUN_TIME_AH,
    Bounds,
    Candidate,
    apache2buddy,
    fit_spares,
    spare_value,
)
from mpmsim.spec.resolve import Prepared

if TYPE_CHECKING:
    import pandas as pd


def credited(x: float, cap: float | None) -> float:
    """Throughput as the objective counts it: at most the offered rate, when there is one."""
    return x if cap is None else min(x, cap)


def better(
    a: dict[str, Any], b: dict[str, Any], tolerance: float, cap: float | None = None
) -> bool:
    """True when ``a``'s throughput is significantly above ``b``'s (paired CRN replications).

    With ``cap`` (an open load's offered rate) each replication counts at most ``cap``: a
    configuration that finishes a start-up backlog inside the window does not beat one that
    kept up all along.
    """
    xa = [credited(x, cap) for x in a["per_rep"]["throughput_rps"]]
    xb = [credited(x, cap) for x in b["per_rep"]["throughput_rps"]]
    diffs = [p - q for p, q in zip(xa, xb, strict=True)]
    mean = float(np.mean(diffs))
    hw = ci95(diffs) or 0.0
    return mean > hw and mean > tolerance * abs(float(np.mean(xb)))


class Search(Protocol):
    """What the result needs of a finished search (:class:`mpmsim.search.adaptive.Search`)."""

    evals: dict[Candidate, dict[str, Any]]
    goals: Goals
    reps: int
    tolerance: float
    scenario_json: str
    source: str
    base_dir: str | None

    def feasible(self, e: dict[str, Any]) -> bool: ...

    def violated(self, e: dict[str, Any]) -> str: ...

    def checks(self, e: dict[str, Any]) -> dict[str, dict[str, Any]]: ...

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
    """One simulated point as the result shows it, with each goal checked."""
    e = search.evals[c]
    checks = search.checks(e)
    return {
        "mpm": c.mpm,
        "ThreadsPerChild": c.threads_per_child,
        "ServerLimit": c.server_limit,
        "spares": c.spares,
        "keepalive": c.keepalive,
        "MaxRequestWorkers": c.max_request_workers,
        "pm.max_children": c.fpm_children or None,
        "throughput_rps": e["throughput_rps"],
        "throughput_rps_ci95": e["throughput_rps_ci95"],
        "p95_ms": e["p95_ms"],
        "p95_ms_ci95": _rounded(ci95(e["per_rep"]["p95_ms"])),
        "memory_peak_mib": e["memory_peak_mib"],
        "error_rate": e["error_rate"],
        "cpu_utilization": e["cpu_utilization"],
        "feasible": search.feasible(e),
        "violates": search.violated(e),
        "bottleneck": e["bottleneck"],
        "goals_met": all_met(checks),
        "goals": checks,
    }


def _rounded(x: float | None) -> float | None:
    """A figure as the result shows it (4 decimals), None kept."""
    return None if x is None else round(x, 4)


def p95_lower(a: dict[str, Any], b: dict[str, Any], tolerance: float = 0.0) -> bool:
    """True when ``a``'s p95 is significantly below ``b``'s (paired CRN replications), by more
    than ``tolerance`` of ``b``'s."""
    pb = b["per_rep"]["p95_ms"]
    diffs = [q - p for p, q in zip(a["per_rep"]["p95_ms"], pb, strict=True)]
    mean = float(np.mean(diffs))
    return mean > (ci95(diffs) or 0.0) and mean > tolerance * abs(float(np.mean(pb)))


def p95_curve(search: Search, mpm: str, tpc: int, line: list[int]) -> dict[str, Any]:
    """One line's shape: where p95 is lowest, and whether it rises on both sides (a U)."""
    cands = [Candidate(mpm, m, tpc) for m in line if Candidate(mpm, m, tpc) in search.evals]
    out: dict[str, Any] = {"mpm": mpm, "ThreadsPerChild": tpc, "simulated": len(cands)}
    timed = [c for c in cands if search.evals[c]["p95_ms"] is not None]
    if not timed:
        return out | {"p95_lowest_at": None, "p95_u_shape": False}
    low = min(timed, key=lambda c: (search.evals[c]["p95_ms"], c))
    e = search.evals[low]
    u = all(
        other is not low and p95_lower(e, search.evals[other], search.tolerance)
        for other in (timed[0], timed[-1])
    )
    return out | {"p95_lowest_at": low.max_request_workers, "p95_u_shape": u}


def _binding(search: Search, c: Candidate, ram_limit: int | None) -> dict[str, str]:
    """Which constraint binds (ram, p95, error_rate or none) and the run's bottleneck.

    ``c`` is compared with the simulated points of its own line (same MPM, ThreadsPerChild,
    spare and KeepAlive settings); ``ram_limit`` is the largest MaxRequestWorkers that fits
    when RAM cut the line. With none, ``below`` says what a smaller configuration lacks: a
    goal, or ``load`` (significantly less throughput).
    """
    e = search.evals[c]
    cap = search.goals.throughput_target
    family = sorted((o for o in search.evals if o.family == c.family), key=lambda o: o)
    for other in (o for o in family if o.max_request_workers > c.max_request_workers):
        o = search.evals[other]
        if not search.feasible(o) and better(o, e, search.tolerance, cap):
            return {"constraint": search.violated(o), "bottleneck": e["bottleneck"]}
    if ram_limit is not None and c.max_request_workers == ram_limit:
        return {"constraint": "ram", "bottleneck": e["bottleneck"]}
    below = [search.evals[o] for o in family if o.max_request_workers < c.max_request_workers]
    if below:
        # What stops a smaller (cheaper) configuration: a missed goal, or it cannot carry the load.
        o = below[-1]
        why = search.violated(o) if not search.feasible(o) else "none"
        if why == "none" and better(e, o, search.tolerance, cap):
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
    timing: dict[str, Any],
    base_sets: Sequence[str] = (),
    mpms: Sequence[str] = (),
) -> OptimizeResult:
    """Assemble the result of a finished search.

    The objective is ``memory@load`` (the least memory that carries the throughput goal) when
    there is a throughput goal, else ``throughput``.
    """
    objective = "throughput" if search.goals.throughput_target is None else "memory@load"
    limits = {k: line[-1] if ram_top[k] else None for k, line in lines.items()}
    best_rows, best_cands = _best_per_mpm(search, lines, limits)
    best_rows += [unfit_row(prep, m, bounds) for m in mpms if not any(k[0] == m for k in lines)]
    winner_c = search.choose(best_cands)
    winner: dict[str, Any] | None = None
    if winner_c is not None:
        winner = _pick(search, winner_c, prep, limits, base_sets)
    data: dict[str, Any] = {
        "scenario": prep.scenario.name,
        "source": prep.source,
        "hardware": prep.hardware.name,
        "objective": objective,
        "seed": prep.scenario.seed,
        "replications": search.reps,
        "goals": _goals(search.goals, prep),
        "bounds": bounds.as_dict(),
        "best_per_mpm": best_rows,
        "curves": [p95_curve(search, m, t, line) for (m, t), line in lines.items()],
        "goals_met": winner is not None,
        "winner": winner,
        **_verdict(search, prep, bounds, winner, limits, base_sets),
        "assumptions": memory_assumptions(
            prep, setup_preps(search, (m for m, _ in lines)) if prep.php.used else None
        ),
        "points": [_row(search, c) for c in sorted(search.evals)],
        "search": _method(search, lines, grid_size),
        "timing": timing,
    }
    return OptimizeResult(data)


def _pick(
    search: Search,
    c: Candidate,
    prep: Prepared,
    limits: dict[Any, int | None],
    base_sets: Sequence[str],
) -> dict[str, Any]:
    """The winner's (or closest's) row: goals, binding, block, apache2buddy, run_args."""
    row = _winner(search, c, prep, limits.get((c.mpm, c.threads_per_child)))
    row |= php_row(search, c)
    row |= pool_use(search.evals[c])
    sets = (*base_sets, *c.pool_sets())  # the block's own directives come from the block
    row["run_args"] = run_args(row["block"], prep.scenario.seed, search.reps, sets)
    row["burst"] = credits_row(prep, row)
    row["error_log"] = search.evals[c].get("error_log", [])
    return row


def _verdict(
    search: Search,
    prep: Prepared,
    bounds: Bounds,
    winner: dict[str, Any] | None,
    limits: dict[Any, int | None],
    base_sets: Sequence[str],
) -> dict[str, Any]:
    """With no winner: the closest configuration, the goal it misses most, and advice."""
    near = closest(search) if winner is None else None
    if near is None:
        return {"closest": None, "binding_goal": None, "advice": []}
    row = _pick(search, near, prep, limits, base_sets)
    return {
        "closest": row,
        "binding_goal": binding_goal(row["goals"]),
        "advice": advice(search, prep, bounds, near),
    }


def _best_per_mpm(
    search: Search, lines: dict[tuple[str, int], list[int]], limits: dict[Any, int | None]
) -> tuple[list[dict[str, Any]], list[Candidate]]:
    """Each MPM's best configuration over its lines and policy variants: rows and candidates.

    An MPM with nothing feasible gets a row ``{"mpm": m, "feasible": False}`` and no candidate.
    """
    per_line: dict[tuple[str, int], Candidate] = {}
    for key, line in lines.items():
        chosen = search.choose([Candidate(key[0], m, key[1]) for m in line])
        if chosen is not None:
            per_line[key] = chosen
    rows: list[dict[str, Any]] = []
    cands: list[Candidate] = []
    for m in dict.fromkeys(m for m, _ in lines):
        variants = [c for c in search.evals if c.mpm == m and c.family[2:] != ("given", "given", 0)]
        pick = search.choose([*(c for k, c in per_line.items() if k[0] == m), *variants])
        if pick is None:
            near = closest(search, m)
            row = {"mpm": m, "feasible": False, "goals_met": False}
            rows.append(row | ({} if near is None else {"closest": _row(search, near)}))
            continue
        row = _row(search, pick)
        row["binding"] = _binding(search, pick, limits.get((m, pick.threads_per_child)))
        rows.append(row | php_row(search, pick))
        cands.append(pick)
    return rows, cands


def _goals(g: Goals, prep: Prepared) -> dict[str, Any]:
    """The goals as the result states them, with the RAM they were derived from."""
    hw = prep.hardware
    return {
        "ram_mib": hw.ram_mib,
        "os_reserved_mib": hw.os_reserved_mib,
        "headroom": g.headroom,
        "memory_budget_mib": round(g.memory_budget_mib, 2),
        "p95_ms": g.p95_ms,
        "max_error_rate": g.max_error_rate,
        "offered_rps": g.offered_rps,
        "target_rps": g.target_rps,
        "throughput_rps": g.throughput_target,
        "carry_tolerance": CARRY_TOLERANCE if g.offered_rps else TARGET_TOLERANCE,
    }


def _method(
    search: Search, lines: dict[tuple[str, int], list[int]], grid_size: int
) -> dict[str, Any]:
    """How the search went: grid sizes, simulations run, and the method in one sentence."""
    return {
        "grid_size": grid_size,
        "searched_grid_size": sum(len(v) for v in lines.values()),
        "simulations": len(search.evals),
        "simulated_replications": len(search.evals) * search.reps,
        "tolerance": search.tolerance,
        "method": "analytic bounds and knee; gap-probing line search on the primary "
        "ThreadsPerChild, local search on the others (and on spare / KeepAlive policies when "
        "asked); common random numbers; paired 95 % CIs decide differences",
    }


def _winner(search: Search, c: Candidate, prep: Prepared, ram_limit: int | None) -> dict[str, Any]:
    e = search.evals[c]
    eff = e["effective_directives"]
    keepalive: dict[str, Any] | None = None
    if c.keepalive != "given":  # the block says what changed outside the MPM's section
        keepalive = {"KeepAlive": eff["KeepAlive"]}
        if eff["KeepAlive"] == "On":
            keepalive["KeepAliveTimeout"] = eff["KeepAliveTimeout"]
    block = apache_block(c.mpm, eff, keepalive)
    effective, warnings = check_block(block, prep.hardware.vcpus)
    if warnings or effective.MaxRequestWorkers != c.max_request_workers:
        raise AssertionError(f"Apache would adjust the block: {warnings}")
    buddy = apache2buddy(prep, c.mpm, c.threads_per_child)
    out = _row(search, c)
    out["binding"] = _binding(search, c, ram_limit)
    out["block"] = block
    given = {**prep.scenario.server.directives, **c.directives()}
    out["spares_fitted"] = [
        f"{k} {v}: the scenario's {spare_value(c.mpm, given)} exceeds MaxRequestWorkers, "
        f"which idle workers can never reach (httpd would log {RUN_TIME_AH[c.mpm]})"
        for k, v in fit_spares(c.mpm, given).items()
    ]
    out["apache2buddy"] = buddy
    out["apache2buddy_vs_ours"] = versus_buddy(buddy, c.max_request_workers, out["binding"])
    return out
