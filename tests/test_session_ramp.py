"""An open load's ramp (``mpmsim.spec.session_ramp``): the formula, the simulated load it
describes, and the warnings run, optimize and report give when a window opens inside it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpmsim
from mpmsim.engine.replications import run_prepared
from mpmsim.search.assumptions import memory_assumptions
from mpmsim.sizing.recommendation import answer
from mpmsim.spec.reading import load_scenario, load_scenario_data
from mpmsim.spec.scenario import OpenLoad
from mpmsim.spec.session_ramp import (
    RAMP_TOLERANCE,
    fixed_window_note,
    ramp_deficit,
    short_warmup,
    window_deficit,
)
from tests.helpers import EXAMPLES, prepared, scenario_dict

TWO_PAGES: dict[str, Any] = {
    "kind": "open",
    "sessions_per_s": 50,
    "requests_per_session": 2,
    "think_time_s": {"dist": "exponential", "mean": 1.0},
}


def _load(**parts: Any) -> OpenLoad:
    sc = load_scenario_data(scenario_dict(duration_s=10, load=TWO_PAGES | parts))
    assert isinstance(sc.load, OpenLoad)
    return sc.load


def test_two_pages_one_exponential_think_apart_miss_half_their_second_page() -> None:
    """n = 2, S_1 ~ exp(1): the missing share at t is P(S_1 > t) / 2 = e^-t / 2; over a window
    [a, b] its mean is (e^-a - e^-b) / (2 (b - a)). The think time's variance comes from
    seeded draws, so 2 % (relative) of slack."""
    load = _load()
    for t in (0.5, 1.0, 2.0, 4.0):
        assert ramp_deficit(load, t) == pytest.approx(math.exp(-t) / 2, rel=0.02)
    expected = (math.exp(-1.0) - math.exp(-5.0)) / (2 * 4.0)
    assert window_deficit(load, 1.0, 5.0) == pytest.approx(expected, rel=0.02)


def test_a_load_without_a_ramp_misses_nothing() -> None:
    assert ramp_deficit(_load(requests_per_session=1), 0.5) == 0.0
    assert ramp_deficit(_load(think_time_s=0), 0.5) == 0.0
    fixed = _load(think_time_s=1.0)  # requests exactly 1 s apart: the second from t = 1
    assert ramp_deficit(fixed, 0.5) == pytest.approx(0.5)
    assert ramp_deficit(fixed, 1.5) == 0.0


@settings(max_examples=25, deadline=None)
@given(
    pages=st.floats(1.5, 12.0),
    think=st.floats(0.1, 5.0),
    opens=st.floats(0.0, 30.0),
    length=st.floats(5.0, 60.0),
)
def test_the_warm_up_it_suggests_leaves_no_warning(
    pages: float, think: float, opens: float, length: float
) -> None:
    load = TWO_PAGES | {
        "requests_per_session": {"dist": "geometric", "mean": pages},
        "think_time_s": {"dist": "exponential", "mean": think},
    }
    sc = load_scenario_data(scenario_dict(duration_s=opens + length + 1, load=load))
    assert isinstance(sc.load, OpenLoad)
    a, b = sorted((ramp_deficit(sc.load, opens), ramp_deficit(sc.load, opens + 1.0)))
    assert 0.0 <= a <= b + 1e-12 <= 1.0  # the deficit only falls as the load goes on
    why = short_warmup(sc, opens, opens + length)
    if why is None:
        assert window_deficit(sc.load, opens, opens + length) <= RAMP_TOLERANCE
        return
    warm = float(why.split("warmup_s ")[-1].split(" ")[0])
    assert warm > opens
    assert short_warmup(sc, warm, warm + length) is None


def test_the_simulated_offered_rate_climbs_as_the_formula_says() -> None:
    """The offered rate a run tallies (``offered_rps``) over a window in the ramp, against the
    steady rate x (1 - window_deficit): 3 replications of 50 sessions a second over 3 s, 900
    sessions and ~1,500 requests a window, so ~3 % of Poisson noise on the mean; 8 % allowed."""
    prep = prepared(
        duration_s=4, warmup_s=1, load=TWO_PAGES, costs="ideal",
        server={"mpm": "event", "directives": {"MaxRequestWorkers": 400}},
    )  # fmt: skip
    data = run_prepared(prep, 3).to_dict()
    assert isinstance(prep.scenario.load, OpenLoad)
    expected = 100.0 * (1.0 - window_deficit(prep.scenario.load, 1.0, 4.0))
    assert data["offered_rps"] == pytest.approx(expected, rel=0.08)
    assert any("still building up" in w for w in data["warnings"])


def test_a_short_window_on_the_dynamic_site_says_so_and_the_shipped_one_does_not() -> None:
    path = EXAMPLES / "dynamic-site.yaml"
    short = mpmsim.run(path, overrides=("duration_s=12", "warmup_s=3")).to_dict()
    [line] = [w for w in short["warnings"] if "still building up" in w]
    assert "(3-12 s)" in line and "16 % less" in line and "warmup_s 7 with duration_s 16" in line
    assert not any("building up" in w for w in mpmsim.run(path).to_dict()["warnings"])


@pytest.mark.parametrize(
    "name", ["keepalive-idle-browsers.yaml", "php-fpm-event.yaml", "php-modphp-prefork.yaml"]
)
def test_the_shipped_open_loads_measure_a_steady_window(name: str) -> None:
    sc = load_scenario(EXAMPLES / name)
    assert sc.warmup_s != "auto" and sc.duration_s is not None
    assert short_warmup(sc, sc.warmup_s, sc.duration_s) is None


def test_optimize_and_report_say_it_in_their_first_lines() -> None:
    short = [{"name": "r", "cpu_ms": 0.1}]  # shorter than a scheduler slice: no other warning
    prep = prepared(
        duration_s=12, warmup_s=3, load=TWO_PAGES | {"requests_per_session": 8}, mix=short
    )
    [line] = memory_assumptions(prep)["warnings"]
    assert line.startswith("the measured window (3-12 s) opens while")
    auto = prepared(duration_s=12, warmup_s="auto", load=TWO_PAGES, mix=short)
    assert not memory_assumptions(auto)["warnings"]


def test_the_reports_first_sentence_says_its_window_was_still_in_the_ramp() -> None:
    short = load_scenario(EXAMPLES / "dynamic-site.yaml", ("duration_s=12", "warmup_s=3"))
    note = fixed_window_note(short)
    assert note is not None and "16 % less" in note
    assert fixed_window_note(load_scenario(EXAMPLES / "dynamic-site.yaml")) is None
    row = {"instance": "t3.medium", "goals": {}, "goals_met": False, "note": "nothing fits"}
    data = {"instances": [row], "recommendation": None, "goals": {"offered_rps": 80.0}}
    assert "build up" not in answer(data)
    assert answer(data | {"window_ramp": note}).endswith(
        "lengthen warmup_s and run the report again before buying."
    )
