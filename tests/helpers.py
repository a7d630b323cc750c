"""Shared helpers for the tests: small scenarios built in code."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import Prepared, prepare

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "workloads" / "examples"

#: A machine with no scheduling overhead, for checks against queueing theory.
IDEAL_HW: dict[str, Any] = {
    "name": "ideal",
    "vcpus": 1,
    "ram_mib": 1_000_000,
    "os_reserved_mib": 0,
    "cpu_speed": 1.0,
    "context_switch_us": 0.0,
}


def scenario_dict(**parts: Any) -> dict[str, Any]:
    """A small valid scenario; keyword arguments replace top-level keys (deep-copied)."""
    base: dict[str, Any] = {
        "name": "test",
        "seed": 1,
        "hardware": copy.deepcopy(IDEAL_HW),
        "costs": "ideal",
        "server": {"mpm": "prefork", "directives": {}},
        "load": {"kind": "closed", "clients": 1, "requests": 10},
        "mix": [{"name": "r", "cpu_ms": 1.0}],
    }
    base.update(copy.deepcopy(parts))
    return base


def prepared(**parts: Any) -> Prepared:
    """Validate and prepare :func:`scenario_dict` (``parts``)."""
    return prepare(load_scenario_data(scenario_dict(**parts)))


class Outcome(NamedTuple):
    """What a user of the command line saw: exit code, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


Cli = Callable[..., Outcome]
"""``mpmsim ARGS`` as the ``mpmsim`` fixture (tests/conftest.py) runs it."""
