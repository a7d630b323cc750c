"""Lingering close: after the last response, the server waits for the client's FIN, then closes.

Apache shuts the write side down and reads until the client's FIN before it closes
(``server/connection.c`` ``ap_lingering_close``), so a connection outlives its last response by
the client's read and close. Who waits differs:

* prefork and worker: the worker itself blocks in the read (:meth:`LingeringClose.on_worker`);
* event: the connection goes to its child's listener, which on the FIN hands it to a worker to
  read the EOF and close (:meth:`LingeringClose.deferred`).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from typing import Protocol

import simpy

from mpmsim.engine.connection import Conn
from mpmsim.engine.cpu import CPU
from mpmsim.engine.overheads import Overheads
from mpmsim.models.mpm.base import DEAD, Child


class Closer(Protocol):
    """What a lingering close needs of the server."""

    def release_worker(self, child: Child) -> None:
        """A worker of ``child`` is free again."""
        ...

    def finish_close(self, conn: Conn) -> None:
        """Close ``conn`` (no worker of it is held any more)."""
        ...

    def hold_worker(self, child: Child) -> None:
        """Take one of the idle workers of ``child`` (it has one)."""
        ...


class LingeringClose:
    """The lingering closes of one server: their FINs, their CPU, the workers they take."""

    def __init__(
        self, env: simpy.Environment, cpu: CPU, overheads: Overheads, server: Closer
    ) -> None:
        self._env = env
        self._cpu = cpu
        self._ov = overheads
        self._server = server
        #: event: lingering connections whose FIN came while their child had no idle worker
        self._waiting: defaultdict[Child, deque[Conn]] = defaultdict(deque)

    def on_worker(self, conn: Conn, child: Child, fin_after_s: float) -> None:
        """A sync worker's lingering close: SERVER_CLOSING until it has run after the FIN.

        httpd 2.4 ``server/connection.c``: ``ap_prep_lingering_close`` sets the scoreboard to
        SERVER_CLOSING, ``ap_lingering_close`` shuts down the write side and blocks in
        ``apr_socket_recv`` until the client's FIN; the worker marks itself SERVER_READY only
        at the top of its loop (prefork ``child_main``, worker ``worker_thread``), i.e. once it
        has been woken and run again. Until then the parent's maintenance does not count it as
        idle. Its close is a CPU job of its own, which waits for the CPU like any other.
        """
        server = self._server

        def closed(_ev: simpy.Event) -> None:
            if conn.server_closed:
                return
            server.release_worker(child)
            server.finish_close(conn)

        def fin(_ev: simpy.Event | None) -> None:
            # the connection's own task closes it, then sleeps among the others
            self._cpu.run_task(self._ov.close_cpu_s, None, conn, False).callbacks.append(closed)

        self._after(fin_after_s, fin)

    def deferred(self, conn: Conn, child: Child, fin_after_s: float) -> None:
        """Event: on the client's FIN a worker of ``child`` reads the EOF and closes ``conn``.

        httpd 2.4 event.c: the worker that wrote the last response shuts the write side down
        and tries one non-blocking read (``start_lingering_close_blocking``,
        ``process_lingering_close``; charged with the response), then leaves the connection
        in its listener's linger queue and goes idle. When the FIN makes it readable, the
        listener hands it to a worker (``listener_thread``: ``get_worker``, ``push2worker``),
        which reads the EOF and closes; until that worker has run it is not idle, so on a
        saturated CPU a child runs out of idle workers, stops accepting and its idle threads
        leave the parent's count, which forks more children. The listener's reservation is
        non-blocking (with no idle worker it resets the connection itself), but it only
        looks once it runs, by when a worker has usually come free: measured 2026-11-30 on
        2.4.71 with event at 100 and 400 ab clients without keep-alive on one core, 0.1 and
        0.6 % of the connections were reset (``/proc/net/snmp`` Tcp OutRsts), 16 children
        ran, and ``LogLevel mpm_event:debug`` read "Accepting new connections again: 24
        active conns (24 lingering/0 clogged/0 suspended), 1 idle workers". So here a FIN
        that finds no idle worker waits for the next worker its child frees
        (:meth:`take_freed_worker`).
        """

        def fin(_ev: simpy.Event | None) -> None:
            if conn.server_closed or child.state == DEAD:
                return
            if self._ov.deferred_close_cpu_s <= 0.0:
                self._server.finish_close(conn)  # a close that costs no CPU holds no worker
            elif child.idle > 0:
                self._server.hold_worker(child)
                self._close_on_worker(conn, child)
            else:
                self._waiting[child].append(conn)

        self._after(fin_after_s, fin)

    def take_freed_worker(self, child: Child) -> bool:
        """A worker of ``child`` just came free: it takes a waiting FIN if there is one."""
        waiting = self._waiting.get(child)
        while waiting:
            conn = waiting.popleft()
            if not conn.server_closed:
                self._close_on_worker(conn, child)
                return True
        return False

    def forget(self, child: Child) -> None:
        """``child`` is gone: so are the FINs waiting for its workers."""
        self._waiting.pop(child, None)

    def _close_on_worker(self, conn: Conn, child: Child) -> None:
        """A worker of ``child``, taken for ``conn``, reads its EOF and closes it."""
        server = self._server

        def closed(_ev: simpy.Event) -> None:
            server.release_worker(child)
            server.finish_close(conn)

        self._cpu.run_queued(self._ov.deferred_close_cpu_s).callbacks.append(closed)

    def _after(self, delay_s: float, fn: Callable[[simpy.Event | None], None]) -> None:
        """``fn`` when the FIN reaches the server, ``delay_s`` from now."""
        if delay_s > 0.0:
            self._env.timeout(delay_s).callbacks.append(fn)
        else:
            fn(None)
