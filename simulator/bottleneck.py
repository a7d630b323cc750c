"""Which resource limits throughput, and why, from a run's summary figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bottleneck:
    """The limiting resource (cpu, workers, accept_queue, ram or none) and a sentence why."""

    resource: str
    why: str
    utilization: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"resource": self.resource, "why": self.why, "utilization": self.utilization}


def find_bottleneck(
    rec: dict[str, Any], *, max_request_workers: int, backlog_limit: int, vcpus: int
) -> Bottleneck:
    """Name the saturated resource of an aggregated run record."""
    cpu = float(rec["cpu_utilization"])
    workers = float(rec["workers_busy_mean"]) / max_request_workers
    at_cap = float(rec["workers_at_cap_fraction"])
    queue = float(rec["accept_queue_mean"]) / backlog_limit
    util = {"cpu": round(cpu, 4), "workers": round(workers, 4), "accept_queue": round(queue, 4)}
    if rec["ram_exceeded"]:
        return Bottleneck(
            "ram",
            f"Apache's memory reached {rec['memory_peak_mib']:.0f} MiB, above the "
            f"{rec['memory_limit_mib']:.0f} MiB available: the OOM killer ended "
            f"{rec['oom_kills']} child(ren) and their connections",
            util,
        )
    refused = rec["refused"] + rec["syn_drops"]
    if refused and queue > 0.5:
        return Bottleneck(
            "accept_queue",
            f"the accept queue ({backlog_limit - 1} = min(ListenBacklog, somaxconn)) was full: "
            f"{rec['syn_drops']} SYNs dropped, {rec['refused']} connections failed",
            util,
        )
    if at_cap >= 0.5 and cpu < 0.9:
        return Bottleneck(
            "workers",
            f"all {max_request_workers} workers (MaxRequestWorkers) were busy "
            f"{100 * at_cap:.0f} % of the time while the CPU was {100 * cpu:.0f} % used: "
            f"new connections wait in the accept queue",
            util,
        )
    if cpu >= 0.9:
        throttled = float(rec.get("throttled_fraction", 0.0))
        extra = (
            f"; burst credits ran out and the CPU was held at its baseline "
            f"{100 * throttled:.0f} % of the time"
            if throttled > 0.05
            else ""
        )
        return Bottleneck(
            "cpu",
            f"the {vcpus} vCPU(s) were {100 * cpu:.0f} % busy{extra}",
            util,
        )
    return Bottleneck(
        "none",
        f"no server resource is saturated (CPU {100 * cpu:.0f} %, workers "
        f"{100 * workers:.0f} %): the load, not the server, sets the throughput",
        util,
    )
