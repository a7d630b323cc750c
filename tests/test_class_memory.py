"""worker_kib: memory a worker keeps once it has served a request class (a mod_lua state);
child_kib: memory a child keeps once any of its workers has.

The engine charges worker_kib once per worker of a child that is handed the class, up to the
child's workers, and child_kib once per child; calibrate fits both per class from the loaded
memory readings; a scenario's mix entry may set them.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpmsim.calibration.fitted_costs import fitted_costs
from mpmsim.calibration.linear import ParamFit
from mpmsim.calibration.memory_fit import fit_memory
from mpmsim.calibration.php_fit import kept_cpu
from mpmsim.calibration.regressors import listener_connections
from mpmsim.engine.replication import World, build_world
from mpmsim.errors import InputError
from mpmsim.models.costs import load_costs
from mpmsim.spec.reading import load_scenario, load_scenario_data
from mpmsim.spec.resolve import prepare
from mpmsim.workloads.readers import MeasuredRun
from tests.helpers import prepared, scenario_dict

LUA = {"name": "lua", "cpu_ms": 1.0}
STATIC = {"name": "static", "cpu_ms": 1.0}


def _world(
    mpm: str, threads: int, worker_kib: float, mix: list[dict[str, Any]], child_kib: float = 0.0
) -> World:
    """One child of ``threads`` workers; class ``lua`` keeps ``worker_kib`` per worker and
    ``child_kib`` per child."""
    directives = (
        {"StartServers": 1, "MinSpareServers": 1, "MaxSpareServers": 1, "MaxRequestWorkers": 1}
        if mpm == "prefork"
        else {"StartServers": 1, "ThreadsPerChild": threads, "MaxRequestWorkers": threads,
              "ServerLimit": 1, "MinSpareThreads": 1, "MaxSpareThreads": 2 * threads}
    )  # fmt: skip
    lua = {"cpu_ms": 1.0, "worker_kib": worker_kib, "child_kib": child_kib}
    costs = {"base": "ideal", "classes": {"lua": lua}}
    world = build_world(
        prepared(costs=costs, server={"mpm": mpm, "directives": directives}, mix=mix)
    )
    world.env.run(until=0.5)  # the child is up
    return world


def _requests(world: World, n: int, *, keepalive: bool = False) -> float:
    """``n`` requests one after another (on one connection if ``keepalive``); memory gained."""
    before = world.memory.current_mib

    def client() -> Any:
        conn = None
        for _ in range(n):
            conn, _status, _t = yield from world.client.request(
                conn if keepalive else None, delay_s=0.01, client_keepalive=keepalive
            )

    world.env.process(client())
    world.env.run(until=world.env.now + 4.5)
    return float(world.memory.current_mib - before)


def test_a_prefork_child_that_served_the_class_holds_its_state_once() -> None:
    """One request of the class: +worker_kib; nine more on the same child: nothing more."""
    world = _world("prefork", 1, 1024.0, [LUA])
    assert _requests(world, 1) == pytest.approx(1.0)
    assert _requests(world, 9) == pytest.approx(0.0)
    (child,) = world.server.children
    assert child.class_workers == {0: 1}


@pytest.mark.parametrize(("requests", "states"), [(4, 4), (30, 10)])
def test_a_worker_child_grows_once_per_thread_up_to_threads_per_child(
    requests: int, states: int
) -> None:
    """Work goes round the idle threads: each new connection reaches one new to the class."""
    world = _world("worker", 10, 1024.0, [LUA])
    assert _requests(world, requests) == pytest.approx(states * 1.0)


@pytest.mark.parametrize(("mpm", "states"), [("worker", 1), ("event", 10)])
def test_keep_alive_requests_reach_a_new_worker_only_under_event(mpm: str, states: int) -> None:
    """worker keeps the connection's thread for all its requests; event hands each to a worker."""
    world = _world(mpm, 10, 1024.0, [LUA])
    assert _requests(world, 30, keepalive=True) == pytest.approx(states * 1.0)


