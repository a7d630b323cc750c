"""What every figure shares: its layout, a run's first time series, the warm-up shading."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mpmsim.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from mpmsim.engine.replications import RunResult

HEIGHT = 420
"""Pixels; the width follows the page or the notebook (the figures are responsive)."""
MAX_POINTS = 2000
"""A time series is thinned to about this many points: a long run's figure stays small."""


def styled(fig: go.Figure, title: str, height: int = HEIGHT) -> go.Figure:
    """Title, height, margins and legend below the plot; the width is the page's."""
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=height,
        autosize=True,
        margin={"l": 70, "r": 30, "t": 60, "b": 55},
        legend={"orientation": "h", "y": -0.18},
        template="plotly_white",
    )
    return fig


def first_series(run: RunResult) -> pd.DataFrame:
    """The first replication's time series, thinned to about :data:`MAX_POINTS` rows (the other
    replications repeat it with other random numbers)."""
    s = run.series_frame()
    first: pd.DataFrame = s[s["replication"] == s["replication"].min()]
    return first.iloc[:: max(1, len(first) // MAX_POINTS)]


def shade_warmup(fig: go.Figure, run: RunResult) -> None:
    """Shade the first replication's warm-up (its figures are left out of the results)."""
    warm = float(run.records[0]["warmup_s"])
    if warm > 0:
        fig.add_vrect(x0=0, x1=warm, fillcolor="#888", opacity=0.12, line_width=0,
                      annotation_text="warm-up", annotation_position="top left")  # fmt: skip


def require_columns(df: pd.DataFrame, columns: Sequence[str], field: str) -> None:
    """Raise a one-line :class:`InputError` naming the columns ``df`` lacks, and what it has."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"no column {', '.join(missing)}; columns: {', '.join(map(str, df.columns))}",
            field=field,
        )
