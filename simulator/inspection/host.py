"""The machine Apache runs on: the vCPUs its parent may run on (its affinity) and RAM from
``/proc/meminfo``."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from mpmsim.errors import InputError

MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class Host:
    """One machine's size, as the kernel reports it now."""

    hostname: str
    vcpus: int
    """CPUs Apache's parent may run on (its affinity mask, as ``taskset -p`` shows: not the
    host's total)."""
    ram_mib: float
    """MemTotal."""
    available_mib: float
    """MemAvailable: what could be given to new work without swapping."""


def parse_meminfo(text: str) -> dict[str, int]:
    """The kB figures of ``/proc/meminfo`` by name."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            values[name.strip()] = int(fields[0])
    return values


def read_host(meminfo: Path = MEMINFO, pid: int = 0) -> Host:
    """This machine: hostname, the CPUs process ``pid`` may run on (its affinity: Apache's,
    which taskset or a cgroup may confine to fewer than nproc counts here; 0: this process),
    MemTotal and MemAvailable."""
    try:
        values = parse_meminfo(meminfo.read_text())
    except OSError as exc:
        raise InputError(f"cannot read it: {exc.strerror or exc}", file=str(meminfo)) from None
    if "MemTotal" not in values:
        raise InputError("no MemTotal line", file=str(meminfo))
    total = values["MemTotal"] / 1024
    return Host(
        hostname=socket.gethostname(),
        vcpus=_affinity(pid),
        ram_mib=round(total, 1),
        available_mib=round(values.get("MemAvailable", values.get("MemFree", 0)) / 1024, 1),
    )


def _affinity(pid: int) -> int:
    """How many CPUs ``pid`` may run on (this process's when it is gone or not ours to read)."""
    try:
        return len(os.sched_getaffinity(pid))
    except OSError:
        return len(os.sched_getaffinity(0))


__all__ = ["Host", "parse_meminfo", "read_host"]
