"""The kernel's OOM killer among Apache's children: the one holding the most memory goes.

Linux's ``oom_kill_process`` picks the task with the highest ``oom_badness`` (its resident
memory, page tables and swap); here a child's own memory and its connections' buffers. Its
connections fail with it, and its slot is freed as any exited child's (``Server.exit_child``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpmsim.models.mpm.base import DEAD, Child

if TYPE_CHECKING:
    from mpmsim.engine.server import Server


def kill_largest_child(server: Server) -> Child | None:
    """End the child of ``server`` holding the most memory (None when no child is alive)."""
    live = [c for c in server.table.children if c.state != DEAD]
    if not live:
        return None
    conn_mib = server.overheads.conn_mib
    victim = max(live, key=lambda c: (c.memory_mib + c.conns * conn_mib, c.conns))
    server.oom_kills += 1
    server.log("OOM", "Out of memory: Killed process (apache2)")
    server.busy -= victim.busy
    server.conns_open -= victim.conns
    server.conn_memory.killed(victim)
    server.exit_child(victim)
    return victim
