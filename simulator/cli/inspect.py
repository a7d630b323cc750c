"""``mpmsim inspect``: read a running Apache and write its scenario skeleton and cost model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mpmsim.cli.options import AsJson


def inspect(
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Folder for scenario.yaml and costs.yaml.")
    ],
    pid: Annotated[
        int | None,
        typer.Option(help="PID of the running Apache (default: the one its PidFile names).", min=1),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Config file the server reads (default: its own, as apache2 -V says); its "
            "folder is the ServerRoot unless the server was started with -d."
        ),
    ] = None,
    window_s: Annotated[
        float, typer.Option(help="Seconds over which memory is sampled.", min=0, max=3600)
    ] = 5.0,
    as_json: AsJson = False,
    force: Annotated[bool, typer.Option(help="Overwrite the files in -o.")] = False,
) -> None:
    """Read a running Apache (MPM, modules, directives, memory); write a scenario and costs."""
    from mpmsim.inspection.inspector import check_output, inspect_apache, write_inspection
    from mpmsim.inspection.summary import summary_lines

    check_output(out, force)
    found = inspect_apache(pid=pid, config=config, window_s=window_s)
    scenario, costs = write_inspection(found, out, force=force)
    if as_json:
        data = found.to_dict() | {"written": {"scenario": str(scenario), "costs": str(costs)}}
        typer.echo(json.dumps(data, indent=2))
        return
    for line in summary_lines(found):
        typer.echo(line)
    typer.echo(f"Wrote {scenario} and {costs}; next: mpmsim run {scenario}")
