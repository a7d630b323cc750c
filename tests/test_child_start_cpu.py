"""fork_cpu_ms and thread_create_cpu_ms: what a child costs to start, fitted where children recycle;
thread_exit_cpu_ms: what it costs to exit, a measured prior.

The simulator charges each spawn its fork and its ThreadsPerChild thread creations, and each
exit its ThreadsPerChild threads' teardown (mpmsim.engine.overheads); calibrate's CPU fit counts
the children a measured row forked per request
(:func:`~mpmsim.calibration.regressors.forks_per_request`) and fits both start costs from the
rows that replace children all through their window (MaxConnectionsPerChild), keeping the base's
values when no row does, after taking the exits (as many as the forks there) out of those rows.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from mpmsim.calibration.cpu_fit import fit_cpu
from mpmsim.calibration.measured import requests_per_connection
from mpmsim.calibration.regressors import exit_cpu_ms, forks_per_request, recycles, switch_counts
from mpmsim.engine.replications import run_prepared
from mpmsim.engine.summary import summarize
from mpmsim.models.costs import load_costs
from mpmsim.workloads.readers import MeasuredRun, read_measurements
from tests.helpers import IDEAL_HW, REPO, prepared

RUNS_CSV = REPO.parent / "shared" / "data" / "apache-bench" / "runs.csv"

ROW = MeasuredRun(
    run_id="x", scenario="x", mpm="prefork", directives={"MaxConnectionsPerChild": 100},
    lua_scope=None, mrw_effective=150, threads_per_child=1, server_limit=150, content="static",
    url="/", tool="ab", concurrency=50, keepalive=False, duration_s=5.0,
    requests_completed=10_000, req_per_s=2000.0,
)  # fmt: skip


def test_forks_per_request_of_a_row() -> None:
    # the access log's processes per logged request, where the row has them
    logged = dataclasses.replace(
        ROW, extra={"srv_distinct_pids": "110", "srv_log_requests": "11000"}
    )
    assert forks_per_request(logged) == pytest.approx(0.01)
    # else one child per MaxConnectionsPerChild connections
    assert forks_per_request(ROW) == pytest.approx(0.01)
    # under its old name too (Apache reads MaxRequestsPerChild as MaxConnectionsPerChild)
    renamed = dataclasses.replace(ROW, directives={"MaxRequestsPerChild": 100})
    assert recycles(renamed) and forks_per_request(renamed) == pytest.approx(0.01)
    # a cold run without recycling forks its spawn ramp in the window, a warm one before it
    cold = dataclasses.replace(ROW, directives={}, idle_procs=6, peak_procs=26)
    assert forks_per_request(cold) == pytest.approx(20 / 10_000)
    assert forks_per_request(dataclasses.replace(cold, warmup_s=20.0)) == 0.0
    assert recycles(ROW) and not recycles(cold)


def _cpu_per_request(
    mpm: str, directives: dict[str, Any], costs: dict[str, Any]
) -> tuple[float, float]:
    """CPU per request (ms) of one client without keep-alive; children forked per request."""
    prep = prepared(
        costs={"base": "ideal", **costs}, hardware=IDEAL_HW,
        server={"mpm": mpm, "directives": directives},
        load={"kind": "closed", "clients": 1, "keepalive": False, "duration_s": 3.0},
    )  # fmt: skip
    rep = run_prepared(prep, 1).replications[0]
    forks = rep.counters["children_spawned"] / rep.counters["finished"]
    return float(summarize(prep, rep)["cpu_ms_per_request"]), forks


def test_the_simulator_charges_each_child_its_start() -> None:
    """1 ms requests, one client, a child per 10 connections: each child forked costs its
    fork and its threads' creation, as the fit's columns (forks, forks x ThreadsPerChild)
    say; a prefork child's one thread is the process, charged one creation too."""
    prefork = {"StartServers": 1, "MinSpareServers": 1, "MaxSpareServers": 2,
               "MaxRequestWorkers": 2, "MaxConnectionsPerChild": 10}  # fmt: skip
    start = {"fork_cpu_ms": 2.0, "thread_create_cpu_ms": 0.5}
    assert _cpu_per_request("prefork", prefork, {})[0] == pytest.approx(1.0, abs=0.01)
    cpu, forks = _cpu_per_request("prefork", prefork, start)
    assert forks == pytest.approx(0.1, rel=0.05)  # exactly ten connections a child
    assert cpu == pytest.approx(1.0 + forks * 2.5, rel=0.005)
    worker = {"StartServers": 1, "ThreadsPerChild": 4, "MinSpareThreads": 1, "MaxSpareThreads": 8,
              "MaxRequestWorkers": 8, "MaxConnectionsPerChild": 10}  # fmt: skip
    cpu, forks = _cpu_per_request("worker", worker, start)
    # worker.c counts a connection down after its lingering close, by which time the one
    # client's next connection has been accepted: eleven a child
    assert forks == pytest.approx(1 / 11, rel=0.05)
    assert cpu == pytest.approx(1.0 + forks * (2.0 + 4 * 0.5), rel=0.005)


