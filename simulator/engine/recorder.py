"""What a run records: one row per request, and a time series sampled at a fixed interval."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from mpmsim.models.mpm.base import ChildState

if TYPE_CHECKING:
    from mpmsim.engine.server import Server

OK, REFUSED, TIMEOUT, RESET = 0, 1, 2, 3
# Answers Apache gives when its backend fails it: 503 (mod_proxy_fcgi cannot connect to a full
# FPM socket, the FPM child died under the request, a proxy's queue is full), 504 (ProxyTimeout).
UNAVAILABLE, GATEWAY_TIMEOUT = 4, 5
STATUS_NAMES = ("ok", "refused", "timeout", "reset", "http_503", "http_504")

SERIES_COLUMNS = (
    "t_s",
    "busy_workers",
    "idle_workers",
    "keepalive_held_workers",
    "keepalive_async_conns",
    "open_conns",
    "processes",
    "threads",
    "memory_mib",
    "cpu_utilization",
    "cpu_busy_core_s",
    "accept_queue",
    "throttled",
    "cpu_credits",
    "idle_wake_s",
)


class Recorder:
    """Collects request rows (as parallel lists, cheap to append) and counters."""

    def __init__(self) -> None:
        self.t_start: list[float] = []
        self.t_end: list[float] = []
        self.cls: list[int] = []
        self.status: list[int] = []
        self.new_conn: list[bool] = []
        self.sent = 0
        self.in_progress = 0
        self.reconnects = 0

    def start(self) -> None:
        """A client starts a request."""
        self.sent += 1
        self.in_progress += 1

    def record(self, t_start: float, t_end: float, cls: int, status: int, new_conn: bool) -> None:
        """One finished request (completed or failed)."""
        self.in_progress -= 1
        self.t_start.append(t_start)
        self.t_end.append(t_end)
        self.cls.append(cls)
        self.status.append(status)
        self.new_conn.append(new_conn)

    @property
    def finished(self) -> int:
        """Requests completed or failed so far."""
        return len(self.status)

    def arrays(self) -> dict[str, np.ndarray]:
        """The request rows as numpy columns."""
        return {
            "t_start_s": np.asarray(self.t_start, dtype=float),
            "t_end_s": np.asarray(self.t_end, dtype=float),
            "class": np.asarray(self.cls, dtype=np.int32),
            "status": np.asarray(self.status, dtype=np.int8),
            "new_connection": np.asarray(self.new_conn, dtype=bool),
        }


def sample_series(
    env: simpy.Environment, server: Server, interval_s: float, out: list[tuple[float, ...]]
) -> Generator[simpy.Event, None, None]:
    """SimPy process: append one row of :data:`SERIES_COLUMNS` every ``interval_s``."""
    cpu = server.cpu
    last_busy = 0.0
    while True:
        yield env.timeout(interval_s)
        cpu.sync()
        busy_core_s = cpu.busy_core_s
        util = (busy_core_s - last_busy) / (interval_s * cpu.vcpus)
        last_busy = busy_core_s
        idle = sum(c.idle for c in server.children if c.state == ChildState.READY)
        out.append(
            (
                float(env.now),
                float(server.busy),
                float(idle),
                float(server.keepalive.held),
                float(server.keepalive.watched),
                float(server.conns_open),
                float(server.table.processes),
                float(server.table.threads),
                server.memory.current_mib,
                util,
                busy_core_s,
                float(len(server.accept_queue)),
                1.0 if cpu.throttled else 0.0,
                cpu.credits,
                cpu.idle_wake_s,
            )
        )
