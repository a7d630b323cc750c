"""kaclient: paced keep-alive HTTP/1.1 clients on loopback (``python -m mpmsim.bench.kaclient``).

Each of N clients keeps one connection alive and starts a request every 1/rate s, its phase
spread uniformly over that period (client i at i/(N x rate)). A tick that falls while the
client's previous request is still outstanding is skipped; a request is never pipelined. When
the server closes the connection (``Connection: close``, or an idle kept connection found
closed) the client reconnects at its next request. Each request has a timeout (connect
included); a timed-out connection is dropped. Clients run ``warmup`` s before the measured
``duration`` s window and keep their connections open until the window ends, then stop.

Output (stdout) is the command line, then one line ``JSON:{...}`` with the window's counts and
latency percentiles (``read_kaclient_text`` reads it back), as the shared S5 runs recorded it.
Only loopback targets (127.0.0.0/8, ::1, localhost) are accepted; the client count and the
times are bounded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import resource
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

MAX_CLIENTS = 5000
MAX_RATE_PER_CLIENT = 100.0
MAX_SECONDS = 3600.0
FD_MARGIN = 64  # descriptors kept free besides the clients' sockets
LATE_AFTER_S = 0.005  # a request sent this long after its tick counts as late
STOP_GRACE_S = 2.0  # how long clients get to close their connections at the end


class UsageError(ValueError):
    """Bad arguments: one line for the user, exit code 2."""


@dataclass(frozen=True)
class Target:
    """Where and what to request."""

    host: str
    port: int
    path: str

    @property
    def request(self) -> bytes:
        return f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()


def loopback_target(url: str) -> Target:
    """The target of an ``http://`` URL on loopback; anything else is a UsageError."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UsageError(f"url: expected an http:// URL, got {url!r}")
    host = parts.hostname
    try:
        port = parts.port or 80
    except ValueError:
        raise UsageError(f"url: bad port in {url!r}") from None
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise UsageError(
                f"url: kaclient only loads loopback hosts (127.0.0.0/8, ::1, localhost), "
                f"got {host!r}"
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target("127.0.0.1" if host == "localhost" else host, port, path)


@dataclass
class Tally:
    """Counts of one phase (warm-up or measured window) and the window's latencies."""

    sent: int = 0
    done: int = 0
    late: int = 0
    skipped: int = 0
    connects: int = 0
    connect_err: int = 0
    read_err: int = 0
    timeout: int = 0
    server_close: int = 0
    non200: int = 0
    latencies_s: list[float] = field(default_factory=list)
    connect_s: list[float] = field(default_factory=list)


class _Closed(Exception):
    """The server closed a reused connection before any byte of the response."""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response (Content-Length, chunked or close-delimited): (status, server closes)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise _Closed from None
        raise
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip().lower() for k, _, v in
               (line.partition(":") for line in lines[1:] if line)}  # fmt: skip
    closes = headers.get("connection") == "close"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readline()).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
    else:
        await reader.read()
        closes = True
    return status, closes


@dataclass
class _Run:
    """Shared state of one kaclient run."""

    target: Target
    clients: int
    rate: float
    warmup_s: float
    duration_s: float
    timeout_s: float
    t0: float = 0.0
    stopped: bool = False
    warm: Tally = field(default_factory=Tally)
    main: Tally = field(default_factory=Tally)
    got_main: set[int] = field(default_factory=set)
    outstanding: set[int] = field(default_factory=set)

    def tally(self, now: float) -> Tally:
        return self.main if now >= self.t0 + self.warmup_s else self.warm


class _ConnectFailed(Exception):
    """The TCP connection could not be opened."""


@dataclass
class _Client:
    """One client: its index and its kept connection (None between connections)."""

    index: int
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    def drop(self) -> None:
        if self.conn is not None:
            self.conn[1].close()
            self.conn = None


async def _connect(run: _Run, client: _Client, tally: Tally) -> None:
    start = time.monotonic()
    try:
        client.conn = await asyncio.open_connection(run.target.host, run.target.port)
    except OSError as exc:
        raise _ConnectFailed from exc
    tally.connects += 1
    tally.connect_s.append(time.monotonic() - start)


async def _exchange(run: _Run, client: _Client, tally: Tally) -> int:
    """Send the request and read its response (reconnecting once if a kept connection was
    closed by the server); the status code."""
    for _ in range(2):
        if client.conn is not None and client.conn[0].at_eof():
            client.drop()
        reused = client.conn is not None
        if client.conn is None:
            await _connect(run, client, tally)
        assert client.conn is not None
        try:
            client.conn[1].write(run.target.request)
            status, closes = await _read_response(client.conn[0])
        except (_Closed, ConnectionResetError, BrokenPipeError):
            client.drop()
            if not reused:
                raise
            tally.server_close += 1
            continue
        if closes:
            tally.server_close += 1
            client.drop()
        return status
    raise _Closed


