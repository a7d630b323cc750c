"""Probe what mod_lua's /cpu handler adds to Apache's memory, and what a child costs to start.

Each point on a fresh throw-away Apache (tests/apache.py) pinned to CPU 1 with the load on CPU
0, as ``probe_children.py`` runs it (root for nice -20, apache2, ab):

``memory``: a fixed number of children (none forked or stopped: ``campaigns.fixed_children``),
mod_lua loaded with ``LuaScope`` as given and the campaigns' /cpu handler (~1 ms of CPU a
request); ab without keep-alive on the static page, then on /cpu with each pool. Per point:
the peak and median of the summed PSS (0.5 s samples), the threads whose CPU time grew by more
than 0.2 ms over the load, and the growth of the PSS by mapping (``smaps``: thread stacks, other
anonymous memory, the heap, files) from before the load to after it. The simulator keeps one
state of a class's ``worker_kib`` for each worker that has run the handler
(``engine/worker_memory.py``); a /cpu memory that does not follow the threads that ran shows
here as a difference from the static page that changes with the clients at one thread count.

``first``: the CPU of a thread's (or a prefork child's) first requests. On N fixed children,
idle for two seconds after the start, ab sends the same number of requests (without keep-alive,
the static page) twice in a row; each batch's CPU is that of all of Apache's tasks over it, and
the threads that ran in each are counted. The first batch runs every thread for the first time
(its stack, its pools, its first allocations are touched then), the second runs warm ones:
(first - second) / the threads new in the first, beside the simulator's CPU per request, which
charges a thread's first requests nothing beyond the others.

``exit``: the CPU of a child's exit. On N fixed children, idle two seconds after the start, a
graceful restart (SIGUSR1) stops every child; once the parent has reaped them, its
``cutime + cstime`` (``/proc/PID/stat``, clock ticks) holds their whole CPU, of which their
threads' ``schedstat`` just before the signal is what they had used alive: the rest, over N, is
one child's stop and exit (its threads joined, its memory unmapped), which the simulator does
not charge.

``recycle``: where a recycled child's CPU goes. A server of the campaigns' seed settings with
MaxConnectionsPerChild M (0: none), warmed up 5 s by the same load, then ab without keep-alive
on the static page for the window; the parent's own CPU, and its children's: those alive at
either end (their threads' ``schedstat``) and those reaped meanwhile (the parent's ``cutime +
cstime``, less what they had used at the start), each per request, with the children forked
in the window (their pids seen every 20 ms). (M's CPU per request - no recycling's) x M is
what one recycled child costs; the parent's share of it is the fork's side.

``start``: the CPU that all of Apache's tasks (``/proc/PID/task/TID/schedstat``) have used two
seconds after a start with one child and with N, with and without mod_lua: the start of one
child (fork, child_init, its threads), against the simulator's ``fork_cpu_ms`` and
``thread_create_cpu_ms`` (1.0 and 0.02 ms).

    python benchmarks/probe_lua.py memory --mpm event --children 16 --clients 50,150,400
    python benchmarks/probe_lua.py memory --clients 400 --scopes "server 1 25,server 1 1"
    python benchmarks/probe_lua.py start --children 16 --reps 3
    python benchmarks/probe_lua.py exit --mpm worker --children 64 --reps 3
    python benchmarks/probe_lua.py first --mpm worker --children 16 --requests 20000
    python benchmarks/probe_lua.py recycle --mpm worker --mcpc 0,100 --clients 50 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

import campaigns  # noqa: E402
from probe_apache import (  # noqa: E402
    LOAD,
    PAGE,
    RAN_NS,
    SERVER,
    _load_while,
    _pss_by_mapping,
    _rate,
    _thread_ns,
    _timed_load,
)

from mpmsim.bench.processes import apache_pid, apache_pids, sample_processes  # noqa: E402
from mpmsim.workloads.readers.tool_result import label_value  # noqa: E402
from tests.apache import running_apache  # noqa: E402

#: the campaigns' ThreadsPerChild
THREADS = campaigns.THREADS_PER_CHILD
#: the shared set's /cpu loop count (measurements/shared-machine: ~1 ms a request there)
ITERATIONS = 99_780


def lua_lines(scope: str | None, docroot: Path) -> list[str]:
    """mod_lua with a ``LuaScope`` of ``scope`` and the /cpu handler mapped; none for None."""
    return [] if scope is None else campaigns.lua_module_lines(scope, docroot)


def pool(mpm: str, threads: int = THREADS) -> str:
    """The campaigns' ``LuaScope`` for a child of ``threads`` threads: a state to a thread at most
    (one for a prefork child), as ``campaigns.lua_scope`` gives a campaign's point."""
    return f"server 1 {1 if mpm == 'prefork' else threads}"


