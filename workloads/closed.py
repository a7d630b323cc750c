"""Closed-loop load like ``ab -c C -n N`` or ``wrk -c C -d T``: clients wait for each response.

Paced clients (kaclient, ``h2load --rps``) also wait, and send at most one request per period.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from mpmsim.workloads.client import HttpClient
from mpmsim.workloads.distributions import Sampler


class RequestBudget:
    """ab's ``-n``: how many requests may still be started, and an event when all are done."""

    def __init__(self, env: simpy.Environment, total: int | None) -> None:
        self.total = total
        self.started = 0
        self.done = env.event()

    def take(self) -> bool:
        """Claim the right to start one more request."""
        if self.total is not None and self.started >= self.total:
            return False
        self.started += 1
        return True

    def finished(self, count: int) -> None:
        """Tell the budget how many requests have finished."""
        if self.total is not None and count >= self.total and not self.done.triggered:
            self.done.succeed()


def closed_client(
    client: HttpClient,
    budget: RequestBudget,
    think: Sampler,
    keepalive: bool,
    retry_delay_s: float,
    start_s: float = 0.0,
    period_s: float | None = None,
) -> Generator[simpy.Event, Any, None]:
    """One closed-loop client: request, think, repeat while the budget allows.

    With ``period_s`` (a paced client like kaclient) the requests keep to a grid of ticks
    ``period_s`` apart from the client's first: the next request starts at its tick, or at
    once when the response comes after it; the ticks that passed while the response was out
    are skipped, not made up, and the grid does not move (``mpmsim.bench.kaclient._client``).
    """
    env = client.env
    rec = client.recorder
    conn = None
    delay = start_s
    tick = env.now + start_s
    while budget.take():
        conn, status, t_done = yield from client.request(
            conn, delay_s=delay, client_keepalive=keepalive
        )
        budget.finished(rec.finished)
        think_s = think.draw()
        if status != 0:
            think_s = max(think_s, retry_delay_s)
        ready = t_done + think_s
        if period_s is not None:
            tick += period_s
            if ready >= tick + period_s:  # ticks that passed while the request was out
                tick += math.floor((ready - tick) / period_s) * period_s
            ready = max(ready, tick)
        delay = ready - env.now
    # Done, like ab when -n is reached: close the kept-alive connection, else it would pin its
    # worker for ever (the server's KeepAliveTimeout is run by the client's next request).
    yield from client.finish(conn, 0.0, client_closes=True)


def start_closed(
    client: HttpClient,
    clients: int,
    budget: RequestBudget,
    think: Sampler,
    keepalive: bool,
    retry_delay_s: float = 0.01,
    start_s: float = 0.0,
    *,
    rate_per_client_rps: float | None = None,
    rate_phases: str = "spread",
) -> None:
    """Start ``clients`` closed-loop clients; they send their first request at ``start_s``.

    Paced clients (``rate_per_client_rps``) with ``rate_phases`` "spread" start evenly over one
    period after ``start_s`` (client i at i/clients of it), "together" all at ``start_s``.
    """
    period = None if rate_per_client_rps is None else 1.0 / rate_per_client_rps
    for i in range(clients):
        first = start_s
        if period is not None and rate_phases == "spread":
            first += period * i / clients
        client.env.process(
            closed_client(client, budget, think, keepalive, retry_delay_s, first, period)
        )