async def _request(run: _Run, client: _Client, tick: float) -> None:
    """One request started at (or just after) ``tick``, counted in the phase it falls in."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tally = run.tally(start)
    tally.sent += 1
    tally.late += start - tick > LATE_AFTER_S
    run.outstanding.add(client.index)
    try:
        async with asyncio.timeout(run.timeout_s):  # no extra task per request
            status = await _exchange(run, client, tally)
    except TimeoutError:
        run.tally(loop.time()).timeout += 1
        client.drop()
    except _ConnectFailed:
        run.tally(loop.time()).connect_err += 1
        client.drop()
    except (OSError, _Closed, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError, IndexError):  # fmt: skip
        run.tally(loop.time()).read_err += 1
        client.drop()
    else:
        end = loop.time()
        done = run.tally(end)
        done.done += 1
        done.non200 += status != 200
        if done is run.main:
            done.latencies_s.append(end - start)
            run.got_main.add(client.index)
    finally:
        run.outstanding.discard(client.index)


async def _client(run: _Run, client: _Client) -> None:
    """A request per tick on one kept-alive connection, until the window ends or cancelled."""
    loop = asyncio.get_running_loop()
    period = 1.0 / run.rate
    tick = run.t0 + client.index * period / run.clients
    end = run.t0 + run.warmup_s + run.duration_s
    try:
        while not run.stopped and tick < end:
            now = loop.time()
            if now < tick:
                await asyncio.sleep(tick - now)
            elif now >= tick + period:  # ticks that passed while the last request was out
                missed = int((now - tick) / period)
                run.tally(now).skipped += missed
                tick += missed * period
                continue
            await _request(run, client, tick)
            tick += period
        # Past its last tick the client still holds its connection until the window ends (the
        # run cancels every client then): closing it now would free the server's worker for a
        # client waiting behind it (prefork and worker pin one per connection), and the last
        # period of the window would serve clients the load otherwise starves.
        now = loop.time()
        if not run.stopped and now < end:
            await asyncio.sleep(end - now)
    finally:
        client.drop()


async def _run(run: _Run) -> dict[str, object]:
    """Run every client until the window ends; the summary."""
    loop = asyncio.get_running_loop()
    run.t0 = loop.time() + 0.05
    clients = [_Client(i) for i in range(run.clients)]
    tasks = [asyncio.create_task(_client(run, c)) for c in clients]
    await asyncio.sleep(run.t0 + run.warmup_s + run.duration_s - loop.time())
    outstanding_at_end = len(run.outstanding)
    run.stopped = True  # belt and braces: a client that missed its cancellation stops too
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=STOP_GRACE_S)
    return summary(run, outstanding_at_end)


def _ms(values: Sequence[float], q: float | None = None) -> float | None:
    if not values:
        return None
    arr = np.asarray(values) * 1000.0
    return round(float(arr.mean() if q is None else np.percentile(arr, q)), 4)


def summary(run: _Run, outstanding_at_end: int) -> dict[str, object]:
    """The measured window's figures (warm-up counts under ``warmup``)."""
    main, warm = run.main, run.warm
    counts = ("sent", "done", "late", "skipped", "connects", "connect_err", "read_err",
              "timeout", "server_close", "non200")  # fmt: skip
    out: dict[str, object] = {f"{k}_main" if k in ("sent", "done") else k: getattr(main, k)
                              for k in counts}  # fmt: skip
    lat = main.latencies_s
    out.update(
        outstanding_at_end=outstanding_at_end,
        clients_starved=run.clients - len(run.got_main),
        clients=run.clients,
        rate_per_client=run.rate,
        warmup_s=run.warmup_s,
        duration_s=run.duration_s,
        timeout_s=run.timeout_s,
        offered_req_per_s=round(run.clients * run.rate, 3),
        req_per_s=round(main.done / run.duration_s, 3),
        lat_mean_ms=_ms(lat),
        **{f"lat_p{q}_ms": _ms(lat, q) for q in (50, 90, 95, 99)},
        lat_max_ms=_ms(lat, 100),
        connect_p50_ms=_ms(main.connect_s, 50),
        connect_max_ms=_ms(main.connect_s, 100),
        warmup={k: getattr(warm, k) for k in counts},
    )
    return out


def _number(text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name}: expected a number, got {text!r}") from None
    if not low <= value <= high:
        raise UsageError(f"{name}: must be in {low:g}..{high:g}, got {value:g}")
    return value


def parse_args(argv: Sequence[str]) -> _Run:
    """``-c N --rate R --warmup S --duration S --timeout S URL`` (all but the URL optional)."""
    options = {"-c": "1", "--rate": "1", "--warmup": "0", "--duration": "10", "--timeout": "30"}
    rest: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in options:
            if not args:
                raise UsageError(f"{arg}: needs a value")
            options[arg] = args.pop(0)
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg!r}; expected one of {', '.join(options)}")
        else:
            rest.append(arg)
    if len(rest) != 1:
        raise UsageError("expected exactly one URL")
    clients = _number(options["-c"], "-c", 1, MAX_CLIENTS)
    if clients != int(clients):
        raise UsageError(f"-c: must be a whole number, got {options['-c']}")
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and clients + FD_MARGIN > soft:
        raise UsageError(f"-c: {int(clients)} connections need more than ulimit -n {soft}")
    return _Run(
        target=loopback_target(rest[0]),
        clients=int(clients),
        rate=_number(options["--rate"], "--rate", 1e-3, MAX_RATE_PER_CLIENT),
        warmup_s=_number(options["--warmup"], "--warmup", 0, MAX_SECONDS),
        duration_s=_number(options["--duration"], "--duration", 0.1, MAX_SECONDS),
        timeout_s=_number(options["--timeout"], "--timeout", 0.1, MAX_SECONDS),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run kaclient; print the command line and ``JSON:{summary}``. Exit 2 on bad arguments."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        run = parse_args(args)
    except UsageError as exc:
        print(f"kaclient: error: {exc}", file=sys.stderr)
        return 2
    print(shlex.join(["kaclient", *args]), flush=True)
    print("JSON:" + json.dumps(asyncio.run(_run(run))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
