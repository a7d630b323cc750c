"""Event's listener as a task: a kept connection's next request waits for it to run
(event.c ``listener_thread``), and the child's workers stay idle, and counted, until then."""

from __future__ import annotations

from typing import Any

import simpy

from mpmsim.engine.connection import Conn
from mpmsim.engine.cpu import CPU
from mpmsim.engine.keepalive import KeepAliveRegistry
from mpmsim.engine.listener import Listeners
from mpmsim.engine.replication import build_world
from mpmsim.engine.replications import run_prepared
from mpmsim.engine.server import ACCEPTED, QUEUED
from mpmsim.engine.summary import summarize
from mpmsim.models.mpm.base import READY, Child
from tests.helpers import IDEAL_HW, prepared
from tests.test_engine_keepalive import FakeWorkers

RUN_S = 0.001  # the listener's run: 1 ms on the one vCPU


def _setup(idle: int) -> tuple[simpy.Environment, Listeners, KeepAliveRegistry, FakeWorkers]:
    env = simpy.Environment()
    listeners = Listeners(env, CPU(env, 1, 1.0, 0.0), RUN_S)
    workers = FakeWorkers(idle=idle)
    ka = KeepAliveRegistry(workers, holds_worker=False, listeners=listeners)
    return env, listeners, ka, workers


def _kept(ka: KeepAliveRegistry, child: Child, *ids: int) -> list[Conn]:
    conns = []
    for conn_id in ids:
        conn = Conn(conn_id)
        conn.child = child
        ka.hold(conn)
        conns.append(conn)
    return conns


def _child(slot: int = 0) -> Child:
    return Child(slot=slot, threads=4, extra_threads=1, memory_mib=1.0, state=READY)


def test_a_readable_connection_waits_in_the_keepalive_queue_until_the_listener_runs() -> None:
    env, _listeners, ka, workers = _setup(idle=1)
    (conn,) = _kept(ka, _child(), 1)
    workers.log.clear()
    ev = ka.resume(conn)
    assert isinstance(ev, simpy.Event)
    assert ka.watched == 1 and workers.log == []  # no worker reserved on arrival
    env.run(until=RUN_S / 2)
    assert not ev.triggered
    env.run(until=2 * RUN_S)
    assert ev.value is True
    assert ka.watched == 0 and workers.log == [("take", 0)]


def test_one_run_takes_every_connection_readable_until_then() -> None:
    env, listeners, ka, _workers = _setup(idle=3)
    child, other = _child(0), _child(1)
    a, b = _kept(ka, child, 1, 2)
    (c,) = _kept(ka, other, 3)
    events = [ka.resume(a), ka.resume(b), ka.resume(c)]
    env.run()
    assert [ev.value for ev in events] == [True, True, True]  # type: ignore[union-attr]
    assert (listeners.runs, listeners.dispatched) == (2, 3)  # one run per child's listener


def test_a_round_that_finds_no_idle_worker_closes_every_idle_connection_of_its_child() -> None:
    """get_worker(..., blocking = 0) fails: shutdown_connection for that one (l.1936-1946),
    then, the workers having been busy, the child's other kept connections too ("kill'em all",
    l.2084-2090): their clients reconnect to a process with free workers. Another child's
    stay."""
    env, _listeners, ka, _workers = _setup(idle=1)
    child, other = _child(0), _child(1)
    a, b, idle_one = _kept(ka, child, 1, 2, 3)
    (elsewhere,) = _kept(ka, other, 4)
    first, second = ka.resume(a), ka.resume(b)
    env.run()
    assert first.value is True and second.value is False  # type: ignore[union-attr]
    assert b.server_closed and idle_one.server_closed and not elsewhere.server_closed
    assert ka.watched == 1


def test_a_round_that_found_a_worker_for_each_keeps_the_idle_ones() -> None:
    env, _listeners, ka, _workers = _setup(idle=2)
    a, b, idle_one = _kept(ka, _child(), 1, 2, 3)
    events = [ka.resume(a), ka.resume(b)]
    env.run()
    assert [ev.value for ev in events] == [True, True]  # type: ignore[union-attr]
    assert not idle_one.server_closed and ka.watched == 1


