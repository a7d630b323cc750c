"""A job after an idle spell pays for its vCPU's halt (the hardware's ``idle_wake``).

An idle guest vCPU polls, then halts, and the host's other work cools its caches: the first job
after a spell longer than ``halt_after_us`` costs ``wake_us`` plus ``cold_us_per_idle_ms`` per
ms idle, at most ``cold_max_us`` (mpmsim.engine.cpu ``CPU.set_idle_wake``). The figures below
are worked out by hand: one vCPU at speed 1, no switch cost.
"""

from __future__ import annotations

import json
import re
from typing import Any
from unittest.mock import ANY

import pytest
import simpy
from pydantic import ValidationError

from mpmsim.engine.cfs import CFSCPU
from mpmsim.engine.cpu import CPU
from mpmsim.engine.eevdf import EEVDFCPU
from mpmsim.engine.replications import run_prepared
from mpmsim.engine.summary import summarize
from mpmsim.models.hardware import HardwareSpec, IdleWakeSpec, load_hardware
from tests.helpers import IDEAL_HW, Cli, finish_times, prepared

MS = 0.001
US = 1e-6
WAKE = IdleWakeSpec(halt_after_us=100, wake_us=40, cold_us_per_idle_ms=26, cold_max_us=270)


@pytest.fixture(params=[CPU, CFSCPU, EEVDFCPU], ids=["ps", "cfs", "eevdf"])
def cpu_env(request: pytest.FixtureRequest) -> tuple[CPU, simpy.Environment]:
    env = simpy.Environment()
    cpu = request.param(env, 1)
    cpu.set_idle_wake(WAKE)
    return cpu, env


def test_a_job_after_a_long_idle_spell_pays_the_wake_and_the_cold(
    cpu_env: tuple[CPU, simpy.Environment],
) -> None:
    cpu, env = cpu_env
    # the first job ends at 0.1 ms; the second comes 2 ms later: 40 + 26 x 2 = 92 us more
    first, second = finish_times(cpu, env, [(0.0, 0.1 * MS), (2.1 * MS, 0.1 * MS)])
    assert first == pytest.approx(0.1 * MS)  # nothing ran before it: busy_until 0, idle 0
    assert second == pytest.approx(2.1 * MS + 0.1 * MS + 92 * US)


def test_the_cost_stops_at_the_whole_cold_cache(cpu_env: tuple[CPU, simpy.Environment]) -> None:
    cpu, env = cpu_env
    # 50 ms idle: 40 + 1,300 us, capped at 270
    _, second = finish_times(cpu, env, [(0.0, 0.1 * MS), (50.1 * MS, 0.1 * MS)])
    assert second == pytest.approx(50.1 * MS + 0.1 * MS + 270 * US)


def test_a_short_spell_is_polled_through(cpu_env: tuple[CPU, simpy.Environment]) -> None:
    cpu, env = cpu_env
    # 80 us idle, under halt_after_us: the vCPU polled, the job costs what it costs
    _, second = finish_times(cpu, env, [(0.0, 0.1 * MS), (0.18 * MS, 0.1 * MS)])
    assert second == pytest.approx(0.28 * MS)


def test_a_busy_cpu_pays_nothing(cpu_env: tuple[CPU, simpy.Environment]) -> None:
    cpu, env = cpu_env
    # the second job arrives while the first runs, the third just as the second ends
    ends = finish_times(cpu, env, [(0.0, 1 * MS), (0.5 * MS, 1 * MS), (2 * MS, 1 * MS)])
    assert ends[-1] == pytest.approx(3 * MS)


def test_without_the_spec_a_job_costs_its_work() -> None:
    env = simpy.Environment()
    cpu = CFSCPU(env, 1)
    cpu.set_idle_wake(WAKE)
    cpu.set_idle_wake(None)
    _, second = finish_times(cpu, env, [(0.0, 0.1 * MS), (20 * MS, 0.1 * MS)])
    assert second == pytest.approx(20.1 * MS)


