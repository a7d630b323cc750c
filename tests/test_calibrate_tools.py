"""calibrate from ab / wrk text outputs and the scenario they ran (DESIGN section 6): the handler
CPU fitted from throughput alone, said so, and bad combinations refused in one line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpmsim.calibration.from_tools import (
    fit_cpu_factor,
    scaled,
    scaled_connection,
    simulate,
)
from mpmsim.calibration.tool_runs import tool_run
from mpmsim.models.costs import CostModel, load_costs
from tests.helpers import Cli, Outcome

FIXTURES = Path(__file__).parent / "fixtures" / "tools"

#: A one-vCPU server whose requests are mostly handler CPU (the default model's 0.83 ms class).
SCENARIO: dict[str, Any] = {
    "name": "cpu-page",
    "seed": 1,
    "hardware": "bench-1core",
    "costs": "default",
    "server": {"mpm": "worker", "directives": {"ThreadsPerChild": 25, "MaxRequestWorkers": 50}},
    "load": {"kind": "closed", "clients": 20, "requests": 10, "network_rtt_ms": 0.02},
    "mix": [{"name": "cpu"}],
}


def one_line_error(proc: Outcome) -> str:
    """The single stderr line of a run that failed with exit code 2 (no traceback)."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def ab_text(rps: float, clients: int = 20, requests: int = 2000, keepalive: bool = False) -> str:
    """An ab 2.3 report of ``requests`` at ``clients`` and ``rps`` (the fixture's text, its
    figures replaced)."""
    text = (FIXTURES / "ab_failures.txt").read_text(encoding="utf-8")
    subs = {
        r"Concurrency Level:\s+\d+": f"Concurrency Level:      {clients}",
        r"Complete requests:\s+\d+": f"Complete requests:      {requests}",
        r"Failed requests:\s+\d+\n.*\n": "Failed requests:        0\n",
        r"Time taken for tests:\s+[\d.]+": f"Time taken for tests:   {requests / rps:.3f}",
        r"Requests per second:\s+[\d.]+": f"Requests per second:    {rps:.2f}",
        r"Non-2xx responses:.*\n": "",
        r"Write errors:.*\n": "",
    }
    for pattern, value in subs.items():
        text = re.sub(pattern, value, text)
    if not keepalive:
        text = re.sub(r"Keep-Alive requests:.*\n", "", text)
    return text


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def scenario_file(tmp_path: Path, name: str = "s.yaml", **parts: Any) -> Path:
    data = {**SCENARIO, **parts}
    return write(tmp_path, name, yaml.safe_dump(data))


def measured_rps(tmp_path: Path, scenario: Path, factor: float) -> float:
    """The throughput the scenario shows at ab -c 20 -n 2000 with the handler CPU x factor:
    what a real server of that CPU would have printed."""
    probe = tool_run(write(tmp_path, "probe.txt", ab_text(1000.0)), "ab", scenario)
    costs = scaled(load_costs("default"), ["cpu"], factor)
    return simulate(probe, costs).mean("throughput_rps")


@pytest.mark.parametrize("factor", [0.6, 1.7])
def test_the_handler_cpu_that_made_a_throughput_is_found_again(
    tmp_path: Path, factor: float
) -> None:
    scenario = scenario_file(tmp_path)
    rps = measured_rps(tmp_path, scenario, factor)
    run = tool_run(write(tmp_path, "ab.txt", ab_text(rps)), "ab", scenario)
    fit = fit_cpu_factor([run])
    assert fit.factor == pytest.approx(factor, rel=0.03)
    (row,) = fit.runs
    assert abs(row["error_pct"]) < 3.0
    assert row["cpu_elasticity"] > 0.7  # one saturated vCPU: the CPU sets the rate
    base, fitted = fit.classes["cpu"]
    assert fitted == pytest.approx(base * fit.factor)
    # what it does not fit stays the base's
    default = load_costs("default")
    assert fit.costs.accept_cpu_ms == default.accept_cpu_ms
    assert fit.costs.process_mib == default.process_mib


