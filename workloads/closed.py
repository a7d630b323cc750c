"""Closed-loop load like ``ab -c C -n N`` or ``wrk -c C -d T``: clients wait for each response."""

from __future__ import annotations

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
) -> Generator[simpy.Event, Any, None]:
    """One closed-loop client: request, think, repeat while the budget allows."""
    env = client.env
    rec = client.recorder
    conn = None
    delay = start_s
    while budget.take():
        conn, status, t_done = yield from client.request(
            conn, delay_s=delay, client_keepalive=keepalive
        )
        budget.finished(rec.finished)
        think_s = think.draw()
        if status != 0:
            think_s = max(think_s, retry_delay_s)
        delay = t_done - env.now + think_s
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
) -> None:
    """Start ``clients`` closed-loop clients; they send their first request at ``start_s``."""
    for _ in range(clients):
        client.env.process(closed_client(client, budget, think, keepalive, retry_delay_s, start_s))
