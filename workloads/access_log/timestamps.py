"""Apache's time directives (``%t``, ``%{strftime}t``, ``%{usec}t`` ...) to epoch seconds.

A ``%{...}t`` directive becomes regex groups, each named after the part of a time it holds
(``year``, ``epoch_us``, ``frac_us`` ...); :class:`Clock` turns the parts into epoch seconds
with caches, so a log with many lines a second does the calendar arithmetic once a second
(``%t``) or once a day (strftime formats).
"""

from __future__ import annotations

import calendar
import re
from datetime import date

from mpmsim.errors import InputError

_DAY = r"(?:[ 0][1-9]|[12][0-9]|3[01])"
_HOUR = r"(?:[ 01][0-9]|2[0-3])"

#: strftime codes mpmsim reads: code -> (part name or None when only matched, regex).
STRFTIME_CODES: dict[str, tuple[str | None, str]] = {
    "Y": ("year", r"[0-9]{4}"),
    "y": ("year2", r"[0-9]{2}"),
    "m": ("month", r"(?:0[1-9]|1[0-2])"),
    "b": ("month_name", r"[A-Za-z]{3}"),
    "h": ("month_name", r"[A-Za-z]{3}"),
    "B": ("month_name", r"[A-Za-z]+"),
    "d": ("day", _DAY),
    "e": ("day", _DAY),
    "H": ("hour", _HOUR),
    "I": ("hour12", r"(?:[ 0][1-9]|1[0-2])"),
    "p": ("am_pm", r"[AaPp][Mm]"),
    "M": ("minute", r"[ 0-5][0-9]"),
    "S": ("second", r"[0-5][0-9]"),
    "z": ("zone", r"[-+][0-9]{4}"),
    "s": ("epoch_s", r"-?[0-9]+"),
    "a": (None, r"[A-Za-z]+"),
    "A": (None, r"[A-Za-z]+"),
    "Z": (None, r"[A-Za-z0-9+-]*"),
    "n": (None, r"\s*"),
    "t": (None, r"\s*"),
    "%": (None, "%"),
}
_COMPOSITE = {"F": "%Y-%m-%d", "T": "%H:%M:%S", "D": "%m/%d/%y", "R": "%H:%M"}

#: ``%{NAME}t`` specials: name -> (part, regex). ``""`` is ``%t`` itself.
SPECIAL_PARAMETERS: dict[str, tuple[str, str]] = {
    "": ("clf", r"\[([0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4})\]"),
    "sec": ("epoch_s", r"(-?[0-9]+)"),
    "msec": ("epoch_ms", r"(-?[0-9]+)"),
    "usec": ("epoch_us", r"(-?[0-9]+)"),
    "msec_frac": ("frac_ms", r"([0-9]{3})"),
    "usec_frac": ("frac_us", r"([0-9]{6})"),
}

_MONTH_NAMES = (
    *("january", "february", "march", "april", "may", "june", "july", "august"),
    *("september", "october", "november", "december"),
)
# English whatever the locale: Apache writes %t in English, and calendar.month_name would not.
_MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, 1)}
_MONTHS.update({name[:3]: i for i, name in enumerate(_MONTH_NAMES, 1)})
_CACHE_LIMIT = 4096
"""Entries a cache holds before it starts again: constant memory on any log."""


def time_side(param: str) -> tuple[str, str]:
    """Split ``begin:``/``end:`` off a ``%{...}t`` parameter: (``"begin"|"end"``, the rest)."""
    for side in ("begin", "end"):
        if param == side:
            return side, ""
        if param.startswith(side + ":"):
            return side, param[len(side) + 1 :]
    return "begin", param


