"""``mpmsim report``: one scenario sized on several instances, and which one to buy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mpmsim.cli.options import (
    AsJson,
    CacheDir,
    Headroom,
    Jobs,
    MaxErrorRate,
    P95Ms,
    Resume,
    ScenarioFile,
    Scheduler,
    check_target,
)
from mpmsim.cli.status import StatusLine


def report(
    scenario: ScenarioFile,
    instances: Annotated[
        str, typer.Option(help="Instances to compare, comma-separated (mpmsim hardware list).")
    ],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write the report as HTML here.")
    ] = None,
    mpm: Annotated[str, typer.Option(help="prefork, worker, event or all.")] = "all",
    p95_ms: P95Ms = None,
    max_error_rate: MaxErrorRate = 0.01,
    headroom: Headroom = 0.1,
    jobs: Jobs = 1,
    scheduler: Scheduler = None,
    cache_dir: CacheDir = None,
    resume: Resume = False,
    as_json: AsJson = False,
    force: Annotated[bool, typer.Option(help="Overwrite -o.")] = False,
) -> None:
    """Size a scenario on several instances: cost, headroom, and which one to buy."""
    from mpmsim.sizing.report import build_report, render_text

    if out is not None:
        check_target(out, "-o", force)
    status = StatusLine()
    data = build_report(
        scenario, instances.split(","), mpm=mpm, p95_ms=p95_ms, max_error_rate=max_error_rate,
        headroom=headroom, jobs=jobs, scheduler=scheduler, cache_dir=cache_dir, resume=resume,
        progress=status.show,
    )  # fmt: skip
    status.done()
    if out is not None:
        from mpmsim.sizing.html import write_report

        write_report(data, out, overwrite=True)
    typer.echo(json.dumps(data, indent=2) if as_json else render_text(data))
    if data["recommendation"] is None:
        raise typer.Exit(1)  # the report is complete but no instance met the goals
