"""A PHP-FPM pool's settings after FPM's own defaults and start-up checks.

Sources: php-src ``sapi/fpm/fpm/fpm_conf.c`` (``fpm_conf_process_all_pools``: the checks and
their messages, ``pm.start_servers`` defaulted to ``min_spare + (max_spare - min_spare) / 2``),
``fpm_sockets.h`` (``FPM_BACKLOG_DEFAULT`` -1 on Linux: the kernel's somaxconn) and Debian's
``php8.2-fpm`` ``www.conf`` (``pm.max_spawn_rate`` 32, ``pm.process_idle_timeout`` 10s,
``pm.max_requests`` 0, ``request_terminate_timeout`` 0). A pool FPM refuses to start with is
an :class:`InputError` quoting FPM's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mpmsim.errors import InputError
from mpmsim.models.php.units import parse_duration_s, parse_size_mib

PM_MODES = ("static", "dynamic", "ondemand")

#: Pool keys mpmsim models, as FPM's ini spells them (plus PHP's memory_limit and the model's
#: child memory), in the order a pool block is written.
POOL_KEYS = (
    "pm",
    "pm.max_children",
    "pm.start_servers",
    "pm.min_spare_servers",
    "pm.max_spare_servers",
    "pm.max_spawn_rate",
    "pm.process_idle_timeout",
    "pm.max_requests",
    "listen.backlog",
    "request_terminate_timeout",
    "memory_limit",
    "child_base_mib",
    "child_growth_mib",
)


@dataclass(frozen=True)
class FpmPool:
    """One pool as FPM runs it. Times in seconds, memory in MiB (None: not set / no limit)."""

    name: str
    pm: str
    max_children: int
    start_servers: int
    min_spare_servers: int
    max_spare_servers: int
    max_spawn_rate: int = 32
    process_idle_timeout_s: float = 10.0
    max_requests: int = 0
    listen_backlog: int = -1
    request_terminate_timeout_s: float = 0.0
    memory_limit_mib: float | None = 128.0
    child_base_mib: float | None = None
    child_growth_mib: float | None = None

    def backlog(self, somaxconn: int) -> int:
        """The pool socket's accept queue length: listen(2) caps it at somaxconn, -1 = somaxconn."""
        return somaxconn if self.listen_backlog < 0 else min(self.listen_backlog, somaxconn)

    def ini_block(self) -> str:
        """The pool as a ``php-fpm.d`` block to paste (only the keys of its ``pm`` mode)."""
        lines = [f"[{self.name}]", f"pm = {self.pm}", f"pm.max_children = {self.max_children}"]
        if self.pm == "dynamic":
            lines += [
                f"pm.start_servers = {self.start_servers}",
                f"pm.min_spare_servers = {self.min_spare_servers}",
                f"pm.max_spare_servers = {self.max_spare_servers}",
            ]
            if self.max_spawn_rate != 32:
                lines.append(f"pm.max_spawn_rate = {self.max_spawn_rate}")
        if self.pm == "ondemand":
            lines.append(f"pm.process_idle_timeout = {self.process_idle_timeout_s:g}s")
        lines.append(f"pm.max_requests = {self.max_requests}")
        if self.listen_backlog >= 0:
            lines.append(f"listen.backlog = {self.listen_backlog}")
        if self.request_terminate_timeout_s > 0:
            lines.append(f"request_terminate_timeout = {self.request_terminate_timeout_s:g}s")
        limit = "-1" if self.memory_limit_mib is None else f"{self.memory_limit_mib:g}M"
        lines.append(f"php_admin_value[memory_limit] = {limit}")
        return "\n".join(lines)


def _int(values: Mapping[str, object], key: str, default: int, err: _Err) -> int:
    raw = values.get(key)
    if raw is None:
        return default
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        return int(str(raw).strip()) if not isinstance(raw, int | float) else int(raw)
    except ValueError:
        raise err(key, f"expected a whole number, got {raw!r}") from None


class _Err:
    """Builds the InputError of a pool key: ``file``, ``<prefix><key>``, the message."""

    def __init__(self, source: str, prefix: str, pool: str) -> None:
        self.source, self.prefix, self.pool = source, prefix, pool

    def __call__(self, key: str, message: str) -> InputError:
        return InputError(message, file=self.source, field=f"{self.prefix}{key}")

    def fpm(self, key: str, message: str) -> InputError:
        """FPM refuses to start: its ALERT line, as ``php-fpm -t`` prints it."""
        return self(key, f"[pool {self.pool}] {message} (php-fpm refuses to start)")


