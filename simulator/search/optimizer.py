"""``mpmsim optimize``: the best MPM sizing by analytic bounds, then adaptive simulation.

This module sets the problem up (the scenario, the goals, the grid lines each MPM may use and
their analytic knees), runs :class:`mpmsim.search.adaptive.Search` on an executor and hands the
evaluated points to :func:`mpmsim.search.result.build_result`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpmsim import __version__
from mpmsim.engine.executors import TaskMapper
from mpmsim.errors import InputError
from mpmsim.search.adaptive import Search
from mpmsim.search.cache import EvalCache, code_fingerprint
from mpmsim.search.goals import DEFAULT_HEADROOM, Goals, goals_for
from mpmsim.search.php import PHP_MPMS, php_classes
from mpmsim.search.php_sizing import php_sets, size_pools
from mpmsim.search.result import OptimizeResult, build_result
from mpmsim.search.row_notes import nothing_fits_advice
from mpmsim.search.space import (
    KEEPALIVE,
    Bounds,
    Candidate,
    analytic_bounds,
    full_line,
    keepalive_directives,
    pruned_line,
    tpc_choices,
    useful_workers,
)
from mpmsim.search.variants import try_keepalive, try_spares
from mpmsim.spec.reading import load_base
from mpmsim.spec.resolve import Prepared, prepare
from mpmsim.spec.scenario import ClosedLoad, OpenLoad, Scenario

MPM_NAMES = ("prefork", "worker", "event")
DEFAULT_REPLICATIONS = 3
"""Replications per candidate unless the scenario or the caller asks for more."""


def optimize(
    scenario: Scenario | str | Path,
    *,
    mpm: str | None = None,
    ram_mib: float | None = None,
    p95_ms: float | None = None,
    max_error_rate: float = 0.01,
    headroom: float = DEFAULT_HEADROOM,
    target_rps: float | None = None,
    replications: int | None = None,
    seed: int | None = None,
    tolerance: float = 0.01,
    jobs: int = 1,
    scheduler: str | None = None,
    budget: int | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    full_grid: bool = False,
    spares: bool = False,
    keepalive: bool = False,
    overrides: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> OptimizeResult:
    """Find the best MaxRequestWorkers / ThreadsPerChild / ServerLimit (and MPM with ``all``).

    Objective: the highest throughput whose peak memory fits in RAM - os_reserved (less
    ``headroom``) and whose p95 and error rate meet the goals; among configurations whose
    throughput is not significantly different, the one with the least memory. An open load's
    offered rate (or ``target_rps``) is a goal too (:mod:`mpmsim.search.goals`); with nothing
    meeting every goal, ``winner`` is None and ``closest`` and ``advice`` say how far off.
    ``spares`` and ``keepalive`` also try other spare and KeepAlive settings on each MPM's best;
    ``overrides`` are ``--set`` assignments applied first (``hardware=t3.large``);
    ``full_grid`` simulates the whole unpruned grid (the benchmark's reference answer).
    """
    t0 = time.perf_counter()
    sets = (*overrides, *(() if ram_mib is None else (f"hardware.ram_mib={ram_mib}",)))
    base, source, base_dir, sets = _setups(scenario, sets, seed, mpm, headroom)
    if replications is None:  # the scenario's, when it asks for enough to compare candidates
        replications = max(base.replications, DEFAULT_REPLICATIONS)
    _check(headroom, max_error_rate, replications, tolerance, p95_ms, budget, target_rps)
    prep = prepare(base, source=source, base_dir=base_dir)
    mpms = PHP_MPMS if mpm == "all" and php_classes(base) else _mpms(mpm, prep.mpm)
    bounds, goals = _goals(prep, p95_ms, max_error_rate, headroom, target_rps)
    grid = _grid(base, mpms, source, base_dir, headroom, full_grid, keepalive)
    unfit = _nothing_fits(grid, prep, mpms, bounds, headroom)
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    cache = EvalCache(folder, reuse=resume)
    with TaskMapper(jobs, scheduler) as mapper:
        search = Search(
            base, source=source, base_dir=base_dir, goals=goals, replications=replications,
            tolerance=tolerance, mapper=mapper, cache=cache, progress=progress, budget=budget,
            context=_context(prep),
        )  # fmt: skip
        _run(search, grid, prep.directives.ThreadsPerChild, full_grid=full_grid, spares=spares)
        size_pools(search, base, grid.knees, source, base_dir, bounds.memory_budget_mib)
        kind = mapper.kind
    timing = _timing(t0, kind, jobs, search, cache, folder)
    result = build_result(
        search, prep=prep, bounds=bounds, lines=grid.lines, ram_top=grid.ram_top,
        grid_size=grid.size, timing=timing, base_sets=sets, mpms=mpms,
    )  # fmt: skip
    if unfit is not None:  # a goal (memory) no size can meet: said first, nothing simulated
        result.data["advice"] = [unfit, *result.data["advice"]]
    return result


def _goals(
    prep: Prepared,
    p95_ms: float | None,
    max_error_rate: float,
    headroom: float,
    target_rps: float | None,
) -> tuple[Bounds, Goals]:
    """The scenario's analytic bounds, and the goals a configuration must meet."""
    goals = goals_for(prep, p95_ms=p95_ms, max_error_rate=max_error_rate, headroom=headroom,
                      target_rps=target_rps)  # fmt: skip
    return analytic_bounds(prep, headroom), goals


@dataclass(frozen=True)
class _Space:
    """One MPM's grid lines (per ThreadsPerChild) under some directives, and their knee."""

    lines: dict[int, list[int]]
    ram_top: dict[int, bool]
    knee: float


@dataclass(frozen=True)
class _Grid:
    """The lines the search may visit, per (MPM, ThreadsPerChild), and what bounds them."""

    lines: dict[tuple[str, int], list[int]]
    ram_top: dict[tuple[str, int], bool]
    """Whether RAM cut the line (its last point is the largest that fits)."""
    size: int
    """Points in the unpruned grid of the MPMs searched."""
    knees: dict[str, float]
    """Each MPM's analytic knee, in the order the MPMs are searched."""
    keepalive: dict[tuple[str, str], _Space]
    """Per (MPM, KeepAlive policy) when the other KeepAlive policies are tried, else empty."""


def _grid(
    base: Scenario,
    mpms: Sequence[str],
    source: str,
    base_dir: Path | None,
    headroom: float,
    full_grid: bool,
    keepalive: bool,
) -> _Grid:
    """Each MPM's lines: pruned by its analytic bounds, or whole with ``full_grid``."""
    lines: dict[tuple[str, int], list[int]] = {}
    ram_top: dict[tuple[str, int], bool] = {}
    size = 0
    knees: dict[str, float] = {}
    for m in mpms:
        space = _space(base, m, {}, source, base_dir, headroom)
        knees[m] = space.knee
        for tpc in tpc_choices(m):
            size += len(full_line(m, tpc))
            line = full_line(m, tpc) if full_grid else space.lines.get(tpc, [])
            if line:
                lines[(m, tpc)] = line
                ram_top[(m, tpc)] = space.ram_top[tpc]
    try_ka = keepalive and _uses_keepalive(base)
    ka_spaces = {
        (m, p): _space(base, m, keepalive_directives(p), source, base_dir, headroom)
        for m in mpms
        for p in KEEPALIVE[1:]
        if try_ka
    }
    return _Grid(lines, ram_top, size, knees, ka_spaces)


def _setups(
    scenario: Scenario | str | Path,
    sets: Sequence[str],
    seed: int | None,
    mpm: str | None,
    headroom: float,
) -> tuple[Scenario, str, Path | None, tuple[str, ...]]:
    """The scenario to search (``spec.reading.load_base``) and its ``--set``s; a PHP workload
    under ``--mpm all`` gains those of its two set-ups (prefork + mod_php, event + PHP-FPM)."""
    base, source, base_dir = load_base(scenario, sets, seed)
    if mpm == "all" and php_classes(base):
        sets = (*sets, *php_sets(base, source, base_dir, headroom))
        base, source, base_dir = load_base(scenario, sets, seed)
    return base, source, base_dir, tuple(sets)


def _nothing_fits(
    grid: _Grid, prep: Prepared, mpms: Sequence[str], bounds: Bounds, headroom: float
) -> str | None:
    """On a machine where not even the smallest configuration fits (no MPM has a line): the
    advice saying what the smallest needs; else None."""
    return None if grid.lines else nothing_fits_advice(prep, mpms, bounds, headroom)


def _run(search: Search, grid: _Grid, given_tpc: int, *, full_grid: bool, spares: bool) -> None:
    """Search each MPM's lines (or simulate the whole grid), then spare and KeepAlive policies."""
    primaries: dict[str, int] = {}
    if full_grid:
        search.run([Candidate(m, x, t) for (m, t), line in grid.lines.items() for x in line])
    else:
        for m in grid.knees:
            mine = {t: line for (name, t), line in grid.lines.items() if name == m}
            if mine:
                primaries[m] = _primary_tpc(mine, given_tpc)
                search.search_mpm(m, mine, primaries[m], grid.knees[m])
    if spares:
        try_spares(search, grid.lines, primaries, grid.knees)
    if grid.keepalive:
        try_keepalive(search, {k: (v.lines, v.knee) for k, v in grid.keepalive.items()}, primaries)


def _timing(
    t0: float, kind: str, jobs: int, search: Search, cache: EvalCache, folder: Path
) -> dict[str, Any]:
    """What the search cost: wall time since ``t0``, the executor, simulations and cache use."""
    return {
        "wall_s": round(time.perf_counter() - t0, 3),
        "executor": kind,
        "jobs": jobs,
        "computed": search.computed,
        "cache_hits": cache.hits,
        "cache_dir": str(folder),
        "cache_problem": cache.problem,
    }


def _space(
    base: Scenario,
    mpm: str,
    directives: Mapping[str, int | str],
    source: str,
    base_dir: Path | None,
    headroom: float,
) -> _Space:
    """Prune each ThreadsPerChild line of ``mpm`` by the analytic bounds of its own scenario."""
    server = base.server.model_copy(
        update={"mpm": mpm, "directives": {**base.server.directives, **directives}}
    )
    mprep = prepare(base.model_copy(update={"server": server}), source=source, base_dir=base_dir)
    bounds = analytic_bounds(mprep, headroom)
    lines: dict[int, list[int]] = {}
    ram_top: dict[int, bool] = {}
    for tpc in tpc_choices(mpm):
        line, at_ram = pruned_line(mprep, mpm, tpc, bounds)
        if line:
            lines[tpc], ram_top[tpc] = line, at_ram
    return _Space(lines, ram_top, useful_workers(mprep, mpm, bounds))


def _uses_keepalive(base: Scenario) -> bool:
    """Whether KeepAlive can matter: not to ab without -k, nor to one-request sessions whose
    clients close the connection themselves."""
    load = base.load
    if isinstance(load, ClosedLoad):
        return bool(load.keepalive)
    if isinstance(load, OpenLoad) and load.client_closes:
        return load.requests_per_session != 1
    return True


def _check(
    headroom: float,
    max_error_rate: float,
    reps: int,
    tolerance: float,
    p95_ms: float | None,
    budget: int | None,
    target_rps: float | None = None,
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
    if target_rps is not None and target_rps <= 0:
        raise InputError(f"must be > 0, got {target_rps}", field="--target-rps")
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


def _primary_tpc(lines: dict[int, list[int]], given: int) -> int:
    """The ThreadsPerChild searched in full: the scenario's when it is a choice, else the least."""
    return given if given in lines else min(lines)


def _context(prep: Prepared) -> str:
    """What the cache key needs beyond the scenario text: resolved inputs and the version."""
    parts = (
        __version__,
        code_fingerprint(),
        prep.hardware,
        prep.costs,
        prep.directives,
        prep.classes,
    )
    return "\n".join(repr(p) for p in parts)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mpmsim/optimize`` (``~/.cache/mpmsim/optimize``): keys are content hashes,
    so one folder serves every scenario, and no folder the user owns is written to."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mpmsim" / "optimize"
