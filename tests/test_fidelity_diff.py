"""benchmarks/fidelity_diff.py: which rows gained or lost an aim between two bench_fidelity runs."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from fidelity_diff import load_rows, main, within

NAN = float("nan")


def row(
    run_id: str, held: bool, thr: float, p95: float, pss: float, procs: float
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "held_out": held,
        "req_per_s_error": thr,
        "lat_p95_ms_error": p95,
        "peak_pss_mb_error": pss,
        "peak_procs_predicted": procs,
        "peak_procs_measured": 17.0,
    }


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    # bench_fidelity writes NaN as json.dumps does (allow_nan)
    path.write_text(json.dumps({"seed": 1, "figures": {}, "rows": rows}), encoding="utf-8")
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    before = [
        row("warm-event-c50", True, 0.02, 0.04, -0.38, 11),
        row("crowding-n4", True, -0.02, 0.05, 0.01, 5),
        row("paced-c800", True, 0.0, NAN, -0.27, 17),
        row("S2-event", False, 0.05, 0.10, 0.02, 7),
        row("gone", True, 0.0, 0.0, 0.0, 5),
    ]
    after = [
        row("warm-event-c50", True, 0.03, 0.25, -0.05, 17),  # PSS gained, p95 lost
        row("crowding-n4", True, 0.09, 0.06, 0.01, 5),  # throughput moved 11 points
        row("paced-c800", True, 0.0, NAN, -0.27, 17),  # no ab p95: never judged
        row("S2-event", False, 0.05, 0.30, 0.02, 7),  # fitted: only with --part fitted/all
        row("new", True, 0.0, 0.0, 0.0, 5),
    ]
    return write(tmp_path / "a.json", before), write(tmp_path / "b.json", after)


def test_verdict_of_an_unmeasured_figure_is_none() -> None:
    assert within(row("x", True, 0.0, NAN, 0.05, 1), "lat_p95_ms", 0.2) is None
    assert within(row("x", True, 0.0, 0.2, 0.05, 1), "lat_p95_ms", 0.2) is True
    assert within(row("x", True, 0.0, -0.21, 0.05, 1), "lat_p95_ms", 0.2) is False


def test_held_out_rows_gained_and_lost(
    pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = pair
    assert main([str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "== held: 3 rows in both" in out
    assert "before: throughput MAPE 1.33 %, p95 2 of 2 (100.0 %), PSS 1 of 3 (33.3 %)" in out
    assert "after:  throughput MAPE 4.00 %, p95 1 of 2 (50.0 %), PSS 2 of 3 (66.7 %)" in out
    assert "verdicts changed: 1 gained, 1 lost" in out
    assert "GAINED PSS warm-event-c50: -38 -> -5 % (processes 11 -> 17, measured 17)" in out
    assert "LOST   p95 warm-event-c50: +4 -> +25 %" in out
    assert "crowding-n4: -2.0 -> +9.0 %" in out  # moved by 11 points
    assert "S2-event" not in out  # a fitted row
    assert "only before: gone" in out and "only after: new" in out
    # a paced row's p95 was not measured: written as NaN, read back as NaN, never judged
    assert math.isnan(load_rows(after)["paced-c800"]["lat_p95_ms_error"])
    assert "paced-c800" not in out


def test_fitted_part(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    before, after = pair
    assert main([str(before), str(after), "--part", "fitted", "--throughput-pp", "20"]) == 0
    out = capsys.readouterr().out
    assert "== fitted: 1 rows in both" in out
    assert "LOST   p95 S2-event: +10 -> +30 %" in out
    assert "more than 20 points: 0 rows" in out


def test_not_a_fidelity_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"figures": {}}), encoding="utf-8")
    good = write(tmp_path / "good.json", [row("a", True, 0.0, 0.0, 0.0, 1)])
    assert main([str(bad), str(good)]) == 2
    assert "not a bench_fidelity.py --json file" in capsys.readouterr().err
    assert load_rows(good)["a"]["held_out"] is True
