"""Linux CFS on the machine's vCPUs: time slices, ticks, vruntime order and wake-up preemption.

Processor sharing (:class:`mpmsim.engine.cpu.CPU`) serves every runnable job at once at an equal
rate, so equal jobs finish in the order they came and a long job is slowed as much as a short
one. Linux 6.1 (Debian 12's kernel) runs the Completely Fair Scheduler, ``kernel/sched/fair.c``:

* each vCPU runs **one task at a time**, picked as the runnable task with the smallest
  *vruntime* (CPU time received; all Apache tasks have the same nice, so no weighting);
* a woken task is placed at ``max(its vruntime, min_vruntime - sched_latency / 2)``
  (``place_entity``, GENTLE_FAIR_SLEEPERS): the simulator does not follow most tasks across
  jobs, so a job takes the vruntime of the longest asleep (a worker that slept longer than it
  takes the queue to move ``sched_latency / 2`` would get that much more credit; see
  ``sleeper_credit``); a job of a known task (:meth:`CFSCPU.run_task`: a prefork or worker
  worker pinned to its keep-alive connection) takes that task's own;
* the woken task preempts the running one when that one's vruntime exceeds it by more than
  ``sched_wakeup_granularity`` (1 ms x (1 + log2 ncpus), ``check_preempt_wakeup`` /
  ``wakeup_preempt_entity``);
* the running task is preempted only at a scheduler **tick** (CONFIG_HZ, 250 on Debian) once it
  has run its ideal slice, ``sched_latency / nr_running`` but at least
  ``sched_min_granularity`` (0.75 ms x scale), or once it has run the minimum granularity and
  leads the leftmost task by more than that slice (``check_preempt_tick``).

So short jobs finish within their first turn, in wake-up order, and a job longer than a slice
waits behind every task woken meanwhile: CPU-bound requests get the long tails real servers
show. A job resumed after a preemption pays one context switch (``switch_s``) more of work.

The vCPUs share one run queue (ideal load balancing). Burst credits and throttling are the
processor-sharing CPU's own (:class:`CPU`): a throttled machine runs each job at
``baseline_fraction`` of the speed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

import simpy

from mpmsim.engine.cpu import CPU, BurstState
from mpmsim.engine.sched_tasks import Asleep, Job, Tails, done_at_once
from mpmsim.engine.simpy_internals import fire_now

# kernel/sched/fair.c defaults, each scaled by 1 + log2(min(ncpus, 8)).
_CFS_WAKEUP_GRANULARITY_S = 0.001
#: sched_nr_latency: beyond this many tasks the period grows instead of the slices shrinking
_NR_LATENCY = 8
_EPS_S = 1e-12


class CFSCPU(CPU):
    """Completely Fair Scheduler over ``vcpus`` cores of relative ``speed`` (see module doc).

    ``run(work_s)`` returns a SimPy event that succeeds when ``work_s`` seconds of reference-core
    work have been served to this job; the accounting attributes are :class:`CPU`'s.
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
    ) -> None:
        super().__init__(env, vcpus, speed, switch_s, burst)
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

    # -- public ---------------------------------------------------------------------------
    def run(self, work_s: float, on_start: Callable[[], None] | None = None) -> simpy.Event:
        return self._wake(work_s, on_start, queued=False)

    def run_task(
        self,
        work_s: float,
        on_start: Callable[[], None] | None,
        task: object,
        keeps: bool,
        after_s: float = 0.0,
    ) -> simpy.Event:
        """A job of ``task``: woken with its own vruntime if it has one (a worker that waited
        for its keep-alive connection's next request), else one of the sleepers'.

        The event fires once ``work_s`` is served; the task then goes on with ``after_s`` (the
        request's tail after its response). A job of the same task that comes while it still
        runs or waits for a vCPU is added to it: the task's read finds the next request, and
        it goes on without sleeping or being woken (see :meth:`_go_on`).
        """
        live = self._tails.find(task)
        if live is not None:
            return self._go_on(live, work_s, after_s, keeps)
        return self._wake_known(work_s + after_s, on_start, task, keeps, after_s)

    def _wake_known(
        self,
        work_s: float,
        on_start: Callable[[], None] | None,
        task: object,
        keeps: bool,
        after_s: float,
    ) -> simpy.Event:
        """Wake a job of ``task`` (the scheduler's own placement; EEVDF overrides it)."""
        return self._wake(work_s, on_start, queued=False, task=task, keeps=keeps, after_s=after_s)

    def _go_on(self, job: Job, work_s: float, after_s: float, keeps: bool) -> simpy.Event:
        """``job``'s task, still running (or runnable) on its last request's tail, takes
        ``work_s`` more at once: ``ap_process_http_sync_connection`` reads the next request
        from the connection, already there, without sleeping in poll(). It keeps its vCPU, its
        vruntime and its slice; the wake-up's switch is charged all the same, so the CPU per
        request does not depend on how often this happens."""
        now = self.env.now
        if self._running or self._queue:
            self._advance(now)
        ev = simpy.Event(self.env)
        job.left += work_s + after_s + self.job_switch_s
        job.ev = ev
        self._tails.own(job, job.task, keeps, after_s)
        if job in self._running:
            self._reschedule(now)
        return ev

    def run_queued(self, work_s: float) -> simpy.Event:
        """A short job placed behind the runnable ones, its task's vruntime not remembered.

        The sleepers' vruntimes (see the module doc) stand for the request-serving tasks,
        whose own history makes the tails of CPU-bound requests. A short job of another
        kind (event's close after the client's FIN: a thread switch and a read) taken from
        them would inherit a vruntime up to a request's run time ahead of or behind the
        others and so jump the queue or starve at random, and, put back, would spread the
        request tasks' vruntimes apart. The real kernel (EEVDF, Linux 6.6 and later) places
        a woken task at lag 0, behind those already waiting; here it takes the vruntime of
        the task that last went to sleep (the back of the runnable band) and leaves the
        sleepers untouched.
        """
        return self._wake(work_s, None, queued=True)

    def run_behind(self, work_s: float) -> simpy.Event:
        """A short job placed at the largest vruntime of the runnable jobs (at min_vruntime
        with none): event's listener, which under a saturated core waits five to eight times
        as long as the workers it feeds (measurements/README.md, "By thread")."""
        return self._wake(work_s, None, queued=True, behind=True)

    def _wake(
        self,
        work_s: float,
        on_start: Callable[[], None] | None,
        *,
        queued: bool,
        task: object = None,
        keeps: bool = False,
        after_s: float = 0.0,
        behind: bool = False,
    ) -> simpy.Event:
        env = self.env
        ev = simpy.Event(env)
        if work_s <= 0.0:
            return done_at_once(ev, on_start)
        now = env.now
        running = self._running
        if running or self._queue:
            self._advance(now)
            self._update_min_v()
        elif now != self._t:
            self._advance(now)  # idle since: only the clock and the credits move
        if behind:
            v = max((j.v for j in running), default=self._min_v)
            if self._queue:
                v = max(v, max(q[0] for q in self._queue))
        elif queued:
            pool = self._sleepers.pool
            v = pool[-1] if pool else self._min_v
        else:
            v = self._min_v - self._credit
            own = self._sleepers.take(task)
            if own is not None and own > v:
                v = own
        job = Job(ev, work_s + self.job_switch_s, v, on_start)
        job.pooled = not queued
        if task is not None:
            self._tails.own(job, task, keeps, after_s)
        if len(running) < self.vcpus:
            self._start(job)
            if self._timer_still_fits(job, now):
                return ev
        elif self._queue and self._timer_at is not None and not self._preempts(job):
            self._push(job)  # the timer already stops at the next tick for the waiting jobs
            return ev
        else:
            # check_preempt_wakeup: the running job furthest ahead in vruntime is the candidate.
            curr = max(running, key=_vruntime)
            if curr.v - job.v > self._wakeup_gran:
                running.remove(curr)
                self._requeue(curr)
                self._start(job)
            else:
                self._push(job)
        self._reschedule(now)
        return ev

    def _timer_still_fits(self, job: Job, now: float) -> bool:
        """The pending timer stays right for ``job``, just started on a free vCPU.

        It does if it fires before the job could end (the others' rate does not change) and
        no throttling can intervene first.
        """
        timer_at = self._timer_at
        return (
            timer_at is not None
            and timer_at <= now + (job.left - job.after) / self._job_rate
            and timer_at <= self._credit_horizon
            and self._cap == self._available
        )

    def _preempts(self, job: Job) -> bool:
        """check_preempt_wakeup: ``job`` leads the furthest-ahead running job by > the gran."""
        return max(j.v for j in self._running) - job.v > self._wakeup_gran

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
            rate = self._job_rate
            work = dt * rate
            for job in running:
                job.left -= work
                job.v += dt
                job.ran_s += dt
            self.work_done_s += work * k
            self.busy_core_s += dt * busy
        if self.throttled:
            self.throttled_s += dt
        if self._burst is not None:
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
        if self._burst is not None and not self._burst.unlimited and not self.throttled:
            dt = self._until_credits_run_out(len(running), now, dt)
        self._timer_at = now + dt
        timer = self._timer = simpy.Timeout(self.env, dt)
        timer.callbacks.append(self._on_timer)

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
        self._update_min_v()
        self._reschedule(now)
        if done:
            self._tails.ended(done)
            self._went_to_sleep([job for job in done if job.pooled])
        for ev in answered:
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


def _vruntime(job: Job) -> float:
    return job.v
