"""kaclient, the paced keep-alive client of ``mpmsim bench``: a tiny asyncio server, then Apache."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpmsim.bench import kaclient
from mpmsim.bench.kaclient_report import kaclient_cells, read_kaclient_text
from mpmsim.bench.measure import Extras, bench, write_rows
from mpmsim.calibration.measured import unrepresentable
from mpmsim.errors import InputError
from mpmsim.workloads.readers import read_measurements
from tests.apache import ApacheFactory

BODY = b"x" * 100


class TinyServer:
    """HTTP/1.1 keep-alive server: every ``close_every``-th response on a connection closes it,
    ``/missing`` answers 404, ``/silent`` never answers."""

    def __init__(self, close_every: int) -> None:
        self.close_every = close_every
        self.requests = 0
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                path = head.split(b" ")[1]
                if path == b"/silent":
                    await asyncio.sleep(3600)
                self.requests += 1
                served += 1
                closing = served % self.close_every == 0
                status = b"404 Not Found" if path == b"/missing" else b"200 OK"
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Length: 100\r\n"
                    + (b"Connection: close\r\n" if closing else b"") + b"\r\n" + BODY
                )  # fmt: skip
                await writer.drain()
                if closing:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class OneAtATime(TinyServer):
    """A TinyServer with one worker, as prefork's single child: a connection waits (accepted by
    the kernel, unread) until the one before it has closed."""

    def __init__(self) -> None:
        super().__init__(close_every=1000)
        self.worker = asyncio.Semaphore(1)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self.worker:
            await super().handle(reader, writer)


@pytest.fixture
def tiny() -> Iterator[tuple[TinyServer, int]]:
    """A TinyServer on a free loopback port, in its own thread and event loop."""
    yield from _serving(TinyServer(close_every=7))


@pytest.fixture
def one_worker() -> Iterator[tuple[TinyServer, int]]:
    """A OneAtATime server on a free loopback port."""
    yield from _serving(OneAtATime())


def _serving(server: TinyServer) -> Iterator[tuple[TinyServer, int]]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, asyncio.Server] = {}

    async def serve() -> None:
        box["srv"] = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert started.wait(5)
    yield server, box["srv"].sockets[0].getsockname()[1]

    async def shutdown() -> None:
        box["srv"].close()
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, object]]:
    assert kaclient.main(argv) == 0
    out = capsys.readouterr().out
    first, data = out.splitlines()[0], json.loads(out.splitlines()[-1].removeprefix("JSON:"))
    return first, data


def test_paces_each_client_and_reconnects_when_the_server_closes(
    tiny: tuple[TinyServer, int], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server, port = tiny
    url = f"http://127.0.0.1:{port}/page"
    argv = ["-c", "8", "--rate", "20", "--warmup", "0.5", "--duration", "2", url]
    first, data = _run(argv, capsys)
    assert first.startswith("kaclient -c 8 --rate 20")
    # 8 clients x 20/s x 2 s = 320 requests started in the window, none pipelined; on a busy
    # machine a few ticks may pass while a response is late (skipped, not sent twice)
    sent, skipped = int(data["sent_main"]), int(data["skipped"])  # type: ignore[call-overload]
    assert 320 - 8 <= sent + skipped <= 320 + 8 and skipped <= 16
    assert int(data["done_main"]) >= sent - 8  # type: ignore[call-overload]
    assert data["clients_starved"] == 0 and data["non200"] == 0
    assert data["read_err"] == 0 and data["connect_err"] == 0 and data["timeout"] == 0
    # every 7th response closes the connection: the client reconnected each time
    assert int(data["server_close"]) >= 300 // 7 - 8  # type: ignore[call-overload]
    assert int(data["connects"]) >= int(data["server_close"]) - 8  # type: ignore[call-overload]
    assert server.connections >= 8 + int(data["server_close"])  # type: ignore[call-overload]
    assert data["offered_req_per_s"] == 160.0
    assert 0 < float(data["lat_p50_ms"]) <= float(data["lat_p99_ms"])  # type: ignore[arg-type]
    report = tmp_path / "out.txt"
    report.write_text(f"{first}\nJSON:{json.dumps(data)}\n")
    result = read_kaclient_text(report)
    assert result.requests_completed == data["done_main"] and result.keepalive
    assert result.url == url and result.failed == 0
    cells = kaclient_cells(report)
    assert cells["rate_per_client"] == 20.0 and cells["n_requested"] == data["sent_main"]


def test_counts_http_errors_and_timeouts(
    tiny: tuple[TinyServer, int], capsys: pytest.CaptureFixture[str]
) -> None:
    _, port = tiny
    _, data = _run(["-c", "3", "--rate", "10", "--duration", "1", f"http://127.0.0.1:{port}/missing"],
                   capsys)  # fmt: skip
    assert data["non200"] == data["done_main"] and int(data["done_main"]) >= 25  # type: ignore[call-overload]
    argv = ["-c", "4", "--rate", "10", "--duration", "1", "--timeout", "0.25"]
    _, data = _run([*argv, f"http://127.0.0.1:{port}/silent"], capsys)
    assert data["done_main"] == 0 and data["clients_starved"] == 4
    assert int(data["timeout"]) >= 4 and int(data["skipped"]) > 0  # type: ignore[call-overload]


def test_clients_keep_their_connections_until_the_window_ends(
    one_worker: tuple[TinyServer, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # The first client holds the one worker; the second waits behind it for the whole window,
    # as clients beyond MaxRequestWorkers wait for prefork's. A client whose last tick has
    # passed keeps its connection open until the window ends (closing it at its last request
    # let the waiting client in before the end: starved clients served in the last period).
    _, port = one_worker
    argv = ["-c", "2", "--rate", "4", "--duration", "1.5", f"http://127.0.0.1:{port}/page"]
    _, data = _run(argv, capsys)
    assert data["clients_starved"] == 1 and data["outstanding_at_end"] == 1
    assert 5 <= int(data["done_main"]) <= 7 and data["server_close"] == 0  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["http://192.0.2.7/"], "only loads loopback hosts"),
        (["http://example.org/"], "only loads loopback hosts"),
        (["-c", "0", "http://127.0.0.1:9/"], "-c: must be in 1..5000"),
        (["--rate", "1000", "http://127.0.0.1:9/"], "--rate: must be in"),
        (["--bogus", "1", "http://127.0.0.1:9/"], "unknown option '--bogus'"),
        (["ftp://127.0.0.1/"], "expected an http:// URL"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "mpmsim.bench.kaclient", *argv],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("kaclient: error: ") and message in line


def test_bench_refuses_kaclient_off_loopback_and_rates_for_other_tools() -> None:
    with pytest.raises(InputError, match="loopback"):
        bench("http://192.0.2.7/", tool="kaclient", concurrency=[1], duration_s=1)
    with pytest.raises(InputError, match=r"^rate_per_client: only kaclient paces"):
        bench("http://127.0.0.1:9/", tool="ab", concurrency=[1], duration_s=1,
              extras=Extras(rate_per_client=2.0))  # fmt: skip


@pytest.mark.requires_apache()
def test_kaclient_row_against_real_event(apache_factory: ApacheFactory, tmp_path: Path) -> None:
    directives = {"StartServers": 2, "ThreadsPerChild": 10, "KeepAliveTimeout": 5}
    server = apache_factory("event", directives)
    (row,) = bench(
        server.url, tool="kaclient", concurrency=[30], duration_s=2,
        apache_pid_file=server.pid_file, status_url=server.status_url, mpm="event",
        directives=directives,
        extras=Extras(scenario="paced", rate_per_client=5, warmup_s=1, raw_dir=tmp_path / "raw"),
    )  # fmt: skip
    assert row["run_id"] == "paced-event-kaclient-c30-ka1-r1" and row["tool"] == "kaclient"
    assert row["keepalive"] == 1 and row["warmup_s"] == 1 and row["rate_per_client"] == 5.0
    assert row["offered_req_per_s"] == 150.0 and row["clients_starved"] == 0
    assert isinstance(row["req_per_s"], float) and 135 <= row["req_per_s"] <= 165
    assert row["failed"] == 0 and row["non_2xx"] == 0 and row["n_requested"]
    assert isinstance(row["apache_cpu_s"], float) and row["apache_cpu_s"] > 0
    assert isinstance(row["peak_threads"], int) and row["peak_threads"] >= 20
    assert row["status_mid_ok"] == 1 and isinstance(row["cpu1_busy_pct"], float)
    assert row["raw_prefix"] == "raw/paced-event-kaclient-c30-ka1-r1"
    assert (tmp_path / "raw" / "paced-event-kaclient-c30-ka1-r1.kaclient.txt").exists()
    write_rows([row], tmp_path / "runs.csv")
    (run,) = read_measurements(tmp_path / "runs.csv")
    assert run.rate_per_client == 5.0 and run.warmup_s == 1 and unrepresentable(run) is None


@pytest.mark.requires_apache("ab")
def test_ab_warm_up_runs_before_the_measured_window(
    apache_factory: ApacheFactory, tmp_path: Path
) -> None:
    server = apache_factory("prefork", {"StartServers": 2})
    (row,) = bench(
        server.url, tool="ab", concurrency=[4], duration_s=1, apache_pid_file=server.pid_file,
        mpm="prefork", directives={"StartServers": 2},
        extras=Extras(scenario="warm", warmup_s=2, raw_dir=tmp_path / "raw"),
    )  # fmt: skip
    assert row["warmup_s"] == 2 and row["run_id"] == "warm-prefork-ab-c4-ka0-r1"
    warm = (tmp_path / "raw" / "warm-prefork-ab-c4-ka0-r1.warmup.txt").read_text()
    assert "Complete requests:" in warm
    assert (tmp_path / "raw" / "warm-prefork-ab-c4-ka0-r1.ab.txt").exists()
    # the window excludes the warm-up: about 1 s of requests, not 3
    log = server.access_log.read_text().splitlines()
    assert isinstance(row["requests_completed"], int) and row["requests_completed"] < len(log)
