"""``mpmsim.bench`` without outside tools: samplers, mod_status, checks and stand-in tools."""

from __future__ import annotations

import contextlib
import csv
import http.server
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpmsim.bench.measure import bench, write_rows
from mpmsim.bench.processes import apache_pids, cpu_seconds, sample_processes
from mpmsim.bench.target import fetch_status, status_cells
from mpmsim.errors import InputError
from mpmsim.workloads.readers import MEASUREMENT_COLUMNS

SHARED_RUNS = Path("/work/shared/data/apache-bench/runs.csv")

AB_TEXT = """\
This is ApacheBench, Version 2.3 <$Revision: 1913912 $>
Concurrency Level:      10
Time taken for tests:   2.001 seconds
Complete requests:      20000
Failed requests:        7
   (Connect: 1, Receive: 2, Length: 3, Exceptions: 1)
Write errors:           4
Non-2xx responses:      5
Total transferred:      5860000 bytes
Requests per second:    9995.00 [#/sec] (mean)
Time per request:       1.001 [ms] (mean)
Time per request:       0.100 [ms] (mean, across all concurrent requests)

Percentage of the requests served within a certain time (ms)
  50%      1
  90%      2
  95%      2
  99%      3
 100%     12 (longest request)
"""
AB_PCT = "Percentage served,Time in ms\n" + "".join(
    f"{p},{0.1 + p / 100:.3f}\n" for p in range(101)
)
# ab -r against a closed port: every attempt "completes", nothing is transferred.
AB_NOTHING = """\
Concurrency Level:      1
Time taken for tests:   1.000 seconds
Complete requests:      61766
Failed requests:        92649
   (Connect: 0, Receive: 61766, Length: 0, Exceptions: 30883)
Total transferred:      0 bytes
Requests per second:    61765.07 [#/sec] (mean)
"""
AB_NOT_FOUND = """\
Concurrency Level:      1
Time taken for tests:   1.000 seconds
Complete requests:      3000
Failed requests:        0
Non-2xx responses:      3000
Total transferred:      1200000 bytes
Requests per second:    3000.00 [#/sec] (mean)
"""
WRK_TEXT = """\
Running 1s test @ http://127.0.0.1:8080/test.html
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   410.96ms  607.75ms   2.19s    80.84%
    Req/Sec    18.98k     1.90k   20.59k    86.00%
  Latency Distribution
     50%  850.00us
     75%  753.23ms
     90%    1.48s
     99%    2.00s
  94330 requests in 5.02s, 389.27MB read
  Socket errors: connect 1, read 529, write 2, timeout 3
  Non-2xx or 3xx responses: 6
Requests/sec:  18780.56
Transfer/sec:     77.50MB
"""
STATUS_EVENT = """\
127.0.0.1
ServerMPM: event
Total Accesses: 47011
BusyWorkers: 4
GracefulWorkers: 0
IdleWorkers: 146
Processes: 6
Stopping: 0
ConnsTotal: 75
ConnsAsyncWaitIO: 0
ConnsAsyncWriting: 1
ConnsAsyncKeepAlive: 2
ConnsAsyncClosing: 3
Scoreboard: __W_K_CLR.S..G.I.D
"""
FAKE_TOOL = """\
#!/bin/sh
while [ $# -gt 1 ]; do [ "$1" = -e ] && [ -n "$PCT" ] && cp "$PCT" "$2"; shift; done
sleep "${SLEEP:-0}"; cat "$REPORT"; echo "$ERR" >&2
"""


def _free_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port whose connections the kernel completes (nobody reads them)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def _fake_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, report: str, **env: str
) -> None:
    """Put a script named ``name`` first on PATH that prints ``report`` (stderr: env ERR)."""
    (tmp_path / f"{name}-report.txt").write_text(report)
    fake = tmp_path / name
    fake.write_text(FAKE_TOOL)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("REPORT", str(tmp_path / f"{name}-report.txt"))
    for key in ("PCT", "SLEEP", "ERR"):
        monkeypatch.setenv(key, env.get(key, ""))


