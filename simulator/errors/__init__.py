"""Errors a user can cause, reported as one line and exit code 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: a file, a field in it and what is allowed there.

    The CLI prints ``str(error)`` as a single line on stderr and exits with code 2.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        self.detail = message
        # an option is its own source: "--hardware: ...", not "--hardware: --hardware: ..."
        where = ": ".join(dict.fromkeys(part for part in (file, field) if part))
        super().__init__(f"{where}: {message}" if where else message)


__all__ = ["InputError"]
