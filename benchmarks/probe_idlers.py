"""Trace how a threaded child's listener hands connections to its workers (uprobes on httpd).

One campaign point (as ``probe_scheduler.py`` chooses it: the seed block or ``--children N``
fixed children, the 4 KiB page, ``--lua``) on a fresh Apache pinned to CPU 1, ab on CPU 0.
After ``--warm-s`` seconds of load, uprobes on the worker queue of httpd 2.4
(``server/mpm_fdqueue.c``, exported by /usr/sbin/apache2) are recorded for ``--trace-s``:

* ``ap_queue_info_set_idle``: a worker goes idle (its child has one idler more);
* ``ap_queue_info_try_get_idler`` / ``ap_queue_info_wait_for_idler`` (their return): the
  listener reserves an idle worker, without blocking (event: a kept connection's request or a
  FIN) or blocking (an accept);
* ``ap_queue_push_socket``: the listener hands a socket on; its connection state (the third
  argument) is NULL for a new connection;
* ``ap_queue_pop_something`` (its return, 0 with a socket; 4, EINTR, when interrupted): a
  worker has it, i.e. has been woken and has run.

Printed beside ab's percentiles:

* per hand-off, new connections and the others (event's FINs and keep-alive requests) apart,
  how long the socket waited for its worker to run (push to pop), how long the worker then
  kept it (pop to its next idle), and the whole reservation (push to idle);
* the listeners' rounds (a listener's reservations and pushes less than 0.2 ms apart): how
  many a second, their new connections and other hand-offs, the gap between a listener's
  rounds, and its child's idle workers before and after the round (counted from the lowest
  value the trace reaches, which event's stops "having read 0 idle workers" make 0);
* per child, the mean idle workers over the trace.

Each uprobe costs Apache's core a few microseconds, so the traced run is slower than the
campaigns' (6.5-7.8k against ~11k req/s for event's static page at 50 clients): read the shapes,
not the rates. Needs root (tracefs with ``uprobe_events``), apache2 and ab.

    python benchmarks/probe_idlers.py --mpm event --clients 50 --lua
    python benchmarks/probe_idlers.py --mpm worker --clients 50 --children 16 --lua
    python benchmarks/probe_idlers.py --mpm event --clients 100 --lua --keepalive
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from probe_apache import _rate, _timed_load
from probe_scheduler import (
    TRACEFS,
    _tracefs,
    ab_percentiles,
    point_label,
    point_options,
    point_server,
    probe_point,
)

APACHE = "/usr/sbin/apache2"
#: the probes' names (group ``mpm``) by the fdqueue function they trace
PROBES = {
    "idle": ("p", "ap_queue_info_set_idle", ""),
    "try": ("r", "ap_queue_info_try_get_idler", " ret=$retval:s32"),
    "wait": ("r", "ap_queue_info_wait_for_idler", " ret=$retval:s32"),
    "push": ("p", "ap_queue_push_socket", " cs=%dx:u64"),  # x86-64: the third argument
    "pop": ("r", "ap_queue_pop_something", " ret=$retval:s32"),
}
_LINE = re.compile(
    r"^\s*\S+-(?P<tid>\d+)\s+\(\s*(?P<pid>\d+)\)\s+\[\d+\]\s+\S+\s+(?P<t>\d+\.\d+):\s+"
    r"(?P<ev>idle|try|wait|push|pop):(?P<rest>.*)$"
)
_ARG = re.compile(r"(?:ret|cs)=(-?\d+)")
ROUND_GAP_S = 0.0002


def uprobe_lines(nm_output: str, binary: str = APACHE) -> str:
    """``uprobe_events`` lines for :data:`PROBES`, at the offsets ``nm -D`` gives (the
    binary's text is mapped at its file offset, so the symbol's value is the offset)."""
    where = {}
    for line in nm_output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "T":
            where[parts[2]] = int(parts[0], 16)
    missing = [fn for _kind, fn, _args in PROBES.values() if fn not in where]
    if missing:
        raise SystemExit(f"{binary} exports no {', '.join(missing)} (httpd 2.4.x's fdqueue)")
    return "".join(
        f"{kind}:mpm/{name} {binary}:{where[fn]:#x}{args}\n"
        for name, (kind, fn, args) in PROBES.items()
    )


@dataclass(frozen=True)
class Event:
    """One traced call: ``arg`` is the return value, or push's connection state."""

    t: float
    name: str
    tid: int
    pid: int
    arg: int


def read_events(lines: Iterable[str]) -> list[Event]:
    """The uprobe events of a tracefs trace recorded with ``options/record-tgid``."""
    out = []
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            continue
        arg = _ARG.search(m["rest"])
        out.append(
            Event(float(m["t"]), m["ev"], int(m["tid"]), int(m["pid"]), int(arg[1]) if arg else 0)
        )
    return out


