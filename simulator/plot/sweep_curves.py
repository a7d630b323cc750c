"""A sweep's curves: figures of its table against one varied key, a curve per value of others."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from mpmsim.errors import InputError
from mpmsim.plot.layout import require_columns

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

PANEL_HEIGHT = 320
"""Pixels per panel (one panel per figure drawn)."""


def sweep(
    df: pd.DataFrame,
    x: str,
    y: str | Sequence[str],
    color: str | Sequence[str] | None = None,
    *,
    ci: Literal["band", "bars"] | None = "band",
) -> go.Figure:
    """Plot ``y`` (a column, or several as stacked panels sharing the x axis) against ``x``.

    ``df`` is a sweep's table (:func:`mpmsim.sweep`, or ``mpmsim sweep -o`` read back), or any
    table of the same shape. ``color`` names the column (or columns) whose values split the
    points into curves, one per value (per combination); a curve's points are sorted by ``x``.
    Where the table has ``Y.ci_low`` and ``Y.ci_high`` beside ``Y`` (a sweep's 95 % confidence
    interval), the curve gets a shaded band between them (``ci="band"``), error bars
    (``ci="bars"``) or nothing (``ci=None``).

    Raises :class:`~mpmsim.errors.InputError` naming a column the table lacks.
    """
    from plotly.subplots import make_subplots

    ys = [y] if isinstance(y, str) else list(y)
    colors = [] if color is None else [color] if isinstance(color, str) else list(color)
    if not ys:
        raise InputError("name at least one column to plot", field="sweep plot: y")
    if ci not in ("band", "bars", None):
        raise InputError(f"{ci!r}; allowed: 'band', 'bars', None", field="sweep plot: ci")
    require_columns(df, [x, *ys, *colors], "sweep plot")
    fig = make_subplots(rows=len(ys), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    groups = list(df.groupby(colors, sort=False, dropna=False)) if colors else [((), df)]
    for k, (value, part) in enumerate(groups):
        name = _curve_name(colors, value)
        part = part.sort_values(x, kind="stable")
        for row, column in enumerate(ys, 1):
            for trace in _curve(part, x, column, name, k, ci=ci, first=row == 1):
                fig.add_trace(trace, row=row, col=1)
            fig.update_yaxes(title_text=column, row=row, col=1)
    fig.update_xaxes(title_text=x, row=len(ys), col=1)
    fig.update_layout(
        height=PANEL_HEIGHT * len(ys) + 80,
        legend_title_text=", ".join(colors) or None,
        title=f"{', '.join(ys)} against {x}",
        template="plotly_white",
    )
    return fig


def _curve_name(colors: Sequence[str], value: Any) -> str:
    """``event`` for one colour column, ``event, 25`` for several."""
    if not colors:
        return "sweep"
    values = value if isinstance(value, tuple) else (value,)
    return ", ".join(str(v) for v in values)


def _curve(
    part: pd.DataFrame, x: str, y: str, name: str, k: int, *, ci: str | None, first: bool
) -> list[go.Scatter]:
    """One curve on one panel: its 95 % band (where the table has it), then its line."""
    import plotly.colors
    import plotly.graph_objects as go

    palette = plotly.colors.qualitative.Plotly
    color = palette[k % len(palette)]
    xs = part[x].tolist()
    out, error = [], None
    low, high = f"{y}.ci_low", f"{y}.ci_high"
    if (
        ci
        and low in part.columns
        and high in part.columns
        and part[[low, high]].notna().any().all()
    ):
        if ci == "bars":
            error = {"type": "data", "symmetric": False,
                     "array": (part[high] - part[y]).tolist(),
                     "arrayminus": (part[y] - part[low]).tolist()}  # fmt: skip
        else:
            out = _band(xs, part[low].tolist(), part[high].tolist(), name, color)
    line = go.Scatter(x=xs, y=part[y].tolist(), error_y=error, mode="lines+markers", name=name,
                      legendgroup=name, showlegend=first, line={"color": color})  # fmt: skip
    return [*out, line]


def _band(
    xs: list[Any], low: list[Any], high: list[Any], name: str, color: str
) -> list[go.Scatter]:
    """The 95 % interval as a translucent band in the curve's colour (no legend entry)."""
    import plotly.graph_objects as go

    edge = {"mode": "lines", "line": {"width": 0, "color": color}, "legendgroup": name,
            "showlegend": False, "hoverinfo": "skip", "x": xs}  # fmt: skip
    fill = {"fill": "tonexty", "fillcolor": _translucent(color)}
    return [
        go.Scatter(y=high, name=f"{name} 95 % high", **edge),
        go.Scatter(y=low, name=f"{name} 95 % band", **edge, **fill),
    ]


def _translucent(color: str, alpha: float = 0.2) -> str:
    """``#636efa`` as ``rgba(99, 110, 250, 0.2)``."""
    import plotly.colors

    r, g, b = plotly.colors.hex_to_rgb(color)
    return f"rgba({r}, {g}, {b}, {alpha})"
