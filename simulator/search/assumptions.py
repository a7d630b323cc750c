"""What a sizing assumes about Apache's memory, where the figures come from, and when to doubt them.

:func:`memory_assumptions` states what one child (process, thread) and one request in flight
are assumed to hold, and the cost model those figures come from (its name, description and
calibration or justification); its ``warnings`` say when a dynamic-looking mix runs on the
children of the minimal Apache the shipped cost models were measured on.
:func:`assumption_lines` renders it for the terminal. ``mpmsim optimize`` and ``mpmsim report``
print both in their first lines.
"""

from __future__ import annotations

from typing import Any

from mpmsim.models.costs import CostModel, cost_catalog
from mpmsim.spec.resolve import Prepared

DYNAMIC_CPU_MS = 2.0
"""A class whose handler takes this much CPU (reference core) or waits at all looks dynamic:
a static file costs tens of microseconds (the default model's ``static``: 0.023 ms)."""

MINIMAL_APACHE = ("default", "bench-1core", "t3-medium-primer")
"""Shipped cost models whose children are the minimal 7-module Apache of data/apache-bench."""


def memory_assumptions(prep: Prepared) -> dict[str, Any]:
    """One child's and one request's assumed memory, their source, and warnings (JSON-ready)."""
    c = prep.costs
    threads = prep.directives.ThreadsPerChild if prep.mpm != "prefork" else 0
    private = c.process_mib + threads * c.thread_mib
    total = sum(k.weight for k in prep.classes) or 1.0
    request_kib = sum(k.weight * k.memory_kib for k in prep.classes) / total
    return {
        "cost_model": c.name,
        "cost_model_description": " ".join(c.description.split()),
        "source": _provenance(c),
        "mpm": prep.mpm,
        "threads_per_child": threads,
        "process_mib": c.process_mib,
        "thread_mib": c.thread_mib,
        "shared_mib": c.shared_mib,
        "parent_mib": c.parent_mib,
        "connection_kib": c.connection_kib,
        "child_private_mib": round(private, 4),
        "child_rss_mib": round(private + c.shared_mib, 4),
        "request_memory_kib": round(request_kib, 3),
        "classes": [
            {"name": k.name, "weight": k.weight, "memory_kib": k.memory_kib} for k in prep.classes
        ],
        "warnings": _warnings(prep, private + c.shared_mib, request_kib),
    }


def _provenance(c: CostModel) -> str:
    """Where the child memory figures come from: calibration, else process_mib's justification."""
    cal = c.calibration
    if cal:
        sources = ", ".join(str(s) for s in cal.get("sources", [])) or "measurements"
        rows = f"{cal['rows_fitted']} measured runs of " if "rows_fitted" in cal else ""
        on = f" on {cal['hardware']}" if "hardware" in cal else ""
        text = f"fitted by calibration to {rows}{sources}{on}"
        fitted = cal.get("fitted")
        if isinstance(fitted, dict) and not any(k.endswith("_mib") for k in fitted):
            text += f" (fitted: {', '.join(fitted)}; its memory figures were not fitted)"
        return text
    why = " ".join(c.justification.get("process_mib", "").split())
    if why:
        return f"process_mib: {why.split('. ')[0].rstrip('.')}"
    return "no calibration or justification in the cost model"


def _minimal_apache(c: CostModel) -> bool:
    """True when ``c``'s children are those of a shipped minimal-Apache model (not overridden)."""
    ref = cost_catalog().get(c.name) if c.name in MINIMAL_APACHE else None
    return ref is not None and (c.process_mib, c.shared_mib, c.thread_mib) == (
        ref.process_mib,
        ref.shared_mib,
        ref.thread_mib,
    )


def _warnings(prep: Prepared, child_rss: float, request_kib: float) -> list[str]:
    """A warning when dynamic-looking classes run on a minimal Apache's children."""
    c = prep.costs
    dynamic = []
    for m, k in zip(prep.scenario.mix, prep.classes, strict=True):
        own = m.name in c.classes and m.cpu_ms is None and m.wait_ms is None
        if not own and (k.mean_cpu_ms() >= DYNAMIC_CPU_MS or k.mean_wait_ms() > 0):
            dynamic.append(f"{k.name}: {k.mean_cpu_ms():g} ms CPU, {k.mean_wait_ms():g} ms wait")
    if not dynamic or not _minimal_apache(c):
        return []
    held = (
        f"; the mix's memory_kib ({request_kib / 1024:.1f} MiB per request) is the requests' "
        "memory, not the children's own"
        if request_kib
        else ""
    )
    return [
        f"the mix looks dynamic ({'; '.join(dynamic)}) but cost model {c.name!r} has the "
        f"children of a minimal 7-module Apache ({child_rss:.1f} MiB RSS each): a PHP/dynamic "
        f"site's are tens of MiB{held}. Measure yours with `mpmsim inspect` or calibrate "
        "(`mpmsim calibrate`) and set `costs:`"
    ]


def assumption_lines(a: dict[str, Any]) -> list[str]:
    """The assumptions as text: one line for the child, one for requests, then warnings."""
    if a["threads_per_child"]:
        child = (
            f"one child ({a['threads_per_child']} threads) holds {a['child_private_mib']:.2f} "
            f"MiB of its own ({a['process_mib']:g} MiB process + {a['thread_mib']:g} MiB per "
            "thread)"
        )
    else:
        child = f"one child (process) holds {a['child_private_mib']:.2f} MiB of its own"
    lines = [
        f"memory assumed: {child} + {a['shared_mib']:g} MiB shared by all (RSS about "
        f"{a['child_rss_mib']:.1f} MiB); each connection {a['connection_kib']:g} KiB; each "
        f"request in flight {a['request_memory_kib']:g} KiB (the mix's memory_kib, by weight)",
        f"  from cost model {a['cost_model']!r}{_first_sentence(a['cost_model_description'])}: "
        f"{a['source']}",
    ]
    return lines + [f"warning: {w}" for w in a["warnings"]]


def _first_sentence(text: str) -> str:
    """`` (the description's first sentence)``, or nothing for an empty description."""
    head = text.split(". ")[0].rstrip(".")
    return f" ({head})" if head else ""
