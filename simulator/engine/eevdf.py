"""Linux EEVDF (6.6 and later): eligible tasks, virtual deadlines, slices ended at ticks.

Linux 6.6 replaced CFS's pick (smallest vruntime, sleeper credit, wake-up granularity) with
*Earliest Eligible Virtual Deadline First* (``kernel/sched/fair.c``, ``pick_eevdf``); the
shared measurements ran on 6.18. What differs from :class:`mpmsim.engine.cfs.CFSCPU`:

* a woken task is placed at the queue's **average vruntime** ``V`` less the lag it had when it
  slept (``place_entity``, PLACE_LAG), with its **virtual deadline** ``v + base_slice`` (0.75
  ms x (1 + log2 ncpus), ``sysctl_sched_base_slice``). A task that sleeps while still ahead
  of ``V`` (negative lag) stays queued until it is eligible (DELAY_DEQUEUE, 6.12 and later):
  woken before, it keeps its vruntime and deadline, and until then its vruntime counts in
  ``V`` as the queued tasks' do; a positive lag is kept up to
  ``max(2 x slice, tick)``; a task that sleeps past its deadline takes a new one first
  (``update_deadline`` at dequeue). The simulator does not follow most tasks across jobs: as
  cfs keeps vruntimes, it keeps the ``(v, lag, deadline)`` of the request tasks asleep, and a
  wake-up takes the longest asleep's (a known task's own: :meth:`EEVDFCPU.run_task`). So a
  worker's slice runs out across requests, it is preempted mid-request and waits, ahead in
  vruntime, until the average catches up (traced on
  6.18 with a 1 ms handler at 50 clients: 85-100 ms; measurements/README.md). Short jobs of
  other kinds (:meth:`run_queued`) start at lag 0 and are not remembered;
* the next task is, among the **eligible** ones (``v <= V``: not ahead of the average), the one
  with the **earliest deadline**; if none is eligible, the earliest deadline;
* a running task that has used its slice (``v >= d``) gets a new deadline ``v + slice`` at the
  next **tick** (``update_deadline``) and the pick is made again (it may keep the vCPU);
* a wake-up preempts a running task only once that task has used its slice (RUN_TO_PARITY:
  ``protect_slice``), and only if the woken job's deadline is earlier;
* a job past its slice is picked again at its response, as at a tick (the response's write
  wakes the vCPU's softirq thread; :meth:`mpmsim.engine.cfs_queue.CFSRunQueue._preempt_answered`).

A job resumed after a preemption pays one context switch. Event's listener, close and request
jobs share one pool here where the kernel has a task each: on the static page event's
simulated tails come out 25-60 % wider than measured (measurements/README.md), which is why
``bench-1core`` keeps ``cfs``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

import simpy

from mpmsim.engine.burst_credits import BurstState
from mpmsim.engine.cfs import CFSCPU
from mpmsim.engine.job_waits import JobWaits
from mpmsim.engine.sched_tasks import Asleep, Job, done_at_once


class EEVDFCPU(CFSCPU):
    """EEVDF over ``vcpus`` cores (see module doc); accounting and burst credits as :class:`CPU`."""

    def __init__(
        self,
        env: simpy.Environment,
        vcpus: int,
        speed: float = 1.0,
        switch_s: float = 0.0,
        burst: BurstState | None = None,
        tick_hz: float = 250.0,
        scheduler_cpus: int | None = None,
    ) -> None:
        super().__init__(env, vcpus, speed, switch_s, burst, tick_hz, scheduler_cpus=scheduler_cpus)
        self._slice = self._min_gran  # sysctl_sched_base_slice, scaled as min_granularity was
        self._sum_v_queued = 0.0  # of the waiting jobs, in either heap
        self._avg_v = 0.0  # V when the queue last held a task
        # Waiting jobs found ahead of the average (not eligible), by vruntime; ``_queue`` holds
        # the others by deadline. A pick moves those the average has reached back, so it does
        # not pop its way past every ineligible job each time.
        self._ahead: list[tuple[float, int, Job]] = []
        self._lag_limit = max(2.0 * self._slice, self._tick_s)
        # (vruntime, lag, deadline, token) of the request tasks asleep, pooled and known; a
        # token > 0 marks one still queued (DELAY_DEQUEUE), whose vruntime counts in V
        self._asleep: Asleep[tuple[float, float, float, int]] = Asleep()
        self._delayed: list[tuple[float, int]] = []  # (vruntime, token), by vruntime
        self._delayed_v: dict[int, float] = {}  # token -> vruntime of those still queued
        self._sum_v_delayed = 0.0
        self._token = 0

    # -- public ---------------------------------------------------------------------------
    def watch(self, waits: JobWaits) -> None:
        """:meth:`CFSRunQueue.watch`, noting the base slice (the slice a fresh job gets)."""
        super().watch(waits)
        waits.slice_s = self._slice

    def run_queued(self, work_s: float) -> simpy.Event:
        """A short job of another kind: at lag 0, its task's state not remembered."""
        return self._wake_task(work_s, None, pooled=False)

    def run_behind(self, work_s: float) -> simpy.Event:
        """:meth:`run_queued`: a task woken at lag 0 waits behind the eligible ones."""
        return self.run_queued(work_s)

    def run(self, work_s: float, on_start: Callable[[], None] | None = None) -> simpy.Event:
        return self._wake_task(work_s, on_start, pooled=True)

    def _wake_known(
        self,
        work_s: float,
        on_start: Callable[[], None] | None,
        task: object,
        keeps: bool,
        after_s: float,
        end: simpy.Event | None,
    ) -> simpy.Event:
        """A job of ``task`` (:meth:`CFSCPU.run_task`): woken with its own (vruntime, lag,
        deadline) if it has them."""
        return self._wake_task(
            work_s, on_start, pooled=True, task=task, keeps=keeps, after_s=after_s, end=end
        )

    def _wake_task(
        self,
        work_s: float,
        on_start: Callable[[], None] | None,
        *,
        pooled: bool,
        task: object = None,
        keeps: bool = False,
        after_s: float = 0.0,
        end: simpy.Event | None = None,
    ) -> simpy.Event:
        env = self.env
        ev = simpy.Event(env)
        if work_s <= 0.0:
            return done_at_once(ev, on_start, end)
        now = env.now
        if self._idle_wake.on:
            work_s += self._after_idle_s(now)
        if now != self._t:
            self._advance(now)
        v = avg = self._average_v()
        d = None
        state = self._asleep.take(task, pooled)
        if state is not None:
            v_own, lag, d_own, token = state
            self._undelay(token)  # requeued (it was counted in V), or placed anew
            if lag < 0.0 and v_own > avg:
                v, d = v_own, d_own  # still queued (DELAY_DEQUEUE): vruntime, deadline kept
            elif lag > 0.0:
                v = avg - min(lag, self._lag_limit)
        job = Job(ev, work_s + self.job_switch_s, v, on_start)
        job.pooled = pooled
        job.d = v + self._slice if d is None else d
        if self._waits is not None:
            kind = "short" if not pooled else ("task" if task is not None else "pool")
            self._waits.woke(job, kind, now, job.d - job.v)
        if task is not None:
            self._tails.own(job, task, keeps, after_s, end)
        running = self._running
        if len(running) < self.vcpus:
            self._start(job)
            if self._timer_still_fits(job, now):
                return ev
        else:
            curr = self._preemptible(job)
            if curr is None:
                had_queue = self._waiting() > 0
                self._push(job)
                if had_queue and self._timer_at is not None:
                    return ev  # the timer already stops at the next tick
            else:
                running.remove(curr)
                curr.d = curr.v + self._slice
                self._requeue(curr)
                self._start(job)
        self._reschedule(now)
        return ev

    # -- internals --------------------------------------------------------------------------
    def _went_to_sleep(self, jobs: Sequence[Job]) -> None:
        """Remember each task's vruntime, lag and deadline (renewed if passed) as it sleeps.

        One that sleeps ahead of V (negative lag) stays in the run queue (DELAY_DEQUEUE:
        ``dequeue_entity`` returns before ``__dequeue_entity``), so its vruntime still counts
        in V (``avg_vruntime``) until V reaches it, when a pick dequeues it
        (``pick_next_entity``: ``sched_delayed`` -> ``dequeue_entities``; DELAY_ZERO)."""
        if not jobs:
            return
        total, n = self._runnable_v()
        n += len(jobs)
        total += sum(j.v for j in jobs)
        avg = total / n  # V with the ending tasks still counted, as dequeue computes the lag
        asleep = self._asleep
        for job in jobs:
            d = job.d if job.d > job.v else job.v + self._slice
            token = 0
            if job.v > avg:
                self._token = token = self._token + 1
                self._delayed_v[token] = job.v
                self._sum_v_delayed += job.v
                heapq.heappush(self._delayed, (job.v, token))
            asleep.add(job, (job.v, avg - job.v, d, token))
        asleep.bound(self.tasks_alive)

    def _undelay(self, token: int) -> None:
        """The delayed task ``token`` leaves the queue's delayed part (woken, or dequeued)."""
        v = self._delayed_v.pop(token, None) if token else None
        if v is not None:
            self._sum_v_delayed -= v

    def _runnable_v(self) -> tuple[float, int]:
        """The sum of the vruntimes of the tasks in the queue (waiting, running, and asleep
        but still queued) and their number."""
        total = self._sum_v_queued + self._sum_v_delayed
        for j in self._running:
            total += j.v
        return total, self._waiting() + len(self._running) + len(self._delayed_v)

    def _average_v(self) -> float:
        """avg_vruntime: the mean vruntime of the queued tasks (the last one when none); the
        delayed ones V has reached are dequeued first."""
        total, n = self._runnable_v()
        if n:
            self._avg_v = total / n
        delayed = self._delayed
        while delayed and delayed[0][0] <= self._avg_v + 1e-12:
            _, token = heapq.heappop(delayed)
            if token in self._delayed_v:
                self._undelay(token)
                total, n = self._runnable_v()
                if n:
                    self._avg_v = total / n
        return self._avg_v

    def _refresh_deadline(self, job: Job, now: float) -> None:
        """update_deadline as the last tick did it (ticks with no job waiting are not simulated)."""
        if job.v < job.d:
            return
        tick = self._tick_s
        since = now - int(now / tick + 1e-6) * tick
        if since < 0.0:
            since = 0.0
        if job.ran_s > since:  # it was running at that tick
            v_tick = job.v - since
            if v_tick >= job.d:
                job.d = v_tick + self._slice

    def _preemptible(self, job: Job) -> Job | None:
        """The running job ``job`` preempts: one past its slice with a later deadline."""
        best = None
        now = self.env.now
        for curr in self._running:
            self._refresh_deadline(curr, now)
            if curr.v >= curr.d and job.d < curr.d and (best is None or curr.d > best.d):
                best = curr
        return best

    def _push(self, job: Job) -> None:
        self._seq += 1
        self._sum_v_queued += job.v
        heapq.heappush(self._queue, (job.d, self._seq, job))

    def _pop_pick(self) -> Job:
        """pick_eevdf: the earliest deadline among the eligible waiting jobs (ties: the first
        queued); with none eligible, the earliest deadline."""
        queue = self._queue
        ahead = self._ahead
        limit = self._average_v() + 1e-12
        while ahead and ahead[0][0] <= limit:  # the average has reached them: eligible
            _, seq, waiting = heapq.heappop(ahead)
            heapq.heappush(queue, (waiting.d, seq, waiting))
        job = None
        while queue:
            entry = heapq.heappop(queue)
            if entry[2].v <= limit:
                job = entry[2]
                break
            heapq.heappush(ahead, (entry[2].v, entry[1], entry[2]))
        if job is None:  # none eligible: the earliest deadline
            first = min(ahead, key=lambda e: (e[2].d, e[1]))
            ahead.remove(first)
            heapq.heapify(ahead)
            job = first[2]
        self._sum_v_queued -= job.v
        return job

    def _waiting(self) -> int:
        return len(self._queue) + len(self._ahead)

    def _update_min_v(self) -> None:
        """EEVDF keeps no min_vruntime for placement (the average is computed when needed)."""

    def _tick(self) -> None:
        """update_deadline for every running job past its slice; then pick again."""
        for job in list(self._running):
            if job.v < job.d:
                continue
            job.d = job.v + self._slice
            if not self._waiting():
                continue
            self._pick_again(job)

    def _preempt_answered(self, jobs: list[Job]) -> None:
        """A response's write wakes a softirq thread: a job past its slice (``v >= d``) gets a
        new deadline and the pick is made again, as :meth:`_tick` does."""
        now = self.env.now
        for job in jobs:
            self._refresh_deadline(job, now)
            if job.v < job.d or not self._waiting():
                continue
            job.d = job.v + self._slice
            self._pick_again(job)

    def _pick_again(self, job: Job) -> None:
        """The running ``job`` goes back to the queue and the pick is made (it may win)."""
        self._running.remove(job)
        self._push(job)
        nxt = self._pop_pick()
        if nxt is not job:
            job.preempted = True
            job.ran_s = 0.0
            if self._waits is not None:
                self._waits.preempted(job)
            if nxt.preempted:
                nxt.preempted = False
                nxt.left += self.switch_s
        self._start(nxt)

    def _dispatch(self) -> None:
        running = self._running
        while self._waiting() and len(running) < self.vcpus:
            job = self._pop_pick()
            if job.preempted:
                job.preempted = False
                job.left += self.switch_s
            self._start(job)
