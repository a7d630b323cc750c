"""The scenario file: what a user writes in ``workload.yaml``, validated at the edge.

Every key is checked (``extra="forbid"``); sizes carry their unit in the key. Apache directives are
kept as the user wrote them here and resolved later by :mod:`mpmsim.models.apache.directives`.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mpmsim.errors.validation import field_error
from mpmsim.spec.backends import RESERVED_BACKENDS, BackendSpec, ModPhpSpec
from mpmsim.workloads.distributions import NonNegativeSpec

_STRICT = ConfigDict(extra="forbid", frozen=True)

MpmName = Literal["prefork", "worker", "event"]


class ServerSpec(BaseModel):
    """The Apache server: its MPM and the directives that size it."""

    model_config = _STRICT

    mpm: MpmName | None = Field(
        None, description="prefork | worker | event; taken from config_file's LoadModule if omitted"
    )
    directives: dict[str, Any] = Field(
        default_factory=dict,
        description="Apache directives as in httpd.conf (KeepAlive: On, MaxRequestWorkers: 400)",
    )
    config_file: str | None = Field(
        None, description="an Apache config file (httpd.conf or mpm_*.conf) to read directives from"
    )
    somaxconn: int = Field(4096, ge=1, description="net.core.somaxconn: caps ListenBacklog")
    listeners: int = Field(
        1,
        ge=1,
        description="Listen sockets (e.g. 2 for ports 80 and 443); with more than one, prefork "
        "and worker take the accept mutex around every accept()",
    )
    modules: list[Literal["php"]] = Field(
        default_factory=list,
        description="modules loaded besides the MPM that change what a child is: php (mod_php, "
        "PHP inside every child; prefork only, as Apache refuses it under worker and event); "
        "a config_file's LoadModule php_module adds it too",
    )
    php: ModPhpSpec = Field(
        default_factory=ModPhpSpec,
        description="mod_php's memory: memory_limit, child_extra_mib, child_growth_mib",
    )


class _LoadCommon(BaseModel):
    model_config = _STRICT

    network_rtt_ms: float = Field(
        0.0, ge=0, description="client-server round trip; a connect costs 1.5 RTT before accept"
    )
    client_bandwidth_kbps: float | None = Field(
        None, gt=0, description="per-connection download bandwidth; None = unlimited"
    )
    syn_retries: int = Field(
        6, ge=0, le=12, description="SYN retransmissions before connect() fails (Linux default 6)"
    )
    start_s: float = Field(
        0.0,
        ge=0,
        description="when the load starts after Apache started (its StartServers children exist; "
        "a benchmark on a fresh server starts about 0.5 s after it)",
    )


class ClosedLoad(_LoadCommon):
    """A closed loop like ``ab -c`` or ``wrk``: each client sends its next request when one ends."""

    kind: Literal["closed"]
    clients: int = Field(ge=1, description="concurrent clients (ab -c)")
    requests: int | None = Field(None, ge=1, description="stop after this many responses (ab -n)")
    duration_s: float | None = Field(None, gt=0, description="or stop after this simulated time")
    keepalive: bool = Field(False, description="reuse connections (ab -k, wrk)")
    think_time_s: NonNegativeSpec = Field(0.0, description="pause between a response and the next")
    timeout_s: float | None = Field(
        None, gt=0, description="client timeout per request (ab -s); None = wait forever"
    )
    retry_delay_s: float = Field(
        0.01,
        gt=0,
        description="pause before a client starts again after a failed request (a refused "
        "connect returns at once; the pause keeps such a client from spinning)",
    )
    rate_per_client_rps: float | None = Field(
        None,
        gt=0,
        description="paced clients (kaclient, h2load --rps): each starts a request at most every "
        "1/rate s, at the later of the last response's end and the last start + 1/rate; "
        "None = start at once (with think_time_s, which must then be 0)",
    )
    rate_phases: Literal["spread", "together"] = Field(
        "spread",
        description="paced clients' first starts: spread evenly over 1/rate s (kaclient) or all "
        "at start_s (h2load --rps, which fires every client in the same instant)",
    )

    @model_validator(mode="after")
    def _check_pacing(self) -> ClosedLoad:
        if self.rate_per_client_rps is not None and self.think_time_s != 0:
            # Two pauses between requests would make the offered rate ambiguous.
            raise ValueError("think_time_s must be 0 when rate_per_client_rps paces the clients")
        return self


class OpenLoad(_LoadCommon):
    """Keep-alive sessions arriving at a rate, like browsers."""

    kind: Literal["open"]
    sessions_per_s: float | list[tuple[float, float]] = Field(
        description="arrival rate, or a schedule [[t_s, rate], ...] of piecewise-constant rates"
    )
    requests_per_session: NonNegativeSpec = Field(1.0, description="requests on one session")
    think_time_s: NonNegativeSpec = Field(0.0, description="pause between a response and the next")
    client_timeout_s: float = Field(
        30.0, gt=0, description="a client gives up a request after this"
    )
    client_closes: bool = Field(
        False,
        description="close the connection after the last request; false = leave it idle like a "
        "browser, so the server's KeepAliveTimeout ends it",
    )
    duration_s: float | None = Field(None, gt=0, description="arrivals stop after this time")

    @model_validator(mode="after")
    def _check_schedule(self) -> OpenLoad:
        rate = self.sessions_per_s
        if isinstance(rate, list):
            if not rate:
                raise ValueError("sessions_per_s schedule must not be empty")
            times = [t for t, _ in rate]
            if times[0] != 0 or any(b <= a for a, b in pairwise(times)):
                raise ValueError("schedule times must start at 0 and increase")
            if any(r < 0 for _, r in rate):
                raise ValueError("schedule rates must be >= 0")
        elif rate <= 0:
            raise ValueError("sessions_per_s must be > 0")
        return self


ConnectionRuleName = Literal[
    "auto",
    "connection-id",
    "client-port",
    "client-process-thread",
    "client-unique-id",
    "client-gaps",
]


class TraceSessions(BaseModel):
    """How a replayed log's requests are grouped into keep-alive connections."""

    model_config = _STRICT

    rule: ConnectionRuleName = Field(
        "auto",
        description="auto: the best the log allows (%{c}L; client + %{remote}p; client + "
        "%P/%{tid}P; client + UNIQUE_ID's slot; else client and idle gaps), or one by name",
    )
    keepalive_timeout_s: float = Field(
        5.0, gt=0, description="the logging server's KeepAliveTimeout: a longer gap ends one"
    )


