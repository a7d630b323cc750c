"""The CPU credit balance of a burstable machine (AWS T family) and when it holds the CPU back.

A burstable instance earns credits at ``credits_per_hour``, banks at most ``credits_max``, and
spends one credit per vCPU-minute at 100 % (AWS EC2 User Guide, "Burstable performance
instances"). In ``standard`` mode, when the balance reaches zero the whole machine is held at
``baseline_fraction`` of its vCPUs until credits accrue again; ``unlimited`` keeps full speed
and counts the surplus credits spent. The CPU (mpmsim.engine.cpu) reports its busy vCPUs to
:class:`BurstCredits` as time passes and runs at the capacity it allows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BurstState:
    """Burst-credit parameters, in AWS's units (1 credit = 1 vCPU-minute at 100 %)."""

    baseline_fraction: float
    credits_initial: float
    credits_max: float
    credits_per_hour: float
    unlimited: bool


class BurstCredits:
    """The balance of a machine of ``vcpus`` with ``burst`` credits: earned, spent, throttled."""

    __slots__ = (
        "_earn_per_s",
        "_max_drain_per_s",
        "baseline_fraction",
        "credits",
        "credits_max",
        "credits_per_hour",
        "surplus",
        "throttled",
        "unlimited",
    )

    def __init__(self, burst: BurstState, vcpus: int) -> None:
        self.baseline_fraction = burst.baseline_fraction
        self.credits_max = burst.credits_max
        self.credits_per_hour = burst.credits_per_hour
        self.unlimited = burst.unlimited
        self._earn_per_s = burst.credits_per_hour / 3600.0  # credits per second
        # credits per second that all vCPUs at 100 % drain beyond what they earn
        self._max_drain_per_s = vcpus / 60.0 - self._earn_per_s
        self.credits = burst.credits_initial  # the balance
        self.surplus = 0.0  # credits spent beyond the balance (``unlimited``)
        self.throttled = False  # held at the baseline (``standard``, the balance ran out)

    def account(self, dt: float, busy: float) -> bool:
        """Earn and spend credits over ``dt`` seconds with ``busy`` vCPUs busy; True when the
        machine was throttled (or released) meanwhile, so its capacity changes."""
        was = self.throttled
        earned = dt * self.credits_per_hour / 3600.0
        spent = dt * busy / 60.0
        credits = self.credits + earned - spent
        if self.unlimited:
            if credits < 0.0:
                self.surplus += -credits
                credits = 0.0
        elif credits <= 1e-9:
            credits = 0.0
            self.throttled = True
        elif was and credits >= 1.0:
            # Hold the baseline until one whole credit has accrued (avoids flapping).
            self.throttled = False
        credits_max = self.credits_max
        self.credits = credits_max if credits_max < credits else credits  # min(), but cheaper
        return self.throttled is not was

    def throttle_if_exhausted(self, now: float) -> bool:
        """Throttle now when no credit is left to spend (a T3 launched with 0 credits); True
        if it did.

        Accounting throttles only when time passes; without this, an empty balance at the start
        would set a zero-length timer again and again without time ever advancing.
        """
        if self.unlimited or self.throttled:
            return False
        max_drain = self._max_drain_per_s
        if self.credits <= 1e-9 or (max_drain > 0.0 and now + self.credits / max_drain <= now):
            self.credits = 0.0
            self.throttled = True
            return True
        return False

    def run_out_s(self, busy: float) -> float:
        """Seconds until ``busy`` vCPUs busy exhaust the balance (inf: they never do)."""
        drain_per_s = busy / 60.0 - self._earn_per_s
        if drain_per_s > 0.0:
            return self.credits / drain_per_s
        return float("inf")
