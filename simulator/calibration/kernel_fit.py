"""The kernel's work on Apache's core outside Apache's processes, from the rows' CPU readings.

The measurement layout (``../shared/data/apache-bench/README.md``) pins Apache to CPU 1 and
records CPU 1's busy share from ``/proc/stat`` (``cpu1_busy_pct``) beside the CPU time of
Apache's processes (``apache_cpu_util``, ``/proc/PID/stat``). What CPU 1 did beyond Apache's
processes is kernel work in threads of its own: the loopback's receive softirqs run on the
sending CPU, and what ``net_rx_action`` cannot finish within its budget (net/core/dev.c,
``netdev_budget``, ``netdev_budget_usecs``) goes to ``ksoftirqd`` (kernel/softirq.c
``wakeup_softirqd``); kworkers run deferred work such as socket memory accounting. That time
takes the core from Apache without being in its CPU per request: on the shared set's saturated
rows 1-3 us per request with keep-alive and 2-5 without, so the core serves 2-6 % fewer requests
than Apache's CPU alone would allow.

The fit: per row, the busy share beyond Apache's is ``(kernel_us_per_request +
kernel_us_per_connection / requests per connection) x requests per second``; non-negative least
squares over the rows where CPU 1 was busy (:data:`BUSY_PCT`) and Apache wanted its whole core
(:func:`~mpmsim.calibration.shared_core.wants_the_core`). A row on which another process shared
the core (:func:`~mpmsim.calibration.shared_core.shared_core_rows`) does not count.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
from scipy.optimize import nnls

from mpmsim.calibration.linear import ParamFit
from mpmsim.calibration.measured import requests_per_connection
from mpmsim.calibration.shared_core import APACHE_SHARE, busy_core_readings
from mpmsim.models.costs import CostModel
from mpmsim.workloads.readers import MeasuredRun

#: The cost model's fields this fit sets.
KERNEL_TERMS = ("kernel_us_per_request", "kernel_us_per_connection")

#: Rows below this many are no fit: the base model's values stay.
MIN_ROWS = 3


def kernel_rows(runs: Sequence[MeasuredRun]) -> list[tuple[float, float, float]]:
    """(busy share beyond Apache's, requests per second, connections per request) of the rows
    that tell the kernel's work: CPU 1 at least ``BUSY_PCT`` busy, Apache on it alone."""
    out = []
    for run, busy, util in busy_core_readings(runs):
        if not run.req_per_s or 100.0 * util < APACHE_SHARE * busy:  # another process on it
            continue
        out.append((busy / 100.0 - util, float(run.req_per_s), 1.0 / requests_per_connection(run)))
    return out


def fit_kernel(
    runs: Sequence[MeasuredRun], base: CostModel, keep: Collection[str] = (), cores: float = 1.0
) -> ParamFit | None:
    """``kernel_us_per_request`` and ``kernel_us_per_connection`` from ``runs``; None when
    fewer than :data:`MIN_ROWS` rows tell them, ``keep`` names both, or the hardware has more
    than one vCPU (``cores``): CPU 1 is Apache's whole machine only in the one-core layout.

    Rows that all have the same connections per request cannot tell the two apart: the
    per-connection term then keeps the base's value (stderr NaN), as does a term in ``keep``.
    """
    kept = [name in keep for name in KERNEL_TERMS]
    rows = kernel_rows(runs)
    if cores != 1.0 or len(rows) < MIN_ROWS or all(kept):
        return None
    other = np.array([r[0] for r in rows])
    rate = np.array([r[1] for r in rows]) * 1e-6  # requests per microsecond
    conns = np.array([r[2] for r in rows])
    a = np.column_stack([rate, rate * conns])
    start = np.array([base.kernel_us_per_request, base.kernel_us_per_connection])
    if np.ptp(conns) < 1e-9:
        kept[1] = True
    free = [i for i, k in enumerate(kept) if not k]
    sol, _ = nnls(a[:, free], other - a @ np.where(kept, start, 0.0))  # kept terms as given
    values = start.copy()
    values[free] = sol
    resid = other - a @ values
    dof = max(len(rows) - len(free), 1)
    s2 = float(resid @ resid) / dof
    stderr = np.full(len(KERNEL_TERMS), math.nan)
    try:
        cov = s2 * np.linalg.inv(a[:, free].T @ a[:, free])
        stderr[free] = np.sqrt(np.maximum(np.diag(cov), 0.0))
    except np.linalg.LinAlgError:
        pass
    mean_other = float(np.mean(np.abs(other))) or 1.0
    return ParamFit(
        values={n: float(v) for n, v in zip(KERNEL_TERMS, values, strict=True)},
        stderr={n: float(e) for n, e in zip(KERNEL_TERMS, stderr, strict=True)},
        rows_used=len(rows),
        rms_rel_error=math.sqrt(float(np.mean(resid**2))) / mean_other,
    )


def with_kernel(costs: CostModel, fit: ParamFit | None) -> CostModel:
    """``costs`` with the kernel's fitted work (and its standard errors) in place."""
    if fit is None:
        return costs
    told = {n: round(fit.stderr[n], 4) for n in fitted_terms(fit)}
    return costs.model_copy(
        update={
            **{n: round(v, 4) for n, v in fit.values.items()},
            "uncertainty": {**costs.uncertainty, **told},
        }
    )


def fitted_terms(fit: ParamFit | None) -> set[str]:
    """The terms ``fit`` set from the rows (not kept at the base's value)."""
    return set() if fit is None else {n for n, e in fit.stderr.items() if math.isfinite(e)}


def kernel_ms(costs: CostModel, run: MeasuredRun) -> float:
    """The kernel's work (ms) the simulator charges a request of ``run`` beside Apache's CPU."""
    per_conn = costs.kernel_us_per_connection / requests_per_connection(run)
    return (costs.kernel_us_per_request + per_conn) / 1000.0
