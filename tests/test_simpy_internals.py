"""The engine's own SimPy loop and timers do what SimPy's ``run`` and ``timeout`` do."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmsim.engine.simpy_internals import events_scheduled, run_until, schedule_call

Trace = list[tuple[float, str]]


def _world(delays: list[float], trace: Trace) -> tuple[simpy.Environment, simpy.Event]:
    """Processes that sleep ``delays`` (some of them at the same instants), a timer per
    process woken by a callback, and an event ``done`` that the last process succeeds."""
    env = simpy.Environment()
    done = env.event()

    def sleeper(i: int, d: float) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(d)
        trace.append((env.now, f"p{i}"))
        timer = env.timeout(d / 2)
        timer.callbacks.append(lambda _ev: trace.append((env.now, f"t{i}")))
        yield env.timeout(d)
        trace.append((env.now, f"q{i}"))
        if i == len(delays) - 1:
            done.succeed("last")

    for i, d in enumerate(delays):
        env.process(sleeper(i, d))
    return env, done


delays_st = st.lists(st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=8)


def _run_both(delays: list[float], until: float | None, then: float | None = None) -> None:
    """The same world run by :func:`run_until` and by SimPy's ``run``, to ``until`` (None: to
    the event its last process succeeds), then on to ``then``: the same events, in the same
    order, stopped at the same one, with the same clock and the same event ids taken."""
    ours: Trace = []
    theirs: Trace = []
    env_a, done_a = _world(delays, ours)
    env_b, done_b = _world(delays, theirs)
    run_until(env_a, done_a if until is None else until)
    env_b.run(until=done_b if until is None else until)
    assert ours == theirs
    assert env_a.now == env_b.now
    assert events_scheduled(env_a) == events_scheduled(env_b)
    if then is not None:
        run_until(env_a, then)
        env_b.run(until=then)
        assert ours == theirs
        assert env_a.now == env_b.now == then


@settings(max_examples=60, deadline=None)
@given(delays=delays_st, until=st.sampled_from([0.5, 1.0, 2.0, 2.5, 4.0, 7.0]))
def test_run_until_a_time_steps_as_simpy_does(delays: list[float], until: float) -> None:
    _run_both(delays, until, then=until + 3.0)


@settings(max_examples=40, deadline=None)
@given(delays=delays_st)
def test_run_until_an_event_steps_as_simpy_does(delays: list[float]) -> None:
    _run_both(delays, None)


def test_run_until_a_processed_event_returns_at_once() -> None:
    env = simpy.Environment()
    ev = env.timeout(1.0)
    env.run()
    run_until(env, ev)
    assert env.now == 1.0


def test_run_until_raises_what_simpy_raises() -> None:
    env = simpy.Environment()

    def boom() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(1.0)
        raise KeyError("boom")

    env.process(boom())
    with pytest.raises(KeyError, match="boom"):
        run_until(env, 5.0)

    env = simpy.Environment()
    never = env.event()
    with pytest.raises(RuntimeError, match="No scheduled events left"):
        run_until(env, never)
    with pytest.raises(ValueError, match="must be greater"):
        run_until(env, 0.0)

    env = simpy.Environment()
    failing = env.event()
    failing.fail(OSError("until failed"))
    with pytest.raises(OSError, match="until failed"):
        run_until(env, failing)


def _timers(
    make: Callable[[simpy.Environment, float, Callable[[simpy.Event], None]], Any],
) -> Trace:
    env = simpy.Environment()
    trace: Trace = []

    def note(name: str) -> Callable[[simpy.Event], None]:
        return lambda _ev: trace.append((env.now, name))

    for i, d in enumerate([2.0, 1.0, 2.0, 0.0, 1.0]):
        make(env, d, note(f"t{i}"))
        env.timeout(d).callbacks.append(note(f"s{i}"))
    env.run()
    return trace


def test_schedule_call_is_a_timeout_with_a_callback() -> None:
    def with_timeout(env: simpy.Environment, d: float, cb: Callable[[simpy.Event], None]) -> None:
        env.timeout(d).callbacks.append(cb)

    assert _timers(schedule_call) == _timers(with_timeout)
