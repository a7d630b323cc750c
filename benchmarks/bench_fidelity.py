"""Fidelity: fit on one part of the real measurements, predict the rest, report both parts.

Reads the shared calibration set (``../shared/data/apache-bench/runs.csv``) and every campaign
in ``measurements/<campaign>/runs.csv`` (but ``--skip`` ones, by default PHP, whose content
needs the PHP model, and ``paced-recheck``, twelve rows on another machine that would have a
fit of their own: measurements/README.md). Rows are held out as ``measurements/holdout.csv``
says (its README: a third of each campaign's configuration points), the shared set's and any
row it does not name by a deterministic third (SHA-256 of the run id). The fit is
``mpmsim calibrate``'s own (:func:`mpmsim.calibration.fit.calibrate`), one per machine: the
shared set's rows and the campaigns' ran on different processors (measurements/README.md), and
a cost model describes one machine, so each is fitted on its own fit part, as a user
calibrates on their own server (``--joint``: one fit for all rows). Every row is then simulated
with its machine's fitted model, on the ``--hardware`` profile, less its ``idle_wake`` for a
machine ``machines.csv`` marks ``idle_wake`` ``none`` (measurements/README.md: the campaigns'
machine's light rows cost what its saturated rows do). Prints, for the held-out and the fitted
part (the figures: ``fidelity_figures.py``): throughput MAPE per campaign (and per MPM), the
share of ab runs whose p95 is within 20 %, and of runs whose peak PSS is within 10 %, and of
runs whose error log (the row's ``err_log_codes``) holds the same kinds of capacity warning as
the simulated parent's (``mpmsim.models.mpm.warnings``: MaxRequestWorkers reached, within
MinSpareThreads of it, scoreboard full; per kind the rows real / model / both).
Beside them, the same shares for the measurements themselves: each run predicted by another
repetition of its configuration (``repeatability``). A model predicting each configuration's
mean would do better, as its error holds one run's noise and a repetition's holds two: a
measure of the rows' noise, not a ceiling.

    python benchmarks/bench_fidelity.py [--jobs 2] [--joint] [--seed 1] [--replications 1]
                                        [--json out.json] [--costs-out fitted.yaml]
                                        [--measurements DIR] [--predict-with COSTS]

``--measurements measurements/shared-machine/lua`` reads campaigns measured on the shared set's
processor and kernel, every row held out (its README): the shared set's fit predicts runs of
the kinds it never saw, on its own machine, as a user who calibrates on the shared set would;
``--predict-with bench-1core`` predicts them with the shipped fit of all the shared rows.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fidelity_figures import figures, render, repeatability

from mpmsim.calibration.check import compare
from mpmsim.calibration.fit import calibrate
from mpmsim.calibration.measured import Setup
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.workloads.readers import MeasuredRun, read_measurements

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data" / "apache-bench" / "runs.csv"
MEASUREMENTS = REPO / "measurements"
#: the shared set's machine, as measurements/*/machines.csv names it
SHARED_MACHINE = "shared set's machine"


def campaign_files(root: Path, skip: Sequence[str]) -> list[tuple[str, Path]]:
    """(campaign, runs.csv) of every measured campaign under ``root`` but ``skip``."""
    if not root.is_dir():
        return []
    return [
        (p.parent.name, p) for p in sorted(root.glob("*/runs.csv")) if p.parent.name not in skip
    ]


def third(run_id: str) -> bool:
    """A deterministic third of the rows: the SHA-256 of the run id modulo 3 is 0."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "big") % 3 == 0


def holdout_table(path: Path) -> dict[str, bool]:
    """``run_id -> held out`` from ``measurements/holdout.csv`` (``campaign,run_id,held_out``)."""
    return {row["run_id"]: row["held_out"].strip() == "1" for row in _csv_rows(path)}


def machine_table(path: Path) -> dict[str, str]:
    """``campaign -> machine`` from ``measurements/machines.csv`` (``campaign,machine,
    processor,measured``): the processor each campaign ran on, so that each machine's rows are
    fitted apart; a campaign it does not name ran on the campaigns' machine."""
    return {row["campaign"]: row["machine"] for row in _csv_rows(path)}


