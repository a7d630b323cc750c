"""``mpmsim optimize``: a known optimum, the Apache block, determinism and resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import mpmsim
from mpmsim.engine.replications import run
from mpmsim.models.apache.directives import apply_apache_rules, normalize_directives
from mpmsim.search.block import check_block
from mpmsim.search.optimizer import optimize
from mpmsim.search.space import SPARES, Candidate
from tests.helpers import EXAMPLES

# Prefork, 64 closed clients, each request holds its process 100 ms on a backend: throughput is
# MaxRequestWorkers x 10 req/s until RAM stops it. Children of 10 MiB in 300 MiB (270 MiB after
# the 10 % headroom) allow 24 of them on the grid of 8s, so the answer is MaxRequestWorkers 24.
RAM_BOUND: dict[str, Any] = {
    "name": "ram-bound",
    "seed": 3,
    "warmup_s": 4,
    "hardware": {"base": "t3.medium", "os_reserved_mib": 0, "burst": {"mode": "unlimited"}},
    "costs": {"base": "default", "process_mib": 10.0},
    "server": {"mpm": "prefork", "directives": {"KeepAlive": "Off"}},
    "load": {"kind": "closed", "clients": 64, "requests": 3000},
    "mix": [{"name": "backend", "cpu_ms": 0.2, "wait_ms": 100.0, "response_bytes": 2000}],
}
RAM = 300


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "ram-bound.yaml"
    path.write_text(yaml.safe_dump(RAM_BOUND), encoding="utf-8")
    return path


def _body(data: dict[str, Any]) -> dict[str, Any]:
    """Everything but the wall-clock ``timing`` key."""
    return {k: v for k, v in data.items() if k != "timing"}


def test_ram_binds_at_the_known_optimum(tmp_path: Path) -> None:
    path = _scenario(tmp_path)
    res = mpmsim.optimize(path, ram_mib=RAM, cache_dir=tmp_path / "cache")
    assert isinstance(res, mpmsim.OptimizeResult)
    best = res.best
    assert best is not None
    assert best["MaxRequestWorkers"] == 24
    assert best["binding"]["constraint"] == "ram"
    assert best["throughput_rps"] == pytest.approx(240, rel=0.05)
    table = res.table
    assert list(table["mpm"]) == ["prefork"]
    pts = res.points.sort_values("MaxRequestWorkers")
    assert pts["throughput_rps"].is_monotonic_increasing  # more workers, more throughput
    data = res.to_dict()
    assert data["search"]["simulations"] == len(data["points"]) == 3
    # 300 MiB / (10.0 MiB of the child + 2.36 MiB shared with its siblings: RSS)
    assert data["winner"]["apache2buddy"]["max_children"] == 24
    json.dumps(data)  # JSON-serialisable as --json prints it


def test_block_is_accepted_and_reproduces_the_throughput(tmp_path: Path) -> None:
    path = _scenario(tmp_path)
    res = optimize(path, ram_mib=RAM, cache_dir=tmp_path / "cache")
    best = res.best
    assert best is not None
    assert res.block.startswith("<IfModule mpm_prefork_module>")
    effective, warnings = check_block(res.block, vcpus=2)
    assert warnings == []
    assert effective.MaxRequestWorkers == best["MaxRequestWorkers"]
    cand = Candidate("prefork", best["MaxRequestWorkers"], best["ThreadsPerChild"])
    again = run(path, overrides=(f"hardware.ram_mib={RAM}", *cand.overrides()), replications=3)
    assert again.to_dict()["throughput_rps"] == best["throughput_rps"]


def test_event_block_has_no_adjustments(tmp_path: Path) -> None:
    spec = dict(RAM_BOUND, server={"mpm": "event", "directives": {}})
    path = tmp_path / "event.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    res = optimize(path, cache_dir=tmp_path / "cache", budget=4)
    assert res.best is not None
    assert "<IfModule mpm_event_module>" in res.block
    effective, warnings = check_block(res.block, vcpus=2)
    assert warnings == []
    assert effective.MaxRequestWorkers % effective.ThreadsPerChild == 0
    assert effective.ServerLimit * effective.ThreadsPerChild == effective.MaxRequestWorkers
    assert res.to_dict()["search"]["simulations"] <= 4


@pytest.mark.slow
def test_same_json_on_one_job_two_jobs_and_dask(tmp_path: Path) -> None:
    """Byte-identical JSON apart from ``timing``; Dask on a LocalCluster of 2 thread workers."""
    path = _scenario(tmp_path)
    outs = [
        optimize(path, ram_mib=RAM, cache_dir=tmp_path / name, **kw).to_dict()
        for name, kw in (
            ("one", {"jobs": 1}),
            ("two", {"jobs": 2}),
            ("dask", {"scheduler": "dask://local"}),
        )
    ]
    texts = [json.dumps(_body(d), sort_keys=True) for d in outs]
    assert texts[0] == texts[1] == texts[2]
    assert [d["timing"]["executor"] for d in outs] == ["local", "processes", "dask"]


def test_resume_repeats_no_simulation(tmp_path: Path) -> None:
    path = _scenario(tmp_path)
    cache = tmp_path / "cache"
    partial = optimize(path, ram_mib=RAM, cache_dir=cache, budget=2)  # as if interrupted
    assert partial.to_dict()["timing"]["computed"] == 2
    full = optimize(path, ram_mib=RAM, cache_dir=cache, resume=True).to_dict()
    assert full["timing"]["cache_hits"] == 2
    assert full["timing"]["computed"] == full["search"]["simulations"] - 2
    again = optimize(path, ram_mib=RAM, cache_dir=cache, resume=True).to_dict()
    assert again["timing"]["computed"] == 0
    assert _body(again) == _body(full)
    fresh = optimize(path, ram_mib=RAM, cache_dir=tmp_path / "fresh").to_dict()
    assert _body(fresh) == _body(full)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mpmsim", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_json_and_progress(tmp_path: Path) -> None:
    path = _scenario(tmp_path)
    proc = _cli("optimize", str(path), "--ram-mib", str(RAM), "--json", "--cache-dir",
                str(tmp_path / "c"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["winner"]["MaxRequestWorkers"] == 24
    assert "best so far prefork MRW=24" in proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--mpm", "bogus"), "--mpm"),
        (("--replications", "1"), "--replications"),
        (("--ram-mib", "-10"), "ram_mib"),
        (("--headroom", "1.5"), "--headroom"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    path = _scenario(tmp_path)
    proc = _cli("optimize", str(path), "--cache-dir", str(tmp_path / "c"), *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mpmsim: error:") and needle in lines[0]


@settings(max_examples=40, deadline=None)
@given(
    mpm=st.sampled_from(["prefork", "worker", "event"]),
    children=st.integers(1, 40),
    tpc=st.sampled_from([25, 32, 50, 64]),
    policy=st.sampled_from(SPARES),
)
def test_every_candidate_is_taken_by_apache_as_written(
    mpm: str, children: int, tpc: int, policy: str
) -> None:
    """Sizes and spare policies never trigger one of Apache's start-up adjustments."""
    tpc = 1 if mpm == "prefork" else tpc
    cand = Candidate(mpm, children * tpc, tpc, policy)
    raw = {k: str(v) for k, v in cand.directives().items()}
    values, notes = normalize_directives(raw, source="<test>")
    effective, warnings = apply_apache_rules(mpm, values, vcpus=2)
    assert notes == [] and warnings == []
    assert effective.MaxRequestWorkers == cand.max_request_workers
    assert effective.ServerLimit == cand.server_limit


