"""A load's demand per request, from the scenario's means: class costs and connection use.

The inputs of the analytic bounds (:mod:`mpmsim.engine.theory`): each class's share, CPU, wait
and response size, and how often a request opens a connection, has the server close it, and
how long a kept connection idles on the server. The connection use is walked over the load's own
distributions (8192 seeded draws, no server): a request is kept alive when client and server
both keep alive, the connection has served at most MaxKeepAliveRequests, and the next request
reaches the server within KeepAliveTimeout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mpmsim.engine.classes import key
from mpmsim.spec.backends import MOD_PHP
from mpmsim.spec.php import FpmBackend
from mpmsim.spec.resolve import Prepared
from mpmsim.spec.scenario import ClosedLoad, OpenLoad, TraceLoad
from mpmsim.workloads.distributions import DistributionSpec, Sampler, make_sampler, mean_of

_DRAWS = 8192
Mean = Callable[[str], float]


@dataclass(frozen=True)
class ConnectionShape:
    """How a load uses connections, per request: opened, closed by the server, idle seconds."""

    new: float
    """Share of requests that open a connection (1: no keep-alive)."""
    closed: float
    """Share of requests after which the server closes the connection (close CPU charged)."""
    idle_s: float
    """Seconds a kept connection waits idle on the server per request (up to KeepAliveTimeout)."""
    source: str


def connection_shape(prep: Prepared, mean: Mean, transfer_s: float) -> ConnectionShape:
    """The load's connection use, walked over its own distributions (no server involved).

    A request is kept alive when client and server both keep alive, the connection has served
    at most MaxKeepAliveRequests, and the next request reaches the server (think time, a round
    trip and the response's transfer, ``transfer_s`` on average) within KeepAliveTimeout. A
    trace load takes its connections from the log.
    """
    load, d = prep.scenario.load, prep.directives
    kat = float(d.KeepAliveTimeout)
    client_keepalive = load.keepalive if isinstance(load, ClosedLoad) else True
    if not (client_keepalive and d.KeepAlive and kat > 0):
        return ConnectionShape(1.0, 1.0, 0.0, "one connection per request")
    if isinstance(load, TraceLoad):
        sent = mean("sent")
        new = mean("trace_connections") / sent if sent > 0 else 1.0
        return ConnectionShape(min(new, 1.0), 0.0, 0.0, "the log's connections")
    rng = np.random.default_rng(0)
    walk = _Walk(
        think=make_sampler(load.think_time_s, rng, block=_DRAWS),
        gap_s=load.network_rtt_ms / 1000.0 + transfer_s,
        kat=kat,
        cap=int(d.MaxKeepAliveRequests),
        period_s=1.0 / load.rate_per_client_rps
        if isinstance(load, ClosedLoad) and load.rate_per_client_rps
        else 0.0,
    )
    if isinstance(load, ClosedLoad):
        while walk.total < _DRAWS:
            walk.connection(None)
    else:
        final_s = min(walk.gap_s, kat) if load.client_closes else kat
        for n in session_lengths(load, rng):
            left: int | None = n
            while left:
                left = walk.connection(left, final_s)
    return ConnectionShape(
        walk.conns / walk.total,
        walk.closes / walk.total,
        walk.idle_s / walk.total,
        f"walked over {walk.total} requests of the load",
    )


@dataclass
class _Walk:
    """Connections walked one by one over a load's think times, with running totals."""

    think: Sampler
    gap_s: float
    kat: float
    cap: int
    period_s: float
    conns: int = 0
    closes: int = 0
    total: int = 0
    idle_s: float = 0.0

    def connection(self, left: int | None, final_s: float = 0.0) -> int | None:
        """Walk one connection; ``left``: requests the session still sends (None: endless).

        Returns the requests left for the next connection (0 when the session is done).
        """
        self.conns += 1
        count = 0
        while True:
            count += 1
            self.total += 1
            if left is not None:
                left -= 1
            if self.cap and count > self.cap:  # the server closes after this response
                self.closes += 1
                return left
            if left == 0:  # the session's last request: the client closes or leaves it idle
                self.idle_s += final_s
                return 0
            if left is None and self.total >= 2 * _DRAWS:  # endless: no cap, short thinks
                return None
            gap = max(self.think.draw() + self.gap_s, self.period_s)
            if gap >= self.kat:  # KeepAliveTimeout ends it (no close CPU on a request)
                self.idle_s += self.kat
                return left
            self.idle_s += gap


def session_lengths(load: ClosedLoad | OpenLoad, rng: np.random.Generator) -> list[int]:
    """Requests per connection-owning session: a closed client is one endless session."""
    if isinstance(load, ClosedLoad):
        return [_DRAWS]
    sizes = make_sampler(load.requests_per_session, rng, block=_DRAWS)
    out: list[int] = []
    total = 0
    while total < _DRAWS:
        out.append(max(1, sizes.draw_int()))
        total += out[-1]
    return out


@dataclass(frozen=True)
class ClassCosts:
    """One class's means: handler CPU and wait (ms), and its response's size statistics.

    A class sent to mod_php, a PHP-FPM pool or a proxy (``backend``) also costs what the engine
    charges there: PHP's own CPU per request (``php_cpu_ms``, in the Apache worker or the FPM
    child), a proxy's own CPU (``backend_cpu_ms``) and Apache's hand-off (``handoff_cpu_ms``);
    ``wait_ms`` then includes a proxy's own wait.
    """

    share: float
    cpu_ms: float
    wait_ms: float
    bytes_mean: float
    over_buffer: float
    """P(response larger than the send buffer)."""
    bytes_over_buffer: float
    """E[bytes beyond the send buffer]."""
    streams: bool
    backend: str | None = None
    """``mod_php``, the name of a php_fpm or proxy backend, or None (Apache serves it)."""
    php_cpu_ms: float = 0.0
    backend_cpu_ms: float = 0.0
    handoff_cpu_ms: float = 0.0

    def pool_ms(self, cpu_speed: float) -> float:
        """Mean ms a backend's process (FPM child, proxy slot) is held, without contention."""
        cpu = self.cpu_ms + self.php_cpu_ms + self.backend_cpu_ms
        return cpu / cpu_speed + self.wait_ms


def class_costs(prep: Prepared, mean: Mean, buffer_bytes: float) -> list[ClassCosts]:
    """Each class's share and mean costs: a trace replays the log's class shares (and, with
    ``service: logged``, its ``%D`` split by ``cpu_share``); a mix draws by weight."""
    classes = prep.classes
    load = prep.scenario.load
    if isinstance(load, TraceLoad):
        raw = [mean(key(c.name, "share")) for c in classes]
        shares = [0.0 if math.isnan(s) else s for s in raw]
    else:
        shares = [c.weight for c in classes]
    total = sum(shares) or 1.0
    logged = isinstance(load, TraceLoad) and load.service == "logged"
    logged_ms = mean("trace_logged_ms_mean") if logged else math.nan
    routes = prep.php.class_backends or (None,) * len(classes)
    out = []
    for c, share, route in zip(classes, shares, routes, strict=True):
        cpu, wait = c.mean_cpu_ms(), c.mean_wait_ms()
        if logged and isinstance(load, TraceLoad) and not math.isnan(logged_ms):
            cpu, wait = logged_ms * load.cpu_share, logged_ms * (1.0 - load.cpu_share)
        size_mean, over, beyond = _sizes(c.response_bytes, buffer_bytes)
        php, backend_cpu, handoff, backend_wait = _route_costs(prep, route)
        out.append(
            ClassCosts(
                share / total,
                cpu,
                wait + backend_wait,
                size_mean,
                over,
                beyond,
                c.streams,
                route,
                php,
                backend_cpu,
                handoff,
            )
        )
    return out


def _route_costs(prep: Prepared, route: str | None) -> tuple[float, float, float, float]:
    """What a class's destination adds per request, as the engine charges it (ms): PHP's own
    CPU, a proxy's own CPU, Apache's hand-off CPU, a proxy's own wait."""
    if route is None:
        return 0.0, 0.0, 0.0, 0.0
    if route == MOD_PHP:
        mod_php = prep.php.mod_php
        return (0.0 if mod_php is None else mod_php.request_cpu_ms), 0.0, 0.0, 0.0
    b = prep.php.backend(route)
    if isinstance(b, FpmBackend):
        return b.request_cpu_ms, 0.0, b.handoff_cpu_ms, 0.0
    return 0.0, mean_of(b.cpu_ms), b.handoff_cpu_ms, mean_of(b.wait_ms)


def _sizes(spec: DistributionSpec, buffer_bytes: float) -> tuple[float, float, float]:
    """Mean size, P(size > buffer) and E[(size - buffer)+], from 8192 seeded draws."""
    sampler = make_sampler(spec, np.random.default_rng(0), block=_DRAWS)
    draws = np.maximum(np.array([sampler.draw() for _ in range(_DRAWS)]), 0.0)
    beyond = np.maximum(draws - buffer_bytes, 0.0)
    return mean_of(spec), float((beyond > 0).mean()), float(beyond.mean())


__all__ = [
    "ClassCosts",
    "ConnectionShape",
    "Mean",
    "class_costs",
    "connection_shape",
    "session_lengths",
]
