"""Shared helpers for the tests: small scenarios built in code."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import simpy

from mpmsim.engine.cpu import CPU
from mpmsim.engine.replications import run_prepared
from mpmsim.engine.summary import summarize
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import Prepared, prepare
from mpmsim.workloads.readers import MeasuredRun

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "workloads" / "examples"

#: A machine with no scheduling overhead, for checks against queueing theory.
IDEAL_HW: dict[str, Any] = {
    "name": "ideal",
    "vcpus": 1,
    "ram_mib": 1_000_000,
    "os_reserved_mib": 0,
    "cpu_speed": 1.0,
    "context_switch_us": 0.0,
}


def scenario_dict(**parts: Any) -> dict[str, Any]:
    """A small valid scenario; keyword arguments replace top-level keys (deep-copied)."""
    base: dict[str, Any] = {
        "name": "test",
        "seed": 1,
        "hardware": copy.deepcopy(IDEAL_HW),
        "costs": "ideal",
        "server": {"mpm": "prefork", "directives": {}},
        "load": {"kind": "closed", "clients": 1, "requests": 10},
        "mix": [{"name": "r", "cpu_ms": 1.0}],
    }
    base.update(copy.deepcopy(parts))
    return base


def prepared(**parts: Any) -> Prepared:
    """Validate and prepare :func:`scenario_dict` (``parts``)."""
    return prepare(load_scenario_data(scenario_dict(**parts)))


def prefork_pool_summary(
    costs: Any, clients: int, keepalive: bool, vcpus: int = 1
) -> dict[str, Any]:
    """One replication's figures: ``clients`` closed-loop clients for 2 s of 1 ms requests on
    the ideal machine with ``vcpus``, against 20 prefork children alive from the start (four
    requests per kept connection)."""
    prep = prepared(
        costs=costs,
        hardware={**IDEAL_HW, "vcpus": vcpus},
        server={"mpm": "prefork", "directives": {
            "StartServers": 20, "MinSpareServers": 1, "MaxSpareServers": 21,
            "MaxRequestWorkers": 20, "ServerLimit": 20, "MaxKeepAliveRequests": 4}},
        load={"kind": "closed", "clients": clients, "keepalive": keepalive, "duration_s": 2.0},
    )  # fmt: skip
    return summarize(prep, run_prepared(prep, 1).replications[0])


def measured_row(**fields: Any) -> MeasuredRun:
    """A measurement row (ab, a static page, 5 s) with ``fields`` replaced."""
    row: dict[str, Any] = {
        "run_id": "x", "scenario": "x", "mpm": "prefork", "directives": {}, "lua_scope": None,
        "mrw_effective": 150, "threads_per_child": 1, "server_limit": 150, "content": "static",
        "url": "/", "tool": "ab", "concurrency": 1, "keepalive": False, "duration_s": 5.0,
        "requests_completed": 1000, "req_per_s": 200.0,
    }  # fmt: skip
    return MeasuredRun(**{**row, **fields})


class Outcome(NamedTuple):
    """What a user of the command line saw: exit code, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


Cli = Callable[..., Outcome]
"""``mpmsim ARGS`` as the ``mpmsim`` fixture (tests/conftest.py) runs it."""


def finish_times(cpu: CPU, env: simpy.Environment, jobs: list[tuple[float, float]]) -> list[float]:
    """Start each (at_s, work_s) job on ``cpu`` at its time; when each finished."""
    done = [float("nan")] * len(jobs)

    def start(i: int, at: float, work: float):  # type: ignore[no-untyped-def]
        yield env.timeout(at)
        yield cpu.run(work)
        done[i] = env.now

    for i, (at, work) in enumerate(jobs):
        env.process(start(i, at, work))
    env.run()
    return done
