"""The points of one line search: one MPM and ThreadsPerChild, MaxRequestWorkers along the line
(``space.full_line``, a child's threads apart): where a search starts, the point nearest a
figure, the points around a target, a point's neighbours, and a line search's candidates."""

from __future__ import annotations

from collections.abc import Sequence

from mpmsim.search.space import Candidate


def start_points(line: list[int], knee: float) -> list[int]:
    """First points of a line search: half the knee, the knee and twice it (ends if they clash)."""
    picked = {closest(line, k) for k in (knee / 2, knee, 2 * knee)}
    n = len(line)
    for i in (0, n - 1, (n - 1) // 2):
        if len(picked) >= min(3, n):
            break
        picked.add(line[i])
    return sorted(picked)


def closest(line: list[int], m: float) -> int:
    """The point of ``line`` nearest to ``m`` (the smaller one on a tie)."""
    return min(line, key=lambda x: (abs(x - m), x))


def line_spec(
    proto: Candidate, line: list[int], start: Sequence[int]
) -> tuple[list[Candidate], list[Candidate]]:
    """A line search's spec: ``proto``'s family along ``line``, and its ``start`` points."""
    return [proto.sibling(m) for m in line], [proto.sibling(m) for m in dict.fromkeys(start)]


def around(cands: list[Candidate], target: int) -> list[Candidate]:
    """The candidates of a line on either side of MaxRequestWorkers ``target`` (one if exact)."""
    below = [c for c in cands if c.max_request_workers <= target][-1:]
    above = [c for c in cands if c.max_request_workers >= target][:1]
    return list(dict.fromkeys(below + above))


def neighbours(cands: list[Candidate], c: Candidate) -> list[Candidate]:
    """The candidates next to ``c`` on its line."""
    i = cands.index(c)
    return [cands[j] for j in (i - 1, i + 1) if 0 <= j < len(cands)]


__all__ = ["around", "closest", "line_spec", "neighbours", "start_points"]
