"""Memory held by Apache over time: every live process, thread, connection and request.

Shared pages are counted once (like the sum of PSS over all Apache processes), so the ledger
holds ``parent + shared + sum(process private + threads) + connections + requests in service``.
"""

from __future__ import annotations

from collections.abc import Callable


class MemoryLedger:
    """Running total of memory in MiB, with its peak (the time series samples it).

    ``on_exceed`` (the OOM killer, wired by whoever builds the machine) is called each time an
    allocation takes the total above ``limit_mib``.
    """

    def __init__(self, limit_mib: float) -> None:
        self.limit_mib = limit_mib
        self.current_mib = 0.0
        self.peak_mib = 0.0
        self.exceeded = False  # the total went above the limit at least once
        self.on_exceed: Callable[[], object] | None = None

    def add(self, mib: float) -> None:
        """Add (or with a negative value, release) memory now."""
        self.current_mib += mib
        if self.current_mib > self.peak_mib:
            self.peak_mib = self.current_mib
        if mib > 0 and self.current_mib > self.limit_mib:
            self.exceeded = True
            if self.on_exceed is not None:
                self.on_exceed()
