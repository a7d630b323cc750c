"""The issue's "done means": optimize a shipped example, paste the block back, get the figures.

``mpmsim optimize workloads/examples/primer-ab-event.yaml --mpm all --json`` prints a winner and
its Apache block; ``mpmsim run`` with the winner's ``run_args`` (the block as ``--set``) gives
the same throughput, p95 and peak memory, because the search ran the same seed and replications.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mpmsim.search.block import check_block, parse_block
from tests.helpers import EXAMPLES


def _mpmsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mpmsim", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_primer_event_winner_block_reproduces_its_figures(tmp_path: Path) -> None:
    path = EXAMPLES / "primer-ab-event.yaml"
    plot = tmp_path / "curves.html"
    proc = _mpmsim("optimize", str(path), "--mpm", "all", "--json", "--jobs", "2",
                   "--cache-dir", str(tmp_path / "cache"), "--plot", str(plot))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["mpm"] for r in data["best_per_mpm"]] == ["prefork", "worker", "event"]
    winner = data["winner"]
    assert winner is not None and winner["feasible"]
    assert data["search"]["simulations"] < data["search"]["grid_size"]
    assert "plotly" in plot.read_text(encoding="utf-8")[:5000].lower()

    block = winner["block"]
    mpm, raw = parse_block(block)
    assert mpm == winner["mpm"] and block.startswith(f"<IfModule mpm_{mpm}_module>")
    effective, warnings = check_block(block, vcpus=2)  # t3.medium
    assert warnings == []  # Apache takes it as written
    assert (
        effective.MaxRequestWorkers == winner["MaxRequestWorkers"] == int(raw["MaxRequestWorkers"])
    )
    assert [a for a in winner["run_args"] if a.startswith("server.directives.")] == [
        f"server.directives.{k}={v}" for k, v in raw.items()
    ]

    again = _mpmsim("run", str(path), "--json", *winner["run_args"])
    assert again.returncode in (0, 1), again.stderr  # 1: the example's reference check may fail
    run = json.loads(again.stdout)
    assert run["mpm"] == winner["mpm"]
    assert run["throughput_rps"] == winner["throughput_rps"]
    assert run["latency_ms"]["p95"] == winner["p95_ms"]
    assert run["memory_mib"]["peak"] == winner["memory_peak_mib"]
    assert run["warnings"] == []


def test_plot_is_not_overwritten_without_force(tmp_path: Path) -> None:
    plot = tmp_path / "curves.html"
    plot.write_text("mine", encoding="utf-8")
    proc = _mpmsim("optimize", str(EXAMPLES / "primer-ab-event.yaml"), "--plot", str(plot),
                   "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert proc.returncode == 2
    assert "--plot" in proc.stderr and "--force" in proc.stderr
    assert plot.read_text(encoding="utf-8") == "mine"


@pytest.mark.slow
def test_ctrl_c_then_resume_repeats_no_finished_simulation(tmp_path: Path) -> None:
    path = EXAMPLES / "primer-ab-event.yaml"
    args = [sys.executable, "-m", "mpmsim", "optimize", str(path), "--mpm", "all",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # interrupt once a round has finished
        if "point(s) simulated" in line and "of this round" not in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert "Traceback" not in err and "--resume" in err
    cached = len(list((tmp_path / "cache").glob("*.json")))
    assert cached >= 1
    done = _mpmsim(*args[3:], "--resume", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["timing"]["cache_hits"] == cached
    assert data["timing"]["computed"] == data["search"]["simulations"] - cached


def test_plot_target_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "curves.html"
    proc = _mpmsim("optimize", str(EXAMPLES / "primer-ab-event.yaml"), "--plot", str(target))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(f"--plot: folder {target.parent} does not exist")
    assert len(proc.stderr.strip().splitlines()) == 1