@dataclass
class Handoffs:
    """Per kind of hand-off (True: a new connection), the spans of each one (seconds)."""

    waited: dict[bool, list[float]]  # push until a worker popped it
    kept: dict[bool, list[float]]  # popped until that worker's next idle
    held: dict[bool, list[float]]  # push until idle


def handoffs(events: Sequence[Event]) -> Handoffs:
    """Pairs each push with the next pop of its process (the queue is first in, first out)
    and that worker's next idle."""
    pushed: dict[int, deque[tuple[float, bool]]] = defaultdict(deque)
    running: dict[int, tuple[float, float, bool]] = {}
    h = Handoffs(defaultdict(list), defaultdict(list), defaultdict(list))
    for e in events:
        if e.name == "push":
            pushed[e.pid].append((e.t, e.arg == 0))
        elif e.name == "pop" and e.arg == 0 and pushed[e.pid]:
            t_push, new = pushed[e.pid].popleft()
            h.waited[new].append(e.t - t_push)
            running[e.tid] = (t_push, e.t, new)
        elif e.name == "idle" and e.tid in running:
            t_push, t_pop, new = running.pop(e.tid)
            h.kept[new].append(e.t - t_pop)
            h.held[new].append(e.t - t_push)
    return h


def _reserves(e: Event) -> bool:
    """``e`` took one of its child's idle workers (a blocking reservation always does)."""
    return e.name == "wait" or (e.name == "try" and e.arg == 0)


def idlers(events: Sequence[Event]) -> dict[int, list[tuple[float, int]]]:
    """Per process, its idle workers after each event: +1 at an idle, -1 at a reservation
    (a blocking one always succeeds), counted from the lowest value the trace reaches."""
    level: dict[int, int] = defaultdict(int)
    steps: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for e in events:
        if e.name == "idle":
            level[e.pid] += 1
        elif _reserves(e):
            level[e.pid] -= 1
        steps[e.pid].append((e.t, level[e.pid]))
    for pid, pts in steps.items():
        low = min(v for _t, v in pts)
        steps[pid] = [(t, v - low) for t, v in pts]
    return dict(steps)


@dataclass
class Round:
    """A listener's burst of reservations and hand-offs."""

    tid: int
    start: float
    end: float
    new: int = 0  # new connections handed on
    other: int = 0  # kept connections' requests and FINs handed on
    idle_before: int = 0
    idle_after: int = 0


def rounds(events: Sequence[Event]) -> list[Round]:
    """The listeners' rounds (their threads: those that push), with their child's idle
    workers (:func:`idlers`) before the first reservation and after the last hand-off."""
    listeners = {e.tid for e in events if e.name == "push"}
    level = idlers(events)
    seen: dict[int, int] = defaultdict(int)  # events of each process read so far
    out: list[Round] = []
    current: dict[int, Round] = {}
    for e in events:
        i = seen[e.pid]
        seen[e.pid] = i + 1
        if e.tid not in listeners or e.name not in ("try", "wait", "push"):
            continue
        now = level[e.pid][i][1]
        r = current.get(e.tid)
        if r is None or e.t - r.end > ROUND_GAP_S:
            before = now + (1 if _reserves(e) else 0)
            r = current[e.tid] = Round(e.tid, e.t, e.t, idle_before=before)
            out.append(r)
        r.end = e.t
        r.idle_after = now
        if e.name == "push":
            if e.arg == 0:
                r.new += 1
            else:
                r.other += 1
    return out


def _ms(values: Sequence[float]) -> str:
    if len(values) < 2:
        return f"n {len(values)}"
    q = statistics.quantiles(values, n=100)
    return (
        f"n {len(values)}, p10 / p50 / p90 / p99 {1e3 * q[9]:.3f} / {1e3 * q[49]:.3f} / "
        f"{1e3 * q[89]:.3f} / {1e3 * q[98]:.3f} ms, mean {1e3 * statistics.fmean(values):.3f}"
    )


def _counts(values: Sequence[int]) -> str:
    if len(values) < 2:
        return f"n {len(values)}"
    q = statistics.quantiles(values, n=10)
    return f"p10 / median / p90 {q[0]:g} / {statistics.median(values):g} / {q[8]:g}"


