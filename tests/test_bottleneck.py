"""The bottleneck of a burstable CPU held at its baseline: the CPU, not the workers or nothing."""

from __future__ import annotations

from typing import Any

from mpmsim.engine.bottleneck import find_bottleneck
from mpmsim.engine.replications import run_prepared
from tests.helpers import prepared


def _t3(mode: str) -> dict[str, Any]:
    """A t3.medium-like machine launched with no CPU credits (AWS gives T3 none at launch)."""
    burst = {"baseline_fraction": 0.2, "credits_initial": 0, "credits_max": 576,
             "credits_per_hour": 24, "mode": mode}  # fmt: skip
    return {"name": "t3-empty", "vcpus": 2, "ram_mib": 100_000, "os_reserved_mib": 0,
            "burst": burst}  # fmt: skip


def _run(mode: str) -> dict[str, Any]:
    """0.5 vCPU of demand (10 req/s x 50 ms): above the 0.4 vCPU baseline, far below 2 vCPUs."""
    prep = prepared(
        hardware=_t3(mode), duration_s=40, warmup_s=10,
        server={"mpm": "event", "directives": {"MaxRequestWorkers": 400}},
        load={"kind": "open", "sessions_per_s": 10, "client_timeout_s": 1000},
        mix=[{"name": "php", "cpu_ms": 50.0}],
    )  # fmt: skip
    return run_prepared(prep, 1).to_dict()


def test_a_t3_without_credits_is_held_at_its_baseline() -> None:
    d = _run("standard")
    b = d["bottleneck"]
    assert d["cpu_credits"]["throttled_fraction"] > 0.9
    # Its vCPUs were only ~20 % busy: the plain rule would blame nothing (or the workers).
    assert b["utilization"]["cpu"] < 0.25
    assert b["resource"] == "cpu", b
    assert "held at its 20 % baseline (CPU credits exhausted) for" in b["why"]
    assert "% of the run" in b["why"]
    assert b["utilization"]["cpu_of_available"] > 0.9


def test_unlimited_mode_is_never_held() -> None:
    b = _run("unlimited")["bottleneck"]
    assert b["resource"] == "none" and "baseline" not in b["why"]
    assert "cpu_of_available" not in b["utilization"]


def _rec(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cpu_utilization": 0.12, "workers_busy_mean": 100.0, "workers_at_cap_fraction": 0.8,
        "accept_queue_mean": 3.0, "refused": 0, "syn_drops": 0, "ram_exceeded": False,
        "throttled_fraction": 0.5, "keepalive_held_mean": 0.0, "memory_peak_mib": 10.0,
    }  # fmt: skip
    return base | kw


def test_workers_that_cap_below_a_throttled_cpu_say_so() -> None:
    """12 % busy of a CPU at a 20 % baseline half the run: 20 % of what it could run (0.6)."""
    b = find_bottleneck(_rec(), mpm="event", max_request_workers=100, backlog_limit=512,
                        vcpus=2, baseline_fraction=0.2)  # fmt: skip
    assert b.resource == "workers"
    assert "20 % of what it could run" in b.why and "for 50 % of the run" in b.why


def test_without_a_baseline_throttling_is_not_counted() -> None:
    """A record from a machine without burst credits: the CPU is judged by its vCPUs alone."""
    b = find_bottleneck(_rec(cpu_utilization=0.5, workers_at_cap_fraction=0.0,
                             workers_busy_mean=10.0), mpm="event", max_request_workers=100,
                        backlog_limit=512, vcpus=2)  # fmt: skip
    assert b.resource == "connections" and "baseline" not in b.why


def test_every_started_worker_busy_below_max_request_workers_is_the_workers() -> None:
    """Prefork still spawning (169 of 256 alive), every one busy, 362 connections queued and
    the CPU at 5 %: the workers, not "nothing saturated"."""
    rec = _rec(cpu_utilization=0.05, workers_busy_mean=169.0, workers_at_cap_fraction=0.0,
               workers_none_idle_fraction=1.0, accept_queue_mean=362.0, throttled_fraction=0.0,
               keepalive_held_mean=169.0)  # fmt: skip
    b = find_bottleneck(rec, mpm="prefork", max_request_workers=256, backlog_limit=512, vcpus=2)
    assert b.resource == "workers"
    assert "every worker Apache had started was busy 100 % of the time" in b.why
    assert "66 % of MaxRequestWorkers 256" in b.why and "(362 on average)" in b.why
    idle = find_bottleneck(rec | {"workers_none_idle_fraction": 0.2}, mpm="prefork",
                           max_request_workers=256, backlog_limit=512, vcpus=2)  # fmt: skip
    assert idle.resource == "none"  # idle workers most of the time: the load sets the rate
    no_queue = find_bottleneck(rec | {"accept_queue_mean": 0.2}, mpm="prefork",
                               max_request_workers=256, backlog_limit=512, vcpus=2)  # fmt: skip
    assert no_queue.resource == "none"


def test_idle_browsers_pinning_prefork_name_the_workers() -> None:
    """A run: prefork's 16 workers all pinned by keep-alive browsers that think 1 s, more
    sessions arriving than they can hold; the CPU barely used."""
    prep = prepared(
        duration_s=20, warmup_s=5,
        server={"mpm": "prefork", "directives": {"MaxRequestWorkers": 16, "StartServers": 16,
                                                 "KeepAliveTimeout": 5}},
        load={"kind": "open", "sessions_per_s": 20, "requests_per_session": 5,
              "think_time_s": 1.0},
        mix=[{"name": "page", "cpu_ms": 1.0}],
    )  # fmt: skip
    b = run_prepared(prep, 1).to_dict()["bottleneck"]
    assert b["resource"] == "workers", b
