"""Event's listener thread: a keep-alive connection's next request waits for it to run.

httpd 2.4 ``server/mpm/event/event.c`` ``listener_thread``: an idle keep-alive connection sits
in its child's pollset (the keep-alive queue). When the client's next request makes it
readable, nothing happens until the listener thread runs: ``apr_pollset_poll`` returns every
socket that became ready meanwhile, and for each readable connection, in turn, the listener
removes it from the keep-alive queue and asks for a worker without waiting
(``get_worker(&have_idle_worker, blocking = 0, ...)``): it pushes the connection to an idle
worker (``push2worker``), or, with none idle, closes that connection "so that the client can
re-connect to a different process" (l.1936-1946), and at the end of that poll round closes
every idle keep-alive connection of the child ("kill'em all", ``workers_were_busy``,
l.2084-2090). So a worker is reserved (``ap_queue_info_wait_for_idler`` decrements the
idlers) when the listener runs, not when the request arrives: while the listener waits for
the CPU, the child's workers that finish count idle, and its connection limit
(``connections_above_limit``: ``ThreadsPerChild + idle * AsyncRequestWorkerFactor``) lets it
accept more connections than it has workers (measurements/README.md, "Probes of mechanisms":
75 connections admitted by a child of 25 threads at 100 clients).

The listener is a task like any other: woken by the first readable connection, it runs when the
scheduler picks it, as a short job placed behind the runnable ones (``CPU.run_behind``), and
takes all the connections that became readable until then. New connections are accepted in the
same round, after those (the listening socket is one more descriptor of the poll, served after
the connections' events, l.1870-2030): while its listener is woken, a child accepts nothing
from the backlog, and a worker freed meanwhile goes to a kept connection's next request first
(``after_round``; measurements/README.md, "A saturated event child holds about as many
connections as it has threads"). Its run costs the switch to it
(``Overheads.ka_request_cpu_s``, which the request's own job then leaves out); under processor
sharing every job runs at once, so the request takes its worker on arrival (no listener).

A child that stopped accepting (its listening sockets disabled) accepts again once its listener
has run to enable them (:func:`wake_to_enable`, under any scheduler but processor sharing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import simpy

from mpmsim.engine.connection import Conn
from mpmsim.engine.cpu import CPU
from mpmsim.models.mpm.base import Child


def wake_to_enable(cpu: CPU, run_s: float, child: Child, enabled: Callable[[Child], None]) -> None:
    """A full event child may accept again once its listener has run to re-enable it.

    httpd 2.4 event.c: a worker that goes idle, or a connection that closes, while the
    listeners are disabled calls ``apr_pollset_wakeup`` (l.796-829, l.2186-2191); the
    listener thread calls ``enable_listensocks`` (clears ``not_accepting``) when it next
    runs. It is a task like any other: on a saturated CPU it waits for its turn (a job of
    ``run_s``), and until then the parent does not count the child's idle threads (l.2954).
    ``enabled(child)`` runs then, once for any number of wake-ups meanwhile.
    """
    if child.enabling:
        return
    child.enabling = True

    def ran(_ev: simpy.Event) -> None:
        child.enabling = False
        enabled(child)

    cpu.run(run_s).callbacks.append(ran)


class Dispatcher(Protocol):
    """What the listener needs of the keep-alive registry."""

    def dispatch(self, conn: Conn) -> bool:
        """Hand the readable ``conn`` to an idle worker; False if it was closed instead."""
        ...

    def close_all(self, child: Child) -> None:
        """Close every idle keep-alive connection of ``child``."""
        ...


class Listeners:
    """The listener threads of one server's children, as far as keep-alive requests go."""

    def __init__(self, env: simpy.Environment, cpu: CPU, run_s: float) -> None:
        self._env = env
        self._cpu = cpu
        self._run_s = run_s
        self.dispatcher: Dispatcher | None = None
        #: called with the child at the end of each of its listener's rounds (its accepts)
        self.after_round: Callable[[Child], None] | None = None
        #: per child whose listener is woken, the readable connections it will find
        self._ready: dict[Child, list[Conn]] = {}
        self.runs = 0  # listener runs that found readable connections
        self.dispatched = 0  # connections they found

    def readable(self, conn: Conn) -> simpy.Event:
        """``conn``'s next request arrived; the event fires with True once a worker has it,
        False if the listener closed it instead."""
        ev = simpy.Event(self._env)
        conn.wake = ev
        tail = conn.tail
        if tail is not None and not tail.processed:
            # its worker has not put it in the pollset yet: the listener sees it after that
            tail.callbacks.append(lambda _ev: self._readable(conn))
        else:
            self._readable(conn)
        return ev

    def _readable(self, conn: Conn) -> None:
        """``conn`` is readable in its child's pollset: wake the listener, or join its run."""
        conn.tail = None
        child = conn.child
        assert child is not None
        ready = self._ready.get(child)
        if ready is None:
            ready = self._ready[child] = []
            self._cpu.run_behind(self._run_s).callbacks.append(lambda _ev: self._run(child))
        ready.append(conn)

    def _run(self, child: Child) -> None:
        """``child``'s listener runs: every connection readable until now, in turn."""
        ready = self._ready.pop(child, ())
        dispatcher = self.dispatcher
        assert dispatcher is not None
        self.runs += 1
        self.dispatched += len(ready)
        busy = False
        for conn in ready:
            assert conn.wake is not None
            ok = dispatcher.dispatch(conn)
            busy = busy or not ok
            conn.wake.succeed(ok)
        if busy:
            dispatcher.close_all(child)
        if self.after_round is not None:
            self.after_round(child)

    def pending(self, child: Child) -> bool:
        """``child``'s listener is woken and has not run yet."""
        return child in self._ready

    def first_asleep(self, children: Iterable[Child]) -> Child | None:
        """The first of ``children`` whose listener is not woken (it accepts a connection now)."""
        ready = self._ready
        return next((child for child in children if child not in ready), None)