def test_each_round_ends_by_telling_its_child_s_accepts() -> None:
    env, listeners, ka, _workers = _setup(idle=2)
    child = _child()
    rounds: list[tuple[int, bool]] = []
    listeners.after_round = lambda c: rounds.append((c.slot, listeners.pending(c)))
    (a,) = _kept(ka, child, 1)
    ka.resume(a)
    assert listeners.pending(child) and rounds == []
    env.run()
    assert rounds == [(0, False)] and not listeners.pending(child)


def _one_child_event() -> Any:
    """A built (not started) world: event, one child of two threads, under CFS."""
    return build_world(prepared(
        hardware={**IDEAL_HW, "cpu_scheduler": "cfs"},
        costs={"base": "ideal", "thread_switch_us": 5.0},
        server={"mpm": "event", "directives": {
            "StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": 2, "MaxRequestWorkers": 2,
            "MinSpareThreads": 1, "MaxSpareThreads": 2}},
    ))  # fmt: skip


def test_a_child_whose_listener_is_woken_accepts_only_in_its_round_after_the_kept_ones() -> None:
    """event.c listener_thread: the listening socket is one descriptor of the poll, so a new
    connection is accepted in the listener's round, after the readable kept connections took
    the workers freed meanwhile; until then it waits in the backlog."""
    world = _one_child_event()
    env, server = world.env, world.server
    env.run(until=0.5)
    (child,) = server.children
    kept = Conn(1)
    assert server.arrive(kept) == ACCEPTED
    server.keepalive.hold(kept)  # its response is sent: back to the listener, worker freed
    ready = server.keepalive.resume(kept)  # its next request: the listener is woken
    assert isinstance(ready, simpy.Event) and server.listeners is not None
    assert server.listeners.pending(child)
    new = Conn(2)
    new.wake = env.event()
    assert server.arrive(new) == QUEUED  # not while the round is pending
    env.run(until=0.6)
    assert ready.value is True  # the kept connection got its worker first
    assert new.wake.triggered and new.child is child  # then the round accepted the new one
    assert not server.accept_queue.waiting


def test_a_connection_closed_while_it_waits_is_not_handed_on() -> None:
    env, _listeners, ka, workers = _setup(idle=1)
    child = _child()
    (conn,) = _kept(ka, child, 1)
    ev = ka.resume(conn)
    ka.close_all(child)  # the child stops before its listener runs
    env.run()
    assert ev.value is False  # type: ignore[union-attr]
    assert ("take", 0) not in workers.log


def _event_keepalive(scheduler: str | None) -> dict[str, Any]:
    hardware = {**IDEAL_HW, "cpu_scheduler": scheduler} if scheduler else IDEAL_HW
    prep = prepared(
        hardware=hardware,
        costs={"base": "ideal", "thread_switch_us": 5.0},
        mix=[{"name": "r", "cpu_ms": 0.2}],
        server={"mpm": "event", "directives": {
            "StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": 4, "MaxRequestWorkers": 4,
            "MinSpareThreads": 1, "MaxSpareThreads": 4}},
        load={"kind": "closed", "clients": 12, "keepalive": True, "duration_s": 3.0,
              "start_s": 0.5, "timeout_s": 30.0},
    )  # fmt: skip
    rep = run_prepared(prep, 1).replications[0]
    return {**summarize(prep, rep), **rep.counters}


def test_a_saturated_child_admits_past_its_threads_while_its_listener_waits() -> None:
    """connections_above_limit reads the idlers the listener has not reserved: under CFS the
    listener runs after the runnable workers, whose threads meanwhile count idle, so a child
    of 4 threads holds more than 4 of 12 keep-alive clients' connections (up to 4 + 2 x idle);
    under processor sharing (no listener task) a request takes its worker on arrival and the
    child holds one connection per thread."""
    assert _event_keepalive("cfs")["keepalive_peak"] > 4
    assert _event_keepalive(None)["keepalive_peak"] <= 4


def test_the_simulator_counts_event_s_kept_connections_at_their_peak() -> None:
    """Every connection the listener watched between requests was kept with its pool (the
    count calibrate's memory fit takes: ``listener_kept_peak``)."""
    counters = _event_keepalive("cfs")
    assert counters["listener_kept_peak"] >= counters["keepalive_peak"] > 4
