"""Trace replay: a log's own connections, started at their logged times, through a client.

Each rebuilt connection starts when its first request did (time-scaled by the speedup) and
sends its requests one after another on one keep-alive connection, each its logged idle gap
(think time) after the previous response: so a slower server pushes a visitor's later
requests later, as it would a browser's. Users do not think faster when there are more of
them, so the speedup compresses the connections' arrivals, not the gaps within one. After its
last request a connection stays idle until the server's KeepAliveTimeout ends it (as a
browser leaves it), unless the log says the server closed it (``%X`` ``-``); a failed request
ends the visit, as in the open load.
"""

from __future__ import annotations

from array import array
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

from mpmsim.workloads.access_log.url_classes import parse_classes
from mpmsim.workloads.client import HttpClient
from mpmsim.workloads.mix import ResolvedClass
from mpmsim.workloads.trace.plan import TracePlan
from mpmsim.workloads.trace.service import TraceService
from mpmsim.workloads.trace.stream import LogConnection, TraceStream


class TraceTally:
    """What a replay did: connections started and, for a log with ``%D``, each replayed
    request's logged time, in the order the client records them (so the two line up)."""

    def __init__(self, stream: TraceStream, logged: bool) -> None:
        self.stream = stream
        self.connections = 0
        self.logged_ms: array[float] | None = array("d") if logged else None

    def arrays(self) -> dict[str, Any]:
        """The tally as numbers and arrays (the replication keeps them)."""
        stream = self.stream
        return {
            "connections": self.connections,
            "requests_logged": stream.requests,
            "late": stream.late,
            "bad_lines": stream.bad_lines.count,
            "offered_per_s": stream.offered,
            "logged_ms": np.frombuffer(self.logged_ms or array("d"), dtype=np.float64),
        }


def start_replay(
    client: HttpClient,
    plan: TracePlan,
    classes: Sequence[ResolvedClass],
    rng: np.random.Generator,
    *,
    start_s: float,
    until_s: float,
) -> TraceTally:
    """Start replaying ``plan`` on ``client`` at ``start_s``; no connection starts from
    ``until_s`` on. The returned tally fills as the simulation runs; close its stream after."""
    options = plan.options
    service = TraceService(
        classes,
        parse_classes(options.class_rules, option="load.classes"),
        rng,
        logged=options.logged_service,
        cpu_share=options.cpu_share,
        bytes_out=plan.bytes_out,
    )
    stream = TraceStream(plan, service, rng, start_s=start_s)
    tally = TraceTally(stream, plan.has_duration)
    client.env.process(arrivals(client, stream, until_s, tally))
    return tally


def arrivals(
    client: HttpClient, stream: TraceStream, until_s: float, tally: TraceTally
) -> Generator[simpy.Event, Any, None]:
    """SimPy process: start each connection at its time, until ``until_s``."""
    env = client.env
    while True:
        conn = stream.next_connection()
        if conn is None or conn.t_s >= until_s:
            return
        if conn.t_s > env.now:
            yield env.timeout(conn.t_s - env.now)
        tally.connections += 1
        env.process(connection(client, stream, conn, tally))


def connection(
    client: HttpClient, stream: TraceStream, conn: LogConnection, tally: TraceTally
) -> Generator[simpy.Event, Any, None]:
    """SimPy process: one logged connection's requests, each its logged gap after the last."""
    env = client.env
    logged = tally.logged_ms
    sock = None
    delay = 0.0
    request = stream.next_request(conn)
    while request is not None:
        _, job, closes, logged_ms = request
        sock, status, t_done = yield from client.request(
            sock, delay_s=delay, client_keepalive=not closes, job=job
        )
        if logged is not None:
            logged.append(logged_ms)  # no event since the client recorded it: rows align
        if status != 0:
            conn.dropped = True  # a failed request ends the visit
            conn.pending.clear()
            return
        request = stream.next_request(conn)
        delay = t_done - env.now + (0.0 if request is None else request[0])
    yield from client.finish(sock, delay, client_closes=False)


__all__ = ["TraceTally", "arrivals", "connection", "start_replay"]
