"""``mpmsim report``: one scenario sized on several instances, and which fleet to buy.

Exit codes: 0 a fleet meets every goal (the report recommends it), 1 the report is complete but
no fleet meets the goals, 2 bad input.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    Sets,
    check_target,
)
from mpmsim.cli.status import StatusLine

if TYPE_CHECKING:
    from mpmsim.sizing.result import SizingReport


class ReportFormat(StrEnum):
    """The file format of ``mpmsim report -o``."""

    html = "html"
    md = "md"


def report(
    scenario: ScenarioFile,
    instances: Annotated[
        str, typer.Option(help="Instances to compare, comma-separated (mpmsim hardware list).")
    ],
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="Write the report here (see --format)."),
    ] = None,
    fmt: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            help="html (one self-contained page) or md (Markdown). Default: md for -o *.md, else "
            "html. Without -o, md prints the Markdown instead of the text table.",
        ),
    ] = None,
    mpm: Annotated[str, typer.Option(help="prefork, worker, event or all.")] = "all",
    p95_ms: P95Ms = None,
    max_error_rate: MaxErrorRate = 0.01,
    headroom: Headroom = 0.1,  # search.goals.DEFAULT_HEADROOM (a test checks it)
    growth: Annotated[
        float, typer.Option(help="Plan for this times the load (1.5: 50 % growth).")
    ] = 1.0,
    target_rps: Annotated[
        float | None,
        typer.Option(help="The load to carry, req/s (default: the scenario's offered load)."),
    ] = None,
    max_instances: Annotated[
        int, typer.Option(help="The largest fleet sized per instance type.", min=1)
    ] = 64,
    jobs: Jobs = 1,
    scheduler: Scheduler = None,
    cache_dir: CacheDir = None,
    resume: Resume = False,
    as_json: AsJson = False,
    force: Annotated[bool, typer.Option(help="Overwrite -o.")] = False,
    set_: Sets = None,
) -> None:
    """Size a scenario on several instances, alone and as fleets: cost, goals, what to buy."""
    from mpmsim.sizing.report import build_report

    if out is not None:
        check_target(out, "-o", force)
    status = StatusLine()
    rep = build_report(
        scenario, instances.split(","), mpm=mpm, p95_ms=p95_ms, max_error_rate=max_error_rate,
        headroom=headroom, growth=growth, target_rps=target_rps, max_count=max_instances,
        jobs=jobs, scheduler=scheduler, cache_dir=cache_dir, resume=resume, progress=status.show,
        overrides=tuple(set_ or ()),
    )  # fmt: skip
    status.done()
    _show(rep, out, fmt, as_json)
    if not rep.goals_met:
        raise typer.Exit(1)  # the report is complete but no fleet met the goals


def _show(rep: SizingReport, out: Path | None, fmt: ReportFormat | None, as_json: bool) -> None:
    """Write ``-o`` in its format and print the text (or JSON); ``--format md`` alone prints
    the Markdown instead."""
    from mpmsim.sizing.report import render_text

    if fmt is None:
        fmt = ReportFormat.md if out is not None and out.suffix.lower() == ".md" else None
    if fmt is ReportFormat.md:
        from mpmsim.sizing.markdown import render_markdown

        page = render_markdown(rep)
        if out is None:
            typer.echo(page)
            return
        out.write_text(page, encoding="utf-8")
    elif out is not None:
        from mpmsim.sizing.html import write_report

        write_report(rep, out, overwrite=True)
    data = rep.to_dict()
    typer.echo(json.dumps(data, indent=2) if as_json else render_text(data))
