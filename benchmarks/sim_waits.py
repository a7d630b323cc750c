"""What the simulated scheduler's jobs waited, for measured rows: the model's side of the traces.

For each row of the measurement CSVs whose run id contains ``--run``, simulate it as
``bench_fidelity.py --predict-with COSTS`` does (the row's seed from ``--seed``, the cost
model's round trip) under the hardware profile's scheduler (or ``--scheduler``), with a
:class:`mpmsim.engine.job_waits.JobWaits` on the run queue, and print the row's measured and
simulated throughput, p50 and p95 beside, per kind of job (``pool``: a request task taking a
sleeper's state; ``task``: a known task with its own, as a request on its connection's worker
or the worker's close after the FIN; ``short``: a job at lag 0 or behind the runnable ones, as
event's listener and its close after the FIN):

* how long jobs waited from their wake-up to their first run (p10 / p50 / p90 / p99), what
  ``probe_scheduler.py`` calls wake to run and ``probe_idlers.py`` push to pop;
* how long from wake-up to their end, their tail done (p50 / p90 / p95 / p99): for a request
  job, the close a client that reads until EOF (ab without ``-k``) waits for;
* the share preempted before their end and, under ``eevdf``, the share woken with less than
  the base slice left (a deadline carried from a task still queued: DELAY_DEQUEUE);
* the latency's distribution, p10 / p25 / p50 / p75 / p90 / p95 / p99, measured (ab's
  ``-e`` percentiles, ``raw/<run id>.ab_pct.csv`` beside the CSV, where there is one) and
  simulated (the measured window's requests): a CPU-bound handler's two speeds show there.

``--online-cpus N`` sets the hardware's ``online_cpus`` (the scheduler's slices scale with the
CPUs online: 2 on the shared set's machine, where Apache is pinned to one).

The whole simulated run counts, warm-up included. Needs no Apache.

    python benchmarks/sim_waits.py measurements/shared-machine/lua/crowding/runs.csv \\
        --run event-n4-ab-c50-ka0-r1 --scheduler eevdf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import sim_rows

from mpmsim.calibration.measured import Setup, figures, observed, replicate
from mpmsim.engine.job_waits import JobWaits
from mpmsim.engine.replication import World
from mpmsim.engine.summary import window_latencies_ms
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel
from mpmsim.workloads.readers import MeasuredRun

#: The latency percentiles printed, measured beside simulated.
PERCENTILES = (10, 25, 50, 75, 90, 95, 99)


def row_waits(
    run: MeasuredRun, costs: CostModel, setup: Setup, seed: int
) -> tuple[dict[str, float], list[dict[str, float | str]], list[float]]:
    """The simulated figures of ``run`` (:func:`mpmsim.calibration.measured.figures`), its
    jobs' waits (:meth:`JobWaits.summary`) and the latency at :data:`PERCENTILES` (ms) of the
    requests in the measured window."""
    waits = JobWaits()

    def observe(world: World) -> None:
        watch = getattr(world.cpu, "watch", None)
        if watch is None:
            raise InputError(
                f"{run.run_id}: the scheduler {setup.hardware.cpu_scheduler!r} queues no jobs; "
                "give --scheduler cfs or eevdf"
            )
        watch(waits)

    prep, rep = replicate(run, costs, setup, seed, observe=observe)
    lat_ms = window_latencies_ms(prep, rep)
    dist = [float(v) for v in np.percentile(lat_ms, PERCENTILES)] if lat_ms.size else []
    return figures(prep, rep), waits.summary(), dist


def measured_distribution(csv: Path, run_id: str) -> list[float]:
    """The latency at :data:`PERCENTILES` from ab's percentile file beside ``csv``
    (``raw/<run_id>.ab_pct.csv``: "Percentage served,Time in ms"), or [] without one."""
    path = csv.parent / "raw" / f"{run_id}.ab_pct.csv"
    if not path.is_file():
        return []
    table: dict[int, float] = {}
    for line in path.read_text().splitlines()[1:]:
        pct, _, ms = line.partition(",")
        try:
            table[int(pct)] = float(ms)
        except ValueError:
            raise InputError(f"{path}: not a percentile line of ab -e: {line!r}") from None
    return [table[p] for p in PERCENTILES] if all(p in table for p in PERCENTILES) else []


def render(run_id: str, meas: dict[str, float], sim: dict[str, float],
           kinds: list[dict[str, float | str]], dists: tuple[list[float], list[float]] = ([], []),
           ) -> str:  # fmt: skip
    """The row's figures, a line per kind of job, then the measured and simulated latency
    distributions (``dists``) where there are."""
    out = [
        f"{run_id}: req/s {meas['req_per_s']:,.0f} measured, {sim['req_per_s']:,.0f} simulated;"
        f" p50 {meas['lat_p50_ms']:.2f} / {sim['lat_p50_ms']:.2f} ms;"
        f" p95 {meas['lat_p95_ms']:.2f} / {sim['lat_p95_ms']:.2f} ms"
    ]
    for k in kinds:
        line = (
            f"  {k['kind']:5s} {k['jobs']:9,.0f} jobs  wait p10/50/90/99 "
            f"{k['wait_p10_ms']:.2f} {k['wait_p50_ms']:.2f} {k['wait_p90_ms']:.2f} "
            f"{k['wait_p99_ms']:.2f} ms  to end p50/90/95/99 {k['to_end_p50_ms']:.2f} "
            f"{k['to_end_p90_ms']:.2f} {k['to_end_p95_ms']:.2f} {k['to_end_p99_ms']:.2f} ms"
            f"  preempted {100 * float(k['preempted_share']):.1f} %"
        )
        if "short_slice_share" in k:
            line += f"  short slice {100 * float(k['short_slice_share']):.1f} %"
        out.append(line)
    head = "/".join(f"p{p}" for p in PERCENTILES)
    for name, dist in zip(("measured", "simulated"), dists, strict=True):
        if dist:
            out.append(f"  latency {head} {name:9s} " + " ".join(f"{v:.2f}" for v in dist) + " ms")
    return "\n".join(out)


def _show(row: sim_rows.Row) -> str:
    sim, kinds, dist = row_waits(row.run, row.costs, row.setup, row.seed)
    dists = (measured_distribution(row.path, row.run.run_id), dist)
    return render(row.run.run_id, observed(row.run), sim, kinds, dists)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sim_rows.add_arguments(ap)
    return sim_rows.main_over_rows("sim_waits", ap, argv, _show)


if __name__ == "__main__":
    sys.exit(main())
