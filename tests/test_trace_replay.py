"""``load.kind: trace``: a log's own arrivals and connections replayed through the simulator."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mpmsim.engine.replication import build_world, run_replication
from mpmsim.engine.replications import run_prepared
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import Prepared, prepare
from mpmsim.workloads.streams import stream
from mpmsim.workloads.trace import start_replay
from tests.helpers import IDEAL_HW, Cli, scenario_dict
from tests.logs import NASA, LoggedRequest, Traffic, format_line, shared_log, take, write_log

T0_US = 1_700_000_000_000_000


def _line(
    start_ms: float, duration_ms: float, client: str, port: int, path: str, closes: bool
) -> str:
    """One ``mpmsim``-format line of a request ``start_ms`` after T0."""
    request = LoggedRequest(
        start_us=T0_US + round(start_ms * 1000),
        duration_us=round(duration_ms * 1000),
        client=client,
        client_port=port,
        pid=1000,
        tid=1,
        connection_id="-",
        keepalive_requests=0,
        connection_status="-" if closes else "+",
        method="GET",
        path=path,
        protocol="HTTP/1.1",
        status=200,
        body_bytes=512,
        referer=None,
        user_agent=None,
    )
    return format_line(request, "mpmsim")


@pytest.fixture
def story_log(tmp_path: Path) -> Path:
    """Two connections: A sends /index.html at 0 and again 1 s after its response; B sends
    /api/items at 0.5 s. Lines in the order Apache writes them (by end)."""
    path = tmp_path / "story.log"
    lines = [
        _line(0, 10, "10.0.0.1", 1001, "/index.html", closes=False),
        _line(500, 20, "10.0.0.2", 2002, "/api/items", closes=True),
        _line(1010, 10, "10.0.0.1", 1001, "/index.html", closes=True),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _trace(log: Path, **load: Any) -> dict[str, Any]:
    """A trace load of ``log`` in the ``mpmsim`` format, with ``load`` keys on top."""
    return {"kind": "trace", "file": str(log), "format": "mpmsim", **load}


def _prepared(log: Path, mix: list[dict[str, Any]] | None = None, **parts: Any) -> Prepared:
    """A trace scenario on the ideal machine and costs (no overhead: times are the mix's)."""
    load = parts.pop("load", {})
    data = scenario_dict(
        server={"mpm": "event", "directives": {}},
        load=_trace(log, **load),
        mix=mix or [{"name": "static", "cpu_ms": 1.0}, {"name": "dynamic", "cpu_ms": 5.0}],
        **parts,
    )
    return prepare(load_scenario_data(data))


def _rows(prep: Prepared) -> list[tuple[float, float, str, bool]]:
    """(start, end, class, new connection) of every request, by start."""
    frame = run_prepared(prep).requests_frame()
    rows = zip(frame.t_start_s, frame.t_end_s, frame["class"], frame.new_connection, strict=True)
    return sorted((round(s, 6), round(e, 6), c, bool(n)) for s, e, c, n in rows)


def test_connections_start_when_logged_and_requests_follow_their_gaps(story_log: Path) -> None:
    prep = _prepared(story_log, load={"duration_s": 2.0})
    assert _rows(prep) == [
        (0.0, 0.001, "static", True),  # 1 ms of the static class's CPU
        (0.5, 0.505, "dynamic", True),
        (1.001, 1.002, "static", False),  # logged gap 1 s after the response, same connection
    ]


def test_speedup_compresses_arrivals_not_the_gaps_within_a_connection(story_log: Path) -> None:
    prep = _prepared(story_log, load={"speedup": 2, "duration_s": 2.0})
    starts = [row[0] for row in _rows(prep)]
    assert starts == [0.0, 0.25, 1.001]


def test_logged_service_replays_each_requests_d(story_log: Path) -> None:
    prep = _prepared(story_log, load={"service": "logged", "cpu_share": 0.5, "duration_s": 2.0})
    assert _rows(prep) == [
        (0.0, 0.01, "static", True),  # %D 10 ms: 5 ms CPU, 5 ms wait
        (0.5, 0.52, "dynamic", True),
        (1.01, 1.02, "static", False),
    ]
    trace = run_prepared(prep).to_dict()["trace"]
    assert trace["service_ms"]["logged"]["p50"] == pytest.approx(10.0)
    assert trace["service_ms"]["simulated"]["mean"] == pytest.approx(40 / 3, abs=1e-4)


def test_url_classes_name_mix_classes(story_log: Path) -> None:
    mix = [
        {"name": "api", "cpu_ms": 2.0},
        {"name": "static", "cpu_ms": 1.0},
        {"name": "dynamic", "cpu_ms": 5.0},
    ]
    prep = _prepared(story_log, mix, load={"classes": ["^/api/=api"], "duration_s": 2.0})
    assert [row[2] for row in _rows(prep)] == ["static", "api", "static"]


def test_the_trace_block(story_log: Path) -> None:
    data = run_prepared(_prepared(story_log, load={"duration_s": 2.0})).to_dict()
    trace = data["trace"]
    assert trace["connection_rule"] == "client-port"
    assert (trace["connections"], trace["requests_logged"], trace["requests_replayed"]) == (2, 3, 3)
    assert trace["offered_rps"] == pytest.approx(3 / 2.0)
    assert "service_ms" in trace  # the mpmsim format logs %D
    assert data["completed"] == 3


# -- a longer synthetic log ----------------------------------------------------------------------
TRAFFIC = Traffic(connections_per_s=5.0, requests_per_connection=3.0, think_time_s=0.5)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LoggedRequest]]:
    """2,000 s of known traffic (about 15 requests/s), as a plain log."""
    folder = tmp_path_factory.mktemp("logs")
    truth = take(TRAFFIC, 30_000, seed=3)
    path = folder / "synthetic.log"
    write_log(path, TRAFFIC, len(truth), "mpmsim", seed=3)
    return path, truth