def rests_cold(path: Path) -> dict[str, bool]:
    """``machine -> whether its idle vCPU wakes cold`` from ``machines.csv``'s ``idle_wake``
    column: ``none`` where the machine's light rows cost Apache the CPU per request its saturated
    rows do (no halted vCPU to wake: the hardware's ``idle_wake`` does not apply to its rows);
    any other value or none keeps the ``--hardware`` profile's."""
    return {
        row["machine"]: (row.get("idle_wake") or "").strip() != "none" for row in _csv_rows(path)
    }


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of the measurements' table ``path`` (none if it is absent)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_rows(
    skip: Sequence[str], shared: Path = SHARED, measurements: Path = MEASUREMENTS
) -> tuple[list[MeasuredRun], list[str], list[bool]]:
    """All rows, the campaign of each (``shared/<scenario>`` for the shared set), held out?"""
    runs: list[MeasuredRun] = []
    campaign: list[str] = []
    hold: list[bool] = []
    for run in read_measurements(shared):
        runs.append(run)
        campaign.append(f"shared/{run.scenario}")
        hold.append(third(run.run_id))
    table = holdout_table(measurements / "holdout.csv")
    for name, path in campaign_files(measurements, skip):
        for run in read_measurements(path):
            runs.append(run)
            campaign.append(name)
            held = table.get(run.run_id)
            hold.append(third(run.run_id) if held is None else held)
    return runs, campaign, hold


