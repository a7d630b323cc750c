"""The command line: parse, load and validate, call the library, render.

Owns the ``mpmsim`` program (``program``: the Typer app, the registration of every command, the
entry point that maps errors to exit codes), one module per command or command group (``run``,
``optimize``, ``sweep``, ``report``, ``calibrate``, ``bench``, ``inspect``, ``trace``: trace fit,
``catalog``: schema, examples, hardware), the option types and output-file check they share
(``options``), the run table (``render``) and the live status line (``status``).

May import everything below it: the sizing report, the applications (search, calibration,
bench, inspection, traces), the engine, the spec, the models, the workloads and the errors. Heavy
imports (the engine, numpy, pandas, plotly) go inside the command functions so that
``mpmsim --help`` stays instant.

Adding a command: write ``cli/NAME.py`` with one function whose typed signature is the command
(options shared with other commands come from ``options``), then register it with one line in
``program.py``: ``app.command()(NAME.NAME)``.
"""

from mpmsim.cli.program import app, main

__all__ = ["app", "main"]
