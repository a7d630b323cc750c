"""The CPU a measured row spent waking an idle vCPU, as the simulator charges it (``idle_wake``).

On hardware with an ``idle_wake`` (:class:`mpmsim.models.hardware.IdleWakeSpec`: a virtual
machine's halted vCPU, whose next job runs on cold caches) a row measured at a light load
carries that CPU in its measured CPU per request, and the simulator adds it again to every job
that finds the vCPU idle (:mod:`mpmsim.engine.idle_wake`). A fit that took the whole measured
CPU for Apache's (or PHP's) own would charge it twice: on the shared set's kind of machine
Apache's CPU per static request reads ~0.33 ms at 20-100 req/s against ~0.053 saturated
(measurements/shared-machine/idle-wake). So calibrate simulates once, with the CPU already
fitted, every row whose CPU was partly idle, takes the simulated idle wake-ups' CPU per request
(``idle_wake_cpu_ms_per_request``) off the row's measured CPU and fits again
(:func:`~mpmsim.calibration.cpu_fit.fit_cpu`, :func:`~mpmsim.calibration.php_fit.fit_php_cpu`).
A saturated row never lets its vCPU rest and is not simulated; on hardware without
``idle_wake`` nothing is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence

from mpmsim.calibration.check import simulate_rows
from mpmsim.calibration.measured import ServerMs, Setup
from mpmsim.calibration.regressors import idle_share
from mpmsim.engine.idle_wake import IdleWake
from mpmsim.models.costs import CostModel
from mpmsim.workloads.readers import MeasuredRun

#: A row whose vCPU the measurement found idle less than this share of the time is taken as
#: saturated: its idle spells are too few to cost a measurable share of its CPU.
IDLE_SHARE_MIN = 0.02


def rests(run: MeasuredRun, cores: float = 1.0) -> bool:
    """Whether ``run``'s vCPU was idle long enough for its wake-ups to count: a PHP row always
    (its CPU is Apache's and the pool's, which no one column gives), any other from
    :func:`~mpmsim.calibration.regressors.idle_share`."""
    return bool(run.extra.get("php")) or idle_share(run, cores) >= IDLE_SHARE_MIN


def simulated_wake_ms(
    runs: Sequence[MeasuredRun],
    costs: CostModel,
    setup: Setup,
    *,
    cores: float = 1.0,
    jobs: int = 2,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """By run id, the idle wake-ups' CPU per request (ms) in one simulation of each row of
    ``runs`` that :func:`rests`, each with its ``check.row_seed`` of ``seed``; empty when the
    hardware has no ``idle_wake``."""
    if not IdleWake(setup.hardware.idle_wake).on:
        return {}
    rows = [r for r in runs if rests(r, cores)]
    if not rows:
        return {}
    predicted = simulate_rows(rows, [costs], setup, jobs=jobs, progress=progress, seed=seed)
    return {
        r.run_id: float(p["idle_wake_cpu_ms"])
        for r, p in zip(rows, predicted, strict=True)
        if not math.isnan(p["idle_wake_cpu_ms"])  # NaN: the row completed none
    }


def wake_ms(wake: Mapping[str, float] | None, run: MeasuredRun) -> float:
    """Row ``run``'s simulated idle wake-ups' CPU per request from ``wake`` (0 if none)."""
    return wake.get(run.run_id, 0.0) if wake else 0.0


def plus_wake(server_ms: ServerMs, wake: Mapping[str, float]) -> ServerMs:
    """``server_ms`` (the CPU a fitted model charges a row) with the row's idle wake-ups from
    ``wake``: the server's time a one-client row takes in the simulator, which
    :func:`~mpmsim.calibration.client_time.estimate_client_conn_ms` leaves out of the client's."""

    def with_wake(run: MeasuredRun) -> float | None:
        ms = server_ms(run)
        return None if ms is None else ms + wake_ms(wake, run)

    return with_wake


#: A class whose light rows, less the wake-ups the simulator charges them, cost under this share
#: of what its saturated rows cost says the machine's idle vCPU does not wake cold.
CONTRADICTED_BELOW = 0.5


def wake_contradicted(
    runs: Sequence[MeasuredRun], wake: Mapping[str, float], cores: float = 1.0
) -> str | None:
    """A one-line warning when the hardware's ``idle_wake`` does not fit the rows, else None.

    The wake-ups the simulator charges a light row (``wake``, by run id) are taken off its
    measured CPU before the fit. On a machine whose idle vCPU halts, what is left is about
    what the same content costs on a saturated row (the shared set's kind of machine: 0.187
    ms a static request at 20-640 req/s, 0.094 saturated, measurements/shared-machine). On one
    that does not halt, the light rows cost what the saturated ones do, and taking the
    wake-ups off leaves them too little: the fit then lowers the content's own CPU and the
    per-task costs to match (measurements/README.md: the campaigns' machine, 0.055 against
    0.057 ms, and a fit whose held-out throughput MAPE went from 5.6 to 9.8 %). Compared per
    content, between the rows whose wake-ups come to a quarter of the saturated rows' CPU or
    more and the saturated rows (idle under 2 % of the time, more than one client); PHP rows,
    whose CPU is Apache's and the pool's, are left out.
    """
    by_content: dict[str, tuple[list[float], list[tuple[float, float]]]] = {}
    for run in runs:
        ms = run.apache_cpu_ms_per_req
        if ms is None or not ms > 0 or run.extra.get("php"):
            continue
        sat, light = by_content.setdefault(run.content, ([], []))
        if run.run_id in wake:
            light.append((ms, wake[run.run_id]))
        elif run.concurrency > 1 and not rests(run, cores):
            sat.append(ms)
    worst: tuple[float, str] | None = None
    for content, (sat, light) in sorted(by_content.items()):
        if len(sat) < 2:
            continue
        saturated = statistics.median(sat)
        felt = [(ms, w) for ms, w in light if w >= 0.25 * saturated]
        if len(felt) < 2:
            continue
        left = statistics.median(ms - w for ms, w in felt) / saturated
        if left < CONTRADICTED_BELOW and (worst is None or left < worst[0]):
            lo, hi = min(w for _, w in felt), max(w for _, w in felt)
            worst = (left, (
                f"the hardware's idle_wake charges {len(felt)} lightly loaded {content} rows "
                f"{lo:.3f}-{hi:.3f} ms a request of cold wake-ups, but they measured "
                f"{statistics.median(ms for ms, _ in felt):.3f} ms against {saturated:.3f} on "
                f"{len(sat)} saturated rows: this machine's idle vCPU does not seem to wake "
                "cold, and the fit lowers the CPU it finds to make up; calibrate with "
                "--no-idle-wake (or a --hardware profile of this machine without idle_wake)"
            ))  # fmt: skip
    return None if worst is None else worst[1]
