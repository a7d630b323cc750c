"""MPM models by name."""

from __future__ import annotations

from collections.abc import Callable

from mpmsim.errors import InputError
from mpmsim.models.apache.directives import EffectiveDirectives
from mpmsim.models.mpm.base import MPMModel
from mpmsim.models.mpm.event import EventModel
from mpmsim.models.mpm.prefork import PreforkModel
from mpmsim.models.mpm.worker import WorkerModel

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
