"""The search space of ``mpmsim optimize``: candidates, analytic bounds, the Apache block.

A candidate fixes MaxRequestWorkers, ThreadsPerChild, ServerLimit and ThreadLimit so that
Apache applies them without adjustment (worker/event: MaxRequestWorkers a multiple of
ThreadsPerChild, ServerLimit = MaxRequestWorkers / ThreadsPerChild, ThreadLimit =
ThreadsPerChild; prefork: ServerLimit = MaxRequestWorkers). Spare settings are the scenario's,
or with ``--spares`` one of :data:`SPARES`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mpmsim.models.apache.directives import (
    normalize_directives,
)
from mpmsim.models.apache.rules import MPM_DEFAULTS
from mpmsim.models.mpm.registry import kept_connection_kib, listener_held
from mpmsim.search.goals import memory_budget_mib, nominal_offered_rps
from mpmsim.search.php import php_memory_mib
from mpmsim.spec.resolve import Prepared
from mpmsim.spec.scenario import ClosedLoad, OpenLoad
from mpmsim.workloads.distributions import mean_of

THREADED_TPC = (25, 32, 50, 64)
"""ThreadsPerChild values tried for worker and event (25: Apache's default; 64: its ThreadLimit)."""

MAX_WORKERS = 1024
"""Largest MaxRequestWorkers of the full (unpruned) grid."""


SPARES = ("given", "defaults", "started")
"""Spare-settings policies: the scenario's, Apache's compiled defaults, every child started."""


def spare_directives(mpm: str, policy: str, mrw: int, tpc: int) -> dict[str, int]:
    """StartServers and the spare settings of a policy (empty for ``given``).

    ``started`` starts every child and never reaps one (prefork: MinSpareServers =
    MaxRequestWorkers; worker/event: MinSpareThreads = MaxRequestWorkers), which buys no
    cold-start ramp with the memory of all children from the first second.
    """
    if policy == "given":
        return {}
    names = ("StartServers", "MinSpareServers", "MaxSpareServers")
    if mpm != "prefork":
        names = ("StartServers", "MinSpareThreads", "MaxSpareThreads")
    if policy == "defaults":
        return {n: MPM_DEFAULTS[mpm][n] for n in names}
    if policy != "started":
        raise ValueError(f"unknown spare policy {policy!r}")
    if mpm == "prefork":
        return dict(zip(names, (mrw, mrw, mrw + 1), strict=True))
    return dict(zip(names, (mrw // tpc, mrw, mrw + tpc + 1), strict=True))


MIN_SPARE = {"prefork": "MinSpareServers", "worker": "MinSpareThreads", "event": "MinSpareThreads"}
"""The spare setting that must stay within MaxRequestWorkers (:func:`spare_warnings`)."""

RUN_TIME_AH = {"prefork": "AH00161", "worker": "AH00287", "event": "AH10159"}
"""What httpd logs when idle < MinSpare* and every MaxRequestWorkers slot holds a process."""


def spare_value(mpm: str, directives: Mapping[str, object]) -> int:
    """The minimum spare setting ``directives`` give ``mpm`` (names case-insensitive), else
    Apache's default."""
    name = MIN_SPARE[mpm]
    raw = {k: v for k, v in directives.items() if k.lower() == name.lower()}
    values, _ = normalize_directives(raw, source="<candidate>")
    return int(values.get(name, MPM_DEFAULTS[mpm][name]))


def fit_spares(mpm: str, directives: Mapping[str, object]) -> dict[str, int]:
    """The minimum spare setting scaled to MaxRequestWorkers when it exceeds it (else nothing).

    httpd's idle maintenance (facts section 2: prefork ``perform_idle_server_maintenance``
    l.798-893, worker l.1400-1605, event l.2906-3129) forks while idle < MinSpareServers /
    MinSpareThreads; with every MaxRequestWorkers slot filled it logs AH00161 (prefork),
    AH00287 (worker) or AH10159 (event) instead. A minimum above MaxRequestWorkers can never be
    met, so that error comes as soon as the server is full, even when idle. MaxRequestWorkers
    itself is the largest minimum the server can meet; the maximum is then raised by Apache's
    own silent rules (``MaxSpare* >= MinSpare* + ...``), which the block prints as applied.
    """
    mrw = int(str(directives["MaxRequestWorkers"]))
    name = MIN_SPARE[mpm]
    return {name: mrw} if spare_value(mpm, directives) > mrw else {}


def spare_warnings(mpm: str, effective: Mapping[str, Any]) -> list[str]:
    """The run-time error httpd logs for a block whose minimum spares exceed MaxRequestWorkers."""
    name, mrw = MIN_SPARE[mpm], int(effective["MaxRequestWorkers"])
    if int(effective[name]) <= mrw:
        return []
    return [
        f"{RUN_TIME_AH[mpm]}: {name} {effective[name]} > MaxRequestWorkers {mrw}: idle workers "
        "can never reach it, so httpd logs that it reached MaxRequestWorkers (or is within "
        "MinSpare of it) as soon as every slot is filled"
    ]


KEEPALIVE = ("given", "Off", "1", "2")
"""KeepAlive policies: the scenario's, off, or on with a KeepAliveTimeout of 1 or 2 seconds."""


def keepalive_directives(policy: str) -> dict[str, int | str]:
    """The KeepAlive directives of a policy (empty for ``given``)."""
    if policy == "given":
        return {}
    if policy == "Off":
        return {"KeepAlive": "Off"}
    return {"KeepAlive": "On", "KeepAliveTimeout": int(policy)}


@dataclass(frozen=True, order=True)
class Candidate:
    """One setting of the decision variables for one MPM."""

    mpm: str
    max_request_workers: int
    threads_per_child: int
    spares: str = "given"
    keepalive: str = "given"
    fpm_children: int = 0
    """pm.max_children of the PHP-FPM pool ``fpm_pool`` (as a static pool); 0: the scenario's."""
    fpm_pool: str = ""

    @property
    def server_limit(self) -> int:
        """ServerLimit Apache accepts without adjustment."""
        if self.mpm == "prefork":
            return self.max_request_workers
        return self.max_request_workers // self.threads_per_child

    def directives(self) -> dict[str, int | str]:
        """The directives this candidate sets."""
        sizes: dict[str, int | str]
        if self.mpm == "prefork":
            sizes = {
                "MaxRequestWorkers": self.max_request_workers,
                "ServerLimit": self.server_limit,
            }
        else:
            sizes = {
                "ThreadLimit": self.threads_per_child,
                "ThreadsPerChild": self.threads_per_child,
                "ServerLimit": self.server_limit,
                "MaxRequestWorkers": self.max_request_workers,
            }
        spares = spare_directives(
            self.mpm, self.spares, self.max_request_workers, self.threads_per_child
        )
        return sizes | spares | keepalive_directives(self.keepalive)

    def with_spares(self, policy: str) -> Candidate:
        """The same sizes and KeepAlive under another spare-settings policy."""
        return dataclasses.replace(self, spares=policy)

    def with_children(self, pool: str, children: int) -> Candidate:
        """The same Apache settings with a static PHP-FPM pool of ``children``."""
        return dataclasses.replace(self, fpm_children=children, fpm_pool=pool)

    def pool_sets(self) -> tuple[str, ...]:
        """``--set`` assignments of the PHP-FPM pool's size (none for the scenario's own)."""
        if not self.fpm_children:
            return ()
        p = f"backends.{self.fpm_pool}"
        return (f"{p}.pm=static", f"{p}.pm.max_children={self.fpm_children}")

    @property
    def family(self) -> tuple[str, int, str, str, int]:
        """What a line of candidates shares: all but MaxRequestWorkers."""
        return (self.mpm, self.threads_per_child, self.spares, self.keepalive, self.fpm_children)

    def sibling(self, mrw: int) -> Candidate:
        """The candidate of the same family with another MaxRequestWorkers."""
        return dataclasses.replace(self, max_request_workers=mrw)

    def overrides(self, given: Mapping[str, object] | None = None) -> tuple[str, ...]:
        """``--set`` assignments that apply this candidate to a scenario whose directives are
        ``given``: spare settings above MaxRequestWorkers are scaled within it
        (:func:`fit_spares`)."""
        directives = self.directives()
        directives |= fit_spares(self.mpm, {**(given or {}), **directives})
        sets = [f"server.mpm={self.mpm}"]
        sets += [f"server.directives.{k}={v}" for k, v in directives.items()]
        return (*sets, *self.pool_sets())

    def label(self) -> str:
        """Short text, e.g. ``event MRW=150 TPC=25`` (plus spares and KeepAlive when not given)."""
        text = f"{self.mpm} MRW={self.max_request_workers} TPC={self.threads_per_child}"
        text += "" if self.spares == "given" else f" spares={self.spares}"
        text += "" if not self.fpm_children else f" pm.max_children={self.fpm_children}"
        return text + ("" if self.keepalive == "given" else f" KeepAlive={self.keepalive}")


def step_for(mpm: str, tpc: int) -> int:
    """Grid step of MaxRequestWorkers: one child for threaded MPMs, 8 processes for prefork."""
    return tpc if mpm != "prefork" else 8


def full_line(mpm: str, tpc: int, top: int = MAX_WORKERS) -> list[int]:
    """Every MaxRequestWorkers of the full grid for one (MPM, ThreadsPerChild)."""
    step = step_for(mpm, tpc)
    return list(range(step, top + 1, step))


def tpc_choices(mpm: str) -> tuple[int, ...]:
    """ThreadsPerChild values searched for an MPM (1 for prefork)."""
    return (1,) if mpm == "prefork" else THREADED_TPC


def smallest(prep: Prepared, mpm: str) -> tuple[Candidate, float]:
    """The MPM's configuration of least worst-case memory on the grid, and that memory (MiB):
    what a machine must hold for the MPM to be searched at all."""
    sizes = [Candidate(mpm, full_line(mpm, t)[0], t) for t in tpc_choices(mpm)]
    pairs = [(c, full_memory_mib(prep, c)) for c in sizes]
    return min(pairs, key=lambda pair: pair[1])


def full_memory_mib(prep: Prepared, cand: Candidate) -> float:
    """Apache's memory with every child and thread alive and every worker on a connection.

    Every worker has served every class by then: each thread of a threaded MPM keeps
    ``thread_used_kib``, each worker each class's ``worker_kib`` and each child each class's
    ``child_kib`` (:mod:`mpmsim.engine.worker_memory`).
    """
    c = prep.costs
    children = math.ceil(cand.max_request_workers / cand.threads_per_child)
    threads = cand.max_request_workers if cand.mpm != "prefork" else 0
    conns = cand.max_request_workers
    if cand.mpm == "event":
        conns = int(conns * (1 + prep.directives.async_factor_effective))
    d = prep.directives
    held = listener_held(cand.mpm, d.KeepAlive, cand.max_request_workers, d.async_factor_effective)
    transient = max((k.memory_kib for k in prep.classes), default=0.0) / 1024.0
    served_kib = (
        threads * c.thread_used_kib
        + cand.max_request_workers * sum(k.worker_kib for k in prep.classes)
        + children * sum(k.child_kib for k in prep.classes)
    )
    return (
        c.parent_mib
        + c.shared_mib
        + children * c.process_mib
        + threads * c.thread_mib
        + served_kib / 1024.0
        + (conns * c.connection_kib + held * kept_connection_kib(c, cand.mpm)) / 1024.0
        + cand.max_request_workers * transient
        + php_memory_mib(prep, cand.max_request_workers, cand.threads_per_child, cand.fpm_children)
    )


@dataclass(frozen=True)
class Bounds:
    """Analytic limits that cut the grid before any simulation."""

    cpu_rps: float
    hold_s: float
    offered_rps: float | None
    concurrency: float
    memory_budget_mib: float

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "cpu_rps": round(self.cpu_rps, 2),
            "worker_hold_ms": round(self.hold_s * 1000, 4),
            "offered_rps": None if self.offered_rps is None else round(self.offered_rps, 2),
            "useful_concurrency": round(self.concurrency, 2),
            "memory_budget_mib": round(self.memory_budget_mib, 2),
        }


def analytic_bounds(prep: Prepared, headroom: float) -> Bounds:
    """Throughput <= vCPUs x speed / CPU per request; concurrency the load can use (Little)."""
    c = prep.costs
    total = sum(k.weight for k in prep.classes)
    cpu_ms = sum(k.weight * k.mean_cpu_ms() for k in prep.classes) / total
    wait_ms = sum(k.weight * k.mean_wait_ms() for k in prep.classes) / total
    per_req_ms = cpu_ms + c.request_cpu_ms + c.accept_cpu_ms + c.close_cpu_ms
    per_req_ms += (c.kernel_us_per_request + c.kernel_us_per_connection) / 1000.0
    hw = prep.hardware
    cpu_rps = hw.vcpus * hw.mean_cpu_speed * 1000.0 / max(per_req_ms, 1e-9)
    hold_s = (per_req_ms / hw.mean_cpu_speed + wait_ms) / 1000.0
    load = prep.scenario.load
    offered = nominal_offered_rps(prep.scenario)
    if isinstance(load, ClosedLoad):
        conc = float(load.clients)
    elif isinstance(load, OpenLoad):
        rate = load.sessions_per_s
        sessions = float(rate if isinstance(rate, int | float) else max(r for _, r in rate))
        per_session = mean_of(load.requests_per_session)
        rtt = load.network_rtt_ms / 1000.0
        think = mean_of(load.think_time_s)
        keep = prep.directives.KeepAlive and not load.client_closes
        session_s = per_session * (hold_s + rtt) + max(per_session - 1, 0) * think
        if keep:
            session_s += prep.directives.KeepAliveTimeout
        conc = sessions * session_s
    else:
        conc = float(MAX_WORKERS)
    return Bounds(cpu_rps, hold_s, offered, conc, memory_budget_mib(prep, headroom))


def useful_workers(prep: Prepared, mpm: str, bounds: Bounds) -> float:
    """Workers the load can keep busy or pinned (Little's law): the knee of the throughput curve.

    event's listener holds idle keep-alive connections without a worker, but a child takes at
    most ThreadsPerChild x (1 + AsyncRequestWorkerFactor) connections.
    """
    conc = bounds.concurrency
    if mpm == "event":
        busy = conc if bounds.offered_rps is None else bounds.offered_rps * bounds.hold_s
        conc = max(busy, conc / (1 + prep.directives.async_factor_effective))
    return conc


def pruned_line(prep: Prepared, mpm: str, tpc: int, bounds: Bounds) -> tuple[list[int], bool]:
    """The grid line cut to the useful range; True when RAM set its top.

    More workers than twice the knee (:func:`useful_workers`) and a child of slack are useless.
    """
    line = full_line(mpm, tpc)
    need = 2.0 * useful_workers(prep, mpm, bounds) + step_for(mpm, tpc)
    fits = [
        m for m in line if full_memory_mib(prep, Candidate(mpm, m, tpc)) <= bounds.memory_budget_mib
    ]
    useful = [m for m in fits if m <= need] or fits[:1]
    if fits and len(useful) < len(fits):
        useful.append(fits[len(useful)])  # one point past the bound, to see the plateau
    ram_bound = len(fits) < len(line) and (not useful or useful[-1] == fits[-1])
    return useful, ram_bound


def apache2buddy(prep: Prepared, mpm: str, tpc: int) -> dict[str, Any]:
    """apache2buddy's rule: (RAM - os_reserved) / the largest child's RSS.

    RSS counts the pages a child shares with its siblings (code, configuration) in full, so
    the rule charges them once per child; the simulation counts them once (PSS). A child
    measured under load also holds what its busy workers' requests hold: each worker one
    request of the mix's mean ``memory_kib`` (classes weighted as the engine draws them), as a
    busy worker holds its request's memory in the engine.
    """
    c = prep.costs
    threads = tpc if mpm != "prefork" else 0
    total = sum(k.weight for k in prep.classes) or 1.0
    request_mib = sum(k.weight * k.memory_kib for k in prep.classes) / total / 1024.0
    rss = c.shared_mib + c.process_mib + threads * c.thread_mib + max(tpc, 1) * request_mib
    hw = prep.hardware
    children = int((hw.ram_mib - hw.os_reserved_mib) // max(rss, 1e-9))
    return {
        "child_rss_mib": round(rss, 4),
        "request_mib_per_worker": round(request_mib, 4),
        "max_children": children,
        "max_request_workers": children * max(tpc, 1),
    }
