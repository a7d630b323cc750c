"""Trace the kernel's scheduler on Apache's CPU while ab loads a campaign's server.

One campaign point (``benchmarks/campaigns.py``: its seed blocks or, with ``--children N``, the
crowding campaign's block of N fixed children; the /cpu handler of about 1 ms or the 4 KiB page;
``--lua`` loads mod_lua as the shared set's harness did; Apache pinned to CPU 1 at nice -20, ab
on CPU 0) on a fresh Apache.
After ``--warm-s`` seconds of load, ``sched_wakeup`` and ``sched_switch`` are recorded from
tracefs for ``--trace-s`` seconds; printed beside ab's percentiles:

* how long an Apache task woken onto CPU 1 waited before it ran (the run queue);
* how often a task left the CPU still runnable (preempted), after how long a run, and how
  long it then waited for its next turn;
* the other tasks that took the CPU (ksoftirqd, kworkers);
* under worker and event, the wake-up waits split by thread: each child's listener (it wakes
  for accepts and, under event, for client FINs and keep-alive reads) against the other
  threads, with each group's share of the traced CPU time and its wake-ups per second;
* with ``--futex``, the listeners' lock waits (``benchmarks/lock_waits.py``): how long, and
  what the thread that ended each was doing when the listener blocked.

Needs root (tracefs, nice -20), apache2 with mod_lua for ``--content cpu``, and ab.

    python benchmarks/probe_scheduler.py --mpm event --clients 50 --content cpu
    python benchmarks/probe_scheduler.py --mpm prefork --clients 50 --content static
    python benchmarks/probe_scheduler.py --mpm event --clients 50 --content static \
        --children 4 --lua
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import campaigns
from lock_waits import lock_waits
from probe_apache import _rate, _timed_load

if TYPE_CHECKING:
    from tests.apache import ApacheServer

TRACEFS = Path("/sys/kernel/tracing")
APACHE_CPU = "001"
_WAKE = re.compile(r" (\d+\.\d+): sched_wakeup(?:_new)?: comm=(\S+) pid=(\d+) .*target_cpu=(\d+)")
_SWITCH = re.compile(
    r"\[(\d+)\].*? (\d+\.\d+): sched_switch: prev_comm=(\S+) prev_pid=(\d+) prev_prio=\d+ "
    r"prev_state=(\S+) ==> next_comm=(\S+) next_pid=(\d+)"
)


@dataclass
class Schedule:
    """What the trace of CPU 1 shows (seconds)."""

    preempted_runs: list[float] = field(default_factory=list)  # run before a preemption
    sleeping_runs: list[float] = field(default_factory=list)  # run before going to sleep
    preempted_waits: list[float] = field(default_factory=list)  # preempted until run again
    others: Counter[str] = field(default_factory=Counter)  # non-Apache tasks switched in
    waits_by_task: dict[str, list[float]] = field(default_factory=dict)  # woken until run, per tid
    run_s_by_task: dict[str, float] = field(default_factory=dict)  # CPU time per tid
    span_s: float = 0.0  # from the first switch on CPU 1 to the last

    @property
    def wake_waits(self) -> list[float]:
        """How long each woken Apache task waited until it was switched in."""
        return [w for waits in self.waits_by_task.values() for w in waits]


def read_trace(lines: Iterable[str], comm: str = "apache2") -> Schedule:
    """Fold tracefs lines of sched_wakeup and sched_switch into a :class:`Schedule`."""
    out = Schedule()
    woken: dict[str, float] = {}
    preempted: dict[str, float] = {}
    running: tuple[str, float] | None = None
    first: float | None = None
    for line in lines:
        m = _WAKE.search(line)
        if m:
            if m.group(4) == APACHE_CPU and m.group(2).startswith(comm):
                woken.setdefault(m.group(3), float(m.group(1)))
            continue
        m = _SWITCH.search(line)
        if not m or m.group(1) != APACHE_CPU:
            continue
        t, prev_comm, prev_pid, state, next_comm, next_pid = m.group(2, 3, 4, 5, 6, 7)
        now = float(t)
        if first is None:
            first = now
        out.span_s = now - first
        if running is not None and running[0] == prev_pid and prev_comm.startswith(comm):
            run = now - running[1]
            out.run_s_by_task[prev_pid] = out.run_s_by_task.get(prev_pid, 0.0) + run
            if state.startswith("R"):
                out.preempted_runs.append(run)
                preempted[prev_pid] = now
            else:
                out.sleeping_runs.append(run)
        if not next_comm.startswith(comm):
            out.others[next_comm] += 1
        if next_pid in woken:
            out.waits_by_task.setdefault(next_pid, []).append(now - woken.pop(next_pid))
        if next_pid in preempted:
            out.preempted_waits.append(now - preempted.pop(next_pid))
        running = (next_pid, now)
    return out


def listeners(threads_of: dict[str, list[str]]) -> set[str]:
    """The listener thread of each multi-threaded process (``threads_of``: process id -> its
    thread ids).

    worker.c's and event.c's ``start_threads`` create the listener after every worker thread,
    so it is the child's newest thread (checked on 2.4.71: the one thread per child waiting in
    ``do_epoll_wait``, the workers in ``futex_do_wait``).
    """
    return {max(tids, key=int) for tids in threads_of.values() if len(tids) > 1}


def render_roles(s: Schedule, chosen: set[str]) -> str:
    """Wake waits and CPU share of the ``chosen`` threads (listeners) against the others."""
    rows = []
    total = sum(s.run_s_by_task.values()) or 1.0
    for name, inside in (("listeners", True), ("other threads", False)):
        tids = [t for t in s.waits_by_task if (t in chosen) == inside]
        waits = [w for t in tids for w in s.waits_by_task[t]]
        run = sum(s.run_s_by_task.get(t, 0.0) for t in tids)
        per_s = len(waits) / s.span_s if s.span_s else 0.0
        rows.append(
            f"  {name} ({len(tids)}): woken until run {_ms(waits)}; "
            f"{100.0 * run / total:.1f} % of the CPU time, {per_s:,.0f} wake-ups/s"
        )
    return "\n".join(rows)


def process_threads(tids: Iterable[str]) -> dict[str, list[str]]:
    """The processes of the threads still alive among ``tids``: process id -> all its threads."""
    pids = set()
    for tid in tids:
        with contextlib.suppress(OSError):
            m = re.search(r"^Tgid:\s+(\d+)", Path(f"/proc/{tid}/status").read_text(), re.M)
            if m:
                pids.add(m.group(1))
    threads_of: dict[str, list[str]] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            threads_of[pid] = os.listdir(f"/proc/{pid}/task")
    return threads_of


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "none"
    xs = sorted(values)
    q = [xs[int(p * (len(xs) - 1))] * 1e3 for p in (0.1, 0.5, 0.9, 0.99)]
    return f"n {len(xs)}, p10/50/90/99 " + " / ".join(f"{v:.3f}" for v in q) + " ms"


def render(s: Schedule) -> str:
    runs = len(s.preempted_runs) + len(s.sleeping_runs)
    share = 100.0 * len(s.preempted_runs) / runs if runs else 0.0
    return "\n".join([
        f"  woken until run:       {_ms(s.wake_waits)}",
        f"  runs ending preempted: {share:.1f} % of {runs}; run before: {_ms(s.preempted_runs)}",
        f"  preempted until run:   {_ms(s.preempted_waits)}",
        f"  runs ending in sleep:  {_ms(s.sleeping_runs)}",
        f"  other tasks switched in: {dict(s.others.most_common(5))}",
    ])  # fmt: skip


def _tracefs(name: str, value: str) -> None:
    (TRACEFS / name).write_text(value)


def probe_point(mpm: str, clients: int, content: str, children: int = 0) -> campaigns.Point:
    """The campaign point traced: the seed block, or the crowding campaign's ``children``."""
    extra = campaigns.fixed_children(mpm, children) if children else {}
    return campaigns.Point("probe", mpm, 0, clients, content=content, extra=extra)


