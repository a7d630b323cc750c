"""Memory held by Apache over time: every live process, thread, connection and request.

Shared pages are counted once (like the sum of PSS over all Apache processes), so the ledger
holds ``parent + shared + sum(process private + threads) + connections + requests in service``.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy


class MemoryLedger:
    """Running total of memory in MiB, with its peak (the time series samples it)."""

    def __init__(
        self, env: simpy.Environment, limit_mib: float, on_exceed: Callable[[], None] | None = None
    ) -> None:
        self.env = env
        self.limit_mib = limit_mib
        self.current_mib = 0.0
        self.peak_mib = 0.0
        self.exceeded = False
        self.exceed_count = 0
        self.first_exceed_s: float | None = None
        self._on_exceed = on_exceed

    def add(self, mib: float) -> None:
        """Add (or with a negative value, release) memory now."""
        self.current_mib += mib
        if self.current_mib > self.peak_mib:
            self.peak_mib = self.current_mib
        if mib > 0 and self.current_mib > self.limit_mib:
            if not self.exceeded:
                self.exceeded = True
                self.first_exceed_s = float(self.env.now)
            self.exceed_count += 1
            if self._on_exceed is not None:
                self._on_exceed()
