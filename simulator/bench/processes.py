"""A local Apache's processes read from /proc: CPU time, process and thread counts, RSS and PSS."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from mpmsim.errors import InputError
from mpmsim.models.apache import APACHE_PROGRAMS

#: One reading of sample_processes: procs, threads, rss_kb, pss_kb (kB; None if unreadable).
Sample = dict[str, int | None]


def clock_ticks_per_s() -> int:
    """Kernel clock ticks per second (the unit of /proc/PID/stat CPU times)."""
    return int(os.sysconf("SC_CLK_TCK"))


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (index 0 = state, 1 = ppid), None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def apache_pid(pid_file: Path) -> int:
    """The PID in Apache's pid file, which must name a running process."""
    try:
        pid = int(Path(pid_file).read_text().strip())
    except (OSError, ValueError) as exc:
        raise InputError("cannot read a PID from it", file=str(pid_file)) from exc
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        raise InputError(f"no running process with PID {pid}", file=str(pid_file))
    other = not_apache(pid, program_of(pid) or "")
    if other is not None:  # its CPU and memory would be another's
        raise InputError(other, file=str(pid_file))
    return pid


def program_of(pid: int) -> str | None:
    """The process's command name (``/proc/PID/comm``), None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def not_apache(pid: int, program: str) -> str | None:
    """Why process ``pid`` running ``program`` is not an Apache's, or None when it is."""
    if program.startswith(APACHE_PROGRAMS):
        return None
    return f"PID {pid} runs {program!r}, not Apache ({' or '.join(APACHE_PROGRAMS)})"


def apache_pids(parent: int) -> list[int]:
    """The parent and its direct children (zombies included)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                children.append(int(entry.name))
    return [parent, *sorted(children)]


def cpu_seconds(parent: int) -> float:
    """CPU seconds of ``parent`` and its live children, exact: the scheduler's run time of every
    thread (``/proc/PID/task/TID/schedstat``, ns), plus the parent's cutime+cstime (children
    that exited: the kernel sums their time in ns and reports it in clock ticks).

    /proc/PID/stat's utime+stime are sampled in whole clock ticks per process: a child that runs
    for bursts shorter than a tick is often charged nothing, so summed over many processes the
    ticks lose most of the CPU (a paced prefork run read ~0 by ticks, 1 % of a core exactly).
    """
    total_ns = 0
    for pid in apache_pids(parent):
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total_ns += int(task.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # the thread or process exited meanwhile
    fields = _proc_stat(parent)
    reaped = (int(fields[13]) + int(fields[14])) / clock_ticks_per_s() if fields else 0.0
    return total_ns / 1e9 + reaped


def kib_fields(text: str, names: Sequence[str]) -> dict[str, int]:
    """The ``Name:  123 kB`` fields of a /proc status or smaps_rollup text that are in ``names``."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in names:
            found[key] = int(value.split()[0])
    return found


def _kb_fields(path: str, names: Sequence[str]) -> dict[str, int]:
    with open(path) as handle:
        return kib_fields(handle.read(), names)


def sample_processes(parent: int) -> Sample:
    """Live process count and summed Threads, RSS and PSS (kB; None if any was unreadable)."""
    procs = threads = rss = pss = 0
    readable = True
    for pid in apache_pids(parent):
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            continue
        try:
            count = _kb_fields(f"/proc/{pid}/status", ("Threads",)).get("Threads", 0)
            memory = _kb_fields(f"/proc/{pid}/smaps_rollup", ("Rss", "Pss"))
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile (ESRCH: it was exiting as we read it)
        except OSError:
            readable = False
            count, memory = 0, {}
        threads += count
        procs += 1
        rss += memory.get("Rss", 0)
        pss += memory.get("Pss", 0)
    return {"procs": procs, "threads": threads,
            "rss_kb": rss if readable else None, "pss_kb": pss if readable else None}  # fmt: skip


def sample_cells(prefix: str, samples: Sequence[Mapping[str, int | None]]) -> dict[str, object]:
    """``<prefix>_procs/threads/rss_mb/pss_mb``: maxima over ``samples`` (MB to 2 decimals)."""
    row: dict[str, object] = {}
    for key, column in (("procs", "procs"), ("threads", "threads"),
                        ("rss_kb", "rss_mb"), ("pss_kb", "pss_mb")):  # fmt: skip
        values = [v for s in samples if (v := s[key]) is not None]
        if values and len(values) == len(samples):
            top = max(values)
            row[f"{prefix}_{column}"] = round(top / 1024, 2) if key.endswith("kb") else top
    return row


def cpu_times() -> dict[str, list[int]]:
    """Per-CPU tick counters of /proc/stat (``cpu0``, ``cpu1`` ...: user nice system idle ...)."""
    times = {}
    with open("/proc/stat") as handle:
        for line in handle:
            name, _, rest = line.partition(" ")
            if name.startswith("cpu") and name != "cpu":
                times[name] = [int(x) for x in rest.split()]
    return times


def cpu_busy_cells(
    before: Mapping[str, list[int]], after: Mapping[str, list[int]]
) -> dict[str, object]:
    """cpu0_busy_pct, cpu1_busy_pct (non-idle share) and cpu1_softirq_pct between two readings."""
    cells: dict[str, object] = {}
    for cpu in ("cpu0", "cpu1"):
        if cpu not in before or cpu not in after:
            continue
        delta = [b - a for a, b in zip(before[cpu], after[cpu], strict=False)]
        total = sum(delta[:8])  # user nice system idle iowait irq softirq steal
        if total <= 0:
            continue
        cells[f"{cpu}_busy_pct"] = round(100.0 * (total - delta[3] - delta[4]) / total, 1)
        if cpu == "cpu1":
            cells["cpu1_softirq_pct"] = round(100.0 * delta[6] / total, 1)
    return cells


__all__ = [
    "Sample",
    "apache_pid",
    "apache_pids",
    "clock_ticks_per_s",
    "cpu_busy_cells",
    "cpu_seconds",
    "cpu_times",
    "sample_cells",
    "sample_processes",
]