def block(mpm: str, children: int, threads: int = THREADS) -> dict[str, object]:
    """``children`` fixed children (of ``threads`` threads: the campaigns' 25 unless asked),
    without keep-alive's hold."""
    return {**campaigns.fixed_children(mpm, children, threads), "MaxConnectionsPerChild": 0,
            **campaigns.KEEPALIVE}  # fmt: skip


def ran_threads(before: dict[int, dict[int, int]], after: dict[int, dict[int, int]]) -> int:
    """Threads (of the processes in ``after``) whose CPU time grew by more than RAN_NS."""
    return sum(
        ns - before.get(pid, {}).get(tid, 0) > RAN_NS
        for pid, tasks in after.items()
        for tid, ns in tasks.items()
    )


def memory(mpm: str, children: int, clients: int, scope: str, path: str, seconds: float) -> str:
    """One point: ab on ``path`` at ``clients`` for ``seconds``, mod_lua's pool ``scope``."""
    files = {**PAGE, "cpu.lua": campaigns.CPU_LUA.format(n=ITERATIONS).encode()}
    pss: list[int] = []
    with campaigns._scratch() as root:
        lines = lua_lines(scope, root / "htdocs")
        with running_apache(mpm, block(mpm, children), root, extra_lines=lines, files=files,
                            launcher=SERVER) as srv:  # fmt: skip
            parent = apache_pid(srv.pid_file)
            time.sleep(1.0)
            kids = [p for p in apache_pids(parent) if p != parent]
            threads0 = {pid: _thread_ns(pid) for pid in kids}
            maps0 = _pss_by_mapping(apache_pids(parent))
            url = srv.url.rsplit("/", 1)[0] + path

            def sample() -> None:
                pss.append(sample_processes(parent)["pss_kb"] or 0)

            out = _load_while(_timed_load(clients, seconds, False, url), 0.5, sample)
            kids = [p for p in apache_pids(parent) if p != parent]
            threads1 = {pid: _thread_ns(pid) for pid in kids}
            maps1 = _pss_by_mapping(apache_pids(parent))
    grown = " ".join(f"{k} {maps1[k] - maps0[k]:+d}" for k in sorted(maps0.keys() | maps1.keys()))
    peak = f"{max(pss)} median {statistics.median(pss):g}" if pss else "- (no sample)"
    return (f"{mpm} {children} children, {clients} clients, {path} LuaScope {scope!r}: "
            f"{_rate(out)} req/s; PSS before {sum(maps0.values())}, peak {peak}, after "
            f"{sum(maps1.values())} KiB; threads that ran "
            f"{ran_threads(threads0, threads1)} of {sum(map(len, threads1.values()))}; "
            f"PSS grown by mapping (KiB) {grown}")  # fmt: skip


def _apache_ns(parent: int) -> tuple[int, dict[int, dict[int, int]]]:
    """All of Apache's tasks' CPU (ns) now, and each child's threads' own."""
    pids = apache_pids(parent)
    tasks = {pid: _thread_ns(pid) for pid in pids}
    return sum(sum(t.values()) for t in tasks.values()), {
        p: t for p, t in tasks.items() if p != parent
    }


def started_cpu_s(mpm: str, children: int, lua: bool) -> float:
    """CPU seconds all of Apache's tasks used by two seconds after starting ``children``."""
    scope = pool(mpm) if lua else None
    with campaigns._scratch() as root:
        lines = lua_lines(scope, root / "htdocs")
        with running_apache(mpm, block(mpm, children), root, extra_lines=lines, files=PAGE,
                            launcher=SERVER) as srv:  # fmt: skip
            time.sleep(2.0)
            return _apache_ns(apache_pid(srv.pid_file))[0] / 1e9


