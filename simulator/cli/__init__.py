"""The ``mpmsim`` command line: parse, load and validate, call the library, render."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mpmsim import __version__
from mpmsim.cli.status import StatusLine
from mpmsim.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Capacity planning for Apache httpd's MPMs (prefork, worker, event) by simulation.",
)
hardware_app = typer.Typer(no_args_is_help=True, help="Hardware profiles.")
app.add_typer(hardware_app, name="hardware")

OUT_FILES = ("result.json", "replications.csv", "requests.csv", "series.csv")

# Options that optimize and report share (the report runs the optimizer on each instance).
P95Ms = Annotated[float | None, typer.Option(help="Latency goal: p95 at most this.")]
MaxErrorRate = Annotated[float, typer.Option(help="Largest fraction of failed requests.")]
Headroom = Annotated[float, typer.Option(help="RAM fraction kept free.")]
Jobs = Annotated[int, typer.Option(help="Local processes simulating candidates.")]
Scheduler = Annotated[str | None, typer.Option(help="Dask scheduler address, or dask://local.")]
CacheDir = Annotated[
    Path | None, typer.Option(help="Cache folder (default ~/.cache/mpmsim/optimize).")
]
Resume = Annotated[bool, typer.Option(help="Reuse cached points of an earlier run.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mpmsim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Capacity planning for Apache httpd's MPMs by discrete-event simulation."""


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="The scenario file (workload.yaml).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.", min=0)] = None,
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


def _check_target(path: Path, field: str, force: bool) -> None:
    """A file the command will write: not over the user's without --force, in a real folder."""
    if path.is_dir():
        raise InputError("is a folder; name a file", file=str(path), field=field)
    if path.exists() and not force:
        raise InputError("exists; use --force to overwrite it", file=str(path), field=field)
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist", file=str(path), field=field)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", field="--out", file=str(out))
    clash = [name for name in OUT_FILES if (out / name).exists()]
    if clash and not force:
        raise InputError(
            f"would overwrite {', '.join(clash)}; use --force or another folder",
            field="--out",
            file=str(out),
        )


def _write_out(out: Path, result: Any, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    result.records_frame().to_csv(out / "replications.csv", index=False)
    result.requests_frame().to_csv(out / "requests.csv", index=False)
    result.series_frame().to_csv(out / "series.csv", index=False)


@app.command()
def calibrate(
    measurements: Annotated[
        list[Path], typer.Argument(help="Measurement CSVs (data/apache-bench/runs.csv format).")
    ],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Cost-model YAML to write.")
    ] = None,
    hardware: Annotated[str, typer.Option(help="Hardware the runs were measured on.")] = (
        "bench-1core"
    ),
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
    force: Annotated[bool, typer.Option(help="Overwrite -o and --plot.")] = False,
) -> None:
    """Fit a cost model to measured runs and show how well the simulator reproduces them."""
    from mpmsim.calibration.fit import calibrate as fit
    from mpmsim.calibration.output import holdout_mask, render, write_costs_yaml, write_plot
    from mpmsim.models.costs import load_costs
    from mpmsim.models.hardware import load_hardware
    from mpmsim.workloads.readers import read_measurements, sniff

    for target, flag in ((out, "-o"), (plot, "--plot")):
        if target is not None:
            _check_target(target, flag, force)
    runs = []
    for path in measurements:
        kind = sniff(path)
        if kind != "measurements":
            raise InputError(
                f"is {kind} output; calibrate reads measurement CSVs (write them with mpmsim "
                "bench, or in the columns of data/apache-bench/runs.csv)",
                file=str(path),
            )
        runs.extend(read_measurements(path))
    hw = load_hardware(hardware, source="--hardware", field="--hardware")
    base_costs = load_costs(base, source="--base", field="--base")
    mask = holdout_mask(runs, holdout)

    def progress(done: int, total: int) -> None:
        if not as_json:
            end = "\n" if done == total else "\r"
            print(f"simulating measured runs: {done}/{total}", end=end, file=sys.stderr)

    cal = fit(
        runs, base_costs, hw, held_out=mask, jobs=jobs, progress=progress, name=name,
        sources=[str(p) for p in measurements],
    )  # fmt: skip
    usl_fits = _usl_fits(runs) if usl else []
    if out is not None:
        write_costs_yaml(cal, out, force=force)
    if plot is not None:
        write_plot(cal, plot)
    if as_json:
        data = cal.as_dict()
        data["usl"] = usl_fits
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    typer.echo(render(cal))
    for f in usl_fits:
        typer.echo(
            f"USL {f['group']}: sigma {f['sigma']:.4g}, kappa {f['kappa']:.4g}, "
            f"gamma {f['gamma']:.4g}, peak at {f['peak_concurrency']} clients "
            f"({f['peak_throughput']:.0f} req/s), R^2 {f['r_squared']:.3f}"
        )
    if out is not None:
        typer.echo(f"wrote {out}")


def _usl_fits(runs: list[Any]) -> list[dict[str, Any]]:
    """USL per (MPM, tool, keep-alive, content) over concurrency (median throughput per level)."""
    import numpy as np

    from mpmsim.calibration.usl import fit_usl

    groups: dict[tuple[str, str, bool, str], dict[int, list[float]]] = {}
    for r in runs:
        key = (r.mpm, r.tool, r.keepalive, r.content)
        groups.setdefault(key, {}).setdefault(int(r.concurrency), []).append(r.req_per_s)
    out = []
    for key, levels in sorted(groups.items()):
        if len(levels) < 3:
            continue
        n = sorted(levels)
        x = [float(np.median(levels[c])) for c in n]
        try:
            f = fit_usl([float(c) for c in n], x)
        except ValueError:
            continue
        out.append(
            {
                "group": f"{key[0]}/{key[1]}/ka{int(key[2])}/{key[3]}",
                "sigma": f.alpha, "kappa": f.beta, "gamma": f.gamma,
                "peak_concurrency": f.peak_concurrency, "peak_throughput": f.peak_throughput,
                "r_squared": f.r_squared, "points": len(n),
            }
        )  # fmt: skip
    return out


