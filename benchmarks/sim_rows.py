"""What the ``sim_*`` diagnostics share: the measured rows to simulate and the set-up to run them.

``sim_waits.py`` and ``sim_scoreboard.py`` each simulate the rows of measurement CSVs whose run
id contains ``--run`` as ``bench_fidelity.py --predict-with COSTS`` does: the calibrated cost
model, the hardware profile (its scheduler and CPUs online may be overridden) and the cost
model's round trip, each row with its own seed (``row_seed``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mpmsim.calibration.check import row_seed
from mpmsim.calibration.measured import Setup
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel, load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.workloads.readers import MeasuredRun, read_measurements


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The rows to simulate and how: CSVs, ``--run``, cost model, hardware, seed."""
    ap.add_argument("csv", nargs="+", type=Path, help="measurement CSVs (mpmsim's columns)")
    ap.add_argument("--run", required=True, help="simulate the rows whose run id contains this")
    ap.add_argument("--costs", default="bench-1core", help="calibrated cost model (name or YAML)")
    ap.add_argument("--hardware", default="bench-1core", help="hardware profile (name or YAML)")
    ap.add_argument("--scheduler", choices=("cfs", "eevdf"), help="override its cpu_scheduler")
    ap.add_argument("--online-cpus", type=int, help="override its online_cpus (the slices' scale)")
    ap.add_argument("--seed", type=int, default=1, help="as bench_fidelity.py's (row_seed)")


def load_rows(args: argparse.Namespace) -> tuple[CostModel, Setup, list[tuple[Path, MeasuredRun]]]:
    """The cost model, the set-up and the selected rows (each with its CSV) of ``args``;
    InputError naming what is wrong."""
    costs = load_costs(args.costs)
    hw = load_hardware(args.hardware)
    if args.scheduler:
        hw = hw.model_copy(update={"cpu_scheduler": args.scheduler})
    if args.online_cpus is not None:
        if args.online_cpus < hw.vcpus:
            raise InputError(f"--online-cpus {args.online_cpus}: at least vcpus ({hw.vcpus})")
        hw = hw.model_copy(update={"online_cpus": args.online_cpus})
    rtt = costs.calibration.get("network_rtt_ms")
    if rtt is None:
        raise InputError(f"{args.costs}: no calibration.network_rtt_ms (not calibrated)")
    runs = [(path, r) for path in args.csv for r in read_measurements(path) if args.run in r.run_id]
    if not runs:
        raise InputError(f"--run {args.run}: no row of {', '.join(map(str, args.csv))}")
    return costs, Setup(hw, float(rtt)), runs


@dataclass(frozen=True)
class Row:
    """One selected row and what simulating it takes."""

    args: argparse.Namespace  # the diagnostic's own options too
    costs: CostModel
    setup: Setup
    path: Path  # the CSV the row came from
    run: MeasuredRun
    seed: int  # row_seed(--seed, its run id)


#: What a diagnostic prints for one row.
Show = Callable[[Row], str]


def main_over_rows(
    prog: str, ap: argparse.ArgumentParser, argv: list[str] | None, show: Show
) -> int:
    """Parse ``argv`` with ``ap`` (given :func:`add_arguments`), print ``show`` of each selected
    row with its seed (``row_seed``); 2 and a one-line error on bad input, else 0."""
    args = ap.parse_args(argv)
    try:
        costs, setup, runs = load_rows(args)
        for path, run in runs:
            seed = row_seed(args.seed, run.run_id)
            print(show(Row(args, costs, setup, path, run, seed)), flush=True)
    except InputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0
