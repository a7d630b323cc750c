"""``mpmsim.search.plot``: the curves of an optimize result and the HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mpmsim.errors import InputError
from mpmsim.search.optimizer import optimize
from mpmsim.search.plot import figure, write_plot
from tests.test_optimize import RAM, RAM_BOUND


def _point(mpm: str, tpc: int, mrw: int, *, feasible: bool = True) -> dict[str, Any]:
    return {
        "mpm": mpm,
        "ThreadsPerChild": tpc,
        "ServerLimit": mrw // tpc,
        "MaxRequestWorkers": mrw,
        "throughput_rps": 10.0 * mrw,
        "throughput_rps_ci95": 1.5,
        "p95_ms": 100.0 + mrw,
        "memory_peak_mib": 5.0 * mrw,
        "error_rate": 0.0,
        "feasible": feasible,
        "violates": "none" if feasible else "ram",
        "bottleneck": "load",
    }


def _data(p95_goal: float | None = 150.0) -> dict[str, Any]:
    """Two lines (event TPC 25, worker TPC 25); worker at 75 misses the memory budget."""
    points = [_point("event", 25, m) for m in (50, 25, 75)]
    points += [_point("worker", 25, 25), _point("worker", 25, 75, feasible=False)]
    winner = {**points[0], "block": "<IfModule mpm_event_module>\n</IfModule>\n"}
    return {
        "scenario": "tiny",
        "hardware": "t3.medium",
        "objective": "throughput",
        "goals": {"memory_budget_mib": 300.0, "p95_ms": p95_goal, "max_error_rate": 0.01},
        "points": points,
        "winner": winner,
        "best_per_mpm": [winner],
    }


def _hline_ys(fig: Any) -> list[float]:
    return [s.y0 for s in fig.layout.shapes if s.type == "line"]


def test_traces_markers_and_legend() -> None:
    fig = figure(_data())
    lines = [t for t in fig.data if t.legendgroup != "winner"]
    assert len(lines) == 6  # 2 lines x 3 panels
    assert len(fig.data) == 9  # plus the winner star on each panel
    event = [t for t in lines if t.name == "event TPC 25"]
    assert list(event[0].x) == [25, 50, 75]  # sorted by MaxRequestWorkers
    assert [t.showlegend for t in event] == [True, False, False]
    assert len({t.line.color for t in event}) == 1
    assert event[0].error_y.array is not None
    worker = next(t for t in lines if t.name == "worker TPC 25")
    assert list(worker.marker.symbol) == ["circle", "x-open"]
    assert "misses ram" in worker.hovertext[1]
    assert fig.layout.title.text == "optimize tiny on t3.medium (throughput)"


def test_winner_star_on_every_panel() -> None:
    stars = [t for t in figure(_data()).data if t.legendgroup == "winner"]
    assert len(stars) == 3
    assert all(t.marker.symbol == "star" and list(t.x) == [50] for t in stars)
    assert [t.y[0] for t in stars] == [500.0, 150.0, 250.0]


def test_goal_lines() -> None:
    assert sorted(_hline_ys(figure(_data()))) == [150.0, 300.0]
    assert _hline_ys(figure(_data(p95_goal=None))) == [300.0]  # no p95 goal, budget only


def test_no_winner() -> None:
    data = {**_data(), "winner": None}
    assert not [t for t in figure(data).data if t.legendgroup == "winner"]


def test_write_plot_and_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "plot.html"
    assert write_plot(_data(), path) == path
    assert "plotly" in path.read_text(encoding="utf-8")
    path.write_text("old", encoding="utf-8")
    with pytest.raises(InputError, match="--force") as err:
        write_plot(_data(), path)
    assert err.value.field == "--plot"
    assert err.value.file == str(path)
    assert path.read_text(encoding="utf-8") == "old"
    write_plot(_data(), path, overwrite=True)
    assert "plotly" in path.read_text(encoding="utf-8")


def test_figure_of_a_real_optimize_result(tmp_path: Path) -> None:
    scenario = tmp_path / "ram-bound.yaml"
    scenario.write_text(yaml.safe_dump(RAM_BOUND), encoding="utf-8")
    res = optimize(scenario, ram_mib=RAM, budget=2, cache_dir=tmp_path / "cache")
    data = res.to_dict()
    fig = figure(data)
    assert len(fig.data) >= 3 * len({(p["mpm"], p["ThreadsPerChild"]) for p in data["points"]})
    assert data["goals"]["memory_budget_mib"] in _hline_ys(fig)
