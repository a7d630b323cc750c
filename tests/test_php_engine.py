"""PHP in the engine: mod_php inside the Apache child, PHP-FPM pools behind event, proxies.

Stories on the ``ideal`` cost model (no overhead but what each test sets), so every figure the
assertions check follows from the test's own numbers.
"""

from __future__ import annotations

from typing import Any

import pytest

from mpmsim.engine.replications import run_prepared
from tests.helpers import EXAMPLES, prepared

EVENT = {"mpm": "event", "directives": {"MaxRequestWorkers": 400, "ThreadsPerChild": 25}}
HW = {"vcpus": 4, "ram_mib": 1_000_000, "os_reserved_mib": 0, "cpu_speed": 1.0,
      "context_switch_us": 0.0}  # fmt: skip


def _pool(**keys: Any) -> dict[str, Any]:
    return {"www": {"kind": "php_fpm", "pm": "static", **keys}}


def _fpm_run(
    pool: dict[str, Any], load: dict[str, Any], wait_ms: float = 50.0, **parts: Any
) -> dict[str, Any]:
    """A script of ``wait_ms`` (no CPU, so clients in step do not share a core) in pool www."""
    parts.setdefault("server", EVENT)
    prep = prepared(
        hardware=HW, load=load, backends=pool,
        mix=[{"name": "php", "cpu_ms": 0.0, "wait_ms": wait_ms, "backend": "www"}], **parts,
    )  # fmt: skip
    return run_prepared(prep, 1).to_dict()


def _lost(d: dict[str, Any], clients: int) -> None:
    """Every request sent was answered or is one of the clients' current ones."""
    assert 0 <= d["requests"]["in_flight"] <= clients


def test_saturated_fpm_piles_up_apache_workers_and_latency_without_losing_requests() -> None:
    """40 clients, 4 FPM children of 50 ms: 80 req/s, each request waits 0.5 s holding a worker."""
    load = {"kind": "closed", "clients": 40, "duration_s": 30.0}
    small = _fpm_run(_pool(**{"pm.max_children": 4}), load, warmup_s=5.0)
    large = _fpm_run(_pool(**{"pm.max_children": 40}), load, warmup_s=5.0)
    assert small["throughput_rps"] == pytest.approx(4 / 0.050, rel=0.03)
    assert large["throughput_rps"] == pytest.approx(40 / 0.050, rel=0.03)
    assert small["workers"]["busy_peak"] == 40  # every Apache worker waits for a child
    assert small["latency_ms"]["mean"] == pytest.approx(40 / (4 / 0.050) * 1000, rel=0.05)
    assert large["latency_ms"]["mean"] == pytest.approx(50, rel=0.05)
    assert sum(small["errors"].values()) == 0
    _lost(small, 40)
    assert small["bottleneck"]["resource"] == "backend:www"
    assert small["backends"]["www"]["queue_peak"] == 36


def test_fpm_backlog_overflow_answers_503_and_no_request_is_lost() -> None:
    """2 children, listen.backlog 3 (the socket holds 4): 6 of 20 clients are inside, the rest
    get mod_proxy_fcgi's 503 at once."""
    load = {"kind": "closed", "clients": 20, "duration_s": 20.0, "retry_delay_s": 0.05}
    d = _fpm_run(_pool(**{"pm.max_children": 2, "listen.backlog": 3}), load)
    assert d["throughput_rps"] == pytest.approx(2 / 0.050, rel=0.03)
    assert d["errors"]["http_503"] > 1000
    assert d["errors"]["refused"] == d["errors"]["reset"] == 0
    assert d["backends"]["www"]["queue_peak"] == 4
    _lost(d, 20)
    assert any(line["code"].startswith("AH01079") for line in d["error_log"])
    # somaxconn caps listen.backlog as listen(2) does
    capped = _fpm_run(
        _pool(**{"pm.max_children": 2, "listen.backlog": 1000}),
        load,
        server={**EVENT, "somaxconn": 3},
    )
    assert capped["backends"]["www"]["queue_peak"] == 4
    assert capped["errors"]["http_503"] > 1000


def _series_memory(prep_parts: dict[str, Any]) -> Any:
    res = run_prepared(prepared(**prep_parts), 1)
    return res, res.series_frame()


def _modphp(mcpc: int) -> dict[str, Any]:
    one_child = {
        "StartServers": 1, "MinSpareServers": 1, "MaxSpareServers": 1,
        "MaxRequestWorkers": 1, "MaxConnectionsPerChild": mcpc, "KeepAlive": "Off",
    }  # fmt: skip
    return {
        "hardware": HW,
        "server": {
            "mpm": "prefork",
            "modules": ["php"],
            "directives": one_child,
            "php": {"memory_limit": 20, "child_growth_mib": 1.0},
        },
        "load": {"kind": "closed", "clients": 1, "requests": 60},
        "mix": [{"name": "php", "cpu_ms": 1.0, "backend": "mod_php"}],
        "sample_interval_s": 0.001,
    }


