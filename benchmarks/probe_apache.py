"""What the probes of a real Apache share: the throw-away server's launcher and page, its
directives, the ab load on the other CPU and its rate, and readings of the processes.

Each probe runs a fresh Apache (tests/apache.py) pinned to CPU 1 with ab on CPU 0 (``SERVER``,
``LOAD``), as ``benchmarks/campaigns.py`` runs them; ``_thread_ns`` and ``_pss_by_mapping`` read
a process's threads' CPU time and its PSS by kind of mapping from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from campaigns import fixed_children

from mpmsim.workloads.readers.tool_result import label_value

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


def _deciles(values: Sequence[int]) -> str:
    """p10 / median / p90 / max of ``values``."""
    if len(values) < 2:
        return "-"
    cuts = statistics.quantiles(values, n=10)
    return f"{cuts[0]:g} / {statistics.median(values):g} / {cuts[-1]:g} / {max(values)}"
