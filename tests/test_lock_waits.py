"""benchmarks/lock_waits.py: a chosen thread's futex wait, how long, and who ended it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from lock_waits import lock_waits

FUTEX = "apache2-{tid} [001] ..... {t}: sys_futex(uaddr: 0x{addr}, op: 0x{op}, val: 0x2, utime: 0x0, uaddr2: 0x0, val3: 0x0)"  # noqa: E501
SWITCH = (
    "apache2-{a} [001] d..2. {t}: sched_switch: prev_comm=apache2 prev_pid={a} prev_prio=100 "
    "prev_state={st} ==> next_comm=apache2 next_pid={b} next_prio=100"
)
WAKE = "apache2-{w} [001] d..3. {t}: sched_wakeup: comm=apache2 pid={p} prio=100 target_cpu=001"


def test_a_listener_blocked_until_a_woken_worker_runs() -> None:
    lines = [
        SWITCH.format(a=20, t="0.999000", st="S", b=10),  # worker 20 sleeps, listener 10 runs
        WAKE.format(w=10, t="0.999500", p=20),  # the listener wakes worker 20 (it waits its turn)
        FUTEX.format(tid=10, t="1.000000", addr="7f00a0", op="80"),  # FUTEX_WAIT | PRIVATE
        SWITCH.format(a=10, t="1.000010", st="S", b=30),  # the listener blocks
        SWITCH.format(a=30, t="1.002000", st="S", b=20),  # worker 20 gets the CPU at last
        FUTEX.format(tid=20, t="1.002100", addr="7f00a0", op="81"),  # FUTEX_WAKE on the same word
        WAKE.format(w=20, t="1.002200", p=10),
    ]
    w = lock_waits(lines, {"10"})
    assert w.durations == pytest.approx([0.0022])
    assert w.waker_state == {"woken": 1}
    assert w.same_address == 1
    text = w.render(1.0)
    assert "lock waits of the listeners (FUTEX_WAIT): 1, 1 a second" in text
    assert "{'woken': 1}" in text and "same address: 1 of 1" in text


def test_condition_waits_and_other_threads_are_not_counted() -> None:
    lines = [
        FUTEX.format(tid=10, t="1.000000", addr="7f00b0", op="189"),  # WAIT_BITSET: a condvar
        SWITCH.format(a=10, t="1.000010", st="S", b=30),
        WAKE.format(w=30, t="1.001000", p=10),
        FUTEX.format(tid=40, t="1.002000", addr="7f00a0", op="80"),  # not a chosen thread
        SWITCH.format(a=40, t="1.002010", st="S", b=30),
        WAKE.format(w=30, t="1.003000", p=40),
    ]
    w = lock_waits(lines, {"10"})
    assert w.durations == [] and w.render(1.0) == "  lock waits of the listeners: none"
