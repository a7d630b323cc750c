"""``mpmsim report``: goals met or not, fleets, the recommendation, its re-run and the text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpmsim.models.hardware import load_hardware
from mpmsim.models.hardware.credits import credit_outlook
from mpmsim.search.goals import Achieved, Goals, all_met, assess
from mpmsim.sizing import format as fmt
from mpmsim.sizing.recommendation import answer, recommend
from mpmsim.sizing.report import build_report
from mpmsim.sizing.text import render_text
from tests.helpers import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
SITE = str(ROOT / "workloads" / "examples" / "dynamic-site.yaml")
SHORT = ("duration_s=30", "warmup_s=8")
"""The dynamic site cut short: 22 measured seconds a replication."""


def _cli(*args: str, command: str = "report") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mpmsim", command, *args],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def _check(goal: str, achieved: float, target: float, met: bool) -> dict[str, Any]:
    return {"target": target, "achieved": achieved, "met": met,
            "shortfall": 0.0 if met else abs(achieved - target), "unit": goal}  # fmt: skip


def _row(name: str, count: int | None, monthly: float | None, single_ok: bool) -> dict[str, Any]:
    """An instance row in the shape of ``report --json`` (the fields the text reads)."""
    p95 = 300.0 if single_ok else 766.0
    goals = {"p95_ms": _check("ms", p95, 500.0, single_ok)}
    n1 = None if count is None else {"count": count + 1, "monthly_usd": 1.0}
    fleet: dict[str, Any] = {"instances": name, "count": count, "monthly_usd": monthly,
                             "goals_met": count is not None, "usd_per_million_requests": 0.5,
                             "per_instance_rps": None if count is None else 80.0 / count,
                             "throughput_rps": 40.0, "p95_ms": 277.0, "p95_ms_ci95": 23.0,
                             "block": "<IfModule mpm_event_module>\n</IfModule>\n",
                             "run_args": ["--seed", "1"], "binding_goal": "p95_ms",
                             "n_plus_1": n1}  # fmt: skip
    return {"instance": name, "goals_met": single_ok, "goals": goals, "binding_goal": "p95_ms",
            "configuration": "winner", "throughput_rps": 80.0, "throughput_rps_ci95": 10.9,
            "p95_ms": p95, "p95_ms_ci95": None, "error_rate": 0.0, "ram_headroom_pct": 57.4,
            "cpu_utilization": 0.95, "burst": None, "price_per_month_usd": 62.05,
            "fleet": fleet}  # fmt: skip


def _data(rows: list[dict[str, Any]], run: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {"source": "site.yaml", "instances": rows, "recommendation": recommend(rows),
            "goals": {"offered_rps": 80.0, "growth": 1.0}, "load_balancer": "even split",
            "recommended_run": run}  # fmt: skip
    data["answer"] = answer(data)
    return data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (fmt.ms(12492.1272), "12.5 s"),
        (fmt.ms(557.3), "557 ms"),
        (fmt.ms(999.7), "1.0 s"),
        (fmt.ms(2.43), "2.4 ms"),
        (fmt.rps(73.94), "73.9 req/s"),
        (fmt.rps(80.0), "80.0 req/s"),
        (fmt.rps(26975.0), "26,975 req/s"),
        (fmt.usd(15.184), "$15.18"),
        (fmt.usd(1234.5), "$1,234.50"),
        (fmt.with_ci(557.0, 475.0, "ms"), "557 ms ± 475 ms"),
        (fmt.with_ci(73.94, 11.36, "req/s"), "73.9 req/s ± 11.4"),
        (fmt.with_ci(None, 3.0, "ms"), fmt.NONE),
        (fmt.by_unit(0.0123, "fraction"), "1.23 %"),
    ],
)
def test_figures_are_rounded_for_people(text: str, expected: str) -> None:
    assert text == expected


def test_the_cheapest_passing_fleet_is_recommended() -> None:
    rows = [_row("a", 7, 212.59, False), _row("b", 2, 124.10, False), _row("c", None, None, False)]
    rec = recommend(rows)
    assert rec is not None and (rec["instance"], rec["count"]) == ("b", 2)
    assert "next: 7 x a at $212.59" in rec["why"]
    # Equal monthly cost: the fewer instances.
    tie = recommend([_row("a", 3, 100.0, False), _row("b", 1, 100.0, True)])
    assert tie is not None and tie["instance"] == "b"
    assert recommend([_row("c", None, None, False)]) is None


def test_the_first_line_answers_and_says_no_single_instance_passes() -> None:
    run = {"throughput_rps": 41.1, "throughput_rps_ci95": 10.8, "p95_ms": 277.1,
           "p95_ms_ci95": 23.4, "memory_peak_mib": 344.0, "goals_met": True, "goals": {},
           "warnings": ["MaxRequestWorkers adjusted"],
           "error_log": [{"t_s": 4.2, "code": "AH00484", "message": "server reached "
                          "MaxRequestWorkers setting", "count": 3}]}  # fmt: skip
    text = render_text(_data([_row("t3.medium", 7, 212.59, False),
                              _row("c6i.large", 2, 124.10, False)], run))  # fmt: skip
    first = text.splitlines()[0]
    assert first.startswith("No single instance meets the goals (closest: t3.medium, p95 766 ms")
    assert "Buy 2 x c6i.large ($124.10 a month" in first and "p95 277 ms ± 23 ms" in first
    assert "[4.2 s] AH00484 server reached MaxRequestWorkers setting (x3)" in text
    assert "  MaxRequestWorkers adjusted" in text
    assert "c6i.large        2    $124.10" in text


def test_nothing_passing_says_so_and_why() -> None:
    text = render_text(_data([_row("c6i.large", None, None, False)]))
    assert text.startswith(
        "None of these meets the goals (80.0 req/s): the closest, one c6i.large,"
    )
    assert "p95 766 ms > 500 ms" in text.splitlines()[0]
    assert "FAIL" in text and "Apache block" not in text


def test_credits_of_a_burstable_instance() -> None:
    t3 = load_hardware("t3.medium")
    assert t3.burst is not None
    # 2 vCPUs at 100 % spend 120 credits an hour and earn 24: 576 credits last 6 h.
    busy = credit_outlook(t3, 1.0, 730.0)
    assert not busy["sustainable"] and busy["hours_until_credits_run_out"] == pytest.approx(6.0)
    assert credit_outlook(t3, 0.19, 730.0)["sustainable"]  # below the 20 % baseline
    unlimited = t3.model_copy(update={"burst": t3.burst.model_copy(update={"mode": "unlimited"})})
    out = credit_outlook(unlimited, 1.0, 730.0)
    # 96 surplus credits an hour are 1.6 vCPU-hours at $0.05: $0.08 an hour, 730 hours.
    assert out["sustainable"] and out["surplus_usd_per_month"] == pytest.approx(58.4)


# CPU-bound: 20 closed clients, 2 ms of CPU per request, no waiting.
CPU_BOUND: dict[str, Any] = {
    "name": "cpu-bound",
    "seed": 4,
    "warmup_s": 0.5,
    "hardware": "t3.medium",
    "server": {"mpm": "event", "directives": {"KeepAlive": "Off"}},
    "load": {"kind": "closed", "clients": 20, "requests": 3000},
    "mix": [{"name": "api", "cpu_ms": 2.0, "response_bytes": 2000}],
}


@pytest.mark.slow
def test_a_burstable_instance_past_its_baseline_is_judged_on_the_baseline(tmp_path: Path) -> None:
    path = tmp_path / "cpu.yaml"
    path.write_text(yaml.safe_dump(CPU_BOUND), encoding="utf-8")
    data = build_report(path, ["t3.medium", "c6i.large"], mpm="event",
                        cache_dir=tmp_path / "c").to_dict()  # fmt: skip
    t3, c6i = data["instances"]
    burst = t3["burst"]
    assert not burst["sustainable"]
    # With an empty balance the CPU is held to 20 %: the simulation serves about a fifth.
    full = burst["full_balance"]["throughput_rps"]
    assert burst["throughput_after_rps"] == pytest.approx(0.2 * full, rel=0.15)
    # Every figure shown is the one judged: the empty balance's, which its run_args reproduce.
    assert t3["sustained_throughput_rps"] == burst["throughput_after_rps"] == t3["throughput_rps"]
    assert t3["p95_ms"] == burst["p95_after_ms"] and "credits_initial: 0" in t3["run_args"][-1]
    assert c6i["burst"] is None and c6i["sustained_throughput_rps"] == c6i["throughput_rps"]
    # No load to carry (a closed load, no --target-rps): the least cost per million requests.
    assert data["goals"]["design_rps"] is None
    assert data["recommendation"]["instance"] == "c6i.large"
    assert data["recommendation"]["ranked_by"] == "usd_per_million_requests"


def _goals_met_again(source: str, fleet: dict[str, Any], p95_ms: float) -> bool:
    """Run a fleet member's ``run_args`` with ``mpmsim run`` and judge its goals afresh."""
    proc = _cli(source, *fleet["run_args"], "--json", command="run")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    goals = Goals(fleet["goals"]["memory_mib"]["target"], p95_ms, 0.01, 0.1,
                  offered_rps=fleet["per_instance_rps"])  # fmt: skip
    return all_met(assess(goals, Achieved.from_run(d)))


