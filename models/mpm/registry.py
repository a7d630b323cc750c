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


def kept_connection_kib(costs: CostModel, mpm: str, keepalive: bool) -> float:
    """Apache's memory for each connection kept alive beyond ``connection_kib``: an MPM whose
    listener keeps idle connections apart from its workers (event) gives each a pool of its
    own (``listener_connection_kib``, as the engine charges it); prefork and worker keep a
    worker per connection instead, and without keep-alive no connection is kept: 0."""
    model: Any = MPM_MODELS[mpm]
    if model.keepalive_holds_worker or not keepalive:
        return 0.0
    return costs.listener_connection_kib
