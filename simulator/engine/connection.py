"""A client's TCP connection to the simulated server, as both ends see it."""

from __future__ import annotations

import simpy

from mpmsim.models.mpm.base import Child


class Conn:
    """A client's TCP connection: the child serving it, and how it ended."""

    __slots__ = (
        "abandoned",
        "child",
        "closed_at",
        "id",
        "kept",
        "lingering",
        "requests",
        "server_closed",
        "tail",
        "wake",
    )

    def __init__(self, conn_id: int) -> None:
        self.id = conn_id
        self.child: Child | None = None  # set when a child accepts it
        self.wake: simpy.Event | None = None  # succeeds when a child accepts it from the queue
        self.abandoned = False  # the client gave up while it waited in the accept queue
        self.server_closed = False  # the server closed it (keep-alive timeout, busy, stopping)
        self.requests = 0  # requests sent on it so far
        self.closed_at = 0.0  # when the server closed it
        self.lingering = False  # event: in lingering close, watched by the child's listener
        self.kept = False  # event: its listener has held it, with its pool (keep-alive, linger)
        #: event: the CPU job of its last request's tail after the response (None: none, or
        #: done); its worker is busy and the connection not yet in the pollset until it ends
        self.tail: simpy.Event | None = None
