"""The directives of Apache's ``LogFormat`` (mod_log_config, mod_logio, mod_ssl): what each
one logs, how its text looks, and which ``AccessRecord`` field it fills."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mpmsim.errors import InputError

#: Text between quotes in the format: Apache escapes ``"`` and ``\`` there, so the field
#: runs to the first unescaped quote (written unrolled: no backtracking blow-up on bad lines).
QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'
#: A field outside quotes: one word (Apache escapes control characters, not spaces, so a
#: value with a space there makes a bad line; every standard format quotes such fields).
WORD = r"\S*"
INTEGER = r"-?[0-9]+|-"

_TOKEN = re.compile(
    r"%(?P<mods1>[0-9,!<>]*)(?:\{(?P<param>[^}]*)\})?(?P<mods2>[0-9,!<>]*)"
    r"(?P<letter>\^[a-zA-Z]{2}|[a-zA-Z%])|(?P<literal>[^%]+)|(?P<lone>%)"
)


@dataclass(frozen=True)
class Directive:
    """One ``%...`` of a format: its letter, ``{param}``, modifiers and whether it is quoted."""

    letter: str
    param: str | None
    modifiers: str
    text: str
    quoted: bool

    @property
    def conditioned(self) -> bool:
        """Logged only for some statuses (``%400,501{X}i``): the text may be ``-``."""
        return any(c.isdigit() for c in self.modifiers)


@dataclass(frozen=True)
class Field:
    """Where a directive's text goes: a record field (or ``extra``), how it converts, and its
    rank among directives filling the same field (lower wins)."""

    slot: str
    kind: str
    regex: str
    rank: int = 1


_ID = r"[-@/+A-Za-z0-9]+"
_PLAIN: dict[str, Field] = {
    "h": Field("client", "str", WORD, 2),
    "a": Field("client", "str", WORD, 1),
    "v": Field("server", "str", WORD, 1),
    "V": Field("server", "str", WORD, 2),
    "p": Field("server_port", "int", INTEGER, 1),
    "P": Field("pid", "int", INTEGER),
    "L": Field("request_id", "id", _ID),
    "k": Field("keepalive_requests", "int", INTEGER),
    "X": Field("connection_status", "raw", r"[-+X]"),
    "r": Field("request", "request", WORD),
    "m": Field("method", "str", WORD, 2),
    "U": Field("path", "str", WORD, 2),
    "H": Field("protocol", "str", WORD, 2),
    "s": Field("status", "int", r"[0-9]{3}|-", 2),
    "b": Field("body_bytes", "bytes", INTEGER),
    "B": Field("body_bytes", "int", INTEGER),
    "I": Field("bytes_in", "int", INTEGER),
    "O": Field("bytes_out", "int", INTEGER),
    "u": Field("user", "user", WORD),
    "D": Field("duration_us", "int", INTEGER, 1),
    "T": Field("duration_us", "seconds", INTEGER, 3),
    "S": Field("extra", "int", INTEGER),
    "^FB": Field("extra", "int", INTEGER),
    "A": Field("extra", "str", WORD),
    "l": Field("extra", "str", WORD),
    "f": Field("extra", "str", WORD),
    "R": Field("extra", "str", WORD),
    "q": Field("extra", "str", WORD),
}
_PARAMETERIZED: dict[str, dict[str, Field]] = {
    "a": {"c": Field("extra", "str", WORD)},
    "h": {"c": Field("extra", "str", WORD)},
    "p": {
        "canonical": Field("server_port", "int", INTEGER, 1),
        "local": Field("server_port", "int", INTEGER, 2),
        "remote": Field("client_port", "int", INTEGER),
    },
    "P": {
        "pid": Field("pid", "int", INTEGER),
        "tid": Field("tid", "int", INTEGER, 1),
        "hextid": Field("tid", "hex", r"[0-9A-Fa-f]+|-", 2),
    },
    "T": {
        "us": Field("duration_us", "int", INTEGER, 1),
        "ms": Field("duration_us", "milliseconds", INTEGER, 2),
        "s": Field("duration_us", "seconds", INTEGER, 3),
    },
    "L": {"c": Field("connection_id", "id", _ID)},
}
#: Directives whose parameter is free (a header, a variable ...); ``%{...}i`` may fill a field.
_FREE_PARAMETER = frozenset({"C", "e", "i", "n", "o", "x", "c", "^ti", "^to"})
_HEADERS = {"referer": "referer", "user-agent": "user_agent"}


def tokenize(log_format: str, source: str) -> list[Directive | str]:
    """The format as literal strings and directives, in order; ``%%`` becomes a literal."""
    tokens: list[Directive | str] = []
    for match in _TOKEN.finditer(log_format):
        if match.group("literal") is not None:
            tokens.append(match.group("literal"))
            continue
        if match.group("lone") is not None:
            raise InputError(
                f"a lone % at character {match.start()}: write %% for a %", file=source
            )
        if match.group("letter") == "%":
            tokens.append("%")
            continue
        before = log_format[match.start() - 1 : match.start()]
        after = log_format[match.end() : match.end() + 1]
        tokens.append(
            Directive(
                letter=match.group("letter"),
                param=match.group("param"),
                modifiers=match.group("mods1") + match.group("mods2"),
                text=match.group(0),
                quoted=before == '"' and after == '"',
            )
        )
    return tokens


def field_of(directive: Directive, source: str) -> Field:
    """What ``directive`` logs and where it goes (``%t`` is the timestamps' business)."""
    letter, param = directive.letter, directive.param
    if param is None and letter in _PLAIN:
        found: Field | None = _PLAIN[letter]
    elif param is not None and letter in _PARAMETERIZED:
        found = _PARAMETERIZED[letter].get(param.lower())
    elif param is not None and letter in _FREE_PARAMETER:
        found = Field(
            _HEADERS.get(param.lower(), "extra") if letter == "i" else "extra", "str", WORD
        )
    else:
        found = None
    if found is None:
        raise InputError(
            f"{directive.text} is not a LogFormat directive mpmsim reads; see mod_log_config",
            file=source,
        )
    if letter == "s" and ">" in directive.modifiers:
        return Field("status", "int", found.regex, 1)
    if found.kind in ("str", "user", "request") and directive.quoted:
        return Field(found.slot, found.kind, QUOTED, found.rank)
    if found.kind == "request":
        # An unquoted request line still has spaces: match lazily up to what follows.
        return Field(found.slot, found.kind, r".*?", found.rank)
    return found


__all__ = ["INTEGER", "QUOTED", "WORD", "Directive", "Field", "field_of", "tokenize"]
