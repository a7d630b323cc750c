"""A ``LogFormat`` compiled once into one regex and one converter function (``LineParser``).

Speed is the point (the aim is 200,000 lines/s in pure Python), so the converter is written
for the format at hand, as ``collections.namedtuple`` writes its class: straight-line code
that unpacks the regex groups and builds the record tuple, with no per-field loop and no
conversion of fields the format lacks. Only fixed snippets and group numbers go into that
code; the format's own text goes only into the regex, which is compiled apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mpmsim.errors import InputError
from mpmsim.workloads.access_log.directives import Directive, field_of, tokenize
from mpmsim.workloads.access_log.fields import split_request, unescape
from mpmsim.workloads.access_log.formats import resolve_format
from mpmsim.workloads.access_log.record import AccessRecord
from mpmsim.workloads.access_log.timestamps import (
    Clock,
    hour_of,
    month_number,
    time_pattern,
    time_side,
    year_of,
    zone_s,
)

_CONVERSIONS = {
    "str": '(None if {g} == "-" else {g} if "\\\\" not in {g} else _unescape({g}))',
    "user": '(None if {g} == "-" else "" if {g} == \'""\' else _unescape({g}))',
    "raw": "{g}",
    "id": '(None if {g} == "-" else {g})',
    "int": '(None if {g} == "-" else int({g}))',
    "hex": '(None if {g} == "-" else int({g}, 16))',
    "bytes": '(0 if {g} == "-" else int({g}))',
    "milliseconds": '(None if {g} == "-" else int({g}) * 1000)',
    "seconds": '(None if {g} == "-" else int({g}) * 1000000)',
}
_NO_REQUEST = (None, None, None)


@dataclass(frozen=True)
class LineParser:
    """One log format, ready: ``parse(line)`` gives an ``AccessRecord`` or ``None``.

    ``None`` means a bad line: it does not match the format, or holds an impossible value
    (31 Feb, hour 25). ``extra_names`` names the ``record.extra`` entries; ``filled`` lists the
    record fields this format can fill (the others are always ``None``).
    """

    log_format: str
    regex: str
    extra_names: tuple[str, ...]
    filled: frozenset[str]
    parse: Callable[[str], AccessRecord | None]
    code: str


@dataclass
class _Plan:
    """What the format's regex groups hold, gathered while the regex is built.

    Groups are named ``g0``, ``g1`` ... in the converter. ``times`` maps a side (``begin``,
    ``end``) to its parts (``year``, ``clf`` ...) and their groups; ``slots`` maps a record
    field to the directives that can fill it, as (rank, group, kind, directive text).
    """

    pieces: list[str] = field(default_factory=list)
    groups: int = 0
    times: dict[str, dict[str, str]] = field(default_factory=dict)
    slots: dict[str, list[tuple[int, int, str, str]]] = field(default_factory=dict)

    def group(self) -> int:
        """Number a new capturing group."""
        self.groups += 1
        return self.groups - 1


def _add_time(plan: _Plan, directive: Directive, source: str) -> None:
    """The regex pieces and parts of one ``%t``/``%{...}t``."""
    if directive.conditioned:
        raise InputError(f"{directive.text}: conditions on a time are not read", file=source)
    side, param = time_side(directive.param or "")
    parts = plan.times.setdefault(side, {})
    for part, regex in time_pattern(param, source):
        plan.pieces.append(regex)
        if part is not None:
            group = f"g{plan.group()}"
            parts.setdefault(part, group)


def _plan(log_format: str, source: str) -> _Plan:
    """Walk the format: build its regex and note what each group holds."""
    plan = _Plan()
    for token in tokenize(log_format, source):
        if isinstance(token, str):
            plan.pieces.append(re.escape(token))
        elif token.letter == "t":
            _add_time(plan, token, source)
        else:
            target = field_of(token, source)
            plan.pieces.append(f"({target.regex})")
            entry = (target.rank, plan.group(), target.kind, token.text)
            plan.slots.setdefault(target.slot, []).append(entry)
    return plan


def _time_expression(parts: dict[str, str], local_offset_s: int) -> str | None:
    """Code for epoch seconds from one side's parts; ``None`` when they do not make a time.

    Whole seconds and a fraction are added as integers and divided once, so the float is
    the correctly rounded value (what ``datetime.timestamp()`` gives).
    """
    if "epoch_us" in parts:
        return f"int({parts['epoch_us']}) / 1000000"
    if "epoch_ms" in parts:
        return f"int({parts['epoch_ms']}) / 1000"
    if "epoch_s" in parts:
        seconds = f"int({parts['epoch_s']})"
    elif "clf" in parts:
        # The cache lookup inlined: most lines share their second with the line before.
        seconds = f"(_clf_cached({parts['clf']}) or _clock.clf({parts['clf']}))"
    else:
        civil = _civil_expression(parts, local_offset_s)
        if civil is None:
            return None
        seconds = f"({civil})"
    if "frac_us" in parts:
        return f"({seconds} * 1000000 + int({parts['frac_us']})) / 1000000"
    if "frac_ms" in parts:
        return f"({seconds} * 1000 + int({parts['frac_ms']})) / 1000"
    return f"float({seconds})" if "clf" not in parts else seconds


def _civil_expression(parts: dict[str, str], local_offset_s: int) -> str | None:
    """Code for a strftime time (date, hour, minute, second and zone parts), or ``None``."""
    get = parts.get
    year = f"int({get('year')})" if "year" in parts else f"_year_of({get('year2')})"
    month = f"int({get('month')})" if "month" in parts else f"_month_number({get('month_name')})"
    hour = (
        f"int({get('hour')})" if "hour" in parts else f"_hour_of({get('hour12')}, {get('am_pm')})"
    )
    zone = f"_zone_s({parts['zone']})" if "zone" in parts else repr(local_offset_s)
    needed = (
        ("year" in parts or "year2" in parts)
        and ("month" in parts or "month_name" in parts)
        and ("hour" in parts or ("hour12" in parts and "am_pm" in parts))
        and all(name in parts for name in ("day", "minute", "second"))
    )
    if not needed:
        return None
    return (
        f"_clock.day({year}, {month}, int({parts['day']})) + _seconds_of_day({hour}, "
        f"int({parts['minute']}), int({parts['second']})) - {zone}"
    )


def _choose(plan: _Plan) -> tuple[dict[str, tuple[int, str]], list[tuple[int, str]]]:
    """Per record field the best directive (group, kind); every other one goes to extra,
    as (group, directive text) in the format's order."""
    chosen: dict[str, tuple[int, str]] = {}
    extra: list[tuple[int, str]] = []
    for slot, entries in plan.slots.items():
        ordered = sorted(entries)
        if slot != "extra":
            chosen[slot] = (ordered[0][1], ordered[0][2])
            ordered = ordered[1:]
        extra.extend((group, text) for _, group, _, text in ordered)
    if "request" in chosen:
        # %r already gives method, target and protocol: %m, %U and %H are only kept as text.
        for slot in ("method", "path", "protocol"):
            if slot in chosen:
                group = chosen.pop(slot)[0]
                extra.extend((g, text) for _, g, _, text in plan.slots[slot] if g == group)
    return chosen, sorted(extra)


