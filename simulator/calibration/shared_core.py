"""Rows whose Apache shared the CPU it ran on: the simulated vCPU is Apache's alone.

The measurement layout (``../shared/data/apache-bench/README.md``) pins Apache to CPU 1 and the
load generator to CPU 0, and records both CPUs' busy share (``cpu1_busy_pct``) beside Apache's
own CPU time per wall second (``apache_cpu_util``, 1.0 = one core). On the 245 rows of the
shared set whose CPU 1 was at least 95 % busy, Apache's processes account for 91-100 % of that
busy time (its network softirqs run in its tasks' context). A row where CPU 1 was busy but
Apache had much less of it ran beside another process: in a user's ``mpmsim bench`` the load
generator on the same core had 45 % of it, and calibrate, whose simulated vCPU serves Apache
alone, predicted such rows' saturated throughput 86-126 % high without saying why. The CPU per
request those rows give is still Apache's; what they cannot give is the throughput of a core
Apache has to itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from mpmsim.calibration.regressors import recycles
from mpmsim.workloads.readers.measurements import MeasuredRun

BUSY_PCT = 90.0
"""CPU 1 at least this busy: Apache's share of it is then a measure of what else ran there."""

CPU_BOUND = ("static", "cpu")
"""Handlers that only compute: with many clients and no pacing Apache then wants its whole core,
so a busy core it had little of was taken by something else. A handler that waits (``wait``,
PHP's sleeps) leaves the core to others while Apache needs nothing."""

MIN_CLIENTS = 10

APACHE_SHARE = 0.8
"""Apache's CPU time below this share of CPU 1's busy time: another process shared the core
(the shared set's saturated rows: 0.91 at the least, a median of 0.98)."""


def shared_core_rows(runs: Sequence[MeasuredRun]) -> list[dict[str, Any]]:
    """The rows whose CPU 1 was busy while Apache had less than ``APACHE_SHARE`` of it, among
    those where Apache wanted the whole core (``wants_the_core``)."""
    out: list[dict[str, Any]] = []
    for run, busy, util in busy_core_readings(runs):
        apache_pct = 100.0 * util
        if apache_pct < APACHE_SHARE * busy:
            out.append(
                {
                    "run_id": run.run_id,
                    "cpu1_busy_pct": round(busy, 1),
                    "apache_pct": round(apache_pct, 1),
                }
            )
    return out


def busy_core_readings(runs: Sequence[MeasuredRun]) -> Iterator[tuple[MeasuredRun, float, float]]:
    """(run, CPU 1 busy %, Apache's CPU share of a core) of the rows where Apache wanted the
    whole core (``wants_the_core``), CPU 1 was at least ``BUSY_PCT`` busy and both were read."""
    for run in filter(wants_the_core, runs):
        try:
            busy = float(run.extra["cpu1_busy_pct"])
        except (KeyError, ValueError):  # no reading of CPU 1: nothing to tell
            continue
        if run.apache_cpu_util is None or not math.isfinite(busy) or busy < BUSY_PCT:
            continue
        yield run, busy, run.apache_cpu_util


def wants_the_core(run: MeasuredRun) -> bool:
    """A closed loop of ``MIN_CLIENTS`` or more on a handler that only computes, with no child
    recycled: a recycled child's CPU leaves the sampled processes with it (this project's
    recycling campaign: prefork at 1,000 connections per child reads 67 % of a 99 %-busy core,
    alone on it)."""
    return (
        run.content in CPU_BOUND
        and run.rate_per_client is None
        and run.concurrency >= MIN_CLIENTS
        and not recycles(run)
    )


def shared_core_lines(rows: Sequence[dict[str, Any]], shown: int = 5) -> list[str]:
    """The terminal's account of ``shared_core_rows``: what it means and what to do."""
    if not rows:
        return []
    lines = [
        f"rows whose Apache shared its CPU (CPU 1 >= {BUSY_PCT:g} % busy, Apache < "
        f"{100 * APACHE_SHARE:.0f} % of that): {len(rows)}. Another process ran on Apache's "
        "core (the load generator?); the simulated vCPU is Apache's alone, so their predicted "
        "throughput at saturation is too high. Pin Apache and the load to different cores "
        "(taskset), or hold these rows out"
    ]
    for r in rows[:shown]:
        lines.append(
            f"  {r['run_id']}: CPU 1 {r['cpu1_busy_pct']:g} % busy, Apache {r['apache_pct']:g} %"
        )
    if len(rows) > shown:
        lines.append(f"  ... {len(rows) - shown} more (--json has all)")
    return lines


__all__ = [
    "APACHE_SHARE",
    "BUSY_PCT",
    "CPU_BOUND",
    "MIN_CLIENTS",
    "shared_core_lines",
    "shared_core_rows",
]
