"""Behaviour stories for what the scheduler changes in Apache's bookkeeping (issue 10).

Under a Linux scheduler a woken task waits for its turn; httpd's scoreboard and listeners see
that wait. Each test names the mechanism it checks and fails without it.
"""

from __future__ import annotations

import copy
from typing import Any

from mpmsim.engine.replication import build_world
from tests.helpers import IDEAL_HW, prepared

EEVDF_HW = dict(copy.deepcopy(IDEAL_HW), cpu_scheduler="eevdf", vcpus=1)


def _world(mpm: str, directives: dict[str, Any], hardware: dict[str, Any], **parts: Any) -> Any:
    return build_world(
        prepared(hardware=hardware, server={"mpm": mpm, "directives": directives}, **parts)
    )


def _send(world: Any, at_s: float, *, keepalive: bool = False) -> None:
    world.env.process(world.client.request(None, delay_s=at_s, client_keepalive=keepalive))


def _accepted_behind_a_hog(hardware: dict[str, Any]) -> Any:
    """One worker child of 5 threads; a 100 ms CPU hog from 0.45 s; a connection at 0.5 s."""
    directives = {"StartServers": 1, "ThreadsPerChild": 5, "MaxRequestWorkers": 5,
                  "MinSpareThreads": 1, "MaxSpareThreads": 10}  # fmt: skip
    world = _world("worker", directives, hardware)
    world.env.run(until=0.45)
    world.cpu.run(0.1)
    _send(world, 0.05)
    world.env.run(until=0.5005)
    return world


def test_a_worker_handed_a_connection_reads_ready_until_the_cpu_runs_it() -> None:
    """worker.c worker_thread: SERVER_READY is written before ap_queue_pop_socket, and the
    thread writes SERVER_BUSY_READ itself once it runs. The hog holds the one vCPU; the
    connection accepted at 0.5 s reserves a worker whose job waits for the 4 ms tick at
    0.504 s: until then the parent's scan counts it idle."""
    world = _accepted_behind_a_hog(EEVDF_HW)
    (child,) = world.server.children
    assert child.idle == 4 and child.waking == 1
    assert child.idle_on_scoreboard == 5
    world.env.run(until=0.5045)
    assert child.waking == 0
    assert child.idle_on_scoreboard == 4


def test_under_processor_sharing_the_worker_runs_at_once() -> None:
    world = _accepted_behind_a_hog(IDEAL_HW)
    (child,) = world.server.children
    assert child.waking == 0 and child.idle == 4


def test_a_threaded_listener_fills_its_own_child_first() -> None:
    """listener_thread loops poll -> accept -> push while it has idle workers, so three
    connections at once go to one worker child; prefork children (one connection per wake,
    the kernel waking the longest waiter) take them in turn."""
    hw = IDEAL_HW
    mix = [{"name": "r", "cpu_ms": 1.0, "wait_ms": 200.0}]
    threads = {"StartServers": 2, "ThreadsPerChild": 5, "MaxRequestWorkers": 10,
               "MinSpareThreads": 1, "MaxSpareThreads": 20}  # fmt: skip
    worker = _world("worker", threads, hw, mix=mix)
    prefork = _world("prefork", {"StartServers": 3, "MinSpareServers": 1,
                                 "MaxSpareServers": 5}, hw, mix=mix)  # fmt: skip
    for world in (worker, prefork):
        world.env.run(until=0.4)
        for _ in range(3):
            _send(world, 0.1)
        world.env.run(until=0.55)
    assert sorted(c.conns for c in worker.server.children) == [0, 3]
    assert sorted(c.conns for c in prefork.server.children) == [1, 1, 1]


def test_a_full_event_child_accepts_again_only_once_its_listener_has_run() -> None:
    """event.c: the listener disabled its sockets (not_accepting) when its workers were all
    reserved; a worker going idle wakes it (apr_pollset_wakeup) and it re-enables them when it
    runs. One child of 2 workers, two 50 ms waits from 0.5 s on kept-alive connections (no
    lingering close takes the workers again), a CPU hog from 0.52 s: the workers free up at
    ~0.55 s, but the listener's turn (a 5 us thread switch of CPU) comes at the next 4 ms
    tick."""
    directives = {"StartServers": 1, "ThreadsPerChild": 2, "MaxRequestWorkers": 2,
                  "ServerLimit": 1, "MinSpareThreads": 1, "MaxSpareThreads": 4}  # fmt: skip
    world = _world("event", directives, EEVDF_HW, mix=[{"name": "r", "cpu_ms": 0.1,
                   "wait_ms": 50.0}], costs={"base": "ideal", "thread_switch_us": 5.0})  # fmt: skip
    world.env.run(until=0.45)
    for _ in range(2):
        _send(world, 0.05, keepalive=True)
    world.env.run(until=0.52)
    (child,) = world.server.children
    assert child.not_accepting
    world.cpu.run(0.2)
    world.env.run(until=0.551)
    assert child.idle == 2  # both workers are free again ...
    assert child.not_accepting and child.enabling  # ... but the listener has not run yet
    world.env.run(until=0.56)
    assert not child.not_accepting and not child.enabling
