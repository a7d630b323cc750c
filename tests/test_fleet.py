"""Fleets: each member's share of the load, the first guess and the search for the count."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpmsim.errors import InputError
from mpmsim.sizing.fleet import (
    MAX_COUNT,
    cpu_capacity_rps,
    design_for,
    first_guess,
    scaled_load_sets,
    share_of,
    smallest_count,
)
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.scenario import OpenLoad

OPEN: dict[str, Any] = {
    "name": "open",
    "duration_s": 10,
    "hardware": "t3.medium",
    "server": {"mpm": "event"},
    "load": {"kind": "open", "sessions_per_s": 10, "requests_per_session": 8},
    "mix": [{"name": "page", "cpu_ms": 20}],
}


def _scenario(load: dict[str, Any]) -> Any:
    return load_scenario_data({**OPEN, "load": load}, source="<test>")


def test_an_open_load_is_split_by_sessions_after_growth() -> None:
    sc = _scenario(OPEN["load"])
    design = design_for(sc, 1.5, None)
    assert design.rps == pytest.approx(120.0)  # 10 sessions/s x 8 requests x 1.5
    share = share_of(sc, design, 4)
    assert share.sets == ("load.sessions_per_s=3.75",)
    assert share.rps == pytest.approx(30.0) and share.target_rps is None
    # The scaled scenario offers the member its share: the sets are what `mpmsim run` reads.
    member = load_scenario_data(OPEN, source="<test>", overrides=share.sets)
    assert isinstance(member.load, OpenLoad)
    assert member.load.sessions_per_s == pytest.approx(3.75)


def test_a_target_rate_replaces_the_offered_rate() -> None:
    sc = _scenario(OPEN["load"])
    share = share_of(sc, design_for(sc, 1.0, 200.0), 2)
    assert share.rps == pytest.approx(100.0)
    assert share.sets == ("load.sessions_per_s=12.5",)  # 12.5 sessions x 8 requests = 100 req/s


def test_a_schedule_is_scaled_rate_by_rate() -> None:
    sc = _scenario({"kind": "open", "sessions_per_s": [[0, 4], [30, 10]]})
    assert scaled_load_sets(sc, 0.5) == ("load.sessions_per_s=[[0.0, 2.0], [30.0, 5.0]]",)
    member = load_scenario_data({**OPEN, "load": sc.load.model_dump()}, source="<t>",
                                overrides=scaled_load_sets(sc, 0.5))  # fmt: skip
    assert isinstance(member.load, OpenLoad)
    assert member.load.sessions_per_s == [(0.0, 2.0), (30.0, 5.0)]


def test_a_closed_load_splits_clients_rounding_up() -> None:
    sc = _scenario({"kind": "closed", "clients": 10, "requests": 1001})
    share = share_of(sc, design_for(sc, 1.0, 300.0), 3)
    # The requests budget stays: a third of it could end before the warm-up.
    assert share.sets == ("load.clients=4",)
    assert share.rps == pytest.approx(100.0) and share.target_rps == pytest.approx(100.0)
    whole = share_of(sc, design_for(sc, 1.0, None), 1)
    assert whole.sets == () and whole.rps is None and whole.target_rps is None


@pytest.mark.parametrize(("growth", "target"), [(0.9, None), (float("nan"), None), (1.0, 0.0)])
def test_bad_growth_or_target_is_input_error(growth: float, target: float | None) -> None:
    with pytest.raises(InputError):
        design_for(_scenario(OPEN["load"]), growth, target)


def test_first_guess_plans_for_the_cpu() -> None:
    # c6i.large on the dynamic site: 2 vCPUs x 0.85 / 20 ms = 85 req/s flat out; 80 req/s at
    # 85 % utilisation need 2. A t3.medium's 20 % baseline carries 13 req/s for good: 8.
    assert cpu_capacity_rps(2, 0.85, 20.0) == pytest.approx(85.0)
    assert first_guess(80.0, cpu_capacity_rps(2, 0.85, 20.0)) == 2
    assert first_guess(80.0, cpu_capacity_rps(2, 0.65, 20.0, usable=0.2)) == 8
    assert first_guess(None, 85.0) == 2 and first_guess(80.0, None) == 2


def _counting(need: int) -> tuple[list[int], Any]:
    calls: list[int] = []

    def passes(n: int) -> bool:
        calls.append(n)
        return n >= need

    return calls, passes


@given(need=st.integers(2, 80), guess=st.integers(1, 100))
def test_smallest_count_finds_the_least_passing_count(need: int, guess: int) -> None:
    calls, passes = _counting(need)
    found = smallest_count(passes, guess)
    assert found == (need if need <= MAX_COUNT else None)
    assert len(calls) == len(set(calls))  # never simulates a count twice
    assert len(calls) <= 2 * 7 + 2  # log-many steps, not one per count


def test_a_good_guess_costs_two_simulations() -> None:
    calls, passes = _counting(7)
    assert smallest_count(passes, 7) == 7
    assert calls == [7, 6]