def _idle_gaps(truth: list[LoggedRequest], timeout_s: float = 5.0) -> int:
    """Gaps within a connection longer than KeepAliveTimeout (the replay splits there)."""
    last_end: dict[str, int] = {}
    gaps = 0
    for r in sorted(truth, key=lambda r: r.start_us):
        previous = last_end.get(r.connection_id)
        gaps += previous is not None and r.start_us - previous > timeout_s * 1e6
        last_end[r.connection_id] = r.end_us
    return gaps


def test_every_logged_request_is_replayed_on_its_own_connection(
    synthetic: tuple[Path, list[LoggedRequest]],
) -> None:
    path, truth = synthetic
    prep = _prepared(path, load={"duration_s": 2100.0})  # time for the last connections
    data = run_prepared(prep).to_dict()
    trace = data["trace"]
    assert trace["requests_logged"] == len(truth)
    assert trace["connections"] == len({r.connection_id for r in truth}) + _idle_gaps(truth)
    assert data["requests"]["sent"] == len(truth)
    assert trace["late_requests"] == 0


def test_simulated_service_lines_up_with_the_logged_d(
    synthetic: tuple[Path, list[LoggedRequest]],
) -> None:
    """No CPU, no network: each replayed request takes exactly its logged %D, row by row."""
    path, _ = synthetic
    prep = _prepared(path, load={"service": "logged", "cpu_share": 0.0, "window": [0, 300]})
    rep = run_replication(prep, 0)
    latency_ms = (rep.requests["t_end_s"] - rep.requests["t_start_s"]) * 1000.0
    assert len(latency_ms) > 3000
    np.testing.assert_allclose(latency_ms, rep.trace["logged_ms"], atol=1e-6)


