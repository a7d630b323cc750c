"""Hardware profiles: vCPUs, RAM, CPU speed, burstable credits and price, with a shipped catalog."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from mpmsim.models.catalog import Catalog


class BurstSpec(BaseModel):
    """Burstable CPU credits (AWS T family); 1 credit = 1 vCPU at 100 % for 1 minute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline_fraction: float = Field(gt=0, le=1)
    """Baseline utilisation per vCPU that the earned credits sustain (t3.medium: 0.20)."""
    credits_initial: float = Field(ge=0)
    """Credits in the balance at t=0."""
    credits_max: float = Field(ge=0)
    """Cap on the accrued balance."""
    credits_per_hour: float = Field(ge=0)
    """Credits earned per hour (for the whole instance)."""
    mode: Literal["standard", "unlimited"] = "standard"
    """standard: throttled to the baseline at zero balance; unlimited: bursts on, pays surplus."""
    surplus_usd_per_vcpu_hour: float = Field(default=0.05, ge=0)
    """Price of surplus credits in unlimited mode (Linux)."""


class HostContentionSpec(BaseModel):
    """A virtual machine's vCPUs lent less than a whole core at times (a shared host).

    A guest's vCPU is a thread of the host: when the host runs another guest's vCPU on the same
    physical core (time-sliced, or its SMT sibling busy), the guest's work progresses slower
    for a while, and a guest without steal-time accounting (``/proc/stat`` steal stays 0) still
    counts the wall time as its tasks' CPU. Each vCPU alternates independently between full
    speed and ``slow_speed``, in phases of exponential length: slow ones of mean
    ``slow_phase_ms``, taking ``slow_fraction`` of the time. ``mpmsim hardware probe``
    measures the three on a machine (mpmsim.bench.host_probe).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    slow_fraction: float = Field(ge=0, lt=1)
    """Share of the time a vCPU runs at ``slow_speed``."""
    slow_speed: float = Field(gt=0, le=1)
    """The vCPU's speed in a slow phase, relative to its full speed (0.5: half a core)."""
    slow_phase_ms: float = Field(gt=0)
    """Mean length of one slow phase."""

    @property
    def mean_speed(self) -> float:
        """The vCPU's long-run speed relative to its full speed."""
        return 1.0 - self.slow_fraction * (1.0 - self.slow_speed)


