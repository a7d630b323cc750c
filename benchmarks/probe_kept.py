"""Probe the memory an idle keep-alive connection holds in a real Apache, beyond its workers.

A fixed number of children (StartServers = ServerLimit, spares that neither fork nor stop;
KeepAliveTimeout 60 and MaxKeepAliveRequests 1,000 so that nothing closes while held) on a fresh
throw-away Apache (tests/apache.py) pinned to CPU 1, the client on CPU 0, as
``probe_children.py`` runs it. For each count N in turn, N connections open, each sends
``--requests`` K requests for the 4 KiB page one after another and then stays open and idle;
once all are idle, the summed PSS of the parent and children is read three times (the peak is
kept), then they close. Event's listener keeps each idle connection with its pool and no
thread, so the growth from one count to the next, once every worker has served, is the memory
of an idle connection (``listener_connection_kib`` in the cost model); prefork and worker pin a
worker to each (MaxRequestWorkers at the most). The counts may come down again: memory freed
by closed connections and kept by the children's allocators shows there.

    python benchmarks/probe_kept.py --mpm event --counts 0,100,200,400,800,400,0
    python benchmarks/probe_kept.py --mpm event --requests 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

from campaigns import fixed_children  # noqa: E402
from probe_apache import PAGE, SERVER  # noqa: E402

from mpmsim.bench.kaclient import _read_response as read_response  # noqa: E402
from mpmsim.bench.processes import apache_pid, sample_processes  # noqa: E402
from tests.apache import running_apache  # noqa: E402

REQUEST = b"GET /test.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
SETTLE_S = 1.0  # after the last connection went idle, before the readings
OPEN_TIMEOUT_S = 60.0


def parse_counts(text: str) -> list[int]:
    """``--counts``: connection counts, comma-separated, each 0 or more."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--counts {text!r}: whole numbers, comma-separated") from None
    if not counts or min(counts) < 0:
        raise SystemExit(f"--counts {text!r}: one or more counts, each 0 or more")
    return counts


async def _held(port: int, requests: int, release: asyncio.Event, idle: list[int]) -> None:
    """One connection: ``requests`` requests, then idle until ``release``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(requests):
            writer.write(REQUEST)
            await writer.drain()
            await read_response(reader)
        idle[0] += 1
        await release.wait()
    finally:
        writer.close()


async def hold(port: int, n: int, requests: int, parent: int) -> tuple[int, int, int]:
    """(connections idle, peak summed PSS in KiB, processes) with ``n`` connections held."""
    release = asyncio.Event()
    idle = [0]
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(_held(port, requests, release, idle)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # under the listen backlog
    start = time.monotonic()
    while idle[0] < n and time.monotonic() - start < OPEN_TIMEOUT_S:
        await asyncio.sleep(0.1)
    await asyncio.sleep(SETTLE_S)
    readings = [sample_processes(parent) for _ in range(3)]
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    pss = max(r["pss_kb"] or 0 for r in readings)
    return idle[0], pss, readings[-1]["procs"] or 0


def probe(mpm: str, children: int, threads: int, requests: int, counts: Sequence[int]) -> str:
    """One line per count: the connections idle, the summed PSS and its growth over the
    previous count (KiB per connection)."""
    directives = {**fixed_children(mpm, children, threads), "KeepAlive": "On",
                  "KeepAliveTimeout": 60, "MaxKeepAliveRequests": 1000,
                  "MaxConnectionsPerChild": 0}  # fmt: skip
    lines = []
    with (
        tempfile.TemporaryDirectory(prefix="mpmsim-probe-") as tmp,
        running_apache(mpm, directives, Path(tmp), files=PAGE, launcher=SERVER) as srv,
    ):
        parent = apache_pid(srv.pid_file)
        time.sleep(2.0)  # the children started
        last: tuple[int, int] | None = None
        for n in counts:
            held, pss, procs = asyncio.run(hold(srv.port, n, requests, parent))
            step = ""
            if last is not None and held != last[0]:
                step = f", {(pss - last[1]) / (held - last[0]):+.1f} KiB a connection"
            lines.append(f"{mpm} {children} children x {threads}, {requests} request(s) each: "
                         f"{held} of {n} idle, PSS {pss} KiB, {procs} processes{step}")  # fmt: skip
            last = (held, pss)
            time.sleep(1.0)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mpm", choices=("prefork", "worker", "event"), default="event")
    ap.add_argument("--children", type=int, default=16, help="children held (fixed)")
    ap.add_argument("--threads", type=int, default=25, help="ThreadsPerChild (worker, event)")
    ap.add_argument("--requests", type=int, default=1, help="requests on each connection")
    ap.add_argument("--counts", default="0,100,200,400,800,400,0", help="connections held")
    args = ap.parse_args(argv)
    if args.children < 1 or args.threads < 1 or args.requests < 1:
        raise SystemExit("--children, --threads and --requests: 1 or more")
    print(probe(args.mpm, args.children, args.threads, args.requests, parse_counts(args.counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
