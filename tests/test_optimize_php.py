"""``mpmsim optimize --mpm all`` on PHP says what decides its answer.

The PHP memory each set-up assumes comes before the table (mod_php's child growing to
memory_limit when nothing recycles it, the FPM child and master, their cost model); the pool's
use at the winner is printed, with a latency hint when it runs busy without a p95 goal; the
``check it`` command sets each key once and reproduces the winner; every printed Apache block
starts without adjustment or a run-time MinSpare* error, small MaxRequestWorkers included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mpmsim.engine.replications import run
from mpmsim.search.assumptions import assumption_lines, memory_assumptions
from mpmsim.search.block import apache_block, check_block, parse_block
from mpmsim.search.check_command import last_of_each
from mpmsim.search.optimizer import optimize
from mpmsim.search.php import php_concurrency, php_setup_sets, pool_use
from mpmsim.search.space import (
    Candidate,
    fit_spares,
    spare_warnings,
)
from mpmsim.search.text import render_text
from mpmsim.spec.reading import load_scenario
from mpmsim.spec.resolve import prepare
from tests.helpers import EXAMPLES

MODPHP = EXAMPLES / "php-modphp-prefork.yaml"
FPM = EXAMPLES / "php-fpm-event.yaml"


def _short(tmp_path: Path, source: Path, **changes: Any) -> Path:
    data = yaml.safe_load(source.read_text())
    data.update(duration_s=20, warmup_s=5, **changes)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data))
    return path


def _setups(path: Path, *more: str) -> list[Any]:
    sets, _ = php_setup_sets(load_scenario(path))
    return [
        prepare(load_scenario(path, (*sets, *more, f"server.mpm={m}")))
        for m in ("prefork", "event")
    ]


def test_php_assumptions_say_mod_php_grows_to_memory_limit_unless_recycled() -> None:
    prefork, event = _setups(FPM)
    a = memory_assumptions(prefork, [prefork, event])
    mod, pool = a["php"]
    assert mod["kind"] == "mod_php" and mod["recycled_after_requests"] == 0
    assert mod["memory_limit_mib"] == 128.0 and mod["grown_mib"] == 128.0
    assert mod["child_php_mib"] == pytest.approx(mod["base_mib"] + 128.0)
    assert pool["kind"] == "php_fpm" and pool["recycled_after_requests"] == 500
    assert pool["grown_mib"] == pytest.approx(500 * pool["growth_mib_per_request"])
    text = "\n".join(assumption_lines(a))
    assert (
        "never recycled (nothing: MaxConnectionsPerChild 0), so it grows to memory_limit 128"
        in text
    )
    assert "recycled after 500 requests (pm.max_requests 500)" in text
    assert "modphp_child_mib: " in text and "fpm_child_mib: " in text and "master 11 MiB" in text
    recycled, _ = _setups(FPM, "server.directives.MaxConnectionsPerChild=100")
    again = memory_assumptions(recycled, [recycled])["php"][0]
    # 100 connections x MaxKeepAliveRequests 100 requests, 0.01 MiB each: 100 MiB < 128 MiB
    assert again["recycled_after_requests"] == 10_000 and again["grown_mib"] == pytest.approx(100)
    assert "recycled after 10000 requests (MaxConnectionsPerChild 100)" in "\n".join(
        assumption_lines(memory_assumptions(recycled, [recycled]))
    )


def test_a_plain_apache_has_no_php_assumptions() -> None:
    prep = prepare(load_scenario(EXAMPLES / "primer-ab-event.yaml"))
    a = memory_assumptions(prep)
    assert a["php"] == [] and not any("PHP" in line for line in assumption_lines(a))


def _pool_row(busy: float, size: int) -> dict[str, Any]:
    backends = {
        "www": {"kind": "php_fpm", "pm.max_children": size, "busy_mean": busy, "busy_peak": size,
                "queue_mean": 0.5, "queue_peak": 4},
        "api": {"kind": "proxy", "concurrency": 4, "busy_mean": 3.9},
    }  # fmt: skip
    return pool_use({"backends": backends})


def test_pool_use_and_the_latency_hint() -> None:
    from mpmsim.search.text import _pool_use_lines

    row = _pool_row(3.4, 4)
    assert list(row["pools"]) == ["www"] and row["pools"]["www"]["utilization"] == 0.85
    lines = _pool_use_lines(row, latency_goal=False)
    assert lines[0].startswith("pool www at the winner: 3.40 of 4 children busy on average (85%)")
    assert len(lines) == 2 and "--p95-ms" in lines[1] and "larger" in lines[1]
    assert len(_pool_use_lines(row, latency_goal=True)) == 1
    assert len(_pool_use_lines(_pool_row(2.0, 4), latency_goal=False)) == 1
    assert pool_use({}) == {} and pool_use({"backends": {}}) == {}


def test_last_of_each_keeps_one_assignment_per_key() -> None:
    sets = ["a.b=1", "x={k: 1}", "a.b=2", "x.k=3", "x={k: 4}", "c=5"]
    assert last_of_each(sets) == ["a.b=2", "x.k=3", "x={k: 4}", "c=5"]
    assert last_of_each(["p=1", "q=2"]) == ["p=1", "q=2"]


@pytest.mark.parametrize("mpm", ["prefork", "worker", "event"])
def test_spares_above_max_request_workers_are_fitted_within_it(mpm: str) -> None:
    tpc = 1 if mpm == "prefork" else 25
    cand = Candidate(mpm, 50, tpc)
    name = "MinSpareServers" if mpm == "prefork" else "MinSpareThreads"
    assert fit_spares(mpm, {**cand.directives(), name: 75}) == {name: 50}
    assert fit_spares(mpm, {**cand.directives(), name.lower(): 40}) == {}
    sets = cand.overrides({name: 80})
    assert f"server.directives.{name}=50" in sets
    assert spare_warnings(mpm, {"MaxRequestWorkers": 50, name: 75})[0].split(":")[0] in {
        "AH00161",
        "AH00287",
        "AH10159",
    }
    assert spare_warnings(mpm, {"MaxRequestWorkers": 50, name: 50}) == []


def _blocks(d: dict[str, Any]) -> list[str]:
    rows = [d["winner"], d["closest"]]
    return [r["block"] for r in rows if r is not None]


def _assert_starts_as_written(block: str) -> None:
    mpm, raw = parse_block(block)
    effective, warnings = check_block(block, vcpus=2)
    assert warnings == [], block
    assert apache_block(mpm, effective.as_dict(), None) == block  # every value as Apache runs it
    assert int(raw["MaxRequestWorkers"]) == effective.MaxRequestWorkers


@pytest.mark.slow
@pytest.mark.parametrize("mpm", ["prefork", "worker", "event"])
def test_every_printed_block_of_a_small_site_starts_as_written(tmp_path: Path, mpm: str) -> None:
    """A light load wants few workers, so Apache's default spares (prefork 5, threaded 75)
    exceed MaxRequestWorkers on the candidates the spare policies try."""
    path = _short(tmp_path, EXAMPLES / "primer-ab-event.yaml")
    res = optimize(path, mpm=mpm, spares=True, cache_dir=tmp_path / "c", budget=12,
                   overrides=("load.clients=2",))  # fmt: skip
    d = res.to_dict()
    blocks = _blocks(d)
    assert blocks
    for block in blocks:
        _assert_starts_as_written(block)
    assert min(p["MaxRequestWorkers"] for p in d["points"]) < 75
    w = d["winner"]
    if w is not None and w["spares_fitted"]:  # the scaling is said under the block
        assert f"; scaled {w['spares_fitted'][0]}" in render_text(d)


@pytest.fixture(scope="module")
def fpm_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fpm")
    path = _short(tmp, FPM)
    return path, optimize(path, mpm="all", cache_dir=tmp / "cache").to_dict()


@pytest.mark.slow
def test_php_optimize_text_states_php_memory_before_the_table(
    fpm_result: tuple[Path, dict[str, Any]],
) -> None:
    _, d = fpm_result
    text = render_text(d)
    lines = text.splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("mpm "))
    head = "\n".join(lines[:table])
    assert "prefork + mod_php: each Apache child holds" in head
    assert "so it grows to memory_limit 128 MiB" in head
    assert "PHP-FPM (pool www): each FPM child holds" in head
    w = d["winner"]
    assert w is not None and "www" in w["pools"]
    use = w["pools"]["www"]
    assert 0 < use["utilization"] <= 1  # a busy count no recycled child returns twice
    assert f"pool www at the winner: {use['busy_mean']:.2f} of {use['pm.max_children']}" in text
    hint = "a latency goal (--p95-ms) would size pm.max_children larger" in text
    assert hint == (use["utilization"] > 0.8)
    for block in _blocks(d):
        _assert_starts_as_written(block)
    # the example's MinSpareThreads 75 is scaled, and said so, when MaxRequestWorkers is below it
    assert bool(w["spares_fitted"]) == (w["MaxRequestWorkers"] < 75)
    assert all(f"; scaled {note}" in text for note in w["spares_fitted"])


@pytest.mark.slow
def test_php_check_it_sets_each_key_once_and_reproduces_the_winner(
    fpm_result: tuple[Path, dict[str, Any]],
) -> None:
    path, d = fpm_result
    w = d["winner"]
    sets = [w["run_args"][i + 1] for i, a in enumerate(w["run_args"]) if a == "--set"]
    keys = [s.partition("=")[0] for s in sets]
    assert len(keys) == len(set(keys)), sets
    assert f"backends.www.pm.max_children={w['pm.max_children']}" in sets
    again = run(path, overrides=tuple(sets), replications=d["replications"], seed=d["seed"])
    out = again.to_dict()
    assert out["throughput_rps"] == w["throughput_rps"]
    assert out["latency_ms"]["p95"] == w["p95_ms"]
    assert out["memory_mib"]["peak"] == w["memory_peak_mib"]
    assert out["backends"]["www"]["busy_mean"] == w["pools"]["www"]["busy_mean"]


def test_a_pools_busy_children_match_littles_law_when_children_are_recycled(
    tmp_path: Path,
) -> None:
    """A child recycled by pm.max_requests returns its busy count once (the utilisation printed
    at the winner is the pool's busy_mean): busy_mean = PHP rate x holding time."""
    path = _short(tmp_path, FPM)
    sets = ("backends.www.pm=static", "backends.www.pm.max_children=2",
            "backends.www.pm.max_requests=20")  # fmt: skip
    out = run(path, overrides=sets, replications=1).to_dict()
    pool = out["backends"]["www"]
    assert pool["recycled"] >= 5
    prep = prepare(load_scenario(path, sets))
    expected = php_concurrency(prep, out["throughput_rps"], None)
    assert 0.0 < pool["busy_mean"] <= pool["busy_peak"] <= 2  # never below zero busy children
    # busy_mean averages over warm-up too (sessions ramp up), so it is a little under Little's law
    assert pool["busy_mean"] == pytest.approx(expected, rel=0.25)
