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

    __slots__ = ("_conns", "limit", "syn_drops")

    def __init__(self, listen_backlog: int, somaxconn: int) -> None:
        self._conns: deque[Conn] = deque()
        self.limit = accept_queue_limit(listen_backlog, somaxconn)
        self.syn_drops = 0

    def __len__(self) -> int:
        """Connections in the queue, including those whose client has given up."""
        return len(self._conns)

    def offer(self, conn: Conn) -> bool:
        """Queue ``conn``; False (and one more SYN drop) if the queue is full."""
        if len(self._conns) < self.limit:
            self._conns.append(conn)
            return True
        self.syn_drops += 1
        return False

    def pop(self) -> Conn | None:
        """The oldest connection whose client still waits, or None (the queue is then empty)."""
        conns = self._conns
        while conns:
            conn = conns.popleft()
            if not conn.abandoned:
                return conn
        return None
