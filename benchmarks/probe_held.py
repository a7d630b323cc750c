"""Probe how many connections one Apache child holds under a load, and its memory meanwhile.

One child (ServerLimit 1, ThreadsPerChild N, keep-alive with KeepAliveTimeout 5 and
MaxKeepAliveRequests 100, as the campaigns; ``--directive Name=Value`` changes or adds one) on
a fresh throw-away Apache (tests/apache.py) pinned to CPU 1, the load on CPU 0, as
``probe_children.py`` runs it. Every 0.25 s: the children's open sockets (``/proc/PID/fd``:
their connections and a listening socket each), the processes, and the summed PSS; over the
load, the connections the kernel completed (``/proc/net/snmp`` Tcp PassiveOpens, loopback
only runs here) against the requests served. A saturated event child that held
``ThreadsPerChild + AsyncRequestWorkerFactor x idle`` connections would show it here; one that
hands its freed workers to its kept connections before it accepts holds about
``ThreadsPerChild``; a listener that closed kept connections for want of a worker would show
as more connections than requests / MaxKeepAliveRequests.

    python benchmarks/probe_held.py --tool wrk --clients 100,400 --threads 64
    python benchmarks/probe_held.py --tool kaclient --clients 30,90,180 --threads 64
    python benchmarks/probe_held.py --tool wrk --clients 400 --threads 25 --directive \
        ServerLimit=16 --directive MaxRequestWorkers=400 --directive StartServers=3 \
        --directive MinSpareThreads=75 --directive MaxSpareThreads=250
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

import campaigns  # noqa: E402
from probe_apache import (  # noqa: E402
    LOAD_CPU,
    PAGE,
    SERVER,
    _deciles,
    _directives,
    _extra,
    _load_while,
    _timed_load,
)

from mpmsim.bench.processes import apache_pid, apache_pids, sample_processes  # noqa: E402
from mpmsim.bench.tool import read_report  # noqa: E402
from mpmsim.bench.tool import served as responses  # noqa: E402
from mpmsim.errors import InputError  # noqa: E402
from tests.apache import running_apache  # noqa: E402

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


def lua_lines(mpm: str, threads: int, tmp: Path) -> list[str]:
    """mod_lua's lines as the shared set's harness writes them into every run's httpd.conf,
    its static rows included (``campaigns._cpu_lines`` with ``lua_always``): a server-scope
    pool of states and the /cpu handler's URI map, checked on every request."""
    point = campaigns.Point("probe", mpm, 0, 1, extra={"ThreadsPerChild": threads})
    return campaigns._cpu_lines(point, tmp, lua_always=True)


def passive_opens() -> int:
    """TCP connections the kernel has completed as a server since boot (``/proc/net/snmp``)."""
    lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()]
    head, values = [ln for ln in lines if ln and ln[0] == "Tcp:"][:2]
    return int(values[head.index("PassiveOpens")])


def requests_served(out: str, tool: str, work: Path) -> int | None:
    """Requests the load got responses for, its report ``out`` read as ``mpmsim bench`` reads
    it (``mpmsim.bench.tool.read_report`` and ``served``); None if the report is unreadable."""
    (work / "out.txt").write_text(out)
    (work / "err.txt").write_text("")  # read_report quotes stderr's last line; none is kept
    try:
        return responses(read_report(tool, "the probe's load", 0, work))
    except InputError:
        return None


def held(
    mpm: str, tool: str, clients: int, threads: int, seconds: float, rate: float,
    extra: dict[str, object] | None = None, lua: bool = False,
) -> str:  # fmt: skip
    """Deciles of the children's open sockets over the load, the peak processes, the peak and
    median PSS, and the connections completed per request served."""
    block = {**_directives(mpm, threads, 1, True), **campaigns.KEEPALIVE, **(extra or {})}
    sockets: list[int] = []
    procs: list[int] = []
    pss: list[int] = []
    with (
        tempfile.TemporaryDirectory(prefix="mpmsim-probe-") as tmp,
        running_apache(mpm, block, Path(tmp), files=PAGE, launcher=SERVER,
                       extra_lines=lua_lines(mpm, threads, Path(tmp)) if lua else ()) as srv,
    ):  # fmt: skip
        parent = apache_pid(srv.pid_file)
        time.sleep(1.0)

        def sample() -> None:
            pids = apache_pids(parent)
            procs.append(len(pids))
            sockets.append(sum(open_sockets(pid) for pid in pids if pid != parent))
            pss.append(sample_processes(parent)["pss_kb"] or 0)

        opens = passive_opens()
        out = _load_while(load_command(tool, clients, seconds, srv.url, rate), 0.25, sample)
        opens = passive_opens() - opens
        n = requests_served(out, tool, Path(tmp))
    if not pss:
        return f"{mpm} {tool} {clients} clients: no samples"
    per = f"{opens} connections for {n} requests" if n else f"{opens} connections"
    more = "".join(f", {k} {v}" for k, v in (extra or {}).items()) + (", mod_lua" if lua else "")
    return (f"{mpm} ThreadsPerChild {threads}{more}, {tool} {clients} clients: children's "
            f"sockets p10/median/p90/max {_deciles(sockets)}; processes max {max(procs)}; PSS "
            f"peak {max(pss)} median {statistics.median(pss):g} KiB; {per}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mpm", default="event", choices=("prefork", "worker", "event"))
    ap.add_argument("--tool", default="wrk", choices=TOOLS)
    ap.add_argument("--clients", default="100,400", help="concurrency levels, comma-separated")
    ap.add_argument("--threads", type=int, default=64, help="ThreadsPerChild")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the load")
    ap.add_argument("--rate", type=float, default=5.0, help="kaclient: requests/s per client")
    ap.add_argument("--directive", action="append", default=[],
                    help="one more directive, Name=Value (repeatable)")  # fmt: skip
    ap.add_argument("--lua", action="store_true", help="mod_lua loaded, as the shared set's")
    args = ap.parse_args(argv)
    extra = _extra(args.directive)
    for c in (int(x) for x in args.clients.split(",")):
        print(held(args.mpm, args.tool, c, args.threads, args.seconds, args.rate, extra,
                   args.lua), flush=True)  # fmt: skip
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
