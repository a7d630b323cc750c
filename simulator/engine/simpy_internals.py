"""The only place the engine reaches into SimPy's private attributes, for speed.

The CPU fires thousands of job completions per simulated second; succeeding them in place
saves one trip through the event queue each (see :func:`fire_now`), and its timers go
straight into SimPy's queue (:func:`schedule_call`). A run steps through its events in a loop
of its own (:func:`run_until`), which saves a method call and an exception handler per event.
Counting the events a run scheduled reads SimPy's event-id counter. All of this depends on
SimPy 4.1's internals, which is why ``pyproject.toml`` bounds simpy to ``>=4.1,<4.2``: a new
SimPy release must be checked here first.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush

import simpy
from simpy.events import NORMAL, URGENT, EventPriority


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


def schedule_call(
    env: simpy.Environment, delay_s: float, callback: Callable[[simpy.Event], None]
) -> simpy.Event:
    """A timer: an event that calls ``callback`` ``delay_s`` from now; returns the event.

    What ``t = env.timeout(delay_s); t.callbacks.append(callback)`` does (the same event id,
    priority and time in SimPy's queue, so the same order of events), without the two calls
    of ``Timeout.__init__`` and ``Environment.schedule``. ``delay_s`` must not be negative.
    """
    ev = simpy.Event(env)
    ev.callbacks.append(callback)
    ev._ok = True
    ev._value = None
    heappush(env._queue, (env._now + delay_s, NORMAL, next(env._eid), ev))
    return ev


def events_scheduled(env: simpy.Environment) -> int:
    """How many events ``env`` has scheduled so far (``Environment._eid``, an id counter).

    Reading the counter advances it, which changes no ordering: ids only break ties between
    events scheduled for the same time, in the order they were taken.
    """
    return next(env._eid)


def run_until(env: simpy.Environment, until: float | simpy.Event) -> None:
    """``env.run(until=until)``, event for event, in a loop of its own.

    SimPy 4.1's ``Environment.run`` calls ``Environment.step`` once per event inside a
    ``try``; this loop does what ``step`` does (pop the next event, set the clock, run the
    event's callbacks, crash on a failure nobody defused) without the call. As SimPy does, a
    time ``until`` becomes an URGENT event of that instant (it stops the run before the
    ordinary events of that instant; the clock ends at ``until``), an event ``until`` stops
    the run once the callbacks it had when the run began have run (it raises its exception if
    it failed), and the stopping event is put back in the queue with the callbacks added
    since. Raises RuntimeError, as SimPy does, if no event is left before ``until``.
    """
    if not isinstance(until, simpy.Event):
        at = float(until)
        if at <= env._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop = simpy.Event(env)
        stop._ok = True
        stop._value = None
        env.schedule(stop, URGENT, at - env._now)
    elif until.callbacks is None:
        return  # already processed
    else:
        stop = until
    stop.callbacks.append(_stops_here)
    queue = env._queue
    while True:
        try:
            env._now, _, _, event = heappop(queue)
        except IndexError:
            raise RuntimeError(
                f'No scheduled events left but "until" event was not triggered: {stop}'
            ) from None
        callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
        if event is stop:
            mark = callbacks.index(_stops_here)
            for callback in callbacks[:mark]:
                callback(event)
            stop.callbacks = callbacks[mark + 1 :]
            env.schedule(stop, EventPriority(-1))  # (it takes an event id, as in SimPy)
            if not stop._ok:
                raise stop._value
            return
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc


def _stops_here(_event: simpy.Event) -> None:
    """Marks where :func:`run_until` stops among the callbacks of its until event."""
