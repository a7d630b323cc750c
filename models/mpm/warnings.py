"""The parent's capacity warnings in Apache's error log, by kind, as each MPM logs them.

``perform_idle_server_maintenance`` (prefork.c, worker.c, event.c; facts §2.1-§2.3) logs at
LogLevel error when it wants more idle workers than it may fork:

* ``reached``: every slot in use and no idle worker, "server reached MaxRequestWorkers
  setting" (prefork AH00161, worker AH00286, event AH00484; once per server lifetime);
* ``near``: every slot in use with a few idle, "server is within MinSpareThreads of
  MaxRequestWorkers" (worker AH00287, event AH10159; once);
* ``full``: no free scoreboard slot though MaxRequestWorkers is not reached (children still
  stopping hold theirs), "scoreboard is full, not at MaxRequestWorkers" (worker AH00288, event
  AH03490; every maintenance cycle).

The codes are the MPM models' own (``reached_code``, ``near_code``, ``full_code``), so a
simulated error log and a real one are read with the same table. The parent writes one of
them only when its count of idle workers fell below the spare minimum, so which kinds a run
logged says how often the parent found its children busy or not accepting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mpmsim.models.mpm.registry import MPM_MODELS

#: The kinds, in the order the parent would meet them as the load grows.
KINDS = ("near", "reached", "full")

_ATTRIBUTE = {"reached": "reached_code", "near": "near_code", "full": "full_code"}


def kinds_by_code() -> dict[str, str]:
    """Each MPM's capacity-warning code -> its kind (``reached``, ``near`` or ``full``)."""
    table: dict[str, str] = {}
    for factory in MPM_MODELS.values():
        model: Any = factory
        for kind, attribute in _ATTRIBUTE.items():
            code = getattr(model, attribute, None)
            if code:
                table[code] = kind
    return table


def capacity_warnings(codes: Iterable[str]) -> tuple[str, ...]:
    """The kinds of capacity warning among error-log ``codes`` (others ignored), in
    :data:`KINDS` order."""
    table = kinds_by_code()
    seen = {table[c] for c in codes if c in table}
    return tuple(k for k in KINDS if k in seen)
