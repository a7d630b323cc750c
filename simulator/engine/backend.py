"""Where a request class runs besides Apache itself: mod_php in the child, PHP-FPM, a proxy.

Each destination has one method, ``serve(child, apache_work_s, cpu_s, wait_s)``: a generator
the client's request runs while Apache's worker is held, returning the request's status (OK,
or the 503/504 Apache answers when its backend fails it). :class:`Backends` builds them for a
run (nothing at all when the scenario uses none, so a plain Apache pays nothing per request),
starts them, counts their memory in the same RAM and lets the OOM killer choose among Apache's
and FPM's children alike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any, Protocol, cast

import simpy

from mpmsim.engine.cpu import CPU
from mpmsim.engine.fpm import FpmPool
from mpmsim.engine.memory import MemoryLedger
from mpmsim.engine.oom import kill_largest_child
from mpmsim.engine.recorder import GATEWAY_TIMEOUT, OK, UNAVAILABLE
from mpmsim.engine.server import Server
from mpmsim.models.mpm.base import DEAD, Child
from mpmsim.spec.backends import MOD_PHP
from mpmsim.spec.php import FpmBackend, ModPhp, ProxyBackend
from mpmsim.spec.resolve import Prepared
from mpmsim.workloads.distributions import Sampler, make_sampler
from mpmsim.workloads.streams import stream


class Route(Protocol):
    """A request class's destination beside Apache's own handlers."""

    def serve(
        self, child: Child, apache_work_s: float, cpu_s: float, wait_s: float
    ) -> Generator[Any, Any, int]: ...


class ModPhpRoute:
    """PHP inside the Apache child: the script runs in the worker, the child's memory grows."""

    def __init__(
        self, env: simpy.Environment, server: Server, mod_php: ModPhp, noise: Sampler
    ) -> None:
        self.env, self.cpu, self.memory, self.noise = env, server.cpu, server.memory, noise
        self.php_s = mod_php.request_cpu_ms * 1e-3
        self.growth_mib = mod_php.child_growth_mib
        self.cap_mib = mod_php.growth_cap_mib
        self.base_mib = server.overheads.child_mib  # what a fresh child holds

    def serve(
        self, child: Child, apache_work_s: float, cpu_s: float, wait_s: float
    ) -> Generator[Any, Any, int]:
        """Run the script in ``child``'s worker; the child keeps the heap it grew."""
        yield self.cpu.run(apache_work_s + (cpu_s + self.php_s) * self.noise.draw())
        if wait_s > 0.0:
            yield self.env.timeout(wait_s)
        if child.state != DEAD:
            # Returned to the system only when the child exits (MaxConnectionsPerChild).
            grow = min(self.growth_mib, self.cap_mib - (child.memory_mib - self.base_mib))
            if grow > 0.0:
                child.memory_mib += grow
                self.memory.add(grow)
        return OK


