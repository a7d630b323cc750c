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
