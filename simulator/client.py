"""A client's side of HTTP over TCP against the simulated server: connect, request, keep-alive.

These are plain generator functions that load generators run with ``yield from``. Times follow
ab and wrk: a request's latency runs from the moment the client starts it (for the first request
of a connection: the connect, the wait in the accept queue and any SYN retries) to the last byte.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from mpmsim.models.base import ChildState
from mpmsim.recorder import OK, REFUSED, RESET, TIMEOUT, Recorder
from mpmsim.server import ACCEPTED, QUEUED, Conn, Server
from mpmsim.workloads.mix import RequestDraw

Proc = Generator[simpy.Event, Any, Any]


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
        d = server.directives
        self.keepalive_timeout_s = float(d.KeepAliveTimeout)
        self.server_keepalive = bool(d.KeepAlive) and d.KeepAliveTimeout > 0
        self.max_keepalive = int(d.MaxKeepAliveRequests)
        self.server_timeout_s = float(d.Timeout)
        self._next_id = 0

    def new_conn(self) -> Conn:
        """A fresh, unconnected connection."""
        self._next_id += 1
        return Conn(self._next_id)

    # -- connect ----------------------------------------------------------------------------
    def connect(self, conn: Conn, t_start: float) -> Proc:
        """Handshake, then wait to be accepted; returns OK, REFUSED or TIMEOUT."""
        env = self.env
        server = self.server
        if self.rtt_s > 0.0:
            # SYN, SYN-ACK, then ACK with the request (TCP_DEFER_ACCEPT waits for data).
            yield env.timeout(1.5 * self.rtt_s)
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

    # -- one request on an accepted connection ------------------------------------------------
    def exchange(self, conn: Conn, *, first: bool, client_keepalive: bool) -> Proc:
        """Send one request and read the response; returns (status, class index).

        On return the connection is either in keep-alive (``conn.in_keepalive``) or closed.
        """
        env = self.env
        server = self.server
        child = conn.child
        assert child is not None
        k, cpu_s, wait_s, size = self.requests.draw()
        n = conn.requests + 1
        conn.requests = n
        keep = (
            client_keepalive
            and self.server_keepalive
            and (self.max_keepalive == 0 or n <= self.max_keepalive)
            and child.state == ChildState.READY
        )
        work = server.request_cpu_s + cpu_s
        work += server.new_conn_cpu_s if first else server.ka_request_cpu_s
        if not keep:
            work += server.close_cpu_s
        mem = self.requests.memory_mib[k]
        if mem:
            server.memory.add(mem)
        yield server.cpu.run(work)
        if wait_s > 0.0:
            yield env.timeout(wait_s)
        if mem:
            server.memory.add(-mem)
        if not child.alive:
            return RESET, k
        bw = self.bandwidth
        tx_s = size / bw if bw else 0.0
        held_s = 0.0
        if bw and size > server.send_buffer_bytes:
            if server.model.write_completion_off_worker and not self.requests.streams[k]:
                server.cpu.run(server.write_completion_cpu_s)
            else:
                held_s = (size - server.send_buffer_bytes) / bw
        if held_s > self.server_timeout_s:
            # A blocking write that makes no progress for Timeout seconds is abandoned.
            yield env.timeout(self.server_timeout_s)
            server.close(conn, worker_held=True)
            return TIMEOUT, k
        if held_s > 0.0:
            yield env.timeout(held_s)
            if not child.alive:
                return RESET, k
        if keep:
            server.hold_keepalive(conn)
        else:
            server.close(conn, worker_held=True)
        rest = tx_s - held_s + self.half_rtt_s
        if rest > 0.0:
            yield env.timeout(rest)
        return OK, k

    # -- between requests --------------------------------------------------------------------
    def idle(self, conn: Conn, think_s: float) -> Proc:
        """Think for ``think_s`` on a keep-alive connection; the server may close it meanwhile."""
        env = self.env
        kat = self.keepalive_timeout_s
        if think_s >= kat:
            yield env.timeout(kat)
            self.server.expire_keepalive(conn)
            if think_s > kat:
                yield env.timeout(think_s - kat)
        elif think_s > 0.0:
            yield env.timeout(think_s)

    def leave_idle(self, conn: Conn, *, client_closes: bool) -> Proc:
        """The client is done: close now, or leave the connection to KeepAliveTimeout."""
        if not client_closes:
            yield self.env.timeout(self.keepalive_timeout_s)
        self.server.expire_keepalive(conn)

    def resume(self, conn: Conn) -> bool:
        """Send the next request on a keep-alive connection; False if it was closed."""
        return self.server.leave_keepalive(conn)

    # -- whole requests ------------------------------------------------------------------------
    def request(self, conn: Conn | None, *, client_keepalive: bool) -> Proc:
        """One request as the client sees it, on ``conn`` if it is still open, else a new one.

        Records the request and returns (connection to reuse or None, status).
        """
        env = self.env
        rec = self.recorder
        rec.start()
        t_start = env.now
        if conn is not None and conn.server_closed and conn.closed_at + self.rtt_s <= t_start:
            # The server's FIN arrived while the client was idle: it simply reconnects.
            conn = None
        if conn is not None:
            if self.half_rtt_s > 0.0:
                yield env.timeout(self.half_rtt_s)
            if not self.resume(conn):
                if not self.retry_on_close:
                    rec.record(t_start, env.now, -1, RESET, False)
                    return None, RESET
                rec.reconnects += 1
                conn = None
        first = conn is None
        if conn is None:
            conn = self.new_conn()
            status = yield from self.connect(conn, t_start)
            if status != OK:
                rec.record(t_start, env.now, -1, status, True)
                return None, status
        status, k = yield from self.exchange(conn, first=first, client_keepalive=client_keepalive)
        t_end = env.now
        if status == OK and self.timeout_s is not None and t_end - t_start > self.timeout_s:
            status = TIMEOUT
        rec.record(t_start, t_end, k, status, first)
        if status != OK or not conn.in_keepalive:
            return None, status
        return conn, status


def _give_up(conn: Conn) -> None:
    """The client's timeout fired while its connection waited in the accept queue."""
    if conn.child is None and conn.wake is not None and not conn.wake.triggered:
        conn.abandoned = True
        conn.wake.succeed()