def test_spares_are_tried_on_the_best(tmp_path: Path) -> None:
    path = _scenario(tmp_path)
    res = optimize(path, ram_mib=RAM, cache_dir=tmp_path / "cache", spares=True)
    pts = res.points
    best = res.best
    assert best is not None
    at_best = pts[pts["MaxRequestWorkers"] == best["MaxRequestWorkers"]]
    # The scenario sets no spare settings, so "defaults" is what it already ran: not repeated.
    assert sorted(at_best["spares"]) == ["given", "started"]
    assert "defaults" not in set(pts["spares"])
    effective, warnings = check_block(res.block, vcpus=2)
    assert warnings == []
    if best["spares"] == "started":
        assert effective.StartServers == best["MaxRequestWorkers"]


def test_default_cache_is_under_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = _scenario(tmp_path)
    data = optimize(path, ram_mib=RAM, budget=1).to_dict()
    folder = tmp_path / "xdg" / "mpmsim" / "optimize"
    assert data["timing"]["cache_dir"] == str(folder)
    assert len(list(folder.glob("*.json"))) == 1
    assert not (tmp_path / ".mpmsim-cache").exists()  # nothing beside the user's scenario


def test_unwritable_cache_is_turned_off_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    data = optimize(_scenario(tmp_path), ram_mib=RAM, budget=1, cache_dir=blocker / "c").to_dict()
    assert data["search"]["simulations"] == 1
    assert data["timing"]["cache_problem"].startswith("cache off: cannot write")


