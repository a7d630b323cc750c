"""Linux's schedulers as CPUs: CFS (mpmsim.engine.cfs) and EEVDF (mpmsim.engine.eevdf).

Both run one task per vCPU and end slices at ticks; they differ in whom they pick and when a
wake-up preempts. The figures below are worked out by hand from the rules in each module.
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmsim.engine.cfs import CFSCPU
from mpmsim.engine.cpu import CPU
from mpmsim.engine.eevdf import EEVDFCPU
from mpmsim.engine.job_waits import JobWaits
from mpmsim.engine.replication import make_cpu
from mpmsim.models.hardware import HardwareSpec
from tests.helpers import finish_times

MS = 0.001


LINUX = [CFSCPU, EEVDFCPU]


@pytest.mark.parametrize("cpu_class", LINUX)
def test_jobs_run_one_at_a_time_not_shared(cpu_class: type[CFSCPU]) -> None:
    # Processor sharing would finish both at 2 ms; Linux runs the first to its end (it needs
    # less than a tick), then the second.
    env = simpy.Environment()
    done = finish_times(cpu_class(env, vcpus=1), env, [(0.0, 1 * MS), (0.0, 1 * MS)])
    assert done == [1 * MS, 2 * MS]
    env = simpy.Environment()
    shared = finish_times(CPU(env, vcpus=1), env, [(0.0, 1 * MS), (0.0, 1 * MS)])
    assert shared[0] == shared[1] == 2 * MS


@pytest.mark.parametrize(("online", "slice_ms"), [(None, 0.75), (1, 0.75), (2, 1.5), (16, 3.0)])
def test_the_base_slice_scales_with_the_cpus_online(online: int | None, slice_ms: float) -> None:
    # sysctl_sched_base_slice 0.75 ms x (1 + log2(min(online CPUs, 8))): a server pinned to one
    # CPU of two gets the two CPUs' 1.5 ms (kernel/sched/fair.c, get_update_sysctl_factor).
    waits = JobWaits()
    EEVDFCPU(simpy.Environment(), vcpus=1, scheduler_cpus=online).watch(waits)
    assert waits.slice_s == pytest.approx(slice_ms * MS)


def test_a_pinned_server_gets_the_online_cpus_slice_from_its_hardware() -> None:
    hw = HardwareSpec(vcpus=1, ram_mib=1024, cpu_scheduler="eevdf", online_cpus=2)
    cpu = make_cpu(simpy.Environment(), hw)
    assert isinstance(cpu, EEVDFCPU)
    waits = JobWaits()
    cpu.watch(waits)
    assert waits.slice_s == pytest.approx(1.5 * MS)


def test_a_woken_task_preempts_one_that_ran_past_the_wakeup_granularity() -> None:
    # The long job has run 5 ms; the newcomer is placed at min_vruntime - latency/2 and leads it
    # by more than 1 ms, so it runs at once and the long job resumes after it.
    env = simpy.Environment()
    done = finish_times(CFSCPU(env, vcpus=1), env, [(0.0, 10 * MS), (5 * MS, 0.5 * MS)])
    assert abs(done[1] - 5.5 * MS) < 1e-12
    assert abs(done[0] - 10.5 * MS) < 1e-12


@pytest.mark.parametrize("cpu_class", LINUX)
def test_long_jobs_take_turns_at_ticks(cpu_class: type[CFSCPU]) -> None:
    # Two 20 ms jobs on one vCPU at HZ 250: each runs until a tick finds it past its slice.
    env = simpy.Environment()
    cpu = cpu_class(env, vcpus=1, tick_hz=250)
    done = finish_times(cpu, env, [(0.0, 20 * MS), (0.0, 20 * MS)])
    assert abs(max(done) - 40 * MS) < 1e-9  # no work lost without a switch cost
    assert min(done) > 30 * MS  # neither ran to its end alone first


def test_a_resumed_job_pays_a_context_switch() -> None:
    env = simpy.Environment()
    cpu = CFSCPU(env, vcpus=1, switch_s=10e-6)
    done = finish_times(cpu, env, [(0.0, 10 * MS), (5 * MS, 0.5 * MS)])
    assert abs(done[0] - (10.5 * MS + 10e-6)) < 1e-12


def test_eevdf_wakeup_waits_for_the_tick_then_takes_its_turn() -> None:
    # The long job's slice (0.75 ms) ran out long before; at the 4 ms tick it got the deadline
    # 4.75 ms. The job woken at 5 ms is placed at the average vruntime (5 ms) with deadline
    # 5.75 ms: later than the running job's, so it waits; at the 8 ms tick the long job gets
    # 8.75 ms and the short one, eligible with the earlier deadline, runs: 8 -> 8.5 ms.
    env = simpy.Environment()
    cpu = EEVDFCPU(env, vcpus=1, switch_s=10e-6)
    done = finish_times(cpu, env, [(0.0, 10 * MS), (5 * MS, 0.5 * MS)])
    assert abs(done[1] - 8.5 * MS) < 1e-12
    assert abs(done[0] - (10.5 * MS + 10e-6)) < 1e-12


@pytest.mark.parametrize("cpu_class", LINUX)
def test_two_vcpus_run_two_jobs_at_once(cpu_class: type[CFSCPU]) -> None:
    env = simpy.Environment()
    done = finish_times(cpu_class(env, vcpus=2), env, [(0.0, 1 * MS)] * 3)
    assert sorted(done) == [1 * MS, 1 * MS, 2 * MS]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 0.05), st.floats(1e-6, 0.02)), min_size=1, max_size=40),
    st.integers(1, 3),
    st.sampled_from(LINUX),
)
def test_work_is_conserved(
    jobs: list[tuple[float, float]], vcpus: int, cpu_class: type[CFSCPU]
) -> None:
    """Every job finishes, no earlier than its work allows, and the CPU served exactly the work."""
    env = simpy.Environment()
    cpu = cpu_class(env, vcpus=vcpus)
    done = finish_times(cpu, env, jobs)
    for (at, work), end in zip(jobs, done, strict=True):
        assert end >= at + work - 1e-9
    total = sum(w for _, w in jobs)
    assert abs(cpu.work_done_s - total) <= 1e-9 * max(1.0, total) + 1e-12 * len(jobs)
    # Never idle while work waits: the last job ends no later than all work served back to
    # back from the last arrival.
    assert max(done) <= max(at for at, _ in jobs) + total + 1e-9


@pytest.mark.parametrize("cpu_class", LINUX)
def test_mm1_mean_response_time(cpu_class: type[CFSCPU]) -> None:
    """M/M/1 at load 0.7: mean response 1 / (mu - lambda) = 3.33 ms, within 6 %.

    Neither scheduler looks at a job's size (it is non-anticipating and work-conserving), so with
    exponential work the mean number in the system, hence the mean response, is M/M/1's
    (the conservation law). 60,000 jobs: the batch-means standard error is about 2 %.
    """
    rng = np.random.default_rng(7)
    n, lam, mean_work = 60_000, 0.7 / MS, 1 * MS
    arrivals = np.cumsum(rng.exponential(1.0 / lam, n))
    work = rng.exponential(mean_work, n)
    env = simpy.Environment()
    cpu = cpu_class(env, vcpus=1)
    done = finish_times(cpu, env, list(zip(arrivals.tolist(), work.tolist(), strict=True)))
    response = np.asarray(done) - arrivals
    expected = 1.0 / (1.0 / mean_work - lam)
    assert abs(response[1000:].mean() / expected - 1.0) < 0.06


def test_eevdf_a_woken_task_keeps_the_lag_its_task_slept_with() -> None:
    # One vCPU: slice 0.75 ms, ticks every 4 ms. A 10 ms job runs from 0; a 0.2 ms job queued
    # at 0 gets the vCPU at the 4 ms tick (eligible, A is not) and ends at 4.2 ms having run
    # less than its share: lag V - v = (4 + 0.2) / 2 - 0.2 = 1.9 ms. A wake-up at 5 ms takes
    # that task's lag: placed 1.9 ms before A's vruntime with the earlier deadline, it preempts
    # A (past its slice) at once and ends at 5.3 ms; at lag 0 it would wait for the 8 ms tick.
    env = simpy.Environment()
    done = finish_times(
        EEVDFCPU(env, vcpus=1), env, [(0.0, 10 * MS), (0.0, 0.2 * MS), (5 * MS, 0.3 * MS)]
    )
    assert done[1] == pytest.approx(4.2 * MS)
    assert done[2] == pytest.approx(5.3 * MS)
    assert done[0] == pytest.approx(10.5 * MS)


@pytest.mark.parametrize("known", [True, False])
def test_cfs_a_known_task_wakes_with_its_own_vruntime(known: bool) -> None:
    # One vCPU: ticks every 4 ms, wake-up granularity 1 ms, sleeper credit 3 ms. Q runs 8 ms
    # alone from 0 (vruntime v0 -> v0 + 8 ms) and sleeps; P runs 0.1 ms at 8.5 ms and R, 20 ms,
    # from 9 ms. Known (run_task), Q keeps its vruntime: P and R start at min_vruntime - 3 =
    # v0 + 5 (R at v0 + 5.1, P's), and Q, woken at 12.5 ms at max(v0 + 8, v0 + 8.6 - 3), leads R
    # (v0 + 8.6) by 0.6 ms only: it waits for R's slice to end at the 16 ms tick. Pooled, P
    # takes Q's vruntime and R P's (v0 + 8.1), and Q is placed at min_vruntime - 3 = v0 + 8.6,
    # 3 ms before R: it preempts R at once and is done at 13 ms.
    env = simpy.Environment()
    cpu = CFSCPU(env, vcpus=1)
    cpu.tasks_alive = 10
    done: dict[str, float] = {}

    def job(name: str, at: float, work: float):  # type: ignore[no-untyped-def]
        yield env.timeout(at)
        if known and name == "Q":
            yield cpu.run_task(work, None, name, True)
        else:
            yield cpu.run(work)
        done[name] = env.now

    for name, at, work in [("Q", 0.0, 8 * MS), ("P", 8.5 * MS, 0.1 * MS),
                           ("R", 9 * MS, 20 * MS), ("Q", 12.5 * MS, 0.5 * MS)]:  # fmt: skip
        env.process(job(name, at, work))
    env.run()
    assert done["Q"] == pytest.approx(16.5 * MS if known else 13.0 * MS)
    assert done["R"] == pytest.approx(29.5 * MS)  # 28.6 ms of work, idle 8-8.5 and 8.6-9 ms


def test_eevdf_a_task_asleep_ahead_of_the_average_still_counts_in_it() -> None:
    # One vCPU: slice 0.75 ms, ticks every 4 ms; the pool remembers one sleeper (tasks_alive
    # 1). A (6 ms) runs alone from 1 ms to 7 ms (v 0 -> 6). B (0.3 ms) and C (3 ms), woken at
    # 4 ms, are placed at V = 3 (deadline 3.75), D (1 ms) at 6 ms at V = (5 + 3 + 3) / 3 =
    # 3.667 (deadline 4.417). At 7 ms A sleeps ahead of V (delayed: still queued, in V). B runs
    # 7 -> 7.3 and sleeps with lag V - v = (3.3 + 3 + 3.667 + 6) / 4 - 3.3 = 0.692 (0.022
    # without A). E, woken at 8 ms, takes B's lag: placed at (3.7 + 3.667 + 6) / 3 - 0.692 =
    # 3.764, deadline 4.514. When C ends at 10.3 ms, V = 4.86 (A and C queued, both delayed):
    # D and E are eligible and D's deadline is earlier, so D ends at 11.3 ms and E at 11.8. With
    # A out of V, E would sit at 3.661 with the earlier deadline 4.411 and end first, at 10.8.
    env = simpy.Environment()
    jobs = [
        (1 * MS, 6 * MS),
        (4 * MS, 0.3 * MS),
        (4 * MS, 3 * MS),
        (6 * MS, 1 * MS),
        (8 * MS, 0.5 * MS),
    ]
    done = finish_times(EEVDFCPU(env, vcpus=1), env, jobs)
    assert done == pytest.approx([7 * MS, 7.3 * MS, 10.3 * MS, 11.3 * MS, 11.8 * MS])
