"""benchmarks/bench_fidelity.py: the parts' figures, per campaign, from compared rows."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_fidelity import figures, render

from mpmsim.calibration.measured import METRICS


def _row(run_id: str, held: bool, tput: float, p95: float, pss: float) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": run_id, "held_out": held}
    for metric in METRICS:
        row[f"{metric}_error"] = math.nan
    for metric, err in (("req_per_s", tput), ("lat_p95_ms", p95), ("peak_pss_mb", pss)):
        row[f"{metric}_error"] = err
        row[f"{metric}_measured"] = 1.0
        row[f"{metric}_predicted"] = 1.0 + (0.0 if math.isnan(err) else err)
    row["warnings_measured"] = row["warnings_predicted"] = ""
    return row


def test_each_campaign_counts_its_own_p95_and_pss_hits() -> None:
    rows = [
        _row("a1", True, 0.10, 0.05, 0.02),
        _row("a2", True, -0.30, -0.25, 0.20),  # p95 and PSS out
        _row("b1", True, 0.02, math.nan, 0.09),  # not ab: no p95
        _row("b2", False, 0.50, 0.50, 0.50),  # fitted part: not in the held-out figures
    ]
    campaign = {"a1": "warm", "a2": "warm", "b1": "paced", "b2": "paced"}
    figs = figures(rows, campaign)
    held = figs["held_out"]
    assert held["rows"] == 3
    assert held["req_per_s_mape_pct"] == pytest.approx(14.0)
    per = held["req_per_s_mape_pct_by_campaign"]
    assert per["warm"] == {"rows": 2, "mape_pct": 20.0, "ab_p95_within_20pct": [1, 2],
                           "peak_pss_within_10pct": [1, 2]}  # fmt: skip
    assert per["paced"]["ab_p95_within_20pct"] == [0, 0]
    assert per["paced"]["peak_pss_within_10pct"] == [1, 1]
    assert figs["fitted"]["req_per_s_mape_pct_by_campaign"]["paced"]["mape_pct"] == 50.0
    assert held["campaigns"]["rows"] == 3  # no shared rows here: all three
    text = render(figs, 0, 1.0)
    assert "warm" in text and "ab p95 1/2, PSS 1/2" in text


def test_the_campaigns_together_leave_the_shared_rows_out() -> None:
    rows = [_row("s1", True, 0.50, 0.50, 0.50), _row("c1", True, 0.10, 0.10, 0.20)]
    figs = figures(rows, {"s1": "shared/S2", "c1": "warm"})
    camp = figs["held_out"]["campaigns"]
    assert camp == {"rows": 1, "mape_pct": 10.0, "ab_p95_within_20pct": [1, 1],
                    "peak_pss_within_10pct": [0, 1]}  # fmt: skip
    assert "the campaigns together" in render(figs, 0, 1.0)


def test_each_mpm_counts_its_own_hits_across_campaigns() -> None:
    rows = [
        _row("p1", True, 0.10, 0.05, 0.02) | {"mpm": "prefork"},
        _row("p2", True, 0.30, 0.40, 0.02) | {"mpm": "prefork"},  # p95 out
        _row("e1", True, -0.02, 0.10, 0.30) | {"mpm": "event"},  # PSS out
        _row("e2", False, 0.50, 0.50, 0.50) | {"mpm": "event"},  # fitted part
    ]
    figs = figures(rows, {"p1": "warm", "p2": "crowding", "e1": "warm", "e2": "warm"})
    by = figs["held_out"]["by_mpm"]
    assert by["prefork"] == {"rows": 2, "mape_pct": 20.0, "ab_p95_within_20pct": [1, 2],
                             "peak_pss_within_10pct": [2, 2]}  # fmt: skip
    assert by["event"]["ab_p95_within_20pct"] == [1, 1]
    assert by["event"]["peak_pss_within_10pct"] == [0, 1]
    assert figs["fitted"]["by_mpm"] == {"event": {"rows": 1, "mape_pct": 50.0,
                                                  "ab_p95_within_20pct": [0, 1],
                                                  "peak_pss_within_10pct": [0, 1]}}  # fmt: skip
    text = render(figs, 0, 1.0)
    assert "MPM prefork" in text and "ab p95 1/2, PSS 2/2" in text
    assert "MPM event" in text.split("== fitted")[0]
