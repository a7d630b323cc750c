"""Behaviour stories for the mechanisms of warm, saturated and recycling servers (issue 10).

Each test names the httpd or Linux mechanism it checks and fails without it.
"""

from __future__ import annotations

from typing import Any

import pytest

from mpmsim.engine.replication import build_world
from mpmsim.engine.replications import run_prepared
from mpmsim.engine.server import Server
from mpmsim.engine.summary import summarize
from mpmsim.models.mpm.base import READY, Child
from tests.helpers import IDEAL_HW, prepared


def _spawn_times(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record when the parent forks each child (wraps Server.spawn_child)."""
    times: list[float] = []
    spawn = Server.spawn_child

    def recording(self: Server) -> Child | None:
        times.append(self.now)
        return spawn(self)

    monkeypatch.setattr(Server, "spawn_child", recording)
    return times


def _closed(clients: int, duration_s: float, **extra: Any) -> dict[str, Any]:
    return {"kind": "closed", "clients": clients, "keepalive": False, "duration_s": duration_s,
            "start_s": 0.5, **extra}  # fmt: skip


def test_maintenance_runs_every_second_while_children_keep_exiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ap_wait_or_timeout reaps without sleeping: maintenance still runs after each 1 s sleep.

    prefork, MaxConnectionsPerChild 20 and 1 ms requests: a child lives ~20 ms, so children
    exit in every second. httpd replaces them in every second's maintenance; a loop that skipped
    maintenance after a reap would leave seconds without a fork.
    """
    times = _spawn_times(monkeypatch)
    prep = prepared(
        server={"mpm": "prefork", "directives": {
            "StartServers": 2, "MinSpareServers": 2, "MaxSpareServers": 4,
            "MaxConnectionsPerChild": 20}},
        load=_closed(2, 7.5),
    )  # fmt: skip
    run_prepared(prep, 1)
    forked_in = {round(t) for t in times if t > 0.0}
    assert forked_in >= set(range(1, 8))


def _one_request_world(mpm: str, rtt_ms: float, **parts: Any) -> Any:
    directives = {"StartServers": 1, "MinSpareServers": 1, "MaxSpareServers": 2,
                  "MinSpareThreads": 1, "MaxSpareThreads": 50, "ThreadsPerChild": 25}  # fmt: skip
    if mpm == "prefork":
        directives = {k: v for k, v in directives.items() if "Thread" not in k}
    world = build_world(
        prepared(
            server={"mpm": mpm, "directives": directives},
            load={
                "kind": "closed",
                "clients": 1,
                "keepalive": False,
                "requests": 1,
                "network_rtt_ms": rtt_ms,
            },
            **parts,
        )
    )
    world.env.process(world.client.request(None, delay_s=0.5, client_keepalive=False))
    return world


@pytest.mark.parametrize("mpm", ["prefork", "worker"])
def test_sync_worker_is_not_idle_until_it_has_closed_after_the_fin(mpm: str) -> None:
    """SERVER_CLOSING (connection.c ap_prep_lingering_close) lasts until the client's FIN.

    RTT 100 ms, 1 ms of CPU: the request reaches the server at 0.65 s (handshake), the response
    is written at ~0.651 s and read by the client at ~0.701 s, whose FIN reaches the server at
    ~0.751 s; only then does the worker run its close and count as idle again.
    """
    world = _one_request_world(mpm, 100.0)
    world.env.run(until=0.7)
    assert world.server.busy == 1  # the response is written: the worker lingers
    world.env.run(until=0.74)
    assert world.server.busy == 1
    world.env.run(until=0.76)
    assert world.server.busy == 0
    assert world.server.conns_open == 0


#: Under processor sharing no job waits for its turn, so event's close stays part of the
#: response's CPU job (Server.defers_linger); the stories below run under CFS.
CFS_HW = {**IDEAL_HW, "cpu_scheduler": "cfs"}


def test_event_worker_is_idle_once_the_response_is_written() -> None:
    """event: the worker leaves the connection lingering with its listener and goes idle.

    event.c start_lingering_close_blocking / process_lingering_close: the connection stays
    open (and counted as lingering) until the client's FIN at ~0.751 s, when a worker is
    taken for the close (listener_thread: get_worker, push2worker).
    """
    world = _one_request_world("event", 100.0, hardware=CFS_HW)
    world.env.run(until=0.7)
    (child,) = world.server.children
    assert world.server.busy == 0
    assert world.server.conns_open == 1
    assert child.lingering == 1
    world.env.run(until=0.76)
    assert world.server.conns_open == 0
    assert child.lingering == 0
    assert world.server.busy == 0


def test_event_fin_without_an_idle_worker_waits_for_the_next_one() -> None:
    """A FIN that finds every worker of its child busy takes the next one that comes free.

    Real 2.4.71 resets almost none of these connections (0.1-0.6 % OutRsts at 100-400
    clients): its listener looks for a worker only once it runs, by when one has come free.
    """
    # the worker's close after the FIN costs a thread switch (5 us)
    world = _one_request_world(
        "event", 100.0, hardware=CFS_HW, costs={"base": "ideal", "thread_switch_us": 5.0}
    )
    world.env.run(until=0.7)
    server = world.server
    (child,) = server.children
    held = child.idle
    for _ in range(held):
        server.hold_worker(child)
    world.env.run(until=0.76)  # the FIN came at ~0.751 s: no idle worker
    assert server.conns_open == 1
    server.release_worker(child)  # a worker comes free: it goes to the close, not idle
    assert child.idle == 0
    assert server.busy == held
    world.env.run(until=0.77)
    assert server.conns_open == 0
    assert child.idle == 1
    assert server.busy == held - 1


def test_saturated_event_forks_to_server_limit_while_fins_hold_its_workers() -> None:
    """Workers taken for lingering closes leave a saturated event child without idle workers.

    One core, the static page, 100 ab-like clients without keep-alive, ThreadsPerChild 25:
    the real 2.4.71 runs 16 children (ServerLimit) plus the parent (debug log: "24 active
    conns (24 lingering ...), 1 idle workers"). Without the FIN's worker the model kept 10.
    """
    prep = prepared(
        hardware={**CFS_HW, "context_switch_us": 2.0},
        costs="bench-1core",
        mix=[{"name": "static"}],
        server={"mpm": "event", "directives": {
            "StartServers": 3, "MinSpareThreads": 75, "MaxSpareThreads": 250,
            "ThreadsPerChild": 25, "MaxRequestWorkers": 400}},
        load=_closed(100, 6.0),
    )  # fmt: skip
    assert _summary(prep)["processes_peak"] == 17


def test_event_accepts_past_its_lingering_connections() -> None:
    """connections_above_limit counts c_count - l_count: lingering ones do not fill a child."""
    model = _one_request_world("event", 1.0).server.model  # ThreadsPerChild 25, factor 2
    child = Child(slot=0, threads=25, extra_threads=1, memory_mib=1.0, state=READY, idle=5)
    child.conns = 40  # 25 + 5 * 2 = 35 is the limit
    assert not model.may_accept(child)
    child.lingering = 20
    assert model.may_accept(child)


def _summary(prep: Any) -> dict[str, Any]:
    return summarize(prep, run_prepared(prep, 1).replications[0])


def _prefork_pool(children: int, costs: Any) -> Any:
    """prefork with ``children`` idle children kept alive, one keep-alive client, 1 ms requests."""
    return prepared(
        costs=costs,
        server={"mpm": "prefork", "directives": {
            "StartServers": children, "MinSpareServers": 1, "MaxSpareServers": children + 1,
            "MaxRequestWorkers": children, "ServerLimit": children}},
        load={"kind": "closed", "clients": 1, "keepalive": True, "duration_s": 2.0},
    )  # fmt: skip


def test_a_switch_costs_more_with_more_tasks_alive() -> None:
    """switch_us_per_task: each CPU job (a wake-up into its task) pays it per live task.

    1 us per task: with 150 children (plus the parent) a 1 ms request costs 0.151 ms more, with
    10 children 0.011 ms; with the parameter at 0 the CPU per request does not depend on them.
    """
    costs = {"base": "ideal", "switch_us_per_task": 1.0}
    few = _summary(_prefork_pool(10, costs))["cpu_ms_per_request"]
    many = _summary(_prefork_pool(150, costs))["cpu_ms_per_request"]
    assert few == pytest.approx(1.011, rel=0.01)
    assert many == pytest.approx(1.151, rel=0.01)
    flat = [_summary(_prefork_pool(n, "ideal"))["cpu_ms_per_request"] for n in (10, 150)]
    assert flat[0] == pytest.approx(flat[1], rel=1e-9)


def _worker_pool(children: int, costs: Any) -> Any:
    """worker with ``children`` children of 25 threads kept alive, as :func:`_prefork_pool`."""
    return prepared(
        costs=costs,
        server={"mpm": "worker", "directives": {
            "StartServers": children, "ThreadsPerChild": 25, "ServerLimit": children,
            "MaxRequestWorkers": 25 * children, "MinSpareThreads": 1,
            "MaxSpareThreads": 25 * children + 26}},
        load={"kind": "closed", "clients": 1, "keepalive": True, "duration_s": 2.0},
    )  # fmt: skip


def test_a_job_costs_more_with_more_processes_alive() -> None:
    """switch_us_per_process: each CPU job pays it per live process, threads not counted.

    1 us per process: a prefork server of 150 children (plus the parent) adds 0.151 ms to a
    1 ms request, one of 10 children 0.011 ms; a worker server of 4 children of 25 threads
    adds 0.005 ms (its 107 threads do not count), 0.107 ms with switch_us_per_task instead.
    """
    costs = {"base": "ideal", "switch_us_per_process": 1.0}
    few = _summary(_prefork_pool(10, costs))["cpu_ms_per_request"]
    many = _summary(_prefork_pool(150, costs))["cpu_ms_per_request"]
    assert few == pytest.approx(1.011, rel=0.01)
    assert many == pytest.approx(1.151, rel=0.01)
    threads = _summary(_worker_pool(4, costs))["cpu_ms_per_request"]
    assert threads == pytest.approx(1.005, rel=0.005)
    per_task = {"base": "ideal", "switch_us_per_task": 1.0}
    assert _summary(_worker_pool(4, per_task))["cpu_ms_per_request"] == pytest.approx(
        1.107, rel=0.01
    )


def test_socket_memory_counts_for_ram_but_not_for_the_pss_figure() -> None:
    """socket_kib: the kernel's memory per open connection is RAM, in no process's PSS.

    20 keep-alive clients on a prefork pool of 20 hold 20 connections: 1 MiB of socket memory
    each raises the peak by 20 MiB and leaves memory_apache_peak_mib (the figure calibrate
    compares with measured PSS) where it was; connection_kib (Apache's) raises both.
    """
    load = {"kind": "closed", "clients": 20, "keepalive": True, "duration_s": 1.0}
    server = {"mpm": "prefork", "directives": {
        "StartServers": 20, "MinSpareServers": 1, "MaxSpareServers": 21,
        "MaxRequestWorkers": 20, "ServerLimit": 20}}  # fmt: skip
    plain = _summary(prepared(costs="ideal", server=server, load=load))
    sock = _summary(
        prepared(costs={"base": "ideal", "socket_kib": 1024.0}, server=server, load=load)
    )
    conn = _summary(
        prepared(costs={"base": "ideal", "connection_kib": 1024.0}, server=server, load=load)
    )
    assert sock["memory_peak_mib"] == pytest.approx(plain["memory_peak_mib"] + 20.0)
    assert sock["memory_apache_peak_mib"] == pytest.approx(plain["memory_apache_peak_mib"])
    assert conn["memory_apache_peak_mib"] == pytest.approx(plain["memory_apache_peak_mib"] + 20.0)


@pytest.mark.parametrize(
    ("mpm", "keepalive", "more_mib"),
    [("event", True, 20.0), ("event", False, 0.0), ("worker", True, 0.0)],
)
def test_a_connection_event_keeps_alive_holds_its_own_pool(
    mpm: str, keepalive: bool, more_mib: float
) -> None:
    """listener_connection_kib: event's listener holds each kept-alive connection apart from
    the workers, with its own pool, from its first keep-alive wait to its close.

    20 clients on one child of 25 threads: with keep-alive event keeps 20 connections alive,
    1 MiB each raises Apache's peak by 20 MiB; without keep-alive none is kept, and worker
    keeps a worker per connection instead (its memory is the worker's): no more.
    """
    load = {"kind": "closed", "clients": 20, "keepalive": keepalive, "duration_s": 1.0}
    server = {"mpm": mpm, "directives": {
        "StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": 25, "MaxRequestWorkers": 25,
        "MinSpareThreads": 1, "MaxSpareThreads": 25}}  # fmt: skip
    plain = _summary(prepared(costs="ideal", server=server, load=load))
    kept = _summary(
        prepared(costs={"base": "ideal", "listener_connection_kib": 1024.0}, server=server,
                 load=load)
    )  # fmt: skip
    assert kept["memory_apache_peak_mib"] == pytest.approx(
        plain["memory_apache_peak_mib"] + more_mib
    )


@pytest.mark.parametrize(("mpm", "rtt_ms", "held"), [("event", 2.0, True), ("event", 0.0, False),
                                                    ("worker", 2.0, False)])  # fmt: skip
def test_a_lingering_close_holds_its_pool_until_the_fin(
    mpm: str, rtt_ms: float, held: bool
) -> None:
    """event's linger queue: a connection whose FIN has not come when its worker leaves it
    there keeps its pool (listener_connection_kib) until it is closed, as one kept alive does.

    20 clients without keep-alive on one child of 25 threads, 1 ms requests, the CFS run
    queue (processor sharing closes at once: no linger queue): with a 2 ms round trip each FIN
    comes 1 ms after the response has been written, so one to 20 lingering connections hold
    1 MiB each at the peak. With the FIN already in (no round trip) the worker closes at once
    and nothing stays; worker's own thread waits for the FIN instead.
    """
    load = {"kind": "closed", "clients": 20, "keepalive": False, "duration_s": 1.0,
            "network_rtt_ms": rtt_ms}  # fmt: skip
    server = {"mpm": mpm, "directives": {
        "StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": 25, "MaxRequestWorkers": 25,
        "MinSpareThreads": 1, "MaxSpareThreads": 25}}  # fmt: skip
    plain = _summary(prepared(costs="ideal", server=server, load=load, hardware=CFS_HW))
    pooled = _summary(
        prepared(costs={"base": "ideal", "listener_connection_kib": 1024.0}, server=server,
                 load=load, hardware=CFS_HW)
    )  # fmt: skip
    more = pooled["memory_apache_peak_mib"] - plain["memory_apache_peak_mib"]
    if held:
        assert 1.0 <= more <= 20.0
        assert more == pytest.approx(round(more))  # whole pools
    else:
        assert more == pytest.approx(0.0)


def test_the_client_pays_its_own_time_per_new_connection() -> None:
    """client_conn_ms: one client without keep-alive pays its own socket set-up and close.

    1 ms of CPU, no round trip: 0.5 ms of the client's own per connection makes each cycle
    1.5 ms long, so one client makes 667 requests a second (1,000 without it); the client
    times each request from its connect(), after the set-up, so each still takes 1 ms (ab's
    ``start_connect`` starts the clock after ``apr_socket_create``, and saves the time before
    it closes the socket).
    """
    load = {"kind": "closed", "clients": 1, "keepalive": False, "duration_s": 2.0}
    slow = _summary(prepared(costs={"base": "ideal", "client_conn_ms": 0.5}, load=load))
    fast = _summary(prepared(costs="ideal", load=load))
    assert slow["latency_p50_ms"] == pytest.approx(1.0, rel=0.01)
    assert slow["throughput_rps"] == pytest.approx(667, rel=0.02)
    assert fast["throughput_rps"] == pytest.approx(1000, rel=0.02)


@pytest.mark.parametrize(("mpm", "requests", "used"), [("worker", 4, 4), ("event", 30, 10)])
def test_worker_threads_that_have_served_hold_more_memory(
    mpm: str, requests: int, used: int
) -> None:
    """thread_used_kib: work goes round the idle threads, each grows once it has served.

    One child of 10 workers, one client: after 4 connections 4 threads have run, after 30
    all 10. A child's memory grows by thread_used_kib for each (1 MiB here), and no more.
    """
    world = build_world(
        prepared(
            costs={"base": "ideal", "thread_used_kib": 1024.0},
            server={"mpm": mpm, "directives": {
                "StartServers": 1, "ThreadsPerChild": 10, "MaxRequestWorkers": 10,
                "ServerLimit": 1, "MinSpareThreads": 1, "MaxSpareThreads": 20}},
        )
    )  # fmt: skip
    world.env.run(until=0.5)  # the child is up
    before = world.memory.current_mib

    def client() -> Any:
        for _ in range(requests):
            yield from world.client.request(None, delay_s=0.01, client_keepalive=False)

    world.env.process(client())
    world.env.run(until=5.0)
    (child,) = world.server.children
    assert child.used == used
    assert world.memory.current_mib - before == pytest.approx(used * 1.0)


@pytest.mark.parametrize(("server_limit", "served_from"), [(2, 1.0), (1, 5.0)])
def test_event_child_at_its_limit_drains_while_a_new_one_starts_in_another_slot(
    server_limit: int, served_from: float
) -> None:
    """event: MaxConnectionsPerChild reached at accept; the child finishes its connection.

    event.c: the listener counts conns_this_child down at accept and stops accepting at 0;
    perform_idle_server_maintenance forks into a slot with no process at all, up to ServerLimit.
    One child of 2 threads (MaxRequestWorkers 2), MaxConnectionsPerChild 1, requests of 3 s:
    the second request waits for the maintenance at 1 s, where a spare slot (ServerLimit 2) lets
    a new child start beside the draining one; with ServerLimit 1 it waits for the slot to free:
    the first child exits at 3.5 s, during the parent's sleep, so its slot is still taken at the
    4 s maintenance (ap_wait_or_timeout reaps it only after) and the new child starts at 5 s.
    """
    world = build_world(
        prepared(
            server={"mpm": "event", "directives": {
                "StartServers": 1, "ThreadsPerChild": 2, "MaxRequestWorkers": 2,
                "ServerLimit": server_limit, "MinSpareThreads": 1, "MaxSpareThreads": 4,
                "MaxConnectionsPerChild": 1}},
            mix=[{"name": "r", "cpu_ms": 1.0, "wait_ms": 3000.0}],
        )
    )  # fmt: skip
    for t in (0.5, 0.6):
        world.env.process(world.client.request(None, delay_s=t, client_keepalive=False))
    world.env.run(until=10.0)
    rec = world.recorder
    second_end = sorted(rec.t_end)[1]
    assert second_end == pytest.approx(served_from + 3.0, abs=0.01)
