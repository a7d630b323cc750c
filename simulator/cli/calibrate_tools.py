"""``mpmsim calibrate OUTPUT... --scenario S.yaml``: the CPU from load-tool outputs' throughputs."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from mpmsim.errors import InputError


def calibrate_tools(
    outputs: list[Path], kinds: list[str], scenarios: list[Path], out: Path | None, name: str,
    as_json: bool, force: bool,
) -> None:  # fmt: skip
    """Fit the CPU to ``outputs`` (of ``kinds``), each run on its scenario, and show it."""
    from mpmsim.calibration.from_tools import fit_cpu_factor
    from mpmsim.calibration.tool_output import render, write_costs
    from mpmsim.calibration.tool_runs import tool_run

    paired = _pair(outputs, scenarios)
    runs = [tool_run(path, kind, s) for (path, s), kind in zip(paired, kinds, strict=True)]
    fit = fit_cpu_factor(runs, name=name, progress=None if as_json else _progress)
    if not as_json and sys.stderr.isatty():
        print(file=sys.stderr)  # past the progress line
    if out is not None:
        write_costs(fit, out, force=force, command=shlex.join(["mpmsim", *sys.argv[1:]]))
    if as_json:
        data = fit.as_dict()
        data["costs_file"] = None if out is None else str(out)
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    typer.echo(render(fit))
    if out is not None:
        typer.echo(f"wrote {out}")


def _pair(outputs: list[Path], scenarios: list[Path]) -> list[tuple[Path, Path]]:
    """Each output with its scenario: one scenario for all, or one each in order."""
    if not scenarios:
        raise InputError(
            "is a load tool's output: give the scenario it ran with --scenario S.yaml (its "
            "hardware, MPM, directives and mix)",
            file=str(outputs[0]),
        )
    if len(scenarios) == 1:
        return [(o, scenarios[0]) for o in outputs]
    if len(scenarios) != len(outputs):
        raise InputError(
            f"{len(scenarios)} scenarios for {len(outputs)} outputs: give one for all, or one "
            "per output in their order",
            field="--scenario",
        )
    return list(zip(outputs, scenarios, strict=True))


def _progress(n: int, rms: float) -> None:
    """The fit's evaluations on stderr."""
    if sys.stderr.isatty():
        print(f"fitting the CPU: evaluation {n}, rms log error {rms:.4f}", end="\r",
              file=sys.stderr)  # fmt: skip
