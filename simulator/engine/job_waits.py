"""What a Linux scheduler's jobs waited for a vCPU in one simulation: a diagnostic record.

The simulated cfs and eevdf run queues (:mod:`mpmsim.engine.cfs_queue`) can be given a
:class:`JobWaits` (:meth:`~mpmsim.engine.cfs_queue.CFSRunQueue.watch`). It then notes, for
every job, when it was woken, when it first got a vCPU, whether it was taken off its vCPU
still runnable before it ended (preempted), and when it ended (its request's tail done: the
close a client that reads until EOF waits for). Under eevdf it also notes the slice a job
was woken with: less than the full base slice means the job took the deadline of a task still
queued (DELAY_DEQUEUE), whose slice its earlier runs had used.

Jobs are told apart by how they were woken, as the schedulers place them:

* ``pool``: a request task that takes the state of the longest asleep (``CPU.run``);
* ``task``: a known task with its own state (``CPU.run_task``: a request on its connection's
  worker, the worker's close after the client's FIN);
* ``short``: a short job placed at lag 0 or behind the runnable ones, its state not kept
  (``CPU.run_queued``, ``CPU.run_behind``: event's listener and its close after the FIN).

``benchmarks/sim_waits.py`` prints the record of a measured row's simulation beside what
``benchmarks/probe_scheduler.py`` and ``benchmarks/probe_idlers.py`` trace in the real server.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KINDS = ("pool", "task", "short")


class JobWaits:
    """Each job's wake-up, first run, preemptions and end, by kind (see the module doc)."""

    __slots__ = ("_done", "_live", "slice_s")

    def __init__(self) -> None:
        self.slice_s = 0.0  # the scheduler's base slice (eevdf), set by ``watch``
        # job -> [kind, woken at, first run at (or -1), preemptions, slice when woken]
        self._live: dict[object, list[Any]] = {}
        # kind -> rows of (wait to first run, woken to end, preemptions, slice when woken)
        self._done: dict[str, list[tuple[float, float, int, float]]] = {k: [] for k in KINDS}

    def woke(self, job: object, kind: str, now: float, slice_left_s: float) -> None:
        """``job`` of ``kind`` was woken at ``now`` with ``slice_left_s`` of its slice left."""
        self._live[job] = [kind, now, -1.0, 0, slice_left_s]

    def started(self, job: object, now: float) -> None:
        """``job`` got a vCPU (its first run is noted)."""
        rec = self._live.get(job)
        if rec is not None and rec[2] < 0.0:
            rec[2] = now

    def preempted(self, job: object) -> None:
        """``job`` was taken off its vCPU still runnable (it resumes later)."""
        rec = self._live.get(job)
        if rec is not None:
            rec[3] += 1

    def ended(self, job: object, now: float) -> None:
        """``job`` ended (its tail, if any, done)."""
        rec = self._live.pop(job, None)
        if rec is None or rec[2] < 0.0:
            return
        kind, woken, first, preemptions, slice_left = rec
        self._done[kind].append((first - woken, now - woken, preemptions, slice_left))

    def summary(self) -> list[dict[str, float | str]]:
        """One flat record per kind that had jobs: counts, and times in ms.

        ``wait_*``: woken to first run; ``to_end_*``: woken to end; ``preempted_share``: jobs
        preempted at least once; ``short_slice_share`` (eevdf): jobs woken with less than the
        base slice left (a deadline carried from an earlier run of the task).
        """
        out: list[dict[str, float | str]] = []
        for kind in KINDS:
            rows = self._done[kind]
            if not rows:
                continue
            a = np.asarray(rows, dtype=float)
            wait = np.percentile(a[:, 0], (10, 50, 90, 99)) * 1e3
            to_end = np.percentile(a[:, 1], (50, 90, 95, 99)) * 1e3
            rec: dict[str, float | str] = {"kind": kind, "jobs": float(len(a))}
            for q, v in zip((10, 50, 90, 99), wait, strict=True):
                rec[f"wait_p{q}_ms"] = float(v)
            for q, v in zip((50, 90, 95, 99), to_end, strict=True):
                rec[f"to_end_p{q}_ms"] = float(v)
            rec["preempted_share"] = float((a[:, 2] > 0).mean())
            if self.slice_s > 0.0:
                rec["short_slice_share"] = float((a[:, 3] < self.slice_s * (1 - 1e-9)).mean())
            out.append(rec)
        return out
