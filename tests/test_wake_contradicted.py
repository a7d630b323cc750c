"""calibrate warns when the hardware's cold wake-ups (idle_wake) do not fit the rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mpmsim.calibration import files
from mpmsim.calibration.linear import ParamFit
from mpmsim.calibration.output import render
from mpmsim.calibration.result import Calibration
from mpmsim.calibration.wake_sim import wake_contradicted
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import HardwareSpec
from mpmsim.workloads.readers import MeasuredRun


def _row(run_id: str, cpu_ms: float, util: float, content: str = "static") -> MeasuredRun:
    return MeasuredRun(
        run_id=run_id, scenario="T", mpm="event", directives={}, lua_scope=None,
        mrw_effective=400, threads_per_child=25, server_limit=16, content=content,
        url="/", tool="ab", concurrency=50, keepalive=False, duration_s=10.0,
        requests_completed=1000, req_per_s=100.0, apache_cpu_ms_per_req=cpu_ms,
        apache_cpu_util=util,
    )  # fmt: skip


def _rows(light_ms: float) -> tuple[list[MeasuredRun], dict[str, float]]:
    saturated = [_row(f"sat{i}", 0.057, 0.99) for i in range(4)]
    light = [_row(f"light{i}", light_ms, 0.1) for i in range(3)]
    return saturated + light, {r.run_id: 0.03 for r in light}


def test_light_rows_that_cost_what_saturated_ones_do_contradict_the_wake_ups() -> None:
    # the campaigns' machine: 0.055 ms at light load, 0.057 saturated, 0.03 charged per wake-up
    runs, wake = _rows(0.055)
    said = wake_contradicted(runs, wake)
    assert said is not None
    assert "3 lightly loaded static rows 0.030-0.030 ms" in said
    assert "0.055 ms against 0.057 on 4 saturated rows" in said
    assert "calibrate with --no-idle-wake" in said


def test_light_rows_that_pay_the_wake_ups_agree_with_them() -> None:
    # the shared set's kind of machine: light rows cost about the saturated CPU plus the wake-ups
    runs, wake = _rows(0.057 + 0.03)
    assert wake_contradicted(runs, wake) is None


def test_too_few_rows_or_wake_ups_too_small_to_tell_say_nothing() -> None:
    runs, wake = _rows(0.055)
    assert wake_contradicted(runs[:1] + runs[4:], wake) is None  # one saturated row
    assert wake_contradicted(runs, {k: 0.005 for k in wake}) is None  # under a quarter of 0.057
    php = [r if r.run_id.startswith("sat") else _row(r.run_id, 0.055, 0.1, "php") for r in runs]
    assert wake_contradicted(php, wake) is None  # no static light row left
    assert wake_contradicted(runs, {}) is None


def test_calibrate_prints_the_warning_second() -> None:
    """render: the warning follows the first line, before the fitted figures."""
    fit = ParamFit(values={}, stderr={}, rms_rel_error=0.0, rows_used=0)
    cal = Calibration(costs=load_costs("default"), cpu_fit=fit, memory_fit=None, network_rtt_ms=0.0)
    cal = replace(cal, warnings=["the hardware's idle_wake charges ..."])
    lines = render(cal).splitlines()
    assert lines[1] == "warning: the hardware's idle_wake charges ..."


def test_no_idle_wake_fits_on_the_hardware_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mpmsim calibrate --no-idle-wake``: the fit sees the hardware less its idle_wake."""
    seen: list[HardwareSpec] = []

    def fake_calibrate(runs: object, costs: object, hw: HardwareSpec, **kw: object) -> str:
        seen.append(hw)
        return "fitted"

    monkeypatch.setattr(files, "calibrate", fake_calibrate)
    rows, _ = _rows(0.055)
    for wake in (True, False):
        files.fit_runs([Path("runs.csv")], rows, [False] * len(rows), [], idle_wake=wake)
    assert seen[0].idle_wake is not None and seen[0].name == "bench-1core"
    assert seen[1].idle_wake is None and seen[1].name == "bench-1core without idle_wake"
    assert seen[1].model_dump(exclude={"idle_wake", "name", "sources"}) == seen[0].model_dump(
        exclude={"idle_wake", "name", "sources"}
    )
    # the wake-ups' source goes with them; the others stay
    assert "idle_wake" in seen[0].sources and "idle_wake" not in seen[1].sources
    assert seen[1].sources == {k: v for k, v in seen[0].sources.items() if k != "idle_wake"}
    assert seen[1].without_idle_wake() is seen[1]  # nothing to take off twice
