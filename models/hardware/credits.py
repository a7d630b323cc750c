"""CPU credits of a burstable instance (T3) at a simulated utilisation, by AWS's credit rules.

A credit is one vCPU-minute at 100 %. An instance earns ``credits_per_hour`` and spends
utilisation x vCPUs x 60 an hour; above its baseline a standard-mode instance drains its balance
and is then held to the baseline, an unlimited one keeps full speed and pays for the surplus.
"""

from __future__ import annotations

from typing import Any

from mpmsim.models.hardware import HardwareSpec

HOURS_PER_MONTH = 730.0
"""Hours in the month that prices are quoted for (AWS's convention)."""


def is_burstable(hw: HardwareSpec) -> bool:
    """Whether the instance runs on CPU credits (a baseline below 100 %)."""
    return hw.burst is not None and hw.burst.baseline_fraction < 1.0


def credit_outlook(hw: HardwareSpec, utilization: float, hours: float) -> dict[str, Any]:
    """How the credit balance fares at ``utilization`` over a month of ``hours``.

    ``sustainable`` is False only for standard mode above the baseline: the balance runs out
    after ``hours_until_credits_run_out`` and the CPU is then held to the baseline.
    """
    b = hw.burst
    assert b is not None
    spend_per_h = utilization * hw.vcpus * 60.0
    net = spend_per_h - b.credits_per_hour
    base = f"{b.baseline_fraction:.0%} baseline"
    if net <= 0.0:
        return {"sustainable": True, "hours_until_credits_run_out": None,
                "note": f"within its {base}: the credits never run out",
                "surplus_usd_per_month": 0.0}  # fmt: skip
    if b.mode == "unlimited":
        surplus = net / 60.0 * b.surplus_usd_per_vcpu_hour * hours
        note = (
            f"above its {base}: unlimited mode keeps full speed for ${surplus:.2f} of surplus "
            "credits a month (included in the price)"
        )
        return {"sustainable": True, "hours_until_credits_run_out": None, "note": note,
                "surplus_usd_per_month": round(surplus, 2)}  # fmt: skip
    last_h = b.credits_max / net
    note = (
        f"above its {base}: a full balance ({b.credits_max:g} credits) lasts {last_h:.1f} h at "
        "this load, then the CPU is held to the baseline"
    )
    return {"sustainable": False, "hours_until_credits_run_out": round(last_h, 2), "note": note,
            "surplus_usd_per_month": 0.0}  # fmt: skip


def usable_cpu_fraction(hw: HardwareSpec) -> float:
    """The share of the CPU available for good: the baseline in standard mode, else all of it."""
    if hw.burst is None or hw.burst.mode == "unlimited":
        return 1.0
    return min(1.0, hw.burst.baseline_fraction)


def empty_balance_set(instance: str) -> str:
    """The ``--set`` that starts ``instance`` with no credits (what it serves for good)."""
    return f"hardware={{base: {instance}, burst: {{credits_initial: 0}}}}"
