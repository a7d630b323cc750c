"""Memory held by Apache over time: every live process, thread, connection and request.

Shared pages are counted once (like the sum of PSS over all Apache processes), so the ledger
holds ``parent + shared + sum(process private + threads) + connections + requests in service``,
and the kernel's socket memory of the open connections, which is RAM but in no process's PSS:
its peak without that (``apache_peak_mib``) is what a PSS reading measures.
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
        self.kernel_mib = 0.0  # of current_mib: the kernel's (socket buffers), in no PSS
        self.apache_peak_mib = 0.0  # peak of current_mib less kernel_mib: comparable to PSS
        self.exceeded = False  # the total went above the limit at least once
        self.on_exceed: Callable[[], object] | None = None

    def add(self, mib: float) -> None:
        """Add (or with a negative value, release) memory now."""
        current = self.current_mib = self.current_mib + mib
        if current > self.peak_mib:
            self.peak_mib = current
        if current - self.kernel_mib > self.apache_peak_mib:
            self.apache_peak_mib = current - self.kernel_mib
        if mib > 0 and self.current_mib > self.limit_mib:
            self.exceeded = True
            if self.on_exceed is not None:
                self.on_exceed()

    def add_kernel(self, mib: float) -> None:
        """Add (or release) kernel memory now: RAM, counted in the total but not in Apache's."""
        self.kernel_mib += mib
        self.add(mib)
