"""Known log formats by nickname, the format mpmsim recommends for planning, and reading a
format as users copy it (a bare string, or a whole ``LogFormat`` line from the config)."""

from __future__ import annotations

from mpmsim.errors import InputError

COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'

PLANNING_FORMAT = COMBINED + " %{usec}t %D %k %X %{remote}p %P %{tid}P"
"""The format to enable before collecting a log for capacity planning (nickname ``mpmsim``).

It is ``combined`` (so every other log tool still reads the line's start) plus:
``%{usec}t`` the start in microseconds since the epoch (``%t`` has whole seconds, too coarse
for inter-arrival times, and an epoch needs no zone); ``%D`` the time the request held its
worker, microseconds, slow clients included (logged by every 2.x, unlike ``%{us}T`` from
2.4.13; same value); ``%k`` and ``%X``: where the request sits in its keep-alive connection
and whether the connection stayed open after it; ``%{remote}p``, the client's port, which
with the client address names the TCP connection, so connections are rebuilt instead of
guessed from address and gaps; ``%P`` and ``%{tid}P``, the process and thread that served it.
Not ``%{c}L``: Apache makes a connection's log id only when it writes to the error log, so
it is ``-`` on almost every line.
Enable it with :data:`PLANNING_CONFIG` in the server's config (``CustomLog ... mpmsim``).
"""

PLANNING_CONFIG = (
    'LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" \\\n'
    '%{usec}t %D %k %X %{remote}p %P %{tid}P" mpmsim\n'
)
"""The ``LogFormat`` line that defines :data:`PLANNING_FORMAT` as ``mpmsim``, to paste into
the server's config (the reader also takes it as it is)."""

NICKNAMES: dict[str, str] = {
    "common": '%h %l %u %t "%r" %>s %b',
    "combined": COMBINED,
    "combinedio": COMBINED + " %I %O",
    "mpmsim": PLANNING_FORMAT,
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "vhost_common": '%v %h %l %u %t "%r" %>s %b',
}
"""Apache's own nicknames (``combinedio`` from httpd.conf, ``vhost_combined`` from Debian's),
and ``mpmsim`` for :data:`PLANNING_FORMAT`."""


def _quoted_argument(line: str, source: str) -> str:
    """The first double-quoted argument of a config line, with ``\\"`` unescaped."""
    start = line.find('"')
    out: list[str] = []
    i = start + 1
    while 0 < i < len(line):
        char = line[i]
        if char == "\\" and line[i + 1 : i + 2] in ('"', "\\"):
            out.append(line[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out)
        out.append(char)
        i += 1
    raise InputError(
        'a LogFormat line needs its format in double quotes: LogFormat "..." name', file=source
    )


def _joined(text: str) -> str:
    """Lines joined as Apache reads its config: a line ending in a backslash goes on."""
    out = ""
    for line in text.splitlines():
        line = line.strip()
        out += line[:-1] if line.endswith("\\") else line
    return out


def resolve_format(spec: str, source: str = "format") -> str:
    """The ``LogFormat`` string meant by ``spec``: a nickname, a format, or a config line.

    A config line (``LogFormat "..." nickname``, continued over lines with ``\\``) has its
    quoted argument taken and ``\\"`` read as ``"``; so has a bare format copied from one.
    """
    text = spec.strip()
    if text.lower() in NICKNAMES:
        return NICKNAMES[text.lower()]
    text = _joined(text)
    if text[:10].lower() == "logformat ":
        return _quoted_argument(text, source)
    if "%" not in text:
        names = ", ".join(sorted(NICKNAMES))
        raise InputError(
            f"{spec!r} is neither a known format ({names}) nor a LogFormat string", file=source
        )
    return text.replace('\\"', '"')


__all__ = ["COMBINED", "NICKNAMES", "PLANNING_CONFIG", "PLANNING_FORMAT", "resolve_format"]
