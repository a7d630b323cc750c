"""``probe_children.py listener``: how often a real event server's children stop and start
accepting and for how long, from its ``mpm_event:trace1`` error log.

The campaigns' seed event block on a fresh Apache under ab: processes each second, at each stop
the child's connections and the idle workers event.c read, at each start its connections, those
in lingering close and its idle workers; then, from the log lines' times, how long a child stays
not accepting, the share of the time each child spends so and how many are not accepting at an
instant.
"""

from __future__ import annotations

import datetime
import re
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

from campaigns import KEEPALIVE, SEED  # noqa: E402
from probe_apache import PAGE, SERVER, _deciles, _load_while, _rate, _timed_load  # noqa: E402

from mpmsim.bench.processes import apache_pid, apache_pids  # noqa: E402
from tests.apache import running_apache  # noqa: E402

#: event.c's debug lines when a listener stops and starts accepting (AH00457 with its counts)
_DISABLED = "not accepting new conns in this process"
#: why it stopped: connections_above_limit (AH03269, with the child's connection count; at trace1
#: the idle workers it read follow, "Idle workers: N") or every worker busy (AH03268)
_ABOVE = re.compile(r"\[pid (\d+):tid (\d+)\].*Too many open connections \((\d+)\)")
_IDLERS = re.compile(r"\[pid (\d+):tid (\d+)\].*Idle workers: (\d+)")
_ALL_BUSY = "All workers busy, not accepting new conns"
_ENABLED = re.compile(r"Accepting new connections again: (\d+) active conns \((\d+) lingering"
                      r".*?(\d+) idle workers")  # fmt: skip


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
