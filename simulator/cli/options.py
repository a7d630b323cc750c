"""Option types that several commands share, and the check of a file a command will write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mpmsim.errors import InputError

ScenarioFile = Annotated[Path, typer.Argument(help="The scenario file (workload.yaml).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Seed = Annotated[int | None, typer.Option(help="Override the scenario's seed.", min=0)]

# Options that optimize and report share (the report runs the optimizer on each instance).
P95Ms = Annotated[float | None, typer.Option(help="Latency goal: p95 at most this.")]
MaxErrorRate = Annotated[float, typer.Option(help="Largest fraction of failed requests.")]
Headroom = Annotated[float, typer.Option(help="RAM fraction kept free.")]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario key first: KEY=VALUE (repeatable)."),
]
Jobs = Annotated[int, typer.Option(help="Local processes simulating candidates.")]
Scheduler = Annotated[str | None, typer.Option(help="Dask scheduler address, or dask://local.")]
CacheDir = Annotated[
    Path | None, typer.Option(help="Cache folder (default ~/.cache/mpmsim/optimize).")
]
Resume = Annotated[bool, typer.Option(help="Reuse cached points of an earlier run.")]


def check_target(path: Path, field: str, force: bool) -> None:
    """A file the command will write: not over the user's without --force, in a real folder."""
    if path.is_dir():
        raise InputError("is a folder; name a file", file=str(path), field=field)
    if path.exists() and not force:
        raise InputError("exists; use --force to overwrite it", file=str(path), field=field)
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist", file=str(path), field=field)
    check_writable(path.parent if not path.exists() else path, field)


def check_writable(path: Path, field: str) -> None:
    """A file or folder the command will write into: writable now, so that a read-only folder
    is said before the work rather than after it (the write's own error is caught too)."""
    if not os.access(path, os.W_OK):
        what = "folder" if path.is_dir() else "file"
        raise InputError(f"the {what} is not writable", file=str(path), field=field)