def test_the_simulator_charges_each_child_its_exit() -> None:
    """The same servers with 0.3 ms a thread to exit: each child that exits (as many as were
    forked, less the one alive at the end) costs that per ThreadsPerChild thread (a prefork
    child's one thread is the process), on top of its start."""
    prefork = {"StartServers": 1, "MinSpareServers": 1, "MaxSpareServers": 2,
               "MaxRequestWorkers": 2, "MaxConnectionsPerChild": 10}  # fmt: skip
    costs = {"fork_cpu_ms": 2.0, "thread_create_cpu_ms": 0.5, "thread_exit_cpu_ms": 0.3}
    cpu, forks = _cpu_per_request("prefork", prefork, costs)
    assert cpu == pytest.approx(1.0 + forks * (2.5 + 0.3), rel=0.005)
    worker = {"StartServers": 1, "ThreadsPerChild": 4, "MinSpareThreads": 1, "MaxSpareThreads": 8,
              "MaxRequestWorkers": 8, "MaxConnectionsPerChild": 10}  # fmt: skip
    cpu, forks = _cpu_per_request("worker", worker, costs)
    assert cpu == pytest.approx(1.0 + forks * (2.0 + 4 * 0.5 + 4 * 0.3), rel=0.005)
    # a server whose children never exit pays nothing for it
    steady = {**prefork, "MaxConnectionsPerChild": 0}
    assert _cpu_per_request("prefork", steady, costs)[0] == pytest.approx(1.0, abs=0.01)


def test_exits_per_request_of_a_row() -> None:
    """calibrate's share of a row's CPU that exits take: a recycling row's children exit as
    often as they are forked, each with its ThreadsPerChild threads; a cold ramp exits none."""
    base = load_costs("default").model_copy(update={"thread_exit_cpu_ms": 0.1})
    assert exit_cpu_ms(ROW, base) == pytest.approx(0.01 * 0.1)
    worker = dataclasses.replace(
        ROW, mpm="worker", directives={"MaxConnectionsPerChild": 100, "ThreadsPerChild": 25}
    )
    assert exit_cpu_ms(worker, base) == pytest.approx(0.01 * 25 * 0.1)
    cold = dataclasses.replace(ROW, directives={}, idle_procs=6, peak_procs=26)
    assert forks_per_request(cold) > 0.0 and exit_cpu_ms(cold, base) == 0.0
    free = base.model_copy(update={"thread_exit_cpu_ms": 0.0})
    assert exit_cpu_ms(worker, free) == 0.0


