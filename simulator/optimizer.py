"""``mpmsim optimize``: the best MPM sizing by analytic bounds, then coarse-to-fine simulation.

Every candidate runs with the same seed (common random numbers) and the same replications, so
two candidates are compared replication by replication: one counts as better only when the 95 %
confidence interval of the paired differences excludes zero and the gap exceeds ``tolerance``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mpmsim import __version__
from mpmsim.engine import Replication, run_replication
from mpmsim.errors import InputError
from mpmsim.executors import TaskMapper
from mpmsim.loading import load_scenario, load_scenario_data
from mpmsim.opt_cache import EvalCache, candidate_key
from mpmsim.optimize_result import Goals, OptimizeResult, better, build_result, credited
from mpmsim.optimize_space import (
    SPARES,
    Candidate,
    analytic_bounds,
    full_line,
    pruned_line,
    spare_directives,
    start_points,
    tpc_choices,
    useful_workers,
)
from mpmsim.prepare import Prepared, prepare
from mpmsim.results import summarize
from mpmsim.runner import RunResult
from mpmsim.scenario import OpenLoad, Scenario

MPM_NAMES = ("prefork", "worker", "event")

Task = tuple[str, str, str | None, tuple[str, ...], int, int]
K = TypeVar("K", bound=Hashable)


def _prepare(task: Task) -> Prepared:
    """The prepared candidate scenario of a task (the last field is ignored)."""
    scenario_json, source, base_dir, overrides, seed, _ = task
    sc = load_scenario_data(json.loads(scenario_json), source=source, overrides=overrides)
    sc = sc.model_copy(update={"seed": seed})
    return prepare(sc, source=source, base_dir=Path(base_dir) if base_dir else None)


def simulate_replication(task: Task) -> tuple[dict[str, Any], Replication]:
    """Replication ``task[-1]`` of one candidate: its record and a light copy (no rows)."""
    prep = _prepare(task)
    return _light(prep, run_replication(prep, task[-1]))


def _light(prep: Prepared, rep: Replication) -> tuple[dict[str, Any], Replication]:
    """Summarize where the rows are, and keep only what the aggregate needs (the error log)."""
    light = dataclasses.replace(rep, requests={}, series=[])
    return summarize(prep, rep), light


def evaluate(task: Task) -> dict[str, Any]:
    """Simulate one candidate with ``task[-1]`` replications and summarize it."""
    prep = _prepare(task)
    return summarize_candidate(
        prep, [_light(prep, run_replication(prep, i)) for i in range(task[-1])]
    )


def summarize_candidate(
    prep: Prepared, parts: Sequence[tuple[dict[str, Any], Replication]]
) -> dict[str, Any]:
    """The figures the search compares, from a candidate's replications (in index order)."""
    records = tuple(rec for rec, _ in parts)
    res = RunResult(prepared=prep, records=records, replications=tuple(r for _, r in parts))
    d = res.to_dict()
    recs = res.records

    def err_rate(r: dict[str, Any]) -> float:
        bad = r["refused"] + r["timeout"] + r["reset"]
        return float(bad / max(bad + r["completed"], 1))

    out = {
        "throughput_rps": d["throughput_rps"],
        "throughput_rps_ci95": d["throughput_rps_ci95"],
        "p95_ms": d["latency_ms"]["p95"],
        "memory_peak_mib": d["memory_mib"]["peak"],
        "ram_exceeded": d["ram_exceeded"],
        "error_rate": round(float(np.mean([err_rate(r) for r in recs])), 6),
        "cpu_utilization": d["cpu_utilization"],
        "bottleneck": d["bottleneck"]["resource"],
        "warnings": d["warnings"],
        "effective_directives": d["effective_directives"],
        "per_rep": {
            "throughput_rps": [float(r["throughput_rps"]) for r in recs],
            "p95_ms": [float(r["latency_p95_ms"]) for r in recs],
        },
        "wall_s": d["sim"]["wall_s"],
    }
    result: dict[str, Any] = json.loads(json.dumps(out))  # what the cache would give back
    return result


