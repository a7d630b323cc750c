"""A sweep's curves: figures of its table against one varied key, a curve per value of others.

Plotly is imported inside :func:`sweep_figure` only, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mpmsim.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def sweep_figure(
    df: pd.DataFrame,
    x: str,
    y: str | Sequence[str],
    color: str | Sequence[str] | None = None,
) -> go.Figure:
    """Plot ``y`` (a column, or several as stacked panels sharing the x axis) against ``x``.

    ``color`` names the column (or columns) whose values split the points into curves, one per
    value (per combination); points of a curve are sorted by ``x``. A column ``Y.ci_low`` /
    ``Y.ci_high`` beside ``Y`` (a sweep's 95 % intervals) becomes error bars.
    """
    from plotly.subplots import make_subplots

    ys = [y] if isinstance(y, str) else list(y)
    colors = [] if color is None else [color] if isinstance(color, str) else list(color)
    missing = [c for c in (x, *ys, *colors) if c not in df.columns]
    if missing or not ys:
        raise InputError(
            f"no column {', '.join(missing) or '(none given for y)'}; columns: "
            f"{', '.join(map(str, df.columns))}",
            field="sweep plot",
        )
    fig = make_subplots(rows=len(ys), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    groups = list(df.groupby(colors, sort=False, dropna=False)) if colors else [((), df)]
    for k, (value, part) in enumerate(groups):
        name = _curve_name(colors, value)
        part = part.sort_values(x, kind="stable")
        for row, column in enumerate(ys, 1):
            fig.add_trace(_trace(part, x, column, name, k, first=row == 1), row=row, col=1)
            fig.update_yaxes(title_text=column, row=row, col=1)
    fig.update_xaxes(title_text=x, row=len(ys), col=1)
    fig.update_layout(
        height=320 * len(ys) + 80,
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


def _trace(part: pd.DataFrame, x: str, y: str, name: str, k: int, *, first: bool) -> go.Scatter:
    """One curve on one panel, with error bars where the table has the interval."""
    import plotly.colors
    import plotly.graph_objects as go

    palette = plotly.colors.qualitative.Plotly
    error = None
    if f"{y}.ci_low" in part.columns and f"{y}.ci_high" in part.columns:
        error = {
            "type": "data",
            "symmetric": False,
            "array": (part[f"{y}.ci_high"] - part[y]).tolist(),
            "arrayminus": (part[y] - part[f"{y}.ci_low"]).tolist(),
        }
    return go.Scatter(
        x=part[x].tolist(),
        y=part[y].tolist(),
        error_y=error,
        mode="lines+markers",
        name=name,
        legendgroup=name,
        showlegend=first,
        line={"color": palette[k % len(palette)]},
    )
