"""Apache's children as the parent's scoreboard holds them: slots, counts, and exits not yet reaped.

A child takes the lowest free scoreboard slot when it is forked. When it exits, its slot stays
taken until the parent reaps it (``ap_wait_or_timeout`` in the parent's loop, after the
maintenance that ends its 1 s sleep; see :mod:`mpmsim.engine.parent`). The table also counts
the processes and threads alive (the parent included) and their peaks, which the recorder
samples, and the worker threads of live children that have served (``Child.used``) with their
peak.
"""

from __future__ import annotations

from mpmsim.models.mpm.base import Child


class ProcessTable:
    """The children of one server, their scoreboard slots, and the processes and threads alive."""

    def __init__(self, threads_per_child: int, extra_threads: int, child_mib: float) -> None:
        self._tpc = threads_per_child
        self._extra = extra_threads
        self._child_mib = child_mib
        self.children: list[Child] = []
        self._next_slot = 0
        self._free_slots: list[int] = []
        self._unreaped: list[Child] = []  # exited, their slots held until the parent reaps
        self.processes = 1  # the parent
        self.threads = 1
        self.processes_peak = 1
        self.threads_peak = 1
        self.threads_used = 0  # worker threads of live children that have served
        self.threads_used_peak = 0
        self.spawned = 0

    @property
    def unreaped(self) -> int:
        """Children that have exited but whose scoreboard slots the parent has not freed yet."""
        return len(self._unreaped)

    def fork(self, now_s: float) -> Child:
        """A new child in the first free slot (a slot freed by a reap, else a new one)."""
        slot = self._free_slots.pop() if self._free_slots else self._next_slot
        if slot == self._next_slot:
            self._next_slot += 1
        child = Child(
            slot=slot,
            threads=self._tpc,
            extra_threads=self._extra,
            memory_mib=self._child_mib,
            started_s=now_s,
        )
        self.children.append(child)
        self.spawned += 1
        self.processes += 1
        self.threads += self._tpc + self._extra
        self.processes_peak = max(self.processes_peak, self.processes)
        self.threads_peak = max(self.threads_peak, self.threads)
        return child

    def exited(self, child: Child) -> None:
        """``child`` is gone; its slot waits for the parent's reap."""
        self.children.remove(child)
        self._unreaped.append(child)
        self.processes -= 1
        self.threads -= child.threads + child.extra_threads
        self.threads_used -= child.used

    def served(self, child: Child, used: int) -> None:
        """``used`` workers of ``child`` have served now (one more than before, or as many)."""
        self.threads_used += used - child.used
        child.used = used
        if self.threads_used > self.threads_used_peak:
            self.threads_used_peak = self.threads_used

    def reap(self) -> None:
        """The parent reaps the children that exited: their slots are free again."""
        for child in self._unreaped:
            self._free_slots.append(child.slot)
        self._unreaped.clear()
