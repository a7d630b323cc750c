"""Every shipped example workload loads and runs, and tells the story its comments tell."""

from __future__ import annotations

from pathlib import Path

import pytest

import mpmsim
from tests.helpers import EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_examples() -> None:
    names = {p.name for p in EXAMPLE_FILES}
    assert {"primer-ab-prefork.yaml", "primer-ab-worker.yaml", "primer-ab-event.yaml"} <= names
    assert {"keepalive-idle-browsers.yaml", "slow-backend.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_runs(path: Path) -> None:
    data = mpmsim.run(path).to_dict()
    assert data["scenario"] == path.stem  # the name the tables and reports show
    assert data["throughput_rps"] > 0
    latency = data["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    load = mpmsim.load_scenario(path).load
    if load.kind == "closed" and load.requests is not None:  # like ab -n: every request answered
        assert data["completed"] + sum(data["errors"].values()) == load.requests
    else:
        assert data["completed"] > 0


def test_idle_keepalive_example_shows_event_serving_what_prefork_cannot() -> None:
    path = EXAMPLES / "keepalive-idle-browsers.yaml"
    event = mpmsim.run(path).to_dict()
    prefork = mpmsim.run(path, overrides=("server.mpm=prefork",)).to_dict()
    assert event["latency_ms"]["p95"] < 1000 < prefork["latency_ms"]["p95"]
    assert prefork["bottleneck"]["resource"] == "workers"


def test_slow_backend_example_runs_out_of_workers() -> None:
    data = mpmsim.run(EXAMPLES / "slow-backend.yaml").to_dict()
    assert data["bottleneck"]["resource"] == "workers"
    assert data["cpu_utilization"] < 0.5
