"""Behaviour stories for the mechanisms of warm, saturated and recycling servers (issue 10).

Each test names the httpd or Linux mechanism it checks and fails without it.
"""

from __future__ import annotations

from typing import Any

import pytest

from mpmsim.engine.replications import run_prepared
from mpmsim.engine.server import Server
from mpmsim.models.mpm.base import Child
from tests.helpers import prepared


def _spawn_times(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record when the parent forks each child (wraps Server.spawn_child)."""
    times: list[float] = []
    spawn = Server.spawn_child

    def recording(self: Server) -> Child | None:
        times.append(self.now)
        return spawn(self)

    monkeypatch.setattr(Server, "spawn_child", recording)
    return times


def _closed(clients: int, duration_s: float, **extra: Any) -> dict[str, Any]:
    return {"kind": "closed", "clients": clients, "keepalive": False, "duration_s": duration_s,
            "start_s": 0.5, **extra}  # fmt: skip


def test_maintenance_runs_every_second_while_children_keep_exiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ap_wait_or_timeout reaps without sleeping: maintenance still runs after each 1 s sleep.

    prefork, MaxConnectionsPerChild 20 and 1 ms requests: a child lives ~20 ms, so children
    exit in every second. httpd replaces them in every second's maintenance; a loop that skipped
    maintenance after a reap would leave seconds without a fork.
    """
    times = _spawn_times(monkeypatch)
    prep = prepared(
        server={"mpm": "prefork", "directives": {
            "StartServers": 2, "MinSpareServers": 2, "MaxSpareServers": 4,
            "MaxConnectionsPerChild": 20}},
        load=_closed(2, 7.5),
    )  # fmt: skip
    run_prepared(prep, 1)
    forked_in = {round(t) for t in times if t > 0.0}
    assert forked_in >= set(range(1, 8))
