"""``mpmsim.bench``: parsers and samplers without Apache, then real runs against a local Apache."""

from __future__ import annotations

import csv
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mpmsim.bench.measure import (
    RUN_COLUMNS,
    apache_pids,
    bench,
    cpu_ticks,
    parse_ab,
    parse_status,
    parse_wrk,
    sample_processes,
    write_rows,
)
from mpmsim.errors import InputError
from tests.apache import ApacheFactory, live_group_members, running_apache

SHARED_RUNS = Path("/work/shared/data/apache-bench/runs.csv")

AB_TEXT = """\
Concurrency Level:      10
Time taken for tests:   2.001 seconds
Complete requests:      20000
Failed requests:        7
   (Connect: 1, Receive: 2, Length: 3, Exceptions: 1)
Write errors:           4
Non-2xx responses:      5
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
WRK_TEXT = """\
Running 5s test @ http://127.0.0.1:8080/test.html
  1 threads and 400 connections
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


def test_parse_ab_report_and_exact_percentiles() -> None:
    row = parse_ab(AB_TEXT, AB_PCT)
    assert row["requests_completed"] == 20000
    assert row["failed"] == 7
    assert (row["err_connect"], row["err_read"], row["err_write"]) == (1, 2, 4)
    assert (row["err_timeout"], row["err_other"], row["non_2xx"]) == (0, 4, 5)
    assert row["req_per_s"] == 9995.0
    assert row["lat_mean_ms"] == 1.001  # the first "Time per request" (per concurrent client)
    assert row["duration_s"] == 2.001
    assert (row["lat_p50_ms"], row["lat_p95_ms"], row["lat_max_ms"]) == (0.6, 1.05, 1.1)


def test_parse_ab_without_csv_uses_the_whole_ms_table() -> None:
    row = parse_ab(AB_TEXT)
    assert (row["lat_p50_ms"], row["lat_p90_ms"], row["lat_p99_ms"], row["lat_max_ms"]) == (
        1.0,
        2.0,
        3.0,
        12.0,
    )
    clean = parse_ab("Complete requests:      10\nFailed requests:        0\n")
    assert clean["failed"] == 0 and clean["err_other"] == 0 and clean["non_2xx"] == 0
    assert parse_ab("apr_socket_connect(): Connection refused (111)\n") == {}


def test_parse_wrk_units_errors_and_no_p95() -> None:
    row = parse_wrk(WRK_TEXT)
    assert row["requests_completed"] == 94330
    assert row["duration_s"] == pytest.approx(5.02)
    assert row["req_per_s"] == 18780.56
    assert row["lat_mean_ms"] == pytest.approx(410.96)
    assert row["lat_max_ms"] == pytest.approx(2190.0)
    assert row["lat_p50_ms"] == pytest.approx(0.85)
    assert (row["lat_p90_ms"], row["lat_p99_ms"]) == (pytest.approx(1480.0), 2000.0)
    assert "lat_p95_ms" not in row
    assert (row["err_connect"], row["err_read"], row["err_write"], row["err_timeout"]) == (
        1,
        529,
        2,
        3,
    )
    assert (row["failed"], row["non_2xx"], row["err_other"]) == (535, 6, 0)


def test_parse_status_fields_and_scoreboard() -> None:
    row = parse_status(STATUS_EVENT)
    assert (row["status_busy"], row["status_idle"], row["status_processes"]) == (4, 146, 6)
    assert (row["status_conns_total"], row["status_conns_async_closing"]) == (75, 3)
    assert row["status_conns_async_keepalive"] == 2
    assert (row["sb_waiting"], row["sb_sending"], row["sb_keepalive"], row["sb_open"]) == (
        4,
        1,
        1,
        5,
    )
    assert (row["sb_closing"], row["sb_logging"], row["sb_reading"]) == (1, 1, 1)
    assert (row["sb_starting"], row["sb_graceful"], row["sb_idle_cleanup"], row["sb_dns"]) == (
        1,
        1,
        1,
        1,
    )
    prefork = parse_status("BusyWorkers: 8\nIdleWorkers: 0\nScoreboard: CCW..\n")
    assert "status_processes" not in prefork and prefork["sb_closing"] == 2


