"""Fit a cost model to measured runs (``mpmsim calibrate``).

Two stages:

1. **Fit.** The simulator's CPU per request is a sum the cost model fixes: request CPU plus the
   class's handler CPU, plus (accept + close CPU) per connection, plus the MPM's hand-offs from
   listener to worker, each a context switch. Its memory is parent + shared + each child + each
   thread. Both are linear in the cost parameters, so they are fitted directly to the measured
   CPU per request and to the memory readings (idle and peak of every row) with
   ``scipy.optimize.least_squares`` on relative errors, with bounds (every cost >= 0) and a robust
   ``soft_l1`` loss, so a few runs the model cannot explain do not drag the fit. Standard errors
   come from the Jacobian at the optimum. The memory columns count what the simulator holds;
   where that depends on the run (how many workers of a threaded MPM have served when one
   child can hold the load; how many connections event's listeners hold with their pools:
   :mod:`~mpmsim.calibration.used_sim`), those rows are simulated once, with the CPU already
   fitted, before the memory fit. On hardware whose idle vCPU halts (``idle_wake``), the rows
   whose CPU was partly idle are simulated once with the CPU fitted, and the CPU fitted again
   without what the simulator charges their wake-ups (:mod:`~mpmsim.calibration.wake_sim`).
2. **Check.** Every row, fitted or held out, is then simulated with the fitted model (each row
   with a seed of its own, from its id: ``check.row_seed``) and its throughput, latency
   percentiles, CPU per request, memory and process count compared with what was measured.

The fitted values are put in the cost model by :mod:`~mpmsim.calibration.fitted_costs`; the
result is a :class:`~mpmsim.calibration.result.Calibration`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from mpmsim.calibration.check import compare, mape_by_metric, unexplained_rows
from mpmsim.calibration.client_time import estimate_client_conn_ms, estimate_rtt_ms
from mpmsim.calibration.cpu_fit import TOLD_ONLY, fit_cpu
from mpmsim.calibration.fitted_costs import cpu_only_costs, fitted_costs
from mpmsim.calibration.kernel_fit import fit_kernel, fitted_terms, kernel_ms, with_kernel
from mpmsim.calibration.linear import ParamFit
from mpmsim.calibration.measured import METRICS, Setup, split_representable
from mpmsim.calibration.memory_fit import class_clients, fit_memory, kept_class_memory
from mpmsim.calibration.php_fit import fit_php, kept_cpu, mape_by_setup, split_php, with_php
from mpmsim.calibration.regressors import model_cpu_ms
from mpmsim.calibration.result import Calibration, provenance
from mpmsim.calibration.shared_core import shared_core_rows
from mpmsim.calibration.tail_fit import fit_after_response, scheduler_slice_ms, tail_rows
from mpmsim.calibration.used_sim import simulated_counts
from mpmsim.calibration.wake_sim import plus_wake, simulated_wake_ms, wake_contradicted
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel
from mpmsim.workloads.readers import MeasuredRun


def modules_note(rows: Sequence[MeasuredRun]) -> str:
    """What the fitted rows' servers loaded that the model has no term for, said in the cost
    model's description: mod_lua (a row whose configuration names a ``LuaScope``) adds to every
    child and request whether or not its handler runs (measurements/shared-machine/README.md:
    ~0.2 MB a threaded child, ~20 KiB a prefork child, up to a third more CPU a request), so
    costs fitted on such rows carry it."""
    lua = sum(1 for r in rows if r.lua_scope)
    if not lua:
        return ""
    which = "Every fitted run" if lua == len(rows) else f"{lua} of the {len(rows)} fitted runs"
    return (
        f" {which} had mod_lua loaded (LuaScope): its memory and CPU per child and request"
        " are in these costs."
    )


def calibrate(
    runs: Sequence[MeasuredRun],
    base: CostModel,
    setup_hardware: Any,
    *,
    held_out: Sequence[bool] | None = None,
    jobs: int = 2,
    simulate: bool = True,
    progress: Callable[[int, int], None] | None = None,
    name: str = "calibrated",
    sources: Sequence[str] = (),
    keep: Collection[str] = (),
    memory_csv: Path | None = None,
    seed: int = 1,
    replications: int = 1,
) -> Calibration:
    """Fit ``base`` to the rows not held out, then simulate every row and compare.

    The comparison predicts each row by the mean of ``replications`` simulations of it
    (:func:`~mpmsim.calibration.check.compare`); the fit's own simulations (the workers that
    served, the tail after the response) run one each.

    Rows whose load the simulator cannot reproduce are neither fitted nor simulated: they are
    listed in ``skipped`` with the reason.
    """
    t0 = time.perf_counter()
    hold = list(held_out) if held_out is not None else [False] * len(runs)
    runs, hold, skipped = split_representable(runs, hold)
    fit_rows = [r for r, h in zip(runs, hold, strict=True) if not h]
    if not fit_rows:
        why = f"; {len(skipped)} skipped, e.g. {skipped[0]['reason']}" if skipped else ""
        raise InputError(f"every row is held out or skipped: nothing left to fit{why}",
                         field="--holdout")  # fmt: skip
    cs_us = float(setup_hardware.context_switch_us)
    apache_rows, php_rows = split_php(fit_rows)  # PHP rows fit the PHP fields (php_fit) only
    work_per_cpu_s = float(setup_hardware.host_mean_speed)
    cores = float(setup_hardware.vcpus)
    cpu = (fit_cpu(apache_rows, base, cs_us, keep, work_per_cpu_s, cores) if apache_rows
           else ParamFit(*kept_cpu(base, cs_us), rows_used=0, rms_rel_error=math.nan))  # fmt: skip
    # CPU 1's busy time beyond Apache's processes: the kernel's threads on Apache's core
    kernel = fit_kernel(apache_rows, base, keep, cores) if apache_rows else None
    # The round trip from the keep-alive one-client rows and Apache's measured CPU (physical:
    # taking the model's CPU off instead leaves ~5 us on the campaigns' machine, below any
    # loopback's); the client's time per connection is then the rest of a one-client row's
    # time per request beyond the server time the model charges it, so that the model gives
    # one client its measured rate (Apache's CPU per connection is higher at one client than
    # on the saturated rows the CPU fit uses).
    # Both beside the kernel's work that the simulator charges each request on the CPU.
    beside = partial(kernel_ms, with_kernel(base, kernel))
    rtt = estimate_rtt_ms(fit_rows, beside)
    client_conn_ms = (
        estimate_client_conn_ms(apache_rows, rtt, model_cpu_ms(cpu, base), beside) if apache_rows
        else base.client_conn_ms
    )  # fmt: skip
    # On hardware whose idle vCPU halts (idle_wake), the rows whose CPU was partly idle are
    # simulated once with the CPU fitted, and the CPU the simulator charges their wake-ups is
    # taken off what they measured before the CPU (and PHP's) is fitted again (wake_sim).
    setup = Setup(setup_hardware, rtt)
    wake: dict[str, float] = {}
    if simulate:
        wake = simulated_wake_ms(
            fit_rows, cpu_only_costs(base, cpu, kernel, cs_us, client_conn_ms), setup, cores=cores,
            jobs=jobs, seed=seed, progress=progress,
        )  # fmt: skip
    if wake and apache_rows:
        cpu = fit_cpu(apache_rows, base, cs_us, keep, work_per_cpu_s, cores, wake)
        client_conn_ms = estimate_client_conn_ms(
            apache_rows, rtt, plus_wake(model_cpu_ms(cpu, base), wake), beside
        )
    # Where one child can hold a row's load, the workers that served are the simulator's count
    # (used_sim), run with the CPU fitted: memory does not change what the simulator does.
    # So are event's connections held by its listeners with their pools (listener_kept_peak).
    used = kept = None
    if simulate and apache_rows:
        used, kept = simulated_counts(
            apache_rows, cpu_only_costs(base, cpu, kernel, cs_us, client_conn_ms), setup, jobs=jobs,
            seed=seed, progress=progress,
        )  # fmt: skip
    mem = fit_memory(apache_rows, base, keep, cores=cores, used=used, kept=kept)
    fitted_fields = {
        "accept_cpu_ms", "close_cpu_ms", "thread_switch_us", "process_switch_us", "classes",
        "switch_us_per_task", "client_conn_ms", *fitted_terms(kernel),
        *(() if mem is None else
          ("parent_mib", "shared_mib", "process_mib", "thread_mib", "thread_used_kib")),
        # these only when the rows could tell them (else the base's value is kept)
        *(name for name in TOLD_ONLY if math.isfinite(cpu.stderr.get(name, math.nan))),
        *(name for name in ("connection_kib", "listener_connection_kib") if mem is not None
          and math.isfinite(mem.stderr.get(name.replace("_kib", "_mib"), math.nan))),
    } - set(keep) if apache_rows else set()  # fmt: skip
    costs = with_kernel(
        fitted_costs(base, cpu, mem, cs_us) if apache_rows else base, kernel
    ).model_copy(
        update={
            "name": name,
            "client_conn_ms": round(client_conn_ms, 5),
            "description": (
                f"Fitted by mpmsim calibrate to {len(fit_rows)} measured runs "
                f"({', '.join(sources) or 'given rows'}) on {setup_hardware.name}, starting from "
                f"the {base.name!r} cost model; what was not fitted keeps its values."
                + modules_note(fit_rows)
            ),
            # The base's hand derivations no longer describe the fitted values.
            "justification": {
                **{
                    k: v
                    for k, v in base.justification.items()
                    if k.split(".")[0] not in fitted_fields
                },
                **(kept_class_memory(base, mem, keep) if apache_rows else {}),
            },
        }
    )
    php = fit_php(php_rows, costs, cs_us, memory_csv, wake) if php_rows else None
    costs = with_php(costs, php) if php else costs
    # The tail after the response only shows in simulated latencies: fitted by simulation
    # (tail_fit), after everything it rests on; without rows that show it, the base's value.
    tail = None
    if simulate and "after_response_cpu_ms" not in keep:
        tail = fit_after_response(
            tail_rows(apache_rows, scheduler_slice_ms(setup_hardware)), costs, setup,
            jobs=jobs, seed=seed, progress=progress,
        )  # fmt: skip
        if tail is not None:
            costs = costs.model_copy(update={
                "after_response_cpu_ms": tail.after_response_cpu_ms,
                "justification": {**costs.justification, "after_response_cpu_ms": (
                    f"fitted by simulation (calibration/tail_fit.py) to {tail.compared()}"
                )},
            })  # fmt: skip
    cal = Calibration(costs=costs, cpu_fit=cpu, memory_fit=mem, network_rtt_ms=rtt,
                      skipped=skipped, php_fit=php, tail_fit=tail, kernel_fit=kernel,
                      replications=replications, shared_core=shared_core_rows(runs),
                      class_rows=class_clients(apache_rows), idle_wake_ms=wake)  # fmt: skip
    if wake and (against := wake_contradicted(apache_rows, wake, cores)):
        cal.warnings.append(against)
    if simulate:
        cal.rows = compare(
            runs, costs, setup, held_out=hold, jobs=jobs, progress=progress, seed=seed,
            replications=replications,
        )  # fmt: skip
        cal.mape = mape_by_metric(cal.rows) | mape_by_setup(runs, cal.rows, METRICS)
        cal.unexplained = unexplained_rows(cal.rows)
    cal.seconds = time.perf_counter() - t0
    how_fitted = provenance(cal, len(runs), len(fit_rows), setup_hardware.name, sources)
    cal.costs = costs.model_copy(update={"calibration": how_fitted})
    return cal
