"""Probe how a real Apache spreads connections over its children and what its memory follows.

Probes, each on a fresh throw-away Apache (tests/apache.py) pinned to CPU 1 with ab on CPU 0,
as ``benchmarks/campaigns.py`` runs them (root for nice -20, apache2, ab):

``turns``: StartServers children take N ab clients' requests; the access log's ``%P`` (the child
that served each request) shows whether new connections go round the children or fill one.

``memory``: one child (ServerLimit 1) under 1, 2, 4 ... clients; the peak over 0.25 s samples of
the summed PSS of parent and child. A memory that follows the clients held at once, and not the
threads that have served, shows as growth with the clients (every thread serves at 1 client).

``ran``: the campaigns' seed worker or event block under N ab clients: per child, the threads
whose CPU time (``/proc/PID/task/TID/schedstat``) grew by more than 0.2 ms during the load, and
the processes' PSS before and after, split by mapping (``smaps``: thread stacks of 8 MiB,
other anonymous memory, the heap, files). Every thread that ran and no growth shows that memory
does not follow the threads that served.

``listener``: the campaigns' seed event block with ``LogLevel mpm_event:trace1``: processes
each second, how often the children's listeners stopped and started accepting, at each stop
the child's connections and the idle workers event.c read, and at each start the child's
connections, those in lingering close and its idle workers; then, from the log lines' times
(after the first 5 s), how long a child stays not accepting, the share of the time each child
spends so and how many children are not accepting at an instant: the children whose idle
threads the parent's maintenance leaves out of its count.

``scoreboard``: the campaigns' seed block of an MPM under N ab clients without keep-alive (the
warm-steady point): each second the processes and mod_status's scoreboard by state (``_`` idle,
``R`` reading, ``W`` writing, ``C`` closing, ``L`` logging ...), i.e. what the parent's maintenance
counts as idle. A worker marks itself idle only when it runs again after its lingering close.
With ``--every`` under a second, the samples are summed up instead: the idle and closing
workers' spread, how often idle was under the MPM's minimum spare, and the parent's own idle
count each time it forked at a spawn rate of 8 or more (its AH00162 / AH00486 lines, logged at
``info``): one reading a second cannot tell a steady scoreboard from one that swings.

``recycling``: the campaign's seed block with MaxConnectionsPerChild N under ab; the parent's
children listed every 50 ms: how many are born in each second and how long they live; and from
the access log's ``%P``, the rate each batch of children forked together served at.

The shared launcher, load and /proc readings are in ``probe_apache.py``; ``listener`` is in
``probe_listener.py`` and ``scoreboard`` in ``probe_scoreboard.py``.

    python benchmarks/probe_children.py turns --mpm worker --clients 1,10
    python benchmarks/probe_children.py memory --mpm worker --clients 1,2,4,8,16,25 --keepalive
    python benchmarks/probe_children.py memory --mpm event --clients 100 --directive MaxMemFree=0
    python benchmarks/probe_children.py recycling --mpm worker --max-conns 1000 --clients 50
    python benchmarks/probe_children.py listener --clients 50,200 --seconds 12
    python benchmarks/probe_children.py ran --mpm worker --clients 1,10 --keepalive
    python benchmarks/probe_children.py scoreboard --mpm prefork --clients 50 --seconds 30 --lua
    python benchmarks/probe_children.py scoreboard --mpm prefork --clients 50 --every 0.1 --lua
    python benchmarks/probe_children.py scoreboard --mpm prefork --clients 50 --every 0.1 --cpu
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

from campaigns import KEEPALIVE, SEED, seed_block  # noqa: E402
from probe_apache import (  # noqa: E402
    LOAD,
    PAGE,
    RAN_NS,
    SERVER,
    _directives,
    _extra,
    _load_while,
    _pss_by_mapping,
    _rate,
    _thread_ns,
    _timed_load,
)
from probe_listener import listener  # noqa: E402
from probe_scoreboard import scoreboard  # noqa: E402

from mpmsim.bench.processes import apache_pid, apache_pids, sample_processes  # noqa: E402
from tests.apache import running_apache  # noqa: E402


def turns(mpm: str, clients: int, children: int, keepalive: bool) -> str:
    """Requests per child and the order of the first 30 (children numbered by first request)."""
    with tempfile.TemporaryDirectory(prefix="mpmsim-probe-") as tmp:
        log = Path(tmp) / "pids.log"
        lines = ['LogFormat "%P" pidonly', f"CustomLog {log} pidonly"]
        with running_apache(mpm, _directives(mpm, 25, children, keepalive), Path(tmp),
                            extra_lines=lines, files=PAGE, launcher=SERVER) as srv:  # fmt: skip
            ka = ["-k"] if keepalive else []
            subprocess.run([*LOAD, "-c", str(clients), "-n", "3000", *ka, srv.url],
                           capture_output=True, check=True)  # fmt: skip
        pids = log.read_text().split()
    order = list(dict.fromkeys(pids))
    per = Counter(pids)
    first = [order.index(p) for p in pids[:30]]
    mode = "keep-alive" if keepalive else "no keep-alive"
    counts = sorted(per.values(), reverse=True)
    return (
        f"{mpm} {clients} clients, {mode}: requests per child {counts}; first 30 by child {first}"
    )


def memory(
    mpm: str, clients: int, threads: int, keepalive: bool, seconds: float,
    extra: dict[str, object] | None = None,
) -> str:  # fmt: skip
    """Peak summed PSS (KiB) of parent and its one child under ``clients`` ab clients."""
    peak = [0]
    with (
        tempfile.TemporaryDirectory(prefix="mpmsim-probe-") as tmp,
        running_apache(mpm, _directives(mpm, threads, 1, keepalive, extra), Path(tmp),
                       files=PAGE, launcher=SERVER) as srv,
    ):  # fmt: skip
        parent = apache_pid(srv.pid_file)

        def sample() -> None:
            peak[0] = max(peak[0], sample_processes(parent)["pss_kb"] or 0)

        _load_while(_timed_load(clients, seconds, keepalive, srv.url), 0.25, sample)
    more = "".join(f", {k} {v}" for k, v in (extra or {}).items())
    return f"{mpm} ThreadsPerChild {threads}{more}, {clients} clients: peak PSS {peak[0]} KiB"


def ran(mpm: str, clients: int, keepalive: bool, seconds: float) -> str:
    """Per child, threads that ran during the load / threads; PSS by mapping before and after."""
    block = {**SEED["threaded"], **KEEPALIVE, "KeepAlive": "On" if keepalive else "Off"}
    with (
        tempfile.TemporaryDirectory(prefix="mpmsim-probe-") as tmp,
        running_apache(mpm, block, Path(tmp), files=PAGE, launcher=SERVER) as srv,
    ):  # fmt: skip
        parent = apache_pid(srv.pid_file)
        time.sleep(1.0)
        before = {pid: _thread_ns(pid) for pid in apache_pids(parent) if pid != parent}
        pss0 = _pss_by_mapping(apache_pids(parent))
        out = subprocess.run(_timed_load(clients, seconds, keepalive, srv.url),
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        pids = apache_pids(parent)
        pss1 = _pss_by_mapping(pids)
        kids = []
        for pid in (p for p in pids if p != parent):
            now, was = _thread_ns(pid), before.get(pid, {})
            ran_n = sum(ns - was.get(tid, 0) > RAN_NS for tid, ns in now.items())
            kids.append(f"{ran_n}/{len(now)}")
    kinds = " ".join(f"{k} {pss0[k]}->{pss1[k]}" for k in sorted(pss0.keys() | pss1.keys()))
    mode = "keep-alive" if keepalive else "no keep-alive"
    return (f"{mpm} {clients} clients, {mode}: {_rate(out)} req/s; threads that ran per child "
            f"{kids}; PSS {sum(pss0.values())} -> {sum(pss1.values())} KiB ({kinds})")  # fmt: skip


def recycling(mpm: str, clients: int, max_conns: int, seconds: float) -> str:
    """req/s, children born in each second of the run and their lifetimes (s), and per batch
    (the children whose first request came within 0.2 s of each other) the rate it served at."""
    block = {**seed_block(mpm), **KEEPALIVE, "MaxConnectionsPerChild": max_conns}
    seen: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="mpmsim-probe-") as tmp:
        log = Path(tmp) / "served.log"
        lines = ['LogFormat "%{usec}t %P" served', f"CustomLog {log} served"]
        with running_apache(mpm, block, Path(tmp), extra_lines=lines, files=PAGE,
                            launcher=SERVER) as srv:  # fmt: skip
            parent = apache_pid(srv.pid_file)
            t0 = time.monotonic()

            def watch() -> None:
                now = time.monotonic() - t0
                for pid in apache_pids(parent):
                    if pid != parent:
                        seen.setdefault(pid, [now, now])[1] = now

            out = _load_while(_timed_load(clients, seconds, False, srv.url), 0.05, watch)
        served = [line.split() for line in log.read_text().splitlines()]
    rate = _rate(out)
    born = Counter(int(first) for first, _ in seen.values())
    per_second = [born.get(s, 0) for s in range(int(seconds) + 1)]
    lives = sorted(round(last - first, 2) for first, last in seen.values())
    return (f"{mpm} MaxConnectionsPerChild {max_conns}, {clients} clients: {rate} req/s; "
            f"children born per second {per_second}; lifetimes (s) {lives}; "
            f"batches (children: req/s while serving) {_batches(served)}")  # fmt: skip


def _batches(served: Sequence[Sequence[str]]) -> str:
    """Children grouped by their first request (a batch starts 0.2 s after the last one's
    first), each batch's requests over the span from its first request to its last."""
    span: dict[str, list[float]] = {}
    count: Counter[str] = Counter()
    for usec, pid in served:
        t = int(usec) / 1e6
        first_last = span.setdefault(pid, [t, t])
        first_last[1] = max(first_last[1], t)
        count[pid] += 1
    groups: list[list[str]] = []
    for pid in sorted(span, key=lambda p: span[p][0]):
        if groups and span[pid][0] - span[groups[-1][0]][0] < 0.2:
            groups[-1].append(pid)
        else:
            groups.append([pid])
    parts = []
    for g in groups:
        t0, t1 = min(span[p][0] for p in g), max(span[p][1] for p in g)
        n = sum(count[p] for p in g)
        parts.append(f"{len(g)}: {n / (t1 - t0):,.0f}" if t1 > t0 else f"{len(g)}: -")
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "probe", choices=("turns", "memory", "recycling", "listener", "ran", "scoreboard")
    )
    ap.add_argument("--mpm", default="worker", choices=("prefork", "worker", "event"))
    ap.add_argument("--clients", default="1,10", help="ab concurrency levels, comma-separated")
    ap.add_argument("--children", type=int, default=4, help="turns: children started")
    ap.add_argument("--threads", type=int, default=25, help="memory: ThreadsPerChild")
    ap.add_argument("--seconds", type=float, default=4.0, help="ab's -t (not turns)")
    ap.add_argument("--keepalive", action="store_true")
    ap.add_argument("--lua", action="store_true", help="scoreboard: mod_lua loaded")
    ap.add_argument("--every", type=float, default=1.0, help="scoreboard: seconds between samples")
    ap.add_argument("--cpu", action="store_true", help="scoreboard: the cpu-bound point's /cpu")
    ap.add_argument("--max-conns", type=int, default=1000, help="recycling: per child")
    ap.add_argument(
        "--directive",
        action="append",
        default=[],
        help="memory: one more directive, Name=Value (repeatable), e.g. MaxMemFree=0",
    )
    args = ap.parse_args(argv)
    extra = _extra(args.directive)
    for c in (int(x) for x in args.clients.split(",")):
        if args.probe == "turns":
            print(turns(args.mpm, c, args.children, args.keepalive), flush=True)
        elif args.probe == "listener":
            print(listener(c, args.seconds), flush=True)
        elif args.probe == "ran":
            print(ran(args.mpm, c, args.keepalive, args.seconds), flush=True)
        elif args.probe == "scoreboard":
            print(scoreboard(args.mpm, c, args.seconds, args.lua, args.every, args.cpu),
                  flush=True)  # fmt: skip
        elif args.probe == "recycling":
            print(recycling(args.mpm, c, args.max_conns, args.seconds), flush=True)
        else:
            print(memory(args.mpm, c, args.threads, args.keepalive, args.seconds, extra),
                  flush=True)  # fmt: skip
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