@pytest.mark.parametrize(("mpm", "threads", "requests", "mib"),
                         [("prefork", 1, 1, 1.5), ("prefork", 1, 10, 1.5),
                          ("worker", 10, 4, 0.5 + 4.0), ("worker", 10, 30, 0.5 + 10.0),
                          ("event", 10, 30, 0.5 + 10.0)])  # fmt: skip
def test_a_child_keeps_child_kib_once_beside_each_worker_s_worker_kib(
    mpm: str, threads: int, requests: int, mib: float
) -> None:
    """child_kib 512 once per child, when its first worker serves the class; worker_kib 1 MiB
    per worker as before; nothing for a class without either."""
    world = _world(mpm, threads, 1024.0, [LUA], child_kib=512.0)
    assert _requests(world, requests) == pytest.approx(mib)
    static = _world(mpm, threads, 0.0, [STATIC], child_kib=512.0)  # lua's, not static's
    assert _requests(static, requests) == pytest.approx(0.0)


def test_only_the_class_that_keeps_state_costs_memory() -> None:
    """worker_kib 0 (here: the static class, and lua set to 0) adds nothing, and counts nothing."""
    world = _world("worker", 10, 0.0, [LUA, STATIC])
    assert _requests(world, 30) == pytest.approx(0.0)
    (child,) = world.server.children
    assert child.class_workers == {}


@pytest.mark.parametrize(
    ("lua", "kept_mib"),
    [({"cpu_ms": 1.0, "worker_kib": 1024.0}, 1.0), ({"cpu_ms": 1.0, "child_kib": 2048.0}, 2.0)],
)
def test_a_child_gives_its_states_back_when_it_exits(
    lua: dict[str, float], kept_mib: float
) -> None:
    """MaxConnectionsPerChild 5: the child holding the state (a worker's, or its own
    child_kib) exits, the ledger drops it; the fresh child keeps nothing until it serves."""
    costs = {"base": "ideal", "classes": {"lua": lua}}
    directives = {"StartServers": 1, "MinSpareServers": 1, "MaxSpareServers": 1,
                  "MaxRequestWorkers": 1, "MaxConnectionsPerChild": 5}  # fmt: skip
    world = build_world(
        prepared(costs=costs, server={"mpm": "prefork", "directives": directives}, mix=[LUA])
    )
    world.env.run(until=0.5)
    before = world.memory.current_mib
    assert _requests(world, 4) == pytest.approx(kept_mib)
    _requests(world, 1)  # its fifth connection: it exits, a fresh child takes its place
    assert world.server.table.spawned == 2
    assert world.memory.current_mib == pytest.approx(before)


# -- the scenario ---------------------------------------------------------------------------------
def test_a_mix_entry_s_worker_kib_wins_over_the_cost_model_s(tmp_path: Path) -> None:
    """A scenario YAML sets it on a mix entry; an entry without it takes the cost model's."""
    costs = {
        "base": "ideal",
        "classes": {"lua": {"cpu_ms": 1.0, "worker_kib": 512.0, "child_kib": 96.0}},
    }
    data = scenario_dict(costs=costs, mix=[{"name": "lua", "worker_kib": 2048.0},
                                           {"name": "other", "cpu_ms": 1.0}])  # fmt: skip
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    own = prepare(load_scenario(path))
    inherited = prepared(costs=costs, mix=[{"name": "lua"}])
    assert [c.worker_kib for c in own.classes] == [2048.0, 0.0]
    assert inherited.classes[0].worker_kib == 512.0
    assert [c.child_kib for c in own.classes] == [96.0, 0.0]  # the cost model's


def test_a_negative_worker_kib_is_refused_with_its_place() -> None:
    data = scenario_dict(mix=[{"name": "r", "cpu_ms": 1.0, "worker_kib": -64}])
    with pytest.raises(InputError) as err:
        prepare(load_scenario_data(data))
    assert str(err.value).endswith(
        "mix[0].worker_kib: input should be greater than or equal to 0 (got -64)"
    )


