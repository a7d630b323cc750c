"""Resolving a scenario's request mix against a cost model: every field of every class filled in."""

from __future__ import annotations

from collections.abc import Sequence

from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel
from mpmsim.spec.scenario import MixClass
from mpmsim.workloads.mix import ResolvedClass


def resolve_mix(
    mix: Sequence[MixClass], costs: CostModel, *, source: str = "<scenario>"
) -> list[ResolvedClass]:
    """Fill fields a mix class leaves out from the cost model's class of the same name."""
    out: list[ResolvedClass] = []
    for i, m in enumerate(mix):
        base = costs.classes.get(m.name)
        fields: dict[str, object] = {}
        for key in ("cpu_ms", "wait_ms", "response_bytes", "memory_kib", "worker_kib", "child_kib"):
            value = getattr(m, key)
            if value is None:
                if base is None:
                    value = 0.0
                    if key == "cpu_ms":
                        raise InputError(
                            f"class {m.name!r} has no cpu_ms and cost model {costs.name!r} has no "
                            "class of that name (it has: "
                            f"{', '.join(sorted(costs.classes)) or '-'})",
                            file=source,
                            field=f"mix[{i}].cpu_ms",
                        )
                else:
                    value = getattr(base, key)
            fields[key] = value
        out.append(
            ResolvedClass(
                name=m.name,
                weight=m.weight,
                cpu_ms=fields["cpu_ms"],  # type: ignore[arg-type]
                wait_ms=fields["wait_ms"],  # type: ignore[arg-type]
                response_bytes=fields["response_bytes"],  # type: ignore[arg-type]
                memory_kib=float(fields["memory_kib"]),  # type: ignore[arg-type]
                worker_kib=float(fields["worker_kib"]),  # type: ignore[arg-type]
                child_kib=float(fields["child_kib"]),  # type: ignore[arg-type]
                streams=m.streams,
            )
        )
    return out
