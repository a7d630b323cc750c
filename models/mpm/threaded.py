"""What mpm_worker and mpm_event share: children of ThreadsPerChild workers plus a listener.

The parent's maintenance (facts §2.2, §2.3) counts idle *threads* server-wide against
MinSpareThreads / MaxSpareThreads, stops one child per cycle when there are too many, and forks
1, 2, 4 ... 32 children per cycle while there are too few, each bringing ThreadsPerChild threads.
"""

from __future__ import annotations

from mpmsim.models.apache.directives import EffectiveDirectives
from mpmsim.models.mpm.base import Child, ChildState, ServerView, spawn_rate_step


class ThreadedMaintenance:
    """Idle-thread maintenance for worker and event; subclasses say how idle is counted."""

    name = "threaded"
    reached_code = "AH00286"
    near_code = "AH00287"
    full_code = "AH00288"
    busy_code = "AH00289"
    threaded = True
    accept_hands_off = True  # the listener pushes the socket; a worker thread pops it
    accept_fills_first = True  # listener_thread loops while it has idle workers
    listener_disables = False  # worker.c: the listener blocks until a worker is idle

    def __init__(self, directives: EffectiveDirectives) -> None:
        self.d = directives
        self.spawn_rate = 1

    def threads_per_child(self) -> int:
        return self.d.ThreadsPerChild

    def extra_threads_per_child(self) -> int:
        # The listener and the child's main (starter) thread.
        return 2

    def counts_idle(self, child: Child) -> bool:
        """Idle threads of ``child`` count towards MinSpareThreads."""
        return child.state in (ChildState.STARTING, ChildState.READY)

    def free_slots(self, active: int, total: int, unreaped: int) -> int:
        """How many more children may be forked now (``unreaped``: exited, slot still held).

        worker.c ``perform_idle_server_maintenance``: a slot is free when it has DEAD threads
        and no process or a quiescing one, so an exited child's slot is free before it is
        reaped (its threads set SERVER_DEAD as they exit).
        """
        return self.d.process_limit - active

    def may_stop_one(self, active: int, total: int) -> bool:
        """Whether a child may be told to stop in this cycle."""
        return True

    def parent_idle(self, children: list[Child]) -> int:
        """Idle threads of the children that are not stopping and whose idle threads count
        (:meth:`counts_idle`); a starting child's threads all count."""
        idle = 0
        for c in children:
            if c.state != ChildState.QUIESCING and self.counts_idle(c):
                idle += c.threads if c.state == ChildState.STARTING else c.idle_on_scoreboard
        return idle

    def maintain(self, server: ServerView) -> None:
        d = self.d
        live = [c for c in server.children if c.alive]
        active_children = [c for c in live if c.state != ChildState.QUIESCING]
        idle = self.parent_idle(active_children)
        active_threads = sum(c.threads for c in active_children)
        if idle > d.MaxSpareThreads:
            if self.may_stop_one(len(active_children), len(live)):
                ready = [c for c in active_children if c.state == ChildState.READY]
                if ready:
                    # The child with the most idle workers loses the least work.
                    server.stop_child(max(ready, key=lambda c: (c.idle, c.slot)))
            self.spawn_rate = 1
        elif idle < d.MinSpareThreads:
            free = self.free_slots(len(active_children), len(live), server.unreaped)
            if free <= 0:
                if active_threads >= d.MaxRequestWorkers:
                    if idle == 0:
                        server.log(
                            self.reached_code,
                            "server reached MaxRequestWorkers setting, consider raising the "
                            "MaxRequestWorkers setting",
                            once=True,
                        )
                    else:
                        server.log(
                            self.near_code,
                            "server is within MinSpareThreads of MaxRequestWorkers, consider "
                            "raising the MaxRequestWorkers setting",
                            once=True,
                        )
                else:
                    server.log(
                        self.full_code,
                        "scoreboard is full, not at MaxRequestWorkers. Increase ServerLimit.",
                    )
                self.spawn_rate = 1
                return
            n = min(self.spawn_rate, free)
            if self.spawn_rate >= 8:
                server.log(
                    self.busy_code,
                    f"server seems busy, (you may need to increase StartServers, ThreadsPerChild "
                    f"or Min/MaxSpareThreads), spawning {n} children, there are around {idle} "
                    f"idle threads, {len(active_children)} active children, and {len(live)} "
                    f"children that are shutting down",
                )
            for _ in range(n):
                server.spawn_child()
            self.spawn_rate = spawn_rate_step(self.spawn_rate)
        else:
            self.spawn_rate = 1
