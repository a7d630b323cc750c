"""Properties that hold for any configuration and load (Hypothesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpmsim.engine.client import Client
from mpmsim.engine.recorder import Recorder
from mpmsim.engine.replication import build_world, run_replication
from mpmsim.models.mpm.base import ChildState
from mpmsim.workloads.client import Job, Proc
from mpmsim.workloads.closed import RequestBudget, start_closed
from mpmsim.workloads.distributions import make_sampler
from tests.helpers import prepared

# Simulated seconds by which every budgeted request must have ended: a request ends within
# ~10 s even when it fails (SYN retries 1 + 3 s, KeepAliveTimeout 5 s), and the slowest config
# (1 worker, 55 ms a request, 60 clients x 20 requests) needs ~70 s.
LIMIT_S = 300.0

configs = st.fixed_dictionaries(
    {
        "mpm": st.sampled_from(["prefork", "worker", "event"]),
        "workers": st.integers(1, 40),
        "tpc": st.integers(1, 16),
        "clients": st.integers(1, 60),
        "keepalive": st.booleans(),
        "kat": st.sampled_from([0.05, 0.5, 5.0]),
        "think": st.sampled_from([0.0, 0.01, 0.3]),
        "wait_ms": st.sampled_from([0.0, 5.0, 50.0]),
        "cpu_ms": st.sampled_from([0.1, 1.0, 5.0]),
        "backlog": st.integers(1, 20),
        "syn_retries": st.integers(0, 2),
        "start": st.integers(1, 4),
        "ram_mib": st.sampled_from([40.0, 100_000.0]),
        "vcpus": st.integers(1, 4),
    }
)


def _prep(cfg: dict[str, Any]) -> Any:
    directives: dict[str, Any] = {
        "MaxRequestWorkers": cfg["workers"],
        "KeepAlive": "On",
        "KeepAliveTimeout": cfg["kat"],
        "ListenBacklog": cfg["backlog"],
        "StartServers": cfg["start"],
        "MaxKeepAliveRequests": 5,
    }
    if cfg["mpm"] != "prefork":
        directives["ThreadsPerChild"] = cfg["tpc"]
    return prepared(
        hardware={
            "vcpus": cfg["vcpus"],
            "ram_mib": cfg["ram_mib"],
            "os_reserved_mib": 0,
            "context_switch_us": 3.0,
        },
        costs={"base": "default", "process_mib": 5.0, "thread_mib": 0.5},
        server={"mpm": cfg["mpm"], "directives": directives},
        load={
            "kind": "closed",
            "clients": cfg["clients"],
            "duration_s": 3.0,
            "keepalive": cfg["keepalive"],
            "think_time_s": {"dist": "exponential", "mean": cfg["think"]} if cfg["think"] else 0.0,
            "syn_retries": cfg["syn_retries"],
        },
        mix=[{"name": "r", "cpu_ms": cfg["cpu_ms"], "wait_ms": cfg["wait_ms"]}],
        sample_interval_s=0.05,
    )


class CountingClient:
    """The engine's client, counting on its own the requests its callers are inside of.

    A test double through the one interface the load generators use (HttpClient), so the
    numbers it keeps do not come from the recorder they check.
    """

    def __init__(self, inner: Client) -> None:
        self.inner = inner
        self.inside = 0  # request() entered, not yet returned (think time, then the request)
        self.returned = 0

    @property
    def env(self) -> simpy.Environment:
        return self.inner.env

    @property
    def recorder(self) -> Recorder:
        return self.inner.recorder

    def request(
        self, conn: Any, *, delay_s: float, client_keepalive: bool, job: Job | None = None
    ) -> Proc:
        self.inside += 1
        result = yield from self.inner.request(
            conn, delay_s=delay_s, client_keepalive=client_keepalive, job=job
        )
        self.inside -= 1
        self.returned += 1
        return result

    def finish(self, conn: Any, delay_s: float, *, client_closes: bool) -> Proc:
        return self.inner.finish(conn, delay_s, client_closes=client_closes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, st.integers(1, 20))
def test_nothing_lost_caps_kept_memory_accounted(cfg: dict[str, Any], per_client: int) -> None:
    """Every request a client starts ends (like ab -n: the budget is used up and nothing is left
    in progress); busy <= MaxRequestWorkers; memory = its parts."""
    prep = _prep(cfg)
    world = build_world(prep)
    env, server, rec = world.env, world.server, world.recorder
    load = prep.scenario.load
    clients = CountingClient(world.client)
    budget = RequestBudget(env, load.clients * per_client)
    start_closed(
        clients,
        load.clients,
        budget,
        make_sampler(load.think_time_s, np.random.default_rng(1)),
        load.keepalive,
    )
    mrw = prep.directives.MaxRequestWorkers
    costs = prep.costs
    while not budget.done.triggered and env.now < LIMIT_S:
        env.run(until=env.now + 0.05)
        # nothing lost: the recorder agrees with what the clients themselves count
        assert rec.finished == clients.returned
        assert 0 <= rec.in_progress <= clients.inside <= load.clients
        assert rec.sent == rec.finished + rec.in_progress
        # caps
        assert server.busy >= 0
        assert server.keepalive.held <= server.busy
        live = [c for c in server.children if c.state != ChildState.DEAD]
        active = [c for c in live if c.state != ChildState.QUIESCING]
        assert len(active) <= prep.directives.process_limit
        assert len(live) <= max(prep.directives.ServerLimit, prep.directives.process_limit)
        assert sum(c.busy for c in live) == server.busy
        # MaxRequestWorkers caps the workers of active children (event may keep stopping
        # children's connections beyond it, up to ServerLimit slots).
        assert sum(c.busy for c in active) <= mrw
        assert len(server.accept_queue) <= server.accept_queue.limit
        # memory accounted for every live process, thread and open connection (the kernel's
        # socket memory too, which the PSS-comparable figure leaves out)
        expected = costs.parent_mib + costs.shared_mib
        expected += sum(c.memory_mib for c in live)
        expected += server.conns_open * (costs.connection_kib + costs.socket_kib) / 1024.0
        expected += sum(c.kept for c in live) * server.overheads.kept_conn_mib
        assert (
            server.memory.current_mib == np.float64(expected)
            or abs(server.memory.current_mib - expected) < 1e-6
        )
        assert server.table.processes == 1 + len(live)
        assert server.table.threads == 1 + sum(c.threads + c.extra_threads for c in live)
    # every request the clients started has ended, well before the limit
    assert budget.done.triggered, f"{rec.in_progress} request(s) still in progress at {env.now}s"
    assert budget.started == rec.sent == rec.finished == clients.returned == budget.total
    assert (rec.in_progress, clients.inside) == (0, 0)
    if prep.mpm != "event":
        assert server.busy_peak <= mrw


@settings(max_examples=10, deadline=None)
@given(configs, st.integers(0, 1000))
def test_same_seed_same_result(cfg: dict[str, Any], seed: int) -> None:
    """Identical inputs and seed give identical request rows."""
    cfg = dict(cfg, clients=min(cfg["clients"], 20))
    prep = _prep(cfg)
    prep = prep.__class__(
        **{**prep.__dict__, "scenario": prep.scenario.model_copy(update={"seed": seed})}
    )
    a = run_replication(prep, 0).requests
    b = run_replication(prep, 0).requests
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
