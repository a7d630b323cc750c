"""The scenario's ``backends:``: a PHP-FPM pool or a generic proxied application server.

A mix class names the backend it goes to (``backend: NAME``); ``backend: mod_php`` runs the
class inside Apache's children instead (``server.modules: [php]``), and ``backend: php`` runs it
as the MPM can: mod_php under prefork, the scenario's php_fpm pool under worker and event.
Pool keys are PHP-FPM's own ini names (``pm.max_children``, ``listen.backlog``), so a pool
reads like ``www.conf``; a pool may also be read from a real ``php-fpm.d/www.conf``
(``config_file``, ``pool``), and keys written here win over the file's. Durations take FPM's
units (``10s``, ``2m``) or seconds as a number; sizes take PHP's (``128M``) or MiB as a number.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mpmsim.errors.validation import field_error
from mpmsim.models.php.units import parse_size_mib
from mpmsim.workloads.distributions import NonNegativeSpec

#: The mix class ``backend`` that runs PHP inside Apache's children (mod_php).
MOD_PHP = "mod_php"
#: The mix class ``backend`` that runs PHP the way the MPM can: mod_php under prefork, the
#: scenario's php_fpm pool under worker and event (what ``optimize --mpm all`` compares).
AUTO_PHP = "php"
RESERVED_BACKENDS = (MOD_PHP, AUTO_PHP)

# Dumped under FPM's names too, so a scenario sent as JSON (the search does) reads back.
_POOL = ConfigDict(extra="forbid", frozen=True, validate_by_name=False, serialize_by_alias=True)


class PhpFpmSpec(BaseModel):
    """A PHP-FPM pool reached through mod_proxy_fcgi (the keys are FPM's own)."""

    model_config = _POOL

    kind: Literal["php_fpm"]
    config_file: str | None = Field(
        None,
        description="a php-fpm pool file (php-fpm.d/www.conf, ini format, include= followed) "
        "read for the keys below; keys written here win",
    )
    pool: str | None = Field(
        None, description="the [section] of config_file to read; default: its only pool"
    )
    pm: Literal["static", "dynamic", "ondemand"] | None = Field(
        None, description="process manager: static | dynamic | ondemand (default dynamic)"
    )
    max_children: int | None = Field(
        None, alias="pm.max_children", ge=1, description="the most children (FPM requires it)"
    )
    start_servers: int | None = Field(
        None,
        alias="pm.start_servers",
        ge=0,
        description="dynamic: children at start (default min_spare + (max_spare - min_spare)/2)",
    )
    min_spare_servers: int | None = Field(
        None, alias="pm.min_spare_servers", ge=0, description="dynamic: fewest idle children"
    )
    max_spare_servers: int | None = Field(
        None, alias="pm.max_spare_servers", ge=0, description="dynamic: most idle children"
    )
    max_spawn_rate: int | None = Field(
        None,
        alias="pm.max_spawn_rate",
        ge=1,
        description="dynamic: most children forked in one second (default 32)",
    )
    process_idle_timeout: float | str | None = Field(
        None,
        alias="pm.process_idle_timeout",
        description="ondemand: an idle child is killed after this (default 10s)",
    )
    max_requests: int | None = Field(
        None,
        alias="pm.max_requests",
        ge=0,
        description="a child exits after this many requests (0 = never; default 0)",
    )
    listen_backlog: int | None = Field(
        None,
        alias="listen.backlog",
        description="the pool socket's accept queue (-1 = somaxconn, FPM's Linux default)",
    )
    request_terminate_timeout: float | str | None = Field(
        None,
        description="a request running longer is killed with its child (0 = off; default 0)",
    )
    memory_limit: float | str | None = Field(
        None,
        description="PHP's memory_limit (128M; a number is MiB; -1 = none): a child grows at "
        "most this much above its base (default 128M)",
    )
    child_base_mib: float | None = Field(
        None, ge=0, description="a fresh child's private memory; default: cost model fpm_child_mib"
    )
    child_growth_mib: float | None = Field(
        None,
        ge=0,
        description="a child's growth per request; default: cost model fpm_child_growth_mib",
    )


class ProxySpec(BaseModel):
    """A generic application server behind mod_proxy: fixed concurrency, its own service times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["proxy"]
    concurrency: int = Field(ge=1, description="requests it serves at once (threads, workers)")
    queue: int | None = Field(
        None,
        ge=0,
        description="requests that may wait for it beyond concurrency; more get a 503 "
        "(None = unbounded, like a listen backlog never reached)",
    )
    cpu_ms: NonNegativeSpec = Field(
        0.0, description="its CPU per request on this machine's cores (0: it runs elsewhere)"
    )
    wait_ms: NonNegativeSpec = Field(0.0, description="its time per request off this CPU")
    memory_mib: float = Field(
        0.0, ge=0, description="its memory on this machine (counted against the same RAM)"
    )
    timeout_s: float | None = Field(
        None,
        gt=0,
        description="ProxyTimeout: Apache gives up waiting after this and answers 504",
    )


BackendSpec = Annotated[PhpFpmSpec | ProxySpec, Field(discriminator="kind")]


class ModPhpSpec(BaseModel):
    """mod_php's settings (``server.php``): the memory of PHP inside Apache's children."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_limit: float | str = Field(
        "128M", description="PHP's memory_limit (128M; a number is MiB; -1 = none)"
    )
    child_extra_mib: float | None = Field(
        None,
        ge=0,
        description="extra private memory of each Apache child with mod_php; default: cost "
        "model modphp_child_mib",
    )
    child_growth_mib: float | None = Field(
        None,
        ge=0,
        description="a child's growth per PHP request; default: cost model modphp_child_growth_mib",
    )

    @model_validator(mode="after")
    def _check_limit(self) -> ModPhpSpec:
        try:
            parse_size_mib(self.memory_limit, field="memory_limit")
        except ValueError as exc:
            raise field_error("memory_limit", str(exc).partition(": ")[2]) from None
        return self
