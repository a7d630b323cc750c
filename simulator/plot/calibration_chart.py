"""A calibration's picture: what the fitted model predicts for each measured run, against what
was measured, per figure."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mpmsim.plot.layout import styled

if TYPE_CHECKING:
    import plotly.graph_objects as go

GROUPS = ((False, "fitted", "#1f77b4"), (True, "held out", "#d62728"))
"""(held out?, legend name, colour) of a row."""


def calibration(cal: Any) -> go.Figure:
    """Predicted against measured, one panel per figure (throughput, latency percentiles, CPU
    per request, memory, processes), rows the fit used in blue and held-out rows in red; the
    grey diagonal is a perfect prediction, and a row's hover text names its run.

    ``cal`` is what :func:`mpmsim.calibration.fit.calibrate` returns (``mpmsim calibrate``):
    its ``rows`` hold ``<figure>_measured`` and ``<figure>_predicted`` per run.
    """
    from plotly.subplots import make_subplots

    rows: list[dict[str, Any]] = list(cal.rows)
    # the figures measured as numbers (a row's capacity warnings are text, or None)
    first = rows[0] if rows else {}
    metrics = [
        k.removesuffix("_measured")
        for k, v in first.items()
        if k.endswith("_measured") and isinstance(v, float | int) and not isinstance(v, bool)
    ]
    n_rows = max(1, math.ceil(len(metrics) / 3))
    fig = make_subplots(rows=n_rows, cols=3, subplot_titles=metrics, vertical_spacing=0.12)
    for i, m in enumerate(metrics):
        for trace in _panel(rows, m, first=i == 0):
            fig.add_trace(trace, row=i // 3 + 1, col=i % 3 + 1)
    fig.update_xaxes(title_text="measured")
    fig.update_yaxes(title_text="predicted")
    return styled(fig, f"{cal.costs.name}: predicted against measured", height=330 * n_rows + 80)


def _panel(rows: list[dict[str, Any]], m: str, *, first: bool) -> list[go.Scatter]:
    """One figure's points (fitted, held out) and its diagonal."""
    import plotly.graph_objects as go

    measured = [r for r in rows if not math.isnan(r[f"{m}_measured"])]
    out = []
    for hold, name, color in GROUPS:
        pts = [r for r in measured if bool(r["held_out"]) == hold]
        if pts:
            out.append(go.Scatter(
                x=[r[f"{m}_measured"] for r in pts], y=[r[f"{m}_predicted"] for r in pts],
                mode="markers", marker={"color": color, "size": 7}, name=name, legendgroup=name,
                text=[r["run_id"] for r in pts], showlegend=first,
            ))  # fmt: skip
    if measured:
        values = [r[f"{m}_measured"] for r in measured]
        lo, hi = min(values), max(values)
        out.append(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", showlegend=False,
                              line={"color": "gray", "dash": "dot"}, hoverinfo="skip"))  # fmt: skip
    return out
