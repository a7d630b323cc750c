"""Benchmark ``mpmsim optimize``: adaptive search against the full grid, and its parallel speed-up.

For each standard case (event on a t3.medium: the primer's ``ab`` run, and open keep-alive
browsers) it prints the full grid's best vs the adaptive answer (gap %, aim <= 2 %), the
simulations used vs the grid size (aim <= 15 %), the wall time (aim <= 60 s) and the speed-up
of 2 worker processes over 1 (aim >= 1.7x; best of 3 timed runs each). The grid is every
ThreadsPerChild the search tries (25, 32, 50, 64) times MaxRequestWorkers up to 1024.
Run: ``python benchmarks/bench_optimize.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from mpmsim.search.optimizer import optimize

EXAMPLES = Path(__file__).resolve().parent.parent / "workloads" / "examples"
CASES = ("primer-ab-event.yaml", "keepalive-idle-browsers.yaml")
REPEAT = 3
"""Timed runs per setting; the best wall time is kept (the usual guard against a noisy host)."""


def _timed(path: Path, repeat: int = 1, **kw: Any) -> tuple[dict[str, Any], float]:
    """The result and the best wall time of ``repeat`` runs, each with an empty cache."""
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            data = optimize(path, mpm="event", cache_dir=tmp, **kw).to_dict()
            best = min(best, time.perf_counter() - t0)
    return data, best


def _gap_pct(grid_best: dict[str, Any], ours: dict[str, Any], objective: str) -> float:
    """How much worse the adaptive answer is: throughput lost, or (for a target load) memory."""
    if objective == "memory@load":
        return 100.0 * (float(ours["memory_peak_mib"]) / float(grid_best["memory_peak_mib"]) - 1.0)
    return 100.0 * (1.0 - float(ours["throughput_rps"]) / float(grid_best["throughput_rps"]))


def main() -> None:
    """Run every case and print one block of figures per case."""
    argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Takes no arguments; runs for several minutes."
    ).parse_args()
    for name in CASES:
        path = EXAMPLES / name
        grid, grid_s = _timed(path, full_grid=True, jobs=2)
        one, one_s = _timed(path, repeat=REPEAT, jobs=1)
        two, two_s = _timed(path, repeat=REPEAT, jobs=2)
        dask, dask_s = _timed(path, repeat=REPEAT, scheduler="dask://local")
        g, a = grid["winner"], two["winner"]
        assert one["winner"] == a == dask["winner"], "jobs=1, jobs=2 and Dask disagree"
        s = two["search"]
        print(f"== {name} (event, {two['hardware']}, objective {two['objective']})")
        print(
            f"full grid best: MRW {g['MaxRequestWorkers']} TPC {g['ThreadsPerChild']}: "
            f"{g['throughput_rps']:.1f} req/s, {g['memory_peak_mib']:.1f} MiB "
            f"({grid['search']['simulations']} simulations, {grid_s:.1f} s on 2 processes)"
        )
        print(
            f"adaptive:       MRW {a['MaxRequestWorkers']} TPC {a['ThreadsPerChild']}: "
            f"{a['throughput_rps']:.1f} req/s, {a['memory_peak_mib']:.1f} MiB"
        )
        print(f"gap: {_gap_pct(g, a, two['objective']):.2f} % (aim <= 2 %)")
        share = 100.0 * s["simulations"] / s["grid_size"]
        print(
            f"simulations: {s['simulations']} of {s['grid_size']} grid points = {share:.1f} % "
            "(aim <= 15 %)"
        )
        print(
            f"wall: {one_s:.1f} s on 1 process, {two_s:.1f} s on 2 (aim <= 60 s; best of {REPEAT})"
        )
        print(f"speed-up 1 -> 2 processes: {one_s / two_s:.2f}x (aim >= 1.7x)")
        print(
            f"Dask LocalCluster of 2 worker processes: {dask_s:.1f} s, {one_s / dask_s:.2f}x "
            "(including the cluster's start)"
        )
        print()


if __name__ == "__main__":
    main()
