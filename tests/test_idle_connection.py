"""idle_connection_us: a new connection costs more when its worker finds a vCPU idle.

At one client the server is idle whenever the next connection comes: the worker's accept, its
first read and its lingering close each wait for the client and are woken on an idle vCPU.
On a saturated core the connection, its request and its FIN are queued before the worker gets
to them, so it pays nothing more. The fit tells the parameter from rows whose CPU was idle.
"""

from __future__ import annotations

import dataclasses

import pytest

from mpmsim.calibration.cpu_fit import fit_cpu
from mpmsim.calibration.measured import requests_per_connection
from mpmsim.calibration.regressors import idle_share, switch_counts
from mpmsim.models.costs import load_costs
from mpmsim.workloads.readers import MeasuredRun, read_measurements
from tests.helpers import REPO, measured_row, prefork_pool_summary

RUNS_CSV = REPO.parent / "shared" / "data" / "apache-bench" / "runs.csv"
IDLE = {"base": "ideal", "idle_connection_us": 200.0}


def test_one_client_pays_it_on_every_new_connection() -> None:
    """1 ms requests, 0.2 ms more per connection on an idle vCPU: one client without
    keep-alive pays it on every request, with 4 requests per connection on one in four."""
    new = prefork_pool_summary(IDLE, 1, keepalive=False)
    assert new["cpu_ms_per_request"] == pytest.approx(1.2, rel=0.01)
    assert new["latency_p50_ms"] == pytest.approx(1.2, rel=0.01)
    kept = prefork_pool_summary(IDLE, 1, keepalive=True)
    assert kept["cpu_ms_per_request"] == pytest.approx(1.05, rel=0.01)
    assert prefork_pool_summary("ideal", 1, keepalive=False)["cpu_ms_per_request"] == pytest.approx(
        1.0, rel=0.01
    )


def test_a_saturated_core_does_not_pay_it() -> None:
    """Ten clients on one vCPU: every connection's job starts with others runnable, so only
    the first connections, on the cold server, find it idle."""
    busy = prefork_pool_summary(IDLE, 10, keepalive=False)
    assert busy["cpu_ms_per_request"] == pytest.approx(1.0, abs=0.002)


def test_an_idle_vcpu_beside_a_busy_one_pays_it() -> None:
    """Two vCPUs and one client: the connection's job always finds a vCPU with nothing to run."""
    two = prefork_pool_summary(IDLE, 1, keepalive=False, vcpus=2)
    assert two["cpu_ms_per_request"] == pytest.approx(1.2, rel=0.01)


def test_idle_share_of_a_row() -> None:
    row = measured_row()
    assert idle_share(row) == 1.0
    busy = dataclasses.replace(row, concurrency=50, extra={"cpu1_busy_pct": "75"})
    assert idle_share(busy) == pytest.approx(0.25)
    util = dataclasses.replace(row, concurrency=50, apache_cpu_util=1.5)
    assert idle_share(util, cores=2.0) == pytest.approx(0.25)
    assert idle_share(dataclasses.replace(row, concurrency=50)) == 0.0


@pytest.mark.skipif(not RUNS_CSV.exists(), reason="shared measurements not present")
def test_the_cpu_fit_recovers_it() -> None:
    """The shared set's rows with CPU from known parameters, 30 us per connection that finds
    the CPU idle among them: the fit gives it back, and the other terms as without it."""
    runs = read_measurements(RUNS_CSV)
    base = load_costs("default").model_copy(  # the synthetic rows have no children's starts
        update={"switch_us_per_process": 0.0, "fork_cpu_ms": 0.0, "thread_create_cpu_ms": 0.0}
    )
    fake: list[MeasuredRun] = []
    for r in runs:
        if r.content != "static" or not r.apache_cpu_ms_per_req:
            continue
        k = requests_per_connection(r)
        n_thread, n_process = switch_counts(r.mpm, k)
        value = 0.03 + 0.025 + 0.02 / k + 0.007 * n_thread + 0.011 * n_process
        value += 0.030 * idle_share(r) / k
        fake.append(dataclasses.replace(r, apache_cpu_ms_per_req=value))
    assert any(r.concurrency == 1 for r in fake)
    cpu = fit_cpu(fake, base, context_switch_us=2.0)
    assert cpu.values["idle_connection_us"] == pytest.approx(30.0, abs=0.01)
    assert cpu.values["conn_cpu_ms"] == pytest.approx(0.02, abs=1e-5)
    # rows that tell no idle time (many clients, no CPU columns): the base's value is kept
    unknown = [
        dataclasses.replace(r, extra={}, apache_cpu_util=None) for r in fake if r.concurrency > 1
    ]
    kept = fit_cpu(unknown, base.model_copy(update={"idle_connection_us": 5.0}), 2.0)
    assert kept.values["idle_connection_us"] == 5.0
