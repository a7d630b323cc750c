"""What a sizing assumes about Apache's memory, where the figures come from, and when to doubt them.

:func:`memory_assumptions` states what one child (process, thread) and one request in flight
are assumed to hold, and the cost model those figures come from (its name, description and
calibration or justification); its ``warnings`` say when a dynamic-looking mix runs on the
children of the minimal Apache the shipped cost models were measured on, and when the measured
window opens while an open load's sessions still build up (every candidate is then judged on a
lighter load than the steady one: :mod:`mpmsim.spec.session_ramp`).
:func:`assumption_lines` renders it for the terminal. ``mpmsim optimize`` and ``mpmsim report``
print both in their first lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mpmsim.engine.sched_tunables import slice_ms
from mpmsim.models.costs import CostModel, cost_catalog
from mpmsim.models.mpm.registry import kept_connection_kib
from mpmsim.search.php import fpm_backend, fpm_child_mib, modphp_growth_mib
from mpmsim.spec.resolve import Prepared
from mpmsim.spec.session_ramp import fixed_window_note

DYNAMIC_CPU_MS = 2.0
"""A class whose handler takes this much CPU (reference core) or waits at all looks dynamic:
a static file costs tens of microseconds (the default model's ``static``: 0.023 ms)."""

MINIMAL_APACHE = ("default", "bench-1core", "t3-medium-primer")
"""Shipped cost models whose children are the minimal 7-module Apache of data/apache-bench."""

LONG_REQUEST_TAIL = (
    "for a 1 ms handler at 50-400 clients on one core, real Apache's p95 was above the model's "
    'in 17 of 18 runs, by 25 % at the median and up to 49 % (measurements/README.md, "The '
    'CPU-bound tails are tasks preempted in the middle of a request")'
)
"""What the model's tails miss for requests longer than a slice, as measured: the shared set's
machine (Linux 6.18, Apache 2.4.71), ``bench-1core`` predicting measurements/shared-machine/lua
/cpu-bound (``benchmarks/bench_fidelity.py --predict-with bench-1core``, 2026-12-06)."""


def memory_assumptions(prep: Prepared, php: Sequence[Prepared] | None = None) -> dict[str, Any]:
    """One child's and one request's assumed memory, their source, and warnings (JSON-ready);
    ``php``: what PHP's children are assumed to hold in each of these set-ups (default: the
    one ``prep`` runs), see :func:`php_assumptions`."""
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
        "listener_connection_kib": kept_connection_kib(c, prep.mpm),
        "child_private_mib": round(private, 4),
        "child_rss_mib": round(private + c.shared_mib, 4),
        "request_memory_kib": round(request_kib, 3),
        "classes": [
            {"name": k.name, "weight": k.weight, "memory_kib": k.memory_kib} for k in prep.classes
        ],
        "warnings": _warnings(prep, private + c.shared_mib, request_kib),
        "php": php_assumptions([prep] if php is None else php),
    }


def php_assumptions(preps: Sequence[Prepared]) -> list[dict[str, Any]]:
    """Each set-up's PHP children in the long run: an Apache child with mod_php (base, growth per
    request up to memory_limit, recycled or not and why), a PHP-FPM pool's child and master."""
    out: list[dict[str, Any]] = []
    for p in preps:
        c, m, b = p.costs, p.php.mod_php, fpm_backend(p)
        if m is not None:
            d = p.directives
            after = d.MaxConnectionsPerChild * max(int(d.MaxKeepAliveRequests), 1)
            grown = modphp_growth_mib(m, p)
            out.append({
                "kind": "mod_php", "mpm": p.mpm, "base_mib": m.child_extra_mib,
                "growth_mib_per_request": m.child_growth_mib,
                "memory_limit_mib": _finite(m.growth_cap_mib), "recycled_after_requests": after,
                "recycled_by": (f"MaxConnectionsPerChild {d.MaxConnectionsPerChild}" if after
                                else "nothing: MaxConnectionsPerChild 0"),
                "grown_mib": round(grown, 4), "child_php_mib": round(m.child_extra_mib + grown, 4),
                "shared_mib": c.modphp_shared_mib,
                "source": _php_source(c, ("modphp_child_mib", "modphp_child_growth_mib")),
            })  # fmt: skip
        if b is not None:
            child = fpm_child_mib(b)
            out.append({
                "kind": "php_fpm", "mpm": p.mpm, "pool": b.pool.name, "base_mib": b.child_base_mib,
                "growth_mib_per_request": b.child_growth_mib,
                "memory_limit_mib": _finite(b.growth_cap_mib),
                "recycled_after_requests": b.pool.max_requests,
                "recycled_by": (f"pm.max_requests {b.pool.max_requests}" if b.pool.max_requests
                                else "nothing: pm.max_requests 0"),
                "grown_mib": round(child - b.child_base_mib, 4), "child_mib": round(child, 4),
                "master_mib": b.master_mib,
                "source": _php_source(c, ("fpm_child_mib", "fpm_child_growth_mib")),
            })  # fmt: skip
    return out


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _php_source(c: CostModel, fields: Sequence[str]) -> str:
    """Where PHP's memory figures come from: the cost model's justification of each field."""
    parts = []
    for f in fields:
        why = " ".join(c.justification.get(f, "no justification").split()).split("; ")[0]
        parts.append(f"{f}: {why.split('. ')[0].rstrip('.')}")
    return f"cost model {c.name!r}: " + "; ".join(parts)


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
    """Warnings: a window still in an open load's ramp; dynamic-looking classes on a minimal
    Apache's children; requests longer than a scheduler slice."""
    ramp = fixed_window_note(prep.scenario)  # auto: each run's own warnings say it
    return [
        *([ramp] if ramp else []),
        *_minimal_children(prep, child_rss, request_kib),
        *_long_requests(prep),
    ]


