"""PHP's and PHP-FPM's units: sizes (``128M``) and durations (``10s``, ``2m``)."""

from __future__ import annotations

import re
from typing import Literal

_SIZE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SIZE_MIB = {"": 1.0 / 1048576.0, "k": 1.0 / 1024.0, "m": 1.0, "g": 1024.0}
_DURATION_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_size_mib(
    value: object, *, field: str, bare: Literal["mib", "bytes"] = "mib"
) -> float | None:
    """A PHP size (``128M``, ``1G``, ``512K``) in MiB; None for ``-1`` (no limit).

    A number without a suffix is MiB in a scenario file (``bare="mib"``) and bytes in an ini
    file (``bare="bytes"``), as PHP reads ``memory_limit = 134217728``. Raises ValueError.
    """
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a size such as 128M or -1, got {value!r}")
    if isinstance(value, int | float):
        text, number, suffix = str(value), float(value), ""
    else:
        m = _SIZE.match(str(value))
        if not m:
            raise ValueError(f"{field}: expected a size such as 128M, 1G or -1, got {value!r}")
        text, number, suffix = str(value), float(m[1]), m[2].lower()
    if number == -1:
        return None
    if number <= 0:
        raise ValueError(f"{field}: must be > 0 or -1 (no limit), got {text!r}")
    if not suffix and bare == "mib":
        return number
    return number * _SIZE_MIB[suffix]


def parse_duration_s(value: object, *, field: str) -> float:
    """An FPM duration (``10s``, ``2m``, ``1h``, ``1d``; a bare number is seconds) in seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a duration such as 10s or 2m, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{field}: must be >= 0, got {value!r}")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(
            f"{field}: expected a duration: a number with s, m, h or d (10s, 2m), got {value!r}"
        )
    return float(m[1]) * _DURATION_S[m[2]]
