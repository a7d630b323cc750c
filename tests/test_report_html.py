"""``mpmsim.sizing.html``: the sizing report as one self-contained HTML page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mpmsim.errors import InputError
from mpmsim.sizing.html import render_html, write_report

BLOCK = "<IfModule mpm_event_module>\n    MaxRequestWorkers 100\n</IfModule>\n"


def _inst(name: str, vcpus: int, price: float, *, feasible: bool = True) -> dict[str, Any]:
    base: dict[str, Any] = {
        "instance": name,
        "vcpus": vcpus,
        "ram_mib": 4096.0 * vcpus,
        "price_per_hour_usd": price / 730,
        "price_per_month_usd": price,
        "burstable": name.startswith("t3"),
        "baseline_fraction": 0.2 if name.startswith("t3") else None,
        "feasible": feasible,
    }
    if not feasible:
        return base
    burst = {"sustainable": False, "hours_until_credits_run_out": 2.1, "note": "credits run out"}
    return base | {
        "mpm": "event",
        "ThreadsPerChild": 25,
        "ServerLimit": 4,
        "MaxRequestWorkers": 100,
        "spares": "given",
        "keepalive": "given",
        "throughput_rps": 2250.0 * vcpus,
        "p95_ms": 35.0,
        "memory_peak_mib": 40.0,
        "memory_budget_mib": 3225.6,
        "ram_headroom_pct": 98.8,
        "cpu_utilization": 0.97,
        "usd_per_million_requests": 0.0026123,
        "burst": burst if name.startswith("t3") else None,
        "block": BLOCK,
        "binding": {"constraint": "none", "bottleneck": "cpu"},
        "simulations": 8,
    }


def _data(**changes: Any) -> dict[str, Any]:
    """Three instances: t3.medium (recommended), c6i.large, t3.nano (infeasible)."""
    data: dict[str, Any] = {
        "scenario": "primer-ab-event",
        "source": "workloads/examples/primer-ab-event.yaml",
        "objective": "throughput",
        "goals": {"p95_ms": 200.0, "max_error_rate": 0.01, "headroom": 0.1, "offered_rps": None},
        "hours_per_month": 730,
        "instances": [
            _inst("t3.medium", 2, 30.37),
            _inst("c6i.large", 2, 62.05),
            _inst("t3.nano", 2, 3.80, feasible=False),
        ],
        "recommendation": {"instance": "t3.medium", "why": "cheapest that meets the goals"},
    }
    return data | changes


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="(?:recommended|feasible|infeasible)">.*?</tr>', page)


def test_title_recommendation_and_objective() -> None:
    page = render_html(_data())
    assert "<title>Sizing report: primer-ab-event</title>" in page
    assert "<h1>Sizing report: primer-ab-event</h1>" in page
    assert "Recommended: t3.medium" in page
    assert "cheapest that meets the goals" in page
    assert "the most throughput" in page
    assert "p95 ≤ 200.0 ms" in page and "1.0 %" in page and "10.0 %" in page


def test_table_row_per_instance_marks_recommended_and_infeasible() -> None:
    rows = _rows(render_html(_data()))
    assert len(rows) == 3
    assert [r.split('"')[1] for r in rows] == ["recommended", "feasible", "infeasible"]
    assert "t3.medium" in rows[0]
    assert "no configuration met the goals" in rows[2] and "t3.nano" in rows[2]
    assert "4,500.0" in rows[0] and "30.37" in rows[0] and "0.002612" in rows[0]
    assert "97.0" in rows[0] and "credits run out" in rows[0]
    assert "—" in rows[1]  # c6i.large is not burstable


def test_blocks_escaped_and_one_details_per_feasible_instance() -> None:
    page = render_html(_data())
    assert "&lt;IfModule mpm_event_module&gt;" in page
    assert "<IfModule" not in page
    assert page.count("<details>") == 2


def test_user_strings_escaped() -> None:
    evil = "<script>alert(1)</script>"
    data = _data(scenario=evil, source=evil)
    data["instances"][1]["instance"] = evil
    data["instances"][1]["burst"] = {"note": evil}
    data["recommendation"]["why"] = evil
    page = render_html(data)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert evil not in page


def test_no_recommendation() -> None:
    page = render_html(_data(recommendation=None))
    assert "No instance met the goals" in page
    assert 'class="recommended"' not in page


def test_no_p95_goal_and_memory_objective() -> None:
    goals = {"p95_ms": None, "max_error_rate": 0.01, "headroom": 0.1, "offered_rps": 240.0}
    page = render_html(_data(goals=goals, objective="memory@load"))
    assert "no p95 latency goal" in page
    assert "the least memory that carries 240.0 req/s" in page


def test_plotly_inlined_once_two_figures() -> None:
    page = render_html(_data())
    assert page.count("Plotly.newPlot") == 2
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1
    assert page.count("window.PlotlyConfig") == 1
    assert 'src="http' not in page


def test_write_report(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    assert write_report(_data(), path) == path
    assert "Sizing report: primer-ab-event" in path.read_text(encoding="utf-8")
    with pytest.raises(InputError) as err:
        write_report(_data(scenario="other"), path)
    assert err.value.field == "-o"
    assert "primer-ab-event" in path.read_text(encoding="utf-8")
    write_report(_data(scenario="other"), path, overwrite=True)
    assert "Sizing report: other" in path.read_text(encoding="utf-8")
