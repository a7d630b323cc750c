"""What each replayed request asks of the server: its class, CPU, wait and response size.

The class comes from the request's path by the rule ``mpmsim trace fit`` uses (the user's
``REGEX=NAME`` rules, then static by extension vs dynamic) and names a class of the
scenario's mix. CPU and wait are drawn from that class, or, with logged service, split from
the request's own ``%D`` by a CPU share (``%D`` is wall time: CPU and waiting; the share is
an assumption, as in ``trace fit``). The response size is the logged one (``%O``, else
``%b``), drawn from the class only where the line has none. Draws happen as the log is read,
so two configurations replaying one log with one seed see the same requests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mpmsim.errors import InputError
from mpmsim.workloads.access_log.record import AccessRecord
from mpmsim.workloads.access_log.url_classes import UrlClasses
from mpmsim.workloads.client import Job
from mpmsim.workloads.distributions import make_sampler
from mpmsim.workloads.mix import ResolvedClass


def class_map(url_classes: Sequence[str], mix_classes: Sequence[str]) -> list[int]:
    """The mix class of each URL class (by name; a mix of one class takes every request)."""
    if len(mix_classes) == 1:
        return [0] * len(url_classes)
    missing = [name for name in url_classes if name not in mix_classes]
    if missing:
        raise InputError(
            f"a trace load classes requests as {', '.join(url_classes)} (load.classes, then "
            f"static by extension vs dynamic): name a mix class for each (missing: "
            f"{', '.join(missing)}), or give a mix of one class",
            field="mix",
        )
    return [list(mix_classes).index(name) for name in url_classes]


class TraceService:
    """Turns a log record into the :data:`Job` its replayed request asks of the server."""

    def __init__(
        self,
        classes: Sequence[ResolvedClass],
        url_classes: UrlClasses,
        rng: np.random.Generator,
        *,
        logged: bool = False,
        cpu_share: float = 0.2,
        bytes_out: bool = False,
    ) -> None:
        self._classify = url_classes.classify
        self._class_of = class_map(url_classes.names, [c.name for c in classes])
        self._cpu = [make_sampler(c.cpu_ms, rng) for c in classes]
        self._wait = [make_sampler(c.wait_ms, rng) for c in classes]
        self._bytes = [make_sampler(c.response_bytes, rng) for c in classes]
        self._logged = logged
        self._cpu_share = cpu_share
        self._bytes_out = bytes_out

    def job(self, record: AccessRecord) -> Job:
        """(mix class, CPU s, wait s, response bytes) of the request ``record`` logs."""
        k = self._class_of[self._classify(record.path)]
        duration_us = record.duration_us
        if self._logged and duration_us is not None:
            service_s = duration_us * 1e-6
            cpu = service_s * self._cpu_share
            wait = service_s - cpu
        else:
            cpu = max(self._cpu[k].draw(), 0.0) * 1e-3
            wait = max(self._wait[k].draw(), 0.0) * 1e-3
        size = record.bytes_out if self._bytes_out else record.body_bytes
        return k, cpu, wait, (max(self._bytes[k].draw(), 0.0) if size is None else float(size))


__all__ = ["TraceService", "class_map"]
