"""Synthetic Apache access logs with known traffic, and nasty lines (for tests and benchmarks).

:func:`requests` streams the requests of seeded synthetic traffic (Poisson arrivals of
keep-alive connections, a geometric number of requests each, exponential think times,
lognormal service times) in the order Apache logs them: by the time each one *ends*.
:func:`format_line` writes one as a line of a known format, escaping its strings as Apache
does; :func:`write_log` writes a log (plain or gzip), optionally with bad lines mixed in.
The truth (every drawn value) is the :class:`LoggedRequest`, so a test can compare what a
reader or a fitter recovers with what was drawn.
"""

from __future__ import annotations

import functools
import gzip
import heapq
import itertools
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TextIO

SHARED_LOGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "access-logs"
NASA = "nasa-1995-08-01-morning.log"
NETNEA = "netnea-2015-09-extended.log"
NETNEA_OFFSET_S = 7200
"""The netnea log's times are local, +0200 (its README)."""


def shared_log(name: str) -> Path:
    """One of the two real logs in shared/ (the test is skipped when shared/ is absent)."""
    path = SHARED_LOGS / name
    if not path.is_file():
        import pytest

        pytest.skip(f"shared access log not found at {path}")
    return path


def netnea_format() -> str:
    """The netnea log's ``LogFormat`` exactly as its README documents it (the fenced block;
    the test is skipped when shared/ is absent)."""
    path = SHARED_LOGS / "README.md"
    if not path.is_file():
        import pytest

        pytest.skip(f"shared access logs' README not found at {path}")
    readme = path.read_text(encoding="utf-8")
    block = readme.split("```", 2)[1]
    return block.strip()


PATHS = ("/", "/index.html", "/static/app.js", "/static/site.css", "/img/logo.png", "/api/items")
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    'curl/8.5.0 "quoted" \\ backslash',
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15 (ä, 漢字)",
    "-",
    "",
)
STATUSES = ((200, 0.85), (304, 0.08), (404, 0.05), (500, 0.02))
_STATUS_CDF = tuple(
    (status, sum(w for _, w in STATUSES[: i + 1])) for i, (status, _) in enumerate(STATUSES)
)


@dataclass(frozen=True)
class Traffic:
    """Synthetic traffic with known distributions (means; service times lognormal with ``cv``)."""

    connections_per_s: float = 20.0
    requests_per_connection: float = 4.0
    think_time_s: float = 0.5
    duration_ms: float = 5.0
    duration_cv: float = 2.0
    body_bytes: float = 8_000.0
    clients: int = 2_000
    start_s: float = 1_700_000_000.0
    workers: int = 8
    threads_per_worker: int = 25


class LoggedRequest(NamedTuple):
    """One synthetic request: what its log line will say."""

    start_us: int
    duration_us: int
    client: str
    client_port: int
    pid: int
    tid: int
    connection_id: str
    keepalive_requests: int
    connection_status: str
    method: str
    path: str
    protocol: str
    status: int
    body_bytes: int
    referer: str | None
    user_agent: str | None

    @property
    def end_us(self) -> int:
        """When the request ended (and its line was written), epoch microseconds."""
        return self.start_us + self.duration_us


@dataclass
class _Connection:
    """A keep-alive connection between its requests."""

    client: str
    port: int
    pid: int
    tid: int
    ident: str
    left: int
    done: int = 0


def _geometric(rng: random.Random, mean: float) -> int:
    """A geometric draw on 1, 2, ... with the given mean."""
    if mean <= 1.0:
        return 1
    p = 1.0 / mean
    return 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


def _lognormal_us(rng: random.Random, mean_ms: float, cv: float) -> int:
    """A lognormal service time in whole microseconds (at least 1)."""
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    mu = math.log(mean_ms * 1000.0) - sigma * sigma / 2.0
    return max(1, int(rng.lognormvariate(mu, sigma)))


