"""Fit ``after_response_cpu_ms`` by simulation, from the ab rows whose figures the tail moves.

A worker runs the request's tail once its response is written (the access log line, the
request pool's cleanup). It shows in two kinds of rows:

* **keep-alive on pinned workers.** A worker of prefork or worker serves every request of its
  keep-alive connection; after its tail it reads the connection again and, if the client's
  next request has already come, serves it at once, without sleeping and without waiting
  behind the other runnable workers. On the shared set's keep-alive ab rows of worker at 10 to
  400 clients a quarter of the requests took no longer than at one client (their ab percentile
  files), while the rest waited behind the others, so the tails are 30-40 % wider than a model
  in which every request waits its turn.
* **requests longer than a time slice, without keep-alive.** A task that ran past its slice
  yields its vCPU at its response (the engine's ``_preempt_answered``), and its tail then
  waits behind the other runnable tasks: the worker is not idle to the parent meanwhile (the
  measured scoreboards of a 1 ms handler show the busy threads in L, logging) and ab, which
  reads until the server closes, counts that wait. So the tail sets how many children the
  parent keeps (68 processes measured for prefork at 50 clients: 133 simulated without a tail,
  69 with one) and widens the p95. Requests shorter than the scheduler's minimum slice never
  run past it, so the tail (microseconds) moves nothing there.

The tail's mean is the one number this needs. No reading measures it: it shows only in the
latency percentiles and the process counts of rows where workers wait for the CPU. So it is
fitted by simulation, on a grid of fractions of the fitted round trip (the race the keep-alive
tail runs against), each row with its own seed as ``check.compare`` simulates it. The objective
is the mean absolute log ratio of the simulated to the measured figures the tail moves
(:func:`tail_figures`): on keep-alive rows the p50, p95 and peak processes (the race moves the
whole distribution: some requests served at once, the others later), on rows without keep-alive
the p95 and peak processes (the wait for the close, and the parent's count of idle workers).
Their p50 is left out: the real one is bimodal (a 1 ms handler at 50 clients: p50 6.5-16 ms
against a mean of 42-45), which the simulator does not reproduce under any tail (campaigns'
rows: off by a factor of 2.6 to 3.9 in mean absolute log ratio at every value tried, seeds
1-3), so it weighed the seed and not the tail (with it the campaigns' fit chose 0 with seeds 2
and 3 and 0.0103 ms with seed 1; without it, a tail with all three: 0.0047-0.0152 ms, the
objective 0.09-0.12 with a tail and 0.20-0.23 without). It is noisy from one grid value to the
next, as each value changes which requests win the race, so the grid's best value is refined by
the vertex of a least-squares parabola through it and up to two grid values on each side. Other
rows are not used: wrk's latencies are not compared, short requests without keep-alive do not
depend on the tail, and on one-client rows (the response comes before the tail, which overlaps
the client's turnaround) and event's keep-alive rows (its worker answers, then runs the tail
before its listener can see the next request) the tail moves the throughput with the round
trip, which is fitted from the one-client rows themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mpmsim.calibration.check import simulate_rows
from mpmsim.calibration.measured import Setup
from mpmsim.engine.sched_tunables import slice_ms
from mpmsim.models.costs import CostModel
from mpmsim.models.hardware import HardwareSpec
from mpmsim.models.mpm.registry import MPM_MODELS
from mpmsim.workloads.readers import MeasuredRun

#: The tail means tried, as fractions of the round trip (0: no tail; the turnaround rarely
#: loses the race beyond the round trip itself), finer where the shared set's rows lie.
GRID_OF_RTT: tuple[float, ...] = (0.0, 0.25, 0.375, 0.4375, 0.5, 0.5625, 0.625, 0.75, 1.0)


@dataclass(frozen=True)
class TailFit:
    """The fitted tail mean, and the objective at each value tried."""

    after_response_cpu_ms: float
    rows_used: int
    objective: dict[float, float] = field(default_factory=dict)  # tail mean (ms) -> mean |log|

    def compared(self) -> str:
        """What the fit compared (:func:`tail_figures` of :func:`tail_rows`), in words: for the
        cost model's justification and calibrate's report."""
        return (
            f"the p95 and peak processes of {self.rows_used} ab rows (keep-alive on prefork and "
            "worker, with their p50, or requests longer than a time slice)"
        )


def scheduler_slice_ms(hardware: HardwareSpec) -> float | None:
    """The minimum slice of ``hardware``'s scheduler (CFS's granularity, EEVDF's base slice),
    None under processor sharing (no slices)."""
    if hardware.cpu_scheduler == "ps":
        return None
    return slice_ms(hardware)


def tail_rows(runs: Sequence[MeasuredRun], slice_ms: float | None) -> list[MeasuredRun]:
    """The rows the tail shows in (see the module doc), all ab at more than one client with a
    measured p95: with keep-alive on an MPM that pins a worker to each kept connection, and
    without keep-alive where the measured CPU per request is longer than ``slice_ms``, the
    scheduler's minimum slice (None: a CPU without slices, processor sharing)."""
    out = []
    for run in runs:
        model: Any = MPM_MODELS.get(run.mpm)
        if (
            model is None
            or run.tool != "ab"
            or run.concurrency <= 1
            or run.rate_per_client is not None
            or run.lat_p95_ms is None
            or run.lat_p95_ms <= 0
        ):
            continue
        if run.keepalive:
            if model.keepalive_holds_worker:
                out.append(run)
        elif slice_ms is not None and (run.apache_cpu_ms_per_req or 0.0) > slice_ms:
            out.append(run)
    return out


