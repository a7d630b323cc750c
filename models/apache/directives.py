"""Apache directives: parse them as a user writes them, then apply Apache 2.4's start-up arithmetic.

:func:`normalize_directives` turns YAML or httpd.conf values into typed values under Apache's
canonical names; :func:`apply_apache_rules` adds the MPM's defaults and every start-up
adjustment (:mod:`mpmsim.models.apache.rules`) and returns the :class:`EffectiveDirectives` the
simulation uses, with one warning line per adjustment Apache would have logged.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final, Literal

from mpmsim.errors import InputError
from mpmsim.models.apache.rules import (
    COMMON_DEFAULTS,
    MPM_DEFAULTS,
    MPMS,
    NOT_FOR_MPM,
    adjust_prefork,
    adjust_threaded,
)

Kind = Literal["count", "backlog", "seconds", "flag", "factor"]

# Every directive handled, in canonical spelling, with how its value is parsed.
DIRECTIVES: Final[Mapping[str, Kind]] = {
    "StartServers": "count",
    "MinSpareServers": "count",
    "MaxSpareServers": "count",
    "MinSpareThreads": "count",
    "MaxSpareThreads": "count",
    "ThreadsPerChild": "count",
    "ThreadLimit": "count",
    "ServerLimit": "count",
    "MaxRequestWorkers": "count",
    "MaxConnectionsPerChild": "count",
    "AsyncRequestWorkerFactor": "factor",
    "KeepAlive": "flag",
    "KeepAliveTimeout": "seconds",
    "MaxKeepAliveRequests": "count",
    "ListenBacklog": "backlog",
    "Timeout": "seconds",
    "ThreadStackSize": "count",
    "ListenCoresBucketsRatio": "count",
}

# Old names Apache still accepts, with the info message it logs (facts §4 rule 11: prefork.c
# set_max_clients AH00188, worker.c AH00324, event.c set_max_workers AH00521; mpm_common.c
# ap_mpm_set_max_requests l.322-338 AH00545). The MPM is not known here, so all three are named.
ALIASES: Final[Mapping[str, tuple[str, str]]] = {
    "MaxClients": (
        "MaxRequestWorkers",
        "MaxClients is deprecated, use MaxRequestWorkers instead "
        "(AH00188 prefork, AH00324 worker, AH00521 event)",
    ),
    "MaxRequestsPerChild": (
        "MaxConnectionsPerChild",
        "MaxRequestsPerChild is deprecated, use MaxConnectionsPerChild instead (AH00545)",
    ),
}

_BY_LOWER: Final[Mapping[str, str]] = {
    **{name.lower(): name for name in DIRECTIVES},
    **{old.lower(): old for old in ALIASES},
}

# Apache's ap_timeout_parameter_parse (util.c) units; the default unit of both directives is s.
_SECONDS_RE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|mi|min|h)?", re.IGNORECASE)
_UNIT_S: Final[Mapping[str, float]] = {"ms": 0.001, "s": 1.0, "mi": 60.0, "min": 60.0, "h": 3600.0}
_INT_RE: Final = re.compile(r"[+-]?\d+")


def canonical_name(name: str) -> str | None:
    """Apache's spelling of directive ``name`` (any case, old names mapped), or None if unknown."""
    spelled = _BY_LOWER.get(name.strip().lower())
    if spelled is not None and spelled in ALIASES:
        return ALIASES[spelled][0]
    return spelled


def deprecation(name: str) -> str | None:
    """The note Apache logs for an old directive name (MaxClients), None for any other name."""
    old = _BY_LOWER.get(name.strip().lower())
    return ALIASES[old][1] if old is not None and old in ALIASES else None


def misspelled(name: str) -> str | None:
    """The modelled directive that ``name`` (not one itself) is most likely a typo of, if any:
    close enough (difflib ratio >= 0.85) that no real directive of Apache's reads so."""
    close = difflib.get_close_matches(name.strip().lower(), list(_BY_LOWER), n=1, cutoff=0.85)
    return _BY_LOWER[close[0]] if close else None


def _unknown(name: str, source: str, field: str) -> InputError:
    """The error for a directive name this simulator does not know, with the nearest known one."""
    known = sorted(DIRECTIVES)
    close = difflib.get_close_matches(name.lower(), list(_BY_LOWER), n=1, cutoff=0.6)
    hint = f"; did you mean {_BY_LOWER[close[0]]!r}?" if close else "."
    return InputError(
        f"unknown directive {name!r}{hint} Known: {', '.join(known)}", file=source, field=field
    )


