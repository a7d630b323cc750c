"""The search of ``mpmsim optimize``: which candidates to simulate, and which one is preferred.

Every candidate runs with the same seed (common random numbers) and the same replications, so
two candidates are compared replication by replication: one counts as better only when the 95 %
confidence interval of the paired differences excludes zero and the gap exceeds ``tolerance``.
Where a line search probes next is :mod:`mpmsim.search.line_gaps`; the variants tried on each
MPM's best (spare settings, KeepAlive, the PHP-FPM pool) are :mod:`mpmsim.search.variants`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mpmsim.engine.executors import TaskMapper
from mpmsim.search.cache import EvalCache, candidate_key
from mpmsim.search.evaluate import Task, prepare_task, simulate_replication, summarize_candidate
from mpmsim.search.goals import Achieved, Goals, assess, first_missed
from mpmsim.search.line_gaps import gaps
from mpmsim.search.line_points import around, line_spec, neighbours, start_points
from mpmsim.search.result import better, credited
from mpmsim.search.space import Candidate
from mpmsim.spec.scenario import Scenario

K = TypeVar("K", bound=Hashable)


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
            ov = c.overrides(self.base.server.directives)
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
            res = summarize_candidate(prepare_task(task), [next(done) for _ in range(r)])
            self.cache.put(key, res)
            self.evals[c] = res
            self.computed += 1
            if k < len(todo):
                self._report(k, len(todo))
        self.rounds += 1

    def feasible(self, e: dict[str, Any]) -> bool:
        """Every goal met (:mod:`mpmsim.search.goals`): memory, throughput, p95, error rate."""
        return self.violated(e) == "none"

    def violated(self, e: dict[str, Any]) -> str:
        """The first goal a point misses: ram, p95, error_rate or throughput (or none)."""
        return first_missed(self.checks(e))

    def checks(self, e: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Each goal checked against the point ``e``'s figures."""
        return assess(self.goals, Achieved.from_summary(e))

    # -- choice -----------------------------------------------------------------------------------
    def choose(self, cands: Sequence[Candidate]) -> Candidate | None:
        """The preferred evaluated candidate among ``cands`` under the objective."""
        ok = [c for c in cands if c in self.evals and self.feasible(self.evals[c])]
        if not ok:
            return None
        cap = self.goals.throughput_target
        top = max(
            ok, key=lambda c: (credited(self.evals[c]["throughput_rps"], cap), -self.memory_mib(c))
        )
        near = [c for c in ok if not better(self.evals[top], self.evals[c], self.tolerance, cap)]
        return min(near, key=lambda c: (self.memory_mib(c), c.max_request_workers, _changes(c), c))

    def memory_mib(self, c: Candidate) -> float:
        """The peak memory of the simulated candidate ``c`` (0 when it has none)."""
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
        first = {t: around(cands[t], best.max_request_workers) for t in others}
        self.climb(first, cands, dict.fromkeys(others, best))

    def climb(
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
            near = {k: neighbours(cands[k], c) for k, c in active.items()}
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
        """Simulate ``start``, then probe the gaps beside the line's choice until none is left."""
        spec = line_spec(Candidate(mpm, line[0], tpc, spares), line, start)
        self.line_searches([spec])
        return self.choose(spec[0])

    def line_searches(self, specs: Sequence[tuple[list[Candidate], list[Candidate]]]) -> None:
        """Several line searches in step, so that each round runs all their points together.

        ``specs`` holds, per line, its candidates (sorted by MaxRequestWorkers) and its start.
        """
        todo = [c for _, start in specs for c in start]
        while todo and not self.exhausted():
            self.run(todo)
            self._report()
            todo = [c for cands, _ in specs for c in gaps(self, cands)]

    def exhausted(self) -> bool:
        """True when the simulation budget is spent."""
        return self.budget is not None and len(self.evals) >= self.budget

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


def _changes(c: Candidate) -> int:
    """How many of the scenario's own settings ``c`` changes (ties go to fewer changes)."""
    return int(c.spares != "given") + int(c.keepalive != "given")
