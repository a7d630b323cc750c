"""The tally of lines that did not parse (``BadLines``): a reader counts them and goes on."""

from __future__ import annotations

from dataclasses import dataclass, field

_SHOWN_CHARS = 160
"""A bad line is kept to this many characters: enough to see what is wrong with it."""


@dataclass
class BadLines:
    """How many lines were read and how many did not parse, with the first few of those.

    A reader fills one as it goes; pass your own to look at it after (or during) a read.
    ``first`` holds (line number, text) for the first ``keep`` bad lines, numbered from 1.
    """

    keep: int = 5
    lines_read: int = 0
    count: int = 0
    first: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line_no: int, text: str) -> None:
        """Count bad line ``line_no``; keep its text while fewer than ``keep`` are kept."""
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append((line_no, text.rstrip("\r\n")[:_SHOWN_CHARS]))

    @property
    def mostly_bad(self) -> bool:
        """More than half the lines read did not parse: the format is surely not the log's."""
        return self.count * 2 > self.lines_read

    def summary(self) -> str:
        """One line: how many of how many, and the first bad lines with their numbers."""
        text = f"{self.count} of {self.lines_read} lines do not match the format"
        shown = "; ".join(f"line {number}: {line!r}" for number, line in self.first)
        return f"{text} (first: {shown})" if shown else text


__all__ = ["BadLines"]
