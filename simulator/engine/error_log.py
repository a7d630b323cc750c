"""The simulated Apache error log: each code's first line, with how often it was repeated."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LogLine:
    """A line of the simulated error log, with how often it was repeated."""

    t_s: float
    code: str
    message: str
    count: int = 1


class ErrorLog:
    """Lines by code; a code logged ``once`` is written only once in the server's lifetime."""

    def __init__(self) -> None:
        self.lines: dict[str, LogLine] = {}
        self._logged_once: set[str] = set()

    def write(self, t_s: float, code: str, message: str, *, once: bool = False) -> None:
        """Log ``code`` at ``t_s`` (a repeat only counts)."""
        if once:
            if code in self._logged_once:
                return
            self._logged_once.add(code)
        line = self.lines.get(code)
        if line is None:
            self.lines[code] = LogLine(t_s, code, message)
        else:
            line.count += 1

    def in_order(self) -> list[LogLine]:
        """The lines in the order their codes first appeared in time."""
        return sorted(self.lines.values(), key=lambda line: line.t_s)