class ProxyRoute:
    """A generic application server: ``concurrency`` requests at once, a bounded queue."""

    def __init__(
        self,
        env: simpy.Environment,
        cpu: CPU,
        memory: MemoryLedger,
        backend: ProxyBackend,
        rng_seed: tuple[int, int],
        log: Any,
    ) -> None:
        self.env, self.cpu, self.memory, self.backend, self.log = env, cpu, memory, backend, log
        seed, index = rng_seed
        rng = stream(seed, index, f"backend:{backend.name}")
        self._cpu = make_sampler(backend.cpu_ms, rng)
        self._wait = make_sampler(backend.wait_ms, rng)
        self.free = backend.concurrency
        self.queue: deque[simpy.Event] = deque()
        self.capacity = float("inf") if backend.queue is None else backend.queue
        self.handoff_s = backend.handoff_cpu_ms * 1e-3
        self.busy_peak = self.queue_peak = self.rejected = self.timeouts = 0
        self._t = self.busy_area = self.queue_area = 0.0

    def _tick(self) -> None:
        """Add the busy slots and waiting requests since the last change to their areas."""
        now = self.env.now
        dt = now - self._t
        if dt > 0.0:
            self.busy_area += (self.backend.concurrency - self.free) * dt
            self.queue_area += len(self.queue) * dt
            self._t = now

    def start(self) -> None:
        self.memory.add(self.backend.memory_mib)

    def serve(
        self, child: Child, apache_work_s: float, cpu_s: float, wait_s: float
    ) -> Generator[Any, Any, int]:
        """Apache proxies the request and waits (at most ProxyTimeout) for the answer."""
        env = self.env
        yield self.cpu.run(apache_work_s + self.handoff_s)
        timeout = self.backend.timeout_s
        if timeout is None:
            return (yield from self._work(cpu_s, wait_s))
        work = env.process(self._work(cpu_s, wait_s))
        yield work | env.timeout(timeout)
        if work.triggered:
            return cast(int, work.value)
        self.timeouts += 1  # the backend finishes it anyway, holding its slot
        self.log(
            f"AH01102-{self.backend.name}",
            f"[proxy_http:error] AH01102: error reading status line from remote server "
            f"{self.backend.name} (timeout {timeout:g}s); the request gets 504",
        )
        return GATEWAY_TIMEOUT

    def _work(self, cpu_s: float, wait_s: float) -> Generator[Any, Any, int]:
        self._tick()
        if self.free > 0 and not self.queue:
            self.free -= 1
        else:
            if len(self.queue) >= self.capacity:
                self.rejected += 1
                return UNAVAILABLE
            wake = self.env.event()
            self.queue.append(wake)
            self.queue_peak = max(self.queue_peak, len(self.queue))
            yield wake
        self.busy_peak = max(self.busy_peak, self.backend.concurrency - self.free)
        cpu = cpu_s + self._cpu.draw() * 1e-3
        if cpu > 0.0:
            yield self.cpu.run(cpu)
        wait = wait_s + self._wait.draw() * 1e-3
        if wait > 0.0:
            yield self.env.timeout(wait)
        self._tick()
        if self.queue:
            self.queue.popleft().succeed()  # the slot passes to the next waiting request
        else:
            self.free += 1
        return OK

    def counters(self) -> dict[str, float]:
        self._tick()
        end = self.env.now
        p = f"backend.{self.backend.name}."
        return {
            p + "busy_mean": self.busy_area / end if end > 0 else 0.0,
            p + "queue_mean": self.queue_area / end if end > 0 else 0.0,
            p + "busy_peak": self.busy_peak,
            p + "queue_peak": self.queue_peak,
            p + "rejected": self.rejected,
            p + "timeouts": self.timeouts,
        }


class Backends:
    """The run's PHP and backends: one route per mix class (None: Apache serves it)."""

    def __init__(
        self, prep: Prepared, index: int, env: simpy.Environment, server: Server, noise: Sampler
    ) -> None:
        self.server = server
        setup = prep.php
        somaxconn = prep.scenario.server.somaxconn
        self.pools: list[FpmPool] = []
        self.proxies: list[ProxyRoute] = []
        by_name: dict[str, Route] = {}
        if setup.mod_php is not None:
            by_name[MOD_PHP] = ModPhpRoute(env, server, setup.mod_php, noise)
        for b in setup.backends:
            if isinstance(b, FpmBackend):
                pool = FpmPool(env, server.cpu, server.memory, b, somaxconn, noise, server.log)
                self.pools.append(pool)
                by_name[b.name] = pool
            else:
                proxy = ProxyRoute(
                    env, server.cpu, server.memory, b, (prep.scenario.seed, index), server.log
                )
                self.proxies.append(proxy)
                by_name[b.name] = proxy
        self.routes: tuple[Route | None, ...] = tuple(
            None if name is None else by_name[name] for name in setup.class_backends
        )

    def start(self) -> None:
        """Start the FPM masters and the proxies (their memory, their first children)."""
        for pool in self.pools:
            pool.start()
        for proxy in self.proxies:
            proxy.start()

    def oom_kill(self) -> None:
        """The OOM killer: the largest process, an Apache child or an FPM child, is killed."""
        server = self.server
        conn_mib = server.overheads.conn_mib
        apache = max(
            (c.memory_mib + c.conns * conn_mib for c in server.children if c.state != DEAD),
            default=0.0,
        )
        fpm = [(c.memory_mib, pool, c) for pool in self.pools if (c := pool.largest_child())]
        if fpm:
            mib, pool, child = max(fpm, key=lambda t: t[0])
            if mib > apache:
                server.oom_kills += 1
                server.log("OOM-FPM", "Out of memory: Killed process (php-fpm)")
                pool.oom_kill(child)
                return
        kill_largest_child(server)

    def counters(self) -> dict[str, float]:
        """Every backend's totals and peaks (``backend.NAME.*``)."""
        out: dict[str, float] = {}
        for pool in self.pools:
            out.update(pool.counters())
        for proxy in self.proxies:
            out.update(proxy.counters())
        return out
