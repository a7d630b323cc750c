"""Per-class figures: each request class's throughput, latency and errors, like JMeter's labels."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from mpmsim.cli.render import render_table
from mpmsim.engine.classes import CDF_PERCENTS
from mpmsim.engine.replications import RunResult, run_prepared
from mpmsim.engine.summary import ci95
from tests.helpers import EXAMPLES, IDEAL_HW, Cli, prepared

TWO_CLASSES = [
    {"name": "fast", "weight": 3, "cpu_ms": 1.0},
    {"name": "slow", "weight": 1, "cpu_ms": 1.0, "wait_ms": {"dist": "exponential", "mean": 40}},
]


def _two_class_run(replications: int = 1, **load: Any) -> RunResult:
    spec = {"kind": "open", "sessions_per_s": 60, "client_closes": True, "duration_s": 40.0}
    spec.update(load)
    prep = prepared(
        hardware=dict(IDEAL_HW, vcpus=2),
        server={"mpm": "worker", "directives": {"KeepAlive": "Off"}},
        load=spec,
        warmup_s=5.0,
        mix=TWO_CLASSES,
    )
    return run_prepared(prep, replications)


@pytest.fixture(scope="module")
def two() -> RunResult:
    return _two_class_run()


def test_class_figures_match_the_request_rows(two: RunResult) -> None:
    """Each class's count, throughput and percentiles equal those of its own measured rows."""
    classes = two.to_dict()["classes"]
    rec = two.records[0]
    rows = two.requests_frame()
    start, end = rec["warmup_s"], rec["warmup_s"] + rec["window_s"]
    measured = rows[(rows.t_end_s >= start) & (rows.t_end_s <= end) & (rows.status == "ok")]
    for name in ("fast", "slow"):
        lat = measured[measured["class"] == name].latency_ms.to_numpy()
        c = classes[name]
        assert c["completed"] == len(lat) > 100
        assert c["throughput_rps"] == pytest.approx(len(lat) / rec["window_s"], rel=1e-3)
        for p in (50, 90, 95, 99):
            assert c["latency_ms"][f"p{p}"] == pytest.approx(np.percentile(lat, p), abs=1e-3)
        assert c["latency_ms"]["max"] == pytest.approx(lat.max(), abs=1e-3)
        assert c["latency_ms"]["quantiles"][49] == pytest.approx(c["latency_ms"]["p50"], abs=1e-3)
    total = sum(c["completed"] for c in classes.values())
    assert total == two.to_dict()["completed"]
    # the backend wait shows in the slow class only
    assert classes["slow"]["latency_ms"]["mean"] > classes["fast"]["latency_ms"]["mean"] + 20


def test_shares_follow_the_weights(two: RunResult) -> None:
    classes = two.to_dict()["classes"]
    assert classes["fast"]["weight_share"] == 0.75
    assert classes["fast"]["share"] + classes["slow"]["share"] == pytest.approx(1.0)
    # ~2,000 responses: the drawn share is within 4 standard errors of the weight's
    assert classes["fast"]["share"] == pytest.approx(0.75, abs=4 * np.sqrt(0.75 * 0.25 / 2000))


def test_intervals_like_the_whole_run() -> None:
    """Replications: a class's half-width is Student t over them; one replication: batch means."""
    many = _two_class_run(replications=3, duration_s=15.0)
    fast = many.to_dict()["classes"]["fast"]
    per_rep = [r["class.fast.throughput_rps"] for r in many.records]
    assert fast["throughput_rps"] == pytest.approx(float(np.mean(per_rep)), abs=1e-3)
    assert fast["throughput_rps_ci95"] == pytest.approx(ci95(per_rep), abs=1e-3)
    p95s = [r["class.fast.latency_p95_ms"] for r in many.records]
    assert fast["latency_ms_ci95"]["p95"] == pytest.approx(ci95(p95s), abs=1e-3)
    one = _two_class_run(duration_s=15.0)
    batches = one.records[0]["batches"]["class.slow.throughput_rps"]
    assert len(batches) == 10
    assert one.to_dict()["classes"]["slow"]["throughput_rps_ci95"] == pytest.approx(
        ci95(batches), abs=1e-3
    )


def test_errors_are_counted_in_their_class() -> None:
    """Clients give up after 50 ms: the slow class (40 ms mean wait) times out, the fast not."""
    res = _two_class_run(client_timeout_s=0.05, duration_s=20.0)
    data = res.to_dict()
    slow, fast = data["classes"]["slow"], data["classes"]["fast"]
    assert slow["errors"]["timeout"] > 10
    assert fast["errors"]["timeout"] == 0
    assert slow["errors"]["timeout"] + fast["errors"]["timeout"] == data["errors"]["timeout"]


def test_frames(two: RunResult) -> None:
    frame = two.classes_frame()
    assert list(frame["class"]) == ["fast", "slow"]
    assert {"throughput_rps", "throughput_rps_ci95", "latency_p95_ms", "share", "timeout"} <= set(
        frame.columns
    )
    cdf = two.latency_cdf_frame()
    assert len(cdf) == 2 * len(CDF_PERCENTS)
    for _, one in cdf.groupby("class"):
        assert list(one.percent) == list(CDF_PERCENTS)
        assert np.all(np.diff(one.latency_ms.to_numpy()) >= 0)  # a CDF never goes down
    flat = two.records_frame()
    assert "class.slow.latency_p95_ms" in flat.columns
    assert "batches" not in flat.columns and "class_quantiles_ms" not in flat.columns


def test_text_table_only_with_several_classes(two: RunResult) -> None:
    text = render_table(two.to_dict())
    table = text[text.index("per class") :].splitlines()
    assert table[1].split()[:3] == ["class", "share", "req/s"]
    assert table[2].split()[0] == "fast" and table[3].split()[0] == "slow"
    single = prepared(load={"kind": "closed", "clients": 2, "requests": 200}, mix=[TWO_CLASSES[0]])
    data = run_prepared(single).to_dict()
    assert list(data["classes"]) == ["fast"]
    assert "per class" not in render_table(data)


def test_run_json_has_classes_for_a_single_class(mpmsim: Cli) -> None:
    out = mpmsim(
        "run", str(EXAMPLES / "primer-ab-event.yaml"), "--json", "--replications", "1",
        "--set", "load.requests=2000",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    static = data["classes"]["static"]
    assert static["completed"] == data["completed"]
    assert static["latency_ms"]["p95"] == data["latency_ms"]["p95"]
    assert len(static["latency_ms"]["quantiles"]) == 99
    assert "per class" not in mpmsim("run", str(EXAMPLES / "primer-ab-event.yaml")).stdout
