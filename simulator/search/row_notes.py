"""What a configuration's row says beside its figures, in sentences: apache2buddy's figure
against ours, a burstable instance's CPU credits at its use, and, where nothing fits in RAM,
what the smallest size needs (``mpmsim optimize``'s result and text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mpmsim.models.hardware.credits import (
    HOURS_PER_MONTH,
    credit_outlook,
    empty_balance_set,
    is_burstable,
)
from mpmsim.search.space import Bounds, smallest
from mpmsim.spec.resolve import Prepared


def nothing_fits_advice(
    prep: Prepared, mpms: Sequence[str], bounds: Bounds, headroom: float
) -> str:
    """The advice on a machine where no MPM's smallest size fits at worst (every worker holding
    a request): what the smallest of them needs and what would change it."""
    cand, need = min((smallest(prep, m) for m in mpms), key=lambda pair: pair[1])
    request_kib = max((k.memory_kib for k in prep.classes), default=0.0)
    held = f", each worker holding a request's {request_kib:,.0f} KiB" if request_kib else ""
    return (
        f"memory: no configuration fits in {bounds.memory_budget_mib:.0f} MiB (RAM - "
        f"os_reserved_mib, less {headroom:.0%} headroom): the smallest, {cand.mpm} "
        f"MaxRequestWorkers {cand.max_request_workers} (ThreadsPerChild "
        f"{cand.threads_per_child}), needs {need:,.0f} MiB with every child and thread "
        f"alive{held}; give more RAM (a larger instance) or less memory per request (the mix's "
        "memory_kib)"
    )


def unfit_row(prep: Prepared, mpm: str, bounds: Bounds) -> dict[str, Any]:
    """The row of an MPM searched but never simulated: not even its smallest size fits."""
    cand, need = smallest(prep, mpm)
    return {
        "mpm": mpm, "feasible": False, "goals_met": False,
        "note": (
            f"no size fits in the {bounds.memory_budget_mib:,.0f} MiB budget: its smallest "
            f"(MaxRequestWorkers {cand.max_request_workers}, ThreadsPerChild "
            f"{cand.threads_per_child}) needs {need:,.0f} MiB with every worker busy"
        ),
    }  # fmt: skip


def credits_row(prep: Prepared, row: dict[str, Any]) -> dict[str, Any] | None:
    """A burstable instance's credits at this configuration's CPU use (None otherwise): in
    standard mode above its baseline the goals hold only while a balance lasts, and
    ``empty_balance_set`` is the ``--set`` that sizes it for good (as ``mpmsim report`` does)."""
    hw = prep.hardware
    if not is_burstable(hw) or row["cpu_utilization"] is None:
        return None
    out = credit_outlook(hw, row["cpu_utilization"], HOURS_PER_MONTH)
    return out | {
        "cpu_utilization": row["cpu_utilization"],
        "empty_balance_set": empty_balance_set(hw.name),
    }


def versus_buddy(buddy: dict[str, Any], ours: int, binding: dict[str, str]) -> str:
    """One sentence: apache2buddy's figure beside ours, and why they differ."""
    theirs = buddy["max_request_workers"]
    held = buddy.get("request_mib_per_worker") or 0.0
    busy = f", each worker holding a request's {held:g} MiB" if held else ""
    per_child = theirs // max(buddy["max_children"], 1)
    threads = f" x {per_child} threads per child" if per_child > 1 else ""
    head = (
        f"apache2buddy's rule gives MaxRequestWorkers {theirs} ({buddy['max_children']} "
        f"children = (RAM - os_reserved) / {buddy['child_rss_mib']} MiB, the largest child's "
        f"RSS{busy}{threads}); we recommend {ours}"
    )
    if ours > theirs:
        why = (
            "apache2buddy charges every child the pages all children share (RSS), while RAM "
            "holds them once (PSS, what the simulation counts)"
        )
    elif ours == theirs:
        why = "both stop where memory runs out"
    elif binding["constraint"] in ("p95", "error_rate"):
        why = f"more workers than that break the {binding['constraint']} goal"
    elif binding["constraint"] == "ram":
        why = "we keep the headroom free and count each connection's and request's memory too"
    elif binding["bottleneck"] == "cpu":
        why = (
            "the CPU is saturated there, so more workers add context switches and run-queue "
            "waits, not throughput; apache2buddy only asks what fits in memory"
        )
    else:
        why = (
            "the load keeps no more workers busy, so more would only hold memory; apache2buddy "
            "only asks what fits in memory"
        )
    return f"{head}: {why}."
