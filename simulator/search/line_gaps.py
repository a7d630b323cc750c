"""Where a line search probes next: the unexplored gaps beside the line's current choice, and
the unsimulated neighbours of its highest throughput. Each round of
:meth:`mpmsim.search.adaptive.Search.line_searches` runs the points :func:`gaps` returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from mpmsim.search.goals import Goals
from mpmsim.search.line_points import neighbours
from mpmsim.search.result import better, credited, p95_lower
from mpmsim.search.space import Candidate


class SearchView(Protocol):
    """What the gaps read of a search (:class:`mpmsim.search.adaptive.Search`)."""

    evals: dict[Candidate, dict[str, Any]]
    goals: Goals
    tolerance: float

    def feasible(self, e: dict[str, Any]) -> bool: ...

    def violated(self, e: dict[str, Any]) -> str: ...

    def choose(self, cands: Sequence[Candidate]) -> Candidate | None: ...

    def memory_mib(self, c: Candidate) -> float: ...


def gaps(search: SearchView, cands: list[Candidate]) -> list[Candidate]:
    """Points inside the unexplored gaps next to the line's current choice.

    With the choice at ``i`` and its nearest simulated neighbours ``L < i < R``: the gap
    towards ``L`` is always probed (a smaller configuration may do as well for less memory, or
    the peak may lie there); the gap towards ``R`` unless ``R`` meets the goals and is not
    significantly worse (then nothing in between can be preferred). Two gaps are halved; a
    single gap is cut in thirds, so that a round has two points to run in parallel. The
    neighbours of the highest throughput are probed too (:func:`_peak_neighbours`). With
    nothing feasible yet, the gaps beside the point with the least p95 are probed, unless
    they look flat (same goal missed, p95 not significantly higher at the far end).
    """
    evals = search.evals
    seen = [i for i, c in enumerate(cands) if c in evals]
    chosen = search.choose(cands)
    hunting = chosen is None  # nothing meets the goals yet: follow the p95
    if chosen is None:
        pending = [cands[i] for i in seen if search.violated(evals[cands[i]]) != "ram"]
        if not pending:
            return []
        chosen = min(pending, key=lambda c: (evals[c]["p95_ms"] or float("inf"), c))
    i = cands.index(chosen)
    here = evals[chosen]

    def worth(j: int) -> bool:
        """While hunting, a gap is a plateau unless its far end misses another goal or has
        a significantly higher p95."""
        e = evals[cands[j]]
        return (
            not hunting
            or search.violated(e) != search.violated(here)
            or p95_lower(here, e, search.tolerance)
        )

    out: list[Candidate] = []
    open_gaps: list[tuple[int, int]] = []
    # A side with no simulated point yet starts from the line's end (as the coarse points do).
    left = max((j for j in seen if j < i), default=None if i == 0 else -1)
    if left == -1:
        out.append(cands[0])
    elif left is not None and i - left > 1 and worth(left):
        open_gaps.append((left, i))
    right = min((j for j in seen if j > i), default=None if i == len(cands) - 1 else -1)
    if right == -1:
        out.append(cands[-1])
    elif right is not None and right - i > 1 and worth(right):
        r = evals[cands[right]]
        cap = search.goals.throughput_target
        near = search.feasible(r) and not better(here, r, search.tolerance, cap)
        if not near:
            open_gaps.append((i, right))
    if len(open_gaps) == 1 and not out and open_gaps[0][1] - open_gaps[0][0] > 2:
        # One gap left: its thirds, so that a round still fills two workers.
        lo, hi = open_gaps[0]
        out += [cands[lo + round((hi - lo) * k / 3)] for k in (1, 2)]
    else:
        out += [cands[(lo + hi) // 2] for lo, hi in open_gaps]
    return list(dict.fromkeys(out + _peak_neighbours(search, cands)))


def _peak_neighbours(search: SearchView, cands: list[Candidate]) -> list[Candidate]:
    """The unsimulated neighbours of the line's highest feasible throughput.

    The choice may sit on a level stretch on one side of a peak with the far end level too;
    only the peak's own neighbours show that it is one (on a single-peaked curve, a point
    no lower than both neighbours is the highest of the line).
    """
    evals = search.evals
    cap = search.goals.throughput_target
    ok = [c for c in cands if c in evals and search.feasible(evals[c])]
    if not ok:
        return []

    def level(c: Candidate) -> float:
        return credited(evals[c]["throughput_rps"], cap)

    highest = max(level(c) for c in ok)
    tops = [c for c in ok if level(c) == highest]
    if any(all(n in evals for n in neighbours(cands, c)) for c in tops):
        # One of them is no lower than both its neighbours: the peak is known (a level one
        # too). Probing the next equal point's neighbour walked a plateau one point a round.
        return []
    top = min(tops, key=lambda c: (search.memory_mib(c), c.max_request_workers))
    return [c for c in neighbours(cands, top) if c not in evals]


__all__ = ["gaps"]
