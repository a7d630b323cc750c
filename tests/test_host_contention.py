"""A shared host slowing the vCPUs (mpmsim.engine.host), its probe and its spec."""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from mpmsim.bench.host_probe import contention
from mpmsim.engine.cfs import CFSCPU
from mpmsim.engine.cpu import CPU
from mpmsim.engine.eevdf import EEVDFCPU
from mpmsim.engine.host import HostContention
from mpmsim.engine.replications import run_prepared
from mpmsim.engine.summary import summarize
from mpmsim.models.hardware import HostContentionSpec
from tests.helpers import IDEAL_HW, Cli, prepared

MS = 0.001


@pytest.mark.parametrize("cpu_class", [CPU, CFSCPU, EEVDFCPU])
def test_a_job_runs_at_half_speed_while_the_vcpu_is_slowed(cpu_class: type[CPU]) -> None:
    # 10 ms of work from 0; the vCPU runs at half speed from 4 ms to 8 ms: 4 ms done by 4 ms,
    # 2 ms more by 8 ms, the last 4 ms by 12 ms.
    env = simpy.Environment()
    cpu = cpu_class(env, vcpus=1)
    done: list[float] = []

    def job() -> Generator[simpy.Event, Any, None]:
        yield cpu.run(10 * MS)
        done.append(env.now)

    def host() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(4 * MS)
        cpu.set_speed(0.5)
        yield env.timeout(4 * MS)
        cpu.set_speed(1.0)

    env.process(job())
    env.process(host())
    env.run()
    assert done == [pytest.approx(12 * MS, abs=1e-12)]
    assert cpu.busy_core_s == pytest.approx(12 * MS)  # the slowed time counts as busy
    assert cpu.work_done_s == pytest.approx(10 * MS)


@pytest.mark.parametrize("vcpus", [1, 2])
def test_the_slow_share_of_the_time_is_the_specs(vcpus: int) -> None:
    # 2,000 s of phases of mean 50 ms slow and 450 ms full speed: ~4,000 slow phases per vCPU,
    # whose total is within 5 % of 10 % of the time (its relative standard error is ~2.2 %).
    spec = HostContentionSpec(slow_fraction=0.1, slow_speed=0.5, slow_phase_ms=50)
    env = simpy.Environment()
    cpu = CPU(env, vcpus=vcpus)
    host = HostContention(env, cpu, spec, np.random.default_rng(7))
    host.start()
    speeds: list[float] = []
    env.process(_watch(env, cpu, speeds))
    env.run(until=2000.0)
    assert host.slow_s / (2000.0 * vcpus) == pytest.approx(0.1, rel=0.05)
    # the machine's speed: each slow vCPU takes (1 - 0.5) / vcpus of it away
    assert set(np.round(speeds, 9)) <= {1.0 - 0.5 * k / vcpus for k in range(vcpus + 1)}
    assert float(np.mean(speeds)) == pytest.approx(spec.mean_speed, rel=0.02)


def _watch(
    env: simpy.Environment, cpu: CPU, speeds: list[float]
) -> Generator[simpy.Event, Any, None]:
    while True:
        speeds.append(cpu.speed)
        yield env.timeout(0.01)


def test_no_slow_phase_leaves_the_cpu_alone() -> None:
    env = simpy.Environment()
    cpu = CPU(env, vcpus=1)
    spec = HostContentionSpec(slow_fraction=0.0, slow_speed=0.5, slow_phase_ms=10)
    HostContention(env, cpu, spec, np.random.default_rng(1)).start()
    assert env.peek() == float("inf")  # no process was started


def _ab(host: dict[str, Any] | None) -> dict[str, Any]:
    """100 ab-like clients without keep-alive on one vCPU, 0.1 ms requests: saturated."""
    hw = dict(IDEAL_HW, host_contention=host) if host else IDEAL_HW
    prep = prepared(
        hardware=hw, seed=3, duration_s=20.0,
        server={"mpm": "prefork", "directives": {"StartServers": 8, "MinSpareServers": 8,
                "MaxSpareServers": 9, "MaxRequestWorkers": 8, "ServerLimit": 8}},
        load={"kind": "closed", "clients": 100, "keepalive": False},
        mix=[{"name": "r", "cpu_ms": 0.1}], warmup_s=1.0,
    )  # fmt: skip
    return summarize(prep, run_prepared(prep, 1).replications[0])


def test_slow_phases_spread_a_saturated_closed_loops_latency() -> None:
    # Every queue is first come, first served, so without contention each request waits for
    # the other 99 (p95 / p50 ~1.0). Phases at half speed, 15 % of the time (mean 50 ms),
    # double the wait of the requests in flight then: ~8 % of them, so the p95 is a slow one.
    # The rate falls to the mean speed, 0.925 of the full one.
    plain = _ab(None)
    shared = _ab({"slow_fraction": 0.15, "slow_speed": 0.5, "slow_phase_ms": 50})
    assert plain["latency_p95_ms"] / plain["latency_p50_ms"] < 1.1
    assert shared["latency_p95_ms"] / shared["latency_p50_ms"] > 1.4
    assert shared["throughput_rps"] / plain["throughput_rps"] == pytest.approx(0.925, abs=0.04)


