"""mpm_prefork: one single-threaded child process per connection.

Facts (``reference/apache-mpm-facts.md`` §1.1, §2.1): every idle child blocks in ``accept()``; the
child holds itself for the whole connection (reading, handler, blocking writes, keep-alive wait,
lingering close). The parent checks once a second: more than MaxSpareServers idle children →
stop one; fewer than MinSpareServers → fork 1, 2, 4 ... 32 (not the deficit) up to
MaxRequestWorkers children, logging AH00161 once when all slots are used.
"""

from __future__ import annotations

from mpmsim.models.apache.directives import EffectiveDirectives
from mpmsim.models.mpm.base import READY, STARTING, Child, ServerView, spawn_rate_step


class PreforkModel:
    """The prefork MPM."""

    name = "prefork"
    keepalive_holds_worker = True
    write_completion_off_worker = False
    linger_holds_worker = True
    # The child itself sleeps in accept() and in the keep-alive read; waking it is part of the
    # cost model's accept and request CPU, so there is no hand-off to another task.
    switches_per_new_connection = 0
    switches_per_keepalive_request = 0
    switches_per_close = 1  # the child wakes again for the client's FIN in lingering close
    uses_accept_mutex = True
    threaded = False
    accept_hands_off = False  # child_main: accept() and SERVER_BUSY_READ in one run
    accept_fills_first = False  # one connection per wake; exclusive waiters woken in turn
    listener_disables = False
    # prefork.c perform_idle_server_maintenance: every slot used (once per lifetime), and the
    # info-level line of a spawn rate of 8 or more; prefork has no "near" or "full" warning
    reached_code = "AH00161"
    busy_code = "AH00162"

    def __init__(self, directives: EffectiveDirectives) -> None:
        self.d = directives
        self.spawn_rate = 1

    def threads_per_child(self) -> int:
        return 1

    def extra_threads_per_child(self) -> int:
        return 0

    def may_accept(self, child: Child) -> bool:
        return child.state == READY and child.idle > 0

    def on_accept(self, child: Child) -> bool:
        # prefork checks the limit at the top of its loop, before the next accept (l.561-563):
        # the child serves the connection it has and exits afterwards.
        child.conns_accepted += 1
        return False

    def on_connection_closed(self, child: Child) -> bool:
        child.conns_finished += 1
        limit = self.d.MaxConnectionsPerChild
        return limit > 0 and child.conns_accepted >= limit

    def parent_idle(self, children: list[Child]) -> int:
        """Children starting or waiting in accept() (prefork.c: SERVER_STARTING or READY)."""
        return sum(1 for c in children if c.state == STARTING or (c.state == READY and c.idle > 0))

    def maintain(self, server: ServerView) -> None:
        d = self.d
        live = [c for c in server.children if c.alive]
        idle = self.parent_idle(live)
        if idle > d.MaxSpareServers:
            victim = next((c for c in reversed(live) if c.state == READY and c.idle > 0), None)
            if victim is not None:
                server.stop_child(victim)
            self.spawn_rate = 1
        elif idle < d.MinSpareServers:
            # A slot is free when its status is SERVER_DEAD, which only the parent's reaping
            # writes (prefork_note_child_killed): an exited, unreaped child still holds it.
            free = d.process_limit - len(live) - server.unreaped
            if free <= 0:
                server.log(
                    self.reached_code,
                    "server reached MaxRequestWorkers setting, consider raising the "
                    "MaxRequestWorkers setting",
                    once=True,
                )
                self.spawn_rate = 1
                return
            n = min(self.spawn_rate, free)
            if self.spawn_rate >= 8:
                server.log(
                    self.busy_code,
                    f"server seems busy, (you may need to increase StartServers, or "
                    f"Min/MaxSpareServers), spawning {n} children, there are {idle} idle, "
                    f"and {len(live)} total children",
                )
            for _ in range(n):
                server.spawn_child()
            self.spawn_rate = spawn_rate_step(self.spawn_rate)
        else:
            self.spawn_rate = 1