def test_modphp_child_memory_grows_to_memory_limit_until_recycled() -> None:
    """1 MiB per PHP request: a child that is never recycled stops at memory_limit (20 MiB);
    one recycled every 10 connections gives it back, a sawtooth below 10 MiB."""
    kept, kept_series = _series_memory(_modphp(0))
    assert kept.to_dict()["memory_mib"]["peak"] == pytest.approx(20.0)
    assert kept_series["memory_mib"].iloc[-1] == pytest.approx(20.0)
    recycled, series = _series_memory(_modphp(10))
    assert recycled.to_dict()["memory_mib"]["peak"] == pytest.approx(10.0)
    drops = (series["memory_mib"].diff() < -5).sum()
    assert drops >= 4  # each exit returns the child's grown heap
    assert recycled.records[0]["completed"] + recycled.records[0]["in_flight"] >= 59


def test_modphp_is_refused_under_event_but_its_class_runs_in_prefork() -> None:
    from mpmsim.errors import InputError

    with pytest.raises(InputError, match=r"threaded MPM.*AH00013"):
        prepared(server={"mpm": "event", "modules": ["php"]},
                 mix=[{"name": "php", "cpu_ms": 1.0, "backend": "mod_php"}])  # fmt: skip


def _children_after(pool: dict[str, Any], seconds: float, clients: int) -> dict[str, Any]:
    load = {"kind": "closed", "clients": clients, "duration_s": seconds}
    prep = prepared(
        hardware=HW, server=EVENT, load=load, backends={"www": {"kind": "php_fpm", **pool}},
        mix=[{"name": "php", "cpu_ms": 0.0, "wait_ms": 100_000.0, "backend": "www"}],
    )  # fmt: skip
    d = run_prepared(prep, 1).to_dict()
    return {**d["backends"]["www"], "error_log": d["error_log"]}


def test_dynamic_spawns_up_to_min_spare_a_second_doubling_to_the_spawn_rate() -> None:
    """All children busy: fpm_process_ctl.c forks min(rate, min_spare - idle) a second."""
    low = _children_after(
        {"pm": "dynamic", "pm.max_children": 100, "pm.start_servers": 2,
         "pm.min_spare_servers": 2, "pm.max_spare_servers": 4}, 5.5, 100,
    )  # fmt: skip
    assert low["spawned"] == 2 + 1 + 2 + 2 + 2 + 2
    high = _children_after(
        {"pm": "dynamic", "pm.max_children": 100, "pm.start_servers": 40,
         "pm.min_spare_servers": 40, "pm.max_spare_servers": 50, "pm.max_spawn_rate": 8},
        5.5, 100,
    )  # fmt: skip
    assert high["spawned"] == 40 + 1 + 2 + 4 + 8 + 8  # doubling, capped by pm.max_spawn_rate
    capped = _children_after(
        {"pm": "dynamic", "pm.max_children": 10, "pm.start_servers": 5,
         "pm.min_spare_servers": 5, "pm.max_spare_servers": 8}, 5.5, 100,
    )  # fmt: skip
    assert capped["children_peak"] == 10
    logged = [line["message"] for line in capped["error_log"]]
    assert "[pool www] server reached pm.max_children setting (10), consider raising it" in logged


def test_ondemand_forks_per_waiting_connection_and_kills_idle_children() -> None:
    """5 clients send one request each: 5 forks at once (max_children 3 caps them); idle
    children die one a second after process_idle_timeout, so the memory goes back to 0."""
    pool = {"pm": "ondemand", "pm.max_children": 10, "pm.process_idle_timeout": "3s",
            "child_base_mib": 10}  # fmt: skip
    load = {"kind": "closed", "clients": 5, "duration_s": 15.0, "think_time_s": 100.0}
    prep = prepared(
        hardware=HW, server=EVENT, load=load, backends={"www": {"kind": "php_fpm", **pool}},
        mix=[{"name": "php", "cpu_ms": 0.0, "wait_ms": 100.0, "backend": "www"}],
        sample_interval_s=0.5,
    )  # fmt: skip
    res = run_prepared(prep, 1)
    fpm = res.to_dict()["backends"]["www"]
    assert fpm["spawned"] == 5 and fpm["children_peak"] == 5
    series = res.series_frame().set_index("t_s")["memory_mib"]
    assert series.loc[2.0] == pytest.approx(50.0)
    # last active at 0.1 s: killed once 0.1 < t - 3, one a second: at t = 4, 5, 6, 7, 8
    assert series.loc[4.5] == pytest.approx(40.0)
    assert series.loc[5.5] == pytest.approx(30.0)
    assert series.iloc[-1] == pytest.approx(0.0)
    few = _children_after(
        {"pm": "ondemand", "pm.max_children": 3}, 2.0, 5
    )  # fmt: skip
    assert few["spawned"] == 3


