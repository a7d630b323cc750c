"""benchmarks/probe_scheduler.py folds a tracefs trace into waits and preemptions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_scheduler import read_trace

SWITCH = (
    "apache2-{a} [001] d..2. {t}: sched_switch: prev_comm={pc} prev_pid={a} prev_prio=100 "
    "prev_state={st} ==> next_comm={nc} next_pid={b} next_prio=100"
)
WAKE = "ab-7 [000] d.s6. {t}: sched_wakeup: comm=apache2 pid={p} prio=100 target_cpu={cpu}"


def _switch(t: str, a: int, st: str, b: int, pc: str = "apache2", nc: str = "apache2") -> str:
    return SWITCH.format(t=t, a=a, st=st, b=b, pc=pc, nc=nc)


def test_waits_preemptions_and_other_tasks() -> None:
    lines = [
        WAKE.format(t="1.000000", p=10, cpu="001"),
        WAKE.format(t="1.000500", p=12, cpu="000"),  # woken onto the other CPU: not counted
        _switch("1.002000", 9, "S", 10),  # 10 waited 2 ms after its wake-up
        _switch("1.003000", 10, "R", 11),  # 10 preempted after a 1 ms run
        _switch("1.004000", 11, "S", 20, nc="ksoftirqd/1"),
        _switch("1.010000", 20, "S", 10, pc="ksoftirqd/1"),  # 10 back after 7 ms
        _switch("1.010500", 10, "S", 9),  # then it sleeps after 0.5 ms
    ]
    s = read_trace(lines)
    assert s.wake_waits == pytest.approx([0.002])
    assert s.preempted_runs == pytest.approx([0.001])
    assert s.preempted_waits == pytest.approx([0.007])
    assert s.sleeping_runs == pytest.approx([0.001, 0.0005])  # 11's run, then 10's
    assert s.others == {"ksoftirqd/1": 1}


def test_switches_on_the_load_cpu_are_ignored() -> None:
    line = _switch("1.0", 1, "R", 2).replace("[001]", "[000]")
    s = read_trace([line, _switch("1.5", 2, "R", 3).replace("[001]", "[000]")])
    assert not s.preempted_runs and not s.sleeping_runs and not s.others