def tail_figures(run: MeasuredRun) -> list[tuple[str, float | None]]:
    """``(metric, measured)`` of the figures the tail's objective compares for ``run``: the
    p95 and peak processes, and on a keep-alive row the p50 too (see the module doc)."""
    figures: list[tuple[str, float | None]] = [
        ("lat_p95_ms", run.lat_p95_ms),
        ("peak_procs", run.peak_procs),
    ]
    if run.keepalive:
        figures.insert(0, ("lat_p50_ms", run.lat_p50_ms))
    return figures


def fit_after_response(
    rows: Sequence[MeasuredRun],
    costs: CostModel,
    setup: Setup,
    *,
    jobs: int = 2,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> TailFit | None:
    """The value of ``after_response_cpu_ms`` that best fits the figures of ``rows`` it moves
    (:func:`tail_figures`, see the module doc); None without rows. ``progress(done, total)``
    counts the simulations."""
    if not rows or setup.network_rtt_ms <= 0.0:  # no round trip: no race to fit
        return None
    values = [round(f * setup.network_rtt_ms, 5) for f in GRID_OF_RTT]
    models = [costs.model_copy(update={"after_response_cpu_ms": v}) for v in values]
    predicted = simulate_rows(rows, models, setup, jobs=jobs, progress=progress, seed=seed)
    objective: dict[float, float] = {}
    for i, value in enumerate(values):
        errs = []
        for run, pred in zip(rows, predicted[i * len(rows) : (i + 1) * len(rows)], strict=True):
            for metric, measured in tail_figures(run):
                sim = pred[metric]
                if measured and sim > 0 and math.isfinite(sim):
                    errs.append(abs(math.log(sim / measured)))
        objective[value] = sum(errs) / len(errs) if errs else math.inf
    best = refined_minimum(values, [objective[v] for v in values])
    return TailFit(after_response_cpu_ms=round(best, 5), rows_used=len(rows), objective=objective)


def refined_minimum(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The grid's best ``x``, moved to the vertex of a least-squares parabola through it and up
    to two neighbours each side (within their span; the best itself if the fit is not convex
    or the objective is not finite there)."""
    i = min(range(len(xs)), key=lambda j: (ys[j], xs[j]))
    lo, hi = max(0, i - 2), min(len(xs), i + 3)
    x, y = np.asarray(xs[lo:hi], float), np.asarray(ys[lo:hi], float)
    if len(set(xs[lo:hi])) < 3 or not np.all(np.isfinite(y)):
        return xs[i]
    a, b, _c = np.polyfit(x, y, 2)
    if a <= 0:
        return xs[i]
    return float(min(max(-b / (2 * a), x[0]), x[-1]))
