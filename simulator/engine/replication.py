"""One simulated run (a replication) of a prepared scenario."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import simpy

from mpmsim.engine.client import Client
from mpmsim.engine.cpu import CPU, BurstState
from mpmsim.engine.memory import MemoryLedger
from mpmsim.engine.recorder import Recorder, sample_series
from mpmsim.engine.server import LogLine, Server
from mpmsim.engine.simpy_internals import events_scheduled
from mpmsim.models.mpm.registry import make_mpm
from mpmsim.spec.resolve import Prepared
from mpmsim.spec.scenario import ClosedLoad
from mpmsim.workloads.closed import RequestBudget, start_closed
from mpmsim.workloads.distributions import make_sampler, stream
from mpmsim.workloads.mix import RequestDraw
from mpmsim.workloads.open import ArrivalSchedule, arrivals

#: A closed load with only a request count stops at the latest after this much simulated time.
MAX_SIMULATED_S = 86_400.0


@dataclass
class Replication:
    """Everything one run produced: request rows, time series and counters."""

    index: int
    seed: int
    requests: dict[str, np.ndarray]
    series: list[tuple[float, ...]]
    end_s: float
    counters: dict[str, float]
    error_log: list[LogLine] = field(default_factory=list)
    wall_s: float = 0.0


def _sample_interval(prep: Prepared) -> float:
    if prep.scenario.sample_interval_s is not None:
        return prep.scenario.sample_interval_s
    duration = prep.duration_s
    if duration is None:
        return 0.05
    return max(duration / 400.0, 0.001)


@dataclass
class World:
    """A simulated machine running Apache, and the clients that will load it."""

    env: simpy.Environment
    cpu: CPU
    memory: MemoryLedger
    server: Server
    recorder: Recorder
    client: Client


def build_world(prep: Prepared, index: int = 0) -> World:
    """Set up replication ``index`` of ``prep`` at time 0 (server started, no load yet)."""
    sc = prep.scenario
    load = sc.load
    hw = prep.hardware
    env = simpy.Environment()
    burst = None
    if hw.burst is not None:
        b = hw.burst
        burst = BurstState(
            baseline_fraction=b.baseline_fraction,
            credits_initial=b.credits_initial,
            credits_max=b.credits_max,
            credits_per_hour=b.credits_per_hour,
            unlimited=b.mode == "unlimited",
        )
    cpu = CPU(env, hw.vcpus, hw.cpu_speed, 0.0, burst)
    memory = MemoryLedger(hw.usable_ram_mib)
    model = make_mpm(prep.mpm, prep.directives)
    server = Server(
        env,
        model,
        prep.directives,
        prep.costs,
        hw,
        cpu,
        memory,
        sc.server.somaxconn,
        sc.server.listeners,
    )
    memory.on_exceed = server.kill_largest_child  # the OOM killer
    server.start()
    recorder = Recorder()
    draw = RequestDraw(prep.classes, stream(sc.seed, index, "service"))
    bandwidth = (
        load.client_bandwidth_kbps * 1000.0 / 8.0
        if load.client_bandwidth_kbps is not None
        else None
    )
    timeout_s = load.timeout_s if isinstance(load, ClosedLoad) else load.client_timeout_s
    client = Client(
        env,
        server,
        recorder,
        draw,
        rtt_s=load.network_rtt_ms / 1000.0,
        bandwidth_bytes_per_s=bandwidth,
        syn_retries=load.syn_retries,
        timeout_s=timeout_s,
        retry_on_close=not isinstance(load, ClosedLoad),
        cpu_noise=make_sampler(
            {"dist": "gamma", "mean": 1.0, "cv": prep.costs.cpu_cv}
            if prep.costs.cpu_cv > 0
            else 1.0,
            stream(sc.seed, index, "cpu_noise"),
        ),
    )
    return World(env, cpu, memory, server, recorder, client)


def run_replication(prep: Prepared, index: int) -> Replication:
    """Simulate replication ``index`` of ``prep`` (its random streams depend on seed and index)."""
    wall0 = time.perf_counter()
    sc = prep.scenario
    load = sc.load
    seed = sc.seed
    world = build_world(prep, index)
    env, cpu, memory, server = world.env, world.cpu, world.memory, world.server
    recorder, client = world.recorder, world.client
    series: list[tuple[float, ...]] = []
    env.process(sample_series(env, server, _sample_interval(prep), series))
    think = make_sampler(load.think_time_s, stream(seed, index, "think"))
    duration = prep.duration_s
    end = None if duration is None else load.start_s + duration
    if isinstance(load, ClosedLoad):
        budget = RequestBudget(env, load.requests)
        start_closed(
            client,
            load.clients,
            budget,
            think,
            load.keepalive,
            load.retry_delay_s,
            load.start_s,
        )
        if load.requests is None:
            assert end is not None
            env.run(until=end)
        else:
            limit = end if end is not None else MAX_SIMULATED_S
            stopper = env.timeout(limit)
            env.run(until=env.any_of([budget.done, stopper]))
    else:
        assert end is not None
        schedule = ArrivalSchedule(load.sessions_per_s)
        env.process(
            arrivals(
                client,
                schedule,
                end,
                make_sampler({"dist": "exponential", "mean": 1.0}, stream(seed, index, "arrivals")),
                make_sampler(load.requests_per_session, stream(seed, index, "sessions")),
                think,
                load.client_closes,
                load.start_s,
            )
        )
        env.run(until=end)
    cpu.sync()
    end_s = float(env.now)
    counters: dict[str, float] = {
        "sent": recorder.sent,
        "finished": recorder.finished,
        "reconnects": recorder.reconnects,
        "syn_drops": server.accept_queue.syn_drops,
        "oom_kills": server.oom_kills,
        "children_spawned": server.children_spawned,
        "conns_accepted": server.conns_accepted,
        "busy_peak": server.busy_peak,
        "processes_peak": server.processes_peak,
        "threads_peak": server.threads_peak,
        "keepalive_peak": server.keepalive.peak,
        "memory_peak_mib": memory.peak_mib,
        "memory_limit_mib": memory.limit_mib,
        "ram_exceeded": float(memory.exceeded),
        "cpu_busy_core_s": cpu.busy_core_s,
        "cpu_work_s": cpu.work_done_s,
        "cpu_credits_end": cpu.credits,
        "cpu_surplus_credits": cpu.surplus_credits,
        "cpu_throttled_s": cpu.throttled_s,
        "events": float(events_scheduled(env)),
    }
    return Replication(
        index=index,
        seed=seed,
        requests=recorder.arrays(),
        series=series,
        end_s=end_s,
        counters=counters,
        error_log=sorted(server.error_log.values(), key=lambda line: line.t_s),
        wall_s=time.perf_counter() - wall0,
    )
