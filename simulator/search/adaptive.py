"""The search of ``mpmsim optimize``: which candidates to simulate, and which one is preferred.

Every candidate runs with the same seed (common random numbers) and the same replications, so
two candidates are compared replication by replication: one counts as better only when the 95 %
confidence interval of the paired differences excludes zero and the gap exceeds ``tolerance``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mpmsim.engine.executors import TaskMapper
from mpmsim.search.cache import EvalCache, candidate_key
from mpmsim.search.evaluate import Task, prepare_task, simulate_replication, summarize_candidate
from mpmsim.search.goals import Achieved, Goals, assess, first_missed
from mpmsim.search.line_points import around, line_spec, neighbours, start_points
from mpmsim.search.result import better, credited, p95_lower
from mpmsim.search.space import (
    KEEPALIVE,
    SPARES,
    Candidate,
    keepalive_directives,
    spare_directives,
)
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
        top = max(ok, key=lambda c: (credited(self.evals[c]["throughput_rps"], cap), -self._mem(c)))
        near = [c for c in ok if not better(self.evals[top], self.evals[c], self.tolerance, cap)]
        return min(near, key=lambda c: (self._mem(c), c.max_request_workers, _changes(c), c))

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
        first = {t: around(cands[t], best.max_request_workers) for t in others}
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
                wanted = spare_directives(
                    m, policy, best.max_request_workers, best.threads_per_child
                )
                if self._already_ran(best, wanted):
                    continue  # the scenario's spare settings already are this policy's
                key = (m, policy)
                cands[key] = [Candidate(m, x, best.threads_per_child, policy) for x in line]
                first[key] = [best.with_spares(policy)]
                rivals[key] = best
        if first:
            self._climb(first, cands, rivals)
        specs: list[tuple[list[Candidate], list[Candidate]]] = []
        for m in failed:
            line = lines[(m, primaries[m])]
            for policy in SPARES[1:]:
                proto = Candidate(m, line[0], primaries[m], policy)
                specs.append(line_spec(proto, line, start_points(line, knees[m])))
        self.line_searches(specs)

    def _already_ran(self, c: Candidate, wanted: Mapping[str, int | str]) -> bool:
        """True when ``c`` (simulated) already ran with the ``wanted`` directive values."""
        ran = self.evals[c]["effective_directives"]
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
            todo = [c for cands, _ in specs for c in self._gaps(cands)]

    def try_keepalive(
        self,
        spaces: Mapping[tuple[str, str], tuple[Mapping[int, list[int]], float]],
        primaries: Mapping[str, int],
    ) -> None:
        """The other KeepAlive policies (:data:`KEEPALIVE`) for every MPM searched.

        KeepAlive changes how many connections hold a worker, so each policy gets a line search
        of its own (from its own analytic knee, in ``spaces[(mpm, policy)]``) on the
        ThreadsPerChild and spare settings of the MPM's best so far (its primary line if none).
        All lines run in step.
        """
        specs: list[tuple[list[Candidate], list[Candidate]]] = []
        for m, primary in primaries.items():
            best = self.choose([c for c in self.evals if c.mpm == m])
            tpc = best.threads_per_child if best is not None else primary
            spares = best.spares if best is not None else "given"
            for policy in KEEPALIVE[1:]:
                if best is not None and self._already_ran(best, keepalive_directives(policy)):
                    continue  # the scenario already runs this policy
                lines, knee = spaces[(m, policy)]
                line = lines.get(tpc)
                if not line:
                    continue
                proto = Candidate(m, line[0], tpc, spares, policy)
                specs.append(line_spec(proto, line, start_points(line, knee)))
        self.line_searches(specs)

    def try_fpm_children(
        self, mpm: str, pool: str, line: list[int], start: list[int], given: int
    ) -> None:
        """The PHP-FPM pool's line (pm.max_children) at the MPM's best Apache settings.

        ``given`` is the pool's size the MaxRequestWorkers search ran with: that point is the
        best candidate itself, the others are the same Apache settings with another static pool.
        """
        mine = [c for c in self.evals if c.mpm == mpm]
        best = self.choose(mine) or max(
            mine, key=lambda c: self.evals[c]["throughput_rps"], default=None
        )
        if best is None or not line:
            return
        base = best if not best.fpm_children else best.with_children("", 0)
        cands = [
            base if n == given and base in self.evals else base.with_children(pool, n) for n in line
        ]
        self.line_searches([(cands, [cands[line.index(n)] for n in start])])

    def exhausted(self) -> bool:
        """True when the simulation budget is spent."""
        return self.budget is not None and len(self.evals) >= self.budget

    def _gaps(self, cands: list[Candidate]) -> list[Candidate]:
        """Points inside the unexplored gaps next to the line's current choice.

        With the choice at ``i`` and its nearest simulated neighbours ``L < i < R``: the gap
        towards ``L`` is always probed (a smaller configuration may do as well for less memory, or
        the peak may lie there); the gap towards ``R`` unless ``R`` meets the goals and is not
        significantly worse (then nothing in between can be preferred). Two gaps are halved; a
        single gap is cut in thirds, so that a round has two points to run in parallel. The
        neighbours of the highest throughput are probed too (:meth:`_peak_neighbours`). With
        nothing feasible yet, the gaps beside the point with the least p95 are probed, unless
        they look flat (same goal missed, p95 not significantly higher at the far end).
        """
        seen = [i for i, c in enumerate(cands) if c in self.evals]
        chosen = self.choose(cands)
        hunting = chosen is None  # nothing meets the goals yet: follow the p95
        if chosen is None:
            pending = [cands[i] for i in seen if self.violated(self.evals[cands[i]]) != "ram"]
            if not pending:
                return []
            chosen = min(pending, key=lambda c: (self.evals[c]["p95_ms"] or float("inf"), c))
        i = cands.index(chosen)
        here = self.evals[chosen]

        def worth(j: int) -> bool:
            """While hunting, a gap is a plateau unless its far end misses another goal or has
            a significantly higher p95."""
            e = self.evals[cands[j]]
            return (
                not hunting
                or self.violated(e) != self.violated(here)
                or p95_lower(here, e, self.tolerance)
            )

        out: list[Candidate] = []
        gaps: list[tuple[int, int]] = []
        # A side with no simulated point yet starts from the line's end (as the coarse points do).
        left = max((j for j in seen if j < i), default=None if i == 0 else -1)
        if left == -1:
            out.append(cands[0])
        elif left is not None and i - left > 1 and worth(left):
            gaps.append((left, i))
        right = min((j for j in seen if j > i), default=None if i == len(cands) - 1 else -1)
        if right == -1:
            out.append(cands[-1])
        elif right is not None and right - i > 1 and worth(right):
            r = self.evals[cands[right]]
            cap = self.goals.throughput_target
            near = self.feasible(r) and not better(here, r, self.tolerance, cap)
            if not near:
                gaps.append((i, right))
        if len(gaps) == 1 and not out and gaps[0][1] - gaps[0][0] > 2:
            # One gap left: its thirds, so that a round still fills two workers.
            lo, hi = gaps[0]
            out += [cands[lo + round((hi - lo) * k / 3)] for k in (1, 2)]
        else:
            out += [cands[(lo + hi) // 2] for lo, hi in gaps]
        return list(dict.fromkeys(out + self._peak_neighbours(cands)))

    def _peak_neighbours(self, cands: list[Candidate]) -> list[Candidate]:
        """The unsimulated neighbours of the line's highest feasible throughput.

        The choice may sit on a level stretch on one side of a peak with the far end level too;
        only the peak's own neighbours show that it is one (on a single-peaked curve, a point
        no lower than both neighbours is the highest of the line).
        """
        cap = self.goals.throughput_target
        ok = [c for c in cands if c in self.evals and self.feasible(self.evals[c])]
        if not ok:
            return []

        def level(c: Candidate) -> float:
            return credited(self.evals[c]["throughput_rps"], cap)

        highest = max(level(c) for c in ok)
        tops = [c for c in ok if level(c) == highest]
        if any(all(n in self.evals for n in neighbours(cands, c)) for c in tops):
            # One of them is no lower than both its neighbours: the peak is known (a level one
            # too). Probing the next equal point's neighbour walked a plateau one point a round.
            return []
        top = min(tops, key=lambda c: (self._mem(c), c.max_request_workers))
        return [c for c in neighbours(cands, top) if c not in self.evals]

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
