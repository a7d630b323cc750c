"""The ``mpmsim`` program: the Typer app, the commands registered on it, and the entry point.

``main`` turns what a command raises into exit codes: an :class:`~mpmsim.errors.InputError`
becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from mpmsim import __version__
from mpmsim.cli import bench, calibrate, catalog, inspect, optimize, report, run, sweep, trace
from mpmsim.errors import InputError

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: rich's panels cut option names at 80 columns
    no_args_is_help=True,
    help="Capacity planning for Apache httpd's MPMs (prefork, worker, event) by simulation.",
)


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


# The commands, one line each; --help lists them in this order (groups after the commands).
app.add_typer(catalog.hardware_app, name="hardware")
app.command()(run.run)
app.command()(calibrate.calibrate)
app.command()(bench.bench)
app.command()(inspect.inspect)
app.command()(optimize.optimize)
app.command()(report.report)
app.command()(sweep.sweep)
app.add_typer(trace.trace_app, name="trace")
app.command()(catalog.schema)
app.command()(catalog.examples)


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
    except OSError as exc:  # a file the command reads or writes: the system's own reason
        if exc.filename is None or os.environ.get("MPMSIM_DEBUG"):
            _internal(exc)
        print(f"mpmsim: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # a usage error found by click, or a bug
        if isinstance(exc, _click_exception()):
            print(f"mpmsim: error: {_usage_line(exc)}", file=sys.stderr)
            sys.exit(2)
        _internal(exc)


def _usage_line(exc: Exception) -> str:
    """click's usage error as one line: its message, and where the command's help is (click
    prints a usage block, a hint and the message on three lines)."""
    shown: Any = exc
    message = " ".join(str(shown.format_message()).split())
    ctx = getattr(shown, "ctx", None)
    path = getattr(ctx, "command_path", None) if ctx is not None else None
    return f"{message} (see {path} --help)" if path else message


def _internal(exc: Exception) -> None:
    """A bug: one line asking for a report (the traceback with MPMSIM_DEBUG=1), exit 70."""
    if os.environ.get("MPMSIM_DEBUG"):
        raise exc
    print(
        f"mpmsim: internal error: {type(exc).__name__}: {exc} (set MPMSIM_DEBUG=1 for the "
        "traceback, and please report it)",
        file=sys.stderr,
    )
    sys.exit(70)
