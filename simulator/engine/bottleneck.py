"""Which resource limits throughput, and why, from a run's summary figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bottleneck:
    """The limiting resource and a sentence why.

    ``resource`` is one of ``ram``, ``workers``, ``cpu``, ``connections`` (event's per-child
    connection limit), ``accept_queue`` or ``none`` (the load, not the server, sets throughput).
    """

    resource: str
    why: str
    utilization: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"resource": self.resource, "why": self.why, "utilization": self.utilization}


def find_bottleneck(
    rec: dict[str, Any], *, mpm: str, max_request_workers: int, backlog_limit: int, vcpus: int
) -> Bottleneck:
    """Name the saturated resource of an aggregated run record.

    ``backlog_limit`` is how many connections the accept queue holds (one more than
    min(ListenBacklog, somaxconn)).
    """
    cpu = float(rec["cpu_utilization"])
    workers = float(rec["workers_busy_mean"]) / max_request_workers
    queue_mean = float(rec["accept_queue_mean"])
    util = {
        "cpu": round(cpu, 4),
        "workers": round(workers, 4),
        "accept_queue": round(queue_mean / backlog_limit, 4),
    }
    refused = rec["refused"] + rec["syn_drops"]
    overflow = f"; the accept queue overflowed ({rec['syn_drops']} SYNs dropped)" if refused else ""
    if rec["ram_exceeded"]:
        return Bottleneck("ram", _ram_why(rec), util)
    if (float(rec["workers_at_cap_fraction"]) >= 0.5 or workers >= 0.9) and cpu < 0.9:
        return Bottleneck("workers", _workers_why(rec, max_request_workers, overflow), util)
    if cpu >= 0.9:
        return Bottleneck("cpu", _cpu_why(rec, vcpus), util)
    if queue_mean >= 1.0 and mpm == "event":
        return Bottleneck("connections", _connections_why(rec, overflow), util)
    if refused:
        return Bottleneck(
            "accept_queue",
            f"bursts overflowed the accept queue ({backlog_limit - 1} = min(ListenBacklog, "
            f"somaxconn)): {rec['syn_drops']} SYNs dropped, {rec['refused']} connections failed",
            util,
        )
    return Bottleneck(
        "none",
        f"no server resource is saturated (CPU {100 * cpu:.0f} %, workers "
        f"{100 * workers:.0f} %): the load, not the server, sets the throughput",
        util,
    )


def _ram_why(rec: dict[str, Any]) -> str:
    """Why memory is the limit: the OOM killer ended children."""
    return (
        f"Apache's memory reached {rec['memory_peak_mib']:.0f} MiB, above the "
        f"{rec['memory_limit_mib']:.0f} MiB available: the OOM killer ended "
        f"{rec['oom_kills']} child(ren) and their connections"
    )


def _workers_why(rec: dict[str, Any], max_request_workers: int, overflow: str) -> str:
    """Why the workers are the limit: all busy while the CPU was not, idle keep-alive or not."""
    busy = float(rec["workers_busy_mean"])
    workers = busy / max_request_workers
    at_cap = float(rec["workers_at_cap_fraction"])
    cpu = float(rec["cpu_utilization"])
    held = float(rec.get("keepalive_held_mean", 0.0))
    ka = (
        f", {100 * held / busy:.0f} % of them pinned by idle keep-alive connections"
        if busy > 0 and held / busy >= 0.05
        else ""
    )
    return (
        f"the {max_request_workers} workers (MaxRequestWorkers) were {100 * workers:.0f} % "
        f"busy (all of them {100 * at_cap:.0f} % of the time){ka}, while the CPU was "
        f"{100 * cpu:.0f} % used: "
        f"new connections wait in the accept queue{overflow}"
    )


def _cpu_why(rec: dict[str, Any], vcpus: int) -> str:
    """Why the CPU is the limit, and whether burst credits ran out."""
    cpu = float(rec["cpu_utilization"])
    throttled = float(rec.get("throttled_fraction", 0.0))
    extra = (
        f"; burst credits ran out and the CPU was held at its baseline "
        f"{100 * throttled:.0f} % of the time"
        if throttled > 0.05
        else ""
    )
    return f"the {vcpus} vCPU(s) were {100 * cpu:.0f} % busy{extra}"


def _connections_why(rec: dict[str, Any], overflow: str) -> str:
    """Why event's per-child connection limit is the limit although workers and CPU were free."""
    return (
        f"event's children stopped accepting although workers and CPU were free: each "
        f"takes at most ThreadsPerChild + AsyncRequestWorkerFactor x idle workers "
        f"connections, idle keep-alive ones included ({rec.get('keepalive_async_mean', 0):.0f}"
        f" on average), so {float(rec['accept_queue_mean']):.0f} connections waited in the "
        f"accept queue on average{overflow}"
    )
