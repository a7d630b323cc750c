"""MPM models by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mpmsim.errors import InputError
from mpmsim.models.apache.directives import EffectiveDirectives
from mpmsim.models.mpm.base import MPMModel
from mpmsim.models.mpm.event import EventModel
from mpmsim.models.mpm.prefork import PreforkModel
from mpmsim.models.mpm.worker import WorkerModel

if TYPE_CHECKING:
    from mpmsim.models.costs import CostModel

MPM_MODELS: dict[str, Callable[[EffectiveDirectives], MPMModel]] = {
    "event": EventModel,
    "prefork": PreforkModel,
    "worker": WorkerModel,
}


def make_mpm(name: str, directives: EffectiveDirectives) -> MPMModel:
    """A fresh model of MPM ``name`` (one per simulated server: it keeps the spawn rate)."""
    try:
        factory = MPM_MODELS[name]
    except KeyError:
        raise InputError(
            f"unknown MPM {name!r}; allowed: {', '.join(sorted(MPM_MODELS))}", field="server.mpm"
        ) from None
    return factory(directives)


def listener_keeps(mpm: str) -> bool:
    """Whether ``mpm``'s listeners hold connections apart from its workers (event, in its
    keep-alive and linger queues), each with a pool of its own; prefork and worker keep a worker
    per connection instead."""
    model: Any = MPM_MODELS[mpm]
    return not model.keepalive_holds_worker


def kept_connection_kib(costs: CostModel, mpm: str) -> float:
    """Apache's memory for each connection a listener holds beyond ``connection_kib``: an MPM
    whose listener holds connections apart from its workers (event, in its keep-alive and
    linger queues) gives each a pool of its own (``listener_connection_kib``, as the engine
    charges it); prefork and worker keep a worker per connection instead: 0."""
    return costs.listener_connection_kib if listener_keeps(mpm) else 0.0


def listener_held(
    mpm: str, keepalive: bool, workers: int, async_factor: int, idle: float = 1.0
) -> float:
    """Connections that ``workers`` worker threads' listeners hold at most with a pool each
    (:func:`kept_connection_kib`): 0 for prefork and worker.

    Event with keep-alive: every connection its children admit, ``workers`` +
    AsyncRequestWorkerFactor x the idle workers (connections_above_limit, event.c), ``idle``
    the share of them idle; with all idle (the default, the bound), ``workers`` x (1 + factor).
    Without keep-alive only lingering closes wait there, which do not count against that limit:
    each worker leaves its connection in the linger queue and takes the next, so at the peak
    about one per worker
    (measured on 2.4.71: "24 active conns (24 lingering ...), 1 idle workers" in a child of 25
    threads, ``LingeringClose.deferred``).
    """
    if not listener_keeps(mpm):
        return 0.0
    return workers * (1.0 + async_factor * idle) if keepalive else float(workers)
