"""The curves of an optimize result: throughput, p95 and memory against MaxRequestWorkers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

# (point key, y-axis title) of the three stacked panels, top to bottom.
_PANELS = (
    ("throughput_rps", "throughput (req/s)"),
    ("p95_ms", "p95 latency (ms)"),
    ("memory_peak_mib", "peak memory (MiB)"),
)


Key = tuple[str, int, str, str]


def _lines(points: list[dict[str, Any]]) -> dict[Key, list[dict[str, Any]]]:
    """The points per (mpm, ThreadsPerChild, spares, KeepAlive), sorted by MaxRequestWorkers."""
    out: dict[Key, list[dict[str, Any]]] = {}
    for p in points:
        key = (
            p["mpm"],
            p["ThreadsPerChild"],
            p.get("spares", "given"),
            p.get("keepalive", "given"),
        )
        out.setdefault(key, []).append(p)
    return {k: sorted(v, key=lambda p: p["MaxRequestWorkers"]) for k, v in sorted(out.items())}


def _hover(p: dict[str, Any]) -> str:
    goals = "meets the goals" if p["feasible"] else f"misses {p['violates']}"
    return f"ServerLimit {p['ServerLimit']}<br>bottleneck {p['bottleneck']}<br>{goals}"


def _line_trace(
    key: Key, pts: list[dict[str, Any]], metric: str, color: str, first: bool
) -> go.Scatter:
    """One (mpm, ThreadsPerChild) line on one panel; infeasible points get an x marker."""
    import plotly.graph_objects as go

    name = f"{key[0]} TPC {key[1]}" + ("" if key[2] == "given" else f" spares {key[2]}")
    name += "" if key[3] == "given" else f" KeepAlive {key[3]}"
    errors = None
    if metric == "throughput_rps":
        errors = {"type": "data", "array": [p["throughput_rps_ci95"] or 0.0 for p in pts]}
    return go.Scatter(
        x=[p["MaxRequestWorkers"] for p in pts],
        y=[p[metric] for p in pts],
        error_y=errors,
        mode="lines+markers",
        name=name,
        legendgroup=name,
        showlegend=first,
        line={"color": color},
        marker={
            "color": color,
            "size": 8,
            "symbol": ["circle" if p["feasible"] else "x-open" for p in pts],
        },
        hovertext=[_hover(p) for p in pts],
    )


def optimize(result: Any) -> go.Figure:
    """Throughput, p95 and peak memory against MaxRequestWorkers, one line per MPM and TPC.

    ``result`` is what :func:`mpmsim.optimize` returns, or its ``to_dict()``. Points that miss
    a goal are drawn with an x, the winner with a star; dashed lines mark the memory budget and
    the p95 goal (when there is one).
    """
    import plotly.colors
    from plotly.subplots import make_subplots

    data: dict[str, Any] = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05)
    palette = plotly.colors.qualitative.Plotly
    for i, (key, pts) in enumerate(_lines(data["points"]).items()):
        color = palette[i % len(palette)]
        for row, (metric, _) in enumerate(_PANELS, start=1):
            fig.add_trace(_line_trace(key, pts, metric, color, row == 1), row=row, col=1)
    if data["winner"] is not None:
        _add_winner(fig, data["winner"])
    goals = data["goals"]
    if goals.get("p95_ms") is not None:
        fig.add_hline(y=goals["p95_ms"], line_dash="dash", annotation_text="p95 goal", row=2, col=1)
    fig.add_hline(
        y=goals["memory_budget_mib"],
        line_dash="dash",
        annotation_text="memory budget",
        row=3,
        col=1,
    )
    for row, (_, title) in enumerate(_PANELS, start=1):
        fig.update_yaxes(title_text=title, row=row, col=1)
    fig.update_xaxes(title_text="MaxRequestWorkers", row=3, col=1)
    fig.update_layout(
        title=f"optimize {data['scenario']} on {data['hardware']} ({data['objective']})",
        height=900,
    )
    return fig


def _add_winner(fig: go.Figure, w: dict[str, Any]) -> None:
    """A star on the winning configuration in every panel (one legend entry)."""
    import plotly.graph_objects as go

    label = f"winner: {w['mpm']} TPC {w['ThreadsPerChild']} MRW {w['MaxRequestWorkers']}"
    for row, (metric, _) in enumerate(_PANELS, start=1):
        star = go.Scatter(
            x=[w["MaxRequestWorkers"]],
            y=[w[metric]],
            mode="markers",
            name=label,
            legendgroup="winner",
            showlegend=row == 1,
            marker={"symbol": "star", "size": 16, "color": "gold", "line": {"color": "black"}},
        )
        fig.add_trace(star, row=row, col=1)
