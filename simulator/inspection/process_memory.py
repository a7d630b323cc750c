"""Memory of a live Apache's parent and each child, sampled from ``/proc/PID/smaps_rollup``.

The processes are those of :func:`mpmsim.bench.processes.apache_pids` (the parent and its direct
children), keeping only children running the parent's program: a piped logger (rotatelogs) or
a CGI script Apache started is not an Apache child. Per process: RSS (every resident page, the
figure ``ps`` and apache2buddy use), PSS (each shared page divided among the processes sharing
it) and private memory (Private_Clean + Private_Dirty: pages no other process maps).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from mpmsim.bench.processes import apache_pids, kib_fields, not_apache, program_of
from mpmsim.errors import InputError

_FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty")


@dataclass(frozen=True)
class ProcessReading:
    """One process at one instant, in KiB."""

    pid: int
    parent: bool
    rss_kib: int
    pss_kib: int
    private_kib: int
    threads: int


def _text(pid: int, name: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None  # the process exited


def read_process(pid: int, *, parent: bool) -> ProcessReading | None:
    """``pid``'s memory and thread count, None if it exited; an error if /proc denies it."""
    try:
        rollup = _text(pid, "smaps_rollup")
        status = _text(pid, "status")
    except PermissionError:
        raise InputError(
            f"cannot read /proc/{pid}/smaps_rollup: run as root or as the user Apache runs as",
            field="--pid",
        ) from None
    if rollup is None or status is None:
        return None
    memory = kib_fields(rollup, _FIELDS)
    if "Rss" not in memory:
        return None  # a zombie has an empty rollup
    return ProcessReading(
        pid=pid,
        parent=parent,
        rss_kib=memory["Rss"],
        pss_kib=memory.get("Pss", memory["Rss"]),
        private_kib=memory.get("Private_Clean", 0) + memory.get("Private_Dirty", 0),
        threads=kib_fields(status, ("Threads",)).get("Threads", 1),
    )


def apache_parent(pid: int) -> int:
    """The parent process of the server ``pid`` belongs to (``pid`` itself if it is the parent)."""
    program = program_of(pid)
    if program is None:
        raise InputError(f"no process with PID {pid}", field="--pid")
    other = not_apache(pid, program)
    if other is not None:
        raise InputError(other, field="--pid")
    stat = _text(pid, "stat") or ""
    ppid = int(stat[stat.rindex(")") + 2 :].split()[1]) if ")" in stat else 0
    # A child's parent runs the same program; the parent's own parent (init, a shell) does not.
    return ppid if ppid > 1 and program_of(ppid) == program else pid


def snapshot(parent: int) -> list[ProcessReading]:
    """The parent and its children that run the same program, read now."""
    program = program_of(parent)
    readings = []
    for pid in apache_pids(parent):
        is_parent = pid == parent
        if not is_parent and program_of(pid) != program:
            continue
        reading = read_process(pid, parent=is_parent)
        if reading is not None:
            readings.append(reading)
    if not any(r.parent for r in readings):
        raise InputError(f"no process with PID {parent} (has Apache stopped?)", field="--pid")
    return readings


def sample(
    parent: int,
    window_s: float,
    interval_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[list[ProcessReading]]:
    """Snapshots every ``interval_s`` over ``window_s`` (at least one, the first at once)."""
    samples = [snapshot(parent)]
    start = clock()
    while (due := start + len(samples) * interval_s) <= start + window_s:
        sleep(max(0.0, due - clock()))
        samples.append(snapshot(parent))
    return samples


@dataclass(frozen=True)
class MemoryProfile:
    """Apache's memory over the sampling window, in MiB (children: over every reading)."""

    samples: int
    window_s: float
    children_mean: float
    children_max: int
    child_threads: int
    child_rss_mean_mib: float
    child_rss_max_mib: float
    child_pss_mean_mib: float
    child_pss_max_mib: float
    child_private_mean_mib: float
    child_private_max_mib: float
    parent_rss_mib: float
    parent_pss_mib: float
    parent_private_mib: float
    shared_mib: float
    """Mean over snapshots of the sum of (PSS - private): shared pages, each counted once."""
    total_pss_mib: float
    total_pss_max_mib: float
    total_rss_mib: float

    def to_dict(self) -> dict[str, float | int]:
        """JSON form."""
        return asdict(self)


def profile(samples: Sequence[Sequence[ProcessReading]], window_s: float) -> MemoryProfile:
    """Summarise snapshots: per-child means and maxima, the parent's means, shared pages."""
    children = [r for snap in samples for r in snap if not r.parent]
    parents = [r for snap in samples for r in snap if r.parent]
    if not children:
        raise InputError(
            "the process has no children running the same program: give the PID of Apache's "
            "parent process (the one in its PidFile)",
            field="--pid",
        )

    def mib(values: Sequence[int]) -> float:
        return round(statistics.fmean(values) / 1024, 3)

    def top(values: Sequence[int]) -> float:
        return round(max(values) / 1024, 3)

    counts = [sum(not r.parent for r in snap) for snap in samples]
    return MemoryProfile(
        samples=len(samples),
        window_s=window_s,
        children_mean=round(statistics.fmean(counts), 2),
        children_max=max(counts),
        child_threads=max(r.threads for r in children),
        child_rss_mean_mib=mib([r.rss_kib for r in children]),
        child_rss_max_mib=top([r.rss_kib for r in children]),
        child_pss_mean_mib=mib([r.pss_kib for r in children]),
        child_pss_max_mib=top([r.pss_kib for r in children]),
        child_private_mean_mib=mib([r.private_kib for r in children]),
        child_private_max_mib=top([r.private_kib for r in children]),
        parent_rss_mib=mib([r.rss_kib for r in parents]),
        parent_pss_mib=mib([r.pss_kib for r in parents]),
        parent_private_mib=mib([r.private_kib for r in parents]),
        shared_mib=mib([sum(r.pss_kib - r.private_kib for r in snap) for snap in samples]),
        total_pss_mib=mib([sum(r.pss_kib for r in snap) for snap in samples]),
        total_pss_max_mib=top([sum(r.pss_kib for r in snap) for snap in samples]),
        total_rss_mib=mib([sum(r.rss_kib for r in snap) for snap in samples]),
    )


__all__ = [
    "MemoryProfile",
    "ProcessReading",
    "apache_parent",
    "profile",
    "read_process",
    "sample",
    "snapshot",
]
