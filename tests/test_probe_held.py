"""benchmarks/probe_held.py counts a process's sockets and builds each tool's load."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_held import load_command, lua_lines, open_sockets, passive_opens, requests_served

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "measurements/shared-machine/lua"
FIXTURES = ROOT / "tests/fixtures/tools"


def test_open_sockets_counts_this_process_s_sockets_and_nothing_once_it_is_gone() -> None:
    before = open_sockets(os.getpid())
    a, b = socket.socketpair()
    try:
        assert open_sockets(os.getpid()) == before + 2
    finally:
        a.close()
        b.close()
    assert open_sockets(os.getpid()) == before
    assert open_sockets(2**22 + 7) == 0  # beyond pid_max: no such process


def test_each_tool_gets_its_clients_its_length_and_the_url_on_cpu_0() -> None:
    url = "http://127.0.0.1:8080/test.html"
    wrk = load_command("wrk", 400, 10.0, url, 5.0)
    assert wrk[:3] == ["taskset", "-c", "0"] and wrk[-1] == url
    assert wrk[wrk.index("-c", 4) + 1] == "400" and "10s" in wrk
    paced = load_command("kaclient", 180, 10.0, url, 5.0)
    assert "mpmsim.bench.kaclient" in paced and paced[-1] == url
    assert paced[paced.index("--rate") + 1] == "5" and paced[paced.index("-c", 4) + 1] == "180"
    ab = load_command("ab", 100, 4.0, url, 5.0)
    assert "ab" in ab and "-k" in ab and ab[-1] == url


def test_the_kernel_s_completed_connections_only_grow() -> None:
    first = passive_opens()
    assert first >= 0 and passive_opens() >= first


def test_each_tool_s_report_gives_its_requests_and_none_without_one(tmp_path: Path) -> None:
    """Read as ``mpmsim bench`` reads them: a shared-machine ab run, wrk's plain report, a
    kaclient report; an unreadable one gives None."""
    ab = (RAW / "one-client/raw/one-client-event-ab-c1-ka1-r2.ab.txt").read_text()
    assert requests_served(ab, "ab", tmp_path) == 160387
    wrk = (FIXTURES / "wrk_plain.txt").read_text()
    assert requests_served(wrk, "wrk", tmp_path) == 9876
    paced = (RAW / "paced/raw/paced-event-kaclient-c300-ka1-r1.kaclient.txt").read_text()
    assert requests_served(paced, "kaclient", tmp_path) == 18000
    assert requests_served("no report", "wrk", tmp_path) is None


def test_mod_lua_is_loaded_as_the_shared_harness_loads_it(tmp_path: Path) -> None:
    lines = lua_lines("event", 25, tmp_path)
    assert lines[0].startswith("LoadModule lua_module ") and "LuaScope server 1 25" in lines
    assert lines[-1] == f"LuaMapHandler ^/cpu$ {tmp_path}/cpu.lua handle"
    assert "LuaScope server 1 1" in lua_lines("prefork", 25, tmp_path)  # one state per process