# -- calibrate ------------------------------------------------------------------------------------
BASE_MIB, PROCESS_MIB, THREAD_MIB, USED_MIB, LUA_MIB = 3.0, 0.25, 0.02, 0.04, 0.3
LUA_CHILD_MIB = 0.07  # what a child keeps once, beside each worker's LUA_MIB
CLIENTS, CONN_KIB = 50, 48.0  # the simulator's peak holds a connection per client
IDEAL = {"base": "ideal", "connection_kib": CONN_KIB}


def _row(mpm: str, content: str, idle: int, peak: int) -> MeasuredRun:
    """A row whose PSS is what known parameters give: ``idle`` and ``peak`` children."""
    tpc = 1 if mpm == "prefork" else 25

    def reading(children: int, loaded: bool) -> tuple[int, int, float]:
        procs = children + 1
        threads = procs if mpm == "prefork" else children * (tpc + 2) + 1
        used = children * tpc if loaded and mpm != "prefork" else 0
        served = (children if mpm == "prefork" else used) if loaded else 0
        pss = BASE_MIB + PROCESS_MIB * children + THREAD_MIB * (threads - 1) + USED_MIB * used
        pss += LUA_MIB * served + LUA_CHILD_MIB * children * loaded if content == "lua" else 0.0
        return procs, threads, pss + (CONN_KIB / 1024.0 * CLIENTS if loaded else 0.0)

    i_procs, i_threads, i_pss = reading(idle, False)
    p_procs, p_threads, p_pss = reading(peak, True)
    return MeasuredRun(
        run_id=f"{mpm}-{content}-{peak}", scenario="synthetic", mpm=mpm, directives={},
        lua_scope="server", mrw_effective=400, threads_per_child=tpc, server_limit=16,
        content=content, url="/", tool="ab", concurrency=CLIENTS, keepalive=False, duration_s=10.0,
        requests_completed=10000, req_per_s=1000.0, idle_procs=i_procs, idle_threads=i_threads,
        idle_pss_mb=i_pss, peak_procs=p_procs, peak_threads=p_threads, peak_pss_mb=p_pss,
    )  # fmt: skip


SYNTHETIC = [
    _row(mpm, content, idle, peak)
    for mpm, idle, peaks in (("prefork", 5, (10, 30, 60)), ("worker", 3, (4, 8, 12)),
                             ("event", 3, (5, 9)))
    for content in ("static", "lua")
    for peak in peaks
]  # fmt: skip


def test_fit_memory_recovers_each_class_s_worker_memory() -> None:
    """The loaded readings' connections are the simulator's (connection_kib), not a class's."""
    fit = fit_memory(SYNTHETIC, load_costs(IDEAL))
    assert fit is not None
    assert fit.values["classes.lua.worker_mib"] == pytest.approx(LUA_MIB, abs=1e-4)
    assert fit.values["classes.static.worker_mib"] == pytest.approx(0.0, abs=1e-4)
    assert fit.values["classes.lua.child_mib"] == pytest.approx(LUA_CHILD_MIB, abs=1e-4)
    assert fit.values["classes.static.child_mib"] == pytest.approx(0.0, abs=1e-4)
    assert fit.values["thread_used_mib"] == pytest.approx(USED_MIB, abs=1e-4)
    assert fit.values["process_mib"] == pytest.approx(PROCESS_MIB, abs=1e-4)


LISTENER_KIB = 16.0


def _kept_alive(children: int, clients: int) -> MeasuredRun:
    """An event row with keep-alive: ``children`` children of 25 threads admit 75 connections
    each (ThreadsPerChild x (1 + AsyncRequestWorkerFactor 2)), every one of them kept alive."""
    row = _row("event", "static", 3, children)
    kept = min(clients, children * 75)
    busy = min(clients, 400)  # the connection column: a client each, up to MaxRequestWorkers
    assert row.peak_pss_mb is not None
    pss = row.peak_pss_mb + ((busy - CLIENTS) * CONN_KIB + kept * LISTENER_KIB) / 1024.0
    return replace(
        row, run_id=f"event-ka-{children}-{clients}", keepalive=True, concurrency=clients,
        peak_pss_mb=pss,
    )  # fmt: skip


