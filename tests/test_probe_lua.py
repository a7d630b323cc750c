"""benchmarks/probe_lua.py: mod_lua's lines, fixed children, the threads that ran, the CPU of
reaped children."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_lua import _reaped_s, block, lua_lines, ran_threads, split_cpu


def test_mod_lua_gets_the_pool_asked_for_and_the_cpu_handler_in_the_document_root() -> None:
    docroot = Path("/srv/htdocs")
    lines = lua_lines("server 1 1", docroot)
    assert lines[0].startswith("LoadModule lua_module ")
    assert "LuaScope server 1 1" in lines
    assert lines[-1] == "LuaMapHandler ^/cpu$ /srv/htdocs/cpu.lua handle"
    assert lua_lines(None, docroot) == []


def test_the_children_are_fixed_and_no_child_is_recycled() -> None:
    event = block("event", 16)
    assert event["StartServers"] == event["ServerLimit"] == 16
    assert event["MaxRequestWorkers"] == 16 * event["ThreadsPerChild"]  # type: ignore[operator]
    assert event["MaxConnectionsPerChild"] == 0
    prefork = block("prefork", 33)
    assert prefork["StartServers"] == prefork["MaxRequestWorkers"] == 33
    wide = block("worker", 16, threads=64)  # exit: the threads a child tears down
    assert wide["ThreadsPerChild"] == 64 and wide["MaxRequestWorkers"] == 16 * 64


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_reaped_child_s_cpu_is_added_to_its_parent_s() -> None:
    """exit reads the children's CPU from the parent's cutime + cstime once they are reaped:
    a child that burns 0.3 s of CPU adds about that (clock ticks: 10 ms)."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    before = _reaped_s(os.getpid())
    subprocess.run([sys.executable, "-c", burn], check=True)
    assert 0.25 <= _reaped_s(os.getpid()) - before <= 2.0


def test_a_thread_counts_as_run_only_past_0_2_ms_and_new_threads_from_zero() -> None:
    before = {10: {11: 5_000_000, 12: 5_000_000}}
    after = {
        10: {11: 5_100_000, 12: 5_300_000},  # 0.1 ms: no; 0.3 ms: yes
        20: {21: 250_000, 22: 150_000},  # a child forked meanwhile: from zero
    }
    assert ran_threads(before, after) == 2
    assert ran_threads(after, after) == 0


def test_recycle_splits_the_parent_s_cpu_from_its_children_s_reaped_or_alive() -> None:
    """A child alive throughout counts its growth; one reaped meanwhile its whole life (the
    parent's cutime + cstime) less what it had used at the start; one forked and still alive
    from zero; the parent's own apart."""
    live0 = {1: 2_000_000_000, 2: 1_000_000_000}  # 2 exits in the window
    live1 = {1: 2_500_000_000, 3: 300_000_000}  # 3 was forked in it
    reaped = 1.3  # child 2's whole life (1.0 s before the window, 0.1 in it), another's 0.2
    own, children = split_cpu(live0, live1, 40_000_000, reaped)
    assert own == pytest.approx(0.04)
    assert children == pytest.approx(0.5 + 0.3 + 0.1 + 0.2)
