"""What ``mpmsim run``'s table says beside its figures: the p95's interval and the RAM's share."""

from __future__ import annotations

from typing import Any

import pytest

from mpmsim.cli.render import render_table
from mpmsim.engine.replications import run_prepared
from mpmsim.search.goals import DEFAULT_HEADROOM
from tests.helpers import prepared

LOAD = {"kind": "closed", "clients": 4, "requests": 400}


def _line(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(key))


@pytest.fixture(scope="module")
def one() -> dict[str, Any]:
    return run_prepared(prepared(load=LOAD), replications=1).to_dict()


def test_one_replication_says_the_p95_has_no_interval(one: dict[str, Any]) -> None:
    line = _line(render_table(one), "p95 CI")
    assert "no interval from one replication" in line and "--replications 3" in line
    assert "±" not in line


def test_replications_give_the_p95_its_interval() -> None:
    three = run_prepared(prepared(load=LOAD), replications=3).to_dict()
    line = _line(render_table(three), "p95 CI")
    assert "±" in line and "no interval" not in line


@pytest.mark.parametrize(
    ("share", "exceeded", "flag"),
    [
        (0.5, False, None),
        (1.0 - DEFAULT_HEADROOM - 0.01, False, None),
        (0.95, False, "95 % of it: less than the 10 % headroom"),
        (1.2, True, "RAM EXCEEDED"),
    ],
)
def test_a_peak_near_the_ram_limit_is_flagged(
    one: dict[str, Any], share: float, exceeded: bool, flag: str | None
) -> None:
    res = {**one, "ram_exceeded": exceeded}
    limit = 1000.0
    res["memory_mib"] = {**one["memory_mib"], "peak": share * limit, "limit": limit}
    line = _line(render_table(res), "memory MiB")
    if flag is None:
        assert "headroom" not in line and "EXCEEDED" not in line
    else:
        assert flag in line
    if exceeded:
        assert "headroom" not in line  # one flag, the worse


def test_one_default_headroom() -> None:
    """run's flag, optimize's and report's --headroom and the library's default are one figure
    (the command line's is written out so that --help imports no library module)."""
    import inspect

    from mpmsim.cli.optimize import optimize as optimize_cmd
    from mpmsim.cli.report import report as report_cmd

    for cmd in (optimize_cmd, report_cmd):
        assert inspect.signature(cmd).parameters["headroom"].default == DEFAULT_HEADROOM


@pytest.mark.parametrize(
    ("served", "ci", "flag"),
    [
        (100.0, 2.0, False),  # all of it
        (97.5, 2.0, False),  # within CARRY_TOLERANCE, as optimize and report judge it
        (90.0, 2.0, True),
        (50.0, None, True),
    ],
)
def test_an_open_load_not_carried_is_flagged(
    one: dict[str, Any], served: float, ci: float | None, flag: bool
) -> None:
    res = {**one, "offered_rps": 100.0, "throughput_rps": served, "throughput_rps_ci95": ci}
    line = _line(render_table(res), "throughput")
    assert "of 100.0 req/s offered" in line
    assert ("NOT CARRIED" in line) is flag
    if flag:
        assert f"{served:.0f} % of it served" in line


def test_a_closed_load_has_no_offered_rate(one: dict[str, Any]) -> None:
    assert "offered_rps" not in one
    assert "offered" not in _line(render_table(one), "throughput")


def test_an_overloaded_open_run_says_so() -> None:
    """A real run: an open load of 1 ms requests at twice one vCPU's rate."""
    load = {"kind": "open", "sessions_per_s": 2000, "requests_per_session": 1}
    res = run_prepared(prepared(load=load, duration_s=3.0), replications=1).to_dict()
    assert res["offered_rps"] > 1.5 * res["throughput_rps"]
    assert "NOT CARRIED" in _line(render_table(res), "throughput")
