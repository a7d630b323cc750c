"""Every shipped example workload loads and runs; the public API is what __all__ says."""

from __future__ import annotations

import importlib

import pytest

import mpmsim
from tests.helpers import EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_examples() -> None:
    names = {p.name for p in EXAMPLE_FILES}
    assert {"primer-ab-prefork.yaml", "primer-ab-worker.yaml", "primer-ab-event.yaml"} <= names
    assert {"keepalive-idle-browsers.yaml", "slow-backend.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_runs(path: object) -> None:
    res = mpmsim.run(path)  # type: ignore[arg-type]
    data = res.to_dict()
    assert data["throughput_rps"] > 0
    assert data["completed"] > 0
    assert data["latency_ms"]["p95"] is not None


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


def test_public_api_is_sorted_and_importable() -> None:
    assert list(mpmsim.__all__) == sorted(mpmsim.__all__)
    for name in mpmsim.__all__:
        assert getattr(mpmsim, name) is not None
    assert importlib.import_module("mpmsim.cli")
