"""benchmarks/probe_idlers.py folds uprobes on httpd's worker queue into hand-offs and rounds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_idlers import handoffs, idlers, read_events, render, rounds, uprobe_lines

LINE = "apache2-{tid} (    100) [001] d..1. {t}: {ev}: (0x55d0e1a76760){arg}"


def _trace() -> list[str]:
    """Two workers (102, 103) go idle; the listener (101) hands on a new connection and a FIN
    in one round; the workers run them; 8.7 ms later the listener's next round."""
    rows = [
        ("1.000000", 102, "idle", ""),
        ("1.000001", 103, "idle", ""),
        ("1.001000", 101, "wait", " ret=0"),
        ("1.001100", 101, "push", " cs=0"),
        ("1.001200", 101, "try", " ret=0"),
        ("1.001300", 101, "push", " cs=94000000"),
        ("1.002000", 102, "pop", " ret=0"),
        ("1.003000", 103, "pop", " ret=0"),
        ("1.004000", 103, "idle", ""),
        ("1.005000", 102, "idle", ""),
        ("1.010000", 101, "try", " ret=0"),
        ("1.010100", 101, "push", " cs=95000000"),
        ("1.010200", 101, "try", " ret=11"),  # EAGAIN: no idle worker, nothing reserved
    ]
    lines = ["# tracer: nop", "ab-7 [000] d.s6. 1.0: sched_wakeup: comm=apache2 pid=102"]
    return lines + [LINE.format(tid=tid, t=t, ev=ev, arg=arg) for t, tid, ev, arg in rows]


def test_each_handoff_is_paired_with_the_worker_that_popped_it() -> None:
    events = read_events(_trace())
    assert len(events) == 13
    assert {e.pid for e in events} == {100}
    h = handoffs(events)
    assert h.waited[True] == pytest.approx([0.0009])  # the new connection, popped by 102
    assert h.waited[False] == pytest.approx([0.0017])  # the FIN, popped by 103
    assert h.kept[True] == pytest.approx([0.003])
    assert h.kept[False] == pytest.approx([0.001])
    assert h.held[True] == pytest.approx([0.0039])
    assert h.held[False] == pytest.approx([0.0027])


def test_rounds_count_their_handoffs_and_the_idle_workers_they_leave() -> None:
    events = read_events(_trace())
    levels = [v for _t, v in idlers(events)[100]]
    assert min(levels) == 0
    assert levels[:5] == [1, 2, 1, 1, 0]
    first, second = rounds(events)
    assert (first.new, first.other) == (1, 1)
    assert (first.idle_before, first.idle_after) == (2, 0)
    assert (second.new, second.other) == (0, 1)
    assert (second.idle_before, second.idle_after) == (2, 1)
    assert second.start - first.end == pytest.approx(0.0087)


def test_render_names_the_figures() -> None:
    text = render(read_events(_trace()))
    assert "new connections: push until popped n 1" in text
    assert "listeners 1, rounds" in text
    assert "rounds that left none: 1 (50 %)" in text
    assert render([]) == "no uprobe event recorded"


def test_uprobes_at_the_exported_offsets() -> None:
    nm = "\n".join(
        f"{off:016x} T {name}"
        for off, name in [
            (0x71760, "ap_queue_info_set_idle"),
            (0x715A0, "ap_queue_info_try_get_idler"),
            (0x715F0, "ap_queue_info_wait_for_idler"),
            (0x719E0, "ap_queue_push_socket"),
            (0x71AB0, "ap_queue_pop_something"),
        ]
    )
    lines = uprobe_lines(nm, "/x/apache2").splitlines()
    assert lines[0] == "p:mpm/idle /x/apache2:0x71760"
    assert lines[1] == "r:mpm/try /x/apache2:0x715a0 ret=$retval:s32"
    assert lines[3] == "p:mpm/push /x/apache2:0x719e0 cs=%dx:u64"
    with pytest.raises(SystemExit, match="ap_queue_push_socket"):
        uprobe_lines(nm.replace("ap_queue_push_socket", "other"), "/x/apache2")
