"""A processor-sharing CPU over the machine's vCPUs, with context-switch and burst-credit effects.

Every runnable job (a process or thread that has CPU work to do) shares the vCPUs equally:
with ``n`` jobs on ``c`` vCPUs each progresses at ``speed * min(1, c / n) * efficiency(n)``
reference-core seconds per second. The simulation is event-driven: the CPU keeps a virtual clock
(work received per job so far) and schedules one SimPy event for the next completion; a job that
joins or leaves reschedules it (a superseded timer is ignored when it fires).

``efficiency(n)`` models the scheduler: when more jobs are runnable than vCPUs, CFS gives each a
time slice of ``max(min_granularity, latency / (n / c))`` and pays one context switch per slice,
so the useful fraction is ``slice / (slice + switch)``. Explicit wake-ups (a listener handing a
socket to a worker) are charged by the caller as CPU work. Every job is a task woken and
switched to, so each also pays ``job_switch_s``: what a switch costs beyond its fixed part, which
the server sets from the tasks alive (:meth:`Overheads.switch_costs`).

A burstable machine (AWS T family) is held at its baseline while its credits are exhausted:
the balance is :class:`mpmsim.engine.burst_credits.BurstCredits`, which the CPU tells its busy
vCPUs as time passes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from mpmsim.engine.burst_credits import BurstCredits, BurstState
from mpmsim.engine.idle_wake import IdleWake
from mpmsim.engine.sched_tasks import chain
from mpmsim.engine.sched_tunables import latency_s, min_granularity_s
from mpmsim.engine.simpy_internals import fire_now, schedule_call

if TYPE_CHECKING:
    from mpmsim.models.hardware import IdleWakeSpec

# Relative slack when deciding that a job's work is done (floating point).
_EPS = 1e-12


class CPU:
    """Processor sharing over ``vcpus`` cores of relative ``speed``.

    ``run(work_s)`` returns a SimPy event that succeeds when ``work_s`` seconds of reference-core
    work have been served to this job.
    """

    #: every runnable job is served from the moment it is started (no task waits for its turn)
    runs_at_once = True

    def __init__(
        self,
        env: simpy.Environment,
        vcpus: int,
        speed: float = 1.0,
        switch_s: float = 0.0,
        burst: BurstState | None = None,
        scheduler_cpus: int | None = None,
    ) -> None:
        self.env = env
        self.vcpus = vcpus
        self.speed = speed
        self.switch_s = switch_s
        self.job_switch_s = 0.0  # extra work per job: the switch into its task (tasks alive)
        self.tasks_alive = 1  # processes and threads alive (the server keeps it; CFS uses it)
        # the kernel scales its tunables with the CPUs online, maybe more than the pinned vCPUs
        self._latency = latency_s(scheduler_cpus or vcpus)
        self._min_gran = min_granularity_s(scheduler_cpus or vcpus)
        self._heap: list[tuple[float, int, simpy.Event]] = []
        self._seq = 0
        self._vt = 0.0  # work served to every job present since time 0 (virtual time)
        self._t = 0.0
        self._rate = 0.0  # current per-job rate, reference seconds per second
        self._timer: simpy.Event | None = None  # the pending timer; earlier ones are stale
        self._timer_at: float | None = None  # when it fires
        self._cap = float(vcpus)
        self._credit_horizon = math.inf  # no job mix can exhaust the credits before this
        # accounting
        self.busy_core_s = 0.0  # integral of busy vCPUs (capacity actually used) over time
        self.busy_until = 0.0  # when a job last ran
        self._idle_wake = IdleWake()  # a halted vCPU's wake-up: none until set_idle_wake
        self.work_done_s = 0.0  # reference-core seconds of work served
        self._burst = BurstCredits(burst, vcpus) if burst is not None else None
        self.throttled_s = 0.0  # time held at the baseline
        # capacity(), kept as the credits throttle: every reschedule reads it, and it rarely moves
        self._available = self.capacity()

    # -- public -----------------------------------------------------------------------------
    @property
    def runnable(self) -> int:
        """Jobs being served (under processor sharing every runnable job is)."""
        return len(self._heap)

    def set_idle_wake(self, spec: IdleWakeSpec | None) -> None:
        """What a job costs more after an idle spell (the hardware's ``idle_wake``; None:
        nothing): mpmsim.engine.idle_wake."""
        self._idle_wake = IdleWake(spec)

    def _after_idle_s(self, now: float) -> float:
        """What a job arriving at ``now`` costs more for the idle spell before it (with several
        vCPUs, counted from the last job anywhere: a lower bound); callers check
        ``self._idle_wake.on`` first, so a CPU without it pays nothing per job."""
        if self.runnable:
            return 0.0
        return self._idle_wake.charge(now - self.busy_until)

    @property
    def idle_wake_s(self) -> float:
        """The work the idle wake-ups have added to jobs so far (reference-core seconds)."""
        return self._idle_wake.charged_s

    @property
    def has_idle_vcpu(self) -> bool:
        """Fewer jobs runnable than vCPUs: a job started now finds a vCPU with nothing to run."""
        return self.runnable < self.vcpus

    def run_queued(self, work_s: float) -> simpy.Event:
        """:meth:`run` for a short job woken behind the runnable ones, as EEVDF places it.

        Under processor sharing every job is served from the start, so it is :meth:`run`.
        """
        return self.run(work_s)

    def run_behind(self, work_s: float) -> simpy.Event:
        """:meth:`run` for a short job that waits behind every runnable job (event's listener,
        mpmsim.engine.listener). Under processor sharing every job is served from the start."""
        return self.run(work_s)

    def run_task(
        self,
        work_s: float,
        on_start: Callable[[], None] | None,
        task: object,
        keeps: bool,
        after_s: float = 0.0,
        end: simpy.Event | None = None,
    ) -> simpy.Event:
        """:meth:`run` for a job of a known ``task`` (a worker pinned to a keep-alive
        connection): a scheduler that follows tasks wakes it with that task's own state, kept
        for it when the job ends if ``keeps`` (the task sleeps waiting for the same connection)
        and otherwise given back to the other sleepers. Processor sharing has no such state.

        The event fires when ``work_s`` is served; ``after_s`` (the request's tail after its
        response) is then served as a job of its own, and ``end`` (if given) succeeds when
        that is done.
        """
        ev = self.run(work_s, on_start)
        if after_s > 0.0:

            def tail(_ev: simpy.Event) -> None:
                tail_ev = self.run(after_s)
                if end is not None:
                    chain(tail_ev, end)

            ev.callbacks.append(tail)
        elif end is not None:
            chain(ev, end)
        return ev

    def run(self, work_s: float, on_start: Callable[[], None] | None = None) -> simpy.Event:
        """Serve ``work_s`` reference-core seconds to a new job; the event fires when done.

        ``on_start`` is called when the job first gets the CPU: at once here (every runnable
        job is served from the start), when the scheduler picks it under CFS.
        """
        if on_start is not None:
            on_start()
        env = self.env
        ev = simpy.Event(env)
        if work_s <= 0.0:
            ev.succeed()
            return ev
        now = env.now
        work_s += self.job_switch_s
        if self._idle_wake.on:
            work_s += self._after_idle_s(now)
        if now != self._t:
            self._advance(now)
        self._seq += 1
        vt = self._vt
        tag = vt + work_s
        heap = self._heap
        heapq.heappush(heap, (tag, self._seq, ev))
        # (no pending timer, the common case on a CPU that is mostly idle: set one at once)
        if self._timer_at is None or not self._timer_still_right(len(heap), now, tag - vt):
            self._reschedule(now)
        return ev

    def _timer_still_right(self, n: int, now: float, work_left: float) -> bool:
        """The pending timer stays right though a job with ``work_left`` to go joined (``n`` jobs).

        While no more jobs than vCPUs run, a new job leaves the others' rate alone, so the
        timer only has to move if the new job finishes first (or the capacity changed).
        """
        timer_at = self._timer_at
        rate = self._rate
        return (
            timer_at is not None
            and n <= self._cap
            and rate > 0.0
            and now + work_left / rate >= timer_at
            and timer_at <= self._credit_horizon
            and self._cap == self._available
        )

    def set_switch_cost(self, switch_s: float) -> None:
        """Change the cost of one context switch (the mix of processes and threads changed)."""
        if switch_s != self.switch_s:
            now = self.env.now
            self._advance(now)
            self.switch_s = switch_s
            self._reschedule(now)

    def set_speed(self, speed: float) -> None:
        """Run every vCPU at ``speed`` from now on (the host lends the vCPUs less or more)."""
        now = self.env.now
        self._advance(now)
        self.speed = speed
        self._reschedule(now)

    def capacity(self) -> float:
        """vCPUs available now (reduced to the baseline while credits are exhausted)."""
        b = self._burst
        if b is not None and b.throttled:
            return self.vcpus * b.baseline_fraction
        return float(self.vcpus)

    @property
    def throttled(self) -> bool:
        """Held at the baseline: the burst credits ran out (``standard`` mode)."""
        return self._burst is not None and self._burst.throttled

    @property
    def credits(self) -> float:
        """The burst-credit balance (0 without burst credits)."""
        return self._burst.credits if self._burst is not None else 0.0

    @property
    def surplus_credits(self) -> float:
        """Credits spent beyond the balance (``unlimited`` mode; 0 without burst credits)."""
        return self._burst.surplus if self._burst is not None else 0.0

    def sync(self) -> None:
        """Bring the accounting up to ``env.now`` (before reading counters)."""
        self._advance(self.env.now)

    # -- internals ----------------------------------------------------------------------------
    def _efficiency(self, n: int, cap: float) -> float:
        if n <= cap or self.switch_s <= 0.0:
            return 1.0
        time_slice = max(self._min_gran, self._latency * cap / n)
        return time_slice / (time_slice + self.switch_s)

    def _per_job_rate(self, n: int) -> float:
        cap = self._cap
        if n <= cap:
            return self.speed if n else 0.0
        return self.speed * (cap / n) * self._efficiency(n, cap)

    def _advance(self, now: float) -> None:
        """Serve the running jobs their work from the last update to ``now`` (the env's clock).

        Callers pass the clock they have read already: ``env.now`` is a property call, and the
        CPU runs this on every job's arrival and completion.
        """
        dt = now - self._t
        if dt <= 0.0:
            return
        self._t = now
        n = len(self._heap)
        b = self._burst
        if n == 0:
            if b is not None:
                self._account_credits(dt, 0.0)
            return
        rate = self._rate
        self.busy_until = now
        self._vt += dt * rate
        self.work_done_s += dt * rate * n
        busy = n if n < self._cap else self._cap
        self.busy_core_s += dt * busy
        if b is not None:
            if b.throttled:
                self.throttled_s += dt
            self._account_credits(dt, busy)

    def _account_credits(self, dt: float, busy: float) -> None:
        """Earn and spend burst credits over ``dt`` seconds with ``busy`` vCPUs busy."""
        b = self._burst
        assert b is not None
        if b.account(dt, busy):
            self._available = self.capacity()

    def _reschedule(self, now: float) -> None:
        """Recompute the per-job rate and set a timer for the next completion (``now``: env's)."""
        heap = self._heap
        n = len(heap)
        if n == 0:
            self._rate = 0.0
            self._timer = self._timer_at = None
            return
        # (the guards of BurstCredits.throttle_if_exhausted and _per_job_rate's first case,
        # inlined: this runs on nearly every job's arrival and completion)
        b = self._burst
        if b is not None and b.unlimited:
            b = None  # (an unlimited balance never throttles nor ends a timer)
        if b is not None and not b.throttled:
            self._throttle_if_exhausted(now)
        cap = self._cap = self._available
        rate = self._rate = self.speed if n <= cap else self._per_job_rate(n)
        dt = (heap[0][0] - self._vt) / rate
        if not dt > 0.0:  # max(0.0, dt), but cheaper
            dt = 0.0
        self._credit_horizon = math.inf
        if b is not None and not b.throttled:
            dt = self._until_credits_run_out(n, now, dt)
        self._timer_at = now + dt
        self._timer = schedule_call(self.env, dt, self._on_timer)

    def _throttle_if_exhausted(self, now: float) -> None:
        """Throttle now when no credit is left (:meth:`BurstCredits.throttle_if_exhausted`)."""
        b = self._burst
        assert b is not None
        if b.throttle_if_exhausted(now):
            self._available = self.capacity()

    def _until_credits_run_out(self, n: int, now: float, dt: float) -> float:
        """``dt``, shortened to when ``n`` jobs exhaust the credits; sets the credit horizon,
        when all vCPUs busy would (no job mix can exhaust them sooner)."""
        b = self._burst
        assert b is not None
        cap = self._cap
        exhausted = b.run_out_s(cap if cap < n else float(n))
        self._credit_horizon = now + b.run_out_s(cap)
        return exhausted if exhausted < dt else dt

    def _on_timer(self, timer: simpy.Event) -> None:
        """The pending timer fired: the jobs whose work is done complete; set the next timer."""
        if timer is not self._timer:  # identity: reading ``timer.value`` is a property call
            return  # superseded by a later reschedule
        now = self.env.now
        self._advance(now)
        heap = self._heap
        vt = self._vt
        limit = vt * (1.0 + _EPS) + _EPS
        # Work that would take less than the clock's resolution now (5.8e-11 s at t = 3e5 s)
        # cannot be waited for: its timer fires at this same instant again and again. Done.
        # (An ``if``, not max(): a builtin call costs more, and this runs on every timer.)
        unresolved = vt + 4.0 * math.ulp(now) * self._rate
        if unresolved > limit:
            limit = unresolved
        if not heap or heap[0][0] > limit:
            self._reschedule(now)
            return
        ev = heapq.heappop(heap)[2]
        if not heap or heap[0][0] > limit:  # one job done, the common case: no list
            self._reschedule(now)
            fire_now(ev)
            return
        done = [ev]
        while heap and heap[0][0] <= limit:
            done.append(heapq.heappop(heap)[2])
        self._reschedule(now)
        for ev in done:
            fire_now(ev)
