"""Sample where a real Apache's threads wait, and how many connections its backlog holds.

One campaign point (``benchmarks/campaigns.py``: the seed block or, with ``--children N``, the
crowding campaign's block of N fixed children; the 4 KiB page or the /cpu handler; ``--lua``
loads mod_lua as the shared set's harness did) on a fresh Apache pinned to CPU 1 at nice -20,
ab on CPU 0. After ``--warm-s`` seconds of load, every ``--every`` seconds for ``--sample-s``:

* each child thread's state (``/proc/PID/task/TID/stat``) and, asleep, where
  (``.../wchan``); a futex wait is told apart by its operation (``.../syscall``):
  FUTEX_WAIT is a lock (glibc's mutex, or a condition variable's signaller waiting for the
  waiters it woke to run: ``benchmarks/lock_waits.py``), FUTEX_WAIT_BITSET a condition
  variable's waiter (``pthread_cond_wait``: an idle worker);
* the listening socket's accept backlog (``ss``: its Recv-Q) and the established connections;
* the listener threads (those seen in ``epoll_wait``): the share of samples in each state.

Printed as medians per sample. Needs root (nice -20, other users' /proc files), apache2, ab
and ss (iproute2).

    python benchmarks/probe_threads.py --mpm event --children 4 --clients 50 --lua
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from lock_waits import FUTEX_CMD_MASK, FUTEX_WAIT
from probe_apache import _rate, _timed_load
from probe_scheduler import point_label, point_options, point_server, probe_point

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mpmsim.bench.processes import apache_pid, apache_pids  # noqa: E402

FUTEX_SYSCALL = "202"  # x86-64
FUTEX_WAIT_BITSET = 9  # a condition variable's waiter (glibc's pthread_cond_wait)


def wait_kind(state: str, wchan: str, syscall: str) -> str:
    """What a thread is doing: ``runnable``, ``lock``, ``condition``, ``epoll``, or its
    wait channel (``-`` when the kernel gives none)."""
    if state == "R":
        return "runnable"
    fields = syscall.split()
    if wchan.startswith("futex") and len(fields) > 2 and fields[0] == FUTEX_SYSCALL:
        cmd = int(fields[2], 16) & FUTEX_CMD_MASK
        if cmd == FUTEX_WAIT:
            return "lock"
        if cmd == FUTEX_WAIT_BITSET:
            return "condition"
    if "epoll" in wchan:
        return "epoll"
    return wchan if wchan and wchan != "0" else "-"


def recv_q(ss_line: str) -> int | None:
    """The Recv-Q of ``ss -ltnH``'s line for a listening socket (its accept backlog)."""
    fields = ss_line.split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def thread_kinds(parent: int) -> dict[int, str]:
    """Every thread of ``parent``'s children: tid -> :func:`wait_kind`."""
    kinds = {}
    for pid in apache_pids(parent)[1:]:
        tasks = Path(f"/proc/{pid}/task")
        try:
            tids = [int(t.name) for t in tasks.iterdir()]
        except FileNotFoundError:
            continue
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            stat, wchan, syscall = (_read(f"{base}/{n}") for n in ("stat", "wchan", "syscall"))
            if stat is None or wchan is None or syscall is None:
                continue
            state = stat.rsplit(")", 1)[1].split()[0]
            kinds[tid] = wait_kind(state, wchan.strip(), syscall)
    return kinds


@dataclasses.dataclass
class Samples:
    """What the samples saw: per sample, threads by kind; the backlog and connections; and
    per thread, the kinds it was seen in."""

    by_kind: list[Counter[str]] = dataclasses.field(default_factory=list)
    backlog: list[int] = dataclasses.field(default_factory=list)
    established: list[int] = dataclasses.field(default_factory=list)
    per_thread: dict[int, Counter[str]] = dataclasses.field(default_factory=dict)

    def add(self, kinds: dict[int, str], backlog: int | None, established: int) -> None:
        self.by_kind.append(Counter(kinds.values()))
        if backlog is not None:
            self.backlog.append(backlog)
        self.established.append(established)
        for tid, kind in kinds.items():
            self.per_thread.setdefault(tid, Counter())[kind] += 1

    def render(self) -> str:
        """Medians per sample, the backlog's spread and the listeners' states."""
        n = len(self.by_kind)
        if n == 0:
            return "no samples"
        kinds = sorted({k for c in self.by_kind for k in c}, key=lambda k: (-sum(
            c[k] for c in self.by_kind), k))  # fmt: skip
        threads = ", ".join(
            f"{k} {statistics.median(c[k] for c in self.by_kind):g}" for k in kinds[:8]
        )
        listeners = [c for c in self.per_thread.values() if c["epoll"]]
        seen = sum(listeners, Counter())
        total = sum(seen.values())
        shares = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in seen.most_common(4))
        return (
            f"{n} samples; threads per sample (median): {threads}\n"
            f"  accept backlog p10 / median / p90: {_spread(self.backlog)}; "
            f"established connections {_spread(self.established)}\n"
            f"  listeners (threads seen in epoll_wait): {len(listeners)}"
            + (f"; their samples: {shares}" if total else "")
        )


def _spread(values: Sequence[int]) -> str:
    if len(values) < 2:
        return "-"
    cuts = statistics.quantiles(values, n=10)
    return f"{cuts[0]:g} / {statistics.median(values):g} / {cuts[-1]:g}"


def _ss(args: Sequence[str]) -> str:
    return subprocess.run(["ss", *args], capture_output=True, text=True, check=True).stdout


def sample_point(
    mpm: str, clients: int, content: str, children: int, lua: bool,
    warm_s: float, sample_s: float, every_s: float,
) -> str:  # fmt: skip
    """ab's rate and the samples of one point on a fresh server."""
    os.sched_setaffinity(0, {0})  # the probe stays off Apache's CPU
    samples = Samples()
    with point_server(probe_point(mpm, clients, content, children), lua) as (server, url):
        parent = apache_pid(server.pid_file)
        port = url.split(":")[2].split("/")[0]
        ab = _timed_load(clients, warm_s + sample_s + 1.0, False, url)
        load = subprocess.Popen(ab, stdout=subprocess.PIPE, text=True)
        time.sleep(warm_s)
        end = time.monotonic() + sample_s
        while time.monotonic() < end:
            kinds = thread_kinds(parent)
            backlog = recv_q(_ss(["-ltnH", f"sport = :{port}"]))
            est = _ss(["-tnH", "state", "established", f"sport = :{port}"]).count("\n")
            samples.add(kinds, backlog, est)
            time.sleep(every_s)
        report = load.communicate()[0]
    head = f"{point_label(mpm, content, clients, children)}: {_rate(report)} req/s"
    return head + "\n" + samples.render()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    point_options(ap)
    ap.add_argument("--clients", type=int, default=50, help="ab's concurrency")
    ap.add_argument("--content", default="static", choices=("cpu", "static"))
    ap.add_argument("--warm-s", type=float, default=4.0, help="load before the samples")
    ap.add_argument("--sample-s", type=float, default=6.0, help="seconds sampled")
    ap.add_argument("--every", type=float, default=0.05, help="seconds between samples")
    args = ap.parse_args(argv)
    if args.children < 0 or args.clients < 1 or args.every <= 0 or args.sample_s <= 0:
        ap.error("--children must be 0 or more, --clients 1 or more, --every and --sample-s > 0")
    print(sample_point(args.mpm, args.clients, args.content, args.children, args.lua,
                       args.warm_s, args.sample_s, args.every))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