def test_a_window_replays_its_part_with_a_lead_in_for_the_warmup(
    synthetic: tuple[Path, list[LoggedRequest]],
) -> None:
    path, truth = synthetic
    prep = _prepared(path, load={"window": [1000, 1200]}, warmup_s=50)
    plan = prep.trace
    assert plan is not None
    assert (plan.from_s, plan.start_s, plan.end_s, plan.lead_s) == (950, 1000, 1200, 50)
    assert plan.offset_bytes > 0  # found by bisection, not by reading the first 950 s
    assert prep.duration_s == pytest.approx(250)
    origin = truth[0].start_us / 1e6
    starts = np.array([r.start_us / 1e6 - origin for r in truth])
    rep = run_replication(prep, 0)
    assert rep.trace["requests_logged"] == int(((starts >= 950) & (starts < 1200)).sum())
    from_start = run_replication(
        dataclasses.replace(prep, trace=dataclasses.replace(plan, offset_bytes=0)), 0
    )
    for column, values in rep.requests.items():
        np.testing.assert_array_equal(values, from_start.requests[column], err_msg=column)
    result = run_prepared(prep).to_dict()
    in_window = ((starts >= 1000) & (starts < 1200)).sum() / 200.0
    assert result["trace"]["offered_rps"] == pytest.approx(in_window, rel=0.01)
    assert result["warmup_s"] == 50


def test_a_gzip_log_replays_as_the_plain_one(
    synthetic: tuple[Path, list[LoggedRequest]], tmp_path: Path
) -> None:
    path, _ = synthetic
    packed = tmp_path / "synthetic.log.gz"
    packed.write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
    plain = run_replication(_prepared(path, load={"window": [400, 500]}, warmup_s=20), 0)
    zipped = run_replication(_prepared(packed, load={"window": [400, 500]}, warmup_s=20), 0)
    for column, values in plain.requests.items():
        np.testing.assert_array_equal(values, zipped.requests[column], err_msg=column)


def test_speedup_two_offers_twice_the_requests_per_second(
    synthetic: tuple[Path, list[LoggedRequest]],
) -> None:
    path, _ = synthetic
    offered = []
    for speedup in (1.0, 2.0):
        prep = _prepared(path, load={"window": [0, 600], "speedup": speedup})
        data = run_prepared(prep).to_dict()
        offered.append(data["trace"]["offered_rps"])
        assert prep.duration_s == pytest.approx(600 / speedup)
    assert offered[1] == pytest.approx(2 * offered[0], rel=0.01)


def test_the_scenarios_duration_caps_a_replay_the_loads_sets_it(
    synthetic: tuple[Path, list[LoggedRequest]],
) -> None:
    path, _ = synthetic
    window = {"window": [0, 600]}
    assert _prepared(path, load=window, duration_s=100).duration_s == 100
    assert _prepared(path, load=window, duration_s=3600).duration_s == pytest.approx(600)
    assert _prepared(path, load={**window, "duration_s": 900}, duration_s=100).duration_s == 900


def _peak_buffered(prep: Prepared) -> int:
    """The most records and connections the replay's stream held at once (sampled each s)."""
    world = build_world(prep)
    assert prep.trace is not None and prep.duration_s is not None
    tally = start_replay(
        world.client, prep.trace, prep.classes, stream(1, 0, "trace"), start_s=0.0,
        until_s=prep.duration_s,
    )  # fmt: skip
    peak = [0]

    def watch() -> Any:
        while True:
            peak[0] = max(peak[0], tally.stream.buffered)
            yield world.env.timeout(1.0)

    world.env.process(watch())
    world.env.run(until=prep.duration_s)
    tally.stream.close()
    return peak[0]


def test_memory_does_not_grow_with_the_log(synthetic: tuple[Path, list[LoggedRequest]]) -> None:
    path, _ = synthetic
    short = _peak_buffered(_prepared(path, load={"window": [0, 400]}))
    long = _peak_buffered(_prepared(path, load={"window": [0, 1600]}))
    assert short > 0
    assert long < 1.5 * short  # four times the log, about the same buffers
    assert long < 1000  # ~15 requests/s: 450 in the 30 s look-ahead, connections besides


def test_a_line_written_late_is_still_replayed(tmp_path: Path) -> None:
    """A 90 s download is logged when it ends, after lines that started later."""
    path = tmp_path / "late.log"
    lines = [_line(250 * t, 5, f"10.0.1.{t % 250}", 1000 + t, "/a.css", True) for t in range(400)]
    lines.insert(370, _line(2000, 90_000, "10.0.2.1", 4000, "/big.iso", True))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = run_prepared(_prepared(path, load={"duration_s": 120.0})).to_dict()
    assert data["trace"]["late_requests"] == 1
    assert data["requests"]["sent"] == 401