def make_pool(
    values: Mapping[str, object], *, name: str = "www", source: str = "<scenario>", prefix: str = ""
) -> tuple[FpmPool, list[str]]:
    """FPM's pool from raw ``values`` (ini names; strings or numbers), with FPM's notices.

    Bad values and pools FPM refuses raise :class:`InputError` naming ``source`` and the key
    (after ``prefix``, e.g. ``backends.www.``).
    """
    err = _Err(source, prefix, name)
    unknown = sorted(set(values) - set(POOL_KEYS))
    if unknown:
        raise err(unknown[0], f"not a pool key mpmsim reads (allowed: {', '.join(POOL_KEYS)})")
    pm = str(values.get("pm") or "dynamic").strip()
    if pm not in PM_MODES:
        raise err("pm", f"must be static, dynamic or ondemand, got {pm!r}")
    if values.get("pm.max_children") is None:
        raise err.fpm("pm.max_children", "pm.max_children must be a positive value")
    children = _int(values, "pm.max_children", 0, err)
    if children < 1:
        raise err.fpm("pm.max_children", "pm.max_children must be a positive value")
    notes: list[str] = []
    start, lo, hi = _spares(pm, children, values, err, notes)
    idle_s, terminate_s, limit = _units(values, err)
    if pm == "ondemand" and idle_s < 1:
        raise err.fpm(
            "pm.process_idle_timeout",
            f"pm.process_idle_timeout({idle_s:g}s) must be greater than 0s",
        )
    spawn_rate = _int(values, "pm.max_spawn_rate", 32, err)
    if spawn_rate < 1:
        raise err.fpm(
            "pm.max_spawn_rate", f"pm.max_spawn_rate({spawn_rate}) must be a positive value"
        )
    max_requests = _int(values, "pm.max_requests", 0, err)
    if max_requests < 0:
        raise err("pm.max_requests", f"must be >= 0 (0 = never), got {max_requests}")
    backlog = _int(values, "listen.backlog", -1, err)
    pool = FpmPool(
        name=name,
        pm=pm,
        max_children=children,
        start_servers=start,
        min_spare_servers=lo,
        max_spare_servers=hi,
        max_spawn_rate=spawn_rate,
        process_idle_timeout_s=idle_s,
        max_requests=max_requests,
        listen_backlog=backlog,
        request_terminate_timeout_s=terminate_s,
        memory_limit_mib=limit,
        child_base_mib=_mib(values, "child_base_mib", err),
        child_growth_mib=_mib(values, "child_growth_mib", err),
    )
    return pool, notes


def _units(values: Mapping[str, object], err: _Err) -> tuple[float, float, float | None]:
    """``(process_idle_timeout s, request_terminate_timeout s, memory_limit MiB or None)``."""
    try:
        idle_s = parse_duration_s(
            values.get("pm.process_idle_timeout", 10.0), field="pm.process_idle_timeout"
        )
        terminate_s = parse_duration_s(
            values.get("request_terminate_timeout", 0.0), field="request_terminate_timeout"
        )
        limit = parse_size_mib(values.get("memory_limit", "128M"), field="memory_limit")
    except ValueError as exc:
        key, _, message = str(exc).partition(": ")
        raise err(key, message) from None
    return idle_s, terminate_s, limit


def _mib(values: Mapping[str, object], key: str, err: _Err) -> float | None:
    raw = values.get(key)
    if raw is None:
        return None
    try:
        value = float(str(raw))
    except ValueError:
        raise err(key, f"expected MiB as a number >= 0, got {raw!r}") from None
    if value < 0:
        raise err(key, f"expected MiB as a number >= 0, got {raw!r}")
    return value


def _spares(
    pm: str, children: int, values: Mapping[str, object], err: _Err, notes: list[str]
) -> tuple[int, int, int]:
    """``(start_servers, min_spare, max_spare)`` as FPM checks and defaults them."""
    if pm == "static":
        return children, 0, 0
    if pm == "ondemand":
        return 0, 0, 0
    lo = _int(values, "pm.min_spare_servers", 0, err)
    hi = _int(values, "pm.max_spare_servers", 0, err)
    if lo <= 0:
        raise err.fpm(
            "pm.min_spare_servers", f"pm.min_spare_servers({lo}) must be a positive value"
        )
    if hi <= 0:
        raise err.fpm(
            "pm.max_spare_servers", f"pm.max_spare_servers({hi}) must be a positive value"
        )
    if lo > children or hi > children:
        raise err.fpm(
            "pm.max_spare_servers",
            f"pm.min_spare_servers({lo}) and pm.max_spare_servers({hi}) cannot be greater than "
            f"pm.max_children({children})",
        )
    if hi < lo:
        raise err.fpm(
            "pm.max_spare_servers",
            f"pm.max_spare_servers({hi}) must not be less than pm.min_spare_servers({lo})",
        )
    start = _int(values, "pm.start_servers", 0, err)
    if start <= 0:
        start = lo + (hi - lo) // 2
        notes.append(f"php-fpm: pm.start_servers is not set. It's been set to {start}.")
    elif start < lo or start > hi:
        raise err.fpm(
            "pm.start_servers",
            f"pm.start_servers({start}) must not be less than pm.min_spare_servers({lo}) and "
            f"not greater than pm.max_spare_servers({hi})",
        )
    return start, lo, hi
