"""Apache's capacity warnings: what a run's error log held, what the simulated parent logged,
and how often they agree (``mpmsim calibrate``, ``benchmarks/bench_fidelity.py``).

The parent logs "server reached MaxRequestWorkers", "within MinSpareThreads of
MaxRequestWorkers" or "scoreboard is full" when it wants more idle workers than it may fork;
which of them a run logged says how often its parent found the children busy. The measurement
CSV has the codes of each run's warn-or-worse error-log lines (``err_log_codes``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mpmsim.calibration.check import compare, warning_agreement
from mpmsim.calibration.measured import Setup, measured_warnings, simulate
from mpmsim.calibration.output import _warnings_line
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.models.mpm.warnings import KINDS, capacity_warnings, kinds_by_code
from mpmsim.workloads.readers import MeasuredRun, read_measurements
from tests.helpers import REPO

RUNS_CSV = REPO.parent / "shared" / "data" / "apache-bench" / "runs.csv"
WARM = REPO / "measurements" / "warm-steady" / "runs.csv"
#: prefork with four slots at most
FOUR_SLOTS = {"StartServers": 2, "MinSpareServers": 2, "MaxSpareServers": 4,
              "MaxRequestWorkers": 4, "ServerLimit": 4}  # fmt: skip


# -- the kinds -----------------------------------------------------------------------------------
def test_each_mpm_s_codes_have_their_kind() -> None:
    table = kinds_by_code()
    assert {c for c, k in table.items() if k == "reached"} == {"AH00161", "AH00286", "AH00484"}
    assert {c for c, k in table.items() if k == "near"} == {"AH00287", "AH10159"}
    assert {c for c, k in table.items() if k == "full"} == {"AH00288", "AH03490"}


def test_the_kinds_of_a_log_come_in_order_once_each_and_other_codes_count_for_nothing() -> None:
    codes = ["AH00489", "AH10159", "AH00484", "AH00574", "AH03490", "AH03490"]
    assert capacity_warnings(codes) == ("near", "reached", "full")
    assert capacity_warnings(["AH03490", "AH00161", "AH03490", "AH00489"]) == ("reached", "full")
    assert capacity_warnings(["AH00489", "AH00094"]) == ()


# -- a measured row's ----------------------------------------------------------------------------
def test_a_row_s_warnings_come_from_its_error_log_codes_cell() -> None:
    rows = {r.run_id: r for r in read_measurements(WARM)}
    assert measured_warnings(rows["warm-steady-event-ab-c50-ka0-r1"]) == ("near", "reached", "full")
    assert measured_warnings(rows["warm-steady-prefork-ab-c200-ka0-r1"]) == ("reached",)
    assert measured_warnings(rows["warm-steady-worker-ab-c50-ka0-r1"]) == ()  # no warn+ line


@pytest.mark.skipif(not RUNS_CSV.exists(), reason="shared measurements not present")
def test_a_shared_row_s_warnings_come_from_its_error_log_codes_cell() -> None:
    shared = {r.run_id: r for r in read_measurements(RUNS_CSV)}
    assert measured_warnings(shared["S1-event-static-ab-c100-ka0-r2"]) == ("near",)


def test_a_row_without_the_error_log_columns_has_no_measured_warnings() -> None:
    row = _row("event", {"MaxRequestWorkers": 400}, 50)
    assert measured_warnings(row) is None
    with_cells = replace(
        row, extra={"err_log_lines_error": "2", "err_log_codes": "AH00484:1; AH9:1"}
    )
    assert measured_warnings(with_cells) == ("reached",)


# -- the simulated parent's ----------------------------------------------------------------------
def _row(mpm: str, directives: dict[str, int], clients: int) -> MeasuredRun:
    return MeasuredRun(
        run_id=f"{mpm}-c{clients}", scenario="synthetic", mpm=mpm, directives=dict(directives),
        lua_scope=None, mrw_effective=directives["MaxRequestWorkers"], threads_per_child=1,
        server_limit=directives["MaxRequestWorkers"], content="static", url="/test.html",
        tool="ab", concurrency=clients, keepalive=False, duration_s=3.0,
        requests_completed=3000, req_per_s=1000.0, warmup_s=0.0,
    )  # fmt: skip


def test_a_simulated_parent_that_runs_out_of_children_says_so() -> None:
    """Prefork with 4 children at most under 20 clients logs AH00161, and under 1 client
    logs nothing."""
    setup = Setup(load_hardware("bench-1core"), 0.05)
    busy = simulate(_row("prefork", FOUR_SLOTS, 20), load_costs("bench-1core"), setup)
    quiet = simulate(_row("prefork", FOUR_SLOTS, 1), load_costs("bench-1core"), setup)
    assert [busy[f"warned_{k}"] for k in KINDS] == [0.0, 1.0, 0.0]
    assert [quiet[f"warned_{k}"] for k in KINDS] == [0.0, 0.0, 0.0]


def test_calibrate_s_rows_carry_both_and_its_report_says_how_often_they_agree() -> None:
    setup = Setup(load_hardware("bench-1core"), 0.05)
    cells = {"err_log_lines_error": "1", "err_log_codes": "AH00161:1"}
    runs = [replace(_row("prefork", FOUR_SLOTS, c), extra=cells) for c in (20, 1)]
    rows = compare(runs, load_costs("bench-1core"), setup, held_out=[False, True], jobs=1)
    assert [(r["warnings_measured"], r["warnings_predicted"]) for r in rows] == [
        ("reached", "reached"), ("reached", "")]  # fmt: skip
    line = _warnings_line(rows)
    assert line is not None
    assert line.endswith(
        "logged as in the runs' error logs: fitted 100.0 % of 1, held out 0.0 % of 1"
    )
    assert _warnings_line([dict(r, warnings_measured=None) for r in rows]) is None


# -- the comparison ------------------------------------------------------------------------------
def test_rows_agree_when_their_kinds_are_the_same_and_rows_without_a_log_are_left_out() -> None:
    rows: list[dict[str, Any]] = [
        {"warnings_measured": "reached", "warnings_predicted": "reached"},
        {"warnings_measured": "near,reached,full", "warnings_predicted": "reached"},
        {"warnings_measured": "", "warnings_predicted": ""},
        {"warnings_measured": "", "warnings_predicted": "near"},
        {"warnings_measured": None, "warnings_predicted": "full"},
    ]
    got = warning_agreement(rows)
    assert (got["rows"], got["same_pct"]) == (4, 50.0)
    assert got["by_kind"]["reached"] == {"measured": 2, "predicted": 2, "both": 2}
    assert got["by_kind"]["near"] == {"measured": 1, "predicted": 1, "both": 0}
    assert got["by_kind"]["full"] == {"measured": 1, "predicted": 0, "both": 0}
    assert warning_agreement(rows[4:]) == {
        "rows": 0, "same_pct": None,
        "by_kind": {k: {"measured": 0, "predicted": 0, "both": 0} for k in KINDS},
    }  # fmt: skip
