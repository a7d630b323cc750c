"""The only place the engine reaches into SimPy's private attributes, for speed.

The CPU fires thousands of job completions per simulated second; succeeding them in place
saves one trip through the event queue each (see :func:`fire_now`). Counting the events a run
scheduled reads SimPy's event-id counter. Both depend on SimPy 4.1's internals, which is why
``pyproject.toml`` bounds simpy to ``>=4.1,<4.2``: a new SimPy release must be checked here first.
"""

from __future__ import annotations

import simpy


def fire_now(ev: simpy.Event) -> None:
    """Succeed ``ev`` and run its callbacks now, inside the step that is being processed.

    Equivalent to ``ev.succeed()`` followed by SimPy processing it at the same simulated time,
    without a second trip through the event queue. Sets ``Event._ok`` and ``Event._value`` and
    marks the event processed (``callbacks`` = None), as ``Environment.step`` does.
    """
    ev._ok = True
    ev._value = None
    callbacks, ev.callbacks = ev.callbacks, None  # type: ignore[assignment]
    for callback in callbacks:
        callback(ev)


def events_scheduled(env: simpy.Environment) -> int:
    """How many events ``env`` has scheduled so far (``Environment._eid``, an id counter).

    Reading the counter advances it, which changes no ordering: ids only break ties between
    events scheduled for the same time, in the order they were taken.
    """
    return next(env._eid)
