"""The request mix: classes with their CPU, wait, response size and memory, drawn per request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mpmsim.workloads.distributions import (
    ConstantSampler,
    DistributionSpec,
    Sampler,
    make_sampler,
    mean_of,
)


@dataclass(frozen=True)
class ResolvedClass:
    """A mix class with every field filled in (from the scenario or the cost model)."""

    name: str
    weight: float
    cpu_ms: DistributionSpec
    wait_ms: DistributionSpec
    response_bytes: DistributionSpec
    memory_kib: float
    streams: bool
    worker_kib: float = 0.0
    """Kept by each worker once it has served this class, until its child exits."""
    child_kib: float = 0.0
    """Kept by a child once any of its workers has served this class, until it exits."""

    def mean_cpu_ms(self) -> float:
        """Mean handler CPU, ms on the reference core."""
        return mean_of(self.cpu_ms)

    def mean_wait_ms(self) -> float:
        """Mean time the worker waits without CPU, ms."""
        return mean_of(self.wait_ms)

    def mean_response_bytes(self) -> float:
        """Mean response size, bytes."""
        return mean_of(self.response_bytes)


class RequestDraw:
    """Draws the class of each request and its CPU (s), wait (s) and response size (bytes)."""

    _BLOCK = 1024

    def __init__(self, classes: Sequence[ResolvedClass], rng: np.random.Generator) -> None:
        self.classes = list(classes)
        self._rng = rng
        w = np.array([c.weight for c in classes], dtype=float)
        self._p = w / w.sum()
        self._single = len(classes) == 1
        self._cpu: list[Sampler] = [make_sampler(c.cpu_ms, rng) for c in classes]
        self._wait: list[Sampler] = [make_sampler(c.wait_ms, rng) for c in classes]
        self._bytes: list[Sampler] = [make_sampler(c.response_bytes, rng) for c in classes]
        self.memory_mib = [c.memory_kib / 1024.0 for c in classes]
        self.worker_mib = [c.worker_kib / 1024.0 for c in classes]
        self.child_mib = [c.child_kib / 1024.0 for c in classes]
        self.streams = [c.streams for c in classes]
        self._buf: list[int] = []
        self._i = 0
        # a class whose CPU, wait and size are all constants always draws the same request
        self._fixed = [
            self._draw(k) if _constant(self._cpu[k], self._wait[k], self._bytes[k]) else None
            for k in range(len(classes))
        ]

    def draw(self) -> tuple[int, float, float, float]:
        """(class index, cpu_s, wait_s, response_bytes) for the next request."""
        if self._single:
            k = 0
        else:
            if self._i >= len(self._buf):
                self._buf = self._rng.choice(len(self._p), size=self._BLOCK, p=self._p).tolist()
                self._i = 0
            k = self._buf[self._i]
            self._i += 1
        fixed = self._fixed[k]
        return self._draw(k) if fixed is None else fixed

    def _draw(self, k: int) -> tuple[int, float, float, float]:
        """A request of class ``k``: its CPU, wait and size drawn."""
        cpu = self._cpu[k].draw()
        wait = self._wait[k].draw()
        size = self._bytes[k].draw()
        # Negative draws count as 0 (as max(x, 0.0) would, but cheaper per request).
        return (
            k,
            (0.0 if cpu < 0.0 else cpu) * 1e-3,
            (0.0 if wait < 0.0 else wait) * 1e-3,
            0.0 if size < 0.0 else size,
        )

    def mean_cpu_s(self) -> float:
        """Mean handler CPU per request, reference seconds."""
        return float(sum(p * c.mean_cpu_ms() for p, c in zip(self._p, self.classes, strict=True)))

    def mean_wait_s(self) -> float:
        """Mean wait per request, seconds."""
        return float(sum(p * c.mean_wait_ms() for p, c in zip(self._p, self.classes, strict=True)))


def _constant(*samplers: Sampler) -> bool:
    """Whether every one of ``samplers`` always gives the same value (draws no random number)."""
    return all(isinstance(s, ConstantSampler) for s in samplers)