@contextlib.contextmanager
def _http_server(host: str, status: int, body: str, location: str = "") -> Iterator[list[str]]:
    """A tiny HTTP server on ``host`` answering every GET alike; yields the paths it was asked."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        asked.append(f"http://{host}:{server.server_address[1]}")  # the first entry: its URL
        yield asked
    finally:
        server.shutdown()
        server.server_close()


def test_status_cells_are_whole_numbers_and_scoreboard_counts() -> None:
    row = status_cells(STATUS_EVENT, "status")
    assert (row["status_busy"], row["status_idle"], row["status_processes"]) == (4, 146, 6)
    assert (row["status_conns_total"], row["status_conns_async_closing"]) == (75, 3)
    assert all(isinstance(value, int) for value in row.values())
    assert (row["sb_waiting"], row["sb_sending"], row["sb_keepalive"], row["sb_open"]) == (
        4,
        1,
        1,
        5,
    )
    assert (row["sb_closing"], row["sb_logging"], row["sb_reading"], row["sb_dns"]) == (1, 1, 1, 1)
    assert (row["sb_starting"], row["sb_graceful"], row["sb_idle_cleanup"]) == (1, 1, 1)
    prefork = status_cells("BusyWorkers: 8\nIdleWorkers: 0\nScoreboard: CCW..\n", "status")
    assert "status_processes" not in prefork and prefork["sb_closing"] == 2
    assert "sb_waiting" not in status_cells("BusyWorkers: 8\nIdleWorkers: 0\n", "status")
    with pytest.raises(InputError, match="not mod_status"):
        status_cells("<html>\n<body>It works</body>\n", "status")


def test_fetch_status_follows_no_redirect_to_another_host() -> None:
    with _http_server("127.0.0.2", 200, STATUS_EVENT) as elsewhere:
        direct = fetch_status(f"{elsewhere[0]}/server-status")
        assert direct["status_mid_ok"] == 1 and direct["status_busy"] == 4
        with _http_server("127.0.0.1", 302, "", f"{elsewhere[0]}/server-status?auto") as local:
            moved = fetch_status(f"{local[0]}/server-status")
        assert local[1:] == ["/server-status?auto"]
        assert moved["status_mid_ok"] == 0 and "status_busy" not in moved
        assert elsewhere[1:] == ["/server-status?auto"]  # only the direct fetch reached it


@pytest.mark.parametrize(
    ("code", "body", "message"),
    [
        (404, "Not Found", "answered HTTP 404"),
        (200, "<html><body>It works!</body></html>", "a page that is not mod_status's"),
    ],
)
def test_a_status_url_without_mod_status_is_refused_before_any_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listening_port: int,
    code: int, body: str, message: str,
) -> None:  # fmt: skip
    _fake_tool(tmp_path, monkeypatch, "ab", AB_TEXT, SLEEP="0")
    ran: list[object] = []
    monkeypatch.setattr("mpmsim.bench.measure._measure", lambda *args: ran.append(args))
    with (
        _http_server("127.0.0.1", code, body) as status,
        pytest.raises(InputError, match=message) as caught,
    ):
        bench(f"http://127.0.0.1:{listening_port}/t", status_url=f"{status[0]}/server-status")
    assert caught.value.field == "status_url"
    assert status[1:] == ["/server-status?auto"] and not ran


def test_rows_are_written_with_the_runs_csv_header(tmp_path: Path) -> None:
    if SHARED_RUNS.exists():
        with SHARED_RUNS.open() as handle:
            assert tuple(next(csv.reader(handle))) == MEASUREMENT_COLUMNS
    target = tmp_path / "runs.csv"
    write_rows([{"run_id": "x", "req_per_s": 1.5, "lat_p95_ms": None}], target)
    text = target.read_text()
    assert "\r" not in text  # runs.csv's line ends
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["run_id"] == "x" and rows[0]["req_per_s"] == "1.5"
    assert rows[0]["lat_p95_ms"] == "" and list(rows[0]) == list(MEASUREMENT_COLUMNS)


def test_samplers_on_this_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in apache_pids(os.getpid())
        sample = sample_processes(os.getpid())
        assert sample["procs"] is not None and sample["procs"] >= 2
        assert sample["threads"] is not None and sample["threads"] >= 2
        assert sample["rss_kb"] is not None and sample["rss_kb"] > 1000
        assert sample["pss_kb"] is not None and sample["pss_kb"] > 0
    finally:
        child.kill()
        child.wait()
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    # exact (schedstat), not whole ticks: the 0.1 s burned shows as at least most of it
    assert cpu_seconds(os.getpid()) - before >= 0.08


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "https://127.0.0.1/x"}, "http://"),
        ({"url": "http://example.com/", "apache_pid_file": Path("/x")}, "loopback"),
        ({"status_url": "http://10.0.0.1/server-status"}, "status_url"),
        ({"duration_s": 2.5}, "whole number"),
        ({"concurrency": [0]}, "concurrency"),
        ({"tool": "siege"}, "unknown tool"),
        ({"apache_pid_file": Path("/nonexistent/httpd.pid")}, "cannot read a PID"),
    ],
)
def test_bench_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    """Checked before the tool is looked for: no ab or wrk needed."""
    args: dict[str, object] = {"url": "http://127.0.0.1:9/test.html", **kwargs}
    with pytest.raises(InputError, match=message):
        bench(**args)  # type: ignore[arg-type]


def test_a_pid_file_naming_another_program_is_refused(tmp_path: Path) -> None:
    """Its CPU and memory would be read as Apache's: bench sampled a shell at 0.000 ms/req."""
    pid_file = tmp_path / "not-apache.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # this test process
    with pytest.raises(InputError, match=r"runs '.+', not Apache \(apache2 or httpd\)"):
        bench("http://127.0.0.1:9/test.html", apache_pid_file=pid_file)


def test_missing_tool_is_an_input_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="ab not found on PATH: install apache2-utils"):
        bench("http://127.0.0.1:9/test.html")


