"""MPM models by name."""

from __future__ import annotations

from collections.abc import Callable

from mpmsim.errors import InputError
from mpmsim.models.base import MPMModel
from mpmsim.models.directives import EffectiveDirectives
from mpmsim.models.event import EventModel
from mpmsim.models.prefork import PreforkModel
from mpmsim.models.worker import WorkerModel

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