def predict_only(
    args: argparse.Namespace,
    rows: tuple[list[MeasuredRun], list[str], list[bool]],
    hardware: Any,
    where: dict[str, str],
    t0: float,
) -> int:
    """``--predict-with``: every row of the shared set's machine predicted by one calibrated
    cost model (its round trip from the model's ``calibration`` block), none fitted."""
    runs, campaign, hold = rows
    costs = load_costs(args.predict_with)
    rtt = costs.calibration.get("network_rtt_ms")
    if rtt is None:
        print(f"bench_fidelity: error: --predict-with {args.predict_with}: no "
              "calibration.network_rtt_ms; give a cost model mpmsim calibrate wrote",
              file=sys.stderr)  # fmt: skip
        return 2
    keep = [
        i for i, c in enumerate(campaign)
        if c.startswith("shared/") or where.get(c) == SHARED_MACHINE
    ]  # fmt: skip
    # the shared rows are the ones the model was fitted on; a campaign's as holdout.csv says
    held = [hold[i] and not campaign[i].startswith("shared/") for i in keep]
    runs = [runs[i] for i in keep]
    campaign = [campaign[i] for i in keep]
    compared = compare(runs, costs, Setup(hardware, float(rtt)), held_out=held, jobs=args.jobs,
                       seed=args.seed, replications=args.replications)  # fmt: skip
    figs = figures(compared, {r.run_id: c for r, c in zip(runs, campaign, strict=True)})
    print(f"seed {args.seed}; no fit: every row predicted by {costs.name} "
          f"(the mean of {args.replications} simulation(s))")  # fmt: skip
    print(render(figs, 0, time.perf_counter() - t0))
    if args.json:
        data = {"seed": args.seed, "replications": args.replications, "costs": costs.name,
                "figures": figs, "rows": compared}  # fmt: skip
        args.json.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="processes simulating rows")
    ap.add_argument(
        "--skip", default="php,paced-recheck", help="campaigns to leave out, comma-separated"
    )
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared runs.csv")
    ap.add_argument("--measurements", type=Path, default=MEASUREMENTS, help="campaigns' folder")
    ap.add_argument("--base", default="default", help="cost model to start the fit from")
    ap.add_argument(
        "--keep",
        default="",
        help="parameters to keep at the base's values, e.g. switch_us_per_task,thread_used_kib",
    )
    ap.add_argument(
        "--hardware", default="bench-1core", help="hardware profile (name or YAML) of the rows"
    )
    ap.add_argument(
        "--scheduler", choices=("ps", "cfs", "eevdf"), help="override the profile's cpu_scheduler"
    )
    ap.add_argument(
        "--joint",
        action="store_true",
        help="one fit for all rows, though the shared set and the campaigns ran on different"
        " processors (by default each is fitted from its own fit part; --costs-out then writes"
        " the shared set's costs)",
    )
    ap.add_argument(
        "--seed", type=int, default=1,
        help="the simulation seed of every row (another seed: another draw of the model's "
        "randomness, e.g. the shared host's slow phases; 1 as calibrate)",
    )  # fmt: skip
    ap.add_argument(
        "--replications", type=int, default=1,
        help="simulations per row in the comparison, each figure their mean (1 as calibrate)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="also write the figures and rows as JSON here")
    ap.add_argument("--costs-out", type=Path, help="write the fitted cost model (YAML) here")
    ap.add_argument(
        "--predict-with", metavar="COSTS",
        help="no fit: predict the shared set's machine's rows with this calibrated cost model "
        "(e.g. bench-1core, fitted on every shared row): the shared rows count as fitted, the "
        "campaigns' rows as holdout.csv says (measurements/shared-machine: all held out)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    skip = [s for s in args.skip.split(",") if s]
    runs, campaign, hold = load_rows(skip, args.shared, args.measurements)
    t0 = time.perf_counter()
    hardware = load_hardware(args.hardware)
    if args.scheduler:
        hardware = hardware.model_copy(update={"cpu_scheduler": args.scheduler})
    # One fit for all rows, or one per machine: the shared set's and this project's campaigns
    # (measurements/README.md: another processor, on which the static page costs a third less),
    # and any campaign measured on a third (measurements/machines.csv).
    where = machine_table(args.measurements / "machines.csv")
    if args.predict_with:
        return predict_only(args, (runs, campaign, hold), hardware, where, t0)
    keep = [k for k in args.keep.split(",") if k]
    machine = [
        SHARED_MACHINE if c.startswith("shared/") else where.get(c, "campaigns' machine")
        for c in campaign
    ]
    names = list(dict.fromkeys(machine))
    parts = (
        {"all rows": [True] * len(runs)}
        if args.joint
        else {name: [m == name for m in machine] for name in names}
    )
    # A machine whose light rows show no cold wake-ups is simulated without them (machines.csv);
    # one fit for all rows keeps the --hardware profile's.
    cold = rests_cold(args.measurements / "machines.csv")
    cals = {}
    for name, member in parts.items():
        idx = [i for i, m in enumerate(member) if m]
        if not idx:
            continue
        own = hardware if cold.get(name, True) else hardware.without_idle_wake()
        cals[name] = calibrate(
            [runs[i] for i in idx], load_costs(args.base), own,
            held_out=[hold[i] for i in idx], jobs=args.jobs, name="bench-1core", keep=keep,
            sources=[f"{name} (fit part)"], seed=args.seed, replications=args.replications,
        )  # fmt: skip
    rows = [r for cal in cals.values() for r in cal.rows]
    skipped = [r for cal in cals.values() for r in cal.skipped]
    campaign_of = {r.run_id: c for r, c in zip(runs, campaign, strict=True)}
    figs = figures(rows, campaign_of)
    repeat = repeatability(runs, campaign)
    print(f"seed {args.seed}; each row predicted by the mean of {args.replications} simulation(s)")
    for name, cal in cals.items():  # what a fit's rows say against its assumptions (calibrate's)
        for warning in cal.warnings:
            print(f"{name}: warning: {warning}")
    print(render(figs, len(skipped), time.perf_counter() - t0, repeat))
    if args.json:
        data = {"seed": args.seed, "replications": args.replications, "figures": figs,
                "repeatability": repeat, "rows": rows, "skipped": skipped,
                "costs": {n: c.costs.model_dump(exclude={"justification"})
                          for n, c in cals.items()}}  # fmt: skip
        args.json.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    if args.costs_out:
        from mpmsim.calibration.output import write_costs_yaml

        write_costs_yaml(next(iter(cals.values())), args.costs_out, force=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
