"""The listen socket's accept queue: its size, SYN drops, and clients that gave up waiting."""

from __future__ import annotations

from mpmsim.engine.accept_queue import AcceptQueue, accept_queue_limit
from mpmsim.engine.connection import Conn


def test_the_queue_holds_one_more_than_the_smaller_of_listen_backlog_and_somaxconn() -> None:
    assert accept_queue_limit(511, 4096) == 512
    assert accept_queue_limit(511, 128) == 129


def test_a_full_queue_drops_the_handshake() -> None:
    queue = AcceptQueue(listen_backlog=1, somaxconn=4096)
    assert queue.offer(Conn(1)) and queue.offer(Conn(2))
    assert not queue.offer(Conn(3))
    assert (len(queue), queue.syn_drops) == (2, 1)


def test_clients_that_gave_up_are_skipped_in_arrival_order() -> None:
    queue = AcceptQueue(listen_backlog=10, somaxconn=10)
    conns = [Conn(i) for i in range(4)]
    for conn in conns:
        queue.offer(conn)
    conns[0].abandoned = conns[2].abandoned = conns[3].abandoned = True
    first = queue.pop()
    assert first is not None and first.id == 1
    assert queue.pop() is None and len(queue) == 0
