"""A client's side of HTTP over TCP against the simulated server: connect, request, keep-alive.

These are plain generator functions that load generators run with ``yield from``. Times follow
ab and wrk: a request's latency runs from the moment the client starts it (for the first request
of a connection: the connect, the wait in the accept queue and any SYN retries) to the last byte.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from mpmsim.engine.connection import Conn
from mpmsim.engine.recorder import OK, REFUSED, RESET, TIMEOUT, Recorder
from mpmsim.engine.server import ACCEPTED, QUEUED, Server
from mpmsim.models.mpm.base import READY
from mpmsim.workloads.distributions import ConstantSampler, Sampler
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
        cpu_noise: Sampler | None = None,
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
        self.cpu_noise = cpu_noise or ConstantSampler(1.0)
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
    def connect(self, conn: Conn, t_start: float, lead_s: float) -> Proc:
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
    def request(self, conn: Conn | None, *, delay_s: float, client_keepalive: bool) -> Proc:
        """One request, sent ``delay_s`` from now, on ``conn`` if still open, else on a new one.

        ``delay_s`` covers the rest of the previous response's transfer and the think time, so
        a keep-alive exchange costs the simulation as few events as possible. The server's
        KeepAliveTimeout runs meanwhile. Records the request; returns ``(connection to reuse or
        None, status, time the client has the whole response)``.
        """
        env = self.env
        rec = self.recorder
        half = self.half_rtt_s
        server = self.server
        waited = 0.0  # of the handshake, already spent waiting for a request that failed
        if conn is not None and not conn.server_closed:
            # The request reaches the server half a round trip after the client sends it.
            to_server = delay_s + half
            kat = self.keepalive_timeout_s
            if to_server >= kat:
                yield env.timeout(kat)
                server.keepalive.expire(conn)
                if delay_s > kat:
                    yield env.timeout(delay_s - kat)
                delay_s = 0.0
            else:
                if to_server > 0.0:
                    yield env.timeout(to_server)
                delay_s = -half  # sent half a round trip ago
                waited = half
        elif delay_s > 0.0:
            yield env.timeout(delay_s)
            delay_s = 0.0
        t_start = env.now + (0.0 if delay_s > 0.0 else delay_s)  # min(delay_s, 0.0), cheaper
        rec.start()
        if conn is not None and conn.server_closed and conn.closed_at + half <= t_start:
            # The server's FIN reached the client before it sent: it simply reconnects.
            conn = None
        if conn is not None and not server.keepalive.resume(conn):
            # The server closed the connection as the request arrived (event with no idle
            # worker, or a stopping child): ab and wrk count an error, browsers retry.
            if not self.retry_on_close:
                rec.record(t_start, env.now, -1, RESET, False)
                return None, RESET, env.now
            rec.reconnects += 1
            conn = None
            waited = 0.0
        first = conn is None
        if conn is None:
            conn = self.new_conn()
            # SYN, SYN-ACK, then the ACK with the request (TCP_DEFER_ACCEPT waits for data).
            status = yield from self.connect(conn, t_start, max(1.5 * self.rtt_s - waited, 0.0))
            if status != OK:
                rec.record(t_start, env.now, -1, status, True)
                return None, status, env.now
        child = conn.child
        assert child is not None
        # -- the server serves it
        k, cpu_s, wait_s, size = self.requests.draw()
        n = conn.requests + 1
        conn.requests = n
        keep = (
            client_keepalive
            and self.server_keepalive
            and (self.max_keepalive == 0 or n <= self.max_keepalive)
            and child.state == READY
        )
        ov = server.overheads
        work = ov.request_cpu_s + cpu_s
        work += ov.new_conn_cpu_s if first else ov.ka_request_cpu_s
        if not keep:
            work += ov.close_cpu_s
        work *= self.cpu_noise.draw()
        mem = self.requests.memory_mib[k]
        if mem:
            server.memory.add(mem)
        yield server.cpu.run(work)
        if wait_s > 0.0:
            yield env.timeout(wait_s)
        if mem:
            server.memory.add(-mem)
        if not child.alive:
            rec.record(t_start, env.now, k, RESET, first)
            return None, RESET, env.now
        bw = self.bandwidth
        tx_s = size / bw if bw else 0.0
        held_s = 0.0
        if bw and size > ov.send_buffer_bytes:
            if server.model.write_completion_off_worker and not self.requests.streams[k]:
                server.cpu.run(ov.write_completion_cpu_s)
            else:
                held_s = (size - ov.send_buffer_bytes) / bw
        if held_s > self.server_timeout_s:
            # A blocking write that makes no progress for Timeout seconds is abandoned.
            yield env.timeout(self.server_timeout_s)
            server.close(conn, worker_held=True)
            rec.record(t_start, env.now, k, TIMEOUT, first)
            return None, TIMEOUT, env.now
        if held_s > 0.0:
            yield env.timeout(held_s)
            if not child.alive:
                rec.record(t_start, env.now, k, RESET, first)
                return None, RESET, env.now
        if keep:
            server.keepalive.hold(conn)
        else:
            server.close(conn, worker_held=True)
        # -- the client reads the rest of the response
        t_done = env.now + tx_s - held_s + half
        status = OK
        if self.timeout_s is not None and t_done - t_start > self.timeout_s:
            status = TIMEOUT
        rec.record(t_start, t_done, k, status, first)
        if status != OK or not keep:
            if keep:
                server.keepalive.expire(conn)  # the client gave up and closed it
            return None, status, t_done
        return conn, status, t_done

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
