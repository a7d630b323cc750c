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
import contextlib
import dataclasses
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

import campaigns  # noqa: E402
from campaigns import KEEPALIVE, SEED, fixed_children, seed_block  # noqa: E402

from mpmsim.bench.processes import apache_pid, apache_pids, sample_processes  # noqa: E402
from mpmsim.bench.target import fetch_status  # noqa: E402
from mpmsim.workloads.readers.mod_status import SCOREBOARD_KEYS  # noqa: E402
from mpmsim.workloads.readers.tool_result import label_value  # noqa: E402
from tests.apache import running_apache  # noqa: E402

PAGE = {"test.html": b"x" * 4096}
SERVER = ("taskset", "-c", "1", "nice", "-n", "-20")
LOAD_CPU = ("taskset", "-c", "0", "nice", "-n", "-20")  # the load on the other CPU
LOAD = (*LOAD_CPU, "ab", "-q", "-r")


def _directives(
    mpm: str, threads: int, children: int, keepalive: bool, extra: dict[str, object] | None = None
) -> dict[str, object]:
    return {**fixed_children(mpm, children, threads), "KeepAlive": "On" if keepalive else "Off",
            "MaxConnectionsPerChild": 0, **(extra or {})}  # fmt: skip


def _extra(pairs: Sequence[str]) -> dict[str, object]:
    """``--directive Name=Value`` pairs as directives (e.g. MaxMemFree=0)."""
    out: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--directive {pair!r}: expected Name=Value, e.g. MaxMemFree=0")
        out[name] = value
    return out


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


def _load_while(cmd: Sequence[str], every_s: float, poll: Callable[[], None]) -> str:
    """Run the load ``cmd`` (its stdout returned), calling ``poll`` every ``every_s`` meanwhile."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every_s):
            poll()

    poller = threading.Thread(target=loop)
    poller.start()
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        done.set()
        poller.join()


def _rate(out: str) -> str:
    """ab's "Requests per second" figure in its report ``out`` ("?" without one)."""
    value = label_value(out, "Requests per second")
    return value.split()[0] if value else "?"


def _timed_load(clients: int, seconds: float, keepalive: bool, url: str) -> list[str]:
    """ab for ``seconds`` (its request cap out of reach)."""
    ka = ["-k"] if keepalive else []
    return [*LOAD, "-c", str(clients), "-t", str(seconds), "-n", "10000000", *ka, url]


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


#: a thread counts as having run when its CPU time grew by more than this during the load
RAN_NS = 200_000
#: glibc's thread stacks: anonymous mappings of 8 MiB (less a guard page)
STACK_KIB = (8192, 8188, 8184)