def test_bench_pipeline_with_a_fake_ab(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listening_port: int
) -> None:
    """Orchestration, sampling and row assembly with a script standing in for ab."""
    (tmp_path / "pct.csv").write_text(AB_PCT)
    _fake_tool(tmp_path, monkeypatch, "ab", AB_TEXT, PCT=str(tmp_path / "pct.csv"), SLEEP="1")
    pid_file = tmp_path / "me.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # "Apache" = this test process, by its own name
    me = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    monkeypatch.setattr("mpmsim.bench.processes.APACHE_PROGRAMS", (me,))
    lines: list[str] = []
    url = f"http://127.0.0.1:{listening_port}/test.html"
    with _http_server("localhost", 200, STATUS_EVENT) as status:
        rows = bench(
            url,
            concurrency=[3],
            duration_s=1,
            apache_pid_file=pid_file,
            status_url=f"{status[0]}/server-status",  # localhost: the same server as 127.0.0.1
            progress=lines.append,
            mpm="worker",
            directives={"ThreadsPerChild": 8, "MaxRequestWorkers": 32, "KeepAliveTimeout": 2},
        )
    (row,) = rows
    assert set(row) == set(MEASUREMENT_COLUMNS)
    assert row["run_id"] == "bench-worker-ab-c3-ka0-r1" and row["scenario"] == "bench"
    assert row["tool_cmd"] == f"ab -r -s 60 -c 3 -t 1 -n 500000 -e pct.csv {url}"
    assert row["config_json"] == (
        '{"mpm":"worker","mpm_params":{"ThreadsPerChild":8,"MaxRequestWorkers":32},'
        '"server":{"KeepAliveTimeout":2}}'
    )
    assert (row["threads_per_child"], row["server_limit"], row["mrw_nominal"]) == (8, 16, 32)
    assert (row["requests_completed"], row["failed"], row["req_per_s"]) == (20000, 7, 9995.0)
    assert (row["err_connect"], row["err_read"], row["err_write"]) == (1, 2, 4)
    assert (row["err_timeout"], row["err_other"], row["non_2xx"]) == (0, 4, 5)
    assert (row["lat_mean_ms"], row["duration_s"], row["url"]) == (1.001, 2.001, "/test.html")
    # the -e file's exact percentiles win over the report's whole-ms table
    assert (row["lat_p50_ms"], row["lat_p95_ms"], row["lat_max_ms"]) == (0.6, 1.05, 1.1)
    assert row["status_mid_ok"] == 1 and row["status_busy"] == 4  # the mid-run reading
    assert status[1:] == ["/server-status?auto"] * 2  # the check before the run, then mid-run
    assert isinstance(row["n_samples"], int) and row["n_samples"] >= 2
    assert isinstance(row["idle_procs"], int) and row["idle_procs"] >= 1
    assert row["apache_cpu_s"] is not None and row["notes"] == ""
    assert lines[0] == "c=3 ka=0 rep 1/1: running 1 s ..."
    assert lines[1].startswith("c=3 ka=0 rep 1/1: 9995.0 req/s")


def test_bench_pipeline_with_a_fake_wrk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listening_port: int
) -> None:
    _fake_tool(tmp_path, monkeypatch, "wrk", WRK_TEXT)
    url = f"http://127.0.0.1:{listening_port}"
    (row,) = bench(url, tool="wrk", concurrency=[4], keepalive=True, duration_s=1)
    assert row["run_id"] == "bench-wrk-c4-ka1-r1" and (row["keepalive"], row["url"]) == (1, "/")
    assert (
        row["tool_cmd"] == f"wrk -t 1 -c 4 -d 1s --timeout 30s --latency -s wrk_report.lua {url}/"
    )
    assert (row["requests_completed"], row["failed"], row["non_2xx"]) == (94330, 535, 6)
    assert (row["err_connect"], row["err_read"], row["err_timeout"]) == (1, 529, 3)
    assert row["lat_p50_ms"] == pytest.approx(0.85) and row["lat_p99_ms"] == 2000.0
    assert row["lat_p95_ms"] is None and row["config_json"] == ""  # wrk gives no p95


@pytest.mark.parametrize(
    ("report", "stderr", "message"),
    [
        (AB_NOTHING, "", r"no request to {url} got a response at c=1: "
                         r"ab counted read 61766, exceptions 30883$"),
        (AB_NOT_FOUND, "", r"every response from {url} at c=1 had an HTTP error status"),
        ("", "apr_pollset_poll: boom (70007)", r"ab produced no result for {url} at c=1: .*boom"),
    ],
)  # fmt: skip
def test_a_run_that_measured_nothing_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    listening_port: int,
    report: str,
    stderr: str,
    message: str,
) -> None:
    _fake_tool(tmp_path, monkeypatch, "ab", report, ERR=stderr)
    url = f"http://127.0.0.1:{listening_port}/"
    lines: list[str] = []
    with pytest.raises(InputError, match=message.format(url=url)):
        bench(url, concurrency=[1, 2], duration_s=1, progress=lines.append)
    assert lines == ["c=1 ka=0 rep 1/1: running 1 s ..."]  # stopped at the first level
