"""A live status line on stderr: rewritten in place on a terminal, one line per update otherwise."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO


class StatusLine:
    """Shows progress messages (``show``) and ends the line (``done``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.shown = False

    def show(self, text: str) -> None:
        """Replace the line on a terminal; print a new line elsewhere (logs, pipes)."""
        if self.live:
            width = max(shutil.get_terminal_size().columns - 1, 20)
            self.stream.write("\r" + text[:width].ljust(width))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        """End the live line so that what follows starts on a fresh one."""
        if self.live and self.shown:
            self.stream.write("\n")
            self.stream.flush()
        self.shown = False