def _parse_int(raw: object, minimum: int, err: InputError) -> int:
    """A whole number from a YAML int/float or a string, at least ``minimum``."""
    value: int | None = None
    if isinstance(raw, bool):
        value = None  # YAML on/off/yes/no become booleans; they are not numbers
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and _INT_RE.fullmatch(raw.strip()):
        value = int(raw.strip())
    if value is None:
        raise err
    if value < minimum:
        raise InputError(f"must be >= {minimum}, got {value}", file=err.file, field=err.field)
    return value


def _parse_seconds(raw: object, err: InputError) -> float:
    """Seconds from a number or from Apache's "500ms" / "5s" / "2mi" / "1h" forms."""
    if isinstance(raw, bool):
        raise err
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str) and (m := _SECONDS_RE.fullmatch(raw.strip())):
        seconds = float(m.group(1)) * _UNIT_S[(m.group(2) or "s").lower()]
    elif isinstance(raw, str) and _INT_RE.fullmatch(raw.strip()):
        seconds = float(raw)  # a negative integer: reported as negative below
    else:
        raise err
    if not math.isfinite(seconds):
        raise err
    if seconds < 0:
        raise InputError(f"must be >= 0, got {raw!r}", file=err.file, field=err.field)
    return seconds


def _parse_flag(raw: object, err: InputError) -> bool:
    """On/Off as Apache's FLAG directives take it (YAML true/false too)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("on", "off"):
        return raw.strip().lower() == "on"
    raise err


def _parse_factor(raw: object, err: InputError) -> float:
    """AsyncRequestWorkerFactor: a positive number, parsed as strtod does (event.c l.4105-4127)."""
    value: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            value = None
    if value is None or not math.isfinite(value):
        raise err
    if value <= 0:
        # set_worker_factor: "AsyncRequestWorkerFactor argument must be a positive number"
        raise InputError(f"must be a positive number, got {raw!r}", file=err.file, field=err.field)
    return value


_EXPECTED: Final[Mapping[Kind, str]] = {
    "count": "a whole number >= 0",
    "backlog": "a whole number >= 1",
    "seconds": "seconds as a number >= 0, optionally with Apache's unit (500ms, 5s, 2mi, 1h)",
    "flag": "On or Off",
    "factor": "a positive number",
}


def parse_value(name: str, raw: object, *, source: str, field: str) -> int | float | bool:
    """Parse the value of canonical directive ``name``; raise InputError if it is not allowed."""
    kind = DIRECTIVES[name]
    err = InputError(f"expected {_EXPECTED[kind]}, got {raw!r}", file=source, field=field)
    if kind == "count":
        # Negative counts are rejected here; Apache's atoi takes them and then clamps (rules 1-7).
        return _parse_int(raw, 0, err)
    if kind == "backlog":
        return _parse_int(raw, 1, err)  # listen.c ap_set_listenbacklog: "must be > 0" (l.911)
    if kind == "seconds":
        return _parse_seconds(raw, err)
    if kind == "flag":
        return _parse_flag(raw, err)
    return _parse_factor(raw, err)


def normalize_directives(
    raw: Mapping[str, object], *, source: str, field_prefix: str = "server.directives"
) -> tuple[dict[str, int | float | bool], list[str]]:
    """Check and type directives written by a user; return (values by canonical name, notes).

    Names match case-insensitively, as in Apache; ``MaxClients`` and ``MaxRequestsPerChild`` are
    accepted under their new names with a deprecation note. Errors name ``source`` and the field.
    """
    values: dict[str, int | float | bool] = {}
    spelled_as: dict[str, str] = {}
    notes: list[str] = []
    for key, raw_value in raw.items():
        field = f"{field_prefix}.{key}" if field_prefix else str(key)
        name = canonical_name(key) if isinstance(key, str) else None
        if name is None:
            raise _unknown(str(key), source, field)
        if name in spelled_as:
            raise InputError(
                f"{name} is given twice (as {spelled_as[name]!r} and {key!r}); keep one",
                file=source,
                field=field,
            )
        spelled_as[name] = key
        note = deprecation(key)
        if note is not None:
            notes.append(note)
        values[name] = parse_value(name, raw_value, source=source, field=field)
    return values, notes


@dataclass(frozen=True)
class EffectiveDirectives:
    """The directives a simulated server runs with, after Apache's defaults and adjustments.

    Attribute names keep Apache's spelling so JSON output matches httpd.conf. Directives an MPM
    does not have hold placeholders (prefork: ThreadsPerChild = ThreadLimit = 1, spare threads and
    ThreadStackSize 0; worker/event: spare servers 0); :meth:`as_dict` leaves those out, except
    prefork's ThreadsPerChild and ThreadLimit of 1.
    """

    mpm: str
    StartServers: int
    MinSpareServers: int
    MaxSpareServers: int
    MinSpareThreads: int
    MaxSpareThreads: int
    ThreadsPerChild: int
    ThreadLimit: int
    ServerLimit: int
    MaxRequestWorkers: int
    MaxConnectionsPerChild: int
    # As given; 2.4.x uses only max(1, floor(value)): see async_factor_effective.
    AsyncRequestWorkerFactor: float
    KeepAlive: bool
    KeepAliveTimeout: float
    MaxKeepAliveRequests: int
    ListenBacklog: int
    Timeout: float
    ThreadStackSize: int
    ListenCoresBucketsRatio: int
    process_limit: int
    buckets: int

    @property
    def async_factor_effective(self) -> int:
        """The factor event's admission test really uses: max(1, floor(AsyncRequestWorkerFactor)).

        event.c stores it as value x 16 in an unsigned int, raises it to 16 when smaller
        (set_worker_factor l.4105-4127) and divides by 16 in integer arithmetic
        (connections_above_limit l.519-537), so fractions have no effect (facts §5).
        """
        return max(1, math.floor(self.AsyncRequestWorkerFactor))

    def as_dict(self) -> dict[str, int | float | str]:
        """Apache names to values, only those that apply to the MPM (KeepAlive as On/Off)."""
        skip = {"mpm", "process_limit", "buckets"}
        if self.mpm == "prefork":
            # No threads to size: ThreadsPerChild/ThreadLimit stay as HARD_THREAD_LIMIT 1.
            skip |= {"MinSpareThreads", "MaxSpareThreads", "ThreadStackSize"}
            skip.add("AsyncRequestWorkerFactor")
        else:
            skip |= {"MinSpareServers", "MaxSpareServers"}
            if self.mpm == "worker":
                skip.add("AsyncRequestWorkerFactor")
        out: dict[str, int | float | str] = {}
        for f in fields(self):
            if f.name in skip:
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool):
                out[f.name] = "On" if value else "Off"
            elif f.name in ("KeepAliveTimeout", "Timeout") and value.is_integer():
                out[f.name] = int(value)  # KeepAliveTimeout 5, as httpd.conf writes it
            else:
                out[f.name] = value
        return out


def buckets_for(ratio: int, vcpus: int) -> int:
    """Listener buckets: online cores // ListenCoresBucketsRatio when > 1, else 1.

    listen.c ap_duplicate_listeners (facts §3, l.679-706); assumes SO_REUSEPORT (Linux >= 3.9).
    """
    if ratio <= 0:
        return 1
    return max(1, vcpus // ratio)


def apply_apache_rules(
    mpm: str, values: Mapping[str, int | float | bool], *, vcpus: int = 1
) -> tuple[EffectiveDirectives, list[str]]:
    """Apache 2.4's defaults and start-up adjustments for ``mpm``; return (result, warnings).

    ``values`` are typed directives (see :func:`normalize_directives`); ``vcpus`` counts the online
    cores used by ListenCoresBucketsRatio. One warning per adjustment Apache logs, none for the
    silent ones; directives the MPM lacks are ignored with a warning.
    """
    if mpm not in MPMS:
        raise InputError(f"unknown MPM {mpm!r}; allowed: {', '.join(MPMS)}", field="server.mpm")
    warnings: list[str] = []
    given: dict[str, int | float | bool] = {}
    for key, value in values.items():
        name = canonical_name(key)
        if name is None:
            raise _unknown(key, "<directives>", f"server.directives.{key}")
        if name in NOT_FOR_MPM[mpm]:
            warnings.append(
                f"{name} has no effect with mpm_{mpm} (Apache accepts it only inside "
                "<IfModule> for another MPM)"
            )
            continue
        given[name] = value
    merged: dict[str, int | float | bool] = {**COMMON_DEFAULTS, **MPM_DEFAULTS[mpm], **given}
    counts = {k: int(v) for k, v in merged.items() if DIRECTIVES[k] in ("count", "backlog")}
    buckets = buckets_for(counts["ListenCoresBucketsRatio"], vcpus)
    if mpm == "prefork":
        warnings += adjust_prefork(counts, buckets)
    else:
        warnings += adjust_threaded(mpm, counts, buckets)
    process_limit = counts.pop("process_limit")
    result = EffectiveDirectives(
        mpm=mpm,
        AsyncRequestWorkerFactor=float(merged["AsyncRequestWorkerFactor"]),
        KeepAlive=bool(merged["KeepAlive"]),
        KeepAliveTimeout=float(merged["KeepAliveTimeout"]),
        Timeout=float(merged["Timeout"]),
        process_limit=process_limit,
        buckets=buckets,
        **counts,
    )
    return result, warnings


__all__ = [
    "ALIASES",
    "DIRECTIVES",
    "EffectiveDirectives",
    "apply_apache_rules",
    "buckets_for",
    "canonical_name",
    "normalize_directives",
    "parse_value",
]