@pytest.mark.skipif(not RUNS_CSV.exists(), reason="shared measurements not present")
def test_the_cpu_fit_recovers_them_from_recycling_rows() -> None:
    """The shared set's static rows with CPU from known parameters, and copies of some of them
    recycling children every 50 to 1,000 connections at 1.5 ms a fork and 0.08 ms a thread, their
    exits at the base's 0.1 ms a thread: the fit gives both start costs back (the exits taken
    out first, not fitted); without recycling rows it keeps the base's values."""
    runs = [r for r in read_measurements(RUNS_CSV) if r.content == "static"]
    runs = [r for r in runs if r.apache_cpu_ms_per_req]
    base = load_costs("default").model_copy(
        update={"switch_us_per_process": 0.0, "thread_exit_cpu_ms": 0.1}
    )

    def cpu(r: MeasuredRun) -> float:
        k = requests_per_connection(r)
        n_thread, n_process = switch_counts(r.mpm, k)
        threads = r.threads_per_child if r.mpm != "prefork" else 1
        forks = forks_per_request(r)
        exits = forks if recycles(r) else 0.0  # a cold ramp's children do not exit
        return (0.03 + 0.025 + 0.02 / k + 0.007 * n_thread + 0.011 * n_process
                + forks * (1.5 + 0.08 * threads) + exits * 0.1 * threads)  # fmt: skip

    plain = [dataclasses.replace(r, extra={}, apache_cpu_util=None) for r in runs]
    recycled = [
        dataclasses.replace(r, directives={**r.directives, "MaxConnectionsPerChild": limit})
        for i, r in enumerate(plain[::4])
        for limit in ([50, 200, 1000][i % 3],)
    ]
    fake = [dataclasses.replace(r, apache_cpu_ms_per_req=cpu(r)) for r in plain + recycled]
    fit = fit_cpu(fake, base, context_switch_us=2.0)
    assert fit.values["fork_cpu_ms"] == pytest.approx(1.5, abs=1e-3)
    assert fit.values["thread_create_cpu_ms"] == pytest.approx(0.08, abs=1e-4)
    assert fit.values["conn_cpu_ms"] == pytest.approx(0.02, abs=1e-5)
    kept = fit_cpu([r for r in fake if not recycles(r)], base, 2.0)
    assert kept.values["fork_cpu_ms"] == base.fork_cpu_ms
    assert kept.values["thread_create_cpu_ms"] == base.thread_create_cpu_ms
    assert kept.stderr["fork_cpu_ms"] != kept.stderr["fork_cpu_ms"]  # NaN: not fitted


@pytest.mark.skipif(not RUNS_CSV.exists(), reason="shared measurements not present")
def test_a_start_cost_the_rows_cannot_tell_keeps_the_prior() -> None:
    """Three recycling rows whose CPU scatters by +-10 % around the known parameters: neither
    start cost comes out at two standard errors from zero, so both keep the base's priors (and
    are reported as not fitted), while the other terms are still fitted."""
    runs = [r for r in read_measurements(RUNS_CSV) if r.content == "static"]
    plain = [
        dataclasses.replace(r, extra={}, apache_cpu_util=None)
        for r in runs
        if r.apache_cpu_ms_per_req
    ]
    base = load_costs("default").model_copy(
        update={"switch_us_per_process": 0.0, "fork_cpu_ms": 0.7, "thread_create_cpu_ms": 0.03}
    )

    def cpu(r: MeasuredRun, scatter: float) -> float:
        k = requests_per_connection(r)
        n_thread, n_process = switch_counts(r.mpm, k)
        return (0.055 + 0.02 / k + 0.007 * n_thread + 0.011 * n_process) * scatter

    recycled = [
        dataclasses.replace(
            r, directives={**r.directives, "MaxConnectionsPerChild": 1000}, run_id=f"rec{i}"
        )
        for i, r in enumerate(plain[:3])
    ]
    fake = [dataclasses.replace(r, apache_cpu_ms_per_req=cpu(r, 1.0)) for r in plain]
    fake += [
        dataclasses.replace(r, apache_cpu_ms_per_req=cpu(r, s))
        for r, s in zip(recycled, (1.1, 0.9, 1.1), strict=True)
    ]
    fit = fit_cpu(fake, base, context_switch_us=2.0)
    assert fit.values["fork_cpu_ms"] == 0.7
    assert fit.values["thread_create_cpu_ms"] == 0.03
    assert math.isnan(fit.stderr["fork_cpu_ms"]) and math.isnan(fit.stderr["thread_create_cpu_ms"])
    assert fit.values["conn_cpu_ms"] == pytest.approx(0.02, rel=0.05)
