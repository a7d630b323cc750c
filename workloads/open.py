"""Open load: sessions (browsers) arrive at a rate and send requests on keep-alive connections."""

from __future__ import annotations

import bisect
import math
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

from mpmsim.workloads.client import HttpClient
from mpmsim.workloads.distributions import Sampler


class ArrivalSchedule:
    """A Poisson process with piecewise-constant rate; arrivals by inverting the cumulative rate.

    Breakpoints are kept as Python floats: one arrival looks up a few scalars, which numpy makes
    slower, not faster.
    """

    def __init__(self, rate: float | Sequence[tuple[float, float]]) -> None:
        if isinstance(rate, int | float):
            points = [(0.0, float(rate))]
        else:
            points = [(float(t), float(r)) for t, r in rate]
        times = np.array([t for t, _ in points])
        rates = np.array([r for _, r in points])
        # cumulative intensity at each breakpoint
        widths = np.diff(times)
        cum = np.concatenate([[0.0], np.cumsum(widths * rates[:-1])])
        self.times: list[float] = times.tolist()
        self.rates: list[float] = rates.tolist()
        self.cum: list[float] = cum.tolist()

    def _segment(self, t: float) -> int:
        """Index of the breakpoint at or before ``t`` (0 before the first)."""
        return max(bisect.bisect_right(self.times, t) - 1, 0)

    def rate_at(self, t: float) -> float:
        """Arrival rate at time ``t``, per second."""
        return self.rates[self._segment(t)]

    def next_time(self, t: float, unit_exp: float) -> float:
        """The next arrival after ``t`` given a unit-rate exponential draw (inf if none)."""
        times, rates, cum = self.times, self.rates, self.cum
        i = self._segment(t)
        target = cum[i] + (t - times[i]) * rates[i] + unit_exp
        j = i
        while True:
            end_cum = cum[j + 1] if j + 1 < len(times) else math.inf
            if target <= end_cum:
                if rates[j] <= 0.0:
                    j += 1
                    if j >= len(times):
                        return math.inf
                    continue
                return times[j] + (target - cum[j]) / rates[j]
            j += 1
            if j >= len(times):
                return math.inf


class SessionTally:
    """The load offered: when each session arrived and how many requests it will send.

    Drawn at arrival, so it does not depend on how fast the server answers: two configurations
    run with the same seed are offered the same requests.
    """

    def __init__(self) -> None:
        self.t_s: list[float] = []
        self.requests: list[int] = []

    def add(self, t_s: float, n_requests: int) -> None:
        """Record a session arriving at ``t_s`` with ``n_requests`` to send."""
        self.t_s.append(t_s)
        self.requests.append(n_requests)


def session(
    client: HttpClient, n_requests: int, think: Sampler, client_closes: bool
) -> Generator[simpy.Event, Any, None]:
    """One visitor: ``n_requests`` requests with think time between, then leave."""
    env = client.env
    conn = None
    delay = 0.0
    for i in range(n_requests):
        conn, status, t_done = yield from client.request(conn, delay_s=delay, client_keepalive=True)
        if status != 0:
            return  # a failed request ends the visit
        delay = t_done - env.now
        if i < n_requests - 1:
            delay += think.draw()
    yield from client.finish(conn, delay, client_closes=client_closes)


def arrivals(
    client: HttpClient,
    schedule: ArrivalSchedule,
    until_s: float,
    gaps: Sampler,
    sizes: Sampler,
    think: Sampler,
    client_closes: bool,
    start_s: float = 0.0,
    tally: SessionTally | None = None,
) -> Generator[simpy.Event, Any, None]:
    """SimPy process: start sessions at the schedule's arrival times (shifted by ``start_s``).

    ``tally``, when given, records each session's arrival time and request count.
    """
    env = client.env
    t = 0.0
    while True:
        t = schedule.next_time(t, gaps.draw())
        if start_s + t >= until_s:
            return
        yield env.timeout(start_s + t - env.now)
        n = max(1, sizes.draw_int())
        if tally is not None:
            tally.add(env.now, n)
        env.process(session(client, n, think, client_closes))
