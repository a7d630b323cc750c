"""A PHP-FPM pool behind mod_proxy_fcgi: its children, its socket's accept queue, its master.

What FPM does (php-src ``sapi/fpm/fpm``; Debian's php8.2-fpm):

- Children block in accept() on the pool's socket; an idle child takes the next connection
  (the longest-idle first, as Linux wakes exclusive waiters in order). With none idle, the
  connection waits in the socket's accept queue (``listen.backlog``, capped by somaxconn; the
  queue holds backlog + 1). When that is full, mod_proxy_fcgi's connect to the unix socket fails
  at once (EAGAIN) and Apache answers 503.
- ``fpm_process_ctl.c`` once a second: ``dynamic`` kills the idle child started first when more
  than ``pm.max_spare_servers`` are idle; forks ``min(spawn rate, min_spare - idle,
  max_children - running)`` when fewer than ``pm.min_spare_servers`` are idle, doubling the spawn
  rate up to ``pm.max_spawn_rate`` (32) while that lasts and resetting it to 1 otherwise;
  ``ondemand`` kills the idle child started first once its last request is more than
  ``pm.process_idle_timeout`` ago. ``ondemand`` forks one child when a connection arrives and no
  child is idle (``fpm_pctl_on_socket_accept``); it starts none, ``static`` starts
  ``pm.max_children`` and ``dynamic`` ``pm.start_servers``.
- A child that exits on its own (``pm.max_requests`` reached, killed by
  ``request_terminate_timeout`` or the OOM killer) is replaced at once (``fpm_children_bury``);
  one the master killed as idle is not.
- A child's memory grows with the requests it served, up to ``memory_limit`` above its base,
  and is returned when it exits; the master's memory is counted once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from mpmsim.engine.cpu import CPU
from mpmsim.engine.memory import MemoryLedger
from mpmsim.engine.recorder import OK, UNAVAILABLE
from mpmsim.spec.php import FpmBackend
from mpmsim.workloads.distributions import Sampler

STARTING, IDLE, BUSY, DEAD = 0, 1, 2, 3


class FpmChild:
    """One php-fpm child process."""

    __slots__ = ("grown_mib", "last_active_s", "memory_mib", "requests", "started_s", "state")

    def __init__(self, memory_mib: float, now: float) -> None:
        self.state = STARTING
        self.memory_mib = memory_mib
        self.grown_mib = 0.0
        self.requests = 0
        self.started_s = now
        self.last_active_s = now


class FpmPool:
    """A pool's children, accept queue and master on the simulated machine."""

    def __init__(
        self,
        env: simpy.Environment,
        cpu: CPU,
        memory: MemoryLedger,
        backend: FpmBackend,
        somaxconn: int,
        noise: Sampler,
        log: Callable[[str, str], None],
    ) -> None:
        self.env, self.cpu, self.memory, self.noise, self.log = env, cpu, memory, noise, log
        self.backend = backend
        self.pool = pool = backend.pool
        self.name = backend.name
        self.capacity = pool.backlog(somaxconn) + 1  # Linux holds backlog + 1 connections
        self.handoff_s = backend.handoff_cpu_ms * 1e-3
        self.php_s = backend.request_cpu_ms * 1e-3
        self.spawn_s = backend.spawn_cpu_ms * 1e-3
        self.terminate_s = pool.request_terminate_timeout_s
        self.children: list[FpmChild] = []
        self.idle: deque[FpmChild] = deque()
        self.queue: deque[simpy.Event] = deque()
        self.running = 0
        self.spawn_rate = 1
        self.warned_max = False  # FPM's warn_max_children: one warning until it spawns again
        self._t = 0.0  # time-weighted busy children and waiting connections since then
        self.busy_area = self.queue_area = 0.0
        # counters
        self.busy = self.busy_peak = self.children_peak = self.queue_peak = 0
        self.spawned = self.rejected = self.terminated = self.recycled = self.oom_kills = 0

    # -- start-up and the master's maintenance ----------------------------------------------
    def start(self) -> None:
        """The master starts: its memory, its first children, its once-a-second maintenance."""
        self.memory.add(self.backend.master_mib)
        pool = self.pool
        first = {"static": pool.max_children, "dynamic": pool.start_servers}.get(pool.pm, 0)
        for _ in range(first):
            self._spawn()
        if pool.pm != "static":
            self.env.process(self._maintenance_loop())

    def _spawn(self) -> None:
        child = FpmChild(self.backend.child_base_mib, self.env.now)
        self.children.append(child)
        self.running += 1
        self.spawned += 1
        self.children_peak = max(self.children_peak, self.running)
        self.memory.add(child.memory_mib)
        self.cpu.run(self.spawn_s).callbacks.append(lambda _ev: self._ready(child))

    def _ready(self, child: FpmChild) -> None:
        if child.state == STARTING:
            self._free(child)

    def _maintenance_loop(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(1.0)
            if self.pool.pm == "dynamic":
                self._maintain_dynamic()
            else:
                self._maintain_ondemand()

    def _maintain_dynamic(self) -> None:
        pool = self.pool
        idle = len(self.idle)
        if idle > pool.max_spare_servers:
            self._kill(min(self.idle, key=_started))
            self.spawn_rate = 1
            return
        if idle >= pool.min_spare_servers:
            self.spawn_rate = 1
            return
        n = min(self.spawn_rate, pool.min_spare_servers - idle, pool.max_children - self.running)
        if n <= 0:
            self._reached_max()
            self.spawn_rate = 1
            return
        if self.spawn_rate >= 8:
            self.log(
                f"FPM-BUSY-{self.name}",
                f"[pool {pool.name}] seems busy (you may need to increase pm.start_servers, or "
                f"pm.min/max_spare_servers), spawning {self.spawn_rate} children, there are "
                f"{idle} idle, and {self.running} total children",
            )
        self.warned_max = False
        for _ in range(n):
            self._spawn()
        self.spawn_rate = min(2 * self.spawn_rate, pool.max_spawn_rate)

    def _maintain_ondemand(self) -> None:
        if not self.idle:
            return
        oldest = min(self.idle, key=_started)
        if oldest.last_active_s < self.env.now - self.pool.process_idle_timeout_s:
            self._kill(oldest)

    def _reached_max(self) -> None:
        if self.warned_max:
            return
        self.warned_max = True
        self.log(
            f"FPM-MAX-{self.name}",
            f"[pool {self.pool.name}] server reached pm.max_children setting "
            f"({self.pool.max_children}), consider raising it",
        )

    # -- a request -----------------------------------------------------------------------------
    def serve(
        self, _child: object, apache_work_s: float, cpu_s: float, wait_s: float
    ) -> Generator[Any, Any, int]:
        """Apache's worker hands a request to the pool and waits for the answer: OK or 503.

        ``apache_work_s`` is Apache's own CPU for the request; the FastCGI hand-off is added to
        it. The script's ``cpu_s`` (with PHP's own per-request CPU) and ``wait_s`` run in an
        FPM child.
        """
        yield self.cpu.run(apache_work_s + self.handoff_s)
        if self.idle and not self.queue:
            child = self.idle.popleft()
            self._claim(child)
        else:
            queue = self.queue
            if len(queue) >= self.capacity:
                self._reject()
                return UNAVAILABLE
            wake = self.env.event()
            self._tick()
            queue.append(wake)
            if len(queue) > self.queue_peak:
                self.queue_peak = len(queue)
            if self.pool.pm == "ondemand" and not self.idle:
                self._on_demand()
            child = yield wake
            if child.state != BUSY:  # the OOM killer ended it before the request resumed
                return UNAVAILABLE
        return (yield from self._run(child, cpu_s, wait_s))

    def _tick(self) -> None:
        """Add the busy children and waiting connections since the last change to their areas."""
        now = self.env.now
        dt = now - self._t
        if dt > 0.0:
            self.busy_area += self.busy * dt
            self.queue_area += len(self.queue) * dt
            self._t = now

    def _claim(self, child: FpmChild) -> None:
        self._tick()
        child.state = BUSY
        self.busy += 1
        if self.busy > self.busy_peak:
            self.busy_peak = self.busy

    def _run(self, child: FpmChild, cpu_s: float, wait_s: float) -> Generator[Any, Any, int]:
        env = self.env
        t0 = env.now
        yield self.cpu.run((cpu_s + self.php_s) * self.noise.draw())
        terminate = self.terminate_s
        if terminate > 0.0 and env.now - t0 + wait_s > terminate:
            # FPM's master kills the child when the request outlives request_terminate_timeout.
            yield env.timeout(max(t0 + terminate - env.now, 0.0))
            if child.state == BUSY:
                self.terminated += 1
                self.log(
                    f"FPM-TERMINATE-{self.name}",
                    f"[pool {self.pool.name}] child exited on signal 15 (SIGTERM) after "
                    f"request_terminate_timeout {terminate:g}s",
                )
                self._exit(child, respawn=True)
            return UNAVAILABLE
        if wait_s > 0.0:
            yield env.timeout(wait_s)
        if child.state != BUSY:  # the OOM killer ended the child under the request
            return UNAVAILABLE
        self._tick()
        self.busy -= 1
        child.requests += 1
        self._grow(child)
        if child.state == DEAD:  # its growth woke the OOM killer, which chose it: replaced
            return OK
        max_requests = self.pool.max_requests
        if max_requests and child.requests >= max_requests:
            self.recycled += 1
            child.state = IDLE  # its busy count was returned above: _exit must not return it again
            self._exit(child, respawn=True)
        else:
            self._free(child)
        return OK

    def _grow(self, child: FpmChild) -> None:
        room = self.backend.growth_cap_mib - child.grown_mib
        grow = min(self.backend.child_growth_mib, room)
        if grow > 0.0:
            child.grown_mib += grow
            child.memory_mib += grow
            self.memory.add(grow)

    def _free(self, child: FpmChild) -> None:
        """``child`` is free: it takes the next waiting connection, or waits idle."""
        child.last_active_s = self.env.now
        queue = self.queue
        while queue:
            self._tick()
            wake = queue.popleft()
            if not wake.triggered:
                self._claim(child)
                wake.succeed(child)
                return
        child.state = IDLE
        self.idle.append(child)

    def _on_demand(self) -> None:
        if self.running >= self.pool.max_children:
            self._reached_max()
            return
        self.warned_max = False
        self._spawn()

    def _reject(self) -> None:
        self.rejected += 1
        self.log(
            f"AH01079-{self.name}",
            f"[proxy:error] AH02454: FCGI: attempt to connect to Unix domain socket of pool "
            f"{self.pool.name} failed (listen queue full): AH01079: failed to make connection "
            "to backend; the request gets 503",
        )

    # -- children leaving ---------------------------------------------------------------------
    def _kill(self, child: FpmChild) -> None:
        """The master ends an idle child (not replaced)."""
        self.idle.remove(child)
        self._exit(child, respawn=False)

    def _exit(self, child: FpmChild, *, respawn: bool) -> None:
        if child.state == BUSY:
            self._tick()
            self.busy -= 1
        child.state = DEAD
        self.children.remove(child)
        self.running -= 1
        self.memory.add(-child.memory_mib)
        if respawn and self.running < self.pool.max_children:
            self._spawn()

    def largest_child(self) -> FpmChild | None:
        """The child holding the most memory (for the OOM killer), or None."""
        return max(self.children, key=lambda c: c.memory_mib, default=None)

    def oom_kill(self, child: FpmChild) -> None:
        """The OOM killer ends ``child``; its request (if any) gets 503, the master replaces it."""
        self.oom_kills += 1
        if child.state == IDLE:
            self.idle.remove(child)
        self._exit(child, respawn=True)

    def counters(self) -> dict[str, float]:
        """The pool's totals and peaks, as ``backend.NAME.*`` counters of the replication."""
        self._tick()
        end = self.env.now
        p = f"backend.{self.name}."
        return {
            p + "busy_mean": self.busy_area / end if end > 0 else 0.0,
            p + "queue_mean": self.queue_area / end if end > 0 else 0.0,
            p + "children_peak": self.children_peak,
            p + "busy_peak": self.busy_peak,
            p + "queue_peak": self.queue_peak,
            p + "spawned": self.spawned,
            p + "rejected": self.rejected,
            p + "terminated": self.terminated,
            p + "recycled": self.recycled,
            p + "oom_kills": self.oom_kills,
        }


def _started(child: FpmChild) -> float:
    return child.started_s