@contextlib.contextmanager
def point_server(point: campaigns.Point, lua: bool) -> Iterator[tuple[ApacheServer, str]]:
    """A fresh Apache for ``point`` (``lua``: mod_lua loaded as ``campaigns.py --lua-always``
    loads it), its session group at nice -20, and the URL ab loads (/cpu for the handler)."""
    setup = dataclasses.replace(campaigns.STRICT, lua_always=lua)
    with (
        campaigns._scratch() as root,
        campaigns._server(point, campaigns.LUA_ITERATIONS, root, setup) as server,
    ):
        campaigns.boost(server.pid)
        cpu = point.content == "cpu"
        yield server, server.url.replace("/test.html", "/cpu") if cpu else server.url


def ab_percentiles(report: str) -> str:
    """ab's p50, p90, p95 and p99 from its "Percentage of the requests" table, e.g. ``p50 5 ms``."""
    return " ".join(
        f"p{p} {v} ms" for p, v in re.findall(r"^\s+(50|90|95|99)%\s+(\d+)", report, re.M)
    )


def point_label(mpm: str, content: str, clients: int, children: int) -> str:
    """How a probe's report names its point."""
    fixed = f", {children} fixed children" if children else ""
    return f"{mpm} {content} {clients} clients{fixed}"


def trace_point(
    mpm: str, clients: int, content: str, warm_s: float, trace_s: float,
    children: int = 0, lua: bool = False, futex: bool = False,
) -> str:  # fmt: skip
    """ab's percentiles and the folded trace of one point on a fresh server: the seed block,
    or (``children``) the crowding campaign's block of that many fixed children; ``lua``:
    mod_lua loaded as ``campaigns.py --lua-always`` loads it."""
    if not (TRACEFS / "trace").exists():
        raise SystemExit(f"{TRACEFS} is not mounted: mount -t tracefs nodev {TRACEFS}")
    os.sched_setaffinity(0, {0})  # the probe itself stays off Apache's CPU
    with point_server(probe_point(mpm, clients, content, children), lua) as (_server, url):
        ab = _timed_load(clients, warm_s + trace_s + 1.0, False, url)
        _tracefs("tracing_on", "0")
        _tracefs("trace", "")
        _tracefs("buffer_size_kb", "65536")
        _tracefs("tracing_cpumask", "3")  # wake-ups are recorded on the waker's CPU
        events = "sched:sched_wakeup sched:sched_wakeup_new sched:sched_switch"
        _tracefs("set_event", events + (" syscalls:sys_enter_futex" if futex else ""))
        try:
            load = subprocess.Popen(ab, stdout=subprocess.PIPE, text=True)
            time.sleep(warm_s)
            _tracefs("tracing_on", "1")
            time.sleep(trace_s)
            _tracefs("tracing_on", "0")
            trace = (TRACEFS / "trace").read_text().splitlines()
            schedule = read_trace(trace)
            threads_of = process_threads(schedule.waits_by_task)  # while the children live
            report = load.communicate()[0]
        finally:
            _tracefs("tracing_on", "0")
            _tracefs("set_event", "")
    label = point_label(mpm, content, clients, children)
    head = f"{label}: {_rate(report)} req/s, ab {ab_percentiles(report)}"
    if mpm == "prefork":
        return head + "\n" + render(schedule)
    chosen = listeners(threads_of)
    roles = "\n" + render_roles(schedule, chosen)
    if futex:
        roles += "\n" + lock_waits(trace, chosen).render(schedule.span_s)
    return head + "\n" + render(schedule) + roles