class TraceLoad(_LoadCommon):
    """An access log's own arrivals and connections, replayed (streamed, not loaded whole)."""

    kind: Literal["trace"]
    file: str = Field(description="the access log (plain or gzip), relative to this file")
    format: str = Field(
        "combined", description="a nickname (common, combined, mpmsim ...) or a LogFormat string"
    )
    speedup: float = Field(
        1.0,
        gt=0,
        description="2 = twice the traffic: connections arrive twice as fast (the gaps "
        "within one stay as logged)",
    )
    window: tuple[float, float] | None = Field(
        None, description="[start_s, end_s]: the part to replay, seconds after the first request"
    )
    sessions: TraceSessions = Field(
        default_factory=TraceSessions,
        description="how connections are rebuilt: auto, a rule's name, or {rule, "
        "keepalive_timeout_s}",
    )
    classes: list[str] = Field(
        default_factory=list,
        description="REGEX=NAME URL classes tried before static by extension vs dynamic; "
        "each names a mix class",
    )
    service: Literal["mix", "logged"] = Field(
        "mix",
        description="mix: CPU and wait drawn from the request's mix class; logged: split from "
        "its logged %D by cpu_share",
    )
    cpu_share: float = Field(
        0.2, ge=0, le=1, description="share of %D taken as CPU with service: logged"
    )
    client_timeout_s: float = Field(
        30.0, gt=0, description="a client gives up a request after this"
    )
    duration_s: float | None = Field(
        None,
        gt=0,
        description="simulated time; default: the replayed span / speedup (the scenario's "
        "duration_s only caps it)",
    )

    @field_validator("sessions", mode="before")
    @classmethod
    def _rule_name(cls, value: Any) -> Any:
        """``sessions: client-gaps`` is short for ``sessions: {rule: client-gaps}``."""
        return {"rule": value} if isinstance(value, str) else value

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] < value[1]:
            raise ValueError("window is [start_s, end_s] with 0 <= start_s < end_s")
        return value


LoadSpec = Annotated[ClosedLoad | OpenLoad | TraceLoad, Field(discriminator="kind")]