def _long_requests(prep: Prepared) -> list[str]:
    """A warning when a class's requests run a scheduler slice or longer: on a saturated CPU
    Linux preempts them and runs the tasks woken meanwhile first, a tail the model was measured
    to under-state (:data:`LONG_REQUEST_TAIL`)."""
    hw = prep.hardware
    slice_len_ms = slice_ms(hw)
    runs_ms = [(k.name, k.mean_cpu_ms() / hw.cpu_speed) for k in prep.classes]
    long = [f"{name} {ms:.3g} ms" for name, ms in runs_ms if ms >= slice_len_ms]
    if not long:
        return []
    return [
        f"requests at least a scheduler slice long ({slice_len_ms:g} ms; CPU per request: "
        f"{', '.join(long)}): where they saturate the CPU, Linux preempts them and runs the "
        "tasks woken meanwhile first, so those it preempted wait long; the model's tails for "
        f"such requests were measured short: {LONG_REQUEST_TAIL}. Leave headroom under a p95 goal"
    ]


def _minimal_children(prep: Prepared, child_rss: float, request_kib: float) -> list[str]:
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
        f"{a['child_rss_mib']:.1f} MiB); each connection {a['connection_kib']:g} KiB"
        + (
            f" (+{a['listener_connection_kib']:g} KiB while its listener holds it)"
            if a.get("listener_connection_kib")
            else ""
        )
        + "; each "
        f"request in flight {a['request_memory_kib']:g} KiB (the mix's memory_kib, by weight)",
        f"  from cost model {a['cost_model']!r}{_first_sentence(a['cost_model_description'])}: "
        f"{a['source']}",
    ]
    for p in a.get("php", []):
        lines += _php_lines(p)
    return lines + [f"warning: {w}" for w in a["warnings"]]


def _php_lines(p: dict[str, Any]) -> list[str]:
    """One PHP set-up's long-run child memory, what decides it and where the figures come from."""
    limit = p["memory_limit_mib"]
    cap = "no memory_limit" if limit is None else f"memory_limit {limit:g} MiB"
    if p["recycled_after_requests"]:
        grows = (
            f"recycled after {p['recycled_after_requests']} requests ({p['recycled_by']}), so it "
            f"grows {p['grown_mib']:g} MiB ({cap})"
        )
    else:
        grows = (
            f"never recycled ({p['recycled_by']}), so it grows to {cap}: +{p['grown_mib']:g} MiB"
        )
    per_req = f"{p['growth_mib_per_request']:g} MiB per PHP request"
    if p["kind"] == "mod_php":
        head = (
            f"memory assumed for {p['mpm']} + mod_php: each Apache child holds "
            f"{p['child_php_mib']:g} MiB of PHP in the long run: {p['base_mib']:g} MiB base + "
            f"{per_req}, {grows}; libphp {p['shared_mib']:g} MiB shared"
        )
    else:
        head = (
            f"memory assumed for {p['mpm']} + PHP-FPM (pool {p['pool']}): each FPM child holds "
            f"{p['child_mib']:g} MiB in the long run: {p['base_mib']:g} MiB base + {per_req}, "
            f"{grows}; the master {p['master_mib']:g} MiB"
        )
    return [head, f"  from {p['source']}"]


def _first_sentence(text: str) -> str:
    """`` (the description's first sentence)``, or nothing for an empty description."""
    head = text.split(". ")[0].rstrip(".")
    return f" ({head})" if head else ""