def _thread_ns(pid: int) -> dict[int, int]:
    """CPU time (ns) of each thread of ``pid`` so far."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            out[int(tid)] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return out


def _pss_by_mapping(pids: Sequence[int]) -> Counter[str]:
    """Summed PSS (KiB) of ``pids`` by kind of mapping: stack, anon, heap, file, other."""
    kinds: Counter[str] = Counter()
    for pid in pids:
        kind = "other"
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
                f = line.split()
                if f and "-" in f[0] and not f[0].endswith(":"):
                    lo, hi = (int(x, 16) for x in f[0].split("-"))
                    name = f[5] if len(f) > 5 else ""
                    kind = ("heap" if name == "[heap]" else "file" if name.startswith("/")
                            else "other" if name else
                            "stack" if (hi - lo) // 1024 in STACK_KIB else "anon")  # fmt: skip
                elif f and f[0] == "Pss:":
                    kinds[kind] += int(f[1])
    return kinds


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


#: event.c's debug lines when a listener stops and starts accepting (AH00457 with its counts)
_DISABLED = "not accepting new conns in this process"
#: why it stopped: connections_above_limit (AH03269, with the child's connection count; at trace1
#: the idle workers it read follow, "Idle workers: N") or every worker busy (AH03268)
_ABOVE = re.compile(r"\[pid (\d+):tid (\d+)\].*Too many open connections \((\d+)\)")
_IDLERS = re.compile(r"\[pid (\d+):tid (\d+)\].*Idle workers: (\d+)")
_ALL_BUSY = "All workers busy, not accepting new conns"
_ENABLED = re.compile(r"Accepting new connections again: (\d+) active conns \((\d+) lingering"
                      r".*?(\d+) idle workers")  # fmt: skip


def _deciles(values: Sequence[int]) -> str:
    """p10 / median / p90 / max of ``values``."""
    if len(values) < 2:
        return "-"
    cuts = statistics.quantiles(values, n=10)
    return f"{cuts[0]:g} / {statistics.median(values):g} / {cuts[-1]:g} / {max(values)}"


#: the listener probe's figures of time are read after this long (s): the children forked by then
WARM_S = 5.0


def listener(clients: int, seconds: float) -> str:
    """The campaigns' seed event block under ``clients`` ab clients with mpm_event:trace1:
    processes each second, how often listeners stopped and started accepting, at each stop the
    child's connections and the idle workers ``connections_above_limit`` read (or "all workers
    busy"), and at each restart its connections, those in lingering close and its idle
    workers."""
    block = {**SEED["threaded"], **KEEPALIVE}
    procs: list[int] = []
    trace = ["LogLevel warn mpm_event:trace1"]
    with (
        tempfile.TemporaryDirectory(prefix="mpmsim-probe-") as tmp,
        running_apache("event", block, Path(tmp), extra_lines=trace, files=PAGE,
                       launcher=SERVER) as srv,
    ):  # fmt: skip
        parent = apache_pid(srv.pid_file)

        def count() -> None:
            procs.append(len(apache_pids(parent)))

        out = _load_while(_timed_load(clients, seconds, False, srv.url), 1.0, count)
        log = srv.error_log.read_text(encoding="utf-8", errors="replace").splitlines()
    rate = _rate(out)
    found = [m for line in log if (m := _ENABLED.search(line))]
    active, lingering, idle = ([int(m.group(k)) for m in found] for k in (1, 2, 3))
    stop_conns, stop_idle = _stops(log)
    return (
        f"event, {clients} clients: {rate} req/s; processes each second {procs}; "
        f"listeners stopped {sum(_DISABLED in line for line in log)} times "
        f"({sum(_ALL_BUSY in line for line in log)} with all workers busy), started again "
        f"{len(found)}; at each stop above the connection limit (p10 / median / p90 / max) "
        f"connections {_deciles(stop_conns)}, idle workers read {_deciles(stop_idle)}; at each "
        f"start active connections {_deciles(active)}, lingering {_deciles(lingering)}, idle "
        f"workers {_deciles(idle)}; {_not_accepting(_disabled_spans(log), WARM_S)}"
    )


def _stops(log: Sequence[str]) -> tuple[list[int], list[int]]:
    """At each AH03269 stop, the child's connections and the idle workers logged after it by
    the same thread (trace1)."""
    conns: list[int] = []
    idle: list[int] = []
    pending: dict[tuple[str, str], int] = {}
    for line in log:
        if m := _ABOVE.search(line):
            pending[(m.group(1), m.group(2))] = int(m.group(3))
        elif (m := _IDLERS.search(line)) and (key := (m.group(1), m.group(2))) in pending:
            conns.append(pending.pop(key))
            idle.append(int(m.group(3)))
    return conns, idle


#: an error-log line's time (ErrorLogFormat's default ``[%{u}t]``, to the microsecond) and child
_STAMP = re.compile(r"^\[\w+ (\w+ +\d+ \d+:\d+:\d+\.\d+) (\d+)\].*?\[pid (\d+):tid \d+\]")
#: the sampling step of :func:`_not_accepting` (s)
_STEP_S = 0.001


def _disabled_spans(log: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    """Per child (pid), the spans (start, end, epoch seconds) from a listener's "not accepting
    new conns" line to its child's next "Accepting new connections again"."""
    spans: dict[str, list[tuple[float, float]]] = {}
    stopped: dict[str, float] = {}
    for line in log:
        m = _STAMP.search(line)
        if m is None:
            continue
        stamp = f"{m.group(1)} {m.group(2)}"
        when = datetime.datetime.strptime(stamp, "%b %d %H:%M:%S.%f %Y").timestamp()
        pid = m.group(3)
        if _DISABLED in line:
            stopped.setdefault(pid, when)
        elif "Accepting new connections again" in line and pid in stopped:
            spans.setdefault(pid, []).append((stopped.pop(pid), when))
    return spans


def _not_accepting(spans: dict[str, list[tuple[float, float]]], after_s: float) -> str:
    """How long a child stays not accepting (ms), the share of the time each child spends so,
    and how many children are not accepting at an instant (every :data:`_STEP_S`), from
    ``after_s`` past the first span on: what the parent's maintenance finds at its pass."""
    every = [span for child in spans.values() for span in child]
    if not every:
        return "no child stopped accepting"
    start = min(s for s, _ in every) + after_s
    end = max(e for _, e in every)
    if end <= start:
        return "no child stopped accepting after the warm-up"
    lengths = [1000.0 * (e - s) for s, e in every if s >= start]
    shares = [sum(max(0.0, min(e, end) - max(s, start)) for s, e in child) / (end - start)
              for child in spans.values()]  # fmt: skip
    edges = sorted([(s, 1) for s, _ in every] + [(e, -1) for _, e in every])
    counts: list[int] = []
    now, k, t = 0, 0, start
    while t < end:
        while k < len(edges) and edges[k][0] <= t:
            now += edges[k][1]
            k += 1
        counts.append(now)
        t += _STEP_S
    return (
        f"after {after_s:g} s, a child not accepting for (ms) {_deciles_f(lengths)}; the share "
        f"of the time each child spent so {_deciles_f(shares)}; children not accepting at an "
        f"instant {_deciles(counts)} of {len(spans)}"
    )