class MixClass(BaseModel):
    """A request class; fields left out come from the cost model's class of the same name."""

    model_config = _STRICT

    name: str
    weight: float = Field(1.0, gt=0)
    cpu_ms: NonNegativeSpec | None = Field(None, description="CPU on a reference core")
    wait_ms: NonNegativeSpec | None = Field(
        None, description="worker held without CPU: a backend, disk"
    )
    response_bytes: NonNegativeSpec | None = None
    memory_kib: float | None = Field(None, ge=0, description="transient memory while served")
    worker_kib: float | None = Field(
        None,
        ge=0,
        description="memory a worker (a thread of worker/event, a prefork child) keeps once it "
        "has served this class (e.g. a mod_lua state), until its child exits",
    )
    child_kib: float | None = Field(
        None,
        ge=0,
        description="memory a child process keeps once any of its workers has served this "
        "class (what the handler sets up once per process), until it exits",
    )
    streams: bool = Field(
        False,
        description="the handler streams its response (CGI, proxy): the worker stays until the "
        "last byte is written, even under event",
    )
    backend: str | None = Field(
        None,
        description="where the class runs: a name of backends (a php_fpm pool or a proxy: its "
        "cpu_ms and wait_ms are spent there while the Apache worker waits), mod_php (PHP inside "
        "the Apache child), php (mod_php under prefork, the php_fpm pool under worker and "
        "event), or None: in Apache itself (static files)",
    )


class Reference(BaseModel):
    """A published or measured figure the run is compared with (and checked against)."""

    model_config = _STRICT

    source: str = Field(description="where the figure comes from")
    throughput_rps: float = Field(gt=0)
    tolerance_pct: float = Field(10.0, gt=0, description="allowed deviation; exit code 1 beyond")


class Scenario(BaseModel):
    """A whole ``workload.yaml``."""

    model_config = _STRICT

    name: str = "scenario"
    seed: int = Field(1, ge=0)
    duration_s: float | None = Field(None, gt=0, description="simulated time (if load has none)")
    warmup_s: float | Literal["auto"] = Field(
        0.0, description="seconds discarded, or auto (MSER-5)"
    )
    replications: int = Field(1, ge=1, le=1000)
    sample_interval_s: float | None = Field(
        None, gt=0, description="time-series resolution; default: about 400 samples per run"
    )
    costs: str | dict[str, Any] | None = Field(None, description="cost model: name, path or inline")
    hardware: str | dict[str, Any] = Field(description="catalog name, path, or inline mapping")
    server: ServerSpec
    load: LoadSpec
    mix: list[MixClass] = Field(min_length=1)
    reference: Reference | None = Field(
        None, description="a figure to compare the simulated throughput with"
    )
    backends: dict[str, BackendSpec] = Field(
        default_factory=dict,
        description="application servers a mix class can name: {NAME: {kind: php_fpm, pm: "
        "dynamic, pm.max_children: 20, ...}} or {NAME: {kind: proxy, concurrency: 50, ...}}",
    )

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if isinstance(self.warmup_s, float) and self.warmup_s < 0:
            raise ValueError("warmup_s must be >= 0 or 'auto'")
        names = [m.name for m in self.mix]
        if len(set(names)) != len(names):
            raise ValueError("mix class names must be unique")
        self._check_backends()
        load = self.load
        if isinstance(load, ClosedLoad):
            if load.requests is None and load.duration_s is None and self.duration_s is None:
                raise ValueError("a closed load needs load.requests or a duration_s")
        elif isinstance(load, OpenLoad) and load.duration_s is None and self.duration_s is None:
            raise ValueError("an open load needs a duration_s")
        self._check_warmup()
        return self

    def _check_backends(self) -> None:
        """Every class's backend exists; no backend takes a reserved name (mod_php, php)."""
        for name in RESERVED_BACKENDS:
            if name in self.backends:
                raise field_error(f"backends.{name}", f"{name} is reserved (a mix class's PHP)")
        allowed = [*sorted(self.backends), *RESERVED_BACKENDS]
        for i, m in enumerate(self.mix):
            if m.backend is not None and m.backend not in allowed:
                raise field_error(
                    f"mix[{i}].backend",
                    f"no backend {m.backend!r} (allowed: {', '.join(allowed)})",
                )

    def _check_warmup(self) -> None:
        """A warm-up must end before the run does, or nothing is measured."""
        duration, key = self.load.duration_s, "load.duration_s"
        if duration is None:
            duration, key = self.duration_s, "duration_s"
        if duration is not None and self.warmup_s != "auto" and self.warmup_s >= duration:
            raise field_error(
                "warmup_s",
                f"must be less than the simulated time ({key} {duration:g} s), or no request "
                f"is measured (got {self.warmup_s:g})",
            )


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario file, for editors."""
    schema = Scenario.model_json_schema()
    schema["title"] = "mpmsim scenario"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def base_dir_of(path: str | Path | None) -> Path | None:
    """Folder that relative paths inside a scenario file are resolved against."""
    return None if path is None else Path(path).resolve().parent
