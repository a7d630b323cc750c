"""Idle keep-alive connections between two requests: who holds them, and how each wait ends.

prefork and worker keep the worker blocked in its read, so it stays busy (``held`` counts those
workers); event hands the connection to its child's listener and frees the worker (``watched``
counts those connections). This registry is the one place that starts a wait and ends it: the
next request arrives (:meth:`KeepAliveRegistry.resume`), KeepAliveTimeout passes or the client
closes (:meth:`~KeepAliveRegistry.expire`), the child stops
(:meth:`~KeepAliveRegistry.close_all`) or exits (:meth:`~KeepAliveRegistry.forget`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

import simpy

from mpmsim.engine.connection import Conn
from mpmsim.engine.listener import Listeners
from mpmsim.models.mpm.base import DEAD, Child


class Workers(Protocol):
    """What ending a keep-alive wait needs of the server."""

    def release_worker(self, child: Child) -> None:
        """A worker of ``child`` is free again."""
        ...

    def take_worker(self, child: Child) -> bool:
        """Reserve an idle worker of ``child``; False if it has none."""
        ...

    def finish_close(self, conn: Conn) -> None:
        """Close ``conn`` (no worker of it is held any more)."""
        ...


class KeepAliveRegistry:
    """The idle keep-alive connections of one server, their counts and their peak."""

    def __init__(
        self,
        workers: Workers,
        *,
        holds_worker: bool,
        kept: Callable[[Conn], None] | None = None,
        listeners: Listeners | None = None,
    ) -> None:
        self._workers = workers
        #: event under a scheduler: the next request waits for its child's listener to run
        self._listeners = listeners
        if listeners is not None:
            listeners.dispatcher = self
        #: told of a connection the listener keeps alive for the first time (event: its pool)
        self._kept = kept
        self.holds_worker = holds_worker  # prefork, worker: True; event: False
        self.held = 0  # workers pinned by an idle keep-alive connection
        self.watched = 0  # event: idle keep-alive connections watched by the listeners
        self.peak = 0  # most idle keep-alive connections at once
        # defaultdicts: every keep-alive request adds to them, and a missing key filled in C
        # costs less than a .get() and a test in Python.
        self._held_by: defaultdict[Child, int] = defaultdict(int)
        self._watched_by: defaultdict[Child, dict[int, Conn]] = defaultdict(dict)

    def hold(self, conn: Conn) -> None:
        """The response on ``conn`` is sent: wait for the next request on it."""
        child = conn.child
        assert child is not None
        if self.holds_worker:
            self._held_by[child] += 1
            self.held += 1
        else:
            self._watched_by[child][conn.id] = conn
            self.watched += 1
            tail = conn.tail
            if tail is None or tail.processed:
                self._workers.release_worker(child)
            else:  # its worker is still running the request's tail (client.py ``_served``)
                release = self._workers.release_worker
                tail.callbacks.append(lambda _ev: release(child))
            if not conn.kept and self._kept is not None:
                self._kept(conn)
        idle = self.held + self.watched
        if idle > self.peak:
            self.peak = idle

    def resume(self, conn: Conn) -> bool | simpy.Event:
        """The next request reached the server on ``conn``; False if ``conn`` is closed.

        Event whose listener is a task (:mod:`~mpmsim.engine.listener`): an event that fires
        with :meth:`dispatch`'s answer when the listener has run; the connection stays in the
        keep-alive queue until then (and a close of the child's idle connections closes it).
        """
        child = conn.child
        assert child is not None
        # ``child.state == DEAD`` is ``not child.alive`` without a property call per request
        if conn.server_closed or child.state == DEAD:
            return False  # closed by the server, or its child was killed
        if self.holds_worker:
            self._held_by[child] -= 1
            self.held -= 1
            return True
        if self._listeners is not None:
            return self._listeners.readable(conn)
        if self.dispatch(conn):
            return True
        # No listener task: the close of the others that a busy child's listener does in its
        # next maintenance of the keep-alive queue happens at once ("kill'em all", event.c
        # l.2048-2051, l.2084-2090).
        self.close_all(child)
        return False

    def dispatch(self, conn: Conn) -> bool:
        """Event's listener hands the readable ``conn`` to an idle worker of its child; with
        none idle (a non-blocking reservation) it closes ``conn`` (False; event.c
        l.1936-1946: the client may reconnect to another process); the listener's round then
        closes the child's other idle connections (:meth:`close_all`, "kill'em all")."""
        child = conn.child
        assert child is not None
        if conn.server_closed or child.state == DEAD:
            return False  # closed while it waited for the listener, or its child was killed
        del self._watched_by[child][conn.id]
        self.watched -= 1
        if self._workers.take_worker(child):
            return True
        self._workers.finish_close(conn)
        return False

    def expire(self, conn: Conn) -> None:
        """KeepAliveTimeout passed with no request (or the client left): close ``conn``."""
        child = conn.child
        if conn.server_closed or conn.lingering or child is None or not child.alive:
            return  # (a lingering connection is closed by its own FIN)
        self._close(conn)

    def close_all(self, child: Child) -> None:
        """Close every idle connection that ``child``'s listener watches (event)."""
        watched = self._watched_by.get(child)
        if watched:
            for conn in list(watched.values()):
                self._close(conn)

    def forget(self, child: Child) -> None:
        """``child`` is gone (exited or killed): so are its idle connections."""
        self.held -= self._held_by.pop(child, 0)
        watched = self._watched_by.pop(child, None)
        if watched is not None:
            self.watched -= len(watched)

    def _close(self, conn: Conn) -> None:
        """The server closes the idle ``conn`` of a live child."""
        child = conn.child
        assert child is not None
        if conn.server_closed:
            return  # closed meanwhile, by a close that this one set off
        if self.holds_worker:
            self._held_by[child] -= 1
            self.held -= 1
            self._workers.release_worker(child)
        else:
            del self._watched_by[child][conn.id]
            self.watched -= 1
        self._workers.finish_close(conn)
