"""Variants of each MPM's best sizing that ``mpmsim optimize`` tries after the line searches:
the other spare-settings policies (``--spares``), the other KeepAlive policies
(``--keepalive``) and the PHP-FPM pool's size (pm.max_children), each run by a
:class:`mpmsim.search.adaptive.Search`."""

from __future__ import annotations

from collections.abc import Mapping

from mpmsim.search.adaptive import Search
from mpmsim.search.line_points import line_spec, start_points
from mpmsim.search.space import (
    KEEPALIVE,
    SPARES,
    Candidate,
    keepalive_directives,
    spare_directives,
)


def try_spares(
    search: Search,
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
        best = search.choose([c for c in search.evals if c.mpm == m and c.spares == "given"])
        if best is None:
            failed.append(m)
            continue
        line = lines[(m, best.threads_per_child)]
        for policy in SPARES[1:]:
            wanted = spare_directives(m, policy, best.max_request_workers, best.threads_per_child)
            if _already_ran(search, best, wanted):
                continue  # the scenario's spare settings already are this policy's
            key = (m, policy)
            cands[key] = [Candidate(m, x, best.threads_per_child, policy) for x in line]
            first[key] = [best.with_spares(policy)]
            rivals[key] = best
    if first:
        search.climb(first, cands, rivals)
    specs: list[tuple[list[Candidate], list[Candidate]]] = []
    for m in failed:
        line = lines[(m, primaries[m])]
        for policy in SPARES[1:]:
            proto = Candidate(m, line[0], primaries[m], policy)
            specs.append(line_spec(proto, line, start_points(line, knees[m])))
    search.line_searches(specs)


def try_keepalive(
    search: Search,
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
        best = search.choose([c for c in search.evals if c.mpm == m])
        tpc = best.threads_per_child if best is not None else primary
        spares = best.spares if best is not None else "given"
        for policy in KEEPALIVE[1:]:
            if best is not None and _already_ran(search, best, keepalive_directives(policy)):
                continue  # the scenario already runs this policy
            lines, knee = spaces[(m, policy)]
            line = lines.get(tpc)
            if not line:
                continue
            proto = Candidate(m, line[0], tpc, spares, policy)
            specs.append(line_spec(proto, line, start_points(line, knee)))
    search.line_searches(specs)


def try_fpm_children(
    search: Search, mpm: str, pool: str, line: list[int], start: list[int], given: int
) -> None:
    """The PHP-FPM pool's line (pm.max_children) at the MPM's best Apache settings.

    ``given`` is the pool's size the MaxRequestWorkers search ran with: that point is the
    best candidate itself, the others are the same Apache settings with another static pool.
    """
    mine = [c for c in search.evals if c.mpm == mpm]
    best = search.choose(mine) or max(
        mine, key=lambda c: search.evals[c]["throughput_rps"], default=None
    )
    if best is None or not line:
        return
    base = best if not best.fpm_children else best.with_children("", 0)
    cands = [
        base if n == given and base in search.evals else base.with_children(pool, n) for n in line
    ]
    search.line_searches([(cands, [cands[line.index(n)] for n in start])])


def _already_ran(search: Search, c: Candidate, wanted: Mapping[str, int | str]) -> bool:
    """True when ``c`` (simulated) already ran with the ``wanted`` directive values."""
    ran = search.evals[c]["effective_directives"]
    return all(ran.get(k) == v for k, v in wanted.items())


__all__ = ["try_fpm_children", "try_keepalive", "try_spares"]
