"""mpmsim: capacity planning for Apache httpd's MPMs by discrete-event simulation.

In a notebook::

    import mpmsim
    result = mpmsim.run("workloads/examples/primer-ab-event.yaml")
    result.to_dict()["throughput_rps"], result.requests_frame()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "OptimizeResult",
    "RunResult",
    "Scenario",
    "__version__",
    "load_scenario",
    "optimize",
    "prepare",
    "run",
]

if TYPE_CHECKING:
    from mpmsim.errors import InputError
    from mpmsim.loading import load_scenario
    from mpmsim.optimize_result import OptimizeResult
    from mpmsim.optimizer import optimize
    from mpmsim.prepare import prepare
    from mpmsim.runner import RunResult, run
    from mpmsim.scenario import Scenario

_LAZY = {
    "InputError": "mpmsim.errors",
    "OptimizeResult": "mpmsim.optimize_result",
    "RunResult": "mpmsim.runner",
    "Scenario": "mpmsim.scenario",
    "load_scenario": "mpmsim.loading",
    "optimize": "mpmsim.optimizer",
    "prepare": "mpmsim.prepare",
    "run": "mpmsim.runner",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so ``mpmsim --help`` stays fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mpmsim' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