def _request(
    traffic: Traffic, rng: random.Random, conn: _Connection, start_us: int
) -> LoggedRequest:
    """The next request of ``conn``, started at ``start_us``."""
    draw = rng.random()
    status = next((s for s, below in _STATUS_CDF if draw < below), STATUSES[-1][0])
    body = 0 if status == 304 else int(rng.expovariate(1.0 / traffic.body_bytes))
    path = rng.choice(PATHS) + (f"?page={rng.randrange(50)}" if rng.random() < 0.2 else "")
    agent = rng.choice(AGENTS)
    conn.left -= 1
    return LoggedRequest(
        start_us=start_us,
        duration_us=_lognormal_us(rng, traffic.duration_ms, traffic.duration_cv),
        client=conn.client,
        client_port=conn.port,
        pid=conn.pid,
        tid=conn.tid,
        connection_id=conn.ident,
        keepalive_requests=conn.done,
        connection_status="+" if conn.left else "-",
        method="POST" if path.startswith("/api") and rng.random() < 0.3 else "GET",
        path=path,
        protocol="HTTP/1.1",
        status=status,
        body_bytes=body,
        referer=None if rng.random() < 0.5 else "https://example.org/",
        user_agent=None if agent == "-" else agent,
    )


def _connection(traffic: Traffic, rng: random.Random, number: int) -> _Connection:
    """A new connection from a random client to a random worker thread."""
    worker = rng.randrange(traffic.workers)
    who = rng.randrange(traffic.clients)
    return _Connection(
        client=f"10.{who // 65536}.{who // 256 % 256}.{who % 256}",
        port=rng.randrange(1024, 65536),
        pid=1000 + worker,
        tid=140_000_000 + worker * 1000 + rng.randrange(traffic.threads_per_worker),
        ident=f"C{number:07x}",
        left=_geometric(rng, traffic.requests_per_connection),
    )


def requests(traffic: Traffic, seed: int) -> Iterator[LoggedRequest]:
    """The traffic's requests, endlessly, in the order their lines are written (by end time).

    Requests of one connection follow each other (start = previous end + think time); the
    next connection opens after an exponential gap. Memory holds the open connections only.
    """
    rng = random.Random(seed)
    pending: list[tuple[int, int, LoggedRequest, _Connection]] = []
    order = itertools.count()
    gap_us = 1e6 / traffic.connections_per_s
    next_open = int(traffic.start_s * 1e6)
    number = 0
    while True:
        while not pending or next_open <= pending[0][0]:
            conn = _connection(traffic, rng, number)
            first = _request(traffic, rng, conn, next_open)
            heapq.heappush(pending, (first.end_us, next(order), first, conn))
            number += 1
            next_open += max(1, int(rng.expovariate(1.0 / gap_us)))
        _, _, done, conn = heapq.heappop(pending)
        yield done
        conn.done += 1
        if conn.left:
            think = max(1, int(rng.expovariate(1e-6 / traffic.think_time_s)))
            following = _request(traffic, rng, conn, done.end_us + think)
            heapq.heappush(pending, (following.end_us, next(order), following, conn))


def take(traffic: Traffic, count: int, seed: int) -> list[LoggedRequest]:
    """The first ``count`` requests of :func:`requests`."""
    return list(itertools.islice(requests(traffic, seed), count))


_ESCAPES = {
    ord("\b"): "\\b",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\v"): "\\v",
}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})
_PLAIN = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")


def escape(text: str) -> str:
    """``text`` as Apache logs it (``ap_escape_logitem``): quote, backslash, control and
    non-ASCII bytes of its UTF-8 escaped, so a log line is printable ASCII."""
    if _PLAIN.fullmatch(text):
        return text
    out: list[str] = []
    for byte in text.encode("utf-8", "surrogateescape"):
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif byte < 0x20 or byte > 0x7E:
            out.append(f"\\x{byte:02x}")
        else:
            out.append(chr(byte))
    return "".join(out)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=4096)
def clf_time(epoch_s: int, zone_s: int = 0) -> str:
    """``[dd/Mon/yyyy:HH:MM:SS +hhmm]`` of a whole epoch second, in the given zone."""
    t = time.gmtime(epoch_s + zone_s)
    sign = "-" if zone_s < 0 else "+"
    zone = f"{sign}{abs(zone_s) // 3600:02d}{abs(zone_s) % 3600 // 60:02d}"
    day = f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}"
    return f"[{day}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {zone}]"


def _quoted(value: str | None) -> str:
    """A header as logged between quotes: escaped, ``-`` when absent."""
    return '"-"' if value is None else f'"{escape(value)}"'


