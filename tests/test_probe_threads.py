"""benchmarks/probe_threads.py tells a thread's wait apart and sums the samples up."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_threads import Samples, recv_q, wait_kind

# /proc/TID/syscall: number, then the arguments (futex: uaddr, op, val, ...)
MUTEX = "202 0x7f00a0 0x80 0x2 0x0 0x0 0x0 0x7ffd 0x7f01"  # FUTEX_WAIT | PRIVATE
CONDITION = "202 0x7f00b0 0x189 0x0 0x0 0x0 0xffffffff 0x7ffd 0x7f01"  # WAIT_BITSET | ...


def test_a_futex_wait_is_a_mutex_or_a_condition_by_its_operation() -> None:
    assert wait_kind("S", "futex_do_wait", MUTEX) == "lock"
    assert wait_kind("S", "futex_do_wait", CONDITION) == "condition"
    assert wait_kind("R", "futex_do_wait", MUTEX) == "runnable"  # woken, not yet run
    assert wait_kind("S", "do_epoll_wait", "232 0x5 0x7f 0x40 0xffffffff") == "epoll"
    assert wait_kind("S", "anon_pipe_read", "0 0x3 0x7f 0x1") == "anon_pipe_read"
    assert wait_kind("S", "0", "running") == "-"


def test_the_backlog_is_the_listening_socket_recv_q() -> None:
    assert recv_q("LISTEN 46     511    127.0.0.1:44855    0.0.0.0:*") == 46
    assert recv_q("") is None


def test_samples_give_medians_the_backlog_and_the_listeners_states() -> None:
    s = Samples()
    s.add({1: "runnable", 2: "condition", 3: "epoll"}, 40, 50)
    s.add({1: "runnable", 2: "condition", 3: "lock"}, 44, 52)
    s.add({1: "lock", 2: "condition", 3: "runnable"}, 48, 51)
    text = s.render()
    assert "3 samples" in text and "condition 1" in text and "runnable 1" in text
    assert "listeners (threads seen in epoll_wait): 1" in text  # thread 3 only
    assert "epoll 33 %" in text and "lock 33 %" in text and "runnable 33 %" in text
    assert "/ 44 /" in text  # the backlog's median
    assert Samples().render() == "no samples"