class IdleWakeSpec(BaseModel):
    """What a job costs more when its vCPU has been idle: a virtual machine's halted vCPU.

    An idle guest vCPU first polls for a short while (cpuidle's ``haltpoll`` driver) and then
    halts: the host runs other work on its core, and the next task the guest runs finds its
    caches and TLB cold. So the first job after an idle spell longer than ``halt_after_us``
    costs ``wake_us`` more, plus ``cold_us_per_idle_ms`` for each ms the vCPU was idle, up to
    ``cold_max_us`` in all (every cache line gone). Paced keep-alive clients on a mostly idle
    server show it; a saturated server never idles and pays nothing
    (mpmsim.engine.idle_wake).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    halt_after_us: float = Field(ge=0)
    """Idle time after which the vCPU halts (shorter idle spells are polled through, warm)."""
    wake_us: float = Field(ge=0)
    """More CPU for the first job after a halt."""
    cold_us_per_idle_ms: float = Field(ge=0)
    """More again for each ms the vCPU was idle before it."""
    cold_max_us: float = Field(ge=0)
    """The most a wake-up costs in all (``wake_us`` included)."""


class HardwareSpec(BaseModel):
    """One machine: what the simulated Apache runs on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "custom"
    description: str = ""
    vcpus: int = Field(ge=1)
    ram_mib: float = Field(gt=0)
    os_reserved_mib: float = Field(default=512, ge=0, validate_default=True)
    """RAM kept for the OS and other processes; Apache may use the rest."""
    cpu_speed: float = Field(default=1.0, gt=0)
    """Speed of one vCPU relative to the reference core (bench-1core: AMD EPYC Zen 4, KVM guest)."""
    context_switch_us: float = Field(default=2.0, ge=0)
    """Direct kernel cost of one context switch on this machine."""
    cpu_scheduler: Literal["ps", "cfs", "eevdf"] = "ps"
    """How runnable tasks share the vCPUs: ``ps`` processor sharing (all at once, equal rates);
    Linux's ``cfs`` (before 6.6: one task per vCPU, smallest vruntime first, slices ended at
    ticks, wake-up preemption; mpmsim.engine.cfs) or ``eevdf`` (6.6 and later: earliest
    eligible virtual deadline first; mpmsim.engine.eevdf)."""
    scheduler_tick_hz: float = Field(default=250.0, gt=0)
    """CONFIG_HZ of the kernel (``cfs``, ``eevdf``): slices end at these ticks (Debian: 250)."""
    online_cpus: int | None = Field(default=None, ge=1)
    """CPUs the kernel has online, where Apache runs on ``vcpus`` of them (pinned): the
    scheduler's latency and slice scale with the online CPUs, not with an affinity mask
    (``kernel/sched/fair.c`` ``get_update_sysctl_factor``: ``num_online_cpus()``).
    None: ``vcpus``."""
    burst: BurstSpec | None = None
    host_contention: HostContentionSpec | None = None
    """A shared host slowing the vCPUs at times; None: each vCPU always has a whole core."""
    idle_wake: IdleWakeSpec | None = None
    """A job's extra CPU after its vCPU was idle (a halted virtual CPU); None: none."""
    price_per_hour_usd: float = Field(default=0.0, ge=0)
    sources: dict[str, str] = Field(default_factory=dict)
    """Field -> public source (URL or document) of its value."""

    @field_validator("os_reserved_mib")
    @classmethod
    def _reserve_below_ram(cls, value: float, info: ValidationInfo) -> float:
        ram = info.data.get("ram_mib")
        if ram is not None and value >= ram:
            raise ValueError(f"must be less than ram_mib ({ram:g})")
        return value

    @field_validator("online_cpus")
    @classmethod
    def _online_at_least_vcpus(cls, value: int | None, info: ValidationInfo) -> int | None:
        vcpus = info.data.get("vcpus")
        if value is not None and vcpus is not None and value < vcpus:
            raise ValueError(f"must be at least vcpus ({vcpus}): Apache runs on online CPUs")
        return value

    @field_validator("sources")
    @classmethod
    def _sources_name_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            head, _, rest = key.partition(".")
            nested: dict[str, type[BaseModel]] = {
                "burst": BurstSpec,
                "host_contention": HostContentionSpec,
                "idle_wake": IdleWakeSpec,
            }
            ok = head in cls.model_fields and (
                not rest or (head in nested and rest in nested[head].model_fields)
            )
            if not ok:
                raise ValueError(f"{key!r} is not a field of the hardware spec")
        return value

    @property
    def host_mean_speed(self) -> float:
        """The share of its full speed a vCPU runs at in the long run: the host's mean speed
        under ``host_contention``, 1.0 without."""
        host = self.host_contention
        return host.mean_speed if host is not None else 1.0

    @property
    def mean_cpu_speed(self) -> float:
        """A vCPU's long-run speed: ``cpu_speed`` x :attr:`host_mean_speed` (what analytic
        bounds use)."""
        return self.cpu_speed * self.host_mean_speed

    @property
    def usable_ram_mib(self) -> float:
        """RAM left for Apache after the OS reserve."""
        return self.ram_mib - self.os_reserved_mib

    @property
    def scheduler_cpus(self) -> int:
        """The CPUs the scheduler's time tunables scale with (``online_cpus``, else ``vcpus``)."""
        return self.online_cpus if self.online_cpus is not None else self.vcpus

    def without_idle_wake(self) -> HardwareSpec:
        """This machine as one whose idle vCPU does not halt: no ``idle_wake`` (nor its source),
        named so; itself when it has none."""
        if self.idle_wake is None:
            return self
        sources = {k: v for k, v in self.sources.items() if k.partition(".")[0] != "idle_wake"}
        return self.model_copy(
            update={"idle_wake": None, "name": f"{self.name} without idle_wake", "sources": sources}
        )


def _order(spec: HardwareSpec) -> tuple[str, int, float, str]:
    return (spec.name.partition(".")[0], spec.vcpus, spec.ram_mib, spec.name)


_CATALOG = Catalog(HardwareSpec, "mpmsim.models.hardware", kind="hardware", order=_order)


def hardware_catalog() -> dict[str, HardwareSpec]:
    """All shipped hardware profiles by name (family, then size)."""
    return dict(_CATALOG.entries())


def load_hardware(
    ref: str | Mapping[str, Any],
    *,
    relative_to: Path | None = None,
    source: str = "<scenario>",
    field: str = "hardware",
) -> HardwareSpec:
    """Resolve a scenario's ``hardware`` value.

    ``ref`` is a catalog name (``t3.medium``), a path to a hardware YAML file (relative to
    ``relative_to`` when given) or an inline mapping of HardwareSpec fields. A mapping or file may
    start from a profile with ``base: t3.medium`` and override some fields, nested ones key by key
    (``burst: {mode: unlimited}`` keeps the base's credits). Errors are InputErrors naming
    ``source`` and the field.
    """
    return _CATALOG.load(ref, relative_to=relative_to, source=source, field=field)


def hardware_table() -> list[dict[str, object]]:
    """Flat rows of the catalog for ``mpmsim hardware list``."""
    return [
        {
            "name": spec.name,
            "vcpus": spec.vcpus,
            "ram_mib": spec.ram_mib,
            "cpu_speed": spec.cpu_speed,
            "baseline": spec.burst.baseline_fraction if spec.burst else 1.0,
            "price_per_hour_usd": spec.price_per_hour_usd,
        }
        for spec in _CATALOG.entries().values()
    ]


__all__ = [
    "BurstSpec",
    "HardwareSpec",
    "HostContentionSpec",
    "hardware_catalog",
    "hardware_table",
    "load_hardware",
]
