"""mpmsim: capacity planning for Apache httpd's MPMs by discrete-event simulation.

In a notebook::

    import mpmsim
    result = mpmsim.run("workloads/examples/primer-ab-event.yaml")
    result.to_dict()["throughput_rps"], result.requests_frame()
    mpmsim.plot.setup_notebook()  # first cell: figures show in Jupyter, VS Code and HTML exports
    mpmsim.plot.workers(result)
    cal = mpmsim.calibrate("runs.csv", holdout="mpm=event")  # a cost model fitted to measurements
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Calibration",
    "InputError",
    "OptimizeResult",
    "RunResult",
    "Scenario",
    "__version__",
    "calibrate",
    "load_scenario",
    "optimize",
    "plot",
    "prepare",
    "run",
    "sweep",
]

if TYPE_CHECKING:
    from mpmsim import plot
    from mpmsim.engine.replications import RunResult, run
    from mpmsim.errors import InputError
    from mpmsim.search.optimizer import optimize
    from mpmsim.search.result import OptimizeResult
    from mpmsim.search.sweep import sweep
    from mpmsim.spec.reading import load_scenario
    from mpmsim.spec.resolve import prepare
    from mpmsim.spec.scenario import Scenario

_LAZY = {
    "Calibration": "mpmsim.calibration.result",
    "InputError": "mpmsim.errors",
    "OptimizeResult": "mpmsim.search.result",
    "RunResult": "mpmsim.engine.replications",
    "Scenario": "mpmsim.spec.scenario",
    "load_scenario": "mpmsim.spec.reading",
    "optimize": "mpmsim.search.optimizer",
    "plot": "mpmsim.plot",
    "prepare": "mpmsim.spec.resolve",
    "run": "mpmsim.engine.replications",
    "sweep": "mpmsim.search.sweep",
    "calibrate": "mpmsim.calibration.files:calibrate_files",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so ``mpmsim --help`` stays fast."""
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'mpmsim' has no attribute {name!r}")
    import importlib

    module, _, attr = where.partition(":")  # "module:attr" where the names differ
    imported = importlib.import_module(module)
    return imported if module == f"mpmsim.{name}" else getattr(imported, attr or name)
