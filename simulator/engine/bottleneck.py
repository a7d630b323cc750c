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
    rec: dict[str, Any],
    *,
    mpm: str,
    max_request_workers: int,
    backlog_limit: int,
    vcpus: int,
    baseline_fraction: float | None = None,
) -> Bottleneck:
    """Name the saturated resource of an aggregated run record.

    ``backlog_limit`` is how many connections the accept queue holds (one more than
    min(ListenBacklog, somaxconn)). ``baseline_fraction`` is a burstable CPU's baseline in
    standard mode: while its credits are exhausted only that share of the vCPUs runs, so the
    CPU is judged by its use of what was available (a CPU held at a 20 % baseline and busy
    20 % of its vCPUs is saturated, not idle).
    """
    cpu = float(rec["cpu_utilization"])
    throttled = float(rec.get("throttled_fraction", 0.0)) if baseline_fraction else 0.0
    base = baseline_fraction or 1.0
    # Share of the vCPUs' time that could run: full speed unthrottled, the baseline throttled.
    available = 1.0 - throttled * (1.0 - base)
    cpu_used = cpu / available
    workers = float(rec["workers_busy_mean"]) / max_request_workers
    queue_mean = float(rec["accept_queue_mean"])
    util = {
        "cpu": round(cpu, 4),
        "workers": round(workers, 4),
        "accept_queue": round(queue_mean / backlog_limit, 4),
    }
    if throttled > 0.0:
        util["cpu_of_available"] = round(cpu_used, 4)
    held = _held_at_baseline(throttled, base)
    refused = rec["refused"] + rec["syn_drops"]
    overflow = f"; the accept queue overflowed ({rec['syn_drops']} SYNs dropped)" if refused else ""
    if rec["ram_exceeded"]:
        return Bottleneck("ram", _ram_why(rec) + (f"; {held}" if held else ""), util)
    # The workers alive all busy with connections waiting: the limit even below
    # MaxRequestWorkers while the parent has not started the rest (1, 2, 4 ... 32 a second).
    starved = float(rec.get("workers_none_idle_fraction", 0.0)) >= 0.5 and queue_mean >= 1.0
    at_cap = float(rec["workers_at_cap_fraction"]) >= 0.5 or workers >= 0.9
    if (at_cap or starved) and cpu_used < 0.9:
        why = _workers_why(rec, max_request_workers, overflow, (cpu_used, held) if held else None)
        return Bottleneck("workers", why, util)
    if cpu_used >= 0.9:
        return Bottleneck("cpu", _cpu_why(rec, vcpus, held, cpu_used), util)
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


def _held_at_baseline(throttled: float, base: float) -> str:
    """``held at its 20 % baseline (...) for 63 % of the run``, or "" when barely throttled."""
    if throttled <= 0.05:
        return ""
    return (
        f"the CPU was held at its {100 * base:.0f} % baseline (CPU credits exhausted) for "
        f"{100 * throttled:.0f} % of the run"
    )


def _workers_why(
    rec: dict[str, Any],
    max_request_workers: int,
    overflow: str,
    throttled: tuple[float, str] | None = None,
) -> str:
    """Why the workers are the limit: all busy while the CPU was not, idle keep-alive or not.

    ``throttled`` (when the CPU was held at its baseline) is the CPU's use of the capacity it
    had, and the sentence saying how long it was held.
    """
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
    of_base = ""
    if throttled is not None:
        of_base = f" ({100 * throttled[0]:.0f} % of what it could run; {throttled[1]})"
    none_idle = float(rec.get("workers_none_idle_fraction", 0.0))
    if at_cap < 0.5 and workers < 0.9:  # all the workers alive were busy, not all that may be
        return (
            f"every worker Apache had started was busy {100 * none_idle:.0f} % of the time "
            f"({busy:.0f} on average, {100 * workers:.0f} % of MaxRequestWorkers "
            f"{max_request_workers}: the parent starts at most 1, 2, 4 ... 32 children a "
            f"second, within the spare settings){ka}, while the CPU was {100 * cpu:.0f} % "
            f"used{of_base}: new connections wait in the accept queue "
            f"({rec['accept_queue_mean']:.0f} on average){overflow}"
        )
    return (
        f"the {max_request_workers} workers (MaxRequestWorkers) were {100 * workers:.0f} % "
        f"busy (all of them {100 * at_cap:.0f} % of the time){ka}, while the CPU was "
        f"{100 * cpu:.0f} % used{of_base}: "
        f"new connections wait in the accept queue{overflow}"
    )


def _cpu_why(rec: dict[str, Any], vcpus: int, held: str, cpu_used: float) -> str:
    """Why the CPU is the limit: busy, or held at its burst baseline with credits exhausted."""
    cpu = float(rec["cpu_utilization"])
    if held:
        return (
            f"{held}: the {vcpus} vCPU(s) were {100 * cpu:.0f} % busy, "
            f"{100 * cpu_used:.0f} % of what the baseline (and full speed while credits "
            "lasted) allowed"
        )
    return f"the {vcpus} vCPU(s) were {100 * cpu:.0f} % busy"


def _connections_why(rec: dict[str, Any], overflow: str) -> str:
    """Why event's per-child connection limit is the limit although workers and CPU were free."""
    return (
        f"event's children stopped accepting although workers and CPU were free: each "
        f"takes at most ThreadsPerChild + AsyncRequestWorkerFactor x idle workers "
        f"connections, idle keep-alive ones included ({rec.get('keepalive_async_mean', 0):.0f}"
        f" on average), so {float(rec['accept_queue_mean']):.0f} connections waited in the "
        f"accept queue on average{overflow}"
    )