@app.command()
def bench(
    url: Annotated[str, typer.Argument(help="The page to load, e.g. http://127.0.0.1/test.html")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Measurement CSV to write.")],
    tool: Annotated[str, typer.Option(help="Load tool on PATH: ab or wrk.")] = "ab",
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
    mpm: Annotated[str | None, typer.Option(help="Record the server's MPM in the rows.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --out.")] = False,
) -> None:
    """Measure a live server with ab or wrk; write rows that feed ``mpmsim calibrate``."""
    from mpmsim.bench.measure import bench as run_bench
    from mpmsim.bench.measure import write_rows

    try:
        levels = [int(c) for c in concurrency.split(",") if c.strip()]
    except ValueError:
        raise InputError(
            f"expected comma-separated whole numbers, got {concurrency!r}", field="--concurrency"
        ) from None
    _check_target(out, "--out", force)
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
    )
    write_rows(rows, out, overwrite=force)
    typer.echo(f"wrote {len(rows)} row(s) to {out}")


@app.command()
def optimize(
    scenario: Annotated[Path, typer.Argument(help="The scenario file (workload.yaml).")],
    mpm: Annotated[
        str | None, typer.Option(help="prefork, worker, event or all (default: the scenario's).")
    ] = None,
    ram_mib: Annotated[float | None, typer.Option(help="RAM of the machine, MiB.")] = None,
    p95_ms: P95Ms = None,
    max_error_rate: MaxErrorRate = 0.01,
    headroom: Headroom = 0.1,
    replications: Annotated[
        int | None,
        typer.Option(help="Replications per candidate (default: the scenario's, at least 3)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.", min=0)] = None,
    jobs: Jobs = 1,
    scheduler: Scheduler = None,
    budget: Annotated[int | None, typer.Option(help="At most this many simulations.")] = None,
    cache_dir: CacheDir = None,
    resume: Resume = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
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
) -> None:
    """Search MaxRequestWorkers / ThreadsPerChild / ServerLimit (and the MPM) for a machine."""
    from mpmsim.search.optimizer import optimize as run_optimize
    from mpmsim.search.result import render_text

    if plot is not None:
        _check_target(plot, "--plot", force)
    status = StatusLine()
    try:
        result = run_optimize(
            scenario, mpm=mpm, ram_mib=ram_mib, p95_ms=p95_ms, max_error_rate=max_error_rate,
            headroom=headroom, replications=replications, seed=seed, jobs=jobs,
            scheduler=scheduler, budget=budget, cache_dir=cache_dir, resume=resume,
            spares=spares, keepalive=keepalive, progress=status.show,
        )  # fmt: skip
    except KeyboardInterrupt:
        status.done()
        typer.echo(
            "mpmsim: interrupted; finished simulations are cached: run the same command with "
            "--resume to go on",
            err=True,
        )
        raise typer.Exit(130) from None
    status.done()
    data = result.to_dict()
    if data["timing"]["cache_problem"]:
        typer.echo(f"mpmsim: warning: {data['timing']['cache_problem']}", err=True)
    if plot is not None:
        from mpmsim.search.plot import write_plot

        write_plot(data, plot, overwrite=True)
    typer.echo(json.dumps(data, indent=2) if as_json else render_text(data))
    if data["winner"] is None:
        raise typer.Exit(1)  # the search completed but nothing met the goals


@app.command()
def report(
    scenario: Annotated[Path, typer.Argument(help="The scenario file (workload.yaml).")],
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite -o.")] = False,
) -> None:
    """Size a scenario on several instances: cost, headroom, and which one to buy."""
    from mpmsim.sizing.report import build_report, render_text

    if out is not None:
        _check_target(out, "-o", force)
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


@app.command()
def schema() -> None:
    """Print the JSON Schema of the scenario file."""
    from mpmsim.spec.scenario import scenario_json_schema

    typer.echo(json.dumps(scenario_json_schema(), indent=2))


@app.command()
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


def _click_exception() -> type[Exception]:
    """click's usage-error base class (typer vendors click as ``typer._click`` since 0.26)."""
    import importlib

    for name in ("typer._click", "click"):
        try:
            return importlib.import_module(name).ClickException  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    return RuntimeError


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        # Without standalone mode click returns (not raises) typer.Exit's code, and turns Ctrl-C
        # into an Abort or returns quietly: map both to exit codes here.
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except InputError as exc:
        print(f"mpmsim: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("mpmsim: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("mpmsim: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a usage error found by click, or a bug
        if isinstance(exc, _click_exception()):
            shown: Any = exc
            shown.show()
            sys.exit(2)
        if os.environ.get("MPMSIM_DEBUG"):
            raise
        print(
            f"mpmsim: internal error: {type(exc).__name__}: {exc} (set MPMSIM_DEBUG=1 for the "
            "traceback, and please report it)",
            file=sys.stderr,
        )
        sys.exit(70)


if __name__ == "__main__":
    main()
