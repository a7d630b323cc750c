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

``start``: the CPU that all of Apache's tasks (``/proc/PID/task/TID/schedstat``) have used two
seconds after a start with one child and with N, with and without mod_lua: the start of one
child (fork, child_init, its threads), against the simulator's ``fork_cpu_ms`` and
``thread_create_cpu_ms`` (1.0 and 0.02 ms).

    python benchmarks/probe_lua.py memory --mpm event --children 16 --clients 50,150,400
    python benchmarks/probe_lua.py memory --clients 400 --scopes "server 1 25,server 1 1"
    python benchmarks/probe_lua.py start --children 16 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

import campaigns  # noqa: E402
from probe_children import (  # noqa: E402
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
from tests.apache import running_apache  # noqa: E402

#: the shared set's /cpu loop count (measurements/shared-machine: ~1 ms a request there)
ITERATIONS = 99_780


def lua_lines(scope: str | None, docroot: Path) -> list[str]:
    """mod_lua with a ``LuaScope`` of ``scope`` and the /cpu handler mapped; none for None."""
    return [] if scope is None else campaigns.lua_module_lines(scope, docroot)


def block(mpm: str, children: int) -> dict[str, object]:
    """``children`` fixed children of the campaigns' 25 threads, without keep-alive's hold."""
    return {**campaigns.fixed_children(mpm, children), "MaxConnectionsPerChild": 0,
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


def started_cpu_s(mpm: str, children: int, lua: bool) -> float:
    """CPU seconds all of Apache's tasks used by two seconds after starting ``children``."""
    scope = ("server 1 1" if mpm == "prefork" else "server 1 25") if lua else None
    with campaigns._scratch() as root:
        lines = lua_lines(scope, root / "htdocs")
        with running_apache(mpm, block(mpm, children), root, extra_lines=lines, files=PAGE,
                            launcher=SERVER) as srv:  # fmt: skip
            time.sleep(2.0)
            pids = apache_pids(apache_pid(srv.pid_file))
            return sum(sum(_thread_ns(pid).values()) for pid in pids) / 1e9


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
    ap.add_argument("probe", choices=("memory", "start"))
    ap.add_argument("--mpm", default="event", choices=("prefork", "worker", "event"))
    ap.add_argument("--children", type=int, default=16, help="children, fixed")
    ap.add_argument("--clients", default="50,150,400", help="memory: ab concurrency levels")
    ap.add_argument("--scopes", default="server 1 25",
                    help="memory: LuaScope pools for /cpu, comma-separated")  # fmt: skip
    ap.add_argument("--seconds", type=float, default=8.0, help="memory: ab's -t")
    ap.add_argument("--reps", type=int, default=1, help="repetitions")
    args = ap.parse_args(argv)
    if args.children < 2 and args.probe == "start":
        raise SystemExit("start: --children must be 2 or more (one child is the baseline)")
    if args.probe == "start":
        print(start(args.mpm, args.children, args.reps), flush=True)
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