def first(mpm: str, children: int, clients: int, requests: int) -> str:
    """One point of ``first``: two equal batches of ab on fixed children, their CPU."""
    with campaigns._scratch() as root:
        lines = lua_lines(pool(mpm), root / "htdocs")
        with running_apache(mpm, block(mpm, children), root, extra_lines=lines, files=PAGE,
                            launcher=SERVER) as srv:  # fmt: skip
            parent = apache_pid(srv.pid_file)
            time.sleep(2.0)
            cmd = [*LOAD, "-c", str(clients), "-n", str(requests), srv.url]
            marks = [_apache_ns(parent)]
            for _ in range(2):
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                marks.append(_apache_ns(parent))
    (ns0, t0), (ns1, t1), (ns2, t2) = marks
    cold, warm = (ns1 - ns0) / 1e6, (ns2 - ns1) / 1e6
    new = ran_threads(t0, t1)
    per = (cold - warm) / new if new else float("nan")
    return (f"{mpm} {children} children, {clients} clients, {requests} requests a batch: "
            f"first batch {cold:.1f} ms of CPU ({cold / requests * 1000:.1f} us a request, "
            f"{new} threads ran), second {warm:.1f} ms ({warm / requests * 1000:.1f} us, "
            f"{ran_threads(t1, t2)} threads ran): {per:.3f} ms more for each thread's first "
            f"requests")  # fmt: skip


def _reaped_s(parent: int) -> float:
    """The CPU seconds of ``parent``'s reaped children (``cutime + cstime``)."""
    fields = Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def exit_cpu_ms(mpm: str, children: int, requests: int, threads: int = THREADS) -> float:
    """One point of ``exit``: ms of CPU per child between its last reading alive and its
    reaping, over a graceful restart of ``children`` fixed children that have served
    ``requests`` (ab at 50 clients, without keep-alive) first."""
    with campaigns._scratch() as root:
        lines = lua_lines(pool(mpm, threads), root / "htdocs")
        with running_apache(mpm, block(mpm, children, threads), root, extra_lines=lines,
                            files=PAGE, launcher=SERVER) as srv:  # fmt: skip
            parent = apache_pid(srv.pid_file)
            time.sleep(2.0)
            if requests:
                cmd = [*LOAD, "-c", "50", "-n", str(requests), srv.url]
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                time.sleep(1.0)
            before = _reaped_s(parent)
            _, alive = _apache_ns(parent)
            used_s = sum(sum(t.values()) for t in alive.values()) / 1e9
            os.kill(parent, signal.SIGUSR1)
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and set(alive) & set(apache_pids(parent)):
                time.sleep(0.2)
            time.sleep(1.0)
            reaped = _reaped_s(parent) - before
    return (reaped - used_s) / len(alive) * 1000


def exits(mpm: str, children: int, reps: int, requests: int, threads: int) -> str:
    """``exit``: the median over ``reps`` of one child's exit CPU."""
    per = [exit_cpu_ms(mpm, children, requests, threads) for _ in range(reps)]
    shown = ", ".join(f"{x:.2f}" for x in per)
    each = "" if mpm == "prefork" else f" of {threads} threads"
    return (f"{mpm}, {children} children{each} stopped after {requests} requests: "
            f"{statistics.median(per):.2f} ms a child ({shown})")  # fmt: skip


def split_cpu(
    live0: dict[int, int], live1: dict[int, int], parent_ns: int, reaped_s: float
) -> tuple[float, float]:
    """(the parent's own, its children's) CPU seconds over a window. ``live0`` and ``live1``:
    each live child's CPU (ns) at the window's start and end; ``parent_ns``: the parent's own
    over it; ``reaped_s``: the growth of the parent's ``cutime + cstime``, the whole lives of
    the children reaped meanwhile, of which those alive at the start had used their ``live0``."""
    gone = sum(ns for pid, ns in live0.items() if pid not in live1)
    grown = sum(ns - live0.get(pid, 0) for pid, ns in live1.items())
    return parent_ns / 1e9, reaped_s + (grown - gone) / 1e9


def _cpu_ns(pid: int) -> int:
    return sum(_thread_ns(pid).values())


