"""``mpmsim sweep``: run a scenario at every combination of varied keys; a CSV or a table."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mpmsim.cli.options import Jobs, ScenarioFile, Scheduler, Seed, Sets, check_target
from mpmsim.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^(?P<start>{_NUMBER}):(?P<stop>{_NUMBER})(?::(?P<step>{_NUMBER}))?$")
TABLE_COLUMNS = (
    "throughput_rps",
    "latency_ms.p95",
    "memory_mib.peak",
    "cpu_utilization",
    "bottleneck.resource",
    "warnings.count",
)
"""The figures the table shows after the varied keys (the CSV has every figure)."""

Vary = Annotated[
    list[str],
    typer.Option(
        "--vary",
        help="A key and its values: KEY=V1,V2,... or KEY=START:STOP[:STEP] (STOP included); "
        "values read like --set values. Repeatable: points are every combination.",
    ),
]


def sweep(
    scenario: ScenarioFile,
    vary: Vary,
    zip_: Annotated[
        bool, typer.Option("--zip", help="Pair the --vary lists element-wise (one length).")
    ] = False,
    replications: Annotated[
        int | None, typer.Option(help="Replications per point (default: the scenario's).", min=1)
    ] = None,
    seed: Seed = None,
    jobs: Jobs = 1,
    scheduler: Scheduler = None,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write the table as CSV ('-': stdout).")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Write throughput and p95 against the first key (HTML)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite -o and --plot.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="A progress bar on stderr.")
    ] = True,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Cache folder (default ~/.cache/mpmsim/sweep).")
    ] = None,
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Reuse points simulated before.")
    ] = True,
    set_: Sets = None,
) -> None:
    """Run a scenario at every combination of the --vary values: one row of figures per point.

    Points simulated before (same scenario, seed and replications) come from the cache, so an
    interrupted sweep run again goes on where it stopped.
    """
    from mpmsim.search.sweep import sweep as run_sweep

    for target, flag in ((out, "-o"), (plot, "--plot")):
        if target is not None and str(target) != "-":
            check_target(target, flag, force)
    values = parse_vary(vary)
    try:
        df = run_sweep(
            scenario, values, replications=replications, jobs=jobs, scheduler=scheduler,
            zip=zip_, seed=seed, progress=progress and sys.stderr.isatty(),
            cache=(cache_dir or True) if cache else False, overrides=tuple(set_ or ()),
        )  # fmt: skip
    except KeyboardInterrupt:
        more = "; finished points are cached: run the same command again to go on" if cache else ""
        typer.echo(f"mpmsim: interrupted{more}", err=True)
        raise typer.Exit(130) from None
    if df.attrs.get("cache_problem"):
        typer.echo(f"mpmsim: warning: {df.attrs['cache_problem']}", err=True)
    if plot is not None:
        _write_plot(df, list(values), plot)
    if out is None:
        typer.echo(table(df, list(values)))
    elif str(out) == "-":
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        df.to_csv(out, index=False)


def parse_vary(items: list[str]) -> dict[str, list[Any]]:
    """``--vary KEY=V1,V2`` options as ``{KEY: [values]}``; bad ones raise InputError."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"expected KEY=V1,V2,..., got {item!r}", field="--vary")
        if key in out:
            raise InputError(f"{key} is varied twice; give its values once", field="--vary")
        if not text.strip():
            raise InputError(f"no values given for {key}", field="--vary")
        out[key] = [v for piece in text.split(",") for v in parse_values(piece, key)]
    return out


def parse_values(piece: str, key: str) -> list[Any]:
    """One comma-separated piece: a ``START:STOP[:STEP]`` range (STOP included), or a value
    read as YAML like a ``--set`` value (``150``, ``0.5``, ``event``, ``On``)."""
    import yaml

    text = piece.strip()
    if not text:
        raise InputError(f"an empty value in the list of {key}", field="--vary")
    m = _RANGE.match(text)
    if m:
        return _range(m, key)
    try:
        return [yaml.safe_load(text)]
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise InputError(f"cannot read {text!r} for {key}: {problem}", field="--vary") from None


def _range(m: re.Match[str], key: str) -> list[Any]:
    """The values of ``START:STOP[:STEP]``: ints when all three are whole numbers."""
    parts = [m["start"], m["stop"], m["step"] or "1"]
    whole = all(re.fullmatch(r"[-+]?\d+", p) for p in parts)
    start, stop, step = (int(p) if whole else float(p) for p in parts)
    if step <= 0 or stop < start:
        raise InputError(
            f"range {m[0]!r} for {key} needs START <= STOP and STEP > 0", field="--vary"
        )
    if whole:
        return list(range(int(start), int(stop) + 1, int(step)))
    count = int((stop - start) / step + 1e-9) + 1
    return [round(start + i * step, 12) for i in range(count)]


def table(df: pd.DataFrame, keys: list[str]) -> str:
    """The varied keys and the main figures, one line per point."""
    shown = [*keys, *(c for c in TABLE_COLUMNS if c in df.columns and c not in keys)]
    out = df[shown].copy()
    for column in ("throughput_rps", "latency_ms.p95"):  # each with its 95 % half-width
        if column in shown and f"{column}.ci_high" in df.columns:
            out[column] = [
                _with_half_width(x, hi)
                for x, hi in zip(df[column], df[f"{column}.ci_high"], strict=True)
            ]
            out = out.rename(columns={column: f"{column} (95 % CI)"})
    return str(out.to_string(index=False))


def _with_half_width(value: Any, high: Any) -> str:
    """``5,419.8 ± 17.1``; the value alone when it has no interval (NaN)."""
    if value is None or value != value:
        return "-"
    large = abs(value) >= 1000  # one decimal, else four significant digits

    def show(x: float, small: str) -> str:
        return f"{x:,.1f}" if large else f"{x:{small}}"

    if high is None or high != high:
        return show(value, ",.4g")
    return f"{show(value, ',.4g')} ± {show(high - value, '.2g')}"


def _write_plot(df: pd.DataFrame, keys: list[str], path: Path) -> None:
    """Throughput and p95 against the first key, one curve per value of the others."""
    from mpmsim.search.sweep_plot import sweep_figure

    fig = sweep_figure(df, keys[0], ["throughput_rps", "latency_ms.p95"], color=keys[1:] or None)
    fig.write_html(str(path), include_plotlyjs=True)
