"""The scenario skeleton ``mpmsim inspect`` writes: this machine, this server, a load to replace.

Hardware and server are measured or read; the load and the mix are a starting point (the
``ab -n 10000 -c 50`` of a 4 KiB static page) that only the user can replace with the real
traffic, and the file says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from mpmsim.inspection.host import Host

#: The project's allowance for the OS and other processes (see the hardware catalog's sources).
SMALL_RAM_MIB = 2048
RESERVE_SMALL_MIB = 256
RESERVE_MIB = 512
STARTING_LOAD: dict[str, Any] = {"kind": "closed", "clients": 50, "requests": 10000}
STARTING_MIX: list[dict[str, Any]] = [{"name": "static", "response_bytes": 4096}]


def os_reserved_mib(ram_mib: float) -> int:
    """RAM kept for the OS and other processes: 256 MiB up to 2 GiB of RAM, 512 above."""
    return RESERVE_SMALL_MIB if ram_mib <= SMALL_RAM_MIB else RESERVE_MIB


def _plain(value: str) -> int | str:
    """A directive value as YAML should show it: whole numbers as numbers."""
    return int(value) if re.fullmatch(r"\d+", value) else value


def scenario_data(
    host: Host,
    mpm: str,
    directives: Mapping[str, str],
    *,
    listeners: int,
    costs_file: str,
) -> dict[str, Any]:
    """The scenario as a mapping (``mpmsim run`` reads it back through the spec)."""
    name = re.sub(r"[^A-Za-z0-9.-]+", "-", host.hostname).strip("-") or "server"
    server: dict[str, Any] = {"mpm": mpm}
    if listeners > 1:
        server["listeners"] = listeners
    server["directives"] = {key: _plain(value) for key, value in directives.items()}
    return {
        "name": f"inspected-{name}",
        "seed": 1,
        "hardware": {
            "name": name,
            "description": f"{host.hostname} as mpmsim inspect measured it",
            "vcpus": host.vcpus,
            "ram_mib": host.ram_mib,
            "os_reserved_mib": os_reserved_mib(host.ram_mib),
            "sources": {
                "vcpus": "the CPUs Apache's parent may run on (its affinity)",
                "ram_mib": "/proc/meminfo MemTotal",
                "os_reserved_mib": "project assumption: 256 MiB up to 2 GiB of RAM, 512 above",
                "cpu_speed": "not measured: 1.0 is the reference core (bench-1core); "
                "calibrate to refine",
                "host_contention": "not measured (a whole core per vCPU assumed): on a "
                "virtual machine, mpmsim hardware probe --cpu N measures how its host slows "
                "the vCPUs and prints the block to add",
            },
        },
        "costs": costs_file,
        "server": server,
        "load": dict(STARTING_LOAD),
        "mix": [dict(entry) for entry in STARTING_MIX],
    }


def scenario_yaml(data: Mapping[str, Any], header: Sequence[str]) -> str:
    """The scenario as YAML below ``header`` (comment lines without the ``#``)."""
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header)
    return comments + yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)


__all__ = ["os_reserved_mib", "scenario_data", "scenario_yaml"]
