"""A cost model whose memory figures are a live Apache's, the rest taken from a base model.

The engine charges ``parent + shared + children x (process + threads x thread)`` (shared pages
once, like the sum of PSS over Apache's processes), so the measured figures split that sum:

- ``parent_mib``: the parent's private memory (Private_Clean + Private_Dirty);
- ``shared_mib``: the sum over every Apache process of PSS - private, i.e. each page the
  processes share counted once;
- ``process_mib`` + threads x ``thread_mib``: a child's mean private memory. One configuration
  cannot tell a child's memory from its threads', so ``thread_mib`` keeps the base model's
  figure (capped so that ``process_mib`` is not negative) and ``process_mib`` takes the rest.

CPU, connection and send-buffer figures and the request classes are the base model's: nothing
here measures them (``mpmsim bench`` and ``mpmsim calibrate`` do).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from mpmsim.inspection.process_memory import MemoryProfile
from mpmsim.models.costs import CostModel

MEMORY_FIELDS = ("parent_mib", "shared_mib", "process_mib", "thread_mib")


def measured_costs(
    memory: MemoryProfile,
    base: CostModel,
    *,
    threads_per_child: int,
    where: str,
    provenance: Mapping[str, Any],
) -> CostModel:
    """``base`` with the four memory figures of ``memory``; ``where`` names host and server.

    ``threads_per_child`` counts every thread the engine charges to a child (prefork 1;
    worker and event ThreadsPerChild plus the listener and the main thread).
    """
    private = memory.child_private_mean_mib
    thread_mib = min(base.thread_mib, private / threads_per_child)
    process_mib = private - threads_per_child * thread_mib
    span = f"{memory.samples} samples over {memory.window_s:g} s"
    measured = {
        "parent_mib": round(memory.parent_private_mib, 4),
        "shared_mib": round(memory.shared_mib, 4),
        "process_mib": round(process_mib, 4),
        "thread_mib": round(thread_mib, 5),
    }
    why = {
        "parent_mib": f"Measured by mpmsim inspect on {where}: the parent's private memory "
        f"(Private_Clean + Private_Dirty of /proc/PID/smaps_rollup), mean of {span}.",
        "shared_mib": f"Measured by mpmsim inspect on {where}: sum over Apache's processes of "
        f"PSS - private (each shared page counted once), mean of {span}.",
        "process_mib": f"Measured by mpmsim inspect on {where}: a child's mean private memory "
        f"{private:.3f} MiB ({span}, {memory.children_mean:g} children on average) minus "
        f"{threads_per_child} threads x thread_mib.",
        "thread_mib": f"The {base.name} model's {base.thread_mib:g} MiB"
        + (
            ""
            if thread_mib == base.thread_mib
            else f", capped at private / threads = {thread_mib:.5f}"
        )
        + ": one configuration cannot tell a child's memory from its threads' (inspect two "
        "servers with different ThreadsPerChild, or calibrate, to split them).",
    }
    kept = {
        key: text
        for key, text in base.justification.items()
        if key.partition(".")[0] not in MEMORY_FIELDS
    }
    data = base.model_dump()
    data.update(
        measured,
        name="inspected",
        justification={**kept, **why},
        uncertainty={k: v for k, v in base.uncertainty.items() if k not in MEMORY_FIELDS},
        calibration=dict(provenance),
        description=f"Memory measured on {where} by mpmsim inspect; every other figure is the "
        f"{base.name} model's.",
    )
    return CostModel.model_validate(data)


def costs_yaml(model: CostModel, base_name: str) -> str:
    """The cost model as YAML, with a header saying which figures are measured."""
    header = [
        "# Cost model written by `mpmsim inspect`.",
        "# MEASURED: parent_mib, shared_mib, process_mib (from /proc/PID/smaps_rollup of the",
        "#   running Apache; see justification and calibration).",
        "# NOT MEASURED: thread_mib and every CPU, connection and send-buffer figure and the",
        f"#   request classes are the `{base_name}` model's; fit them with `mpmsim bench` and",
        "#   `mpmsim calibrate` on this server.",
    ]
    data = model.model_dump(mode="json")
    for key in ("uncertainty", "calibration", "classes", "justification"):
        if not data.get(key):
            data.pop(key, None)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body


__all__ = ["MEMORY_FIELDS", "costs_yaml", "measured_costs"]
