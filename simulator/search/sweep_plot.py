"""A sweep's curves for ``mpmsim sweep --plot``: :func:`mpmsim.plot.sweep` with error bars.

Plotly is imported inside the drawing function only, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mpmsim.plot.sweep_curves import sweep

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
    return sweep(df, x, y, color, ci="bars")
