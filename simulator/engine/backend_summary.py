"""A run's backends in its result: the ``backends`` block and the backend as a bottleneck."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mpmsim.engine.bottleneck import Bottleneck
from mpmsim.spec.php import FpmBackend, ProxyBackend
from mpmsim.spec.resolve import Prepared

#: A backend is saturated when its slots were this busy on average, or requests waited for it.
SATURATED = 0.9


def _mean(records: Sequence[dict[str, Any]], key: str) -> float:
    values = [float(r.get(key, 0.0)) for r in records]
    return sum(values) / len(values) if values else 0.0


def _slots(backend: FpmBackend | ProxyBackend) -> int:
    return backend.pool.max_children if isinstance(backend, FpmBackend) else backend.concurrency


def backends_block(prep: Prepared, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The JSON's ``backends``: per backend, its settings and what it did (means over
    replications of whole-run figures; peaks are the largest)."""
    out: dict[str, Any] = {}
    for b in prep.php.backends:
        p = f"backend.{b.name}."
        keys = sorted({k[len(p) :] for r in records for k in r if k.startswith(p)})
        figures = {
            k: (
                max(r[p + k] for r in records)
                if k.endswith("_peak")
                else round(_mean(records, p + k), 4)
            )
            for k in keys
        }
        if isinstance(b, FpmBackend):
            head: dict[str, Any] = {"kind": b.kind, "pool": b.pool.name, "pm": b.pool.pm}
            head["pm.max_children"] = b.pool.max_children
            head["listen_queue"] = b.pool.backlog(prep.scenario.server.somaxconn) + 1
        else:
            head = {"kind": b.kind, "concurrency": b.concurrency, "queue": b.queue}
        out[b.name] = {**head, **figures}
    if prep.php.mod_php is not None:
        out["mod_php"] = {"kind": "mod_php", "memory_limit_mib": prep.php.mod_php.growth_cap_mib}
    return out


def backend_bottleneck(
    prep: Prepared, records: Sequence[dict[str, Any]], found: Bottleneck
) -> Bottleneck:
    """``found``, unless a backend was saturated while the CPU and RAM were not the limit:
    then the backend is (Apache's workers only waited for it)."""
    if found.resource in ("ram", "cpu") or not prep.php.backends:
        return found
    worst: tuple[float, str, float, int, FpmBackend | ProxyBackend] | None = None
    for b in prep.php.backends:
        busy = _mean(records, f"backend.{b.name}.busy_mean") / _slots(b)
        queued = _mean(records, f"backend.{b.name}.queue_mean")
        if (busy >= SATURATED or queued >= 1.0) and (worst is None or busy > worst[0]):
            worst = (busy, b.name, queued, _slots(b), b)
    if worst is None:
        return found
    busy, name, queued, slots, b = worst
    limit = f"pm.max_children {slots}" if isinstance(b, FpmBackend) else f"concurrency {slots}"
    rejected = _mean(records, f"backend.{name}.rejected")
    overflow = f"; {rejected:.0f} got 503 (its queue was full)" if rejected >= 0.5 else ""
    why = (
        f"backend {name} ({limit}) was {100 * busy:.0f} % busy and {queued:.1f} requests "
        f"waited for it on average, each holding an Apache worker meanwhile{overflow}"
    )
    util = {**found.utilization, f"backend.{name}": round(busy, 4)}
    return Bottleneck(f"backend:{name}", why, util)
