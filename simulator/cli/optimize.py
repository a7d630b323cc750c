"""``mpmsim optimize``: the best MPM sizing for a machine, and the Apache block to paste."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    Seed,
    Sets,
    check_target,
)
from mpmsim.cli.status import StatusLine

if TYPE_CHECKING:
    from mpmsim.search.result import OptimizeResult

TargetRps = Annotated[
    float | None,
    typer.Option(
        help="Throughput goal, req/s (default: an open load's offered rate; none for a closed "
        "load)."
    ),
]


def optimize(
    scenario: ScenarioFile,
    mpm: Annotated[
        str | None, typer.Option(help="prefork, worker, event or all (default: the scenario's).")
    ] = None,
    ram_mib: Annotated[float | None, typer.Option(help="RAM of the machine, MiB.")] = None,
    p95_ms: P95Ms = None,
    max_error_rate: MaxErrorRate = 0.01,
    headroom: Headroom = 0.1,  # search.goals.DEFAULT_HEADROOM (a test checks it)
    target_rps: TargetRps = None,
    replications: Annotated[
        int | None,
        typer.Option(help="Replications per candidate (default: the scenario's, at least 3)."),
    ] = None,
    seed: Seed = None,
    jobs: Jobs = 1,
    scheduler: Scheduler = None,
    budget: Annotated[int | None, typer.Option(help="At most this many simulations.")] = None,
    cache_dir: CacheDir = None,
    resume: Resume = False,
    as_json: AsJson = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write the throughput / p95 / memory curves (HTML).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --plot.")] = False,
    spares: Annotated[
        bool, typer.Option(help="Also try default and all-started spare settings on the best.")
    ] = False,
    keepalive: Annotated[
        bool,
        typer.Option("--keepalive", help="Also try KeepAlive Off and KeepAliveTimeout 1 and 2 s."),
    ] = False,
    set_: Sets = None,
) -> None:
    """Search MaxRequestWorkers / ThreadsPerChild / ServerLimit (and the MPM) for a machine.

    Exit code 0 when a configuration meets every goal, 1 when none does (the closest one and
    advice are shown), 2 for bad input.
    """
    from mpmsim.search.optimizer import optimize as run_optimize

    if plot is not None:
        check_target(plot, "--plot", force)
    search = partial(
        run_optimize, scenario, mpm=mpm, ram_mib=ram_mib, p95_ms=p95_ms,
        max_error_rate=max_error_rate, headroom=headroom, target_rps=target_rps,
        replications=replications, seed=seed,
        jobs=jobs, scheduler=scheduler, budget=budget, cache_dir=cache_dir, resume=resume,
        spares=spares, keepalive=keepalive, overrides=tuple(set_ or ()),
    )  # fmt: skip
    data = _with_status(search).to_dict()
    _show(data, plot, as_json)
    if not data["goals_met"]:
        raise typer.Exit(1)  # the search completed but no configuration met every goal


def _with_status(search: Callable[..., OptimizeResult]) -> OptimizeResult:
    """Run ``search`` with a live status line; Ctrl-C exits 130 and says how to go on."""
    status = StatusLine()
    try:
        result = search(progress=status.show)
    except KeyboardInterrupt:
        status.done()
        typer.echo(
            "mpmsim: interrupted; finished simulations are cached: run the same command with "
            "--resume to go on",
            err=True,
        )
        raise typer.Exit(130) from None
    status.done()
    return result


def _show(data: dict[str, Any], plot: Path | None, as_json: bool) -> None:
    """Warn about a cache problem, write the plot, print the result (JSON or text)."""
    from mpmsim.search.text import render_text

    if data["timing"]["cache_problem"]:
        typer.echo(f"mpmsim: warning: {data['timing']['cache_problem']}", err=True)
    if plot is not None:
        from mpmsim.search.plot import write_plot

        write_plot(data, plot, overwrite=True)
    typer.echo(json.dumps(data, indent=2) if as_json else render_text(data))
