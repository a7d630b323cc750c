"""The picture of a fit (``--plot``): the log's requests per window against the written load,
and each sample's empirical CDF against the distribution chosen for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from mpmsim.errors import InputError
from mpmsim.traces.fit import TraceFit
from mpmsim.workloads.distributions import AnySpec, make_sampler
from mpmsim.workloads.fitting import Fit
from mpmsim.workloads.streams import stream

if TYPE_CHECKING:
    import plotly.graph_objects as go

LOG_COLOR, FIT_COLOR = "#222222", "#e4572e"
"""The log in black, what the written scenario draws in orange, in every panel."""

DRAWS = 20_000
"""Values drawn from a chosen distribution to draw its CDF (any kind, the same way)."""


def _cdf(values: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(sorted values, cumulative share) of a sample, thinned to about 2,000 points."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    step = max(1, len(x) // 2000)
    picked = np.r_[np.arange(0, len(x), step), len(x) - 1]
    return x[picked], (picked + 1) / len(x)


def _drawn(spec: AnySpec, seed: int, counts: bool) -> npt.NDArray[np.float64]:
    """Values the simulator would draw from ``spec`` (counts as an open load rounds them)."""
    sampler = make_sampler(spec, stream(seed, "trace", "plot"))
    if counts:
        return np.array([max(1, sampler.draw_int()) for _ in range(DRAWS)], dtype=np.float64)
    return np.array([sampler.draw() for _ in range(DRAWS)], dtype=np.float64)


def _cdf_panel(
    fig: go.Figure, row: int, sample: npt.ArrayLike, fit: Fit, seed: int, counts: bool = False
) -> None:
    """The sample's CDF and the chosen distribution's, in one panel."""
    import plotly.graph_objects as go

    x, y = _cdf(sample)
    log = go.Scatter(x=x, y=y, name="log", mode="lines", line_shape="hv", line_color=LOG_COLOR)
    fig.add_trace(log, row=row, col=1)
    dx, dy = _cdf(_drawn(fit.spec, seed, counts))
    label = f"{fit.chosen.family} (D {fit.chosen.ks:.3f})"
    drawn = go.Scatter(x=dx, y=dy, name=label, mode="lines", line_shape="hv", line_color=FIT_COLOR)
    fig.add_trace(drawn, row=row, col=1)


def write_plot(fit: TraceFit, path: Path) -> None:
    """Write the fit's charts as one self-contained HTML page."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels: list[tuple[str, Fit | None]] = [("requests per window: log and written load", None)]
    panels.append(("requests per connection (CDF)", fit.requests_per_connection))
    if fit.think_time_s is not None:
        panels.append(("think time, s (CDF)", fit.think_time_s))
    for cls in fit.classes:
        panels.append((f"{cls.name}: response bytes (CDF)", cls.response_bytes))
        if cls.service_ms is not None:
            panels.append((f"{cls.name}: %D, ms (CDF)", cls.service_ms))
    titles = [
        t
        if f is None
        else f"{t}: log (black) vs {f.chosen.family} (orange), KS D {f.chosen.ks:.3f}"
        for t, f in panels
    ]
    fig = make_subplots(rows=len(panels), cols=1, subplot_titles=titles)
    schedule, seed = fit.schedule, fit.options.seed
    t = [w.t_s / 3600.0 for w in schedule.windows]
    counts = [w.requests for w in schedule.windows]
    fig.add_trace(go.Bar(x=t, y=counts, name="log", marker_color=LOG_COLOR), row=1, col=1)
    written = [schedule.rate(w) * schedule.mean_requests * w.covered_s for w in schedule.windows]
    line = go.Scatter(x=t, y=written, name="sessions x requests/session", line_color=FIT_COLOR)
    fig.add_trace(line, row=1, col=1)
    fig.update_xaxes(title_text="hours since the first request", row=1, col=1)
    samples: list[npt.ArrayLike] = [fit.connections.requests, fit.think_s]
    for cls in fit.classes:
        mine = fit.columns.url_class == fit.columns.class_names.index(cls.name)
        samples.append(fit.columns.response_bytes[mine])
        if cls.service_ms is not None:
            durations = fit.columns.duration_ms[mine]
            samples.append(durations[np.isfinite(durations)])
    if fit.think_time_s is None:
        samples.pop(1)
    for row, ((_, chosen), sample) in enumerate(zip(panels[1:], samples, strict=True), start=2):
        assert chosen is not None
        _cdf_panel(fig, row, sample, chosen, seed, counts=row == 2)
        if row > 2:
            fig.update_xaxes(type="log", row=row, col=1)
    fig.update_layout(
        height=320 * len(panels), showlegend=False, title=Path(fit.columns.source).name
    )
    try:
        fig.write_html(str(path), include_plotlyjs=True)
    except OSError as error:
        raise InputError(
            f"cannot write: {error.strerror}", file=str(path), field="--plot"
        ) from None


__all__ = ["write_plot"]
