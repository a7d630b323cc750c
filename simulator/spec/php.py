"""Resolving PHP and backends: mod_php inside Apache's children, PHP-FPM pools, proxied servers.

Turns the scenario's ``server.modules``, ``server.php``, ``backends`` and each class's
``backend`` into what a run needs, with the cost model's defaults filled in, FPM's own checks
applied to each pool (:mod:`mpmsim.models.php.pool`), a pool read from its ``www.conf`` when
given, and Apache's refusal of mod_php under a threaded MPM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mpmsim.errors import InputError
from mpmsim.models.apache.rules import module_refusal
from mpmsim.models.costs import CostModel
from mpmsim.models.php.ini import read_fpm_pool
from mpmsim.models.php.pool import FpmPool, make_pool
from mpmsim.models.php.units import parse_size_mib
from mpmsim.spec.backends import AUTO_PHP, MOD_PHP, ModPhpSpec, PhpFpmSpec, ProxySpec
from mpmsim.spec.scenario import Scenario
from mpmsim.workloads.distributions import DistributionSpec

#: ``LoadModule`` identifiers that load mod_php (Debian's php8.2 and its forerunners).
PHP_MODULE_IDS = frozenset({"php_module", "php7_module", "php5_module"})


@dataclass(frozen=True)
class ModPhp:
    """PHP inside Apache's children: the memory it adds to each, MiB."""

    child_extra_mib: float
    child_growth_mib: float
    growth_cap_mib: float
    """A child grows at most this much (memory_limit; no limit: unbounded)."""
    request_cpu_ms: float
    """PHP's per-request CPU beside the script's (cost model php_request_cpu_ms)."""


@dataclass(frozen=True)
class FpmBackend:
    """A PHP-FPM pool with its memory and CPU figures filled in from the cost model."""

    name: str
    pool: FpmPool
    child_base_mib: float
    child_growth_mib: float
    growth_cap_mib: float
    master_mib: float
    request_cpu_ms: float
    """PHP's per-request CPU in the child, beside the script's."""
    handoff_cpu_ms: float
    """Apache's and FPM's CPU of the FastCGI hand-off, per request."""
    spawn_cpu_ms: float
    kind: str = "php_fpm"


@dataclass(frozen=True)
class ProxyBackend:
    """A generic application server behind mod_proxy."""

    name: str
    concurrency: int
    queue: int | None
    cpu_ms: DistributionSpec
    wait_ms: DistributionSpec
    memory_mib: float
    timeout_s: float | None
    handoff_cpu_ms: float
    kind: str = "proxy"


Backend = FpmBackend | ProxyBackend


@dataclass(frozen=True)
class PhpSetup:
    """What a run needs about PHP and backends (all empty for a plain Apache)."""

    modules: tuple[str, ...] = ()
    mod_php: ModPhp | None = None
    backends: tuple[Backend, ...] = ()
    class_backends: tuple[str | None, ...] = ()
    """Each mix class's backend name (``mod_php``, a backend's, or None), in mix order."""
    notes: tuple[str, ...] = ()

    @property
    def used(self) -> bool:
        """Whether any of it changes a run (a plain Apache costs nothing extra)."""
        return bool(self.mod_php or self.backends)

    def backend(self, name: str) -> Backend:
        """The backend called ``name``."""
        return next(b for b in self.backends if b.name == name)


def _cap(limit_mib: float | None) -> float:
    return float("inf") if limit_mib is None else limit_mib


def resolve_php(
    scenario: Scenario,
    mpm: str,
    loaded: Iterable[str],
    costs: CostModel,
    *,
    source: str,
    base_dir: Path | None,
) -> PhpSetup:
    """mod_php, the backends and each class's destination, or a one-line :class:`InputError`.

    ``loaded`` are the ``LoadModule`` identifiers of ``server.config_file`` (if any).
    """
    modules = list(scenario.server.modules)
    names = _destinations(scenario, mpm, source)
    auto = mpm == "prefork" and any(m.backend == AUTO_PHP for m in scenario.mix)
    if PHP_MODULE_IDS.intersection(loaded) or auto:
        modules.append("php")
    modules = list(dict.fromkeys(modules))
    refusal = module_refusal(mpm, modules)
    if refusal is not None:
        raise InputError(
            f"Apache {mpm} refuses to start: {refusal}", file=source, field="server.modules"
        )
    mod_php = _mod_php(scenario.server.php, costs) if "php" in modules else None
    for i, name in enumerate(names):
        if name == MOD_PHP and mod_php is None:
            raise InputError(
                "mod_php is not loaded: add php to server.modules (prefork only), or send the "
                "class to a php_fpm backend",
                file=source,
                field=f"mix[{i}].backend",
            )
    notes: list[str] = []
    used = {n for n in names if n is not None and n != MOD_PHP}
    backends: list[Backend] = []
    for name, spec in scenario.backends.items():
        if name not in used:
            continue  # a pool no class sends to is not simulated (it would only idle)
        if isinstance(spec, PhpFpmSpec):
            backends.append(_fpm(name, spec, costs, source, base_dir, notes))
        else:
            backends.append(_proxy(name, spec, costs))
    return PhpSetup(tuple(modules), mod_php, tuple(backends), names, tuple(notes))


