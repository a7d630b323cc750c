"""benchmarks/probe_scheduler.py folds a tracefs trace into waits and preemptions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_scheduler import (
    ab_percentiles,
    listeners,
    point_label,
    probe_point,
    read_trace,
    render_roles,
)

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


def test_listeners_and_their_share() -> None:
    # child 100: threads 101 and 102 (its newest: its listener); child 200: one thread only
    idle = {"pc": "swapper/1"}
    lines = [
        WAKE.format(t="1.000", p=101, cpu="001"),
        _switch("1.001", 0, "R", 101, **idle),  # 101 waited 1 ms
        _switch("1.002", 101, "S", 102),  # 101 ran 1 ms (102 was not woken in the trace)
        _switch("1.003", 102, "S", 0, nc="swapper/1"),  # 102 ran 1 ms
        WAKE.format(t="1.003", p=101, cpu="001"),
        WAKE.format(t="1.003", p=102, cpu="001"),
        _switch("1.004", 0, "R", 102, **idle),  # 102 waited 1 ms
        _switch("1.005", 102, "S", 101),  # 102 ran 1 ms; 101 waited 2 ms
        WAKE.format(t="1.006", p=201, cpu="001"),
        _switch("1.007", 101, "S", 201),  # 101 ran 2 ms; 201 waited 1 ms
        _switch("1.008", 201, "S", 0, nc="swapper/1"),  # 201 ran 1 ms
    ]
    s = read_trace(lines)
    assert s.waits_by_task["101"] == pytest.approx([0.001, 0.002])
    assert s.run_s_by_task["101"] == pytest.approx(0.003)
    assert s.span_s == pytest.approx(0.007)
    threads_of = {"100": ["100", "101", "99", "102"], "200": ["200"]}
    assert listeners(threads_of) == {"102"}  # child 200 has a single thread
    text = render_roles(s, {"102"})
    assert "listeners (1): woken until run n 1" in text
    assert "33.3 % of the CPU time, 143 wake-ups/s" in text  # 2 of 6 ms; 1 in 7 ms traced
    assert "other threads (2): woken until run n 3" in text


def test_the_point_traced_is_the_seed_block_or_fixed_children() -> None:
    seed = probe_point("event", 50, "static").directives
    four = probe_point("event", 50, "static", children=4).directives
    assert four["ServerLimit"] == 4 and four["StartServers"] == 4
    assert four["MaxRequestWorkers"] == 4 * int(str(four["ThreadsPerChild"]))
    assert "ServerLimit" not in seed and seed["StartServers"] == 3  # the seed block as it is
    assert probe_point("prefork", 50, "cpu", children=64).directives["MaxRequestWorkers"] == 64


def test_a_report_names_its_point() -> None:
    assert point_label("event", "static", 50, 4) == "event static 50 clients, 4 fixed children"
    assert point_label("prefork", "cpu", 150, 0) == "prefork cpu 150 clients"


def test_ab_percentiles_read_from_its_table() -> None:
    report = (
        "Percentage of the requests served within a certain time (ms)\n"
        "  50%      5\n  66%      6\n  90%      7\n  95%     14\n  99%     61\n 100%     90\n"
    )
    assert ab_percentiles(report) == "p50 5 ms p90 7 ms p95 14 ms p99 61 ms"
    assert ab_percentiles("") == ""