def test_the_nasa_log_replays_whole(tmp_path: Path) -> None:
    """11 hours, 20,000 requests, connections by client and gaps (whole-second times)."""
    log = shared_log(NASA)
    prep = _prepared(log, load={"format": "common"}, warmup_s=0)
    data = run_prepared(prep).to_dict()
    trace = data["trace"]
    assert trace["connection_rule"] == "client-gaps"
    assert trace["requests_logged"] == trace["requests_replayed"] == 20_000
    # mpmsim trace fit rebuilds 10,139 connections from the same log and rule
    assert trace["connections"] == pytest.approx(10_139, rel=0.01)
    assert "service_ms" not in trace  # common has no %D
    assert data["completed"] == pytest.approx(20_000, abs=5)


# -- bad input ---------------------------------------------------------------------------------


def _scenario_file(folder: Path, load: dict[str, Any], mix: list[dict[str, Any]]) -> Path:
    data = scenario_dict(hardware=dict(IDEAL_HW), load=load, mix=mix)
    path = folder / "replay.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


TWO_CLASSES = [{"name": "static", "cpu_ms": 1.0}, {"name": "dynamic", "cpu_ms": 5.0}]


@pytest.mark.parametrize(
    ("load", "mix", "message"),
    [
        (
            {"file": "story.log"},
            [{"name": "static", "cpu_ms": 1}, {"name": "page", "cpu_ms": 1}],
            "mix: a trace",
        ),
        ({"file": "nope.log"}, TWO_CLASSES, "load.file: no such file"),
        ({"file": "story.log", "format": "common"}, TWO_CLASSES, "do not match the format"),
        ({"file": "story.log", "window": [5, 9]}, TWO_CLASSES, "load.window: starts at 5 s"),
        ({"file": "story.log", "window": [9, 5]}, TWO_CLASSES, "load.window"),
        ({"file": "story.log", "speedup": 0}, TWO_CLASSES, "load.speedup"),
        ({"file": "story.log", "sessions": "by-magic"}, TWO_CLASSES, "load.sessions.rule"),
        ({"file": "story.log", "classes": ["(=x"]}, TWO_CLASSES, "load.classes"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    story_log: Path, mpmsim: Cli, load: dict[str, Any], mix: list[dict[str, Any]], message: str
) -> None:
    scenario = _scenario_file(story_log.parent, {"kind": "trace", "format": "mpmsim", **load}, mix)
    code, _, err = mpmsim("run", str(scenario))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert str(scenario) in err and message in err


def test_logged_service_needs_a_logged_d(tmp_path: Path, mpmsim: Cli) -> None:
    log = tmp_path / "common.log"
    log.write_text('10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 5\n')
    load = {"kind": "trace", "file": "common.log", "format": "common", "service": "logged"}
    code, _, err = mpmsim("run", str(_scenario_file(tmp_path, load, TWO_CLASSES)))
    assert code == 2 and "load.service: the log's format has no %D" in err


def test_a_one_class_mix_takes_every_request(story_log: Path) -> None:
    prep = _prepared(story_log, [{"name": "page", "cpu_ms": 2.0}], load={"duration_s": 2.0})
    assert {row[2] for row in _rows(prep)} == {"page"}


def test_the_shipped_example_travels_with_its_log(tmp_path: Path, mpmsim: Cli) -> None:
    code, _, err = mpmsim("examples", "--copy", str(tmp_path))
    assert code == 0, err
    code, out, err = mpmsim("run", str(tmp_path / "trace-replay.yaml"))
    assert code == 0, err
    trace = next(line for line in out.splitlines() if line.startswith("trace "))
    assert "of 6,000 logged requests replayed" in trace and "(client-port)" in trace
    assert "service ms p50/p95 logged" in trace