def recycle(mpm: str, mcpc: int, clients: int, seconds: float) -> str:
    """One point of ``recycle``: a server recycling its children every ``mcpc`` connections."""
    directives = {
        **campaigns.seed_block(mpm),
        "MaxConnectionsPerChild": mcpc,
        **campaigns.KEEPALIVE,
    }
    with campaigns._scratch() as root:
        lines = lua_lines(pool(mpm), root / "htdocs")
        with running_apache(mpm, directives, root, extra_lines=lines, files=PAGE,
                            launcher=SERVER) as srv:  # fmt: skip
            parent = apache_pid(srv.pid_file)
            subprocess.run(_timed_load(clients, 5, False, srv.url), capture_output=True,
                           text=True, check=True)  # fmt: skip
            time.sleep(0.5)
            seen: set[int] = set(apache_pids(parent))
            live0 = {p: _cpu_ns(p) for p in seen if p != parent}
            parent0, reaped0 = _cpu_ns(parent), _reaped_s(parent)
            out = _load_while(_timed_load(clients, seconds, False, srv.url), 0.02,
                              lambda: seen.update(apache_pids(parent)))  # fmt: skip
            parent_ns, reaped_s = _cpu_ns(parent) - parent0, _reaped_s(parent) - reaped0
            live1 = {p: _cpu_ns(p) for p in apache_pids(parent) if p != parent}
    requests = int(label_value(out, "Complete requests") or 0)
    own_s, children_s = split_cpu(live0, live1, parent_ns, reaped_s)
    forked = len(seen - set(live0) - {parent})
    per = (own_s + children_s) / requests * 1000 if requests else float("nan")
    fork = f"{own_s * 1000 / forked:.2f} ms a child forked" if forked else "none forked"
    return (f"{mpm}, MaxConnectionsPerChild {mcpc}, {clients} clients, {seconds:g} s: "
            f"{requests / seconds:.0f} req/s, {forked} children forked; CPU {per:.4f} ms a "
            f"request (the parent {own_s * 1000:.0f} ms: {fork}; the children "
            f"{children_s * 1000:.0f} ms)")  # fmt: skip


def start(mpm: str, children: int, reps: int) -> str:
    """The CPU of one child's start: (N children's start - one child's) / (N - 1), medians."""
    parts = []
    for lua in (True, False):
        one = statistics.median(started_cpu_s(mpm, 1, lua) for _ in range(reps))
        many = statistics.median(started_cpu_s(mpm, children, lua) for _ in range(reps))
        per = (many - one) / (children - 1) * 1000
        parts.append(f"{'with' if lua else 'without'} mod_lua {one * 1000:.1f} -> "
                     f"{many * 1000:.1f} ms, {per:.2f} ms a child")  # fmt: skip
    return f"{mpm}, 1 -> {children} children started: " + "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe", choices=("memory", "start", "first", "exit", "recycle"))
    ap.add_argument("--mpm", default="event", choices=("prefork", "worker", "event"))
    ap.add_argument("--children", type=int, default=16, help="children, fixed")
    ap.add_argument("--threads", type=int, default=THREADS, help="exit: ThreadsPerChild")
    ap.add_argument("--clients", default="50,150,400", help="memory: ab concurrency levels")
    ap.add_argument("--scopes", default="server 1 25",
                    help="memory: LuaScope pools for /cpu, comma-separated")  # fmt: skip
    ap.add_argument("--seconds", type=float, default=8.0, help="memory: ab's -t")
    ap.add_argument("--reps", type=int, default=1, help="repetitions")
    ap.add_argument(
        "--requests",
        type=int,
        default=20_000,
        help="first: requests a batch; exit: served before the stop (0: none)",
    )
    ap.add_argument("--mcpc", default="0,100", help="recycle: MaxConnectionsPerChild values")
    args = ap.parse_args(argv)
    if args.children < 2 and args.probe == "start":
        raise SystemExit("start: --children must be 2 or more (one child is the baseline)")
    if args.probe == "start":
        print(start(args.mpm, args.children, args.reps), flush=True)
        return 0
    if args.probe == "exit":
        print(exits(args.mpm, args.children, args.reps, args.requests, args.threads), flush=True)
        return 0
    if args.probe == "recycle":
        for _ in range(args.reps):
            for c in (int(x) for x in args.clients.split(",")):
                for m in (int(x) for x in args.mcpc.split(",")):
                    print(recycle(args.mpm, m, c, args.seconds), flush=True)
        return 0
    if args.probe == "first":
        for _ in range(args.reps):
            for c in (int(x) for x in args.clients.split(",")):
                print(first(args.mpm, args.children, c, args.requests), flush=True)
        return 0
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    for _ in range(args.reps):
        for c in (int(x) for x in args.clients.split(",")):
            points = [(scopes[0], "/test.html")] + [(s, "/cpu") for s in scopes]
            for scope, path in points:
                print(memory(args.mpm, args.children, c, scope, path, args.seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
