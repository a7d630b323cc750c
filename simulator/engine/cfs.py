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

* a job that has run past its slice is preempted **at its response** when others wait
  (:meth:`CFSRunQueue._preempt_answered`): writing the response on the loopback raises the
  network softirq on the writer's vCPU, and a softirq thread woken there takes it from a
  task past its slice. What wakes is not traced; the outcome is measured: Apache's threads
  sit in the scoreboard's L state (after the response, before the close) while they wait,
  34 of 35 busy at the 1 ms handler and 50 clients, 119 of 133 at 150, 393 of 395 at 400
  (measurements/cpu-bound, event), and a traced prefork task ran 0.86 ms (median) before
  it was switched out still runnable, about where a ~1 ms request writes its response
  (measurements/README.md, "The kernel's scheduler, traced"). The request's tail then waits
  for the task's next turn, and a client that reads until the server closes (ab without
  ``-k``) with it.

So short jobs finish within their first turn, in wake-up order, and a job longer than a slice
waits behind every task woken meanwhile: CPU-bound requests get the long tails real servers
show. A job resumed after a preemption pays one context switch (``switch_s``) more of work.

The run queue itself (slices, ticks, the timer) is :mod:`mpmsim.engine.cfs_queue`; this module
places woken jobs. The vCPUs share one run queue (ideal load balancing). Burst credits and
throttling are the processor-sharing CPU's own (:class:`mpmsim.engine.cpu.CPU`): a throttled
machine runs each job at ``baseline_fraction`` of the speed.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from mpmsim.engine.cfs_queue import CFSRunQueue
from mpmsim.engine.sched_tasks import Job, done_at_once


class CFSCPU(CFSRunQueue):
    """Completely Fair Scheduler over ``vcpus`` cores of relative ``speed`` (see module doc).

    ``run(work_s)`` returns a SimPy event that succeeds when ``work_s`` seconds of reference-core
    work have been served to this job; the accounting attributes are :class:`CPU`'s. This class
    places woken jobs; the run queue's slices, ticks and timer are :class:`CFSRunQueue`'s.
    """

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
        end: simpy.Event | None = None,
    ) -> simpy.Event:
        """A job of ``task``: woken with its own vruntime if it has one (a worker that waited
        for its keep-alive connection's next request), else one of the sleepers'.

        The event fires once ``work_s`` is served; the task then goes on with ``after_s`` (the
        request's tail after its response). A job of the same task that comes while it still
        runs or waits for a vCPU is added to it: the task's read finds the next request, and
        it goes on without sleeping or being woken (see :meth:`_go_on`). ``end``, if given,
        succeeds when the job ends, its tail done (the server's close, which a client that
        reads until EOF waits for).
        """
        live = self._tails.find(task)
        if live is not None:
            return self._go_on(live, work_s, after_s, keeps, end)
        return self._wake_known(work_s + after_s, on_start, task, keeps, after_s, end)

    def _wake_known(
        self,
        work_s: float,
        on_start: Callable[[], None] | None,
        task: object,
        keeps: bool,
        after_s: float,
        end: simpy.Event | None,
    ) -> simpy.Event:
        """Wake a job of ``task`` (the scheduler's own placement; EEVDF overrides it)."""
        return self._wake(
            work_s, on_start, queued=False, task=task, keeps=keeps, after_s=after_s, end=end
        )

    def _go_on(
        self, job: Job, work_s: float, after_s: float, keeps: bool, end: simpy.Event | None
    ) -> simpy.Event:
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
        self._tails.own(job, job.task, keeps, after_s, end)
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
        end: simpy.Event | None = None,
    ) -> simpy.Event:
        env = self.env
        ev = simpy.Event(env)
        if work_s <= 0.0:
            return done_at_once(ev, on_start, end)
        now = env.now
        if self._idle_wake.on:
            work_s += self._after_idle_s(now)
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
        if self._waits is not None:
            kind = "short" if queued else ("task" if task is not None else "pool")
            self._waits.woke(job, kind, now, 0.0)
        if task is not None:
            self._tails.own(job, task, keeps, after_s, end)
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


def _vruntime(job: Job) -> float:
    return job.v