@pytest.mark.slow
def test_a_load_no_single_instance_carries_gets_a_fleet(tmp_path: Path) -> None:
    rep = build_report(SITE, ["t3.medium", "c6i.large"], mpm="event", p95_ms=500,
                       overrides=SHORT, cache_dir=tmp_path / "c")  # fmt: skip
    data = rep.to_dict()
    assert [r["goals_met"] for r in data["instances"]] == [False, False]
    for r in data["instances"]:
        assert {"target", "achieved", "met"} <= set(r["goals"]["p95_ms"])
        assert {"instances", "count", "monthly_usd", "goals_met"} <= set(r["fleet"])
    assert data["answer"].startswith("No single instance meets the goals")
    rec = data["recommendation"]
    assert rec is not None and rec["count"] >= 2
    fleet = next(r["fleet"] for r in data["instances"] if r["instance"] == rec["instance"])
    assert rec["monthly_usd"] == min(r["fleet"]["monthly_usd"] for r in data["instances"])
    assert fleet["n_plus_1"]["count"] == rec["count"] + 1
    assert data["recommended_run"]["goals_met"]
    assert rep.recommended_run is not None and rep.recommended_points
    assert _goals_met_again(SITE, fleet, 500.0)


@pytest.mark.slow
def test_a_load_one_instance_carries_gets_one_instance(tmp_path: Path) -> None:
    proc = _cli(SITE, "--instances", "c6i.large,m6i.large", "--mpm", "event", "--p95-ms", "500",
                *(a for s in (*SHORT, "load.sessions_per_s=3") for a in ("--set", s)),
                "--json", "--cache-dir", str(tmp_path / "c"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rec = data["recommendation"]
    assert (rec["instance"], rec["count"], rec["single"]) == ("c6i.large", 1, True)
    row = data["instances"][0]
    assert row["goals_met"] and all(g["met"] for g in row["goals"].values())
    assert _goals_met_again(SITE, row["fleet"], 500.0)


@pytest.mark.slow
def test_growth_needs_more_or_larger_instances(tmp_path: Path) -> None:
    sets = (*SHORT, "load.sessions_per_s=7")  # 56 req/s: one c6i.large at 2/3 of its CPU
    now = build_report(SITE, ["c6i.large"], mpm="event", p95_ms=500, overrides=sets,
                       cache_dir=tmp_path / "c").to_dict()  # fmt: skip
    later = build_report(SITE, ["c6i.large"], mpm="event", p95_ms=500, overrides=sets,
                         growth=1.5, cache_dir=tmp_path / "c").to_dict()  # fmt: skip
    assert now["recommendation"]["count"] == 1
    assert later["goals"]["design_rps"] == pytest.approx(84.0)
    assert later["recommendation"]["count"] >= 2
    assert later["instances"][0]["fleet"]["per_instance_rps"] == pytest.approx(
        84.0 / later["recommendation"]["count"]
    )


@pytest.mark.slow
def test_exit_code_1_when_no_fleet_is_allowed_to_pass(tmp_path: Path) -> None:
    proc = _cli(SITE, "--instances", "c6i.large", "--mpm", "event", "--p95-ms", "500",
                "--max-instances", "1", *(a for s in SHORT for a in ("--set", s)),
                "--cache-dir", str(tmp_path / "c"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("None of these meets the goals (80.0 req/s)")
    assert "no fleet of up to 1 c6i.large meets every goal" in proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--instances", "t3.nano-x"), "--instances"),
        (("--instances", ","), "at least one instance"),
        (("--instances", "c6i.large", "--growth", "0.5"), "--growth"),
        (("--instances", "c6i.large", "--target-rps", "-3"), "--target-rps"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], needle: str) -> None:
    proc = _cli(SITE, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


@pytest.mark.slow
def test_markdown_by_format_or_suffix(tmp_path: Path) -> None:
    """``--format md`` prints Markdown (no -o) or writes it (any suffix); ``-o *.md`` implies it."""
    base = (SITE, "--instances", "c6i.large", "--mpm", "event", "--max-instances", "1",
            *(a for s in (*SHORT, "load.sessions_per_s=3") for a in ("--set", s)),
            "--cache-dir", str(tmp_path / "c"))  # fmt: skip
    printed = _cli(*base, "--format", "md")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("# Sizing report: dynamic-site")
    assert "| instance |" in printed.stdout and "<html" not in printed.stdout
    by_suffix, forced = tmp_path / "r.md", tmp_path / "r.txt"
    assert _cli(*base, "-o", str(by_suffix)).returncode == 0
    assert _cli(*base, "-o", str(forced), "--format", "md").returncode == 0
    for page in (by_suffix, forced):
        assert page.read_text().startswith("# Sizing report: dynamic-site")
    html = tmp_path / "r.html"
    assert _cli(*base, "-o", str(html)).returncode == 0
    assert html.read_text().lstrip().lower().startswith("<!doctype html")
    assert _cli(*base, "--format", "pdf").returncode == 2


def test_the_memory_assumption_comes_right_after_the_answer() -> None:
    """The assumption that decides most sizing answers is read before any figure it shaped."""
    from mpmsim import load_scenario, prepare
    from mpmsim.search.assumptions import memory_assumptions

    data = _data([_row("c6i.large", None, None, False)])
    data["memory_assumptions"] = memory_assumptions(prepare(load_scenario(SITE)))
    lines = render_text(data).splitlines()
    assert lines[0] == data["answer"]
    assert lines[1].startswith("memory assumed: one child (25 threads) holds")
    assert lines[2].startswith("  from cost model 'default'")
    assert lines[3].startswith("warning: the mix looks dynamic")


def test_an_instance_where_nothing_fits_says_what_the_smallest_needs(tmp_path: Path) -> None:
    """Requests of 600 MB on a t3.micro: nothing is simulated, the answer says why (it read
    'misses no configuration was simulated')."""
    data = build_report(EXAMPLES / "dynamic-site.yaml", ["t3.micro"], cache_dir=tmp_path,
                        overrides=("mix.0.memory_kib=600000",)).to_dict()  # fmt: skip
    assert data["recommendation"] is None
    line = answer(data)
    assert line.startswith("None of these meets the goals (80.0 req/s): on t3.micro, memory: no ")
    assert "the smallest, prefork MaxRequestWorkers 8" in line and "600,000 KiB" in line
