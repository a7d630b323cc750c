"""A client's side of HTTP over TCP against the simulated server: connect, request, keep-alive.

These are plain generator functions that load generators run with ``yield from``. Times follow
ab and wrk: a request's latency runs from the moment the client starts it (for the first request
of a connection: the connect, the wait in the accept queue and any SYN retries) to the last byte.
The response's way back (the link, a write that blocks, keep-alive or close) is
:mod:`mpmsim.engine.delivery`'s.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import simpy

from mpmsim.engine.connection import Conn
from mpmsim.engine.delivery import Delivery
from mpmsim.engine.recorder import OK, REFUSED, RESET, TIMEOUT, Recorder
from mpmsim.engine.request_work import RequestWork
from mpmsim.engine.server import ACCEPTED, QUEUED, Server
from mpmsim.models.mpm.base import DEAD, READY, Child
from mpmsim.workloads.client import Job
from mpmsim.workloads.distributions import Sampler
from mpmsim.workloads.mix import RequestDraw

#: :meth:`Client._connection`'s status for a kept connection whose request waits for event's
#: listener (``conn.wake`` fires when it has run)
PENDING = -1

if TYPE_CHECKING:
    from mpmsim.engine.backend import Route

Proc = Generator[simpy.Event, Any, Any]
T = TypeVar("T")
#: A phase of a request: a SimPy process step that returns a ``T``.
Step = Generator[simpy.Event, Any, T]


class Client:
    """What every simulated client shares: the server, the network, and the recorder."""

    def __init__(
        self,
        env: simpy.Environment,
        server: Server,
        recorder: Recorder,
        requests: RequestDraw,
        *,
        rtt_s: float,
        bandwidth_bytes_per_s: float | None,
        syn_retries: int,
        timeout_s: float | None,
        retry_on_close: bool,
        cpu_noise: Sampler | None = None,
        routes: Sequence[Route | None] | None = None,
        after_noise: Sampler | None = None,
        reads_until_close: bool = False,
    ) -> None:
        self.env = env
        self.server = server
        self.recorder = recorder
        self.requests = requests
        self.rtt_s = rtt_s
        self.half_rtt_s = rtt_s / 2.0
        self.bandwidth = bandwidth_bytes_per_s
        self.syn_retries = syn_retries
        self.timeout_s = timeout_s
        self.retry_on_close = retry_on_close
        #: a request on a connection the server then closes ends when the server has closed
        #: it, not at the response's last byte: ab without -k reads until EOF (support/ab.c
        #: ``read_connection`` takes Content-Length only from a keep-alive response, else
        #: reads on; ``finalize_connection``: "close before measuring, to account for
        #: shutdown time"). The server shuts its side down after the request's tail (the
        #: access log, the pool's cleanup: ``ap_lingering_close`` follows
        #: ``ap_process_request``), so the tail and any wait for the CPU in it count.
        self.reads_until_close = reads_until_close
        # Per class: where it runs besides Apache (mod_php, PHP-FPM, a proxy); None when the
        # scenario has no backend, so a plain Apache pays one test per request.
        self.routes = tuple(routes) if routes is not None and any(routes) else None
        d = server.directives
        self.keepalive_timeout_s = float(d.KeepAliveTimeout)
        self.server_keepalive = bool(d.KeepAlive) and d.KeepAliveTimeout > 0
        self.max_keepalive = int(d.MaxKeepAliveRequests)
        ov = server.overheads
        #: the request's CPU on its worker (the close's share that a response ending its
        #: connection carries: none where the worker itself closes after the FIN, prefork and
        #: worker, :mod:`lingering`, else all of it but for the worker woken after the FIN where
        #: event defers that part; a kept connection's hand-off to its worker, which event's
        #: listener runs as a job of its own when it is a task, :mod:`listener`)
        self.work = RequestWork(
            ov,
            server.cpu,
            close_with_response_s=(
                0.0
                if ov.linger_on_worker
                else ov.close_cpu_s - (ov.deferred_close_cpu_s if server.defers_linger else 0.0)
            ),
            ka_request_cpu_s=0.0 if server.listeners is not None else ov.ka_request_cpu_s,
            cpu_noise=cpu_noise,
            after_noise=after_noise,
        )
        # The client's own work per new connection (socket, connect, close): costs.client_conn_ms
        self.client_conn_s = server.costs.client_conn_ms / 1000.0
        #: the response's way back (the link, a blocking write, keep-alive or close)
        self.delivery = Delivery(
            env, server, requests.streams, half_rtt_s=self.half_rtt_s, timeout_s=timeout_s
        )
        self._delivered = self.delivery.delivered  # bound once: every response calls it
        self._next_id = 0

    def new_conn(self) -> Conn:
        """A fresh, unconnected connection."""
        self._next_id += 1
        return Conn(self._next_id)

    # -- connect ----------------------------------------------------------------------------
    def connect(self, conn: Conn, t_start: float, lead_s: float) -> Step[int]:
        """Reach the server ``lead_s`` from now, wait to be accepted; OK, REFUSED or TIMEOUT."""
        env = self.env
        server = self.server
        if lead_s > 0.0:
            yield env.timeout(lead_s)
        attempt = 0
        while True:
            outcome = server.arrive(conn)
            if outcome == ACCEPTED:
                return OK
            if outcome == QUEUED:
                wake = env.event()
                conn.wake = wake
                if self.timeout_s is not None:
                    left = t_start + self.timeout_s - env.now
                    timer = env.timeout(max(left, 0.0))
                    timer.callbacks.append(lambda _ev: _give_up(conn))
                yield wake
                return OK if not conn.abandoned else TIMEOUT
            # Dropped SYN: Linux retransmits after 1, 2, 4 ... s (at 1, 3, 7, 15, 31, 63 s).
            if attempt >= self.syn_retries:
                if self.syn_retries > 0:
                    yield env.timeout(float(2**attempt))
                return REFUSED
            delay = float(2**attempt)
            if self.timeout_s is not None and env.now + delay > t_start + self.timeout_s:
                yield env.timeout(max(t_start + self.timeout_s - env.now, 0.0))
                return TIMEOUT
            yield env.timeout(delay)
            attempt += 1

    # -- one request ----------------------------------------------------------------------------
    # SimPy resumes a process through every ``yield from`` layer on each of its events, and a
    # sub-generator costs its creation and its return on top. So the phases that usually do
    # not wait are plain functions (``_until_sent`` says how long to wait, ``_connection``
    # reuses a kept connection) and ``request`` does their waiting; only the waits that need
    # steps of their own (``_outlived``, ``connect``, ``_served``) are generators.
    def request(
        self, conn: Conn | None, *, delay_s: float, client_keepalive: bool, job: Job | None = None
    ) -> Proc:
        """One request, sent ``delay_s`` from now, on ``conn`` if still open, else on a new one.

        ``delay_s`` covers the rest of the previous response's transfer and the think time, so
        a keep-alive exchange costs the simulation as few events as possible. The server's
        KeepAliveTimeout runs meanwhile. ``job`` fixes the request's class, CPU, wait and size
        (a replayed log's request); None draws them from the mix. Records the request; returns
        ``(connection to reuse or None, status, time the client has the whole response)``.
        """
        env = self.env
        sending = self._until_sent(conn, delay_s)
        if sending is None:
            yield from self._outlived(conn, delay_s)
            t_start, sent_ago_s = env.now, 0.0
        else:
            wait_s, t_start, sent_ago_s = sending
            if wait_s > 0.0:
                yield env.timeout(wait_s)
        self.recorder.start()
        kept, status, lead_s = self._connection(conn, t_start, sent_ago_s)
        # The client times a request from its connect(): its own set-up of the new socket comes
        # first, as its close of the last one came after it stopped the last clock (ab.c
        # ``start_connect`` reads ``c->start`` after ``apr_socket_create``;
        # ``close_connection`` saves the time before ``apr_socket_close``).
        t_clock = t_start + self.client_conn_s if kept is None else t_start
        if status == PENDING:  # event: its child's listener hands it to a worker, or closes it
            assert kept is not None and kept.wake is not None
            if (yield kept.wake):
                status = OK
            else:
                kept, status, lead_s = self._closed_on_arrival(kept)
        if kept is None:
            kept = self.new_conn()
            status = yield from self.connect(kept, t_start, lead_s)
        first = kept is not conn
        if status != OK:
            self.recorder.record(t_clock, env.now, -1, status, first)
            return None, status, env.now
        k, status, t_end, keep = yield from self._served(
            kept, first, t_start, client_keepalive, job
        )
        self.recorder.record(t_clock, t_end, k, status, first)
        return (kept if keep else None), status, t_end

    def _until_sent(self, conn: Conn | None, delay_s: float) -> tuple[float, float, float] | None:
        """How long until the request is sent, or on a kept ``conn``, until it arrives.

        Returns ``(seconds to wait, when the request started, how long before the wait ends
        the client sent it)``, or None if the server's KeepAliveTimeout closes the kept
        ``conn`` before the request arrives (:meth:`_outlived` then waits). On a kept
        connection the request reaches the server half a round trip after it was sent.
        SimPy's clock after a wait of ``w`` is exactly ``now + w``, so the start is known now.
        """
        now = self.env.now
        if conn is None or conn.server_closed:
            if delay_s > 0.0:
                return delay_s, now + delay_s, 0.0
            return 0.0, now + delay_s, 0.0
        half = self.half_rtt_s
        to_server = delay_s + half
        if to_server >= self.keepalive_timeout_s:
            return None
        if to_server > 0.0:
            return to_server, (now + to_server) - half, half
        return 0.0, now - half, half

    def _outlived(self, conn: Conn | None, delay_s: float) -> Step[None]:
        """KeepAliveTimeout closes the kept ``conn`` first; the request is sent ``delay_s`` on.

        The request then counts from that close or from its sending, whichever is later.
        """
        assert conn is not None  # only a kept connection can be outlived
        env = self.env
        kat = self.keepalive_timeout_s
        yield env.timeout(kat)
        self.server.keepalive.expire(conn)
        if delay_s > kat:
            yield env.timeout(delay_s - kat)

    def _connection(
        self, conn: Conn | None, t_start: float, sent_ago_s: float
    ) -> tuple[Conn | None, int, float]:
        """The connection the request goes on: ``conn`` if the server still has it.

        Returns ``(conn, status, 0.0)`` for a kept connection (status RESET if the server
        closed it as the request arrived), else ``(None, OK, lead)``: a new connection whose
        handshake takes ``lead`` seconds more.
        """
        if conn is not None and conn.server_closed and conn.closed_at + self.half_rtt_s <= t_start:
            conn = None  # the server's FIN reached the client before it sent: it reconnects
        if conn is not None:
            took = self.server.keepalive.resume(conn)
            if took is True:
                return conn, OK, 0.0
            if took is not False:
                return conn, PENDING, 0.0
            return self._closed_on_arrival(conn)
        # SYN, SYN-ACK, then the ACK with the request (TCP_DEFER_ACCEPT waits for data).
        return None, OK, max(1.5 * self.rtt_s - sent_ago_s, 0.0) + self.client_conn_s

    def _closed_on_arrival(self, conn: Conn) -> tuple[Conn | None, int, float]:
        """The server closed the kept ``conn`` as the request arrived (event with no idle
        worker, or a stopping child): ab and wrk count an error (RESET on ``conn``), browsers
        retry on a new connection (None, OK, the handshake's lead), as :meth:`_connection`."""
        if not self.retry_on_close:
            return conn, RESET, 0.0
        self.recorder.reconnects += 1
        return None, OK, 1.5 * self.rtt_s + self.client_conn_s

    def _served(
        self, conn: Conn, first: bool, t_start: float, client_keepalive: bool, job: Job | None
    ) -> Step[tuple[int, int, float, bool]]:
        """A worker serves the request on ``conn`` and writes the response; the client reads it.

        Returns ``(request class, status, when the client has the whole response or gave up,
        whether ``conn`` stays open for the next request)``.
        """
        env = self.env
        server = self.server
        child = conn.child
        assert child is not None
        k, cpu_s, wait_s, size = self.requests.draw() if job is None else job
        keep = self._keeps_alive(conn, child, client_keepalive)
        route = None if self.routes is None else self.routes[k]
        work = self.work.cpu_s(cpu_s if route is None else 0.0, first, keep)
        kept_mib = self.requests.worker_mib[k]
        child_mib = self.requests.child_mib[k]
        if (kept_mib or child_mib) and (first or not server.keepalive.holds_worker):
            server.class_state(child, k, kept_mib, child_mib)  # a worker handed the request
        mem = self.requests.memory_mib[k]
        if mem:
            server.memory.add(mem)
        answer = OK
        if route is None:
            on_start = None
            if first and not server.cpu.runs_at_once:  # the worker leaves READY when it runs
                ran = server.worker_ran
                on_start = lambda: ran(child)  # noqa: E731
            eof = not keep and self.reads_until_close
            if server.keepalive.holds_worker or eof:
                # prefork, worker: the task that took the connection serves all its requests
                # and, asleep in its read between them, keeps its own vruntime
                # and, its response written, runs the request's tail (the access log, the
                # pool's cleanup): if the next request has come by then, it reads it at once.
                # A client that reads until the server closes waits for the tail too.
                after = self.work.tail_s(work) if (keep or eof) else 0.0
                end = env.event() if eof and after else None
                yield server.cpu.run_task(work - after, on_start, conn, keep, after, end)
                if end is not None:
                    yield end
            elif keep:
                # event: the worker's tail (the access log, the request pool's cleanup, the
                # connection's return to the listener's pollset) runs after the response
                # too, on the worker, while the client already has it. httpd 2.4
                # server/protocol.c: the request is logged and its pool destroyed when the
                # core output filter has written the response and destroys its EOR bucket
                # (``eor_bucket_cleanup``); event.c ``process_socket`` then puts the
                # connection in the keep-alive queue and the pollset. Until the tail ends
                # its worker is busy and its listener cannot see the next request
                # (:meth:`KeepAliveRegistry.hold`, :meth:`Listeners.readable`).
                after = self.work.tail_s(work)
                if after:
                    end = env.event()
                    yield server.cpu.run_task(work - after, on_start, conn, False, after, end)
                    conn.tail = end
                else:
                    yield server.cpu.run(work, on_start)
            else:
                yield server.cpu.run(work, on_start)
            if wait_s > 0.0:
                yield env.timeout(wait_s)  # a backend (database, application server) answers
        else:  # the worker waits while mod_php, PHP-FPM or a proxy runs the request
            if first:
                server.worker_ran(child)
            answer = yield from route.serve(child, work, cpu_s, wait_s)
        if mem:
            server.memory.add(-mem)
        if child.state == DEAD:  # (``not child.alive``, without a property call per request)
            return k, RESET, env.now, False
        if answer != OK:  # Apache's short error page (503, 504) on the kept connection
            _, t_done, keep = self._delivered(conn, keep, t_start, 0.0, 0.0)
            return k, answer, t_done, keep
        tx_s = held_s = 0.0  # an unlimited link (no client bandwidth) delivers at once
        if self.bandwidth:
            tx_s, held_s = self.delivery.transfer_s(k, size, self.bandwidth)
        if held_s > 0.0:
            status = yield from self.delivery.blocking_write(conn, child, held_s)
            if status != OK:
                return k, status, env.now, False
        status, t_done, keep = self._delivered(conn, keep, t_start, tx_s, held_s)
        return k, status, t_done, keep

    def _keeps_alive(self, conn: Conn, child: Child, client_keepalive: bool) -> bool:
        """Count one more request on ``conn``; whether both ends keep it open after this one."""
        n = conn.requests + 1
        conn.requests = n
        return (
            client_keepalive
            and self.server_keepalive
            and (self.max_keepalive == 0 or n <= self.max_keepalive)
            and child.state == READY
        )

    def finish(self, conn: Conn | None, delay_s: float, *, client_closes: bool) -> Proc:
        """The client is done with ``conn``: close it after ``delay_s`` or leave it idle.

        An idle connection stays open until the server's KeepAliveTimeout (browsers do that).
        """
        if conn is None or conn.server_closed:
            return
        wait = delay_s + self.half_rtt_s if client_closes else self.keepalive_timeout_s
        if wait > 0.0:
            yield self.env.timeout(min(wait, self.keepalive_timeout_s))
        self.server.keepalive.expire(conn)


def _give_up(conn: Conn) -> None:
    """The client's timeout fired while its connection waited in the accept queue."""
    if conn.child is None and conn.wake is not None and not conn.wake.triggered:
        conn.abandoned = True
        conn.wake.succeed()