def point_options(ap: argparse.ArgumentParser) -> None:
    """The options that choose the point a probe runs: ``--mpm``, ``--children``, ``--lua``."""
    ap.add_argument("--mpm", default="event", choices=("prefork", "worker", "event"))
    ap.add_argument(
        "--children",
        type=int,
        default=0,
        help="the crowding campaign's block of N fixed children (0: the seed block)",
    )
    ap.add_argument(
        "--lua", action="store_true", help="mod_lua loaded, as the shared set's harness"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    point_options(ap)
    ap.add_argument("--clients", default="50", help="ab concurrency levels, comma-separated")
    ap.add_argument("--content", default="cpu", choices=("cpu", "static"))
    ap.add_argument("--warm-s", type=float, default=8.0, help="load before the trace starts")
    ap.add_argument("--trace-s", type=float, default=1.5, help="seconds traced")
    ap.add_argument(
        "--futex", action="store_true", help="also the listeners' lock waits (sys_enter_futex)"
    )
    args = ap.parse_args(argv)
    if args.children < 0:
        ap.error(f"--children: {args.children} is negative; give 0 (the seed block) or more")
    for c in (int(x) for x in args.clients.split(",")):
        print(trace_point(args.mpm, c, args.content, args.warm_s, args.trace_s,
                          args.children, args.lua, args.futex), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
