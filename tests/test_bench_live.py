"""``mpmsim bench`` with the real ab and wrk: closed ports, a server that answers nothing, Apache.

Each test skips when its tool (or Apache) is missing, and fails instead under CI.
"""

from __future__ import annotations

import contextlib
import csv
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mpmsim.bench.measure import bench, write_rows
from mpmsim.bench.processes import apache_pids
from mpmsim.errors import InputError
from tests.apache import ApacheFactory, live_group_members, running_apache


def _free_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


TOOL_PARAMS = [pytest.param(t, marks=pytest.mark.requires_apache(t)) for t in ("ab", "wrk")]


@pytest.mark.parametrize("tool", TOOL_PARAMS)
def test_closed_port_is_refused_before_any_run(tool: str) -> None:
    url = f"http://127.0.0.1:{_free_port()}/"
    with pytest.raises(InputError, match=f"^url: cannot connect to {url}: connection refused$"):
        bench(url, tool=tool, concurrency=[1], duration_s=1)


@pytest.mark.requires_apache("ab")
def test_cli_bench_on_a_closed_port_exits_2_and_writes_no_row(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/"
    out = tmp_path / "runs.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "mpmsim", "bench", url, "-o", str(out), "--concurrency", "1",
         "--duration-s", "1", "--mpm", "event"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"mpmsim: error: url: cannot connect to {url}: connection refused"
    ]
    assert not out.exists()


@pytest.mark.parametrize("tool", TOOL_PARAMS)
def test_a_server_that_closes_every_connection_is_refused(tool: str) -> None:
    """Connections are accepted and closed unanswered: the tool runs, nothing is served."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        stop = threading.Event()

        def close_all() -> None:
            server.settimeout(0.1)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    server.accept()[0].close()

        closer = threading.Thread(target=close_all, daemon=True)
        closer.start()
        try:
            with pytest.raises(InputError, match=f"^no request to {url} got a response at c=2: "):
                bench(url, tool=tool, concurrency=[2], duration_s=1)
        finally:
            stop.set()
            closer.join()


@pytest.mark.requires_apache()
def test_running_apache_serves_and_stops_everything(tmp_path: Path) -> None:
    with running_apache("worker", {"StartServers": 1, "ThreadsPerChild": 4}, tmp_path) as server:
        pid = server.pid
        assert pid is not None
        text = server.conf_path.read_text()
        assert "mod_mpm_worker.so" in text and "ThreadsPerChild 4" in text
        assert "KeepAlive On" in text and "Require ip 127.0.0.1" in text
        assert len(apache_pids(pid)) >= 2
    state = Path(f"/proc/{pid}/stat")
    assert not state.exists() or state.read_text().split(") ")[1][0] == "Z"
    assert live_group_members(pid) == []


@pytest.mark.requires_apache("ab")
def test_bench_ab_against_real_prefork(apache_factory: ApacheFactory, tmp_path: Path) -> None:
    directives = {"StartServers": 2, "MinSpareServers": 2, "MaxSpareServers": 4}
    server = apache_factory("prefork", directives)
    rows = bench(
        server.url,
        tool="ab",
        concurrency=[1, 8],
        duration_s=2,
        apache_pid_file=server.pid_file,
        status_url=server.status_url,
        mpm="prefork",
        directives=directives,
    )
    assert [r["concurrency"] for r in rows] == [1, 8]
    for row in rows:
        assert isinstance(row["req_per_s"], float) and row["req_per_s"] > 100
        assert isinstance(row["peak_procs"], int) and row["peak_procs"] >= 2
        assert isinstance(row["apache_cpu_ms_per_req"], float) and row["apache_cpu_ms_per_req"] > 0
        assert isinstance(row["lat_p50_ms"], float) and row["lat_p50_ms"] > 0
        assert row["status_busy"] not in (None, "") and row["status_mid_ok"] == 1
        assert row["failed"] == 0 and row["keepalive"] == 0
        assert isinstance(row["idle_rss_mb"], float) and row["idle_rss_mb"] > 1
    write_rows(rows, tmp_path / "runs.csv")
    with (tmp_path / "runs.csv").open() as handle:
        assert [r["run_id"] for r in csv.DictReader(handle)] == [
            "bench-prefork-ab-c1-ka0-r1",
            "bench-prefork-ab-c8-ka0-r1",
        ]


@pytest.mark.requires_apache("wrk")
def test_bench_wrk_keepalive_against_real_event(apache_factory: ApacheFactory) -> None:
    server = apache_factory("event", {"StartServers": 1, "ThreadsPerChild": 8})
    (row,) = bench(
        server.url,
        tool="wrk",
        concurrency=[4],
        keepalive=True,
        duration_s=2,
        apache_pid_file=server.pid_file,
        status_url=server.status_url,
    )
    assert row["keepalive"] == 1 and row["run_id"] == "bench-wrk-c4-ka1-r1"
    assert isinstance(row["req_per_s"], float) and row["req_per_s"] > 100
    # its done() script's JSON line: the p95 its text report lacks, exact
    p95, p99 = row["lat_p95_ms"], row["lat_p99_ms"]
    assert isinstance(p95, float) and isinstance(p99, float) and p95 <= p99
    assert isinstance(row["peak_threads"], int) and isinstance(row["peak_procs"], int)
    assert row["peak_threads"] > row["peak_procs"]  # threaded MPM
    assert isinstance(row["apache_cpu_ms_per_req"], float) and row["apache_cpu_ms_per_req"] > 0
    assert row["status_processes"] is not None and row["config_json"] == ""