def test_write_rows_header_blanks_and_overwrite(tmp_path: Path) -> None:
    if SHARED_RUNS.exists():
        with SHARED_RUNS.open() as handle:
            assert tuple(next(csv.reader(handle))) == RUN_COLUMNS
    target = tmp_path / "runs.csv"
    write_rows([{"run_id": "x", "req_per_s": 1.5, "lat_p95_ms": None}], target)
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["run_id"] == "x" and rows[0]["req_per_s"] == "1.5"
    assert rows[0]["lat_p95_ms"] == "" and list(rows[0]) == list(RUN_COLUMNS)
    with pytest.raises(InputError, match="exists"):
        write_rows([], target)
    write_rows([], target, overwrite=True)
    with pytest.raises(InputError, match=r"not runs\.csv columns: bogus"):
        write_rows([{"bogus": 1}], target, overwrite=True)


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
    before = cpu_ticks(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    assert cpu_ticks(os.getpid()) > before


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
    args: dict[str, object] = {"url": "http://127.0.0.1:9/test.html", **kwargs}
    with pytest.raises(InputError, match=message):
        bench(**args)  # type: ignore[arg-type]


def test_missing_tool_is_an_input_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="ab not found on PATH: install apache2-utils"):
        bench("http://127.0.0.1:9/test.html")


def test_bench_pipeline_with_a_fake_ab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Orchestration, sampling and row assembly with a script standing in for ab."""
    (tmp_path / "report.txt").write_text(AB_TEXT)
    (tmp_path / "pct.csv").write_text(AB_PCT)
    fake = tmp_path / "ab"
    fake.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 1 ]; do [ "$1" = -e ] && cp "$PCT" "$2"; shift; done\n'
        'sleep 1; cat "$REPORT"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("PCT", str(tmp_path / "pct.csv"))
    monkeypatch.setenv("REPORT", str(tmp_path / "report.txt"))
    pid_file = tmp_path / "me.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # "Apache" = this test process
    lines: list[str] = []
    rows = bench(
        "http://127.0.0.1:9/test.html",
        concurrency=[3],
        duration_s=1,
        apache_pid_file=pid_file,
        status_url="http://127.0.0.1:9/server-status",
        progress=lines.append,
        mpm="worker",
        directives={"ThreadsPerChild": 8, "MaxRequestWorkers": 32, "KeepAliveTimeout": 2},
    )
    (row,) = rows
    assert set(row) == set(RUN_COLUMNS)
    assert row["run_id"] == "bench-worker-ab-c3-ka0-r1" and row["scenario"] == "bench"
    assert row["tool_cmd"] == (
        "ab -r -s 60 -c 3 -t 1 -n 500000 -e pct.csv http://127.0.0.1:9/test.html"
    )
    assert row["config_json"] == (
        '{"mpm":"worker","mpm_params":{"ThreadsPerChild":8,"MaxRequestWorkers":32},'
        '"server":{"KeepAliveTimeout":2}}'
    )
    assert (row["threads_per_child"], row["server_limit"], row["mrw_nominal"]) == (8, 16, 32)
    assert row["requests_completed"] == 20000 and row["lat_p50_ms"] == 0.6
    assert row["status_mid_ok"] == 0  # nothing listens on port 9
    assert isinstance(row["n_samples"], int) and row["n_samples"] >= 2
    assert isinstance(row["idle_procs"], int) and row["idle_procs"] >= 1
    assert row["apache_cpu_s"] is not None and row["lat_p95_ms"] == 1.05
    assert lines[0] == "c=3 ka=0 rep 1/1: running 1 s ..."
    assert lines[1].startswith("c=3 ka=0 rep 1/1: 9995.0 req/s")


@pytest.mark.requires_apache("wrk", "ab")
def test_tool_failures_are_reported() -> None:
    with pytest.raises(InputError, match=r"wrk produced no result .* Connection refused"):
        bench("http://127.0.0.1:9", tool="wrk", concurrency=[1], duration_s=1)
    (row,) = bench("http://127.0.0.1:9/", concurrency=[1], duration_s=1)  # ab -r keeps going
    assert isinstance(row["failed"], int) and isinstance(row["requests_completed"], int)
    assert row["failed"] >= row["requests_completed"] > 0
    assert row["notes"] == "every request failed"


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
    assert row["lat_p95_ms"] is None and isinstance(row["lat_p99_ms"], float)
    assert isinstance(row["peak_threads"], int) and isinstance(row["peak_procs"], int)
    assert row["peak_threads"] > row["peak_procs"]  # threaded MPM
    assert isinstance(row["apache_cpu_ms_per_req"], float) and row["apache_cpu_ms_per_req"] > 0
    assert row["status_processes"] is not None and row["config_json"] == ""
