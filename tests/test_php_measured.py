"""The PHP measurement rows (measurements/php/runs.csv) as calibration scenarios."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mpmsim.calibration.client_time import estimate_rtt_ms
from mpmsim.calibration.measured import Setup, observed, scenario_for, unrepresentable
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare
from mpmsim.workloads.readers import MeasuredRun, read_measurements

RUNS = Path(__file__).resolve().parent.parent / "measurements" / "php" / "runs.csv"


@pytest.fixture(scope="module")
def runs() -> list[MeasuredRun]:
    return read_measurements(RUNS)


def _scenario(run: MeasuredRun) -> dict[str, Any]:
    return scenario_for(run, load_costs("bench-1core"), Setup(load_hardware("bench-1core"), 0.03))


def test_every_php_row_is_a_scenario_the_spec_accepts(runs: list[MeasuredRun]) -> None:
    assert {r.extra["php"] for r in runs} == {"modphp", "fpm"}
    for run in runs:
        assert unrepresentable(run) is None
        prepare(load_scenario_data(_scenario(run), source=run.run_id))


def test_modphp_rows_load_php_into_prefork(runs: list[MeasuredRun]) -> None:
    run = next(r for r in runs if r.extra["php"] == "modphp")
    sc = _scenario(run)
    assert sc["server"] == {"mpm": "prefork", "directives": run.directives, "modules": ["php"]}
    assert "backends" not in sc
    (mix,) = sc["mix"]
    assert mix["backend"] == "mod_php"
    assert mix["cpu_ms"] == float(run.extra["script_cpu_ms"])
    assert mix["wait_ms"] == float(run.extra["script_sleep_ms"])


def test_fpm_rows_send_the_script_to_the_rows_pool(runs: list[MeasuredRun]) -> None:
    for run in (r for r in runs if r.extra["php"] == "fpm"):
        sc = _scenario(run)
        pool = json.loads(run.extra["config_json"])["php"]["pool"]
        assert sc["backends"] == {"www": {"kind": "php_fpm", **pool}}
        assert pool["pm.max_children"] == int(run.extra["pm_max_children"])
        (mix,) = sc["mix"]
        assert mix["backend"] == "www"


def test_observed_counts_the_fpm_pool_too(runs: list[MeasuredRun]) -> None:
    run = next(r for r in runs if r.extra["php"] == "fpm" and r.concurrency == 1)
    seen = observed(run)
    assert seen["cpu_ms_per_req"] == float(run.extra["server_cpu_ms_per_req"])
    assert run.peak_pss_mb is not None
    assert math.isclose(seen["peak_pss_mb"], run.peak_pss_mb + float(run.extra["fpm_peak_pss_mb"]))
    # the pool's CPU is most of it: the script runs there
    assert float(run.extra["fpm_cpu_ms_per_req"]) > float(run.extra["script_cpu_ms"]) * 0.9


def test_an_unknown_php_mode_is_named(runs: list[MeasuredRun]) -> None:
    run = runs[0]
    odd = MeasuredRun(**{**run.__dict__, "extra": {**run.extra, "php": "cgi"}})
    assert unrepresentable(odd) == "php 'cgi' is not one of modphp, fpm"


def test_round_trip_takes_off_the_scripts_time(runs: list[MeasuredRun]) -> None:
    # c=1 latency is the script (5 ms of CPU, or 0.5 ms + 50 ms asleep) plus two round trips;
    # taking off only Apache's CPU would leave ~14 ms "round trips" from the FPM and sleep rows
    assert 0.0 < estimate_rtt_ms(runs) < 2.0
