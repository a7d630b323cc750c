"""The schedulers' diagnostic record of their jobs' waits, and benchmarks/sim_waits.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import simpy

from mpmsim.engine.cfs import CFSCPU
from mpmsim.engine.eevdf import EEVDFCPU
from mpmsim.engine.job_waits import JobWaits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import sim_waits

MS = 1e-3


def _by_kind(waits: JobWaits) -> dict[str, dict[str, float | str]]:
    return {str(k["kind"]): k for k in waits.summary()}


def _watched(cpu_class: type[CFSCPU]) -> tuple[simpy.Environment, CFSCPU, JobWaits]:
    """A one-vCPU run queue of ``cpu_class`` recording into a fresh :class:`JobWaits`."""
    env = simpy.Environment()
    cpu = cpu_class(env, vcpus=1)
    waits = JobWaits()
    cpu.watch(waits)
    return env, cpu, waits


def test_the_record_counts_waits_ends_preemptions_and_short_slices() -> None:
    waits = JobWaits()
    waits.slice_s = 1.5 * MS
    a, b, c = object(), object(), object()
    waits.woke(a, "pool", 0.0, 1.5 * MS)
    waits.woke(b, "pool", 0.0, 0.5 * MS)  # a deadline carried over: a short slice
    waits.woke(c, "short", 0.0, 1.5 * MS)
    waits.started(a, 1 * MS)
    waits.started(b, 3 * MS)
    waits.preempted(b)
    waits.started(b, 6 * MS)  # resumed: not a first run
    waits.ended(a, 2 * MS)
    waits.ended(b, 7 * MS)
    # c never ran: not counted; nor is a job the record never saw woken
    waits.started(object(), 1 * MS)
    waits.preempted(object())
    waits.ended(object(), 2 * MS)
    kinds = _by_kind(waits)
    assert set(kinds) == {"pool"}
    pool = kinds["pool"]
    assert pool["jobs"] == 2
    assert pool["wait_p50_ms"] == pytest.approx(2.0)  # 1 and 3 ms
    assert pool["to_end_p50_ms"] == pytest.approx(4.5)  # 2 and 7 ms
    assert pool["preempted_share"] == pytest.approx(0.5)
    assert pool["short_slice_share"] == pytest.approx(0.5)


def test_without_a_slice_the_record_says_nothing_of_short_slices() -> None:
    waits = JobWaits()
    job = object()
    waits.woke(job, "task", 0.0, 0.0)
    waits.started(job, 0.0)
    waits.ended(job, 1 * MS)
    (rec,) = waits.summary()
    assert rec["kind"] == "task" and "short_slice_share" not in rec


@pytest.mark.parametrize("cpu_class", [CFSCPU, EEVDFCPU])
def test_a_watched_run_queue_records_each_kind_of_job(cpu_class: type[CFSCPU]) -> None:
    env, cpu, waits = _watched(cpu_class)
    cpu.run(1 * MS)  # a request task from the sleepers' pool: runs at once
    cpu.run_task(1 * MS, None, "conn", False)  # a known task: waits behind it
    cpu.run_queued(0.1 * MS)  # a short job: behind both
    env.run()
    kinds = _by_kind(waits)
    assert set(kinds) == {"pool", "task", "short"}
    assert kinds["pool"]["wait_p50_ms"] == pytest.approx(0.0, abs=1e-9)
    assert kinds["task"]["wait_p50_ms"] == pytest.approx(1.0, rel=0.05)
    assert kinds["short"]["wait_p50_ms"] == pytest.approx(2.0, rel=0.05)
    assert kinds["short"]["to_end_p50_ms"] == pytest.approx(2.1, rel=0.05)
    assert all(k["preempted_share"] == 0.0 for k in kinds.values())
    assert ("short_slice_share" in kinds["pool"]) == (cpu_class is EEVDFCPU)


@pytest.mark.parametrize("cpu_class", [CFSCPU, EEVDFCPU])
def test_jobs_taken_off_at_ticks_count_as_preempted(cpu_class: type[CFSCPU]) -> None:
    env, cpu, waits = _watched(cpu_class)
    cpu.run(20 * MS)
    cpu.run(20 * MS)  # two long jobs take turns at the ticks
    env.run()
    (pool,) = waits.summary()
    assert pool["jobs"] == 2 and pool["preempted_share"] == 1.0


def test_a_job_alone_is_never_preempted() -> None:
    env, cpu, waits = _watched(EEVDFCPU)
    cpu.run(20 * MS)  # past its slice at every tick, but nothing else waits
    env.run()
    (pool,) = waits.summary()
    assert pool["preempted_share"] == 0.0 and pool["to_end_p50_ms"] == pytest.approx(20.0)


def test_sim_waits_prints_a_rows_figures_and_its_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    csv = Path(__file__).resolve().parent.parent / "measurements/one-client/runs.csv"
    assert sim_waits.main([str(csv), "--run", "one-client-prefork-ab-c1-ka1-r1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("one-client-prefork-ab-c1-ka1-r1: req/s ")
    assert any(line.lstrip().startswith("task") and "wait p10/50/90/99" in line for line in out)
    # ab's percentiles beside the CSV, then the simulated window's, each in rising order
    dists = [line.split()[3:-1] for line in out if line.lstrip().startswith("latency")]
    assert [line.split()[2] for line in out if line.lstrip().startswith("latency")] == [
        "measured",
        "simulated",
    ]
    for dist in dists:
        values = [float(v) for v in dist]
        assert len(values) == len(sim_waits.PERCENTILES) and values == sorted(values)


def test_sim_waits_sets_the_cpus_online(capsys: pytest.CaptureFixture[str]) -> None:
    csv = Path(__file__).resolve().parent.parent / "measurements/one-client/runs.csv"
    run = "one-client-prefork-ab-c1-ka1-r1"
    assert sim_waits.main([str(csv), "--run", run, "--online-cpus", "0"]) == 2
    assert "--online-cpus 0: at least vcpus (1)" in capsys.readouterr().err
    assert (
        sim_waits.main([str(csv), "--run", run, "--scheduler", "eevdf", "--online-cpus", "2"]) == 0
    )


def test_sim_waits_names_a_run_it_cannot_find(capsys: pytest.CaptureFixture[str]) -> None:
    csv = Path(__file__).resolve().parent.parent / "measurements/one-client/runs.csv"
    assert sim_waits.main([str(csv), "--run", "no-such-row"]) == 2
    assert "--run no-such-row: no row of" in capsys.readouterr().err
