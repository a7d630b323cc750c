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
    worker_kib: float = Field(default=0.0, ge=0)
    """Memory a worker (a thread of worker/event, a prefork child) keeps once it has served a
    request of this class, e.g. a mod_lua state (``LuaScope server``); it stays until the
    child exits. ``mpmsim calibrate`` fits it per class."""
    child_kib: float = Field(default=0.0, ge=0)
    """Memory a child process keeps once any of its workers has served a request of this
    class, on top of each worker's ``worker_kib``: what the handler sets up once per process
    (mod_lua: the module's first state in a process grows its heap, the code cache);
    ``mpmsim calibrate`` fits it per class where rows of prefork and of a threaded MPM tell it
    apart from ``worker_kib``."""


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
    thread_exit_cpu_ms: float = Field(
        0.0,
        ge=0,
        description="CPU a child's exit costs per thread (per ThreadsPerChild; a prefork child "
        "counts one): its threads' exit and join, its address space unmapped, charged when a "
        "recycled or stopped child exits (benchmarks/probe_lua.py exit); 0 = exits are free",
    )
    parent_mib: float = Field(ge=0)
    """The parent process, private."""
    shared_mib: float = Field(ge=0)
    """Pages shared by every process (code, configuration), counted once."""
    process_mib: float = Field(ge=0)
    """Private memory of each child process, without its threads."""
    thread_mib: float = Field(ge=0)
    """Private memory of each thread (touched stack, allocator)."""
    connection_kib: float = Field(ge=0)
    """Apache's memory for each open connection (ptrans pool, bucket allocator)."""
    listener_connection_kib: float = Field(0.0, ge=0)
    """More memory for each open connection of an MPM whose listener holds connections
    apart from its workers (event): they outnumber the workers, each with its own pool."""
    socket_kib: float = Field(
        0.0,
        ge=0,
        description="kernel memory for each open connection (socket buffers, socket and TCP "
        "state): RAM the machine must have, but in no process's PSS, so calibrate compares "
        "measured PSS with the simulated memory less it",
    )
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
    switch_us_per_task: float = Field(
        0.0,
        ge=0,
        description="extra CPU of each context switch per live process or thread (the cache and "
        "TLB working set a switch reloads grows with the tasks alive; mpmsim calibrate fits it); "
        "0 = switches cost the same however many tasks live",
    )
    switch_us_per_process: float = Field(
        0.0,
        ge=0,
        description="extra CPU of each CPU job (a wake-up into its task) per live Apache process: "
        "a switch into another process reloads its page tables, TLB and cache lines, and more "
        "processes leave less of each in the caches (mpmsim calibrate fits it); 0 = none",
    )
    thread_used_kib: float = Field(
        0.0,
        ge=0,
        description="memory a worker thread of a threaded MPM adds once it has served: the "
        "stack it touched and its glibc per-thread malloc arena (mpmsim calibrate fits it); "
        "0 = a thread costs thread_mib whether it ran or not",
    )
    after_response_cpu_ms: float = Field(
        0.0,
        ge=0,
        description="the part of each request's CPU that its worker runs after the response is "
        "written (the access log line and the request pool's cleanup as the end-of-request "
        "bucket is destroyed); a worker pinned to its keep-alive connection (prefork, worker) "
        "still on its vCPU when the client's next request arrives reads it without sleeping; "
        "0 = the whole request before its response",
    )
    kernel_us_per_request: float = Field(
        0.0,
        ge=0,
        description="CPU the kernel spends per request on the server's vCPU outside Apache's "
        "processes (network softirq work deferred to ksoftirqd, kworkers): it takes the vCPU "
        "from Apache but is in no Apache process's CPU time, so cpu_ms_per_request leaves it "
        "out (mpmsim calibrate fits it from the rows' CPU 1 busy share beyond Apache's "
        "cpu_ms); 0 = Apache has its vCPUs to itself",
    )
    kernel_us_per_connection: float = Field(
        0.0,
        ge=0,
        description="the same per new connection (the handshake's and the close's packets); "
        "0 = none",
    )
    idle_connection_us: float = Field(
        0.0,
        ge=0,
        description="more CPU for a new connection whose worker finds a vCPU with nothing else "
        "to run: its accept, its first read and its lingering close each come before the "
        "client's next packet, so the worker sleeps and is woken on an idle vCPU (a cross-CPU "
        "wake-up and an idle exit each), where on a busy core the connection, its request and "
        "its FIN are queued before the worker gets to them (mpmsim calibrate fits it from the "
        "one-client rows); 0 = a connection costs the same at any load",
    )
    client_conn_ms: float = Field(
        0.0,
        ge=0,
        description="the client's own time per new connection (its socket's set-up and close), "
        "before the request is sent; outside the request's latency, which the client times "
        "from its connect() to the response (as ab does); mpmsim calibrate fits it from "
        "one-client rows",
    )
    # -- PHP (mod_php inside Apache's children, PHP-FPM behind mod_proxy_fcgi) and proxies --------
    # Defaults are priors (sources in PHP_PRIOR_SOURCES below) until `mpmsim calibrate` fits
    # them on the real mod_php and PHP-FPM measurements of measurements/php/.
    php_request_cpu_ms: float = Field(
        0.12,
        ge=0,
        description="PHP's own CPU per PHP request beside Apache's request_cpu_ms: request "
        "start-up and shutdown, superglobals, opcache look-ups (the script is the class's cpu_ms)",
    )
    fastcgi_handoff_cpu_ms: float = Field(
        0.05,
        ge=0,
        description="CPU per request of the FastCGI hand-off: mod_proxy_fcgi connecting to the "
        "pool's socket and encoding/decoding the records, and FPM's side of it",
    )
    proxy_handoff_cpu_ms: float = Field(
        0.06,
        ge=0,
        description="Apache's CPU per request proxied to a generic proxy backend (mod_proxy_http: "
        "connect or reuse, re-serialise the request, parse the response)",
    )
    fpm_master_mib: float = Field(
        11.0, ge=0, description="the php-fpm master process with the pages its children share"
    )
    fpm_child_mib: float = Field(
        2.0, ge=0, description="private memory of a fresh php-fpm child (PSS beyond the master's)"
    )
    fpm_child_growth_mib: float = Field(
        0.01,
        ge=0,
        description="growth of a php-fpm child per PHP request it served, up to the pool's "
        "memory_limit (heap the Zend allocator keeps, opcache/realpath caches, leaks)",
    )
    fpm_spawn_cpu_ms: float = Field(
        2.0, ge=0, description="CPU of forking and initialising one php-fpm child"
    )
    modphp_shared_mib: float = Field(
        9.0,
        ge=0,
        description="pages of libphp shared by all Apache processes when mod_php is loaded",
    )
    modphp_child_mib: float = Field(
        2.0,
        ge=0,
        description="extra private memory of every Apache child when mod_php is loaded (PHP's "
        "per-process state, whatever the child serves)",
    )
    modphp_child_growth_mib: float = Field(
        0.01,
        ge=0,
        description="growth of an Apache child per PHP request it ran, up to memory_limit; given "
        "back only when the child exits (MaxConnectionsPerChild)",
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


#: Where the PHP and proxy fields' default values come from (priors until calibrated).
PHP_PRIOR_SOURCES: dict[str, str] = {
    "php_request_cpu_ms": "prior: PHP 8.2 with opcache serves a trivial script at about 8-10k "
    "req/s per core of which Apache's part is ~0.05 ms; 0.12 ms left for PHP's request start-up "
    "and shutdown",
    "fastcgi_handoff_cpu_ms": "prior: a unix-socket connect, accept and ~1 KiB of FastCGI "
    "records each way, on both sides: about 2 syscall round trips, 0.05 ms",
    "proxy_handoff_cpu_ms": "prior: mod_proxy_http re-serialises the request and parses the "
    "response headers, a little more than the FastCGI hand-off: 0.06 ms",
    "fpm_master_mib": "measured on the development machine 2026-11-30: Debian php-fpm8.2 "
    "(40 modules, opcache) master PSS 11.1 MiB with 3 idle children (pm static)",
    "fpm_child_mib": "measured as fpm_master_mib: each idle child PSS 1.9 MiB",
    "fpm_child_growth_mib": "prior: a small script leaves ~10 KiB more per request (realpath "
    "and interned-string caches, allocator fragmentation); memory_limit caps the growth",
    "fpm_spawn_cpu_ms": "prior: fork of a ~20 MiB RSS process and PHP's child init, 1-3 ms",
    "modphp_shared_mib": "prior: the same libphp and extension pages the FPM master holds "
    "(11.1 MiB PSS, less its own ~2 MiB private), mapped into Apache's parent: 9 MiB",
    "modphp_child_mib": "prior: as an idle FPM child (1.9 MiB PSS): PHP's per-process state",
    "modphp_child_growth_mib": "prior: as fpm_child_growth_mib",
}


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


__all__ = ["PHP_PRIOR_SOURCES", "CostModel", "RequestClassCost", "cost_catalog", "load_costs"]
