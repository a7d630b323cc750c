"""What ``mpmsim inspect`` found: the server, its memory, and how many workers fit in RAM.

Two answers to "how many workers fit", each with what it assumes:

- apache2buddy's rule: (RAM - reserved) / the largest child's RSS children. RSS counts every
  page a child maps, so the pages all children share (code, configuration) are charged once
  per child: a safe but low figure.
- mpmsim's: (RAM - reserved - parent - shared) / one child's cost, where a child costs its
  private memory (measured) plus each of its connections (the cost model's connection_kib;
  event counts AsyncRequestWorkerFactor more): PSS-like, shared pages once, as the engine does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from mpmsim.inspection.apachectl import ServerInfo
from mpmsim.inspection.host import Host
from mpmsim.inspection.process_memory import MemoryProfile
from mpmsim.models.apache.config_file import ApacheConfig
from mpmsim.models.apache.directives import EffectiveDirectives
from mpmsim.models.costs import CostModel
from mpmsim.models.mpm.registry import kept_connection_kib, listener_held


@dataclass(frozen=True)
class Capacity:
    """Workers that fit in RAM by apache2buddy's rule and by mpmsim's (MiB, whole children)."""

    usable_mib: float
    workers_per_child: int
    buddy_child_mib: float
    buddy_children: int
    buddy_workers: int
    fixed_mib: float
    child_mib: float
    children: int
    workers: int
    configured_workers: int
    configured_buddy_mib: float
    configured_mib: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def capacity(
    usable_mib: float,
    memory: MemoryProfile,
    costs: CostModel,
    directives: EffectiveDirectives,
    *,
    mpm: str,
    threads_per_child: int,
) -> Capacity:
    """Both figures for ``usable_mib`` of RAM; ``threads_per_child`` as the engine counts them."""
    per_child = 1 if mpm == "prefork" else directives.ThreadsPerChild
    conns = per_child * (1 + directives.async_factor_effective if mpm == "event" else 1)
    child = costs.process_mib + threads_per_child * costs.thread_mib
    child += conns * costs.connection_kib / 1024
    held = listener_held(mpm, directives.KeepAlive, per_child, directives.async_factor_effective)
    child += held * kept_connection_kib(costs, mpm) / 1024
    fixed = costs.parent_mib + costs.shared_mib
    buddy = memory.child_rss_max_mib
    buddy_children = int(usable_mib // buddy) if buddy > 0 else 0
    children = max(0, int((usable_mib - fixed) // child)) if child > 0 else 0
    configured = math.ceil(directives.MaxRequestWorkers / per_child)
    return Capacity(
        usable_mib=round(usable_mib, 1),
        workers_per_child=per_child,
        buddy_child_mib=buddy,
        buddy_children=buddy_children,
        buddy_workers=buddy_children * per_child,
        fixed_mib=round(fixed, 3),
        child_mib=round(child, 3),
        children=children,
        workers=children * per_child,
        configured_workers=directives.MaxRequestWorkers,
        configured_buddy_mib=round(configured * buddy, 1),
        configured_mib=round(fixed + configured * child, 1),
    )


@dataclass(frozen=True)
class Inspection:
    """Everything ``mpmsim inspect`` learnt about one running Apache."""

    pid: int
    server: ServerInfo
    config: ApacheConfig
    directives: EffectiveDirectives
    notes: tuple[str, ...]
    """Apache's start-up adjustments and disagreements between the binary and the files."""
    host: Host
    os_reserved_mib: int
    memory: MemoryProfile
    costs: CostModel
    capacity: Capacity

    def to_dict(self) -> dict[str, Any]:
        """JSON form: one object, figures in MiB."""
        return {
            "pid": self.pid,
            "apache": {
                "version": self.server.version,
                "binary": str(self.server.invocation.binary),
                "mpm": self.server.mpm,
                "modules": [{"name": n, "kind": k} for n, k in self.server.modules],
                "server_root": str(self.server.server_root),
                "config_file": str(self.server.config_file),
                "files_read": list(self.config.files),
                "variables_from": self.server.variables_from,
            },
            "directives": self.config.directives,
            "effective": self.directives.as_dict(),
            "notes": list(self.notes),
            "host": asdict(self.host) | {"os_reserved_mib": self.os_reserved_mib},
            "memory": self.memory.to_dict(),
            "costs": {
                "parent_mib": self.costs.parent_mib,
                "shared_mib": self.costs.shared_mib,
                "process_mib": self.costs.process_mib,
                "thread_mib": self.costs.thread_mib,
            },
            "capacity": self.capacity.to_dict(),
        }


__all__ = ["Capacity", "Inspection", "capacity"]
