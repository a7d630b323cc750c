"""The search strategy alone, on synthetic curves (no simulation): it finds the grid's best.

A fake ``Search.run`` gives every candidate a deterministic throughput and memory, so the
adaptive search can be compared with the whole grid for many curve shapes (hypothesis): a
plateau (CPU or the load binds), a peak followed by a decline (switching costs), a RAM limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mpmsim.search.adaptive import Search
from mpmsim.search.goals import Goals
from mpmsim.search.line_points import start_points
from mpmsim.search.result import p95_curve
from mpmsim.search.space import Candidate, full_line

Curve = Callable[[Candidate], tuple[float, float]]


class FakeSearch(Search):
    """A search whose points come from ``curve`` (throughput, memory) instead of the engine."""

    def __init__(
        self,
        curve: Curve,
        budget_mib: float,
        p95: Callable[[Candidate], float] | None = None,
        p95_goal_ms: float | None = None,
    ) -> None:
        self.curve = curve
        self.p95 = p95
        self.goals = Goals(budget_mib, p95_goal_ms, 0.01, 0.1)
        self.tolerance = 0.01
        self.budget = None
        self.progress = None
        self.evals: dict[Candidate, dict[str, Any]] = {}
        self.rounds = 0
        self.calls: list[int] = []

    def run(self, cands: Sequence[Candidate]) -> None:
        fresh = [c for c in dict.fromkeys(cands) if c not in self.evals]
        for c in fresh:
            x, mem = self.curve(c)
            p95 = 1.0 if self.p95 is None else self.p95(c)
            self.evals[c] = {
                "throughput_rps": x,
                "per_rep": {"throughput_rps": [x, x, x], "p95_ms": [p95 - 1, p95, p95 + 1]},
                "p95_ms": p95,
                "memory_peak_mib": mem,
                "ram_exceeded": False,
                "error_rate": 0.0,
            }
        self.calls.append(len(fresh))
        self.rounds += 1


def _curve(knee: float, cap: float, decline: float) -> Curve:
    """Throughput rises to ``cap`` at ``knee`` workers, then falls by ``decline`` per worker."""

    def f(c: Candidate) -> tuple[float, float]:
        m = c.max_request_workers
        x = cap * min(m / knee, 1.0) * max(1.0 - decline * max(m - knee, 0.0), 0.05)
        mem = 10.0 + m / c.threads_per_child * 2.0 + 0.1 * m
        return round(x, 6), round(mem, 6)

    return f


def _best(search: FakeSearch, cands: list[Candidate]) -> Candidate:
    search.run(cands)
    best = search.choose(cands)
    assert best is not None
    return best


@settings(max_examples=60, deadline=None)
@given(
    knee=st.floats(10, 900),
    decline=st.sampled_from([0.0, 1e-4, 1e-3, 5e-3]),
    budget_mib=st.floats(40, 400),
    guess=st.floats(0.3, 3.0),
)
def test_line_search_finds_the_grid_best(
    knee: float, decline: float, budget_mib: float, guess: float
) -> None:
    curve = _curve(knee, 1000.0, decline)
    line = [
        m for m in full_line("prefork", 1) if curve(Candidate("prefork", m, 1))[1] <= budget_mib
    ]
    if not line:
        return
    grid = FakeSearch(curve, budget_mib)
    best = _best(grid, [Candidate("prefork", m, 1) for m in line])
    ours = FakeSearch(curve, budget_mib)
    # The analytic knee is only a guess: anything from 0.3x to 3x the true one.
    found = ours.line_search("prefork", 1, line, start_points(line, knee * guess))
    assert found is not None
    got, want = grid.evals[best]["throughput_rps"], ours.evals[found]["throughput_rps"]
    assert want >= 0.98 * got  # within 2 % of the grid's best throughput
    # Logarithmic, not linear: three starts, two points per halving round, and the peak's
    # neighbours (a round may probe four points: knee 58, guess 0.3125, 20 points took 16).
    assert len(ours.evals) <= 3 + 2 * len(line).bit_length() + 4


def test_other_threads_per_child_are_tried_around_the_best() -> None:
    curve = _curve(200.0, 1000.0, 1e-3)
    lines = {t: full_line("event", t) for t in (25, 32, 50, 64)}
    search = FakeSearch(curve, 1e9)
    search.search_mpm("event", lines, primary=25, knee=200.0)
    tried = {t for c in search.evals for t in [c.threads_per_child]}
    assert tried == {25, 32, 50, 64}
    full = FakeSearch(curve, 1e9)
    best = _best(full, [Candidate("event", m, t) for t, line in lines.items() for m in line])
    ours = search.choose(list(search.evals))
    assert ours is not None
    assert search.evals[ours]["throughput_rps"] >= 0.98 * full.evals[best]["throughput_rps"]
    # Memory per worker falls with larger children: the search must find the bigger ones.
    assert ours.threads_per_child == best.threads_per_child
    assert len(search.evals) <= 0.15 * sum(len(v) for v in lines.values())


def test_p95_u_shape_is_reported_only_when_both_ends_are_higher() -> None:
    search = FakeSearch(_curve(100.0, 1000.0, 0.0), 1e9)
    line = [8, 16, 24, 32]
    search.run([Candidate("prefork", m, 1) for m in line])
    for m, p95 in zip(line, (90.0, 40.0, 60.0, 80.0), strict=True):
        e = search.evals[Candidate("prefork", m, 1)]
        e["p95_ms"] = p95
        e["per_rep"]["p95_ms"] = [p95 - 1, p95, p95 + 2]
    curve = p95_curve(search, "prefork", 1, line)
    assert curve["p95_lowest_at"] == 16 and curve["p95_u_shape"]
    search.evals[Candidate("prefork", 32, 1)]["per_rep"]["p95_ms"] = [39.0, 40.0, 42.0]
    search.evals[Candidate("prefork", 32, 1)]["p95_ms"] = 40.5
    assert not p95_curve(search, "prefork", 1, line)["p95_u_shape"]  # no rise on the right


def _ramp_p95(c: Candidate) -> float:
    """p95 falls until 600 workers, then stays flat at 7.5 s: never under a 500 ms goal."""
    return 7500.0 + 10.0 * max(600 - c.max_request_workers, 0)


def test_a_flat_infeasible_plateau_is_not_walked() -> None:
    line = full_line("prefork", 1)
    search = FakeSearch(_curve(600.0, 200.0, 0.0), 1e9, _ramp_p95, p95_goal_ms=500.0)
    found = search.line_search("prefork", 1, line, start_points(line, 600.0))
    assert found is None
    assert len(search.evals) <= 12  # the fall is followed, the flat part is not


def test_a_narrow_feasible_dip_in_p95_is_found() -> None:
    """p95 is a V with its bottom (300 ms) at 400 workers: only 360 to 440 meet 500 ms."""

    def v(c: Candidate) -> float:
        return 300.0 + 5.0 * abs(c.max_request_workers - 400)

    line = full_line("prefork", 1)
    search = FakeSearch(_curve(100.0, 200.0, 0.0), 1e9, v, p95_goal_ms=500.0)
    found = search.line_search("prefork", 1, line, start_points(line, 100.0))
    assert found is not None
    assert 360 <= found.max_request_workers <= 440


def test_a_level_feasible_plateau_above_the_choice_is_not_walked() -> None:
    """An open load that MaxRequestWorkers past 250 no longer changes (every point the same run,
    as keepalive-idle-browsers on event): the highest throughput is a level stretch. Once one of
    its points has both neighbours simulated the peak is known; before, the search probed the
    next equal point's neighbour, one point a round, down the whole stretch (22 of 108 points)."""

    def level(c: Candidate) -> tuple[float, float]:
        m = min(c.max_request_workers, 250)
        return round(235.0 * min(m / 225.0, 1.0) + (0.45 if m >= 250 else 0.0), 6), 10 + 0.1 * m

    line = full_line("event", 25)
    search = FakeSearch(level, 1e9)
    found = search.line_search("event", 25, line, start_points(line, 225.0))
    assert found is not None and found.max_request_workers == 225
    walked = sorted(c.max_request_workers for c in search.evals if c.max_request_workers > 250)
    assert len(walked) <= 3, walked
