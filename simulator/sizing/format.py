"""Numbers rounded for people: durations, rates, money, memory, shares and their intervals.

The terminal report and the HTML page both format through these, so a figure reads the same in
both: ``557 ms``, ``12.5 s``, ``1,234 req/s``, ``$15.18``, ``73.9 req/s ± 11.4``. A missing
figure (None or NaN) prints as :data:`NONE`.
"""

from __future__ import annotations

import math

NONE = "—"
"""What a missing figure prints as."""


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def ms(x: float | None) -> str:
    """A duration given in ms: ``0.25 ms``, ``2.4 ms``, ``557 ms``, ``12.5 s``, ``1,250 s``."""
    if x is None or _missing(x):
        return NONE
    if abs(x) >= 100_000.0:
        return f"{x / 1000.0:,.0f} s"
    if abs(x) >= 999.5:  # 999.6 ms would round to "1,000 ms"
        return f"{x / 1000.0:.1f} s"
    if abs(x) >= 10.0:
        return f"{x:.0f} ms"
    if abs(x) >= 1.0:
        return f"{x:.1f} ms"
    return f"{x:.2g} ms"


def number(x: float | None) -> str:
    """A count or rate without unit: one decimal below 100, whole with separators above."""
    if x is None or _missing(x):
        return NONE
    return f"{x:,.0f}" if abs(x) >= 99.95 else f"{x:.1f}"


def rps(x: float | None) -> str:
    """A rate in requests per second: ``73.9 req/s``, ``1,234 req/s``."""
    return NONE if x is None or _missing(x) else f"{number(x)} req/s"


def usd(x: float | None) -> str:
    """Money: ``$15.18``, ``$1,234.56``; below a cent three significant digits (``$0.00412``)."""
    if x is None or _missing(x):
        return NONE
    if 0.0 < abs(x) < 0.01:
        return f"${x:.3g}"
    return f"${x:,.2f}"


def mib(x: float | None) -> str:
    """Memory in MiB: ``24 MiB``, ``1,552 MiB``."""
    if x is None or _missing(x):
        return NONE
    return f"{x:,.0f} MiB" if abs(x) >= 10.0 else f"{x:.1f} MiB"


def percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.995`` -> ``99.5 %``."""
    if fraction is None or _missing(fraction):
        return NONE
    return f"{100.0 * fraction:.{digits}f} %"


def plus_minus(ci: float | None, unit: str = "") -> str:
    """A 95 % confidence half-width: ``± 475 ms`` (``unit`` "ms"), ``± 11.4``; "" when none."""
    if ci is None or _missing(ci):
        return ""
    if unit == "ms":
        return f"± {ms(ci)}"
    return f"± {number(ci)}" + (f" {unit}" if unit else "")


def with_ci(x: float | None, ci: float | None, unit: str) -> str:
    """A figure and its interval: ``557 ms ± 475 ms``, ``73.9 req/s ± 11.4``."""
    value = by_unit(x, unit)
    pm = plus_minus(ci, "ms" if unit == "ms" else "")
    return f"{value} {pm}" if pm and value != NONE else value


def by_unit(x: float | None, unit: str) -> str:
    """A goal's figure in its own unit (the units of ``mpmsim.search.goals``' checks)."""
    if unit == "ms":
        return ms(x)
    if unit == "req/s":
        return rps(x)
    if unit == "MiB":
        return mib(x)
    if unit == "fraction":
        return percent(x, 2)
    return NONE if x is None or _missing(x) else f"{x:g} {unit}".strip()
