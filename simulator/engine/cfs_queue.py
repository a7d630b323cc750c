"""The CFS run queue's clock: which jobs run, for how long, and the one timer that ends them.

:class:`CFSRunQueue` holds the state of the Completely Fair Scheduler (``kernel/sched/fair.c``)
on the machine's vCPUs, a shared run queue ordered by vruntime, and moves it on in time:

* the running jobs are served at the vCPUs' speed and gain vruntime (``update_curr``);
* min_vruntime follows the leftmost task and never moves back (``update_min_vruntime``);
* at each scheduler **tick** a running job that has had its ideal slice, or that leads the
  leftmost waiting one by more than that slice, yields its vCPU (``check_preempt_tick``,
  ``sched_slice``); a resumed job pays one context switch;
* one SimPy timer stands for the next event of the queue: a job's completion (or the end of
  its response, before its tail), the next tick while jobs wait, or the credits running out.

Where a woken job is placed in the queue, and whether it preempts, is :class:`CFSCPU`'s
(``mpmsim.engine.cfs``); EEVDF (``mpmsim.engine.eevdf``) overrides the pick and the tick.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import simpy

from mpmsim.engine.burst_credits import BurstState
from mpmsim.engine.cpu import CPU
from mpmsim.engine.job_waits import JobWaits
from mpmsim.engine.sched_tasks import Asleep, Job, Tails
from mpmsim.engine.simpy_internals import fire_now, schedule_call

# kernel/sched/fair.c defaults, each scaled by 1 + log2(min(ncpus, 8)).
_CFS_WAKEUP_GRANULARITY_S = 0.001
#: sched_nr_latency: beyond this many tasks the period grows instead of the slices shrinking
_NR_LATENCY = 8
_EPS_S = 1e-12


class CFSRunQueue(CPU):
    """The run queue and clock of CFS over ``vcpus`` cores of relative ``speed``.

    Subclasses say where a woken job goes (:class:`mpmsim.engine.cfs.CFSCPU`).
    """

    runs_at_once = False  # a woken task waits for its turn on a vCPU

    def __init__(
        self,
        env: simpy.Environment,
        vcpus: int,
        speed: float = 1.0,
        switch_s: float = 0.0,
        burst: BurstState | None = None,
        tick_hz: float = 250.0,
        sleeper_credit: float = 1.0,
        scheduler_cpus: int | None = None,
    ) -> None:
        super().__init__(env, vcpus, speed, switch_s, burst, scheduler_cpus)
        scale = self._latency / 0.006
        self._wakeup_gran = _CFS_WAKEUP_GRANULARITY_S * scale
        self._tick_s = 1.0 / tick_hz
        #: share of sched_latency / 2 a woken job is placed before min_vruntime (0 to 1)
        self._credit = sleeper_credit * self._latency / 2.0
        self._queue: list[tuple[float, int, Job]] = []  # runnable, waiting for a vCPU
        self._running: list[Job] = []
        self._min_v = 0.0
        self._job_rate = speed  # reference-core seconds per second of a running job
        # vruntimes of the tasks asleep (pooled and known), at most ``tasks_alive`` of each
        self._sleepers: Asleep[float] = Asleep()
        self.tasks_alive = 1
        self._tails = Tails()  # tasks whose job is on its tail (``run_task``'s ``after_s``)
        self._waits: JobWaits | None = None  # a diagnostic record of the jobs' waits

    def watch(self, waits: JobWaits) -> None:
        """Record every job's waits in ``waits`` from now on (:mod:`mpmsim.engine.job_waits`)."""
        self._waits = waits

    # -- public ---------------------------------------------------------------------------
    def set_switch_cost(self, switch_s: float) -> None:
        """Change the cost of one context switch (charged when a preempted job resumes)."""
        self.switch_s = switch_s

    @property
    def runnable(self) -> int:
        """Jobs running or waiting for a vCPU."""
        return len(self._running) + self._waiting()

    def _waiting(self) -> int:
        """Jobs waiting for a vCPU."""
        return len(self._queue)

    # -- internals --------------------------------------------------------------------------
    def _push(self, job: Job) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (job.v, self._seq, job))

    def _requeue(self, job: Job) -> None:
        job.preempted = True
        job.ran_s = 0.0
        if self._waits is not None:
            self._waits.preempted(job)
        self._push(job)

    def _advance(self, now: float) -> None:
        dt = now - self._t
        if dt <= 0.0:
            return
        self._t = now
        running = self._running
        k = len(running)
        busy = k * (self._available / self.vcpus)
        if k:
            self.busy_until = now
            rate = self._job_rate
            work = dt * rate
            for job in running:
                job.left -= work
                job.v += dt
                job.ran_s += dt
            self.work_done_s += work * k
            self.busy_core_s += dt * busy
        b = self._burst
        if b is not None:
            if b.throttled:
                self.throttled_s += dt
            self._account_credits(dt, busy)

    def _update_min_v(self) -> None:
        """min_vruntime: the smallest vruntime running or queued, never moving back."""
        low = None
        for j in self._running:
            if low is None or j.v < low:
                low = j.v
        if self._queue:
            lv = self._queue[0][0]
            if low is None or lv < low:
                low = lv
        if low is not None and low > self._min_v:
            self._min_v = low

    def _ideal_slice(self) -> float:
        """sched_slice: the period (sched_latency, or nr x min granularity) over the tasks."""
        nr = (len(self._running) + len(self._queue)) / self.vcpus
        if nr <= _NR_LATENCY:
            return max(self._latency / max(nr, 1.0), self._min_gran)
        return self._min_gran

    def _tick(self) -> None:
        """check_preempt_tick for every running job; the leftmost waiting ones take their place."""
        queue = self._queue
        if not queue:
            return
        ideal = self._ideal_slice()
        for job in list(self._running):
            if not queue or queue[0][0] >= job.v:
                continue
            if job.ran_s > ideal or (job.ran_s >= self._min_gran and job.v - queue[0][0] > ideal):
                self._running.remove(job)
                self._requeue(job)
                self._dispatch()

    def _preempt_answered(self, jobs: list[Job]) -> None:
        """``jobs`` just wrote their responses and go on with their tails: one that has run
        past its ideal slice yields its vCPU to the leftmost waiting job, if that one is
        behind it in vruntime (see :mod:`mpmsim.engine.cfs`: the response's write wakes a
        softirq thread, which preempts a task past its slice)."""
        ideal = self._ideal_slice()
        for job in jobs:
            if job.ran_s > ideal and self._queue and self._queue[0][0] < job.v:
                self._running.remove(job)
                self._requeue(job)
                self._dispatch()

    def _dispatch(self) -> None:
        """Fill idle vCPUs with the leftmost waiting jobs (a resumed one pays a switch)."""
        queue = self._queue
        running = self._running
        while queue and len(running) < self.vcpus:
            job = heapq.heappop(queue)[2]
            if job.preempted:
                job.left += self.switch_s
                job.preempted = False
            self._start(job)

    def _start(self, job: Job) -> None:
        """Put ``job`` on a vCPU (one is free)."""
        self._running.append(job)
        if self._waits is not None:
            self._waits.started(job, self.env.now)
        on_start = job.on_start
        if on_start is not None:
            job.on_start = None
            on_start()

    def _reschedule(self, now: float) -> None:
        """Set one timer: the next completion, tick (while jobs wait) or credit exhaustion."""
        running = self._running
        if not running:
            self._timer = self._timer_at = None
            return
        if self._burst is not None:
            self._throttle_if_exhausted(now)
        self._cap = self._available
        rate = self._job_rate = self.speed * self._available / self.vcpus
        self._rate = rate
        left = running[0].left - running[0].after  # to the next answer or end
        for j in running:
            to_go = j.left - j.after
            if to_go < left:
                left = to_go
        dt = left / rate
        if dt < 0.0:
            dt = 0.0
        if self._waiting():
            tick = self._tick_s
            # The next tick strictly after now (a timer that fired at a tick may read a clock
            # a hair before it).
            to_tick = (int(now / tick + 1e-6) + 1) * tick - now
            if to_tick < dt:
                dt = to_tick
        self._credit_horizon = float("inf")
        b = self._burst
        if b is not None and not b.unlimited and not b.throttled:
            dt = self._until_credits_run_out(len(running), now, dt)
        self._timer_at = now + dt
        self._timer = schedule_call(self.env, dt, self._on_timer)

    def _on_timer(self, timer: simpy.Event) -> None:
        if timer is not self._timer:
            return  # superseded by a later reschedule
        now = self.env.now
        self._advance(now)
        limit = _EPS_S + 4e-16 * now * self._job_rate
        running = self._running
        if (
            len(running) == 1
            and not self._waiting()
            and running[0].left <= limit
            and not running[0].after
        ):
            # The common case below saturation: the only job ends and the CPU goes idle.
            job = running.pop()
            self._timer = self._timer_at = None
            if job.v > self._min_v:
                self._min_v = job.v
            if job.pooled:
                self._went_to_sleep((job,))
            if self._waits is not None:
                self._waits.ended(job, now)
            if job.ev is not None:
                fire_now(job.ev)
            else:
                self._tails.ended([job])  # it ran its tail: asleep in its read
            return
        answered = self._tails.answered(running, limit)
        done = [j for j in running if j.left <= limit]
        if done:
            self._running = [j for j in running if j.left > limit]
        if self._waiting():
            self._dispatch()
            tick = self._tick_s
            phase = now / tick
            if abs(phase - round(phase)) * tick < 1e-9:
                self._tick()
            if answered:
                self._preempt_answered([j for j, _ in answered if j in self._running])
        self._update_min_v()
        self._reschedule(now)
        if done:
            self._tails.ended(done)
            self._went_to_sleep([job for job in done if job.pooled])
            if self._waits is not None:
                for job in done:
                    self._waits.ended(job, now)
        for _, ev in answered:
            fire_now(ev)
        for job in done:
            if job.ev is not None:
                fire_now(job.ev)

    def _went_to_sleep(self, jobs: Sequence[Job]) -> None:
        """The tasks of ``jobs`` (pooled, just ended) sleep: their vruntimes join the sleepers."""
        sleepers = self._sleepers
        for job in jobs:
            sleepers.add(job, job.v)
        sleepers.bound(self.tasks_alive)
