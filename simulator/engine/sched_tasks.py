"""A scheduler's runnable job and the remembered states of its sleeping tasks.

Shared by the two Linux schedulers, :mod:`mpmsim.engine.cfs` and :mod:`mpmsim.engine.eevdf`:
a :class:`Job` is one task woken with work to do, :func:`done_at_once` ends one that has
none, :class:`Asleep` keeps what the scheduler remembers of the tasks asleep (CFS: a
vruntime; EEVDF: vruntime, lag and deadline) until they wake again, and :class:`Tails` the
known tasks still on a request's tail after its response.
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
        "after", "d", "end", "ev", "keeps", "left", "on_start", "pooled", "preempted", "ran_s",
        "task", "v",
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
        self.end: simpy.Event | None = None  # fires when the job ends (its tail done)


def chain(ev: simpy.Event, end: simpy.Event) -> None:
    """``end`` succeeds once ``ev`` has (a job's end, where the job has no tail to carry it)."""

    def fire(_ev: simpy.Event) -> None:
        end.succeed()

    ev.callbacks.append(fire)


def done_at_once(
    ev: simpy.Event, on_start: Callable[[], None] | None, end: simpy.Event | None = None
) -> simpy.Event:
    """A job without work: it starts and ends now (``end``, if given, with it)."""
    if on_start is not None:
        on_start()
    ev.succeed()
    if end is not None:
        chain(ev, end)
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


class Tails:
    """The known tasks whose job still runs a request's tail after its response.

    ``run_task``'s ``after_s``: httpd's ``ap_process_http_sync_connection`` (prefork, worker)
    writes the response, runs the request's tail (the access log, the pool cleanup) and reads
    its connection again. A job of the same task that comes before the tail ends is added to
    the live one (the scheduler's ``_go_on``): the read finds the request already there.
    """

    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live: dict[object, Job] = {}

    def find(self, task: object) -> Job | None:
        """The live job of ``task``, if it is still on its tail (or before it)."""
        return self.live.get(task) if self.live else None

    def own(
        self, job: Job, task: object, keeps: bool, after_s: float, end: simpy.Event | None = None
    ) -> None:
        """``job`` is ``task``'s (just woken, or live and going on with a next request): with
        a tail, the task is live until the job ends, and ``end`` (if given) succeeds then
        (:meth:`ended`); without one, it is not, and ``end`` succeeds with the job's event."""
        job.task = task
        job.keeps = keeps
        job.after = after_s
        if after_s > 0.0:
            self.live[task] = job
            job.end = end
            return
        if self.live:
            self.live.pop(task, None)
        if end is not None:
            assert job.ev is not None
            chain(job.ev, end)

    def answered(self, running: list[Job], limit: float) -> list[tuple[Job, simpy.Event]]:
        """The ``running`` jobs served up to their tail, with their events: they go on with it."""
        if not self.live:
            return []
        out = []
        for job in running:
            if job.after and job.left - job.after <= limit:
                assert job.ev is not None
                out.append((job, job.ev))
                job.ev = None
                job.after = 0.0
        return out

    def ended(self, jobs: list[Job]) -> None:
        """``jobs`` ended: the tasks that ran their tail sleep in their read."""
        if self.live:  # a job with an ``end`` had a tail, so its task is live until now
            for job in jobs:
                if job.after == 0.0 and job.task is not None:
                    self.live.pop(job.task, None)
                end = job.end
                if end is not None:
                    job.end = None
                    end.succeed()
