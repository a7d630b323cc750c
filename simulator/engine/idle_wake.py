"""What a job costs more after its vCPU has been idle: a virtual machine's halted vCPU.

An idle guest vCPU first polls for a short while (cpuidle's ``haltpoll`` driver,
``drivers/cpuidle/cpuidle-haltpoll.c``) and then halts (HLT: the host takes the core back and
runs other work on it). The next task the guest runs finds its caches and TLB cold, the colder
the longer the vCPU was away. Measured on the shared set's kind of machine with paced keep-alive
clients (measurements/shared-machine/idle-wake): Apache's CPU per static request is ~0.10 ms at
5,000 req/s, ~0.15 at 500 and ~0.33 at 20-100, against ~0.053 saturated, following the rate and
not the connections. The hardware's ``idle_wake`` (:class:`mpmsim.models.hardware.IdleWakeSpec`)
says how much; the CPU adds it to the first job after an idle spell (mpmsim.engine.cpu).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mpmsim.models.hardware import IdleWakeSpec


class IdleWake:
    """The extra CPU of a job that wakes a vCPU after ``idle_s`` of rest."""

    __slots__ = ("_cold_per_idle", "_halt_after_s", "_max_s", "_wake_s", "charged_s", "on")

    def __init__(self, spec: IdleWakeSpec | None = None) -> None:
        self.on = spec is not None and spec.cold_max_us > 0.0
        self._halt_after_s = spec.halt_after_us * 1e-6 if spec else 0.0
        self._wake_s = spec.wake_us * 1e-6 if spec else 0.0
        self._cold_per_idle = spec.cold_us_per_idle_ms * 1e-3 if spec else 0.0
        self._max_s = spec.cold_max_us * 1e-6 if spec else 0.0
        self.charged_s = 0.0  # what :meth:`charge` has added to jobs so far

    def charge(self, idle_s: float) -> float:
        """:meth:`cost_s`, counted in :attr:`charged_s` (the run's idle wake-up CPU)."""
        extra = self.cost_s(idle_s)
        self.charged_s += extra
        return extra

    def cost_s(self, idle_s: float) -> float:
        """Nothing after a spell the vCPU polled through, else the wake-up and a share of the
        idle time, up to the whole cold cache."""
        if idle_s <= self._halt_after_s:
            return 0.0
        extra = self._wake_s + self._cold_per_idle * idle_s
        return extra if extra < self._max_s else self._max_s
