"""One simulated run (a replication) of a prepared scenario."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import simpy

from mpmsim.engine.backend import Backends
from mpmsim.engine.burst_credits import BurstState
from mpmsim.engine.cfs import CFSCPU
from mpmsim.engine.client import Client
from mpmsim.engine.cpu import CPU
from mpmsim.engine.eevdf import EEVDFCPU
from mpmsim.engine.error_log import LogLine
from mpmsim.engine.host import HostContention
from mpmsim.engine.memory import MemoryLedger
from mpmsim.engine.oom import kill_largest_child
from mpmsim.engine.recorder import Recorder, sample_series
from mpmsim.engine.server import Server
from mpmsim.engine.simpy_internals import events_scheduled, run_until
from mpmsim.models.hardware import HardwareSpec
from mpmsim.models.mpm.registry import make_mpm
from mpmsim.spec.resolve import Prepared
from mpmsim.spec.scenario import ClosedLoad, TraceLoad
from mpmsim.workloads.closed import RequestBudget, start_closed
from mpmsim.workloads.distributions import Sampler, make_sampler
from mpmsim.workloads.mix import RequestDraw
from mpmsim.workloads.open import ArrivalSchedule, SessionTally, arrivals
from mpmsim.workloads.streams import stream
from mpmsim.workloads.trace import TraceTally, start_replay

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
    sessions: dict[str, np.ndarray] = field(default_factory=dict)
    """Open loads: each session's arrival time ``t_s`` and ``requests`` (the load offered)."""
    trace: dict[str, Any] = field(default_factory=dict)
    """Trace loads: what the replay did (see :class:`~mpmsim.workloads.trace.TraceTally`)."""


def _sample_interval(prep: Prepared) -> float:
    """Seconds between two rows of the time series: the scenario's, else 1/400 of the run.

    A run with no set duration (a request count) is sampled every 0.05 s.
    """
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
    backends: Backends | None = None
    """mod_php, PHP-FPM pools and proxies (None when the scenario has none)."""


def make_cpu(env: simpy.Environment, hw: HardwareSpec) -> CPU:
    """The machine's vCPUs under the scheduler its spec names (processor sharing or CFS),
    with what a job costs more after an idle spell (``idle_wake``)."""
    cpu: CPU
    burst, tick, online = _burst_state(hw), hw.scheduler_tick_hz, hw.scheduler_cpus
    if hw.cpu_scheduler == "cfs":
        cpu = CFSCPU(env, hw.vcpus, hw.cpu_speed, 0.0, burst, tick, scheduler_cpus=online)
    elif hw.cpu_scheduler == "eevdf":
        cpu = EEVDFCPU(env, hw.vcpus, hw.cpu_speed, 0.0, burst, tick, scheduler_cpus=online)
    else:
        cpu = CPU(env, hw.vcpus, hw.cpu_speed, 0.0, burst, scheduler_cpus=online)
    cpu.set_idle_wake(hw.idle_wake)
    return cpu


def build_world(prep: Prepared, index: int = 0) -> World:
    """Set up replication ``index`` of ``prep`` at time 0 (server started, no load yet)."""
    hw = prep.hardware
    sc = prep.scenario
    env = simpy.Environment()
    cpu = make_cpu(env, hw)
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
    memory.on_exceed = partial(kill_largest_child, server)  # the OOM killer
    server.start()
    if hw.host_contention is not None:
        HostContention(env, cpu, hw.host_contention, stream(sc.seed, index, "host")).start()
    backends = None
    if prep.php.used:
        noise = _cpu_noise(prep, stream(sc.seed, index, "backend_cpu_noise"))
        backends = Backends(prep, index, env, server, noise)
        memory.on_exceed = backends.oom_kill  # it chooses among Apache's and FPM's children
        backends.start()
    recorder = Recorder()
    client = _client(prep, index, env, server, recorder, backends)
    return World(env, cpu, memory, server, recorder, client, backends)


def _burst_state(hw: HardwareSpec) -> BurstState | None:
    """The CPU's burst-credit parameters, or None for a machine without credits."""
    if hw.burst is None:
        return None
    b = hw.burst
    return BurstState(
        baseline_fraction=b.baseline_fraction,
        credits_initial=b.credits_initial,
        credits_max=b.credits_max,
        credits_per_hour=b.credits_per_hour,
        unlimited=b.mode == "unlimited",
    )


def _cpu_noise(prep: Prepared, rng: np.random.Generator) -> Sampler:
    """Each request's CPU factor (gamma of mean 1 and the cost model's cpu_cv, or 1)."""
    cv = prep.costs.cpu_cv
    return make_sampler({"dist": "gamma", "mean": 1.0, "cv": cv} if cv > 0 else 1.0, rng)


def _client(
    prep: Prepared,
    index: int,
    env: simpy.Environment,
    server: Server,
    recorder: Recorder,
    backends: Backends | None = None,
) -> Client:
    """The clients' side of replication ``index``: network, timeouts, request draws."""
    sc = prep.scenario
    load = sc.load
    bandwidth = (
        load.client_bandwidth_kbps * 1000.0 / 8.0
        if load.client_bandwidth_kbps is not None
        else None
    )
    timeout_s = load.timeout_s if isinstance(load, ClosedLoad) else load.client_timeout_s
    return Client(
        env,
        server,
        recorder,
        RequestDraw(prep.classes, stream(sc.seed, index, "service")),
        rtt_s=load.network_rtt_ms / 1000.0,
        bandwidth_bytes_per_s=bandwidth,
        syn_retries=load.syn_retries,
        timeout_s=timeout_s,
        retry_on_close=not isinstance(load, ClosedLoad),
        cpu_noise=_cpu_noise(prep, stream(sc.seed, index, "cpu_noise")),
        routes=None if backends is None else backends.routes,
        after_noise=_after_response_noise(prep, stream(sc.seed, index, "after_response")),
        reads_until_close=isinstance(load, ClosedLoad) and not load.keepalive,  # ab without -k
    )


