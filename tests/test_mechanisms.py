"""Behaviour stories for the mechanisms of warm, saturated and recycling servers (issue 10).

Each test names the httpd or Linux mechanism it checks and fails without it.
"""

from __future__ import annotations

from typing import Any

import pytest

from mpmsim.engine.replication import build_world
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


def _one_request_world(mpm: str, rtt_ms: float) -> Any:
    directives = {"StartServers": 1, "MinSpareServers": 1, "MaxSpareServers": 2,
                  "MinSpareThreads": 1, "MaxSpareThreads": 50, "ThreadsPerChild": 25}  # fmt: skip
    if mpm == "prefork":
        directives = {k: v for k, v in directives.items() if "Thread" not in k}
    world = build_world(
        prepared(
            server={"mpm": mpm, "directives": directives},
            load={
                "kind": "closed",
                "clients": 1,
                "keepalive": False,
                "requests": 1,
                "network_rtt_ms": rtt_ms,
            },
        )
    )
    world.env.process(world.client.request(None, delay_s=0.5, client_keepalive=False))
    return world


@pytest.mark.parametrize("mpm", ["prefork", "worker"])
def test_sync_worker_is_not_idle_until_it_has_closed_after_the_fin(mpm: str) -> None:
    """SERVER_CLOSING (connection.c ap_prep_lingering_close) lasts until the client's FIN.

    RTT 100 ms, 1 ms of CPU: the request reaches the server at 0.65 s (handshake), the response
    is written at ~0.651 s and read by the client at ~0.701 s, whose FIN reaches the server at
    ~0.751 s; only then does the worker run its close and count as idle again.
    """
    world = _one_request_world(mpm, 100.0)
    world.env.run(until=0.7)
    assert world.server.busy == 1  # the response is written: the worker lingers
    world.env.run(until=0.74)
    assert world.server.busy == 1
    world.env.run(until=0.76)
    assert world.server.busy == 0
    assert world.server.conns_open == 0


def test_event_worker_is_idle_once_the_response_is_written() -> None:
    """event: the listener does the lingering close (event.c start_lingering_close_nonblocking)."""
    world = _one_request_world("event", 100.0)
    world.env.run(until=0.7)
    assert world.server.busy == 0