def time_pattern(param: str, source: str) -> list[tuple[str | None, str]]:
    """The (part, regex) pieces of one ``%{param}t`` (side already removed); a part's regex
    is one capturing group, a piece without a part captures nothing."""
    if param in SPECIAL_PARAMETERS:
        return [SPECIAL_PARAMETERS[param]]
    for code, expansion in _COMPOSITE.items():
        param = param.replace("%" + code, expansion)
    pieces: list[tuple[str | None, str]] = []
    position = 0
    for match in re.finditer(r"%(.)|([^%]+)", param, re.DOTALL):
        code, literal = match.group(1), match.group(2)
        position = match.end()
        if literal is not None:
            pieces.append((None, re.escape(literal)))
        elif code in STRFTIME_CODES:
            part, regex = STRFTIME_CODES[code]
            pieces.append((part, f"({regex})") if part else (None, f"(?:{regex})"))
        else:
            allowed = " ".join("%" + c for c in [*STRFTIME_CODES, *_COMPOSITE])
            raise InputError(f"strftime code %{code} is not read; allowed: {allowed}", file=source)
    if position != len(param):
        raise InputError(f"%{{{param}}}t ends in a lone %", file=source)
    return pieces


class Clock:
    """Epoch seconds from the parts of Apache timestamps, with bounded caches (one per parser)."""

    def __init__(self) -> None:
        self._clf: dict[str, float] = {}
        self._days: dict[tuple[int, int, int], int] = {}
        #: ``cached_clf(text)``: the cached value of :meth:`clf`, or ``None`` (one C call).
        self.cached_clf = self._clf.get

    def clf(self, text: str) -> float:
        """``dd/Mon/yyyy:HH:MM:SS +hhmm`` (``%t`` without its brackets) as epoch seconds."""
        value = self._clf.get(text)
        if value is None:
            if len(self._clf) >= _CACHE_LIMIT:
                self._clf.clear()
            day = self.day(int(text[7:11]), month_number(text[3:6]), int(text[0:2]))
            seconds = time_of_day(text[12:14], text[15:17], text[18:20]) - zone_s(text[21:26])
            value = self._clf[text] = float(day + seconds)
        return value

    def day(self, year: int, month: int, day: int) -> int:
        """Epoch seconds of a UTC midnight; ``ValueError`` for a date that does not exist."""
        key = (year, month, day)
        value = self._days.get(key)
        if value is None:
            if len(self._days) >= _CACHE_LIMIT:
                self._days.clear()
            date(year, month, day)  # raises ValueError for 31 Feb
            value = self._days[key] = calendar.timegm((year, month, day, 0, 0, 0))
        return value


def time_of_day(hour: str, minute: str, second: str) -> int:
    """Seconds since midnight; ``ValueError`` past 23:59:59 (``%t`` is matched loosely)."""
    h, m, s = int(hour), int(minute), int(second)
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"no such time {hour}:{minute}:{second}")
    return h * 3600 + m * 60 + s


def month_number(name: str) -> int:
    """1-12 from an English month name or abbreviation (any case); ``ValueError`` otherwise."""
    try:
        return _MONTHS[name.lower()]
    except KeyError:
        raise ValueError(f"no month {name!r}") from None


def zone_s(text: str) -> int:
    """Seconds east of UTC from ``+hhmm``/``-hhmm``; ``ValueError`` for minutes past 59."""
    hours, minutes = int(text[1:3]), int(text[3:5])
    if minutes > 59:
        raise ValueError(f"no such zone {text}")
    offset = hours * 3600 + minutes * 60
    return -offset if text[0] == "-" else offset


def year_of(two_digits: str) -> int:
    """A ``%y`` year: 69-99 are 1969-1999, 00-68 are 2000-2068 (POSIX ``strptime``)."""
    value = int(two_digits)
    return value + (1900 if value >= 69 else 2000)


def hour_of(hour12: str, am_pm: str) -> int:
    """0-23 from a ``%I`` hour and ``%p``."""
    return int(hour12) % 12 + (12 if am_pm.upper() == "PM" else 0)


__all__ = [
    "SPECIAL_PARAMETERS",
    "STRFTIME_CODES",
    "Clock",
    "hour_of",
    "month_number",
    "time_of_day",
    "time_pattern",
    "time_side",
    "year_of",
    "zone_s",
]
