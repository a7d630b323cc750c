"""What ships with mpmsim: the ``schema``, the ``examples`` and the ``hardware`` group."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from mpmsim.errors import InputError

hardware_app = typer.Typer(no_args_is_help=True, help="Hardware profiles.", rich_markup_mode=None)


def schema() -> None:
    """Print the JSON Schema of the scenario file."""
    from mpmsim.spec.scenario import scenario_json_schema

    typer.echo(json.dumps(scenario_json_schema(), indent=2))


def examples(
    copy_to: Annotated[
        Path | None, typer.Option("--copy", help="Copy the examples into this folder.")
    ] = None,
) -> None:
    """List the example workloads shipped with mpmsim (or copy them to a folder)."""
    from importlib.resources import as_file, files

    folder = files("mpmsim.workloads") / "examples"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml"))
    if copy_to is None:
        with as_file(folder) as path:
            for name in names:
                typer.echo(str(Path(path) / name))
        return
    copy_to.mkdir(parents=True, exist_ok=True)
    clash = [n for n in names if (copy_to / n).exists()]
    if clash:
        raise InputError(
            f"would overwrite {', '.join(clash)}; remove them first",
            field="--copy",
            file=str(copy_to),
        )
    for name in names:
        (copy_to / name).write_text((folder / name).read_text(encoding="utf-8"), encoding="utf-8")
        typer.echo(str(copy_to / name))
    for log in sorted(p.name for p in folder.iterdir() if p.name.endswith(".log.gz")):
        (copy_to / log).write_bytes((folder / log).read_bytes())  # the trace example's log


@hardware_app.command("list")
def hardware_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the shipped hardware profiles."""
    from mpmsim.models.hardware import hardware_table

    rows = hardware_table()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    typer.echo("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        typer.echo("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


@hardware_app.command("probe")
def hardware_probe(
    seconds: Annotated[
        float, typer.Option(min=1.0, help="How long to measure (a minute or more reads well).")
    ] = 60.0,
    cpu: Annotated[
        int | None, typer.Option(min=0, help="The vCPU to measure (default: where it runs).")
    ] = None,
    window_ms: Annotated[float, typer.Option(min=1.0, help="Length of one window.")] = 10.0,
    access_log: Annotated[
        list[Path] | None,
        typer.Option(
            help="Read instead the access log of a run that kept the server CPU-bound "
            "(repeatable); needs %{usec}t or %{msec}t."
        ),
    ] = None,
    log_format: Annotated[
        str, typer.Option(help="The logs' LogFormat string or nickname.")
    ] = "combined",
    skip_s: Annotated[
        float, typer.Option(min=0.0, help="Seconds of each log left out at its start.")
    ] = 1.5,
) -> None:
    """Measure how a shared host slows this machine's vCPU: the host_contention block."""
    from mpmsim.bench.host_probe import from_access_logs, probe

    if access_log:
        try:
            found = from_access_logs([str(p) for p in access_log], log_format, window_ms, skip_s)
        except ValueError as exc:
            raise InputError(f"{exc} (a shorter --skip-s or --window-ms?)",
                             field="--access-log") from None  # fmt: skip
        where = f"{len(access_log)} access log(s), requests finished per window"
    else:
        if cpu is not None and cpu not in os.sched_getaffinity(0):
            raise InputError(f"no vCPU {cpu} here (this process may run on "
                             f"{sorted(os.sched_getaffinity(0))})", field="--cpu")  # fmt: skip
        found = probe(seconds, cpu, window_ms)
        where = f"vCPU {cpu}" if cpu is not None else "the vCPUs this process may use"
    typer.echo(found.header(where))
    if found.slow_fraction == 0.0:
        typer.echo("# no slow window: leave host_contention out of the hardware file")
        return
    typer.echo(found.as_yaml().rstrip("\n"))
