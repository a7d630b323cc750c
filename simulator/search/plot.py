"""The curves of an ``mpmsim optimize`` result as a file (``--plot``); drawn by
:func:`mpmsim.plot.optimize`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpmsim.errors import InputError
from mpmsim.plot.optimize_curves import optimize

if TYPE_CHECKING:
    import plotly.graph_objects as go


def figure(data: dict[str, Any]) -> go.Figure:
    """Throughput, p95 and peak memory against MaxRequestWorkers (:func:`mpmsim.plot.optimize`)
    of :meth:`mpmsim.search.result.OptimizeResult.to_dict`."""
    return optimize(data)


def write_plot(data: dict[str, Any], path: Path, *, overwrite: bool = False) -> Path:
    """Write :func:`figure` as a self-contained HTML file and return its path.

    Raises :class:`~mpmsim.errors.InputError` when ``path`` exists and ``overwrite`` is False.
    """
    if path.exists() and not overwrite:
        raise InputError("exists; pass --force to overwrite", field="--plot", file=str(path))
    figure(data).write_html(str(path), include_plotlyjs=True)
    return path