@pytest.mark.slow
def test_all_started_spares_rescue_prefork_from_the_spawn_ramp(tmp_path: Path) -> None:
    """Idle keep-alive browsers pin ~650 prefork children; spawning them (1, 2, 4 ... 32 a
    second) takes longer than the warm-up, so no size meets a 500 ms p95 with the scenario's
    spares, while starting every child at once does."""
    path = EXAMPLES / "keepalive-idle-browsers.yaml"
    kw: dict[str, Any] = {"mpm": "prefork", "p95_ms": 500, "jobs": 2}
    plain = optimize(path, cache_dir=tmp_path / "a", **kw)
    assert plain.best is None
    rescued = optimize(path, cache_dir=tmp_path / "b", spares=True, **kw)
    best = rescued.best
    assert best is not None and best["spares"] == "started"
    assert best["p95_ms"] <= 500
    effective, warnings = check_block(rescued.block, vcpus=2)
    assert warnings == [] and effective.StartServers == best["MaxRequestWorkers"]


# Prefork browsers: 20 visitors a second, 3 pages each, 1.5 s apart; KeepAliveTimeout 5 pins a
# child per visitor for ~8 s (~160 children), KeepAlive Off only while a page is served.
BROWSERS: dict[str, Any] = {
    "name": "browsers",
    "seed": 5,
    "duration_s": 20,
    "warmup_s": 8,
    "hardware": {"base": "t3.medium", "burst": {"mode": "unlimited"}},
    "server": {
        "mpm": "prefork",
        "directives": {
            "KeepAlive": "On",
            "KeepAliveTimeout": 5,
            "StartServers": 100,  # children ready, so the spawn ramp does not dominate
            "MinSpareServers": 50,
            "MaxSpareServers": 100,
        },
    },
    "load": {
        "kind": "open",
        "sessions_per_s": 20,
        "requests_per_session": 3,
        "think_time_s": 1.5,
        "network_rtt_ms": 20,
    },
    "mix": [{"name": "page", "cpu_ms": 1.0, "response_bytes": 8000}],
}


@pytest.mark.slow
def test_keepalive_policies_cut_pinned_workers(tmp_path: Path) -> None:
    path = tmp_path / "browsers.yaml"
    path.write_text(yaml.safe_dump(BROWSERS), encoding="utf-8")
    plain = optimize(path, cache_dir=tmp_path / "a", jobs=2).best
    res = optimize(path, cache_dir=tmp_path / "b", keepalive=True, jobs=2)
    best = res.best
    assert plain is not None and best is not None
    assert best["keepalive"] != "given"
    assert best["memory_peak_mib"] < plain["memory_peak_mib"]
    assert best["MaxRequestWorkers"] < plain["MaxRequestWorkers"]
    assert "\nKeepAlive " in res.block  # the changed KeepAlive goes below the MPM's section
    _, warnings = check_block(res.block, vcpus=2)
    assert warnings == []
    assert set(res.points["keepalive"]) == {"given", "Off", "1", "2"}
    again = run(path, overrides=tuple(best["run_args"][5::2]), replications=3).to_dict()
    assert again["throughput_rps"] == best["throughput_rps"]
    assert again["memory_mib"]["peak"] == best["memory_peak_mib"]


def test_keepalive_is_not_tried_when_clients_do_not_keep_alive(tmp_path: Path) -> None:
    res = optimize(_scenario(tmp_path), ram_mib=RAM, cache_dir=tmp_path / "c", keepalive=True)
    assert set(res.points["keepalive"]) == {"given"}


def test_keepalive_is_not_tried_for_one_request_connections_the_client_closes(
    tmp_path: Path,
) -> None:
    spec = dict(BROWSERS, load=dict(BROWSERS["load"], requests_per_session=1, client_closes=True))
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    res = optimize(path, cache_dir=tmp_path / "c", keepalive=True, jobs=2)
    assert set(res.points["keepalive"]) == {"given"}