def render(events: Sequence[Event]) -> str:
    """The hand-offs, the listeners' rounds and the children's idle workers, as text."""
    if not events:
        return "no uprobe event recorded"
    span = events[-1].t - events[0].t or 1.0
    counts: dict[str, int] = defaultdict(int)
    for e in events:
        counts[e.name] += 1
    lines = [f"{span:.2f} s traced; a second: " + ", ".join(
        f"{name} {counts[name] / span:,.0f}" for name in PROBES)]  # fmt: skip
    h = handoffs(events)
    for new, kind in ((True, "new connections"), (False, "FINs and kept connections")):
        lines.append(f"{kind}: push until popped {_ms(h.waited[new])}")
        lines.append(f"{kind}: popped until idle {_ms(h.kept[new])}")
        lines.append(f"{kind}: push until idle {_ms(h.held[new])}")
    rs = rounds(events)
    by_tid: dict[int, list[Round]] = defaultdict(list)
    for r in rs:
        by_tid[r.tid].append(r)
    gaps = [b.start - a.end for mine in by_tid.values() for a, b in itertools.pairwise(mine)]
    emptied = sum(1 for r in rs if r.idle_after == 0)
    lines += [
        f"listeners {len(by_tid)}, rounds {len(rs) / span:,.0f} a second: new connections "
        f"{_counts([r.new for r in rs])}, other hand-offs {_counts([r.other for r in rs])}",
        f"gap between a listener's rounds: {_ms(gaps)}",
        f"idle workers before a round {_counts([r.idle_before for r in rs])}, after it "
        f"{_counts([r.idle_after for r in rs])}; rounds that left none: {emptied} "
        f"({100.0 * emptied / max(len(rs), 1):.0f} %)",
    ]
    means = []
    for pts in idlers(events).values():
        if len(pts) > 1 and pts[-1][0] > pts[0][0]:
            area = sum(v * (t2 - t1) for (t1, v), (t2, _v) in itertools.pairwise(pts))
            means.append(area / (pts[-1][0] - pts[0][0]))
    lines.append("mean idle workers per child: " + " ".join(f"{m:.1f}" for m in sorted(means)))
    return "\n".join(lines)


def trace_point(
    mpm: str,
    clients: int,
    warm_s: float,
    trace_s: float,
    children: int,
    lua: bool,
    keepalive: bool = False,
) -> str:
    """ab's percentiles and the uprobes' summary of one point on a fresh server (``keepalive``:
    ab -k, each connection's next requests handed on by the listener under event)."""
    if not (TRACEFS / "uprobe_events").exists():
        raise SystemExit(f"{TRACEFS}/uprobe_events is missing: mount tracefs, kernel uprobes")
    nm = subprocess.run(["nm", "-D", APACHE], capture_output=True, text=True, check=True)
    probes = uprobe_lines(nm.stdout)
    os.sched_setaffinity(0, {0})  # the probe itself stays off Apache's CPU
    with point_server(probe_point(mpm, clients, "static", children), lua) as (_server, url):
        ab = _timed_load(clients, warm_s + trace_s + 1.0, keepalive, url)
        _tracefs("tracing_on", "0")
        _tracefs("trace", "")
        _tracefs("set_event", "")
        _tracefs("buffer_size_kb", "131072")
        _tracefs("tracing_cpumask", "3")
        _tracefs("options/record-tgid", "1")
        _tracefs("uprobe_events", probes)
        try:
            _tracefs("events/mpm/enable", "1")
            load = subprocess.Popen(ab, stdout=subprocess.PIPE, text=True)
            time.sleep(warm_s)
            _tracefs("tracing_on", "1")
            time.sleep(trace_s)
            _tracefs("tracing_on", "0")
            events = read_events((TRACEFS / "trace").read_text().splitlines())
            report = load.communicate()[0]
        finally:
            _tracefs("tracing_on", "0")
            _tracefs("events/mpm/enable", "0")
            _tracefs("uprobe_events", "")
            _tracefs("options/record-tgid", "0")  # probe_scheduler.py reads traces without it
    label = point_label(mpm, "static", clients, children) + (" ab -k" if keepalive else "")
    head = f"{label}: {_rate(report)} req/s, ab {ab_percentiles(report)}"
    return head + "\n" + render(events)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    point_options(ap)
    ap.add_argument("--clients", type=int, default=50, help="ab concurrency")
    ap.add_argument("--warm-s", type=float, default=8.0, help="load before the trace")
    ap.add_argument("--trace-s", type=float, default=1.0, help="seconds traced")
    ap.add_argument("--keepalive", action="store_true", help="ab -k (keep-alive connections)")
    args = ap.parse_args(argv)
    if args.mpm == "prefork":
        raise SystemExit("--mpm prefork has no worker queue: worker or event")
    print(trace_point(args.mpm, args.clients, args.warm_s, args.trace_s, args.children, args.lua,
                      args.keepalive))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