def _lingering(row: MeasuredRun) -> MeasuredRun:
    """``row`` whose event children also hold, at the peak, the pools of the connections in
    their linger queues: about one per worker (25 a child), up to one per client."""
    if row.mpm != "event" or row.peak_pss_mb is None or row.peak_procs is None:
        return row
    held = min(CLIENTS, (row.peak_procs - 1) * 25)
    return replace(row, peak_pss_mb=row.peak_pss_mb + held * LISTENER_KIB / 1024.0)


def test_fit_memory_tells_kept_alive_connections_from_busy_ones() -> None:
    """Event's keep-alive rows: the connections its listeners keep (listener_connection_kib,
    up to what the children admit) are a column of their own beside every row's clients;
    its rows without keep-alive hold the pools of their lingering closes in the same column."""
    rows = [_lingering(r) for r in SYNTHETIC]
    rows += [_kept_alive(n, c) for n in (1, 2, 4) for c in (10, 100, 300)]
    fit = fit_memory(rows, load_costs(IDEAL))
    assert fit is not None
    assert fit.values["listener_connection_mib"] * 1024.0 == pytest.approx(LISTENER_KIB, abs=0.01)
    assert fit.values["connection_mib"] * 1024.0 == pytest.approx(CONN_KIB, abs=0.01)
    kept = fit_memory(rows, load_costs(IDEAL), keep=("listener_connection_kib",))
    assert kept is not None and kept.values["listener_connection_mib"] == 0.0  # ideal's


@pytest.mark.parametrize(
    ("mpm", "keepalive", "util", "cores", "held"),
    [
        ("event", True, None, 1.0, 225.0),  # no CPU reading: the limit's maximum, 3 x 25 each
        ("event", True, 0.2, 1.0, 195.0),  # 80 % of the core idle: 25 + 2 x 20 each
        ("event", True, 1.0, 1.0, 75.0),  # a saturated core: ThreadsPerChild each
        ("event", True, 1.0, 2.0, 150.0),  # one of two cores busy: 25 + 2 x 12.5 each
        ("event", False, 0.2, 1.0, 75.0),  # lingering closes: one per worker
        ("worker", True, 0.2, 1.0, 0.0),  # a worker per connection instead
    ],
)
def test_listener_column_is_what_the_simulator_holds_at_its_peak(
    mpm: str, keepalive: bool, util: float | None, cores: float, held: float
) -> None:
    """Event's listener column: one per client, up to each child's admission limit,
    ThreadsPerChild + AsyncRequestWorkerFactor x its idle workers, idle as the row left its
    cores; without keep-alive the connections lingering for their FIN, one per worker."""
    row = replace(_row(mpm, "static", 3, 3), keepalive=keepalive, concurrency=1000,
                  apache_cpu_util=util)  # fmt: skip
    assert listener_connections(row, 4, cores) == pytest.approx(held)
    few = replace(row, concurrency=10)
    assert listener_connections(few, 4, cores) == pytest.approx(min(10.0, held))


def test_fitted_costs_carries_worker_kib_and_its_uncertainty() -> None:
    # every row at 50 clients: connection_kib and listener_connection_kib (event's lingering
    # closes, 50 in each row) are not fitted, the base's must be the rows'
    base = load_costs(
        {"base": "default", "connection_kib": CONN_KIB, "listener_connection_kib": 0.0}
    )
    mem = fit_memory(SYNTHETIC, base)
    cpu = ParamFit(*kept_cpu(base, 2.0), rows_used=0, rms_rel_error=math.nan)
    costs = fitted_costs(base, cpu, mem, 2.0)
    assert costs.classes["lua"].worker_kib == pytest.approx(LUA_MIB * 1024.0, abs=0.01)
    assert costs.classes["static"].worker_kib == pytest.approx(0.0, abs=0.01)
    assert costs.classes["lua"].child_kib == pytest.approx(LUA_CHILD_MIB * 1024.0, abs=0.01)
    assert costs.classes["static"].cpu_ms == base.classes["static"].cpu_ms  # the rest kept
    assert "classes.lua.worker_kib" in costs.uncertainty
    assert "classes.lua.child_kib" in costs.uncertainty


