"""The listen socket's accept queue: established connections that no child has accepted yet.

Linux queues a connection once its handshake completes. ``sk_acceptq_is_full()`` compares the
queue's length with ``min(ListenBacklog, net.core.somaxconn)`` using ``>``, so the queue takes
one connection more than that; beyond it the handshake's last ACK is dropped and the client
retransmits its SYN (counted here as a SYN drop).
"""

from __future__ import annotations

from collections import deque

from mpmsim.engine.connection import Conn


def accept_queue_limit(listen_backlog: int, somaxconn: int) -> int:
    """How many connections the accept queue holds: ``min(ListenBacklog, somaxconn) + 1``."""
    return min(listen_backlog, somaxconn) + 1


class AcceptQueue:
    """Connections waiting for a child to accept them, first in first out."""

    __slots__ = ("limit", "syn_drops", "waiting")

    def __init__(self, listen_backlog: int, somaxconn: int) -> None:
        # The server tests ``waiting`` for emptiness each time a worker frees up: the deque's
        # truth value is computed in C, this class's would run its ``__len__`` in Python.
        self.waiting: deque[Conn] = deque()  # read it; only offer() and pop() change it
        self.limit = accept_queue_limit(listen_backlog, somaxconn)
        self.syn_drops = 0

    def __len__(self) -> int:
        """Connections in the queue, including those whose client has given up."""
        return len(self.waiting)

    def offer(self, conn: Conn) -> bool:
        """Queue ``conn``; False (and one more SYN drop) if the queue is full."""
        if len(self.waiting) < self.limit:
            self.waiting.append(conn)
            return True
        self.syn_drops += 1
        return False

    def pop(self) -> Conn | None:
        """The oldest connection whose client still waits, or None (the queue is then empty)."""
        conns = self.waiting
        while conns:
            conn = conns.popleft()
            if not conn.abandoned:
                return conn
        return None
