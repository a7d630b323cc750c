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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from mpmsim.calibration.check import compare, mape_by_metric, unexplained_rows
from mpmsim.calibration.client_time import estimate_client_conn_ms, estimate_rtt_ms
from mpmsim.calibration.cpu_fit import TOLD_ONLY, fit_cpu
from mpmsim.calibration.kernel_fit import fit_kernel, fitted_terms, kernel_ms, with_kernel
from mpmsim.calibration.linear import ParamFit
from mpmsim.calibration.measured import METRICS, Setup, split_representable
from mpmsim.calibration.memory_fit import class_clients, fit_memory, kept_class_memory
from mpmsim.calibration.php_fit import PhpFit, fit_php, kept_cpu, mape_by_setup, split_php, with_php
from mpmsim.calibration.regressors import model_cpu_ms
from mpmsim.calibration.shared_core import shared_core_rows
from mpmsim.calibration.tail_fit import (
    TailFit,
    fit_after_response,
    scheduler_slice_ms,
    tail_rows,
)
from mpmsim.calibration.used_sim import simulated_counts
from mpmsim.calibration.wake_sim import plus_wake, simulated_wake_ms, wake_contradicted
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel, RequestClassCost
from mpmsim.workloads.readers import MeasuredRun


@dataclass
class Calibration:
    """The result of ``mpmsim calibrate``."""

    costs: CostModel
    cpu_fit: ParamFit
    memory_fit: ParamFit | None
    network_rtt_ms: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    mape: dict[str, dict[str, float | None]] = field(default_factory=dict)
    unexplained: list[dict[str, Any]] = field(default_factory=list)
    shared_core: list[dict[str, Any]] = field(default_factory=list)  # Apache not alone on its CPU
    skipped: list[dict[str, str]] = field(default_factory=list)  # rows it cannot simulate, why
    php_fit: PhpFit | None = None  # the PHP fields, when PHP rows were fitted (php_fit)
    tail_fit: TailFit | None = None  # after_response_cpu_ms, when rows showed it (tail_fit)
    kernel_fit: ParamFit | None = None  # the kernel's work on Apache's core (kernel_fit)
    #: per class (row content): the rows fitted and their fewest and most clients
    class_rows: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    seconds: float = 0.0
    replications: int = 1  # simulations per row in the comparison, their mean compared
    #: by run id, the idle wake-ups' CPU per request taken off a fitted row's (wake_sim)
    idle_wake_ms: dict[str, float] = field(default_factory=dict)
    #: what the rows say against an assumption the fit made (printed first)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``mpmsim calibrate --json``)."""
        return {
            "costs": self.costs.model_dump(exclude={"justification"}),
            "cpu_fit": self.cpu_fit.__dict__,
            "memory_fit": self.memory_fit.__dict__ if self.memory_fit else None,
            "php_fit": self.php_fit.__dict__ if self.php_fit else None,
            "tail_fit": self.tail_fit.__dict__ if self.tail_fit else None,
            "kernel_fit": self.kernel_fit.__dict__ if self.kernel_fit else None,
            "network_rtt_ms": self.network_rtt_ms,
            "class_rows": self.class_rows,
            "mape": self.mape,
            "unexplained": self.unexplained,
            "shared_core": self.shared_core,
            "skipped": self.skipped,
            "rows": self.rows,
            "replications": self.replications,
            "idle_wake_ms": self.idle_wake_ms,
            "warnings": self.warnings,
            "seconds": self.seconds,
        }


# -- stage 1: the linear fits --------------------------------------------------------------------
def _cpu_only(
    base: CostModel, cpu: ParamFit, kernel: ParamFit | None, context_switch_us: float,
    client_conn_ms: float,
) -> CostModel:  # fmt: skip
    """What the fit's own simulations run with before the memory fit: ``base`` with the CPU
    fitted, the kernel's work beside Apache and the client's time per connection (memory
    does not change what the simulator does)."""
    return with_kernel(fitted_costs(base, cpu, None, context_switch_us), kernel).model_copy(
        update={"client_conn_ms": round(client_conn_ms, 5)}
    )