def test_child_kib_is_not_fitted_from_prefork_alone() -> None:
    """One worker per child: a prefork child's worker_kib and child_kib are one column, so only
    worker_kib is fitted (it takes both) and child_kib keeps the base's value."""
    prefork = [r for r in SYNTHETIC if r.mpm == "prefork"]
    fit = fit_memory(prefork, load_costs(IDEAL))
    assert fit is not None
    assert fit.values["classes.lua.worker_mib"] == pytest.approx(LUA_MIB + LUA_CHILD_MIB, abs=1e-4)
    assert fit.values["classes.lua.child_mib"] == 0.0
    assert math.isnan(fit.stderr["classes.lua.child_mib"])


def test_keep_holds_child_kib_at_the_base_s_value() -> None:
    base = load_costs({**IDEAL, "classes": {"lua": {"cpu_ms": 1.0, "child_kib": 10.0}}})
    fit = fit_memory(SYNTHETIC, base, keep=("classes.lua.child_kib",))
    assert fit is not None
    assert fit.values["classes.lua.child_mib"] == pytest.approx(10.0 / 1024.0)
    assert math.isnan(fit.stderr["classes.lua.child_mib"])


@pytest.mark.parametrize("keep", ["worker_kib", "classes.lua.worker_kib"])
def test_keep_holds_worker_kib_at_the_base_s_value(keep: str) -> None:
    base = load_costs({**IDEAL, "classes": {"lua": {"cpu_ms": 1.0, "worker_kib": 100.0}}})
    fit = fit_memory(SYNTHETIC, base, keep=(keep,))
    assert fit is not None
    assert fit.values["classes.lua.worker_mib"] == pytest.approx(100.0 / 1024.0)
    assert math.isnan(fit.stderr["classes.lua.worker_mib"])


def test_a_class_with_only_idle_readings_keeps_the_base_s_value() -> None:
    """No loaded reading of the class: its column is empty, nothing to fit."""
    idle_only = [
        MeasuredRun(**{**r.__dict__, "content": "lua", "peak_pss_mb": None})
        for r in SYNTHETIC
        if r.content == "lua"
    ]
    fit = fit_memory([r for r in SYNTHETIC if r.content == "static"] + idle_only,
                     load_costs(IDEAL))  # fmt: skip
    assert fit is not None
    assert fit.values["classes.lua.worker_mib"] == 0.0
    assert math.isnan(fit.stderr["classes.lua.worker_mib"])


def test_a_class_told_by_one_loaded_reading_keeps_the_base_s_value() -> None:
    """One loaded reading of a class leaves its memory no residual: fitted, it would take that
    reading's whole error. It keeps the base's value until a second reading tells it."""
    base = load_costs({**IDEAL, "classes": {"lua": {"cpu_ms": 1.0, "worker_kib": 30.0}}})
    static = [r for r in SYNTHETIC if r.content == "static"]
    lua = [r for r in SYNTHETIC if r.content == "lua" and r.mpm == "event"]
    assert lua[0].peak_pss_mb is not None
    off = replace(lua[0], peak_pss_mb=lua[0].peak_pss_mb + 1.0)  # one reading, 1 MB off
    alone = fit_memory([*static, off], base)
    assert alone is not None
    assert alone.values["classes.lua.worker_mib"] == pytest.approx(30.0 / 1024.0)
    assert math.isnan(alone.stderr["classes.lua.worker_mib"])
    told = fit_memory([*static, *lua], base)  # two readings (event at 5 and 9 children)
    assert told is not None
    assert told.values["classes.lua.worker_mib"] == pytest.approx(
        LUA_MIB + LUA_CHILD_MIB / 25, abs=1e-4
    )
    assert math.isfinite(told.stderr["classes.lua.worker_mib"])