def _deciles_f(values: Sequence[float]) -> str:
    """p10 / median / p90 / max of ``values`` to three significant digits (the deciles within
    the values' range)."""
    if len(values) < 2:
        return "-"
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return " / ".join(
        f"{v:.3g}" for v in (cuts[0], statistics.median(values), cuts[-1], max(values))
    )


def scoreboard(
    mpm: str, clients: int, seconds: float, lua: bool, every_s: float = 1.0, cpu: bool = False
) -> str:
    """The warm-steady point of ``mpm`` at ``clients`` ab clients (the seed block, no
    keep-alive; ``cpu``: the cpu-bound point, its /cpu handler instead of the page) on a fresh
    server: req/s and, every ``every_s``, the processes with the scoreboard's workers by state
    (mod_status ``?auto``; ``lua``: mod_lua loaded as ``campaigns.py --lua-always`` loads it);
    under a second apart, their summary (:func:`_swings`)."""
    point = (
        campaigns.Point("cpu-bound", mpm, 0, clients, content="cpu")
        if cpu
        else campaigns.Point("warm-steady", mpm, 0, clients)
    )
    setup = dataclasses.replace(campaigns.STRICT, lua_always=lua)
    seen: list[tuple[int, dict[str, int]]] = []
    os.sched_setaffinity(0, {0})  # the probe's status requests stay off Apache's CPU
    # the parent's "server seems busy ... there are N idle" lines (prefork.c, worker.c, event.c)
    info = [f"LogLevel warn mpm_{mpm}:info"]
    with (
        campaigns._scratch() as root,
        campaigns._server(point, campaigns.LUA_ITERATIONS, root, setup, info) as srv,
    ):
        campaigns.boost(srv.pid)
        parent = apache_pid(srv.pid_file)

        def snap() -> None:
            seen.append((len(apache_pids(parent)), scoreboard_states(srv.status_url)))

        url = srv.url.replace("/test.html", "/cpu") if cpu else srv.url
        out = _load_while(_timed_load(clients, seconds, False, url), every_s, snap)
        log = srv.error_log.read_text(encoding="utf-8", errors="replace")
    head = f"{mpm}, {clients} clients{', /cpu' if cpu else ''}: {_rate(out)} req/s"
    if every_s >= 1.0:
        return f"{head}; each second: " + "; ".join(
            f"{n} [{_states_text(states)}]" for n, states in seen
        )
    spare = point.directives.get("MinSpareServers", point.directives.get("MinSpareThreads"))
    return f"{head}; {_swings(seen, int(str(spare)), every_s)}; {_parent_counts(log)}"


#: the parent's count when it forks at a spawn rate of 8 or more (prefork AH00162, worker and
#: event AH00486: "... spawning N children, there are [around] M idle ...")
_SPAWNED = re.compile(r"spawning (\d+) children, there are (?:around )?(\d+) idle")


def _swings(seen: Sequence[tuple[int, dict[str, int]]], spare: int, every_s: float) -> str:
    """Samples' processes (range), idle and closing workers (p10 / median / p90 / max), and
    the share of samples with fewer idle than ``spare`` (the parent forks there)."""
    read = [(n, states) for n, states in seen if states]
    if not read:
        return "no scoreboard read"
    idle = [states.get("_", 0) for _, states in read]
    closing = [states.get("C", 0) for _, states in read]
    procs = [n for n, _ in read]
    under = sum(1 for i in idle if i < spare)
    return (
        f"{len(read)} samples {every_s:g} s apart: processes {min(procs)}-{max(procs)}, idle "
        f"{_deciles(idle)}, closing {_deciles(closing)}, idle < {spare} in {under} "
        f"({100.0 * under / len(read):.0f} %)"
    )


def _parent_counts(log: str) -> str:
    """The parent's idle count at each fork of 8 or more children, from the error log."""
    found = [(int(m.group(1)), int(m.group(2))) for m in _SPAWNED.finditer(log)]
    if not found:
        return "the parent forked no batch of 8 or more"
    return "the parent's idle count at its forks of 8+: " + ", ".join(
        f"{idle} idle (forking {n})" for n, idle in found
    )


def scoreboard_states(status_url: str) -> dict[str, int]:
    """mod_status's scoreboard (``?auto``, read as ``mpmsim bench`` reads it): the workers
    in each state letter, open slots and empty states left out (empty if the request failed)."""
    cells = fetch_status(status_url)
    return {char: int(str(cells[col])) for char, col in sorted(SCOREBOARD_KEYS.items())
            if char != "." and cells.get(col)}  # fmt: skip


def _states_text(states: dict[str, int]) -> str:
    """Each state letter with its workers, e.g. ``C6 W1 _2``."""
    return " ".join(f"{char}{n}" for char, n in states.items())


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
