"""``mpmsim bench``: measure a live server with ab, wrk or kaclient; write measurement rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mpmsim.cli.options import check_target
from mpmsim.errors import InputError


def bench(
    url: Annotated[str, typer.Argument(help="The page to load, e.g. http://127.0.0.1/test.html")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Measurement CSV to write.")],
    tool: Annotated[
        str, typer.Option(help="ab or wrk (on PATH), or kaclient (paced keep-alive, loopback).")
    ] = "ab",
    concurrency: Annotated[
        str, typer.Option(help="Comma-separated concurrencies, e.g. 1,10,100.")
    ] = "1,10,100",
    keepalive: Annotated[bool, typer.Option(help="Reuse connections (ab -k; wrk).")] = False,
    duration_s: Annotated[int, typer.Option(help="Seconds per run.", min=1)] = 5,
    repetitions: Annotated[int, typer.Option(help="Runs per concurrency.", min=1)] = 1,
    apache_pid_file: Annotated[
        Path | None, typer.Option(help="Local Apache's pid file: sample its CPU and memory.")
    ] = None,
    status_url: Annotated[
        str | None, typer.Option(help="mod_status URL to read once mid-run (?auto is added).")
    ] = None,
    mpm: Annotated[
        str | None, typer.Option(help="The server's MPM (prefork, worker, event) for the rows.")
    ] = None,
    apache_config: Annotated[
        Path | None,
        typer.Option(help="The server's httpd.conf: its MPM and directives go into the rows."),
    ] = None,
    rate_per_client: Annotated[
        float | None, typer.Option(help="kaclient: requests per second per client (default 1).")
    ] = None,
    warmup_s: Annotated[
        int, typer.Option(help="Seconds of the same load before each measured run.", min=0)
    ] = 0,
    raw_dir: Annotated[
        Path | None, typer.Option(help="Keep each run's tool output here (<run_id>.<tool>.txt).")
    ] = None,
    scenario: Annotated[str, typer.Option(help="scenario column and run_id prefix.")] = "bench",
    content: Annotated[str, typer.Option(help="content column (static, cpu, ...).")] = "static",
    force: Annotated[bool, typer.Option(help="Overwrite --out.")] = False,
) -> None:
    """Measure a live server with ab, wrk or kaclient; write rows that feed ``mpmsim calibrate``."""
    from mpmsim.bench.measure import Extras, write_rows
    from mpmsim.bench.measure import bench as run_bench

    levels = _levels(concurrency)
    check_target(out, "--out", force)
    mpm, directives = _server(mpm, apache_config)
    rows = run_bench(
        url,
        tool=tool,
        concurrency=levels,
        keepalive=keepalive,
        duration_s=duration_s,
        apache_pid_file=apache_pid_file,
        status_url=status_url,
        repetitions=repetitions,
        progress=lambda line: typer.echo(line, err=True),
        mpm=mpm,
        directives=directives,
        extras=Extras(
            scenario=scenario,
            content=content,
            rate_per_client=rate_per_client,
            warmup_s=warmup_s,
            raw_dir=raw_dir,
        ),
    )
    write_rows(rows, out, overwrite=force)
    typer.echo(f"wrote {len(rows)} row(s) to {out}")
    if directives is None:
        typer.echo(
            f"mpmsim: warning: no --apache-config: the rows record Apache's defaults for {mpm} "
            "as the server's directives, which calibrate will simulate",
            err=True,
        )


def _server(mpm: str | None, config: Path | None) -> tuple[str, dict[str, str] | None]:
    """The MPM and directives the rows record (calibrate simulates them): --mpm, or the config
    file's LoadModule line, and the config file's directives; without one, Apache's defaults
    for the MPM (said once the rows are written)."""
    from mpmsim.models.apache.config_file import read_apache_tree
    from mpmsim.models.apache.rules import MPMS

    if mpm is not None and mpm not in MPMS:
        raise InputError(f"expected {', '.join(MPMS)}, got {mpm!r}", field="--mpm")
    directives = None
    if config is not None:
        tree = read_apache_tree(config, mpm)
        if mpm is not None and tree.mpm is not None and tree.mpm != mpm:
            raise InputError(f"loads mpm_{tree.mpm}, not {mpm} (--mpm)", file=str(config))
        mpm, directives = mpm or tree.mpm, dict(tree.directives)
    if mpm is None:
        raise InputError(
            "the server's MPM is needed (calibrate simulates each row's server): give --mpm "
            f"{'|'.join(MPMS)}, or --apache-config whose LoadModule line names it",
            field="--mpm",
        )
    return mpm, directives


def _levels(concurrency: str) -> list[int]:
    """The concurrencies of ``--concurrency 1,10,100``."""
    try:
        levels = [int(c) for c in concurrency.split(",") if c.strip()]
    except ValueError:
        raise InputError(
            f"expected comma-separated whole numbers, got {concurrency!r}", field="--concurrency"
        ) from None
    twice = sorted({c for c in levels if levels.count(c) > 1})
    if twice:  # two rows would share a run_id: use --repetitions
        raise InputError(
            f"{', '.join(map(str, twice))} given twice (for more runs: --repetitions)",
            field="--concurrency",
        )
    return levels
