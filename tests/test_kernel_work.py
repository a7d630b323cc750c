"""kernel_us_per_request / _per_connection: the kernel's work on Apache's core outside Apache.

It takes the vCPU from Apache (a saturated core serves fewer requests) but is in no Apache
process's CPU time, so the simulated CPU per request leaves it out as /proc/PID/stat does.
calibrate fits it from CPU 1's busy share beyond Apache's on the rows that saturated it.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import pytest

from mpmsim.calibration.client_time import estimate_client_conn_ms, estimate_rtt_ms
from mpmsim.calibration.kernel_fit import fit_kernel, kernel_ms, kernel_rows, with_kernel
from mpmsim.calibration.measured import requests_per_connection
from mpmsim.models.costs import load_costs
from mpmsim.workloads.readers import MeasuredRun
from tests.helpers import measured_row, prefork_pool_summary


def test_a_saturated_core_serves_fewer_requests_with_the_same_apache_cpu() -> None:
    """1 ms requests on one vCPU, 100 us of kernel work per request and 200 us more per
    connection: without keep-alive 1.3 ms of the core per request, with 4 requests per
    connection 1.15 ms; Apache's CPU per request stays 1 ms."""
    kernel = {"base": "ideal", "kernel_us_per_request": 100.0, "kernel_us_per_connection": 200.0}
    for keepalive, core_ms in ((False, 1.3), (True, 1.15)):
        out = prefork_pool_summary(kernel, 10, keepalive)
        assert out["cpu_ms_per_request"] == pytest.approx(1.0, rel=0.01)
        assert out["throughput_rps"] == pytest.approx(1000.0 / core_ms, rel=0.03)
        assert out["cpu_utilization"] == pytest.approx(1.0, abs=0.02)
    plain = prefork_pool_summary("ideal", 10, keepalive=False)
    assert plain["throughput_rps"] == pytest.approx(1000.0, rel=0.03)


def _measured(per_request_us: float, per_conn_us: float, rate: float, keepalive: bool,
              util: float = 0.95) -> MeasuredRun:  # fmt: skip
    k = 101.0 if keepalive else 1.0  # ab -k: MaxKeepAliveRequests 100 and the one that closes
    other = (per_request_us + per_conn_us / k) * rate * 1e-6
    return measured_row(
        mpm="worker", threads_per_child=25, server_limit=16, concurrency=100,
        requests_completed=60000, req_per_s=rate, keepalive=keepalive, apache_cpu_util=util,
        extra={"cpu1_busy_pct": f"{100.0 * (util + other):.4f}",
               "srv_ka_reused_frac": f"{1.0 - 1.0 / k:.6f}" if keepalive else "0"},
    )  # fmt: skip


def test_calibrate_finds_the_kernel_work_again() -> None:
    """Rows with and without keep-alive made from 1.5 us per request and 1.1 per connection
    give them back; rows of one kind only keep the base's per-connection value."""
    rows = [
        _measured(1.5, 1.1, rate, ka, util)
        for rate, ka, util in ((11000, False, 0.96), (13000, False, 0.92), (12000, False, 0.94),
                               (16000, True, 0.97), (18000, True, 0.93), (17000, True, 0.95))
    ]  # fmt: skip
    base = load_costs("default")
    fit = fit_kernel(rows, base)
    assert fit is not None and fit.rows_used == 6
    assert fit.values["kernel_us_per_request"] == pytest.approx(1.5, abs=0.02)
    assert fit.values["kernel_us_per_connection"] == pytest.approx(1.1, abs=0.02)
    costs = with_kernel(base, fit)
    assert costs.kernel_us_per_request == pytest.approx(1.5, abs=0.02)
    assert "kernel_us_per_connection" in costs.uncertainty
    one_kind = fit_kernel(rows[:3], base.model_copy(update={"kernel_us_per_connection": 0.7}))
    assert one_kind is not None
    assert one_kind.values["kernel_us_per_connection"] == 0.7
    assert math.isnan(one_kind.stderr["kernel_us_per_connection"])
    assert one_kind.values["kernel_us_per_request"] == pytest.approx(1.5 + 1.1 - 0.7, abs=0.05)
    kept = fit_kernel(rows, base, keep=("kernel_us_per_request", "kernel_us_per_connection"))
    assert kept is None
    assert fit_kernel(rows, base, cores=2.0) is None  # CPU 1 is not all of Apache's machine


def test_rows_that_cannot_tell_it_are_left_out() -> None:
    """A core not busy, another process on it, a paced client, a handler that waits, few
    clients, a recycled child or no reading of CPU 1: none counts."""
    good = _measured(2.0, 0.0, 12000, False)
    assert len(kernel_rows([good])) == 1
    others = [
        dataclasses.replace(good, extra={"cpu1_busy_pct": "80"}),
        dataclasses.replace(good, apache_cpu_util=0.5),
        dataclasses.replace(good, rate_per_client=10.0),
        dataclasses.replace(good, content="wait"),
        dataclasses.replace(good, concurrency=1),
        dataclasses.replace(good, directives={"MaxConnectionsPerChild": 100}),
        dataclasses.replace(good, extra={}),
    ]
    assert kernel_rows(others) == []
    assert fit_kernel([good, good], load_costs("default")) is None


def test_one_client_rows_leave_the_kernel_work_out_of_the_round_trip() -> None:
    """The simulator charges a one-client request Apache's CPU and the kernel's beside it, so
    calibrate takes both off the row's time per request for the round trip (keep-alive) and
    for the client's own time per connection (without)."""
    kept = measured_row(keepalive=True, lat_mean_ms=0.05, apache_cpu_ms_per_req=0.03)
    new = measured_row(keepalive=False, lat_mean_ms=0.12, apache_cpu_ms_per_req=0.05)
    rows = [kept, new]
    assert estimate_rtt_ms(rows) == pytest.approx(0.02)
    costs = load_costs("default").model_copy(
        update={"kernel_us_per_request": 2.0, "kernel_us_per_connection": 3.0}
    )
    beside = partial(kernel_ms, costs)
    assert kernel_ms(costs, new) == pytest.approx(0.005)
    rtt = estimate_rtt_ms(rows, beside)
    assert rtt == pytest.approx(0.02 - 0.002 - 0.003 / requests_per_connection(kept))
    assert estimate_client_conn_ms(rows, rtt, beside_ms=beside) == pytest.approx(
        0.12 - 0.05 - 0.005 - 2 * rtt
    )
