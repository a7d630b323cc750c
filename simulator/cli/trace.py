"""``mpmsim trace``: workloads from Apache access logs (``trace fit``)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mpmsim.cli.options import AsJson, check_target
from mpmsim.errors import InputError

if TYPE_CHECKING:
    from mpmsim.traces.fit import TraceFit

trace_app = typer.Typer(
    no_args_is_help=True, help="Workloads from Apache access logs.", rich_markup_mode=None
)

_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def utc_offset_s(text: str) -> int:
    """``+0200``, ``-04:00`` or ``Z`` as seconds east of UTC."""
    if text.strip().upper() in ("Z", "UTC", "0"):
        return 0
    match = _OFFSET.fullmatch(text.strip())
    if match is None or int(match.group(3)) >= 60:
        raise InputError(f"{text!r}: write +HHMM or -HH:MM (e.g. +0200)", field="--utc-offset")
    sign = -1 if match.group(1) == "-" else 1
    return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)


LogFile = Annotated[Path, typer.Argument(help="The access log (plain or gzip).")]
Output = Annotated[Path, typer.Option("-o", "--output", help="The scenario to write.")]
LogFormat = Annotated[
    str,
    typer.Option(
        "--format", "-f", help="A nickname (common, combined, mpmsim ...) or a LogFormat string."
    ),
]
KeepAliveTimeout = Annotated[
    float, typer.Option(help="KeepAliveTimeout, s: a longer idle gap ends a rebuilt connection.")
]
Classes = Annotated[
    list[str] | None,
    typer.Option(
        "--classes",
        help="REGEX=NAME: requests whose path matches are class NAME (first match wins; the "
        "rest are static by extension or dynamic). Repeat for more.",
    ),
]
Peak = Annotated[
    bool, typer.Option(help="A constant load at the busiest window's rate, not the schedule.")
]
Window = Annotated[float, typer.Option(help="Schedule window, s (clock aligned).", min=60)]
CpuShare = Annotated[
    float, typer.Option(help="Share of %D taken as CPU; the rest is wait_ms (an assumption).")
]
UtcOffset = Annotated[
    str, typer.Option(help="The log's clock for times without a zone, e.g. +0200.")
]
PlotFile = Annotated[Path | None, typer.Option(help="Also write the fit's charts (HTML).")]
Force = Annotated[bool, typer.Option(help="Overwrite the output files.")]


def _command(log: Path, output: Path, options: dict[str, object]) -> str:
    """The command line as the YAML header repeats it (a format string stands on its own line
    there, so it is not repeated)."""
    words = ["mpmsim", "trace", "fit", log.name]
    for flag, value in options.items():
        if value is True:
            words.append(flag)
        elif value not in (None, False, ()):
            values = value if isinstance(value, tuple) else (value,)
            for item in values:
                words += [flag, str(item)]
    words += ["-o", output.name]
    return " ".join(shlex.quote(w) for w in words).replace("\n", " ")


def _write(fitted: TraceFit, output: Path, plot: Path | None, command: str) -> None:
    """The scenario, and the charts when asked for."""
    from mpmsim.traces.workload_file import workload_yaml

    output.write_text(workload_yaml(fitted, name=output.stem, command=command), encoding="utf-8")
    if plot is not None:
        from mpmsim.traces.plot import write_plot

        write_plot(fitted, plot)


@trace_app.command("fit")
def fit(
    log: LogFile,
    output: Output,
    log_format: LogFormat = "combined",
    keepalive_timeout: KeepAliveTimeout = 5.0,
    classes: Classes = None,
    peak: Peak = False,
    window: Window = 3600.0,
    cpu_share: CpuShare = 0.2,
    utc_offset: UtcOffset = "+0000",
    plot: PlotFile = None,
    as_json: AsJson = False,
    force: Force = False,
) -> None:
    """Fit a runnable workload (open load schedule, sessions, mix) to an access log."""
    from mpmsim.traces.fit import FitOptions, fit_trace
    from mpmsim.traces.summary import summarize, summary_text
    from mpmsim.workloads.access_log.url_classes import parse_classes

    check_target(output, "-o", force)
    if plot is not None:
        check_target(plot, "--plot", force)
    options = FitOptions(
        log_format=log_format,
        keepalive_timeout_s=keepalive_timeout,
        classes=parse_classes(classes or ()),
        cpu_share=cpu_share,
        window_s=window,
        peak=peak,
        utc_offset_s=utc_offset_s(utc_offset),
    )
    fitted = fit_trace(log, options)
    shown = {
        "--format": log_format if "%" not in log_format else "(the LogFormat below)",
        "--keepalive-timeout": f"{keepalive_timeout:g}",
        "--classes": tuple(classes or ()),
        "--peak": peak,
        "--window": f"{window:g}" if window != 3600.0 else None,
        "--cpu-share": f"{cpu_share:g}",
        "--utc-offset": utc_offset if options.utc_offset_s else None,
    }
    _write(fitted, output, plot, _command(log, output, shown))
    summary = summarize(fitted)
    summary["output"] = str(output)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(summary_text(summary, fitted))
    typer.echo(f"{'wrote':<15} {output}" + (f", {plot}" if plot is not None else ""))