def test_replications_default_to_the_scenarios_when_more(tmp_path: Path) -> None:
    spec = dict(RAM_BOUND, replications=4)
    path = tmp_path / "four.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert (
        optimize(path, ram_mib=RAM, cache_dir=tmp_path / "a", budget=1).to_dict()["replications"]
        == 4
    )
    assert (
        optimize(_scenario(tmp_path), ram_mib=RAM, cache_dir=tmp_path / "b", budget=1).to_dict()[
            "replications"
        ]
        == 3
    )  # RAM_BOUND asks for 1: too few to compare, so 3


def test_apache2buddy_sentence_shows_its_arithmetic() -> None:
    """The children the rule counts, times the threads of each: 3584 / 3.32 -> 1079 x 25."""
    from mpmsim.search.row_notes import versus_buddy

    buddy = {"child_rss_mib": 3.32, "max_children": 1079, "max_request_workers": 26975,
             "request_mib_per_worker": 0.0}  # fmt: skip
    text = versus_buddy(buddy, 150, {"constraint": "throughput", "bottleneck": "cpu"})
    assert "MaxRequestWorkers 26975 (1079 children = (RAM - os_reserved) / 3.32 MiB" in text
    assert "x 25 threads per child" in text
    prefork = {**buddy, "max_request_workers": 1079}
    assert "threads per child" not in versus_buddy(prefork, 150, {"constraint": "ram"})


def test_a_winner_on_credits_says_so_with_its_intervals_and_apache_log(tmp_path: Path) -> None:
    """The primer on a t3.medium: 4,000 req/s are carried at 100 % CPU, five times its 20 %
    baseline, so only while a balance lasts; the text says it beside the verdict, with the
    figures' 95 % intervals, and shows what Apache logged in the winner's run."""
    from mpmsim.search.text import render_text

    res = optimize(EXAMPLES / "primer-ab-event.yaml", target_rps=4000, cache_dir=tmp_path / "cache")
    data = res.to_dict()
    burst = data["winner"]["burst"]
    assert burst["sustainable"] is False and burst["cpu_utilization"] > 0.9
    assert "credits_initial: 0" in burst["empty_balance_set"]
    text = render_text(data)
    verdict = text.split("memory assumed")[0]
    assert "while the CPU credits last" in verdict and "CPU CREDITS: t3.medium ran at" in verdict
    assert "95 % CI: throughput" in verdict and "± " in verdict
    assert "Apache's error_log in the winner's run" in text
    assert [e["code"] for e in data["winner"]["error_log"]] == ["AH00484"]  # at MaxRequestWorkers


def test_a_machine_too_small_for_any_size_says_what_the_smallest_needs(tmp_path: Path) -> None:
    """dynamic-site's requests hold 24 MiB each: 25 workers cannot fit in 461 MiB at worst. A
    goal no size meets (exit 1, the JSON and its advice), not bad input."""
    from mpmsim.search.text import render_text

    data = optimize(EXAMPLES / "dynamic-site.yaml", ram_mib=1024, cache_dir=tmp_path / "c",
                    overrides=("load.sessions_per_s=4",)).to_dict()  # fmt: skip
    assert (data["goals_met"], data["winner"], data["closest"]) == (False, None, None)
    assert data["search"]["simulations"] == 0
    first = data["advice"][0]
    assert first.startswith("memory: no configuration fits in 461 MiB")
    assert "the smallest, event MaxRequestWorkers 25" in first and "24,576 KiB" in first
    assert "none was simulated\n  advice: memory: no configuration fits" in render_text(data)


@pytest.mark.slow
def test_an_mpm_with_no_size_in_ram_keeps_its_row(tmp_path: Path) -> None:
    """--mpm all: prefork's 8 children fit where worker's and event's 25 threads do not; every
    MPM asked for has its row in the best-per-MPM table, with why."""
    from mpmsim.search.text import render_text

    res = optimize(EXAMPLES / "dynamic-site.yaml", ram_mib=1100, mpm="all",
                   cache_dir=tmp_path / "c", overrides=("load.sessions_per_s=4",))  # fmt: skip
    rows = {r["mpm"]: r for r in res.to_dict()["best_per_mpm"]}
    assert set(rows) == {"prefork", "worker", "event"}
    for m in ("worker", "event"):
        assert (
            rows[m]["feasible"] is False and "no size fits in the 529 MiB budget" in rows[m]["note"]
        )
    assert "event    no configuration met the goals (no size fits" in render_text(res.to_dict())