def test_max_requests_recycles_a_child_and_replaces_it_at_once() -> None:
    load = {"kind": "closed", "clients": 1, "requests": 20}
    d = _fpm_run(_pool(**{"pm.max_children": 1, "pm.max_requests": 5}), load)
    assert d["backends"]["www"]["recycled"] == 4
    assert d["backends"]["www"]["spawned"] == 5
    assert d["completed"] == 20 and sum(d["errors"].values()) == 0


def test_request_terminate_timeout_kills_the_child_and_answers_503() -> None:
    load = {"kind": "closed", "clients": 1, "duration_s": 20.0}
    pool = _pool(**{"pm.max_children": 1, "request_terminate_timeout": "1s"})
    d = _fpm_run(pool, load, wait_ms=2000.0)
    assert d["completed"] == 0
    assert d["errors"]["http_503"] >= 19  # one a second (and the client's retry delay)
    assert d["backends"]["www"]["terminated"] == d["errors"]["http_503"]


def test_fpm_children_share_the_ram_and_the_oom_killer() -> None:
    """4 children grow 5 MiB a request in 100 MiB of RAM: the OOM killer ends FPM children
    (the largest processes), whose requests get 503; the master replaces them."""
    pool = _pool(**{"pm.max_children": 4, "child_base_mib": 10, "child_growth_mib": 5,
                    "memory_limit": 100})  # fmt: skip
    hw = {**HW, "ram_mib": 100}
    load = {"kind": "closed", "clients": 4, "duration_s": 5.0}
    prep = prepared(
        hardware=hw, server=EVENT, load=load, backends=pool,
        mix=[{"name": "php", "cpu_ms": 1.0, "wait_ms": 50.0, "backend": "www"}],
    )  # fmt: skip
    d = run_prepared(prep, 1).to_dict()
    assert d["ram_exceeded"]
    assert d["backends"]["www"]["oom_kills"] > 0
    assert any(line["code"] == "OOM-FPM" for line in d["error_log"])
    assert d["memory_mib"]["peak"] <= 100 + 5
    _lost(d, 4)


def test_proxy_backend_has_fixed_concurrency_a_queue_and_a_timeout() -> None:
    api = {"kind": "proxy", "concurrency": 2, "queue": 2, "wait_ms": 100.0}
    load = {"kind": "closed", "clients": 10, "duration_s": 10.0, "retry_delay_s": 0.05}
    prep = prepared(
        hardware=HW, server=EVENT, load=load, backends={"api": api},
        mix=[{"name": "r", "cpu_ms": 0.0, "backend": "api"}],
    )  # fmt: skip
    d = run_prepared(prep, 1).to_dict()
    assert d["throughput_rps"] == pytest.approx(20.0, rel=0.05)
    assert d["errors"]["http_503"] > 0
    timed = prepared(
        hardware=HW, server=EVENT, load={"kind": "closed", "clients": 1, "duration_s": 2.0},
        backends={"api": {**api, "timeout_s": 0.05}},
        mix=[{"name": "r", "cpu_ms": 0.0, "backend": "api"}],
    )  # fmt: skip
    t = run_prepared(timed, 1).to_dict()
    assert t["completed"] == 0 and t["errors"]["http_504"] > 10


def test_without_backends_nothing_changes() -> None:
    """A scenario without PHP runs exactly as before: same figures with an unused pool."""
    base = {
        "hardware": HW, "server": EVENT, "load": {"kind": "closed", "clients": 5, "requests": 500},
        "mix": [{"name": "r", "cpu_ms": 1.0}],
    }  # fmt: skip
    plain = run_prepared(prepared(**base), 1).to_dict()
    unused = run_prepared(prepared(**base, backends=_pool(**{"pm.max_children": 3})), 1).to_dict()
    assert "backends" not in plain and "backends" not in unused
    assert plain["throughput_rps"] == unused["throughput_rps"]
    assert plain["latency_ms"] == unused["latency_ms"]


@pytest.mark.slow
def test_event_fpm_holds_idle_browsers_cheaply_where_prefork_modphp_pins_a_php_process() -> None:
    """The two shipped examples, same browsers: prefork + mod_php runs out of its 150 PHP-sized
    children on idle keep-alive connections; event + PHP-FPM keeps them on its listener."""
    import mpmsim

    quick = ("duration_s=40", "warmup_s=10")
    mod = mpmsim.run(EXAMPLES / "php-modphp-prefork.yaml", overrides=quick).to_dict()
    fpm = mpmsim.run(EXAMPLES / "php-fpm-event.yaml", overrides=quick).to_dict()
    assert mod["workers"]["processes_peak"] > 140  # a PHP-sized process per browser
    assert mod["workers"]["keepalive_peak"] >= 140
    assert mod["bottleneck"]["resource"] == "workers"
    assert fpm["workers"]["keepalive_peak"] > 140  # the same browsers, on event's listener
    assert fpm["workers"]["busy_peak"] < 50
    assert mod["memory_mib"]["peak"] > 4 * fpm["memory_mib"]["peak"]
    assert mod["latency_ms"]["p95"] > 10 * fpm["latency_ms"]["p95"]
    assert fpm["throughput_rps"] > mod["throughput_rps"]