class Search:
    """The state of one optimization: evaluated points, cache and executor."""

    def __init__(
        self,
        base: Scenario,
        *,
        source: str,
        base_dir: Path | None,
        goals: Goals,
        replications: int,
        tolerance: float,
        mapper: TaskMapper,
        cache: EvalCache,
        progress: Callable[[str], None] | None,
        budget: int | None = None,
        context: str = "",
    ) -> None:
        self.base = base
        self.context = context
        self.budget = budget
        self.scenario_json = base.model_dump_json(exclude_unset=True)
        self.source = source
        self.base_dir = str(base_dir) if base_dir else None
        self.goals = goals
        self.reps = replications
        self.tolerance = tolerance
        self.mapper = mapper
        self.cache = cache
        self.progress = progress
        self.evals: dict[Candidate, dict[str, Any]] = {}
        self.computed = 0
        self.rounds = 0

    # -- evaluation -------------------------------------------------------------------------------
    def run(self, cands: Sequence[Candidate]) -> None:
        """Evaluate the candidates not seen yet (cache first, then the executor)."""
        todo: list[tuple[Candidate, str, Task]] = []
        fresh = [c for c in dict.fromkeys(cands) if c not in self.evals]
        if self.budget is not None:
            fresh = fresh[: max(self.budget - len(self.evals), 0)]
        for c in fresh:
            if c in self.evals:
                continue
            ov = c.overrides()
            key = candidate_key(self.scenario_json, ov, self.base.seed, self.reps, self.context)
            hit = self.cache.get(key)
            if hit is not None:
                self.evals[c] = hit
                continue
            task: Task = (self.scenario_json, self.source, self.base_dir, ov, self.base.seed, 0)
            todo.append((c, key, task))
        # One task per replication, so that few candidates still fill every worker.
        r = self.reps
        parts: list[Task] = [(*t[:5], i) for _, _, t in todo for i in range(r)]
        done = self.mapper.map(simulate_replication, parts)
        for k, (c, key, task) in enumerate(todo, 1):  # cache each as soon as it is complete
            res = summarize_candidate(_prepare(task), [next(done) for _ in range(r)])
            self.cache.put(key, res)
            self.evals[c] = res
            self.computed += 1
            if k < len(todo):
                self._report(k, len(todo))
        self.rounds += 1

    def feasible(self, e: dict[str, Any]) -> bool:
        """Memory within the budget and the latency and error goals met."""
        g = self.goals
        if e["ram_exceeded"] or (e["memory_peak_mib"] or 0.0) > g.memory_budget_mib:
            return False
        if g.p95_ms is not None and (e["p95_ms"] is None or e["p95_ms"] > g.p95_ms):
            return False
        return bool(e["error_rate"] <= g.max_error_rate)

    def violated(self, e: dict[str, Any]) -> str:
        """The first goal a point misses: ram, p95 or error_rate (or none)."""
        g = self.goals
        if e["ram_exceeded"] or (e["memory_peak_mib"] or 0.0) > g.memory_budget_mib:
            return "ram"
        if g.p95_ms is not None and (e["p95_ms"] is None or e["p95_ms"] > g.p95_ms):
            return "p95"
        if e["error_rate"] > g.max_error_rate:
            return "error_rate"
        return "none"

    # -- choice -----------------------------------------------------------------------------------
    def choose(self, cands: Sequence[Candidate]) -> Candidate | None:
        """The preferred evaluated candidate among ``cands`` under the objective."""
        ok = [c for c in cands if c in self.evals and self.feasible(self.evals[c])]
        if not ok:
            return None
        cap = self.goals.offered_rps
        top = max(ok, key=lambda c: (credited(self.evals[c]["throughput_rps"], cap), -self._mem(c)))
        near = [c for c in ok if not better(self.evals[top], self.evals[c], self.tolerance, cap)]
        return min(
            near, key=lambda c: (self._mem(c), c.max_request_workers, c.spares != "given", c)
        )

    def _mem(self, c: Candidate) -> float:
        return float(self.evals[c]["memory_peak_mib"] or 0.0)

    # -- coarse to fine ---------------------------------------------------------------------------
    def search_mpm(self, mpm: str, lines: dict[int, list[int]], primary: int, knee: float) -> None:
        """Search one MPM: its ``primary`` ThreadsPerChild line in full, the others locally.

        The primary line starts at half, one and two times the analytic ``knee`` and halves the
        gaps beside its choice. Every other ThreadsPerChild is simulated (all in one batch) at
        the MaxRequestWorkers on either side of the primary's best; a line where one of them is
        preferred climbs to its neighbours while they are preferred.
        """
        order = sorted(lines, key=lambda t: (t != primary, t))
        best = self.line_search(mpm, order[0], lines[order[0]], start_points(lines[order[0]], knee))
        others = order[1:]
        if best is None:  # nothing feasible there: search every other line in full
            for tpc in others:
                self.line_search(mpm, tpc, lines[tpc], start_points(lines[tpc], knee))
            return
        cands = {t: [Candidate(mpm, m, t) for m in lines[t]] for t in others}
        first = {t: _around(cands[t], best.max_request_workers) for t in others}
        self._climb(first, cands, dict.fromkeys(others, best))

    def try_spares(
        self,
        lines: dict[tuple[str, int], list[int]],
        primaries: dict[str, int],
        knees: dict[str, float],
    ) -> None:
        """The other spare-settings policies (:data:`SPARES`) for every MPM searched.

        On an MPM's best sizes, each policy is simulated (all in one batch) and climbs along
        MaxRequestWorkers while preferred. An MPM where nothing met the goals searches its
        primary line in full under each policy: all-started children may remove the
        cold-start ramp that made it miss.
        """
        first: dict[tuple[str, str], list[Candidate]] = {}
        cands: dict[tuple[str, str], list[Candidate]] = {}
        rivals: dict[tuple[str, str], Candidate] = {}
        failed: list[str] = []
        for m in primaries:
            best = self.choose([c for c in self.evals if c.mpm == m and c.spares == "given"])
            if best is None:
                failed.append(m)
                continue
            line = lines[(m, best.threads_per_child)]
            for policy in SPARES[1:]:
                if self._same_spares(best, policy):
                    continue  # the scenario's spare settings already are this policy's
                key = (m, policy)
                cands[key] = [Candidate(m, x, best.threads_per_child, policy) for x in line]
                first[key] = [best.with_spares(policy)]
                rivals[key] = best
        if first:
            self._climb(first, cands, rivals)
        for m in failed:
            line = lines[(m, primaries[m])]
            for policy in SPARES[1:]:
                self.line_search(m, primaries[m], line, start_points(line, knees[m]), policy)

    def _same_spares(self, c: Candidate, policy: str) -> bool:
        """True when ``policy`` sets what ``c`` (simulated) already ran with."""
        ran = self.evals[c]["effective_directives"]
        wanted = spare_directives(c.mpm, policy, c.max_request_workers, c.threads_per_child)
        return all(ran.get(k) == v for k, v in wanted.items())

    def _climb(
        self,
        first: Mapping[K, list[Candidate]],
        cands: Mapping[K, list[Candidate]],
        rivals: Mapping[K, Candidate],
    ) -> None:
        """Simulate ``first`` of every line in one batch; where one beats its line's rival,
        move to a preferred neighbour on the line until none is (all lines in step)."""
        self.run([c for k in first for c in first[k]])
        self._report()
        here = {k: self.choose([rivals[k], *first[k]]) for k in first}
        active = {k: c for k, c in here.items() if c is not None and c != rivals[k]}
        visited = set(active.values())
        while active and not self.exhausted():
            near = {k: _neighbours(cands[k], c) for k, c in active.items()}
            todo = [c for k in active for c in near[k] if c not in self.evals]
            if todo:
                self.run(todo)
                self._report()
            moved = {k: self.choose([c, *near[k]]) for k, c in active.items()}
            active = {k: c for k, c in moved.items() if c is not None and c not in visited}
            visited.update(active.values())

    def line_search(
        self, mpm: str, tpc: int, line: list[int], start: Sequence[int], spares: str = "given"
    ) -> Candidate | None:
        """Simulate ``start``, then halve the gaps beside the line's choice until none is left."""
        cands = [Candidate(mpm, m, tpc, spares) for m in line]
        todo = [Candidate(mpm, m, tpc, spares) for m in dict.fromkeys(start)]
        while todo and not self.exhausted():
            self.run(todo)
            self._report()
            todo = self._gaps(cands)
        return self.choose(cands)

    def exhausted(self) -> bool:
        """True when the simulation budget is spent."""
        return self.budget is not None and len(self.evals) >= self.budget

    def _gaps(self, cands: list[Candidate]) -> list[Candidate]:
        """Points inside the unexplored gaps next to the line's current choice.

        With the choice at ``i`` and its nearest simulated neighbours ``L < i < R``: the gap
        towards ``L`` is always probed (a smaller configuration may do as well for less memory, or
        the peak may lie there); the gap towards ``R`` unless ``R`` meets the goals and is not
        significantly worse (then nothing in between can be preferred). Two gaps are halved; a
        single gap is cut in thirds, so that a round has two points to run in parallel. With
        nothing feasible yet, the gaps beside the point with the least p95 are probed.
        """
        seen = [i for i, c in enumerate(cands) if c in self.evals]
        chosen = self.choose(cands)
        if chosen is None:
            pending = [cands[i] for i in seen if self.violated(self.evals[cands[i]]) != "ram"]
            if not pending:
                return []
            chosen = min(pending, key=lambda c: (self.evals[c]["p95_ms"] or float("inf"), c))
        i = cands.index(chosen)
        out: list[Candidate] = []
        gaps: list[tuple[int, int]] = []
        # A side with no simulated point yet starts from the line's end (as the coarse points do).
        left = max((j for j in seen if j < i), default=None if i == 0 else -1)
        if left == -1:
            out.append(cands[0])
        elif left is not None and i - left > 1:
            gaps.append((left, i))
        right = min((j for j in seen if j > i), default=None if i == len(cands) - 1 else -1)
        if right == -1:
            out.append(cands[-1])
        elif right is not None and right - i > 1:
            r = self.evals[cands[right]]
            cap = self.goals.offered_rps
            near = self.feasible(r) and not better(self.evals[chosen], r, self.tolerance, cap)
            if not near:
                gaps.append((i, right))
        if len(gaps) == 1 and not out and gaps[0][1] - gaps[0][0] > 2:
            # One gap left: its thirds, so that a round still fills two workers.
            lo, hi = gaps[0]
            return [cands[lo + round((hi - lo) * k / 3)] for k in (1, 2)]
        return out + [cands[(lo + hi) // 2] for lo, hi in gaps]

    def _report(self, done: int = 0, total: int = 0) -> None:
        """Progress: a bar over the round's points (while it runs) and the best so far."""
        if self.progress is None:
            return
        best = self.choose(list(self.evals))
        text = "none feasible yet"
        if best is not None:
            e = self.evals[best]
            text = f"{best.label()}: {e['throughput_rps']:.1f} req/s, p95 {e['p95_ms']} ms"
        bar = ""
        if total:
            filled = round(10 * done / total)
            bar = f"[{'#' * filled}{'.' * (10 - filled)}] {done}/{total} of this round, "
        self.progress(
            f"optimize: round {self.rounds + (1 if total else 0)}, {bar}{len(self.evals)} point(s)"
            f" simulated; best so far {text}"
        )


def optimize(
    scenario: Scenario | str | Path,
    *,
    mpm: str | None = None,
    ram_mib: float | None = None,
    p95_ms: float | None = None,
    max_error_rate: float = 0.01,
    headroom: float = 0.1,
    replications: int = 3,
    seed: int | None = None,
    tolerance: float = 0.01,
    jobs: int = 1,
    scheduler: str | None = None,
    budget: int | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    full_grid: bool = False,
    spares: bool = False,
    progress: Callable[[str], None] | None = None,
) -> OptimizeResult:
    """Find the best MaxRequestWorkers / ThreadsPerChild / ServerLimit (and MPM with ``all``).

    Objective: the highest throughput whose peak memory fits in RAM - os_reserved (less
    ``headroom``) and whose p95 and error rate meet the goals; among configurations whose
    throughput is not significantly different, the one with the least memory. ``spares`` also
    tries Apache's default and the all-started spare settings on each MPM's best sizes.
    ``full_grid`` simulates the whole unpruned grid instead (the benchmark's reference answer).
    """
    t0 = time.perf_counter()
    sets = () if ram_mib is None else (f"hardware.ram_mib={ram_mib}",)
    if isinstance(scenario, Scenario):
        source, base_dir = "<scenario>", None
        data = json.loads(scenario.model_dump_json(exclude_unset=True))
        base = load_scenario_data(data, source=source, overrides=sets)
    else:
        source, base_dir = str(scenario), Path(scenario).resolve().parent
        base = load_scenario(scenario, sets)
    if seed is not None:
        base = base.model_copy(update={"seed": seed})
    _check(headroom, max_error_rate, replications, tolerance, p95_ms, budget)
    prep = prepare(base, source=source, base_dir=base_dir)
    mpms = _mpms(mpm, prep.mpm)
    bounds = analytic_bounds(prep, headroom)
    goals = Goals(bounds.memory_budget_mib, p95_ms, max_error_rate, headroom, bounds.offered_rps)
    lines: dict[tuple[str, int], list[int]] = {}
    ram_top: dict[tuple[str, int], bool] = {}
    grid = 0
    knees: dict[str, float] = {}
    for m in mpms:
        server = base.server.model_copy(update={"mpm": m})
        mprep = prepare(
            base.model_copy(update={"server": server}), source=source, base_dir=base_dir
        )
        mbounds = analytic_bounds(mprep, headroom)
        knees[m] = useful_workers(mprep, m, mbounds)
        for tpc in tpc_choices(m):
            grid += len(full_line(m, tpc))
            line, at_ram = pruned_line(mprep, m, tpc, mbounds)
            if full_grid:
                line = full_line(m, tpc)
            if line:
                lines[(m, tpc)] = line
                ram_top[(m, tpc)] = at_ram
    if not lines:
        raise InputError(
            f"no configuration fits in {bounds.memory_budget_mib:.0f} MiB (RAM - os_reserved_mib,"
            f" less {headroom:.0%} headroom)",
            field="--ram-mib",
        )
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    cache = EvalCache(folder, reuse=resume)
    with TaskMapper(jobs, scheduler) as mapper:
        search = Search(
            base, source=source, base_dir=base_dir, goals=goals, replications=replications,
            tolerance=tolerance, mapper=mapper, cache=cache, progress=progress, budget=budget,
            context=_context(prep),
        )  # fmt: skip
        primaries: dict[str, int] = {}
        if full_grid:
            search.run([Candidate(m, x, t) for (m, t), line in lines.items() for x in line])
        else:
            for m in mpms:
                mine = {t: line for (name, t), line in lines.items() if name == m}
                if mine:
                    primaries[m] = _primary_tpc(mine, prep.directives.ThreadsPerChild)
                    search.search_mpm(m, mine, primaries[m], knees[m])
        if spares:
            search.try_spares(lines, primaries, knees)
        kind = mapper.kind
    timing = {
        "wall_s": round(time.perf_counter() - t0, 3),
        "executor": kind,
        "jobs": jobs,
        "computed": search.computed,
        "cache_hits": cache.hits,
        "cache_dir": None if folder is None else str(folder),
        "cache_problem": cache.problem,
    }
    return build_result(
        search, prep=prep, bounds=bounds, lines=lines, ram_top=ram_top, grid_size=grid,
        objective="throughput" if not isinstance(base.load, OpenLoad) else "memory@load",
        timing=timing, base_sets=sets,
    )  # fmt: skip


def _check(
    headroom: float,
    max_error_rate: float,
    reps: int,
    tolerance: float,
    p95_ms: float | None,
    budget: int | None,
) -> None:
    if not 0 <= headroom < 1:
        raise InputError(f"must be in [0, 1), got {headroom}", field="--headroom")
    if not 0 <= max_error_rate <= 1:
        raise InputError(f"must be in [0, 1], got {max_error_rate}", field="--max-error-rate")
    if reps < 2:
        raise InputError("needs >= 2 replications for confidence intervals", field="--replications")
    if tolerance < 0:
        raise InputError(f"must be >= 0, got {tolerance}", field="--tolerance")
    if p95_ms is not None and p95_ms <= 0:
        raise InputError(f"must be > 0, got {p95_ms}", field="--p95-ms")
    if budget is not None and budget < 1:
        raise InputError(f"must be >= 1, got {budget}", field="--budget")


def _mpms(mpm: str | None, scenario_mpm: str) -> tuple[str, ...]:
    if mpm is None:
        return (scenario_mpm,)
    if mpm == "all":
        return MPM_NAMES
    if mpm not in MPM_NAMES:
        raise InputError(f"expected prefork, worker, event or all, got {mpm!r}", field="--mpm")
    return (mpm,)


def _around(cands: list[Candidate], target: int) -> list[Candidate]:
    """The candidates of a line on either side of MaxRequestWorkers ``target`` (one if exact)."""
    below = [c for c in cands if c.max_request_workers <= target][-1:]
    above = [c for c in cands if c.max_request_workers >= target][:1]
    return list(dict.fromkeys(below + above))


def _neighbours(cands: list[Candidate], c: Candidate) -> list[Candidate]:
    """The candidates next to ``c`` on its line."""
    i = cands.index(c)
    return [cands[j] for j in (i - 1, i + 1) if 0 <= j < len(cands)]


def _primary_tpc(lines: dict[int, list[int]], given: int) -> int:
    """The ThreadsPerChild searched in full: the scenario's when it is a choice, else the least."""
    return given if given in lines else min(lines)


def _context(prep: Prepared) -> str:
    """What the cache key needs beyond the scenario text: resolved inputs and the version."""
    parts = (__version__, prep.hardware, prep.costs, prep.directives, prep.classes)
    return "\n".join(repr(p) for p in parts)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mpmsim/optimize`` (``~/.cache/mpmsim/optimize``): keys are content hashes,
    so one folder serves every scenario, and no folder the user owns is written to."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mpmsim" / "optimize"
