"""The live status line: in place on a terminal, one line per update in logs."""

from __future__ import annotations

import io

from mpmsim.cli.status import StatusLine


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_in_a_log() -> None:
    out = io.StringIO()
    status = StatusLine(out)
    status.show("a")
    status.show("b")
    status.done()
    assert out.getvalue() == "a\nb\n"


def test_rewritten_in_place_on_a_terminal() -> None:
    out = _Tty()
    status = StatusLine(out)
    status.show("first")
    status.show("second")
    status.done()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert text.rstrip().endswith("second")


def test_done_without_updates_writes_nothing() -> None:
    out = _Tty()
    StatusLine(out).done()
    assert out.getvalue() == ""
