"""The parent's idle count (MPMModel.parent_idle) and benchmarks/sim_scoreboard.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mpmsim.calibration.check import row_seed
from mpmsim.calibration.measured import Setup, simulate
from mpmsim.engine.replication import build_world
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.models.mpm.base import QUIESCING, READY, STARTING, Child, ChildState, MPMModel
from mpmsim.workloads.readers import read_measurements
from tests.helpers import prepared

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import sim_scoreboard

ONE_CLIENT = Path(__file__).resolve().parent.parent / "measurements/one-client/runs.csv"
ROW = "one-client-prefork-ab-c1-ka1-r1"


def _model(mpm: str) -> MPMModel:
    return build_world(prepared(server={"mpm": mpm})).server.model


def _child(
    state: ChildState, idle: int, *, threads: int = 25, not_accepting: bool = False
) -> Child:
    child = Child(slot=0, threads=threads, extra_threads=1, memory_mib=1.0, state=state)
    child.idle, child.not_accepting = idle, not_accepting
    return child


def test_prefork_parent_counts_children_starting_or_waiting_in_accept() -> None:
    children = [
        _child(STARTING, 0, threads=1),
        _child(READY, 1, threads=1),
        _child(READY, 0, threads=1),  # serving
        _child(QUIESCING, 1, threads=1),  # stopping
    ]
    assert _model("prefork").parent_idle(children) == 2


def test_event_parent_leaves_out_children_that_stopped_accepting() -> None:
    """event.c perform_idle_server_maintenance (l.2954): a child whose listener disabled its
    sockets (not_accepting) adds none of its idle threads; worker counts them."""
    children = [
        _child(READY, 10),
        _child(READY, 10, not_accepting=True),
        _child(STARTING, 0),  # a starting child's threads all count
        _child(QUIESCING, 25),
    ]
    assert _model("event").parent_idle(children) == 10 + 25
    assert _model("worker").parent_idle(children) == 10 + 10 + 25


def test_summary_reads_the_passes_in_the_window() -> None:
    passes = [
        {"t_s": float(t), "pass": 1.0, **{name: float(t) for name in sim_scoreboard.FIELDS}}
        for t in range(1, 11)
    ]
    stats = sim_scoreboard.summary(passes, (3.0, 7.0), spare=5)
    assert stats["scans"] == 5
    assert stats["idle_p50"] == 5.0 and stats["procs_max"] == 7.0
    assert stats["under_spare_share"] == pytest.approx(2 / 5)  # idle 3 and 4
    assert sim_scoreboard.summary(passes, (20.0, 30.0), spare=5) == {}


def test_watching_the_passes_leaves_the_rows_figures_alone() -> None:
    costs = load_costs("bench-1core")
    setup = Setup(load_hardware("bench-1core"), float(costs.calibration["network_rtt_ms"]))
    (run,) = [r for r in read_measurements(ONE_CLIENT) if r.run_id == ROW]
    seed = row_seed(1, ROW)
    sim, passes, window, spare = sim_scoreboard.row_scans(run, costs, setup, seed)
    plain = simulate(run, costs, setup, seed)
    assert sim["req_per_s"] == plain["req_per_s"] and sim["lat_p95_ms"] == plain["lat_p95_ms"]
    assert spare == 5  # the row's MinSpareServers
    # a pass each whole second, the parent's processes among the counts
    assert [p["t_s"] for p in passes] == [float(k) for k in range(1, len(passes) + 1)]
    assert passes[-1]["t_s"] >= window[1] - 1.0
    assert all(p["procs"] >= 2 and p["busy"] <= 1 for p in passes)


def test_sim_scoreboard_prints_passes_and_their_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_scoreboard.main([str(ONE_CLIENT), "--run", ROW, "--passes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{ROW}: req/s ") and "peak processes" in out[0]
    assert out[1].split() == ["t_s", *sim_scoreboard.FIELDS]
    assert any("passes in the measured window" in line for line in out)
    assert [line.split()[0] for line in out[-len(sim_scoreboard.FIELDS) :]] == list(
        sim_scoreboard.FIELDS
    )


def test_sim_scoreboard_names_a_run_it_cannot_find(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim_scoreboard.main([str(ONE_CLIENT), "--run", "no-such-row"]) == 2
    assert "sim_scoreboard: error: --run no-such-row: no row of" in capsys.readouterr().err


def test_scans_between_the_passes_are_summed_up_with_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    costs = load_costs("bench-1core")
    setup = Setup(load_hardware("bench-1core"), float(costs.calibration["network_rtt_ms"]))
    (run,) = [r for r in read_measurements(ONE_CLIENT) if r.run_id == ROW]
    _, scans, _, _ = sim_scoreboard.row_scans(run, costs, setup, row_seed(1, ROW), every_s=0.25)
    assert [s["t_s"] for s in scans[:5]] == [0.25, 0.5, 0.75, 1.0, 1.25]
    assert [s["pass"] for s in scans[:5]] == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert sim_scoreboard.main([str(ONE_CLIENT), "--run", ROW, "--every", "0.25"]) == 0
    assert "scans (every 0.25 s) in the measured window" in capsys.readouterr().out
    assert sim_scoreboard.main([str(ONE_CLIENT), "--run", ROW, "--every", "0.3"]) == 2
    assert "--every 0.3: a positive divisor of 1 s" in capsys.readouterr().err
