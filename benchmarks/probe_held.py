"""Probe how many connections one Apache child holds under a load, and its memory meanwhile.

One child (ServerLimit 1, ThreadsPerChild N, keep-alive with KeepAliveTimeout 5 and
MaxKeepAliveRequests 100, as the campaigns) on a fresh throw-away Apache (tests/apache.py)
pinned to CPU 1, the load on CPU 0, as ``probe_children.py`` runs it. Every 0.25 s: the
child's open sockets (``/proc/PID/fd``: its connections and its listening socket) and the
summed PSS of parent and child. A saturated event child that held ``ThreadsPerChild +
AsyncRequestWorkerFactor x idle`` connections would show it here; one that hands its freed
workers to its kept connections before it accepts holds about ``ThreadsPerChild``.

    python benchmarks/probe_held.py --tool wrk --clients 100,400 --threads 64
    python benchmarks/probe_held.py --tool kaclient --clients 30,90,180 --threads 64
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

from probe_children import PAGE, SERVER, _deciles, _directives, _load_while, _timed_load  # noqa: E402

from mpmsim.bench.processes import apache_pid, apache_pids, sample_processes  # noqa: E402
from tests.apache import running_apache  # noqa: E402

LOAD_CPU = ("taskset", "-c", "0", "nice", "-n", "-20")
TOOLS = ("ab", "wrk", "kaclient")


def open_sockets(pid: int) -> int:
    """Sockets open in process ``pid`` (0 once it is gone)."""
    n = 0
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return n


def load_command(tool: str, clients: int, seconds: float, url: str, rate: float) -> list[str]:
    """The load: ab -k, wrk (one thread), or kaclient at ``rate`` requests a second a client."""
    if tool == "wrk":
        return [*LOAD_CPU, "wrk", "-t", "1", "-c", str(clients), "-d", f"{seconds:g}s", url]
    if tool == "kaclient":
        return [*LOAD_CPU, sys.executable, "-m", "mpmsim.bench.kaclient", "-c", str(clients),
                "--rate", f"{rate:g}", "--duration", f"{seconds:g}", url]  # fmt: skip
    return _timed_load(clients, seconds, True, url)


def held(mpm: str, tool: str, clients: int, threads: int, seconds: float, rate: float) -> str:
    """Deciles of the child's open sockets over the load, and the peak and median PSS."""
    block = {**_directives(mpm, threads, 1, True), "KeepAliveTimeout": 5,
             "MaxKeepAliveRequests": 100}  # fmt: skip
    sockets: list[int] = []
    pss: list[int] = []
    with (
        tempfile.TemporaryDirectory(prefix="mpmsim-probe-") as tmp,
        running_apache(mpm, block, Path(tmp), files=PAGE, launcher=SERVER) as srv,
    ):
        parent = apache_pid(srv.pid_file)
        time.sleep(1.0)
        kids = [pid for pid in apache_pids(parent) if pid != parent]

        def sample() -> None:
            sockets.append(sum(open_sockets(pid) for pid in kids))
            pss.append(sample_processes(parent)["pss_kb"] or 0)

        _load_while(load_command(tool, clients, seconds, srv.url, rate), 0.25, sample)
    if not pss:
        return f"{mpm} {tool} {clients} clients: no samples"
    return (f"{mpm} ThreadsPerChild {threads}, {tool} {clients} clients: child's sockets "
            f"p10/median/p90/max {_deciles(sockets)}; PSS peak {max(pss)} median "
            f"{statistics.median(pss):g} KiB")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mpm", default="event", choices=("prefork", "worker", "event"))
    ap.add_argument("--tool", default="wrk", choices=TOOLS)
    ap.add_argument("--clients", default="100,400", help="concurrency levels, comma-separated")
    ap.add_argument("--threads", type=int, default=64, help="ThreadsPerChild")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the load")
    ap.add_argument("--rate", type=float, default=5.0, help="kaclient: requests/s per client")
    args = ap.parse_args(argv)
    for c in (int(x) for x in args.clients.split(",")):
        print(held(args.mpm, args.tool, c, args.threads, args.seconds, args.rate), flush=True)
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