def _body(plan: _Plan, local_offset_s: int) -> tuple[list[str], dict[str, str], tuple[str, ...]]:
    """The converter's statements, the expression of each record field, and extra's names."""
    chosen, extra = _choose(plan)
    lines: list[str] = []
    values: dict[str, str] = {}
    for slot, (group, kind) in chosen.items():
        if kind == "request":
            # Inlined for the usual line (three words, no escapes); the rest goes to _request.
            lines += [
                f"words = g{group}.split(' ')",
                f'if len(words) == 3 and "\\\\" not in g{group}:',
                "    method, path, protocol = words",
                "else:",
                f"    method, path, protocol = _request(g{group})",
            ]
            values.update(method="method", path="path", protocol="protocol")
        else:
            values[slot] = _CONVERSIONS[kind].format(g=f"g{group}")
    begin = _time_expression(plan.times.get("begin", {}), local_offset_s)
    end = _time_expression(plan.times.get("end", {}), local_offset_s)
    timed = "duration_us" in values
    lines += [f"start = {begin}", f"end = {end}", f"duration = {values.get('duration_us')}"]
    if timed and (begin is None) != (end is None):
        derived, sign, known = ("end", "+", "start") if end is None else ("start", "-", "end")
        lines.append(f"{derived} = None if duration is None else {known} {sign} duration / 1000000")
    if begin is not None or (end is not None and timed):
        values["start_s"] = "start"
    if end is not None or (begin is not None and timed):
        values["end_s"] = "end"
    if timed:
        values["duration_us"] = "duration"
    converted = (_CONVERSIONS["str"].format(g=f"g{group}") for group, _ in extra)
    values["extra"] = "(" + "".join(f"{value}, " for value in converted) + ")"
    return lines, values, tuple(text for _, text in extra)


