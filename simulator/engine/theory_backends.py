"""The analytic bound of each backend pool beside the simulation (part of ``theory``).

A PHP-FPM pool serves at most ``pm.max_children`` requests at once, a proxied server its
``concurrency``. Each request routed there holds one of them for its CPU (the script's, PHP's own
per request, a proxy's own; on the same cores, at cpu_speed) and its wait, as
:mod:`mpmsim.engine.fpm` and :mod:`mpmsim.engine.backend` charge them. So the pool carries at
most size / that mean holding time of its requests, and the whole load at most that divided by
the share of requests that go there. mod_php runs in Apache's worker: the workers bound has it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpmsim.engine.demand import ClassCosts
from mpmsim.spec.php import FpmBackend
from mpmsim.spec.resolve import Prepared


@dataclass(frozen=True)
class PoolDemand:
    """One backend: its size, the share of requests it gets, their mean holding time (ms)."""

    name: str
    kind: str
    size: int
    size_label: str
    share: float
    hold_ms: float
    """Mean ms a request routed here holds one of its processes, without contention."""

    @property
    def key(self) -> str:
        """The bound's name in ``theory.bounds`` (``backend.NAME``: never a built-in's)."""
        return f"backend.{self.name}"

    @property
    def rps(self) -> float:
        """The most requests per second of the whole load the pool lets through."""
        work = self.share * self.hold_ms
        return 1000.0 * self.size / work if work > 0 else float("inf")

    def formula(self) -> str:
        return (
            f"{self.kind} {self.name}: {self.size_label} {self.size} / {self.hold_ms:.4g} ms a "
            f"request holds one (CPU and wait) / {self.share:.4g} of the requests go there"
        )

    def utilization(self, rate_rps: float) -> float:
        """The share of the pool's processes busy at ``rate_rps`` requests per second."""
        return rate_rps * self.share * self.hold_ms / (1000.0 * self.size)


def pool_demands(prep: Prepared, costs: list[ClassCosts]) -> list[PoolDemand]:
    """Each php_fpm and proxy backend the scenario routes to, with its demand."""
    speed = prep.hardware.mean_cpu_speed
    out = []
    for b in prep.php.backends:
        routed = [c for c in costs if c.backend == b.name]
        share = sum(c.share for c in routed)
        hold = sum(c.share * c.pool_ms(speed) for c in routed) / share if share > 0 else 0.0
        if isinstance(b, FpmBackend):
            size, label = b.pool.max_children, "pm.max_children"
        else:
            size, label = b.concurrency, "concurrency"
        out.append(PoolDemand(b.name, b.kind, size, label, share, hold))
    return out


__all__ = ["PoolDemand", "pool_demands"]
