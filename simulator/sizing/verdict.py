"""Whether an instance type passes, and which of its simulations the report shows for it.

A row of the report holds the single instance at the whole load and its ``fleet``: the
smallest number of instances whose member meets every goal (``count`` None when none does).
The pages and charts judge a type by its fleet, so that a type that passes only as several
instances is shown as passing, with its member's configuration and figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def passes(row: Mapping[str, Any]) -> bool:
    """Whether some fleet of this instance type (a single instance included) meets every goal.

    A row without a fleet (the report's older form) passes on its own ``goals_met`` or
    ``feasible``.
    """
    fleet = row.get("fleet")
    if isinstance(fleet, Mapping) and "goals_met" in fleet:
        return bool(fleet["goals_met"])
    return bool(row.get("goals_met", row.get("feasible", False)))


def fleet_count(row: Mapping[str, Any]) -> int | None:
    """Instances in the fleet that passes (1 without a fleet), None when nothing passes."""
    if not passes(row):
        return None
    fleet = row.get("fleet")
    return int(fleet.get("count") or 1) if isinstance(fleet, Mapping) else 1


def judged(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the report shows for a type: the fleet's member when several pass, else the row.

    The row is the single instance at the whole load: its winner when it passes, otherwise
    the optimizer's closest miss (the figures that say why the type fails).
    """
    fleet = row.get("fleet")
    if isinstance(fleet, Mapping) and fleet.get("goals_met") and (fleet.get("count") or 1) > 1:
        return fleet
    return row