def test_the_spec_is_checked_and_cited() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        IdleWakeSpec(halt_after_us=100, wake_us=-1, cold_us_per_idle_ms=0, cold_max_us=0)
    with pytest.raises(ValidationError, match="Extra inputs"):
        IdleWakeSpec.model_validate({"halt_after_us": 1, "wake_us": 1, "cold_us_per_idle_ms": 1,
                                     "cold_max_us": 1, "halt_ms": 3})  # fmt: skip
    spec = HardwareSpec(vcpus=1, ram_mib=4096, idle_wake=WAKE,
                        sources={"idle_wake.wake_us": "measured"})  # fmt: skip
    assert spec.idle_wake == WAKE
    bench = load_hardware("bench-1core")
    assert bench.idle_wake is not None and bench.sources["idle_wake"]


def _paced(idle_wake: IdleWakeSpec | None, rate: float) -> dict[str, Any]:
    """20 keep-alive clients at ``rate`` requests a second each, 0.05 ms requests, one vCPU."""
    hw = dict(IDEAL_HW, cpu_scheduler="cfs")
    if idle_wake is not None:
        hw["idle_wake"] = idle_wake.model_dump()
    prep = prepared(
        hardware=hw, seed=5, duration_s=10.0,
        server={"mpm": "event"},
        load={"kind": "closed", "clients": 20, "keepalive": True, "rate_per_client_rps": rate},
        mix=[{"name": "r", "cpu_ms": 0.05}], warmup_s=1.0,
    )  # fmt: skip
    return summarize(prep, run_prepared(prep, 1).replications[0])


def test_a_lightly_loaded_server_pays_per_request_what_a_busy_one_does_not() -> None:
    # 100 req/s: the vCPU idles ~10 ms between requests, so each request's first job pays about
    # the whole 270 us; at 20,000 req/s offered the CPU is saturated and never idles.
    slow_plain, slow = _paced(None, 5.0), _paced(WAKE, 5.0)
    extra_ms = slow["cpu_ms_per_request"] - slow_plain["cpu_ms_per_request"]
    assert 0.2 < extra_ms < 0.3
    # the run counts what it added (what calibrate takes off a measured row: calibration.wake_sim)
    assert slow["idle_wake_cpu_ms_per_request"] == pytest.approx(extra_ms, rel=0.05)
    assert slow_plain["idle_wake_cpu_ms_per_request"] == 0.0
    busy_plain, busy = _paced(None, 1000.0), _paced(WAKE, 1000.0)
    assert busy["cpu_ms_per_request"] == pytest.approx(busy_plain["cpu_ms_per_request"], rel=0.02)
    assert busy["idle_wake_cpu_ms_per_request"] < 0.002


def test_the_count_is_the_work_added(cpu_env: tuple[CPU, simpy.Environment]) -> None:
    cpu, env = cpu_env
    # 92 us after 2 ms idle, nothing after 80 us (polled), 270 after 50 ms (the cap)
    jobs = [(0.0, 0.1 * MS), (2.1 * MS, 0.1 * MS), (2.372 * MS, 0.1 * MS), (52.5 * MS, 0.1 * MS)]
    finish_times(cpu, env, jobs)
    assert cpu.idle_wake_s == pytest.approx((92 + 270) * US)


def test_the_run_says_what_an_idle_vcpu_costs(mpmsim: Cli) -> None:
    out = mpmsim("run", "workloads/examples/primer-ab-event.yaml", "--set",
                 "hardware=bench-1core", "--set", "load.requests=2000", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    bench = load_hardware("bench-1core").idle_wake
    said = json.loads(out.stdout)["idle_wake"]
    assert bench is not None and said == {**bench.model_dump(), "cpu_ms_per_request": ANY}
    assert 0.0 <= said["cpu_ms_per_request"] < 0.01  # ab's 100 clients keep the CPU busy
    text = mpmsim("run", "workloads/examples/primer-ab-event.yaml", "--set",
                  "hardware=bench-1core", "--set", "load.requests=2000")  # fmt: skip
    assert re.search(
        rf"idle wake-up +a job after more than 100 us idle costs {bench.wake_us:g} us.*"
        r"; [0-9.]+ ms of the CPU per request here",
        text.stdout,
    )
    plain = mpmsim("run", "workloads/examples/primer-ab-event.yaml", "--set",
                   "load.requests=2000", "--json")  # fmt: skip
    assert "idle_wake" not in json.loads(plain.stdout)
