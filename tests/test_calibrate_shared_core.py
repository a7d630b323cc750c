"""Rows whose Apache shared its CPU (``mpmsim.calibration.shared_core``): named, with why."""

from __future__ import annotations

import dataclasses

import pytest

from mpmsim.calibration.fit import calibrate
from mpmsim.calibration.output import render
from mpmsim.calibration.shared_core import CPU_BOUND, shared_core_lines, shared_core_rows
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.workloads.readers import MeasuredRun, read_measurements
from tests.helpers import REPO

RUNS_CSV = REPO.parent / "shared" / "data" / "apache-bench" / "runs.csv"


@pytest.fixture(scope="module")
def runs() -> list[MeasuredRun]:
    if not RUNS_CSV.exists():
        pytest.skip("shared measurements not present")
    return read_measurements(RUNS_CSV)


def _beside_another(run: MeasuredRun, share: float) -> MeasuredRun:
    """``run`` as if another process had taken ``1 - share`` of Apache's busy core."""
    assert run.apache_cpu_util is not None
    return dataclasses.replace(
        run, run_id=f"{run.run_id}-shared", apache_cpu_util=run.apache_cpu_util * share
    )


def test_apache_alone_on_its_core_is_never_flagged(runs: list[MeasuredRun]) -> None:
    """The shared set's layout (Apache pinned alone to CPU 1): 275 rows, none flagged; nor this
    project's campaigns, whose recycled children take their CPU time with them and whose PHP
    rows wait on CPU 1 beside FPM and other jobs."""
    assert shared_core_rows(runs) == []
    for csv in sorted((REPO / "measurements").glob("*/runs.csv")):
        assert shared_core_rows(read_measurements(csv)) == [], csv


def test_a_busy_core_apache_had_half_of_is_named(runs: list[MeasuredRun]) -> None:
    wanting = [r for r in runs if r.content in CPU_BOUND and r.concurrency >= 10]
    busy = [r for r in wanting if float(r.extra.get("cpu1_busy_pct", 0)) >= 98][:3]
    waits = [r for r in runs if r.content == "wait" and r.concurrency >= 10][:1]
    assert len(busy) == 3 and waits
    idle = dataclasses.replace(  # a core half idle says nothing of a neighbour
        busy[2], run_id="idle", extra={**busy[2].extra, "cpu1_busy_pct": "45"}
    )
    rows = [_beside_another(busy[0], 0.55), _beside_another(busy[1], 0.85), *busy[2:]]
    rows.append(_beside_another(idle, 0.3))
    rows.append(_beside_another(waits[0], 0.1))  # a waiting handler leaves the core to others
    [flagged] = shared_core_rows(rows)
    assert flagged["run_id"] == f"{busy[0].run_id}-shared"
    assert flagged["apache_pct"] < 0.56 * flagged["cpu1_busy_pct"]
    text = "\n".join(shared_core_lines([flagged]))
    assert "taskset" in text and busy[0].run_id in text


def test_calibrate_reports_them(runs: list[MeasuredRun]) -> None:
    base = [r for r in runs if r.concurrency >= 10 and r.content in CPU_BOUND][:12]
    shared = _beside_another(base[0], 0.5)
    cal = calibrate([*base, shared], load_costs("default"), load_hardware("bench-1core"),
                    simulate=False, jobs=1)  # fmt: skip
    assert [r["run_id"] for r in cal.shared_core] == [shared.run_id]
    assert cal.as_dict()["shared_core"] == cal.shared_core
    assert "rows whose Apache shared its CPU" in render(cal)
