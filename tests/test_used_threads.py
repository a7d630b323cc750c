"""Worker threads that have served: the simulator counts them, and calibrate's memory fit takes
the simulator's count where one child can hold a row's load.

A threaded child grows by ``thread_used_kib`` for each worker that has served. A listener
accepts while its child has idle workers, so one client's connections stay in one child: after
a run at one client a quarter of the workers of four children of 25 have served, not all.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mpmsim.calibration.measured import Setup
from mpmsim.calibration.memory_fit import fit_memory
from mpmsim.calibration.regressors import class_workers, one_child_load, used_threads
from mpmsim.calibration.used_sim import simulated_counts
from mpmsim.engine.process_table import ProcessTable
from mpmsim.engine.replication import build_world
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.workloads.readers import MeasuredRun, read_measurements
from tests.helpers import REPO, prepared

RUNS_CSV = REPO.parent / "shared" / "data" / "apache-bench" / "runs.csv"
FOUR_CHILDREN = {"StartServers": 4, "ThreadsPerChild": 25, "MaxRequestWorkers": 100,
                 "ServerLimit": 4, "MinSpareThreads": 25, "MaxSpareThreads": 100}  # fmt: skip


# -- the engine's count ---------------------------------------------------------------------------
def test_the_table_counts_the_workers_that_served_and_forgets_an_exited_child_s() -> None:
    table = ProcessTable(threads_per_child=25, extra_threads=2, child_mib=0.0)
    one, two = table.fork(0.0), table.fork(0.0)
    table.served(one, 1)
    table.served(one, 2)
    table.served(two, 1)
    assert (table.threads_used, table.threads_used_peak) == (3, 3)
    table.exited(one)
    assert (table.threads_used, table.threads_used_peak) == (1, 3)


@pytest.mark.parametrize("used_kib", [0.0, 64.0])
@pytest.mark.parametrize("mpm", ["worker", "event"])
def test_one_client_s_requests_stay_in_one_child(mpm: str, used_kib: float) -> None:
    """200 requests one after another, each on a new connection, on four children of 25: the
    first child's listener takes them all, so its 25 workers serve and no other's. The count
    does not depend on what a used worker costs; the memory does."""
    costs = {"base": "ideal", "thread_used_kib": used_kib}
    world = build_world(prepared(costs=costs, server={"mpm": mpm, "directives": FOUR_CHILDREN}))
    world.env.run(until=0.5)
    before = world.memory.current_mib

    def client() -> Any:
        for _ in range(200):
            yield from world.client.request(None, delay_s=0.001, client_keepalive=False)

    world.env.process(client())
    world.env.run(until=5.0)
    assert len(world.server.children) == 4
    assert world.server.table.threads_used_peak == 25
    assert sorted(c.used for c in world.server.children) == [0, 0, 0, 25]
    assert world.memory.current_mib - before == pytest.approx(25 * used_kib / 1024.0)


# -- calibrate's column ---------------------------------------------------------------------------
def _row(mpm: str, clients: int, used: int, *, simulated: bool = True) -> MeasuredRun:
    """A loaded row of four children of 25 whose PSS holds ``used`` used workers."""
    procs, threads = 5, 4 * 27 + 1
    pss = 3.0 + 0.25 * 4 + 0.02 * (threads - 1) + 0.05 * used
    return MeasuredRun(
        run_id=f"{mpm}-c{clients}-u{used}", scenario="synthetic", mpm=mpm,
        directives=dict(FOUR_CHILDREN), lua_scope="server", mrw_effective=100,
        threads_per_child=25, server_limit=4, content="static", url="/", tool="ab",
        concurrency=clients, keepalive=False, duration_s=10.0, requests_completed=10000,
        req_per_s=1000.0, idle_procs=procs, idle_threads=threads,
        idle_pss_mb=3.0 + 0.25 * 4 + 0.02 * (threads - 1), peak_procs=procs,
        peak_threads=threads, peak_pss_mb=pss,
    )  # fmt: skip


def test_a_load_one_child_can_hold_is_one_of_a_threaded_mpm_up_to_threads_per_child() -> None:
    assert one_child_load(_row("worker", 1, 25))
    assert one_child_load(_row("event", 25, 25))
    assert not one_child_load(_row("event", 26, 100))
    assert not one_child_load(replace(_row("worker", 1, 25), mpm="prefork", directives={}))


def test_the_column_takes_the_simulator_s_count_up_to_the_reading_s_workers() -> None:
    row = _row("worker", 1, 25)
    assert used_threads(row, 5, 109, True) == 100.0  # every worker of every child
    assert used_threads(row, 5, 109, True, simulated=25.0) == 25.0
    assert used_threads(row, 5, 109, True, simulated=180.0) == 100.0  # at most its workers
    assert used_threads(row, 5, 109, False, simulated=25.0) == 0.0  # idle: none
    assert class_workers(row, 5, 109, True, simulated=25.0) == 25.0


def test_fit_memory_recovers_a_used_worker_s_memory_with_the_simulator_s_count() -> None:
    """Rows at one client hold 25 used workers, the others 100: with the simulator's counts the
    fit finds 0.05 MiB per used worker; counting all workers at one client it finds less."""
    rows = [_row(mpm, c, 25 if c == 1 else 100) for mpm in ("worker", "event") for c in (1, 50)]
    rows += [replace(r, run_id=r.run_id + "-b", peak_procs=9, peak_threads=8 * 27 + 1,
                     peak_pss_mb=3.0 + 0.25 * 8 + 0.02 * 216 + 0.05 * 200 + 0.05 * 0)
             for r in rows if r.concurrency == 50]  # fmt: skip
    for children in (5, 10, 20):  # prefork: a thread per process tells threads from processes
        flat = 3.0 + 0.25 * children + 0.02 * children
        rows.append(replace(rows[0], run_id=f"prefork-{children}", mpm="prefork", directives={},
                            threads_per_child=1, idle_procs=children + 1, idle_threads=children + 1,
                            idle_pss_mb=flat, peak_procs=children + 1,
                            peak_threads=children + 1, peak_pss_mb=flat))  # fmt: skip
    base = load_costs("ideal")
    counts = {r.run_id: 25.0 for r in rows if r.concurrency == 1}
    fit = fit_memory(rows, base, used=counts)
    assert fit is not None
    assert fit.values["thread_used_mib"] == pytest.approx(0.05, abs=1e-4)
    rule = fit_memory(rows, base)
    assert rule is not None
    assert rule.values["thread_used_mib"] < 0.045


@pytest.mark.skipif(not RUNS_CSV.exists(), reason="shared measurements not present")
def test_the_simulator_s_count_for_one_and_ten_clients() -> None:
    """The shared set's worker rows: at one client one child's 25 workers serve; at ten with
    keep-alive the ten pinned connections stay in one child too; at ten without it, on the
    saturated core, the lingering closes keep workers reserved and every child serves."""
    wanted = {
        "S2-worker-static-ab-c1-ka0-r1": 25.0,
        "S2-worker-static-ab-c10-ka1-r1": 25.0,
        "S2-worker-static-ab-c10-ka0-r1": 100.0,
        "S2-worker-static-ab-c100-ka0-r1": None,
    }
    rows = [r for r in read_measurements(RUNS_CSV) if r.run_id in wanted]
    assert len(rows) == len(wanted)
    setup = Setup(load_hardware("bench-1core"), 0.0189)
    counts, _ = simulated_counts(rows, load_costs("bench-1core"), setup, jobs=1)
    assert counts == {k: v for k, v in wanted.items() if v is not None}  # c100: not simulated


def test_fit_memory_takes_the_simulator_s_count_of_event_s_kept_connections() -> None:
    """Event's loaded readings hold 30, 90 and 150 connections with pools of 20 KiB (0.02 MiB)
    each, as the simulator held them (``kept``): the fit finds 0.02 MiB per connection."""
    held = {50: 30.0, 100: 90.0, 200: 150.0}
    rows = [
        replace(r, keepalive=True, peak_pss_mb=(r.peak_pss_mb or 0.0) + 0.02 * held[c])
        for c, r in ((c, _row("event", c, 100)) for c in held)
    ]
    for children in (5, 10, 20):  # prefork: a thread per process tells threads from processes
        flat = 3.0 + 0.25 * children + 0.02 * children
        rows.append(replace(rows[0], run_id=f"prefork-{children}", mpm="prefork", directives={},
                            threads_per_child=1, keepalive=False, idle_procs=children + 1,
                            idle_threads=children + 1, idle_pss_mb=flat,
                            peak_procs=children + 1, peak_threads=children + 1,
                            peak_pss_mb=flat))  # fmt: skip
    kept = {r.run_id: held[r.concurrency] for r in rows if r.mpm == "event"}
    fit = fit_memory(rows, load_costs("ideal"), keep=("connection_kib",), kept=kept)
    assert fit is not None
    assert fit.values["listener_connection_mib"] == pytest.approx(0.02, abs=1e-4)