def _destinations(scenario: Scenario, mpm: str, source: str) -> tuple[str | None, ...]:
    """Each class's backend, ``php`` resolved: mod_php under prefork, else the php_fpm pool."""
    names = tuple(m.backend for m in scenario.mix)
    if AUTO_PHP not in names:
        return names
    if mpm == "prefork":
        return tuple(MOD_PHP if n == AUTO_PHP else n for n in names)
    pools = [n for n, b in scenario.backends.items() if isinstance(b, PhpFpmSpec)]
    if len(pools) != 1:
        i = names.index(AUTO_PHP)
        raise InputError(
            f"backend php under {mpm} runs in the scenario's php_fpm pool: give exactly one "
            f"(backends has {len(pools)})",
            file=source,
            field=f"mix[{i}].backend",
        )
    return tuple(pools[0] if n == AUTO_PHP else n for n in names)


def _mod_php(spec: ModPhpSpec, costs: CostModel) -> ModPhp:
    limit = parse_size_mib(spec.memory_limit, field="server.php.memory_limit")
    return ModPhp(
        child_extra_mib=(
            spec.child_extra_mib if spec.child_extra_mib is not None else costs.modphp_child_mib
        ),
        child_growth_mib=(
            spec.child_growth_mib
            if spec.child_growth_mib is not None
            else costs.modphp_child_growth_mib
        ),
        growth_cap_mib=_cap(limit),
        request_cpu_ms=costs.php_request_cpu_ms,
    )


def pool_values(spec: PhpFpmSpec) -> dict[str, object]:
    """The pool keys written in the scenario, under FPM's names."""
    data = spec.model_dump(by_alias=True, exclude_none=True)
    for key in ("kind", "config_file", "pool"):
        data.pop(key, None)
    return data


def _fpm(
    name: str,
    spec: PhpFpmSpec,
    costs: CostModel,
    source: str,
    base_dir: Path | None,
    notes: list[str],
) -> FpmBackend:
    values: dict[str, object] = {}
    pool_name = name
    if spec.config_file is not None:
        path = Path(spec.config_file)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        pool_name, from_file, _files = read_fpm_pool(path, spec.pool)
        values.update(from_file)
    values.update(pool_values(spec))  # keys written in the scenario win over the file's
    pool, pool_notes = make_pool(values, name=pool_name, source=source, prefix=f"backends.{name}.")
    notes.extend(pool_notes)
    return FpmBackend(
        name=name,
        pool=pool,
        child_base_mib=pool.child_base_mib
        if pool.child_base_mib is not None
        else costs.fpm_child_mib,
        child_growth_mib=(
            pool.child_growth_mib
            if pool.child_growth_mib is not None
            else costs.fpm_child_growth_mib
        ),
        growth_cap_mib=_cap(pool.memory_limit_mib),
        master_mib=costs.fpm_master_mib,
        request_cpu_ms=costs.php_request_cpu_ms,
        handoff_cpu_ms=costs.fastcgi_handoff_cpu_ms,
        spawn_cpu_ms=costs.fpm_spawn_cpu_ms,
    )


def _proxy(name: str, spec: ProxySpec, costs: CostModel) -> ProxyBackend:
    return ProxyBackend(
        name=name,
        concurrency=spec.concurrency,
        queue=spec.queue,
        cpu_ms=spec.cpu_ms,
        wait_ms=spec.wait_ms,
        memory_mib=spec.memory_mib,
        timeout_s=spec.timeout_s,
        handoff_cpu_ms=costs.proxy_handoff_cpu_ms,
    )


def with_mod_php(costs: CostModel, mod_php: ModPhp | None) -> CostModel:
    """The run's cost model: with mod_php loaded, libphp's pages are shared by every Apache
    process and each child carries PHP's per-process state (``server.php.child_extra_mib``)."""
    if mod_php is None:
        return costs
    return costs.model_copy(
        update={
            "shared_mib": costs.shared_mib + costs.modphp_shared_mib,
            "process_mib": costs.process_mib + mod_php.child_extra_mib,
        }
    )
