"""Calibrate's CPU fit: the simulator's CPU per request as a linear sum of cost parameters.

Each measured row's Apache CPU per request is regressed on what the simulator charges it
(:func:`~mpmsim.calibration.regressors.cpu_regressors`): the class's handler CPU, accept +
close per connection, the MPM's hand-offs, the per-task and per-process switch terms, the
connections that find the CPU idle, and the children forked with their threads. Terms the rows
cannot tell apart keep the base model's values (:data:`TOLD_ONLY`). What the fit does not take
from a row is subtracted first: the request's base CPU, and a recycling row's children's exits
at the base's ``thread_exit_cpu_ms`` (:func:`~mpmsim.calibration.regressors.exit_cpu_ms`: they
come with its forks, so no row could tell them apart).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from mpmsim.calibration.linear import ParamFit, robust_linear
from mpmsim.calibration.regressors import (
    cpu_regressors,
    cpu_term_names,
    exit_cpu_ms,
    recycles,
)
from mpmsim.calibration.wake_sim import wake_ms
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel, RequestClassCost
from mpmsim.models.mpm.registry import MPM_MODELS
from mpmsim.workloads.readers import MeasuredRun

#: The fewest processes (parent included) some measured server must have run for calibrate
#: to fit ``switch_us_per_process``: between 2 and 37 (the shared set's range) the per-process
#: CPU is indistinguishable from per-request CPU (fitted 0 +- 0.028 us), while warm prefork
#: servers of 65 to 151 processes give 0.055 +- 0.034 (default.yaml's justification).
PROCESSES_TO_FIT_PER_PROCESS = 64

#: Children's start costs (fork, each thread's creation) fitted from recycling rows, and the
#: ratio of estimate to standard error under which one keeps the base's prior.
START_COSTS = ("fork_cpu_ms", "thread_create_cpu_ms")
START_COST_T = 2.0

#: The CPU terms fitted only when the rows tell them apart (else the base's value is kept).
TOLD_ONLY = ("switch_us_per_process", "idle_connection_us", *START_COSTS)

#: The CPU terms ``--keep`` may hold at the base's values.
KEEPABLE = ("switch_us_per_task", *TOLD_ONLY)


def fit_cpu(
    runs: Sequence[MeasuredRun], base: CostModel, context_switch_us: float,
    keep: Collection[str] = (), work_per_cpu_s: float = 1.0, cores: float = 1.0,
    wake: Mapping[str, float] | None = None,
) -> ParamFit:  # fmt: skip
    """Fit handler CPU per class, per-connection CPU and the thread-switch cost, and what a
    connection costs more when it finds the CPU idle (``idle_connection_us``: the one-client
    rows and any row whose Apache's ``cores`` were partly idle tell it apart; without such
    rows it keeps the base's value).

    ``work_per_cpu_s`` turns the CPU time measured into work at the vCPU's full speed: the
    hardware's mean speed under host contention (mpmsim.engine.host), whose slow phases the
    guest counts as CPU time and the simulator slows the work by again.

    Request CPU and a class's handler CPU always occur together, so request_cpu_ms keeps the base
    model's value and the classes absorb the rest; accept and close keep the base's ratio.
    ``switch_us_per_process`` is told apart from the per-request CPU only by servers with many
    processes: unless some row's server had :data:`PROCESSES_TO_FIT_PER_PROCESS` or more, it
    keeps the base's value, as the names in ``keep`` do. A child's start costs
    (:data:`START_COSTS`) are fitted only from rows that recycle children, each kept at the
    base's prior unless it comes out at :data:`START_COST_T` standard errors.

    ``wake`` gives, by run id, the CPU per request the simulator charges a row's idle
    wake-ups (:mod:`~mpmsim.calibration.wake_sim`); it is taken off the row's, since the
    simulator adds it itself.
    """
    usable = [r for r in runs if r.apache_cpu_ms_per_req and r.requests_completed >= 1000]
    classes = sorted({r.content for r in usable})
    names = cpu_term_names(classes)
    if not usable:
        raise InputError(
            "no row has a value with >= 1000 requests completed: the CPU fit needs Apache's "
            "measured CPU per request (mpmsim bench writes it)",
            field="apache_cpu_ms_per_req",
        )
    if max((r.peak_procs or 0) for r in usable) < PROCESSES_TO_FIT_PER_PROCESS:
        keep = {*keep, "switch_us_per_process"}
    rows = [cpu_regressors(r, classes, cores) for r in usable]
    idle = names.index("idle_connection_us")
    if not any(x[idle] for x in rows):  # no connection found the CPU idle: nothing tells it
        keep = {*keep, "idle_connection_us"}
    # A spawn ramp's few forks are too few to weigh against the per-request CPU: children's
    # start costs are fitted only from rows that replace children all through the window.
    if not any(recycles(r) for r in usable):
        keep = {*keep, *START_COSTS}
    elif not any(recycles(r) and _threaded(r) for r in usable):
        keep = {*keep, "thread_create_cpu_ms"}
    # what the fit does not take from a row: the request's base CPU, its children's exits and
    # the idle wake-ups the simulator charges it
    given = [base.request_cpu_ms + exit_cpu_ms(r, base) + wake_ms(wake, r) for r in usable]
    obs = np.asarray([float(r.apache_cpu_ms_per_req or 0.0) * work_per_cpu_s for r in usable])
    a = np.asarray(rows)
    b = obs - np.asarray(given)
    start = np.concatenate(
        [
            [max(base.classes.get(c, RequestClassCost()).cpu_ms, 1e-3) for c in classes],
            [
                max(base.accept_cpu_ms + base.close_cpu_ms, 1e-3),
                base.thread_switch_us + context_switch_us,
                base.process_switch_us + context_switch_us,
                base.switch_us_per_task,
                base.switch_us_per_process,
                base.idle_connection_us,
                base.fork_cpu_ms,
                base.thread_create_cpu_ms,
            ],
        ]
    )
    # The base's value, not fitted, for those kept; the rest are fitted. A child's start costs
    # rest on a few recycling rows: one the fit cannot tell from zero (under two standard
    # errors) keeps the base's prior instead, the least certain first, and the rest is refitted.
    keep = set(keep)
    while True:
        fit = _fit_kept(a, b, obs, start, names, [n in keep and n in KEEPABLE for n in names])
        unsure = [n for n in START_COSTS if n not in keep
                  and not fit.values[n] > START_COST_T * fit.stderr[n]]  # fmt: skip
        if not unsure:
            return fit
        keep.add(min(unsure, key=lambda n: fit.values[n] / max(fit.stderr[n], 1e-12)))


def _fit_kept(
    a: np.ndarray, b: np.ndarray, obs: np.ndarray, start: np.ndarray, names: list[str],
    kept_mask: list[bool],
) -> ParamFit:  # fmt: skip
    """The robust linear fit of the free columns, the kept ones at their ``start`` values."""
    kept = [j for j, k in enumerate(kept_mask) if k]
    free = [j for j in range(len(names)) if not kept_mask[j]]
    for j in kept:
        b = b - a[:, j] * start[j]
    fit = robust_linear(a[:, free], b, obs, start[free], [names[j] for j in free],
                        rows_used=a.shape[0])  # fmt: skip
    for j in kept:
        fit.values[names[j]] = float(start[j])
        fit.stderr[names[j]] = math.nan
    return fit


def _threaded(run: MeasuredRun) -> bool:
    """Whether ``run``'s MPM creates worker threads in each child it forks."""
    model: Any = MPM_MODELS[run.mpm]
    return bool(model.threaded)
