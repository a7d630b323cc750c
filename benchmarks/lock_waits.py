"""Fold a tracefs trace's futex calls into chosen threads' waits on a lock, and who ends them.

A thread that calls ``futex`` with FUTEX_WAIT (glibc's lock word, or a condition variable's
internal ``__g_refs`` wait in ``pthread_cond_signal``) sleeps until another thread's
FUTEX_WAKE on the same address wakes it. For each such wait of a chosen thread (the listeners)
that ends in a ``sched_wakeup``, this reads how long it lasted, the waker's state when the
chosen thread went to sleep (``woken``: woken since it last ran, waiting for the CPU;
``runnable``: switched out still runnable; ``asleep``; ``running`` elsewhere; ``?``: not seen)
and whether the waker's last futex call was on the same address (it released that lock or
left that group). ``benchmarks/probe_scheduler.py --futex`` records the events.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

FUTEX_CMD_MASK = 0x7F  # without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
FUTEX_WAIT = 0
_FUTEX = re.compile(
    r"-(\d+)\s+\[\d+\].*? (\d+\.\d+): sys_futex\(uaddr: 0x([0-9a-f]+), op: 0x([0-9a-f]+)"
)
_SWITCH = re.compile(
    r"\[(\d+)\].*? (\d+\.\d+): sched_switch: prev_comm=\S+ prev_pid=(\d+) prev_prio=\d+ "
    r"prev_state=(\S+) ==> next_comm=\S+ next_pid=(\d+)"
)
_WAKE = re.compile(r"-(\d+)\s+\[\d+\].*? (\d+\.\d+): sched_wakeup(?:_new)?: comm=\S+ pid=(\d+)")


@dataclass
class LockWaits:
    """The chosen threads' futex waits that a wake-up ended (seconds)."""

    durations: list[float] = field(default_factory=list)
    waker_state: Counter[str] = field(default_factory=Counter)
    same_address: int = 0

    def render(self, span_s: float) -> str:
        n = len(self.durations)
        if n == 0:
            return "  lock waits of the listeners: none"
        per_s = f", {n / span_s:,.0f} a second" if span_s else ""
        return (
            f"  lock waits of the listeners (FUTEX_WAIT): {n}{per_s}, "
            f"p10 / median / p90 {_ms(self.durations)}; the waker, as the listener blocked: "
            f"{dict(self.waker_state.most_common())}; its last futex call on the same "
            f"address: {self.same_address} of {n}"
        )


def _ms(values: Sequence[float]) -> str:
    if len(values) < 2:
        return " / ".join(f"{1e3 * v:.3f}" for v in values) + " ms"
    cuts = statistics.quantiles(values, n=10)
    return f"{1e3 * cuts[0]:.3f} / {1e3 * statistics.median(values):.3f} / {1e3 * cuts[-1]:.3f} ms"


def lock_waits(lines: Iterable[str], chosen: set[str], cpu: str = "001") -> LockWaits:
    """The futex waits of the ``chosen`` thread ids in a trace of sched_switch (on ``cpu``),
    sched_wakeup and sys_enter_futex lines, in time order."""
    out = LockWaits()
    last_call: dict[str, str] = {}  # thread -> address of its last futex call
    state: dict[str, str] = {}  # thread -> running, runnable, asleep, woken
    waiting: dict[str, tuple[float, str]] = {}  # chosen thread -> (since, address)
    seen: dict[str, dict[str, str]] = {}  # chosen thread -> everyone's state as it slept
    for line in lines:
        m = _FUTEX.search(line)
        if m:
            tid, t, addr, op = m.group(1), float(m.group(2)), m.group(3), int(m.group(4), 16)
            last_call[tid] = addr
            if tid in chosen and op & FUTEX_CMD_MASK == FUTEX_WAIT:
                waiting[tid] = (t, addr)
                seen.pop(tid, None)
            continue
        m = _SWITCH.search(line)
        if m:
            if m.group(1) != cpu:
                continue
            prev, prev_state, nxt = m.group(3), m.group(4), m.group(5)
            state[prev] = "runnable" if prev_state.startswith("R") else "asleep"
            state[nxt] = "running"
            if prev in waiting and prev not in seen and not prev_state.startswith("R"):
                seen[prev] = dict(state)
            continue
        m = _WAKE.search(line)
        if m:
            waker, t, woken = m.group(1), float(m.group(2)), m.group(3)
            if state.get(woken) == "asleep":
                state[woken] = "woken"
            if woken in waiting:
                since, addr = waiting.pop(woken)
                before = seen.pop(woken, {})
                out.durations.append(t - since)
                out.waker_state[before.get(waker, "?")] += 1
                out.same_address += last_call.get(waker) == addr
    return out
