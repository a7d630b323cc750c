"""Cost models: Apache's CPU and memory overheads per connection, request, process and thread."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mpmsim.models.catalog import Catalog


class RequestClassCost(BaseModel):
    """Defaults for a mix class of the same name (a mix entry's own values win)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_ms: float = Field(default=0.0, ge=0)
    """Handler CPU on the reference core."""
    wait_ms: float = Field(default=0.0, ge=0)
    """Time the worker is held without CPU (backend, disk, sleep)."""
    response_bytes: int = Field(default=0, ge=0)
    memory_kib: float = Field(default=0.0, ge=0)
    """Transient memory while the request is served."""


class CostModel(BaseModel):
    """Apache's overheads. CPU is on the reference core (bench-1core), scaled by hardware.cpu_speed.

    Memory is PSS-like: shared pages are counted once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "custom"
    description: str = ""
    accept_cpu_ms: float = Field(ge=0)
    """Per connection: accept(), conn_rec and pool set-up."""
    close_cpu_ms: float = Field(ge=0)
    """Per connection: shutdown, lingering close, pool cleanup."""
    request_cpu_ms: float = Field(ge=0)
    """Per request: read/parse, map to storage, access log (the handler is the class's cpu_ms)."""
    process_switch_us: float = Field(ge=0)
    """Extra (indirect: TLB/cache) cost of a switch between processes, on top of the hardware's."""
    thread_switch_us: float = Field(ge=0)
    """Extra cost of a switch between threads of one process, on top of the hardware's."""
    fork_cpu_ms: float = Field(ge=0)
    """CPU to fork and initialise one child process."""
    thread_create_cpu_ms: float = Field(ge=0)
    """CPU to create one thread."""
    parent_mib: float = Field(ge=0)
    """The parent process, private."""
    shared_mib: float = Field(ge=0)
    """Pages shared by every process (code, configuration), counted once."""
    process_mib: float = Field(ge=0)
    """Private memory of each child process, without its threads."""
    thread_mib: float = Field(ge=0)
    """Private memory of each thread (touched stack, allocator)."""
    connection_kib: float = Field(ge=0)
    """Each open connection (ptrans pool, bucket allocator, socket buffers)."""
    send_buffer_kib: float = Field(ge=0)
    """Kernel send buffer: a response up to this size leaves the worker at once."""
    accept_mutex_us: float = Field(
        0.0,
        ge=0,
        description="CPU per accepted connection for the accept mutex (lock, unlock, waking the "
        "next waiter) when prefork or worker listen on more than one socket",
    )
    cpu_cv: float = Field(
        0.0,
        ge=0,
        description="coefficient of variation of each request's CPU work (gamma-distributed "
        "factor of mean 1 on all of it); 0 = every request costs exactly the mean",
    )
    classes: dict[str, RequestClassCost] = Field(default_factory=dict)
    justification: dict[str, str] = Field(default_factory=dict)
    """Field (or ``classes.NAME``) -> where its value comes from."""
    uncertainty: dict[str, float] = Field(default_factory=dict)
    """Field (or ``classes.NAME.FIELD``) -> standard error of a calibrated value."""
    calibration: dict[str, Any] = Field(default_factory=dict)
    """How a calibrated model was fitted: data, rows, errors (written by ``mpmsim calibrate``)."""

    @field_validator("justification")
    @classmethod
    def _justification_names_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            head, _, rest = key.partition(".")
            ok = head in cls.model_fields and (not rest or head == "classes")
            if not ok:
                raise ValueError(f"{key!r} is not a field of the cost model")
        return value


_CATALOG = Catalog(CostModel, "mpmsim.models.costs", kind="cost model")


def cost_catalog() -> dict[str, CostModel]:
    """All shipped cost models by name."""
    return dict(_CATALOG.entries())


def load_costs(
    ref: str | Mapping[str, Any] | None,
    *,
    relative_to: Path | None = None,
    source: str = "<scenario>",
    field: str = "costs",
) -> CostModel:
    """Resolve a scenario's ``costs`` value.

    None means ``default``; otherwise a catalog name, a path to a cost YAML file (relative to
    ``relative_to`` when given) or an inline mapping, which may hold ``base: NAME`` plus
    overrides (``classes`` are merged class by class and field by field).
    """
    ref = "default" if ref is None else ref
    return _CATALOG.load(ref, relative_to=relative_to, source=source, field=field)


__all__ = ["CostModel", "RequestClassCost", "cost_catalog", "load_costs"]
