"""benchmarks/probe_children.py's ``scoreboard`` and ``listener`` probes (probe_scoreboard.py,
probe_listener.py): mod_status's scoreboard read into workers by state, and event.c's log
lines read into stops, restarts and spans not accepting."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_listener import _disabled_spans, _not_accepting, _stops
from probe_scoreboard import _parent_counts, _swings, scoreboard_states

#: mod_status's ?auto as Apache 2.4 writes it (abridged), a prefork server under load
AUTO = b"""127.0.0.1
ServerVersion: Apache/2.4.71 (Debian)
ServerMPM: prefork
BusyWorkers: 149
IdleWorkers: 2
Scoreboard: CCCCW_LCC_...
"""


class _Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = AUTO if self.path.endswith("?auto") else b"no"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def status_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/server-status"
    finally:
        server.shutdown()
        server.server_close()


def test_the_scoreboard_counted_by_state(status_url: str) -> None:
    states = scoreboard_states(status_url)
    assert states["C"] == 6 and states["W"] == 1 and states["_"] == 2 and states["L"] == 1
    assert "." not in states  # open slots: the probe leaves them out of its counts


def test_no_status_reads_as_an_empty_scoreboard() -> None:
    assert scoreboard_states("http://127.0.0.1:9/server-status") == {}


def test_samples_summed_up_with_how_often_idle_was_under_the_minimum() -> None:
    seen = [(151, {"_": 0, "C": 149}), (151, {"_": 40, "C": 90}), (150, {}), (149, {"C": 140})]
    line = _swings(seen, 5, 0.1)
    assert line.startswith("3 samples 0.1 s apart: processes 149-151")
    assert "idle < 5 in 2 (67 %)" in line  # the failed read is left out; a missing "_" is 0
    assert _swings([(6, {})], 5, 0.1) == "no scoreboard read"


def test_the_parents_own_idle_counts_read_from_its_busy_lines() -> None:
    log = (
        "[mpm_prefork:info] AH00162: server seems busy, (you may need to increase "
        "StartServers, or Min/MaxSpareServers), spawning 32 children, there are 0 idle, and "
        "36 total children\n"
        "[mpm_event:info] AH00486: server seems busy, (you may need to increase StartServers, "
        "ThreadsPerChild or Min/MaxSpareThreads), spawning 8 children, there are around 12 "
        "idle threads, 4 active children, and 0 children that are shutting down\n"
    )
    assert _parent_counts(log) == (
        "the parent's idle count at its forks of 8+: 0 idle (forking 32), 12 idle (forking 8)"
    )
    assert _parent_counts("") == "the parent forked no batch of 8 or more"


def test_each_stop_pairs_its_connections_with_the_idle_workers_its_thread_read() -> None:
    log = [
        "[mpm_event:debug] [pid 12:tid 34] event.c(2120): AH03269: Too many open connections "
        "(13), not accepting new conns in this process",
        "[mpm_event:debug] [pid 15:tid 37] event.c(2120): AH03269: Too many open connections "
        "(20), not accepting new conns in this process",
        "[mpm_event:trace1] [pid 15:tid 37] event.c(2124): Idle workers: 2",
        "[mpm_event:trace1] [pid 12:tid 34] event.c(2124): Idle workers: 0",
        "[mpm_event:trace1] [pid 99:tid 98] event.c(2124): Idle workers: 7",  # no stop before it
    ]
    assert _stops(log) == ([20, 13], [2, 0])
    assert _stops([]) == ([], [])


def _line(stamp: str, pid: int, text: str) -> str:
    return f"[Mon Dec 07 {stamp} 2026] [mpm_event:debug] [pid {pid}:tid 7] event.c(1961): {text}"


STOP = "Too many open connections (12), not accepting new conns in this process"
START = "AH00457: Accepting new connections again: 12 active conns (12 lingering/0 clogged/0 "


def test_a_childs_spans_not_accepting_run_from_its_stop_to_its_restart() -> None:
    log = [
        _line("19:00:00.000000", 1, STOP),
        _line("19:00:00.001000", 2, STOP),
        _line("19:00:00.004000", 1, START + "suspended), 13 idle workers"),
        _line("19:00:00.005000", 1, STOP),
        _line("19:00:00.006000", 2, START + "suspended), 13 idle workers"),
        "a line of another kind",
    ]
    spans = _disabled_spans(log)
    assert sorted(spans) == ["1", "2"]  # child 1's last stop has no restart yet
    (one,) = spans["1"]
    assert one[1] - one[0] == pytest.approx(0.004, abs=1e-6)  # epoch seconds to the microsecond
    assert spans["2"][0][1] - spans["2"][0][0] == pytest.approx(0.005, abs=1e-6)


def test_children_not_accepting_are_counted_at_each_instant() -> None:
    # two children, each not accepting for the first 8 ms of every 10 ms, child 2 shifted by 5
    spans = {
        "1": [(k / 100, k / 100 + 0.008) for k in range(100)],
        "2": [(k / 100 + 0.005, k / 100 + 0.013) for k in range(100)],
    }
    out = _not_accepting(spans, after_s=0.1)
    assert "a child not accepting for (ms) 8 / 8 / 8 / 8" in out
    shares = out.split("spent so ")[1].split(";")[0].split(" / ")
    assert [float(v) for v in shares] == pytest.approx([0.8] * 4, abs=0.01)
    assert out.endswith("of 2") and "at an instant 1 / 2 / 2 / 2" in out
    assert _not_accepting({}, after_s=1.0) == "no child stopped accepting"
