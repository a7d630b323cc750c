"""``mpmsim calibrate``: fit a cost model to measured runs (and the USL beside it)."""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mpmsim.cli.options import check_target
from mpmsim.errors import InputError

if TYPE_CHECKING:
    from mpmsim.calibration.result import Calibration


def calibrate(
    measurements: Annotated[
        list[Path],
        typer.Argument(
            help="Measurement CSVs (data/apache-bench/runs.csv format), or ab / wrk reports, "
            "JMeter JTLs and k6 summaries with --scenario."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Cost-model YAML to write.")
    ] = None,
    hardware: Annotated[
        str,
        typer.Option(
            help="Hardware the measurement CSV rows were measured on (ab / wrk outputs run on "
            "their scenario's)."
        ),
    ] = "bench-1core",
    idle_wake: Annotated[
        bool,
        typer.Option(
            help="--no-idle-wake: the machine's idle vCPU does not halt (bare metal, a core "
            "that polls); fit without the hardware's cold wake-ups (idle_wake)."
        ),
    ] = True,
    base: Annotated[str, typer.Option(help="Cost model to start from.")] = "default",
    holdout: Annotated[
        str | None,
        typer.Option(help="Keep rows out of the fit: COLUMN=VALUE[,VALUE], COLUMN>X, or 0.2."),
    ] = None,
    name: Annotated[str, typer.Option(help="Name of the fitted cost model.")] = "calibrated",
    jobs: Annotated[int, typer.Option(help="Processes simulating rows.", min=1)] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a predicted-vs-measured HTML.")] = None,
    usl: Annotated[bool, typer.Option(help="Also fit the Universal Scalability Law.")] = False,
    memory_csv: Annotated[
        Path | None,
        typer.Option(
            help="PHP memory series (measurements/php/memory.csv): fits the PHP "
            "children's growth per request; without it the base's is kept."
        ),
    ] = None,
    keep: Annotated[
        str,
        typer.Option(
            help="Parameters to keep at the base's values, comma-separated "
            "(e.g. switch_us_per_task,thread_used_kib)."
        ),
    ] = "",
    replications: Annotated[
        int,
        typer.Option(
            help="Simulations per row in the comparison, each figure their mean (the model's "
            "expected figures rather than one draw; N times the comparison's time).",
            min=1,
            max=100,
        ),
    ] = 1,
    force: Annotated[bool, typer.Option(help="Overwrite -o and --plot.")] = False,
    scenario: Annotated[
        list[Path] | None,
        typer.Option(
            help="The scenario a load tool's output ran (its hardware, MPM, directives, mix and "
            "cost model; ab's and wrk's load replaces the scenario's, JMeter's and k6's runs the "
            "scenario's own closed load): one for every output, or one per output in their "
            "order. From such outputs only the handler CPU is fitted."
        ),
    ] = None,
) -> None:
    """Fit a cost model to measured runs and show how well the simulator reproduces them."""
    from mpmsim.calibration.files import fit_runs, keep_names, read_runs
    from mpmsim.calibration.output import holdout_mask, write_costs_yaml, write_plot
    from mpmsim.calibration.usl import fit_usl_groups

    for target, flag in ((out, "-o"), (plot, "--plot")):
        if target is not None:
            check_target(target, flag, force)
    kinds = _kinds(measurements)
    if any(k != "measurements" for k in kinds):
        _refuse_csv_options(holdout, memory_csv, plot, usl, keep, replications)
        from mpmsim.cli.calibrate_tools import calibrate_tools

        calibrate_tools(measurements, kinds, scenario or [], out, name, as_json, force)
        return
    if scenario:
        raise InputError(
            "is for load-tool outputs; measurement CSV rows name their own configuration",
            field="--scenario",
        )
    kept = keep_names(keep.split(","))
    runs = read_runs(measurements)
    mask = holdout_mask(runs, holdout)
    cal = fit_runs(
        measurements, runs, mask, kept, hardware=hardware, base=base, name=name, jobs=jobs,
        replications=replications, memory_csv=memory_csv, idle_wake=idle_wake,
        progress=None if as_json else _progress,
    )  # fmt: skip
    usl_fits = (
        fit_usl_groups([r for r, out_ in zip(runs, mask, strict=True) if not out_]) if usl else []
    )
    if out is not None:
        write_costs_yaml(cal, out, force=force, command=shlex.join(["mpmsim", *sys.argv[1:]]))
    if plot is not None:
        write_plot(cal, plot)
    _show(cal, usl_fits, out, as_json)
    if plot is not None and not as_json:
        typer.echo(f"wrote {plot}")


def _usl_peak(fit: dict[str, Any]) -> str:
    """Where the fitted curve peaks, or that it does not within ten times the clients tested
    (kappa about 0: throughput levels off at gamma / sigma instead)."""
    peak, top = fit["peak_concurrency"], fit["max_concurrency"]
    if math.isinf(peak) or peak > 10 * top:
        return f"no peak within 10x the {top} clients tested (levels off)"
    return f"peak at {peak:.0f} clients ({fit['peak_throughput']:.0f} req/s)"


def _kinds(measurements: list[Path]) -> list[str]:
    """What each input is (a measurement CSV, or a load tool's output); the two kinds do not
    mix in one fit."""
    from mpmsim.workloads.readers import sniff

    kinds = [sniff(path) for path in measurements]
    if "measurements" in kinds and any(k != "measurements" for k in kinds):
        other = next(p for p, k in zip(measurements, kinds, strict=True) if k != "measurements")
        raise InputError(
            "is a load tool's output beside measurement CSVs: calibrate fits either measurement "
            "CSVs or ab / wrk outputs with their --scenario, not both at once",
            file=str(other),
        )
    return kinds


def _refuse_csv_options(
    holdout: str | None, memory_csv: Path | None, plot: Path | None, usl: bool, keep: str,
    replications: int,
) -> None:  # fmt: skip
    """The options that work on measurement CSV rows, refused with load-tool outputs."""
    given = {"--holdout": holdout is not None, "--memory-csv": memory_csv is not None,
             "--plot": plot is not None, "--usl": usl, "--keep": bool(keep),
             "--replications": replications != 1}  # fmt: skip
    for flag, is_given in given.items():
        if is_given:
            raise InputError(
                "applies to measurement CSVs; from ab / wrk outputs calibrate fits the handler "
                "CPU alone",
                field=flag,
            )


def _progress(done: int, total: int) -> None:
    """Count simulations on stderr, in place (the rows one child can hold, the tail fit's grid,
    then every row)."""
    if sys.stderr.isatty():
        end = "\n" if done == total else "\r"
        print(f"simulating measured runs: {done}/{total}", end=end, file=sys.stderr)
    elif done == total or done % max(1, total // 10) == 0:  # a log: a line a tenth
        print(f"simulating measured runs: {done}/{total}", file=sys.stderr)


def _show(
    cal: Calibration, usl_fits: list[dict[str, Any]] | None, out: Path | None, as_json: bool
) -> None:
    """Print the calibration (and the USL fits, None unless asked for): JSON, or the table and
    the file written."""
    from mpmsim.calibration.output import render

    if as_json:
        data = cal.as_dict()
        data["usl"] = usl_fits or []
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    typer.echo(render(cal))
    if usl_fits is not None and not usl_fits:
        typer.echo(
            "USL: no group (MPM, tool, keep-alive, content) of fitted rows has runs at three "
            "or more concurrency levels"
        )
    for f in usl_fits or []:
        typer.echo(f"USL {f['group']}: sigma {f['sigma']:.4g}, kappa {f['kappa']:.4g}, "
                   f"gamma {f['gamma']:.4g}, {_usl_peak(f)}, R^2 {f['r_squared']:.3f}")  # fmt: skip
    if out is not None:
        typer.echo(f"wrote {out}")
