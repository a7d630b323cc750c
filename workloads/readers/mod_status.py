"""Reader for mod_status ``/server-status?auto`` output, with scoreboard counts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from mpmsim.workloads.readers.tool_result import PathLike, fail, load_text, number

#: Scoreboard character -> count key (the sb_* column names of runs.csv).
SCOREBOARD_KEYS = {
    "_": "sb_waiting",
    "S": "sb_starting",
    "R": "sb_reading",
    "W": "sb_sending",
    "K": "sb_keepalive",
    "D": "sb_dns",
    "C": "sb_closing",
    "L": "sb_logging",
    "G": "sb_graceful",
    "I": "sb_idle_cleanup",
    ".": "sb_open",
}
#: ``?auto`` key -> its status_* column in runs.csv.
STATUS_COLUMNS = {
    "BusyWorkers": "status_busy",
    "IdleWorkers": "status_idle",
    "Processes": "status_processes",
    "Stopping": "status_stopping",
    "ConnsTotal": "status_conns_total",
    "ConnsAsyncWriting": "status_conns_async_writing",
    "ConnsAsyncKeepAlive": "status_conns_async_keepalive",
    "ConnsAsyncClosing": "status_conns_async_closing",
    "ConnsAsyncWaitIO": "status_conns_async_waitio",
}
_LINE = re.compile(r"^([A-Za-z][\w .-]*?):\s?(.*)$")


def _harness_line(line: str) -> dict[str, float | str]:
    """The mpmsim bench harness's first line ``{"ok": .., "code": .., "ms": .., "t": ..}``."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict) or "ok" not in data:
        return {}
    out: dict[str, float | str] = {"status_mid_ok": 1.0 if data.get("ok") else 0.0}
    names = {"code": "status_mid_code", "ms": "status_mid_fetch_ms", "t": "status_mid_t_s"}
    for key, name in names.items():
        if isinstance(data.get(key), int | float):
            out[name] = float(data[key])
    return out


def read_mod_status(path_or_text: PathLike) -> dict[str, float | str]:
    """Parse ``?auto`` output (a file path, or the text itself if it contains a newline).

    Every ``Key: value`` line (numbers as float, others as text), the host line as ``Host``,
    scoreboard counts ``sb_waiting`` ... ``sb_open`` (all eleven, zero if absent) and, for
    files saved by the bench harness, its JSON first line as ``status_mid_ok`` /
    ``status_mid_code`` / ``status_mid_fetch_ms`` / ``status_mid_t_s``.
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return parse_mod_status(path_or_text)
    source = os.fspath(path_or_text)
    return parse_mod_status(load_text(Path(source), "mod_status ?auto output"), source)


def parse_mod_status(text: str, source: str = "<mod_status text>") -> dict[str, float | str]:
    """Parse ``?auto`` text as :func:`read_mod_status` does; ``source`` names it in errors."""
    result: dict[str, float | str] = {}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("{"):
        result.update(_harness_line(lines.pop(0)))
    for line in lines:
        match = _LINE.match(line)
        if match is None:
            if re.fullmatch(r"[\w.:\-\[\]]+", line) and "Host" not in result:
                result["Host"] = line
            continue
        key, value = match.group(1).strip(), match.group(2).strip()
        parsed = number(value)
        result[key] = value if parsed is None or key == "Scoreboard" else parsed
    if "Scoreboard" not in result and "BusyWorkers" not in result:
        if result.get("status_mid_ok") == 0.0 and not lines:
            return result
        raise fail(source, "not mod_status ?auto output: no 'Scoreboard' or 'BusyWorkers' line")
    board = str(result.get("Scoreboard", ""))
    for char, key in SCOREBOARD_KEYS.items():
        result[key] = float(board.count(char))
    return result
