"""A scheduler's runnable job and the remembered states of its sleeping tasks.

Shared by the two Linux schedulers, :mod:`mpmsim.engine.cfs` and :mod:`mpmsim.engine.eevdf`:
a :class:`Job` is one task woken with work to do, :func:`done_at_once` ends one that has
none, and :class:`Asleep` keeps what the scheduler remembers of the tasks asleep (CFS: a
vruntime; EEVDF: vruntime, lag and deadline) until they wake again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import simpy

T = TypeVar("T")


class Job:
    """One runnable job: a task woken with ``left`` seconds of reference-core work to do."""

    __slots__ = (
        "after", "d", "ev", "keeps", "left", "on_start", "pooled", "preempted", "ran_s", "task",
        "v",
    )  # fmt: skip

    def __init__(
        self, ev: simpy.Event, left: float, v: float, on_start: Callable[[], None] | None
    ) -> None:
        self.ev: simpy.Event | None = ev  # fires when ``left`` is down to ``after``
        self.after = 0.0  # work it goes on with once ``ev`` has fired (after the response)
        self.on_start = on_start  # called when it first gets a vCPU
        self.left = left  # reference-core seconds still to serve
        self.v = v  # vruntime
        self.ran_s = 0.0  # run time in its current turn on a vCPU
        self.preempted = False
        self.d = 0.0  # virtual deadline (EEVDF)
        self.pooled = True  # its task's vruntime goes back to the sleepers when it ends
        self.task: object = None  # a known task (run_task), or None: one of the sleepers
        self.keeps = False  # its task's state is kept for it (not pooled) when it ends


def done_at_once(ev: simpy.Event, on_start: Callable[[], None] | None) -> simpy.Event:
    """A job without work: it starts and ends now."""
    if on_start is not None:
        on_start()
    ev.succeed()
    return ev


class Asleep(Generic[T]):
    """The remembered states of tasks asleep (a vruntime, or EEVDF's (v, lag, deadline)).

    ``pool`` stands for the anonymous request tasks, the longest asleep first (a wake-up takes
    the first: accept() and glibc's condition variables wake the longest waiter); ``own``
    holds known tasks' (run_task: a worker pinned to a keep-alive connection), the first asleep
    first. :meth:`bound` keeps at most ``tasks_alive`` of each.
    """

    __slots__ = ("own", "pool")

    def __init__(self) -> None:
        self.pool: deque[T] = deque()
        self.own: dict[object, T] = {}

    def take(self, task: object, pooled: bool = True) -> T | None:
        """The state a waking job starts from: its known task's own, else (if ``pooled``)
        the longest asleep of the pool; None when there is none."""
        state = self.own.pop(task, None) if task is not None else None
        if state is None and pooled and self.pool:
            state = self.pool.popleft()
        return state

    def add(self, job: Job, state: T) -> None:
        """``job`` ended and its task sleeps with ``state``: its own if it keeps it."""
        if job.keeps:
            self.own[job.task] = state
        else:
            self.pool.append(state)

    def bound(self, limit: int) -> None:
        """Forget the longest asleep beyond ``limit`` in each."""
        pool, own = self.pool, self.own
        while len(pool) > limit:
            pool.popleft()
        while len(own) > limit:
            del own[next(iter(own))]
