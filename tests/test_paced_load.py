"""Paced closed-loop clients (kaclient, ``h2load --rps``): ``load.rate_per_client_rps``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mpmsim.engine.replications import run_prepared
from mpmsim.errors import InputError
from tests.helpers import prepared

EVENT = {"mpm": "event", "directives": {"MaxRequestWorkers": 400, "ThreadsPerChild": 25}}


def _paced(**load: Any) -> dict[str, Any]:
    base = {"kind": "closed", "clients": 20, "duration_s": 10.0, "keepalive": True}
    return {**base, "rate_per_client_rps": 5.0, **load}


def _run(load: dict[str, Any], **parts: Any) -> dict[str, Any]:
    prep = prepared(server=EVENT, load=load, **parts)
    return dict(run_prepared(prep, 1).to_dict())


def _starts(load: dict[str, Any]) -> np.ndarray:
    prep = prepared(server=EVENT, load=load)
    return np.sort(run_prepared(prep, 1).replications[0].requests["t_start_s"])


def test_paced_clients_offer_clients_times_rate_not_a_closed_loop() -> None:
    """20 clients at 5/s on a server that could do ~1000/s: 100 req/s, not ~1000."""
    paced = _run(_paced())
    assert paced["throughput_rps"] == pytest.approx(100.0, rel=0.03)
    unpaced = _run(_paced(rate_per_client_rps=None))
    assert unpaced["throughput_rps"] > 5 * paced["throughput_rps"]


def test_a_slow_response_delays_the_next_start_and_missed_slots_are_not_made_up() -> None:
    """300 ms responses with a 200 ms period: each client manages 1/0.3 s, not 5/s."""
    data = _run(_paced(clients=10), mix=[{"name": "r", "cpu_ms": 0.1, "wait_ms": 300.0}])
    assert data["throughput_rps"] == pytest.approx(10 / 0.3001, rel=0.03)


def test_spread_phases_start_evenly_over_one_period_together_all_at_once() -> None:
    """The first period's starts (a client's second request comes one period after its first)."""
    spread = _starts(_paced(duration_s=0.5))
    assert np.allclose(spread[:20], np.arange(20) * 0.2 / 20)
    assert spread[20] >= 0.2
    together = _starts(_paced(duration_s=0.5, rate_phases="together"))
    assert np.all(together[:20] == 0.0)
    assert together[20] == pytest.approx(0.2)


def test_paced_clients_reconnect_when_the_server_closes_the_connection() -> None:
    """MaxKeepAliveRequests 3 ends every connection after 4 requests: the rate holds."""
    server = {"mpm": "event", "directives": {"MaxKeepAliveRequests": 3}}
    prep = prepared(server=server, load=_paced())
    res = run_prepared(prep, 1)
    assert res.to_dict()["throughput_rps"] == pytest.approx(100.0, rel=0.03)
    counters = res.replications[0].counters
    assert counters["conns_accepted"] == pytest.approx(counters["sent"] / 4, rel=0.05)


def test_think_time_with_a_rate_is_an_error() -> None:
    with pytest.raises(InputError, match="think_time_s must be 0"):
        prepared(server=EVENT, load=_paced(think_time_s=0.5))


def test_a_late_response_leaves_the_client_on_its_grid_of_ticks() -> None:
    """kaclient sends on a fixed grid from its phase (bench/kaclient.py ``_client``): after a
    late response it sends at once, and from the next tick on, on the grid again. One client,
    responses of 150 ms on average against a 200 ms period: most starts are on the grid."""
    load = _paced(clients=1, duration_s=20.0)
    mix = [{"name": "r", "cpu_ms": 0.1, "wait_ms": {"dist": "exponential", "mean": 150.0}}]
    prep = prepared(server=EVENT, load=load, mix=mix)
    starts = run_prepared(prep, 1).replications[0].requests["t_start_s"]
    on_grid = np.isclose(starts / 0.2, np.round(starts / 0.2), atol=1e-6)
    late = ~on_grid
    assert 0.5 < on_grid.mean() < 0.9 and late.any()  # some came late, the grid stayed