def _common(r: LoggedRequest) -> str:
    """The ``common`` part every known format starts with (after the virtual host)."""
    body = "-" if r.body_bytes == 0 else str(r.body_bytes)
    line = escape(f"{r.method} {r.path} {r.protocol}")
    return f'{r.client} - - {clf_time(r.start_us // 1_000_000)} "{line}" {r.status} {body}'


def _combined(r: LoggedRequest) -> str:
    """``combined``."""
    return f"{_common(r)} {_quoted(r.referer)} {_quoted(r.user_agent)}"


def _planning(r: LoggedRequest) -> str:
    """``mpmsim``: combined and the planning fields."""
    return (
        f"{_combined(r)} {r.start_us} {r.duration_us} {r.keepalive_requests} "
        f"{r.connection_status} {r.client_port} {r.pid} {r.tid}"
    )


#: Nickname -> writer of a line (without its newline).
WRITERS: dict[str, Callable[[LoggedRequest], str]] = {
    "common": _common,
    "combined": _combined,
    "combinedio": lambda r: f"{_combined(r)} {200 + len(r.path)} {r.body_bytes + 250}",
    "mpmsim": _planning,
}


def format_line(request: LoggedRequest, log_format: str) -> str:
    """``request`` as a line of the nicknamed format (no newline)."""
    return WRITERS[log_format](request)


#: Lines no format reads: empty, junk, a TLS hello on a plain port, half a line.
BAD_LINES = (
    "",
    "garbage",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    '10.0.0.1 - - [01/Aug/2024:10:00:01 +0000] "GET / HTTP/1.1" 2',
    '10.0.0.1 - - [01/Aug/2024:10:00:01 +0000] "GET / HTTP/1.1 200 512',
    '10.0.0.1 - - [01/Aug/2024:10:00:01 +0000] "GET /"x" HTTP/1.0" 200 512 "-" "-"',
)

#: ``common``/``combined`` lines whose only fault is an impossible time (31 Feb, hour 24 ...).
BAD_TIMES = (
    '10.0.0.1 - - [31/Feb/2024:10:00:01 +0000] "GET / HTTP/1.1" 200 512 "-" "-"',
    '10.0.0.1 - - [01/Aug/2024:24:00:01 +0000] "GET / HTTP/1.1" 200 512 "-" "-"',
    '10.0.0.1 - - [01/Foo/2024:10:00:01 +0000] "GET / HTTP/1.1" 200 512 "-" "-"',
    '10.0.0.1 - - [01/Aug/2024:10:60:01 +0000] "GET / HTTP/1.1" 200 512 "-" "-"',
)


def write_lines(handle: TextIO, lines: Iterable[str], bad_every: int = 0) -> int:
    """Write ``lines``; with ``bad_every`` > 0 a line of :data:`BAD_LINES` after every that
    many. Returns how many bad lines were written."""
    bad = itertools.cycle(BAD_LINES)
    written = 0
    for number, line in enumerate(lines, 1):
        handle.write(line + "\n")
        if bad_every and number % bad_every == 0:
            handle.write(next(bad) + "\n")
            written += 1
    return written


def write_log(
    path: Path,
    traffic: Traffic,
    count: int,
    log_format: str,
    *,
    seed: int = 1,
    bad_every: int = 0,
    compress: bool = False,
) -> int:
    """Write ``count`` requests of ``traffic`` as a log (gzip when ``compress``); returns the
    number of bad lines mixed in (see :func:`write_lines`)."""
    writer = WRITERS[log_format]
    lines = (writer(r) for r in itertools.islice(requests(traffic, seed), count))
    if compress:
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1, newline="\n") as handle:
            return write_lines(handle, lines, bad_every)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        return write_lines(handle, lines, bad_every)


__all__ = [
    "AGENTS",
    "BAD_LINES",
    "BAD_TIMES",
    "NASA",
    "NETNEA",
    "NETNEA_OFFSET_S",
    "PATHS",
    "SHARED_LOGS",
    "WRITERS",
    "LoggedRequest",
    "Traffic",
    "clf_time",
    "escape",
    "format_line",
    "netnea_format",
    "requests",
    "shared_log",
    "take",
    "write_lines",
    "write_log",
]