def fitted_costs(
    base: CostModel, cpu: ParamFit, mem: ParamFit | None, context_switch_us: float
) -> CostModel:
    """``base`` with the fitted values put in place (and their standard errors)."""
    v, e = cpu.values, cpu.stderr
    conn_base = base.accept_cpu_ms + base.close_cpu_ms
    share = base.accept_cpu_ms / conn_base if conn_base > 0 else 0.5
    thread_us = max(v["switch_us"] - context_switch_us, 0.0)
    process_us = max(v["process_switch_total_us"] - context_switch_us, 0.0)
    classes = dict(base.classes)
    for key, value in v.items():
        if key.startswith("classes."):
            name = key.split(".")[1]
            old = classes.get(name, RequestClassCost())
            classes[name] = old.model_copy(update={"cpu_ms": round(value, 5)})
    base_mib = base.parent_mib + base.shared_mib
    parent_share = base.parent_mib / base_mib if base_mib > 0 else 0.3
    if mem is None:  # not enough readings: keep the base model's memory
        mem = ParamFit(
            values={"base_mib": base_mib, "process_mib": base.process_mib,
                    "thread_mib": base.thread_mib, "thread_used_mib": base.thread_used_kib / 1024},
            stderr={"base_mib": math.nan, "process_mib": math.nan, "thread_mib": math.nan,
                    "thread_used_mib": math.nan},
            rows_used=0, rms_rel_error=math.nan,
        )  # fmt: skip
    m, me = mem.values, mem.stderr
    for key, value in m.items():  # classes.NAME.worker_mib, classes.NAME.child_mib
        if key.startswith("classes."):
            _, name, what = key.split(".")
            old = classes.get(name, RequestClassCost())
            field = what.replace("_mib", "_kib")
            classes[name] = old.model_copy(update={field: round(value * 1024.0, 3)})
    update: dict[str, Any] = {
        "accept_cpu_ms": round(v["conn_cpu_ms"] * share, 5),
        "close_cpu_ms": round(v["conn_cpu_ms"] * (1 - share), 5),
        "thread_switch_us": round(thread_us, 3),
        "switch_us_per_task": round(v["switch_us_per_task"], 5),
        "switch_us_per_process": round(v["switch_us_per_process"], 5),
        "idle_connection_us": round(v["idle_connection_us"], 3),
        "fork_cpu_ms": round(max(v["fork_cpu_ms"], 0.0), 4),
        "thread_create_cpu_ms": round(max(v["thread_create_cpu_ms"], 0.0), 5),
        "process_switch_us": round(process_us, 3),
        "parent_mib": round(m["base_mib"] * parent_share, 4),
        "shared_mib": round(m["base_mib"] * (1 - parent_share), 4),
        "process_mib": round(m["process_mib"], 4),
        "thread_mib": round(m["thread_mib"], 5),
        "thread_used_kib": round(m["thread_used_mib"] * 1024.0, 3),
        "connection_kib": round(m.get("connection_mib", base.connection_kib / 1024.0) * 1024.0, 3),
        "listener_connection_kib": round(
            m.get("listener_connection_mib", base.listener_connection_kib / 1024.0) * 1024.0, 3
        ),
        "classes": classes,
        "uncertainty": {
            **{k: round(s, 6) for k, s in e.items() if k.startswith("classes.")},
            "accept_cpu_ms+close_cpu_ms": round(e["conn_cpu_ms"], 6),
            "thread_switch_us": round(e["switch_us"], 4),
            "process_switch_us": round(e["process_switch_total_us"], 4),
            "switch_us_per_task": round(e["switch_us_per_task"], 6),
            "switch_us_per_process": round(e["switch_us_per_process"], 6),
            "idle_connection_us": round(e["idle_connection_us"], 4),
            "fork_cpu_ms": round(e["fork_cpu_ms"], 5),
            "thread_create_cpu_ms": round(e["thread_create_cpu_ms"], 6),
            "parent_mib+shared_mib": round(me["base_mib"], 4),
            "process_mib": round(me["process_mib"], 5),
            "thread_mib": round(me["thread_mib"], 6),
            "thread_used_kib": round(me["thread_used_mib"] * 1024.0, 4),
            "connection_kib": round(me.get("connection_mib", math.nan) * 1024.0, 4),
            "listener_connection_kib": round(
                me.get("listener_connection_mib", math.nan) * 1024.0, 4
            ),
            **{
                k.replace("_mib", "_kib"): round(s * 1024.0, 4)
                for k, s in me.items()
                if k.startswith("classes.") and math.isfinite(s)
            },
        },
    }
    return base.model_copy(update=update)


# -- stage 2: simulate every row -----------------------------------------------------------------
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
            fit_rows, _cpu_only(base, cpu, kernel, cs_us, client_conn_ms), setup, cores=cores,
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
            apache_rows, _cpu_only(base, cpu, kernel, cs_us, client_conn_ms), setup, jobs=jobs,
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
    provenance = _provenance(cal, len(runs), len(fit_rows), setup_hardware.name, sources)
    cal.costs = costs.model_copy(update={"calibration": provenance})
    return cal


def _provenance(
    cal: Calibration, rows: int, fitted: int, hardware: str, sources: Sequence[str]
) -> dict[str, Any]:
    """How the model was fitted: the ``calibration`` entry of the written cost model."""
    mem = cal.memory_fit
    return {
        "sources": list(sources),
        "hardware": hardware,
        "rows_fitted": fitted,
        "rows_held_out": rows - fitted,
        "network_rtt_ms": round(cal.network_rtt_ms, 4),
        "mape_percent": cal.mape,
        "replications": cal.replications,
        "cpu_fit_rms_rel_error": round(cal.cpu_fit.rms_rel_error, 4),
        "memory_fit_rms_rel_error": round(mem.rms_rel_error, 4) if mem else None,
        "after_response_fit": None
        if cal.tail_fit is None
        else {
            "rows": cal.tail_fit.rows_used,
            "mean_abs_log_error": {str(k): round(v, 4) for k, v in cal.tail_fit.objective.items()},
        },
        "unexplained_rows": [u["run_id"] for u in cal.unexplained],
        # what the rows say against an assumption of the fit (only when they do)
        **({"warnings": list(cal.warnings)} if cal.warnings else {}),
    }
