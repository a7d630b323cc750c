"""Measure how a shared host slows this machine's vCPUs: ``mpmsim hardware probe``.

A loop that only counts, pinned to one vCPU, does the same work in every window of
``window_ms`` while the vCPU has its core to itself; when the host gives the core to another
guest's vCPU (or runs its SMT sibling), the count drops. The probe counts per window for
``seconds``, takes the median window as full speed and reads a window below
:data:`SLOW_BELOW` of it as slow. It reports the share of slow windows, their mean relative
speed and the mean length of a run of slow windows: the hardware file's ``host_contention``
(mpmsim.models.hardware.HostContentionSpec, mpmsim.engine.host). Beside them, the CPU time
the kernel counted for the loop over the wall time: 1.0 when the guest counts the host's
slow time as its own CPU (no steal-time accounting), as the simulator does.

``--access-log`` reads the same off the access log of a run that kept a server CPU-bound
(:func:`completions_per_window`): the requests finished per window stand for the loop's
count, so a machine that is gone can still be read from its logs.

A phase shorter than one window shows as a window slowed only in part, and is counted only
when that window falls below the threshold. Run it on an otherwise idle machine: any other
task on the vCPU looks like the host.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

#: A window is slow when the loop counted less than this share of the median window.
SLOW_BELOW = 0.8
#: Iterations between two reads of the clock (a few microseconds).
_CHUNK = 200


@dataclass(frozen=True)
class Contention:
    """What the probe read off one vCPU."""

    windows: int
    window_ms: float
    slow_fraction: float
    slow_speed: float
    slow_phase_ms: float
    cpu_over_wall: float

    def header(self, where: str) -> str:
        """One comment line: what was read, where, and (for a probe) the CPU counted."""
        counted = (
            f" CPU time counted / wall time: {self.cpu_over_wall:.3f} (1.0: the guest counts "
            "the host's slow time as CPU)."
            if not math.isnan(self.cpu_over_wall)
            else ""
        )
        return (
            f"# mpmsim hardware probe: {self.windows} windows of {self.window_ms:g} ms on "
            f"{where}; a window is slow below {SLOW_BELOW:g} of the median one.{counted}"
        )

    def as_yaml(self) -> str:
        """The hardware file's ``host_contention`` block (with the probe's figures)."""
        return (
            "host_contention:\n"
            f"  slow_fraction: {self.slow_fraction:.3f}\n"
            f"  slow_speed: {self.slow_speed:.2f}\n"
            f"  slow_phase_ms: {self.slow_phase_ms:.0f}\n"
        )


def contention(
    series: Sequence[Sequence[float]], window_ms: float, cpu_over_wall: float
) -> Contention:
    """The slow phases in ``series``: each the work done in consecutive windows of
    ``window_ms`` (one probe, one log), read against its own median; a run of slow windows does
    not go from one series into the next."""
    speeds: list[list[float]] = []
    for one in series:
        if len(one) < 10:
            raise ValueError("need at least 10 windows in each series")
        median = sorted(one)[len(one) // 2]
        if median <= 0:
            raise ValueError("the work done was nothing in most windows")
        speeds.append([c / median for c in one])
    windows = sum(len(one) for one in speeds)
    slow = [s for one in speeds for s in one if s < SLOW_BELOW]
    runs = sum(
        1
        for one in speeds
        for i, s in enumerate(one)
        if s < SLOW_BELOW and (i == 0 or one[i - 1] >= SLOW_BELOW)
    )
    if not slow:
        return Contention(windows, window_ms, 0.0, 1.0, window_ms, cpu_over_wall)
    return Contention(
        windows=windows,
        window_ms=window_ms,
        slow_fraction=len(slow) / windows,
        slow_speed=sum(slow) / len(slow),
        slow_phase_ms=window_ms * len(slow) / runs,
        cpu_over_wall=cpu_over_wall,
    )


def from_access_logs(
    paths: Sequence[str], log_format: str, window_ms: float, skip_s: float
) -> Contention:
    """:func:`contention` of the requests finished per window in each log (one series each).

    Raises ValueError naming the log that has no usable request, or when a log is shorter
    than ten windows after ``skip_s``.
    """
    series = []
    for path in paths:
        try:
            counts = completions_per_window(path, log_format, window_ms, skip_s)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        if len(counts) < 10:
            raise ValueError(
                f"{path}: {len(counts)} windows of {window_ms:g} ms after the first "
                f"{skip_s:g} s; at least 10 are needed"
            )
        series.append(counts)
    return contention(series, window_ms, math.nan)


def completions_per_window(
    path: str, log_format: str, window_ms: float, skip_s: float
) -> list[float]:
    """Requests a saturated server finished in each window of its access log, ``skip_s``
    after the first (its start-up and spawn ramp) to the last whole window.

    A server that the load keeps CPU-bound finishes requests at the rate its CPU allows, so
    the count per window follows the vCPU's speed as the probe's loop does: a log of a run
    with a first-come-first-served queue always full (ab, many clients, one vCPU) reads like
    the probe. Needs times finer than seconds (``%{usec}t``, ``%{msec}t``).
    """
    from mpmsim.workloads.access_log.reader import read_access_log

    ends = sorted(
        t
        for r in read_access_log(path, log_format)
        if (t := r.end_s if r.end_s is not None else r.start_s) is not None
    )
    if not ends:
        raise ValueError("no request with a time")
    window_s = window_ms / 1000.0
    first = ends[0] + skip_s
    n = int((ends[-1] - first) / window_s)
    counts = [0.0] * max(n, 0)
    for t in ends:
        i = int((t - first) / window_s)
        if 0 <= i < n:
            counts[i] += 1.0
    return counts


def probe(seconds: float, cpu: int | None = None, window_ms: float = 10.0) -> Contention:
    """Count in windows of ``window_ms`` for ``seconds`` on vCPU ``cpu`` (None: where it runs)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    window_s = window_ms / 1000.0
    counts: list[float] = []
    clock = time.perf_counter
    cpu0, wall0 = time.thread_time(), clock()
    end = wall0 + seconds
    start = wall0
    done = 0
    while True:
        for _ in range(_CHUNK):
            pass
        done += 1
        now = clock()
        if now - start >= window_s:
            # the work per second of this window, scaled to a whole window
            counts.append(done * window_s / (now - start))
            done = 0
            start = now
            if now >= end:
                break
    cpu_over_wall = (time.thread_time() - cpu0) / (clock() - wall0)
    return contention([counts], window_ms, cpu_over_wall)
