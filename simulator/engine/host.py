"""A shared host: each vCPU runs slower at times, as another guest takes its physical core.

A virtual machine's vCPU is a thread of the host. When the host runs another guest's vCPU on
the same physical core (time-sliced, or on its SMT sibling), this guest's work progresses
slower for a while. On the machines of the shipped measurements (2-vCPU Firecracker guests) a
loop that does nothing but count, pinned to one vCPU, ran at about half its speed in phases of
tens to hundreds of milliseconds, 5-20 % of the time, and ``/proc/stat`` counted no steal
(``mpmsim hardware probe``; measurements/README.md, "A shared host"). So a saturated server's
rate sags for a while, every request in flight waits longer, and a closed loop's latency
spreads (p95 over p50 of 1.3-1.6 at 100-400 ab clients) though every queue in it is first
come, first served.

Each vCPU alternates between full speed and ``slow_speed`` on its own, in phases of
exponential length (slow ones of mean ``slow_phase_ms``, taking ``slow_fraction`` of the time),
and starts in a phase drawn from that long-run share. The CPU is told the speed of the machine
as a whole: ``cpu_speed x (1 - (1 - slow_speed) x slow vCPUs / vCPUs)``, exact for one vCPU;
with more, every running task is slowed a little instead of the one on the slow vCPU a lot.
The CPU keeps counting a slowed vCPU's wall time as busy, as a guest without steal-time
accounting does, so the CPU per request the model reports grows in slow phases as the
measured one does.
"""

from __future__ import annotations

import numpy as np
import simpy

from mpmsim.engine.cpu import CPU
from mpmsim.models.hardware import HostContentionSpec


class HostContention:
    """The slow phases of ``cpu``'s vCPUs, drawn from ``rng``; :meth:`start` sets them going."""

    def __init__(
        self, env: simpy.Environment, cpu: CPU, spec: HostContentionSpec, rng: np.random.Generator
    ) -> None:
        self.env = env
        self.cpu = cpu
        self.spec = spec
        self.rng = rng
        self.full_speed = cpu.speed
        self.slow_vcpus = 0
        self.slow_s = 0.0  # slow vCPU-seconds of the phases ended so far (the tests read it)

    def start(self) -> None:
        """One process per vCPU (none when the spec never slows them)."""
        if self.spec.slow_fraction <= 0.0 or self.spec.slow_speed >= 1.0:
            return
        for _ in range(self.cpu.vcpus):
            self.env.process(self._vcpu())

    def _vcpu(self) -> simpy.events.ProcessGenerator:
        """One vCPU's phases, forever: slow (mean slow_phase_ms), then full speed."""
        spec, rng, env = self.spec, self.rng, self.env
        slow_mean_s = spec.slow_phase_ms / 1000.0
        full_mean_s = slow_mean_s * (1.0 - spec.slow_fraction) / spec.slow_fraction
        slow = bool(rng.random() < spec.slow_fraction)
        while True:
            if slow:
                length = float(rng.exponential(slow_mean_s))
                self._slow_by(+1)
                yield env.timeout(length)
                self.slow_s += length
                self._slow_by(-1)
            yield env.timeout(float(rng.exponential(full_mean_s)))
            slow = True

    def _slow_by(self, change: int) -> None:
        self.slow_vcpus += change
        lost = (1.0 - self.spec.slow_speed) * self.slow_vcpus / self.cpu.vcpus
        self.cpu.set_speed(self.full_speed * (1.0 - lost))
