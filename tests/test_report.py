"""``mpmsim report``: one scenario on several instances, the cost figures and the choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpmsim.sizing.report import build_report, recommend
from tests.test_optimize import BROWSERS

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


def _write(tmp_path: Path, spec: dict[str, Any], name: str) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.mark.slow
def test_light_open_load_goes_to_the_cheapest_instance(tmp_path: Path) -> None:
    path = _write(tmp_path, BROWSERS, "browsers.yaml")
    data = build_report(path, ["c6i.large", "t3.small"], mpm="event", cache_dir=tmp_path / "c")
    rows = {r["instance"]: r for r in data["instances"]}
    assert list(rows) == ["c6i.large", "t3.small"]  # the order given
    assert data["objective"] == "memory@load"
    small = rows["t3.small"]
    assert small["feasible"] and small["burst"]["sustainable"]  # 60 req/s stay in the baseline
    assert small["price_per_month_usd"] == pytest.approx(0.0208 * 730, abs=0.01)
    assert data["recommendation"]["instance"] == "t3.small"
    usable = small["ram_mib"] - 256  # t3.small keeps 256 MiB for the OS
    assert small["ram_headroom_pct"] == pytest.approx(
        100 * (1 - small["memory_peak_mib"] / usable), abs=0.1
    )
    json.dumps(data)


@pytest.mark.slow
def test_a_burstable_instance_past_its_baseline_is_judged_on_the_baseline(tmp_path: Path) -> None:
    path = _write(tmp_path, CPU_BOUND, "cpu.yaml")
    data = build_report(path, ["t3.medium", "c6i.large"], mpm="event", cache_dir=tmp_path / "c")
    t3, c6i = data["instances"]
    burst = t3["burst"]
    assert not burst["sustainable"]
    # 2 vCPUs at 100 % spend 120 credits an hour and earn 24: 576 credits last 6 h.
    assert burst["hours_until_credits_run_out"] == pytest.approx(
        576 / (120 * t3["cpu_utilization"] - 24), rel=1e-6
    )
    # With an empty balance the CPU is held to 20 %: the simulation serves about a fifth.
    assert burst["throughput_after_rps"] == pytest.approx(0.2 * t3["throughput_rps"], rel=0.15)
    assert t3["sustained_throughput_rps"] == burst["throughput_after_rps"]
    assert c6i["burst"] is None and c6i["sustained_throughput_rps"] == c6i["throughput_rps"]
    assert data["recommendation"]["instance"] == "c6i.large"


def test_no_feasible_instance_means_no_recommendation() -> None:
    rows = [{"instance": "x", "feasible": False}]
    assert recommend(rows, "throughput", None) is None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mpmsim", "report", *args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_writes_html_and_json(tmp_path: Path) -> None:
    path = _write(tmp_path, BROWSERS, "browsers.yaml")
    out = tmp_path / "report.html"
    proc = _cli(str(path), "--instances", "t3.small,c6i.large", "--mpm", "event", "-o", str(out),
                "--json", "--cache-dir", str(tmp_path / "c"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["recommendation"]["instance"] == "t3.small"
    html = out.read_text(encoding="utf-8")
    assert "Sizing report: browsers" in html and "t3.small" in html
    again = _cli(str(path), "--instances", "t3.small", "-o", str(out))
    assert again.returncode == 2 and "--force" in again.stderr  # never overwritten unasked


@pytest.mark.parametrize(
    ("instances", "needle"), [("t3.nano-x", "--instances"), (",", "at least one instance")]
)
def test_bad_instances_are_one_line(tmp_path: Path, instances: str, needle: str) -> None:
    path = _write(tmp_path, BROWSERS, "browsers.yaml")
    proc = _cli(str(path), "--instances", instances)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