def test_the_cli_writes_the_model_and_says_what_drove_it(mpmsim: Cli, tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path)
    rps = measured_rps(tmp_path, scenario, 1.3)
    ab = write(tmp_path, "ab.txt", ab_text(rps))
    out = tmp_path / "fitted.yaml"
    done = mpmsim("calibrate", str(ab), "--scenario", str(scenario), "-o", str(out),
                  "--name", "mine")  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[:2]
    assert first[0].startswith("Fitted from the throughput of 1 load-tool output alone")
    assert "handler CPU x1.3" in first[0]
    assert "memory included" in first[1]
    assert "NOT REPRODUCED" not in done.stdout
    costs = CostModel.model_validate(yaml.safe_load(out.read_text(encoding="utf-8")))
    assert costs.name == "mine"
    assert costs.classes["cpu"].cpu_ms == pytest.approx(0.83 * 1.3, rel=0.03)
    assert costs.calibration["targets"][0]["output"] == "ab.txt"
    # the written file is a cost model a scenario can name
    rerun = tool_run(ab, "ab", scenario_file(tmp_path, "again.yaml", costs=str(out)))
    assert simulate(rerun, costs).mean("throughput_rps") == pytest.approx(rps, rel=0.03)
    # and it is not overwritten without --force
    before = out.read_text(encoding="utf-8")
    again = mpmsim("calibrate", str(ab), "--scenario", str(scenario), "-o", str(out))
    assert "use --force" in one_line_error(again)
    assert out.read_text(encoding="utf-8") == before


def test_outputs_one_factor_cannot_match_are_named(mpmsim: Cli, tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path)
    slow = write(tmp_path, "slow.txt", ab_text(500.0))
    fast = write(tmp_path, "fast.txt", ab_text(1500.0))
    done = mpmsim("calibrate", str(slow), str(fast), "--scenario", str(scenario), "--json")
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    errors = {r["output"]: r["error_pct"] for r in data["runs"]}
    assert errors["slow.txt"] > 10 and errors["fast.txt"] < -10
    text = mpmsim("calibrate", str(slow), str(fast), "--scenario", str(scenario))
    assert "NOT REPRODUCED within 10 %" in text.stdout.splitlines()[2]


def test_a_rate_the_cpu_does_not_set_is_refused(mpmsim: Cli, tmp_path: Path) -> None:
    # Each request waits 100 ms on a backend: 5 clients make 50 req/s whatever the CPU.
    scenario = scenario_file(tmp_path, mix=[{"name": "cpu", "wait_ms": 100.0}])
    ab = write(tmp_path, "ab.txt", ab_text(49.0, clients=5, requests=200))
    line = one_line_error(mpmsim("calibrate", str(ab), "--scenario", str(scenario)))
    assert "ab.txt" in line and "depends on the CPU" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["OUT"], "give the scenario it ran with --scenario"),
        (["LOCUST", "--scenario", "S"], "Locust's statistics do not say"),
        (["K6", "--scenario", "S"], "ran 10 users; the scenario's load has 20 clients"),
        (["K6", "--scenario", "OPEN"], "must be kind closed"),
        (["OUT", "CSV", "--scenario", "S"], "not both at once"),
        (["CSV", "--scenario", "S"], "--scenario"),
        (["OUT", "OUT", "OUT", "--scenario", "S", "--scenario", "S"], "2 scenarios for 3"),
        (["OUT", "--scenario", "S", "--holdout", "0.2"], "--holdout"),
        (["OUT", "--scenario", "OWN"], "every mix class gives its own cpu_ms"),
    ],
)
def test_bad_combinations_get_one_line(
    mpmsim: Cli, tmp_path: Path, args: list[str], expected: str
) -> None:
    files = {
        "OUT": write(tmp_path, "ab.txt", ab_text(900.0)),
        "K6": FIXTURES / "k6_summary.json",
        "LOCUST": FIXTURES / "locust_stats.csv",
        "OPEN": scenario_file(
            tmp_path, "open.yaml", load={"kind": "open", "sessions_per_s": 5.0, "duration_s": 10.0}
        ),
        "CSV": FIXTURES.parent.parent.parent / "measurements" / "one-client" / "runs.csv",
        "S": scenario_file(tmp_path),
        "OWN": scenario_file(tmp_path, "own.yaml", mix=[{"name": "page", "cpu_ms": 2.0}]),
    }
    line = one_line_error(mpmsim("calibrate", *[str(files.get(a, a)) for a in args]))
    assert expected in line