def test_the_run_says_the_host_slows_it_and_theory_counts_the_mean_speed(mpmsim: Cli) -> None:
    # bench-1core's host: 7.3 % of the time at 0.69, mean speed 1 - 0.073 x 0.31 = 0.97737.
    out = mpmsim("run", "workloads/examples/primer-ab-event.yaml", "--set",
                 "hardware=bench-1core", "--set", "load.requests=2000", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["host_contention"] == {"slow_fraction": 0.073, "slow_speed": 0.69,
                                      "slow_phase_ms": 24.0, "mean_speed": 0.9774}  # fmt: skip
    assert "1 vCPU x speed 0.97737" in res["theory"]["bounds"]["cpu"]["formula"]
    text = mpmsim("run", "workloads/examples/primer-ab-event.yaml", "--set",
                  "hardware=bench-1core", "--set", "load.requests=2000")  # fmt: skip
    assert re.search(r"shared host +vCPUs at 0.69 of their speed 7.3 % of the time", text.stdout)
    plain = mpmsim("run", "workloads/examples/primer-ab-event.yaml", "--set",
                   "load.requests=2000", "--json")  # fmt: skip
    assert "host_contention" not in json.loads(plain.stdout)


def test_the_same_seed_draws_the_same_slow_phases() -> None:
    # The phases come from the replication's own stream (seed, replication, "host"): the same
    # seed gives the same run; another seed draws other phases (and other service times).
    host = {"slow_fraction": 0.2, "slow_speed": 0.5, "slow_phase_ms": 20}
    hw = dict(IDEAL_HW, host_contention=host)

    def latencies(seed: int) -> list[float]:
        prep = prepared(hardware=hw, seed=seed, duration_s=2.0,
                        load={"kind": "closed", "clients": 20, "keepalive": False},
                        mix=[{"name": "r", "cpu_ms": 0.1}])  # fmt: skip
        req = run_prepared(prep, 1).replications[0].requests
        return list(req["t_end_s"] - req["t_start_s"])

    assert latencies(5) == latencies(5)
    assert latencies(5) != latencies(6)


def test_the_probe_reads_slow_windows_off_the_counts() -> None:
    # 100 windows of 10 ms: two slow runs (3 windows at half speed, 1 at 0.4), the rest full.
    counts = [1000.0] * 100
    counts[10:13] = [500.0] * 3
    counts[50] = 400.0
    found = contention([counts], 10.0, cpu_over_wall=1.0)
    assert found.slow_fraction == pytest.approx(0.04)
    assert found.slow_speed == pytest.approx((3 * 0.5 + 0.4) / 4)
    assert found.slow_phase_ms == pytest.approx(20.0)  # 4 slow windows in 2 runs
    block = found.as_yaml()
    assert HostContentionSpec(**_yaml_block(block)).slow_fraction == pytest.approx(0.04)


def _yaml_block(text: str) -> dict[str, float]:
    import yaml

    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return dict(data["host_contention"])


def test_the_probe_without_slow_windows_and_with_too_few() -> None:
    assert contention([[1000.0] * 20], 10.0, 1.0).slow_fraction == 0.0
    with pytest.raises(ValueError, match="10 windows"):
        contention([[1000.0] * 20, [1000.0] * 5], 10.0, 1.0)


def test_the_probe_reads_a_saturated_servers_access_log(mpmsim: Cli, tmp_path: Any) -> None:
    # 1,000 requests a second for 3 s, but 500 a second from 2.0 to 2.1 s: after the first
    # 0.5 s, 250 windows of 10 ms of which 10 (one run of 100 ms) at half the median.
    t0 = 1_700_000_000.0
    times, t = [], t0
    while t < t0 + 3.0:
        times.append(t)
        t += 0.002 if t0 + 2.0 <= t < t0 + 2.1 else 0.001
    lines = [f'{round(x * 1e6)} 50 200 "GET / HTTP/1.1"' for x in times]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    fmt = '%{usec}t %D %>s "%r"'
    out = mpmsim("hardware", "probe", "--access-log", str(path), "--log-format", fmt,
                 "--skip-s", "0.5")  # fmt: skip
    assert out.returncode == 0, out.stderr
    block = _yaml_block(out.stdout.split("\n", 1)[1])
    assert block["slow_fraction"] == pytest.approx(10 / 249, abs=0.005)
    assert block["slow_speed"] == pytest.approx(0.5, abs=0.02)
    assert block["slow_phase_ms"] == pytest.approx(100, abs=10)
    bad = mpmsim("hardware", "probe", "--access-log", str(path), "--skip-s", "0.5")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "do not match the format" in bad.stderr
    short = mpmsim("hardware", "probe", "--access-log", str(path), "--log-format", fmt,
                   "--skip-s", "10")  # fmt: skip
    assert short.returncode == 2 and "Traceback" not in short.stderr
    assert "at least 10 are needed" in short.stderr and "access.log" in short.stderr


def test_hardware_probe_prints_a_block_or_says_none(mpmsim: Cli) -> None:
    out = mpmsim("hardware", "probe", "--seconds", "1")
    assert out.returncode == 0, out.stderr
    assert re.match(r"# mpmsim hardware probe: \d+ windows of 10 ms", out.stdout)
    assert "host_contention:" in out.stdout or "no slow window" in out.stdout


@pytest.mark.parametrize(
    ("value", "field"),
    [({"slow_fraction": 1.0, "slow_speed": 0.5, "slow_phase_ms": 10}, "slow_fraction"),
     ({"slow_fraction": 0.1, "slow_speed": 0.0, "slow_phase_ms": 10}, "slow_speed"),
     ({"slow_fraction": 0.1, "slow_speed": 0.5, "slow_phase_ms": -1}, "slow_phase_ms"),
     ({"slow_fraction": 0.1, "slow_speed": 0.5, "slow_phase": 10}, "slow_phase")],
)  # fmt: skip
def test_a_bad_host_contention_is_one_line_naming_the_field(
    mpmsim: Cli, tmp_path: Any, value: dict[str, float], field: str
) -> None:
    import yaml

    from tests.helpers import scenario_dict

    data = scenario_dict(hardware=dict(IDEAL_HW, host_contention=value))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    out = mpmsim("run", str(path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"hardware.host_contention.{field}" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
