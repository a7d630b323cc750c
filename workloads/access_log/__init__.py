"""Apache access logs: formats, a fast streaming reader and the tally of bad lines.

``read_access_log(path, "combined")`` streams :class:`AccessRecord`s (plain or gzip, constant
memory); :func:`compile_format` turns any ``LogFormat`` (or nickname, see :data:`NICKNAMES`)
into one regex and one converter; :data:`PLANNING_FORMAT` is the format to enable before
collecting a log for capacity planning. Modules: ``record``, ``formats``, ``directives``,
``timestamps``, ``fields``, ``parser``, ``bad_lines``, ``reader``; ``connections`` rebuilds
keep-alive connections from the records (``unique_id`` decodes mod_unique_id's ``UNIQUE_ID``);
``url_classes`` names a request's class from its path (static by extension, dynamic, or rules).

May import: the errors only (it is part of the workloads).
"""

from __future__ import annotations

from mpmsim.workloads.access_log.bad_lines import BadLines
from mpmsim.workloads.access_log.formats import NICKNAMES, PLANNING_FORMAT, resolve_format
from mpmsim.workloads.access_log.parser import LineParser, compile_format
from mpmsim.workloads.access_log.reader import not_a_file, open_log, parse_lines, read_access_log
from mpmsim.workloads.access_log.record import AccessRecord

__all__ = [
    "NICKNAMES",
    "PLANNING_FORMAT",
    "AccessRecord",
    "BadLines",
    "LineParser",
    "compile_format",
    "not_a_file",
    "open_log",
    "parse_lines",
    "read_access_log",
    "resolve_format",
]