def _after_response_noise(prep: Prepared, rng: np.random.Generator) -> Sampler | None:
    """Each request's tail after its response, as a factor of the cost model's mean.

    What decides whether a pinned worker finds the next request waiting is a race between its
    tail and the client's turnaround (the client's event loop, the loopback's delivery, its
    core waking up), both short and both variable; the fixed round trip stands for the
    turnaround, and an exponential tail of the fitted mean for the race's spread.
    """
    if prep.costs.after_response_cpu_ms <= 0.0:
        return None
    return make_sampler({"dist": "exponential", "mean": 1.0}, rng)


def run_replication(
    prep: Prepared, index: int, observe: Callable[[World], None] | None = None
) -> Replication:
    """Simulate replication ``index`` of ``prep`` (its random streams depend on seed and index).

    ``observe``, if given, is called with the world before the load starts (a diagnostic
    may attach itself to it, e.g. :meth:`mpmsim.engine.cfs_queue.CFSRunQueue.watch`)."""
    wall0 = time.perf_counter()
    world = build_world(prep, index)
    if observe is not None:
        observe(world)
    env, server = world.env, world.server
    series: list[tuple[float, ...]] = []
    env.process(sample_series(env, server, _sample_interval(prep), series))
    tally = _run_load(prep, index, world)
    world.cpu.sync()
    end_s = float(env.now)
    return Replication(
        index=index,
        seed=prep.scenario.seed,
        requests=world.recorder.arrays(),
        series=series,
        end_s=end_s,
        counters=_counters(world),
        error_log=server.error_log.in_order(),
        wall_s=time.perf_counter() - wall0,
        sessions=_sessions(tally),
        trace=tally.arrays() if isinstance(tally, TraceTally) else {},
    )


def _sessions(tally: SessionTally | TraceTally | None) -> dict[str, np.ndarray]:
    """The open load's session tally as arrays (empty for other loads)."""
    if not isinstance(tally, SessionTally):
        return {}
    return {"t_s": np.asarray(tally.t_s, float), "requests": np.asarray(tally.requests, np.int64)}


def _run_load(prep: Prepared, index: int, world: World) -> SessionTally | TraceTally | None:
    """Start the scenario's load generator on ``world`` and simulate until the load ends.

    An open load returns the tally of the sessions it started, a trace load its replay's.
    """
    load = prep.scenario.load
    if isinstance(load, TraceLoad):
        return _run_trace(prep, index, world, load)
    seed = prep.scenario.seed
    env, client = world.env, world.client
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
            rate_per_client_rps=load.rate_per_client_rps,
            rate_phases=load.rate_phases,
        )
        if load.requests is None:
            assert end is not None
            run_until(env, end)
        else:
            stopper = env.timeout(end if end is not None else MAX_SIMULATED_S)
            run_until(env, env.any_of([budget.done, stopper]))
        return None
    assert end is not None
    tally = SessionTally()
    env.process(
        arrivals(
            client,
            ArrivalSchedule(load.sessions_per_s),
            end,
            make_sampler({"dist": "exponential", "mean": 1.0}, stream(seed, index, "arrivals")),
            make_sampler(load.requests_per_session, stream(seed, index, "sessions")),
            think,
            load.client_closes,
            load.start_s,
            tally,
        )
    )
    run_until(env, end)
    return tally


def _run_trace(prep: Prepared, index: int, world: World, load: TraceLoad) -> TraceTally:
    """Replay the trace load's log on ``world`` until its (scaled) span ends."""
    assert prep.trace is not None and prep.duration_s is not None
    end = load.start_s + prep.duration_s
    tally = start_replay(
        world.client,
        prep.trace,
        prep.classes,
        stream(prep.scenario.seed, index, "trace"),
        start_s=load.start_s,
        until_s=end,
    )
    try:
        run_until(world.env, end)
    finally:
        tally.stream.close()
    return tally


def _counters(world: World) -> dict[str, float]:
    """The run's totals and peaks by name, as the summary reads them."""
    recorder, server, memory, cpu = world.recorder, world.server, world.memory, world.cpu
    return {
        "sent": recorder.sent,
        "finished": recorder.finished,
        "reconnects": recorder.reconnects,
        "syn_drops": server.accept_queue.syn_drops,
        "oom_kills": server.oom_kills,
        "children_spawned": server.table.spawned,
        "conns_accepted": server.conns_accepted,
        "busy_peak": server.busy_peak,
        "processes_peak": server.table.processes_peak,
        "threads_peak": server.table.threads_peak,
        "threads_used_peak": server.table.threads_used_peak,
        "keepalive_peak": server.keepalive.peak,
        "listener_kept_peak": server.conn_memory.kept_peak,
        "memory_peak_mib": memory.peak_mib,
        "memory_apache_peak_mib": memory.apache_peak_mib,
        "memory_limit_mib": memory.limit_mib,
        "ram_exceeded": float(memory.exceeded),
        "cpu_busy_core_s": cpu.busy_core_s,
        "cpu_work_s": cpu.work_done_s,
        "idle_wake_s": cpu.idle_wake_s,
        "cpu_credits_end": cpu.credits,
        "cpu_surplus_credits": cpu.surplus_credits,
        "cpu_throttled_s": cpu.throttled_s,
        "events": float(events_scheduled(world.env)),
        **({} if world.backends is None else world.backends.counters()),
    }
