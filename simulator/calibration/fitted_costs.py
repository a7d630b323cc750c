"""The fitted values put in a cost model: :func:`fitted_costs` (``base`` with the CPU and memory
fits' values and standard errors in place) and :func:`cpu_only_costs` (the CPU fitted alone,
what the fit's own simulations run with before the memory fit)."""

from __future__ import annotations

import math
from typing import Any

from mpmsim.calibration.kernel_fit import with_kernel
from mpmsim.calibration.linear import ParamFit
from mpmsim.models.costs import CostModel, RequestClassCost


def cpu_only_costs(
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
