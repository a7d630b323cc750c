"""``mpmsim run``: simulate one scenario, print a table or JSON, optionally write the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mpmsim.cli.options import AsJson, ScenarioFile, Seed, check_writable
from mpmsim.errors import InputError

OUT_FILES = ("result.json", "replications.csv", "requests.csv", "series.csv")


def run(
    scenario: ScenarioFile,
    as_json: AsJson = False,
    seed: Seed = None,
    replications: Annotated[
        int | None, typer.Option(help="Override the number of replications.", min=1)
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a key: --set server.directives.MaxRequestWorkers=150"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write per-request rows and time series to this folder.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite files in --out.")] = False,
) -> None:
    """Simulate a scenario: throughput, latency, memory, errors, and what limits them."""
    from mpmsim.cli.render import render_table
    from mpmsim.engine.replications import run as run_scenario

    if out is not None:
        _check_out(out, force)
    result = run_scenario(
        scenario, overrides=tuple(set_ or ()), seed=seed, replications=replications
    )
    data = result.to_dict()
    if out is not None:
        _write_out(out, result, data)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(render_table(data))
    if "reference" in data and not data["reference"]["within"]:
        raise typer.Exit(1)  # the run completed but missed its stated reference


def _check_out(out: Path, force: bool) -> None:
    """The --out folder: a folder, and none of the files a run writes unless --force."""
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", field="--out", file=str(out))
    check_writable(out if out.exists() else _existing_parent(out), "--out")
    clash = [name for name in OUT_FILES if (out / name).exists()]
    if clash and not force:
        raise InputError(
            f"would overwrite {', '.join(clash)}; use --force or another folder",
            field="--out",
            file=str(out),
        )


def _existing_parent(path: Path) -> Path:
    """The nearest folder above ``path`` that exists (``--out`` makes the ones missing)."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _write_out(out: Path, result: Any, data: dict[str, Any]) -> None:
    """Write the JSON result, the replications, the per-request rows and the time series."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    result.records_frame().to_csv(out / "replications.csv", index=False)
    result.requests_frame().to_csv(out / "requests.csv", index=False)
    result.series_frame().to_csv(out / "series.csv", index=False)