def _code(plan: _Plan, lines: list[str], values: dict[str, str]) -> str:
    """The source of ``parse(line)``."""
    record = ", ".join(values.get(name, "None") for name in AccessRecord._fields)
    unpack = "".join(f"g{i}, " for i in range(plan.groups))
    body = [f"({unpack}) = match.groups()"] if plan.groups else []
    body += [*lines, f"return _new(_Record, ({record}))"]
    return "\n".join(
        [
            "def parse(line):",
            "    match = _fullmatch(line)",
            "    if match is None:",
            "        return None",
            "    try:",
            *(f"        {line}" for line in body),
            "    except (ValueError, ArithmeticError):",
            "        return None",
        ]
    )


def compile_format(
    log_format: str, *, local_offset_s: int = 0, source: str = "format"
) -> LineParser:
    """Compile a ``LogFormat`` string, a nickname (``combined`` ...) or a ``LogFormat`` line.

    ``local_offset_s`` is the server's offset from UTC (seconds east) for times logged without
    a zone. ``source`` names the format in errors (the scenario file, say). A directive
    mpmsim does not know raises ``InputError``.
    """
    text = resolve_format(log_format, source)
    plan = _plan(text, source)
    regex = "".join(plan.pieces) + r"\r?\n?"
    lines, values, extra_names = _body(plan, local_offset_s)
    code = _code(plan, lines, values)
    clock = Clock()
    namespace: dict[str, Any] = {
        "_fullmatch": re.compile(regex, re.ASCII | re.DOTALL).fullmatch,
        "_new": tuple.__new__,
        "_Record": AccessRecord,
        "_unescape": unescape,
        "_request": _request,
        "_clock": clock,
        "_clf_cached": clock.cached_clf,
        "_year_of": year_of,
        "_month_number": month_number,
        "_hour_of": hour_of,
        "_zone_s": zone_s,
        "_seconds_of_day": _seconds_of_day,
    }
    exec(compile(code, f"<access-log format {text[:40]!r}>", "exec"), namespace)
    filled = frozenset(name for name in AccessRecord._fields if name != "extra" and name in values)
    return LineParser(text, regex, extra_names, filled, namespace["parse"], code)


def _request(text: str) -> tuple[str | None, str | None, str | None]:
    """Method, target and protocol of a logged request line; ``-`` logs none."""
    if text == "-":
        return _NO_REQUEST
    return split_request(unescape(text))


def _seconds_of_day(hour: int, minute: int, second: int) -> int:
    """Seconds since midnight (the regex already bounds each part)."""
    return hour * 3600 + minute * 60 + second


__all__ = ["LineParser", "compile_format"]
