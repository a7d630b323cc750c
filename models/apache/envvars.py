"""Read Debian's ``envvars``: the variables ``apache2.conf`` uses (``${APACHE_LOG_DIR}``).

``apache2ctl`` sources this shell script before starting Apache. It is read here without running
a shell: only top-level assignments (``NAME=VALUE`` or ``export NAME=VALUE``) count; ``$NAME`` and
``${NAME}`` in a value expand to earlier assignments and to nothing when unset, as in the shell.
Lines inside ``if``/``case``/loops are skipped (Debian's only one sets ``SUFFIX`` for a second
instance such as ``/etc/apache2-two``, which is empty for ``/etc/apache2``), and so is a value
with anything a shell would run (``$(...)``, backquotes) or a ``${NAME##...}`` operator.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Final

_ASSIGN_RE: Final = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_VAR_RE: Final = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_OPENERS: Final = frozenset({"if", "case", "for", "while", "until"})
_CLOSERS: Final = frozenset({"fi", "esac", "done"})


def parse_envvars(text: str) -> dict[str, str]:
    """The variables a shell would have after sourcing ``text`` (top-level assignments only)."""
    found: dict[str, str] = {}
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split(None, 1)[0].rstrip(";")
        if first in _OPENERS:
            depth += 1
            continue
        if first in _CLOSERS:
            depth = max(0, depth - 1)
            continue
        m = _ASSIGN_RE.match(line)
        if depth or m is None:
            continue
        value = _shell_value(m.group(2), found)
        if value is not None:
            found[m.group(1)] = value
    return found


def _shell_value(raw: str, known: dict[str, str]) -> str | None:
    """The value of one assignment's right-hand side, or None if only a shell could tell."""
    if "`" in raw or "$(" in raw or re.search(r"\$\{[^}]*[^A-Za-z0-9_}][^}]*\}", raw):
        return None
    try:
        words = shlex.split(raw, comments=True)
    except ValueError:
        return None
    if len(words) > 1:
        return None  # NAME=value command: an assignment for one command only
    text = words[0] if words else ""
    # Single quotes stop expansion in the shell; shlex drops them, so look at the raw text.
    if raw.lstrip().startswith("'"):
        return text
    return _VAR_RE.sub(lambda m: known.get(m.group(1) or m.group(2), ""), text)


def read_envvars(path: Path) -> dict[str, str]:
    """The variables of an envvars file; empty when it does not exist or cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return parse_envvars(text)


__all__ = ["parse_envvars", "read_envvars"]
