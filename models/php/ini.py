"""Reading a PHP-FPM pool from its configuration files (``php-fpm.conf``, ``php-fpm.d/www.conf``).

FPM's format is PHP's ini: ``[name]`` starts a section (``[global]`` or a pool), ``key = value``
sets a key (quotes optional), ``;`` starts a comment, ``include = PATTERN`` reads the files a
glob matches (in sorted order; a relative pattern is taken against the including file's folder,
Debian's are absolute). A later value of a key wins, as in FPM. PHP settings given to the pool
(``php_admin_value[memory_limit]``, ``php_value[...]``) are read for ``memory_limit``; a bare
number there is bytes, as PHP reads it.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from mpmsim.errors import InputError
from mpmsim.models.php.pool import POOL_KEYS
from mpmsim.models.php.units import parse_size_mib

_MAX_DEPTH = 16
_MEMORY_KEYS = ("php_admin_value[memory_limit]", "php_value[memory_limit]")


@dataclass
class _Reading:
    pools: dict[str, dict[str, object]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _value(raw: str) -> str:
    """The value of ``key = raw``: quotes removed, or cut at a ``;`` comment."""
    raw = raw.strip()
    if raw[:1] in ('"', "'"):
        end = raw.find(raw[0], 1)
        if end > 0:
            return raw[1:end]
    return raw.split(";", 1)[0].strip()


def _read(path: Path, state: _Reading, section: str | None, depth: int) -> str | None:
    """Read ``path`` into ``state`` starting in ``section``; the section it ends in."""
    if depth > _MAX_DEPTH:
        raise InputError(f"include nests deeper than {_MAX_DEPTH} files (a loop?)", file=str(path))
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    state.files.append(str(path))
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        where = f"{path}:{number}"
        if stripped.startswith("["):
            if not stripped.endswith("]") or len(stripped) < 3:
                raise InputError(f"malformed section header {stripped!r}", file=where)
            section = stripped[1:-1].strip()
            if section != "global" and section not in state.pools:
                state.pools[section] = {}
                state.order.append(section)
            continue
        key, sep, raw = stripped.partition("=")
        if not sep or not key.strip():
            raise InputError(f"expected 'key = value' or '[section]', got {stripped!r}", file=where)
        key, value = key.strip(), _value(raw)
        if key == "include":
            section = _include(path, value, state, section, depth)
        elif section is not None and section != "global":
            _set(state.pools[section], key, value, where)
    return section


def _include(
    path: Path, pattern: str, state: _Reading, section: str | None, depth: int
) -> str | None:
    full = pattern if Path(pattern).is_absolute() else str(path.parent / pattern)
    for match in sorted(glob.glob(full)):
        section = _read(Path(match), state, section, depth + 1)
    return section


def _set(pool: dict[str, object], key: str, value: str, where: str) -> None:
    """Keep ``key`` if mpmsim models it (memory_limit in MiB, from PHP's bytes or suffix)."""
    if key in _MEMORY_KEYS:
        try:
            limit = parse_size_mib(value, field="memory_limit", bare="bytes")
        except ValueError as exc:
            raise InputError(str(exc).partition(": ")[2], file=where, field=key) from None
        pool["memory_limit"] = -1 if limit is None else limit
    elif key in POOL_KEYS:
        pool[key] = value


def read_fpm_pool(path: Path, pool: str | None = None) -> tuple[str, dict[str, object], list[str]]:
    """The pool ``pool`` (default: the files' only pool) of the FPM config at ``path``.

    Returns ``(pool name, its raw values under FPM's key names, the files read)``; the values
    are checked later by :func:`mpmsim.models.php.pool.make_pool`.
    """
    if not path.is_file():
        raise InputError("no such file", file=str(path))
    state = _Reading()
    _read(path, state, None, 0)
    if not state.order:
        raise InputError("no pool section ([www]) in the file or its includes", file=str(path))
    if pool is None:
        if len(state.order) > 1:
            raise InputError(
                f"several pools ({', '.join(state.order)}): say which one with pool: NAME",
                file=str(path),
            )
        pool = state.order[0]
    if pool not in state.pools:
        raise InputError(
            f"no pool [{pool}] (the files define: {', '.join(state.order)})", file=str(path)
        )
    return pool, state.pools[pool], state.files
