"""Read the directives mpmsim uses from an Apache config file (httpd.conf or mpm_*.conf).

The reader follows Apache's file syntax (``server/util.c`` ``ap_cfg_getline``, ``server/config.c``):
a backslash at the end of a line joins it with the next one, then lines whose first non-blank
character is ``#`` are comments (Apache has no end-of-line comments). Sections are handled thus:

- ``<IfModule mpm_X_module>``, ``<IfModule X.c>`` (and ``!`` negations) test the chosen MPM;
  every other module counts as loaded, so ``<IfModule mod_ssl.c>`` holds and ``<IfModule !...>``
  of it does not.
- ``<IfDefine NAME>`` holds only when negated: the server is assumed started without ``-D``.
- ``<IfVersion>``, ``<IfDirective>``, ``<IfSection>``, ``<IfFile>`` count as true.
- Directives inside any other section (``<VirtualHost>``, ``<Directory>``, ``<If>`` ...) belong to
  that scope, not to the main server, and are skipped.

``Include`` / ``IncludeOptional`` are **not** followed: give the file that holds the MPM settings
(for Debian, ``mods-available/mpm_event.conf``) or a self-contained httpd.conf. Later directives
override earlier ones, as in Apache; old names (MaxClients, MaxRequestsPerChild) are returned under
their new names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from mpmsim.errors import InputError
from mpmsim.models.apache.directives import canonical_name

_MPMS: Final = ("prefork", "worker", "event")
_LOADMODULE_RE: Final = re.compile(r"loadmodule\s+mpm_(prefork|worker|event)_module\b", re.I)
_OPEN_RE: Final = re.compile(r"<\s*([A-Za-z]+)\b([^>]*)>\s*$")
_CLOSE_RE: Final = re.compile(r"<\s*/\s*([A-Za-z]+)\s*>\s*$")
_ALWAYS_TRUE: Final = frozenset({"ifversion", "ifdirective", "ifsection", "iffile"})


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line: continuations joined, comments dropped."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        # Apache joins continuation lines first and only then sees a leading '#' as a comment.
        logical = " ".join(part.strip() for part in pending).strip()
        pending = []
        if logical and not logical.startswith("#"):
            out.append((start, logical))
    if pending:
        logical = " ".join(part.strip() for part in pending).strip()
        if logical and not logical.startswith("#"):
            out.append((start, logical))
    return out


def _module_mpm(name: str) -> str | None:
    """The MPM an IfModule argument names (mpm_event_module, event.c, mpm_event.c), else None."""
    lowered = name.lower()
    for mpm in _MPMS:
        if lowered in (f"mpm_{mpm}_module", f"{mpm}.c", f"mpm_{mpm}.c", f"mod_mpm_{mpm}.c"):
            return mpm
    return None


def _condition(kind: str, arg: str, mpm: str | None, *, mpm_known: bool) -> bool | None:
    """Whether a section's body applies to the main server: True/False, None = another scope.

    With ``mpm_known`` False (while looking for the LoadModule line) MPM tests count as true.
    """
    kind = kind.lower()
    arg = arg.strip().strip("\"'")
    negated = arg.startswith("!")
    name = arg[1:].strip() if negated else arg
    if kind == "ifmodule":
        named = _module_mpm(name)
        if named is None:
            return not negated  # any other module counts as loaded
        return (named == mpm) != negated if mpm_known else True
    if kind == "ifdefine":
        return negated  # no -D parameters: every define is unset
    if kind in _ALWAYS_TRUE:
        return True
    return None


def _main_server_lines(
    lines: list[tuple[int, str]], source: str, mpm: str | None, *, mpm_known: bool
) -> list[tuple[int, str]]:
    """The directive lines that apply to the main server; checks that sections nest properly."""
    out: list[tuple[int, str]] = []
    # Each open section: (its name, whether its body applies to the main server).
    stack: list[tuple[str, bool]] = []
    for number, line in lines:
        if m := _CLOSE_RE.match(line):
            if not stack or stack[-1][0] != m.group(1).lower():
                expected = f"</{stack[-1][0]}>" if stack else "no closing tag"
                raise InputError(
                    f"unexpected </{m.group(1)}>; expected {expected}",
                    file=source,
                    field=f"line {number}",
                )
            stack.pop()
        elif m := _OPEN_RE.match(line):
            applies = _condition(m.group(1), m.group(2), mpm, mpm_known=mpm_known)
            enclosing = not stack or stack[-1][1]
            stack.append((m.group(1).lower(), enclosing and applies is True))
        elif not stack or stack[-1][1]:
            out.append((number, line))
    if stack:
        raise InputError(f"<{stack[-1][0]}> is not closed before the end of the file", file=source)
    return out


def _split_args(rest: str) -> list[str]:
    """A directive's arguments, honouring double and single quotes as Apache's ap_getword_conf."""
    return [a or b or c for a, b, c in re.findall(r'"([^"]*)"|\'([^\']*)\'|(\S+)', rest)]


def read_apache_config(path: Path, mpm: str | None) -> tuple[str | None, dict[str, str]]:
    """Return (MPM loaded by the file or None, raw values of the directives mpmsim knows).

    ``mpm`` decides ``<IfModule>`` sections on MPMs; when None, the MPM the file loads is used,
    and when the file loads none either, every MPM section is read.
    Keys are Apache's canonical names; values are the strings as written (checked later by
    :func:`mpmsim.models.apache.directives.normalize_directives`).
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(
            f"cannot read the Apache config file: {exc.strerror or exc}", file=source
        ) from None
    lines = _logical_lines(text)
    detected = _detect_mpm(_main_server_lines(lines, source, None, mpm_known=False), source)
    chosen = mpm if mpm is not None else detected
    values: dict[str, str] = {}
    # With no MPM at all (e.g. Debian's mods-available/mpm_event.conf alone), MPM tests count as
    # true so that file's <IfModule mpm_event_module> block is still read.
    known = chosen is not None
    for number, line in _main_server_lines(lines, source, chosen, mpm_known=known):
        word, *rest = line.split(None, 1)
        name = canonical_name(word)
        if name is None:
            continue  # a directive mpmsim does not model: the file is a whole httpd.conf
        args = _split_args(rest[0] if rest else "")
        if len(args) != 1:
            raise InputError(
                f"{word} takes one argument, got {len(args)}: {line!r}",
                file=source,
                field=f"line {number}",
            )
        values[name] = args[0]
    return detected, values


def _detect_mpm(lines: list[tuple[int, str]], source: str) -> str | None:
    """The MPM of the ``LoadModule mpm_*_module`` lines; an error if they load different MPMs."""
    found: dict[str, int] = {}
    for number, line in lines:
        if m := _LOADMODULE_RE.match(line):
            found.setdefault(m.group(1).lower(), number)
    if len(found) > 1:
        where = ", ".join(f"{name} (line {n})" for name, n in found.items())
        raise InputError(
            f"the file loads more than one MPM: {where}; Apache runs exactly one", file=source
        )
    return next(iter(found), None)


__all__ = ["read_apache_config"]
