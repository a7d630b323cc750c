"""Stories of idle keep-alive connections: how each wait starts and ends, and what is counted."""

from __future__ import annotations

from mpmsim.engine.connection import Conn
from mpmsim.engine.keepalive import KeepAliveRegistry
from mpmsim.models.mpm.base import DEAD, READY, Child


class FakeWorkers:
    """The server's side, as the registry sees it: logs every call, idle workers on demand."""

    def __init__(self, idle: int = 0) -> None:
        self.idle = idle
        self.log: list[tuple[str, int]] = []

    def release_worker(self, child: Child) -> None:
        self.log.append(("release", child.slot))

    def take_worker(self, child: Child) -> bool:
        self.log.append(("take", child.slot))
        if self.idle <= 0:
            return False
        self.idle -= 1
        return True

    def finish_close(self, conn: Conn) -> None:
        conn.server_closed = True
        self.log.append(("close", conn.id))


def _child(slot: int) -> Child:
    return Child(slot=slot, threads=4, extra_threads=0, memory_mib=1.0, state=READY)


def _conn(conn_id: int, child: Child) -> Conn:
    conn = Conn(conn_id)
    conn.child = child
    return conn


def test_sync_mpm_pins_the_worker_until_the_next_request_or_the_timeout() -> None:
    workers = FakeWorkers()
    ka = KeepAliveRegistry(workers, holds_worker=True)
    child = _child(0)
    a, b = _conn(1, child), _conn(2, child)
    ka.hold(a)
    ka.hold(b)
    assert (ka.held, ka.watched, ka.peak) == (2, 0, 2)
    assert workers.log == []  # the workers stay blocked in their read
    assert ka.resume(a)
    ka.expire(b)
    assert (ka.held, ka.peak) == (0, 2)
    assert workers.log == [("release", 0), ("close", 2)]  # only b's worker, then b closes
    assert not ka.resume(b)  # the next request finds b closed


def test_event_hands_the_connection_to_the_listener_and_takes_a_worker_back() -> None:
    workers = FakeWorkers(idle=1)
    ka = KeepAliveRegistry(workers, holds_worker=False)
    child = _child(0)
    a = _conn(1, child)
    ka.hold(a)
    assert (ka.held, ka.watched) == (0, 1)
    assert ka.resume(a)
    assert ka.watched == 0
    assert workers.log == [("release", 0), ("take", 0)]


def test_event_with_no_idle_worker_closes_every_idle_connection_of_that_child() -> None:
    workers = FakeWorkers(idle=0)
    ka = KeepAliveRegistry(workers, holds_worker=False)
    full, other = _child(0), _child(1)
    a, b, c, d = _conn(1, full), _conn(2, full), _conn(3, full), _conn(4, other)
    for conn in (a, b, c, d):
        ka.hold(conn)
    workers.log.clear()
    assert not ka.resume(a)
    assert workers.log == [("take", 0), ("close", 1), ("close", 2), ("close", 3)]
    assert ka.watched == 1 and not d.server_closed  # the other child's connection stays
    assert ka.peak == 4


def test_a_child_that_is_gone_takes_its_idle_connections_with_it() -> None:
    workers = FakeWorkers()
    ka = KeepAliveRegistry(workers, holds_worker=False)
    killed, kept = _child(0), _child(1)
    ka.hold(_conn(1, killed))
    ka.hold(_conn(2, killed))
    survivor = _conn(3, kept)
    ka.hold(survivor)
    killed.state = DEAD
    ka.forget(killed)
    assert ka.watched == 1
    workers.log.clear()
    ka.close_all(killed)
    ka.close_all(kept)
    assert workers.log == [("close", 3)] and ka.watched == 0


def test_a_closed_connection_neither_resumes_nor_closes_twice() -> None:
    workers = FakeWorkers(idle=1)
    ka = KeepAliveRegistry(workers, holds_worker=False)
    conn = _conn(1, _child(0))
    ka.hold(conn)
    ka.expire(conn)
    ka.expire(conn)
    assert not ka.resume(conn)
    assert workers.log == [("release", 0), ("close", 1)] and ka.watched == 0