def test_a_test_plan_runs_the_scenarios_load_and_its_think_time_is_checked(
    mpmsim: Cli, tmp_path: Path
) -> None:
    # k6's summary: 10 virtual users for 30 s at 500 req/s, 19.8 ms per request: they paused
    # 10 / 500 - 0.0198 = 0.2 ms between requests (Little's law), which a scenario of 10
    # clients without think time matches.
    k6 = FIXTURES / "k6_summary.json"
    plan = scenario_file(tmp_path, load={"kind": "closed", "clients": 10, "requests": 5})
    run = tool_run(k6, "k6", plan)
    assert run.scenario["load"]["duration_s"] == pytest.approx(30.0045)
    assert "requests" not in run.scenario["load"]
    # the same summary beside an ab report, its scenario with a 50 ms think time: the fit runs
    # (the ab report is CPU-bound) and its first lines say the plan's load is not the one measured
    scenario = scenario_file(tmp_path)
    ab = write(tmp_path, "ab.txt", ab_text(measured_rps(tmp_path, scenario, 1.0)))
    thinking = scenario_file(
        tmp_path,
        "thinking.yaml",
        load={"kind": "closed", "clients": 10, "think_time_s": 0.05, "duration_s": 30.0},
    )
    done = mpmsim("calibrate", str(ab), str(k6), "--scenario", str(scenario),
                  "--scenario", str(thinking))  # fmt: skip
    assert done.returncode == 0, done.stderr
    head = "\n".join(done.stdout.split("\n\n")[0].splitlines())
    assert "LOAD DIFFERS: k6_summary.json's users paused 0.0002 s" in head
    assert "think time is 0.05 s" in head


def test_reports_with_and_without_keepalive_tell_the_connection_cpu_apart(tmp_path: Path) -> None:
    # A static page, whose accept and close cost about as much as its handler: a server whose
    # handler costs 1.5 times the default's and its connections 2.5 times. ab -k barely pays
    # the connections, ab without -k pays them on every request, so the two rates fix both.
    scenario = scenario_file(tmp_path, mix=[{"name": "static"}])
    truth = scaled_connection(scaled(load_costs("default"), ["static"], 1.5), 2.5)
    outputs = []
    for keepalive in (False, True):
        probe_text = ab_text(1000.0, requests=4000, keepalive=keepalive)
        probe = tool_run(write(tmp_path, f"probe{keepalive}.txt", probe_text), "ab", scenario)
        rps = simulate(probe, truth).mean("throughput_rps")
        text = ab_text(rps, requests=4000, keepalive=keepalive)
        outputs.append(tool_run(write(tmp_path, f"ab{keepalive}.txt", text), "ab", scenario))
    fit = fit_cpu_factor(outputs)
    assert fit.factor == pytest.approx(1.5, rel=0.1)
    assert fit.connection_factor == pytest.approx(2.5, rel=0.1)
    assert all(abs(r["error_pct"]) < 3.0 for r in fit.runs)
    accept_base, accept = fit.connection["accept_cpu_ms"]
    assert fit.connection_factor is not None
    assert accept == pytest.approx(accept_base * fit.connection_factor)
    # one kind of report alone cannot tell them apart: the connections keep the base's CPU
    alone = fit_cpu_factor(outputs[:1])
    assert alone.connection_factor is None and not alone.connection
    assert alone.costs.accept_cpu_ms == load_costs("default").accept_cpu_ms


def test_classes_with_their_own_cpu_and_a_factor_at_its_limit_are_said(
    mpmsim: Cli, tmp_path: Path
) -> None:
    # Half the requests run 5 ms the scenario gives itself, half the cost model's static page:
    # 40 req/s at 20 clients asks for more CPU than any static page in range can add.
    mix = [{"name": "page", "cpu_ms": 5.0}, {"name": "static"}]
    scenario = scenario_file(tmp_path, mix=mix)
    ab = write(tmp_path, "ab.txt", ab_text(40.0, requests=500))
    done = mpmsim("calibrate", str(ab), "--scenario", str(scenario), "--json")
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert data["own_cpu_not_fitted"] == ["page"]
    assert data["factor_at_search_limit"] is True
    assert list(data["classes"]) == ["static"]
    head = mpmsim("calibrate", str(ab), "--scenario", str(scenario)).stdout.split("\n\n")[0]
    assert "Not fitted: the cpu_ms the scenario gives page itself" in head
    assert "ended at the search's limit" in head
    assert "NOT REPRODUCED" in head
