"""The sizing report's charts, as plotly figures (plotly is imported inside each function).

Each function draws one chart from the report's data: capacity and cost per instance
(:func:`capacity_cost_figure`), the optimizer's curves on the recommended instance
(:func:`curves_figure`, drawn by :mod:`mpmsim.search.plot`), and, from the recommended
configuration's run, the latency distribution, busy and idle workers over time and the CPU
credit balance (burstable hardware only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mpmsim.search import plot
from mpmsim.sizing import format as fmt
from mpmsim.sizing.verdict import judged, passes

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from mpmsim.engine.replications import RunResult

GROUPS = (
    ("alone", "one instance meets the goals", "#2a7a2a"),
    ("fleet", "a fleet meets the goals", "#8cc68c"),
    ("fail", "misses a goal", "#b8b8b8"),
)
"""How an instance type fared: key, legend label, colour."""
HEIGHT = 420
"""Pixels; the width follows the page (the charts are responsive)."""
MAX_POINTS = 2000
"""A time series is thinned to about this many points: the page stays small for long runs."""


def _layout(fig: go.Figure, title: str, height: int = HEIGHT) -> go.Figure:
    """Title, height and margins shared by every chart; the width is the page's."""
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=height,
        autosize=True,
        margin={"l": 70, "r": 30, "t": 60, "b": 55},
        legend={"orientation": "h", "y": -0.18},
        template="plotly_white",
    )
    return fig


def _group(row: Mapping[str, Any]) -> str:
    """``alone``, ``fleet`` (only several instances meet the goals) or ``fail``."""
    if not passes(row):
        return "fail"
    return "fleet" if ((row.get("fleet") or {}).get("count") or 1) > 1 else "alone"


def _carried(row: Mapping[str, Any]) -> float | None:
    """Requests a second one instance carries for good at the whole load (after its credits)."""
    value = row.get("sustained_throughput_rps", row.get("throughput_rps"))
    return None if value is None else float(value)


def _monthly(row: Mapping[str, Any]) -> tuple[float | None, str]:
    """What the fleet that passes costs a month (else one instance), and the bar's label."""
    fleet = row.get("fleet") or {}
    if fleet.get("count") and fleet.get("monthly_usd") is not None:
        return float(fleet["monthly_usd"]), f"{fleet['count']} ×"
    price = row.get("price_per_month_usd")
    return (None if price is None else float(price)), "1 ×"


def capacity_cost_figure(
    rows: Sequence[Mapping[str, Any]], design_rps: float | None = None
) -> go.Figure:
    """What one instance carries, and what the fleet costs a month, per instance type.

    Colours say whether one instance, only a fleet, or nothing meets the goals; a dashed line
    marks the load to carry.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.1,
        subplot_titles=("req/s one instance carries at the whole load", "cost ($ a month)"),
    )  # fmt: skip
    for key, label, color in GROUPS:
        group = [r for r in rows if _group(r) == key]
        if not group:
            continue
        style: dict[str, Any] = {"marker": {"color": color}, "legendgroup": label}
        names = [str(r.get("instance")) for r in group]
        ci = [r.get("throughput_rps_ci95") or 0.0 for r in group]
        fig.add_trace(
            go.Bar(x=names, y=[_carried(r) for r in group], name=label,
                   error_y={"type": "data", "array": ci, "visible": any(ci)}, **style),
            row=1, col=1,
        )  # fmt: skip
        cost = [_monthly(r) for r in group]
        fig.add_trace(
            go.Bar(x=names, y=[c for c, _ in cost], text=[t for _, t in cost],
                   textposition="outside", name=label, showlegend=False, **style),
            row=1, col=2,
        )  # fmt: skip
    if design_rps:
        fig.add_hline(y=design_rps, line_dash="dash", annotation_text="load", row=1, col=1)
    order = [str(r.get("instance")) for r in rows]
    fig.update_xaxes(categoryorder="array", categoryarray=order)
    fig.update_yaxes(title_text="req/s", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="$ a month", rangemode="tozero", row=1, col=2)
    return _layout(fig, "What one instance carries, and what the fleet costs")


def curves_figure(
    row: Mapping[str, Any], points: Sequence[Mapping[str, Any]], goals: Mapping[str, Any]
) -> go.Figure:
    """Throughput, p95 and memory against MaxRequestWorkers on the recommended instance.

    ``row`` is the instance type's row (the configuration of the fleet's member that passes is
    starred), ``points`` the optimizer's simulated points at that member's share of the load,
    ``goals`` the report's goals. Drawn by
    :func:`mpmsim.search.plot.figure`, the chart of ``mpmsim optimize --plot``.
    """
    member = judged(row)
    budget = (member.get("goals") or {}).get("memory_mib", {}).get("target")
    data = {
        "scenario": "",
        "hardware": row.get("instance"),
        "objective": "",
        "points": list(points),
        "winner": member if passes(row) and member.get("MaxRequestWorkers") else None,
        "goals": {
            "p95_ms": goals.get("p95_ms"),
            "memory_budget_mib": budget or row.get("memory_budget_mib"),
        },
    }
    fig = plot.figure(data)
    title = f"Throughput, p95 and memory against MaxRequestWorkers on {row.get('instance')}"
    return _layout(fig, title, height=760)


def _measured_latency(run: RunResult) -> pd.DataFrame:
    """Completed requests that ended after each replication's warm-up (the measured window)."""
    req = run.requests_frame()
    warm = {i: float(r["warmup_s"]) for i, r in enumerate(run.records)}
    keep = (req["status"] == "ok") & (req["t_end_s"] >= req["replication"].map(warm))
    return req.loc[keep, ["class", "latency_ms"]]


def _cdf(latency_ms: np.ndarray, steps: int = 400) -> tuple[list[float], list[float]]:
    """The empirical CDF at ``steps + 1`` evenly spaced fractions (a small page, any run length)."""
    frac = np.linspace(0.0, 1.0, steps + 1)
    return np.quantile(latency_ms, frac).tolist(), frac.tolist()


def latency_figure(run: RunResult, p95_goal_ms: float | None = None) -> go.Figure:
    """The latency distribution (CDF, log scale) of the run, with p50, p95 and p99 marked."""
    import plotly.graph_objects as go

    req = _measured_latency(run)
    fig = go.Figure()
    lat = req["latency_ms"].to_numpy(dtype=float)
    if len(lat):
        x, y = _cdf(lat)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="all requests"))
        classes = sorted(set(req["class"]))
        for name in classes if 1 < len(classes) <= 6 else ():
            x, y = _cdf(req.loc[req["class"] == name, "latency_ms"].to_numpy(dtype=float))
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=str(name), line={"width": 1}))
        # The figures the report quotes: per-replication percentiles, averaged.
        quoted = run.to_dict()["latency_ms"]
        marks = [(q, float(quoted[f"p{q}"])) for q in (50, 95, 99) if quoted[f"p{q}"]]
        where = {50: "middle left", 95: "middle left", 99: "middle right"}  # p95, p99 are close
        fig.add_trace(go.Scatter(
            x=[v for _, v in marks], y=[q / 100 for q, _ in marks], mode="markers+text",
            text=[f"p{q}" for q, _ in marks], textposition=[where[q] for q, _ in marks],
            cliponaxis=False, marker={"color": "#333", "size": 8},
            name=", ".join(f"p{q} {fmt.ms(v)}" for q, v in marks),
        ))  # fmt: skip
    if p95_goal_ms is not None:
        # A shape on a log axis takes the value, its annotation the log10 (plotly.js's rule).
        fig.add_shape(type="line", x0=p95_goal_ms, x1=p95_goal_ms, y0=0, y1=1, yref="paper",
                      line={"dash": "dash", "color": "#c0392b"})  # fmt: skip
        fig.add_annotation(x=np.log10(p95_goal_ms), y=0.02, yref="paper", showarrow=False,
                           text="p95 goal", xanchor="left", font={"color": "#c0392b"})  # fmt: skip
    fig.update_xaxes(type="log", title_text="latency (ms, log scale)")
    fig.update_yaxes(title_text="fraction of requests", range=[0, 1.02], tickformat=".0%")
    return _layout(fig, "Latency distribution (requests after the warm-up)")


def _thin(frame: pd.DataFrame) -> pd.DataFrame:
    """Every k-th row, so that at most about :data:`MAX_POINTS` remain."""
    step = max(1, len(frame) // MAX_POINTS)
    return frame.iloc[::step]


def _first_series(run: RunResult) -> pd.DataFrame:
    """The first replication's time series (the others repeat it with other random numbers)."""
    s = run.series_frame()
    return _thin(s[s["replication"] == s["replication"].min()])


def _warmup(fig: go.Figure, run: RunResult) -> None:
    """Shade the first replication's warm-up."""
    warm = float(run.records[0]["warmup_s"])
    if warm > 0:
        fig.add_vrect(x0=0, x1=warm, fillcolor="#888", opacity=0.12, line_width=0,
                      annotation_text="warm-up", annotation_position="top left")  # fmt: skip


def workers_figure(run: RunResult) -> go.Figure:
    """Busy and idle workers (and connections in keep-alive) over time, first replication."""
    import plotly.graph_objects as go

    s = _first_series(run)
    fig = go.Figure()
    lines = [("busy_workers", "busy workers"), ("idle_workers", "idle workers")]
    lines += [("keepalive_held_workers", "workers held by keep-alive"),
              ("keepalive_async_conns", "keep-alive connections (listener)")]  # fmt: skip
    for col, name in lines:
        if col.startswith("keepalive") and not s[col].any():
            continue  # a series that stays at zero only crowds the legend
        fig.add_trace(go.Scatter(x=s["t_s"], y=s[col], mode="lines", name=name,
                                 line={"shape": "hv", "width": 1.5}))  # fmt: skip
    cap = run.prepared.directives.MaxRequestWorkers
    fig.add_hline(y=cap, line_dash="dash", annotation_text=f"MaxRequestWorkers {cap}")
    _warmup(fig, run)
    fig.update_xaxes(title_text="simulated time (s)")
    fig.update_yaxes(title_text="workers", rangemode="tozero")
    return _layout(fig, "Busy and idle workers over time")


def burstable(run: RunResult) -> bool:
    """Whether the run's hardware earns and spends CPU credits (a T3 below its full speed)."""
    burst = run.prepared.hardware.burst
    return burst is not None and burst.baseline_fraction < 1.0


def credits_figure(run: RunResult) -> go.Figure:
    """The CPU credit balance over time, with the spells held to the baseline shaded."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    s = _first_series(run)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=s["t_s"], y=s["cpu_credits"], mode="lines", name="credit balance"))
    fig.add_trace(
        go.Scatter(x=s["t_s"], y=s["throttled"], mode="lines", name="held to the baseline",
                   fill="tozeroy", line={"shape": "hv", "width": 0, "color": "#c0392b"},
                   opacity=0.3),
        secondary_y=True,
    )  # fmt: skip
    _warmup(fig, run)
    fig.update_xaxes(title_text="simulated time (s)")
    fig.update_yaxes(title_text="CPU credits", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(range=[0, 1.05], showticklabels=False, secondary_y=True)
    title = f"CPU credits over time on {run.prepared.hardware.name}"
    return _layout(fig, title + _credit_rate(s, float(run.records[0]["warmup_s"])))


def _credit_rate(s: pd.DataFrame, warmup_s: float) -> str:
    """The balance's net change an hour after the warm-up, for the title (a short run's line
    looks flat on a balance of hundreds of credits)."""
    after = s[s["t_s"] >= warmup_s]
    if len(after) < 2:
        return ""
    span_h = (float(after["t_s"].iloc[-1]) - float(after["t_s"].iloc[0])) / 3600.0
    per_h = (float(after["cpu_credits"].iloc[-1]) - float(after["cpu_credits"].iloc[0])) / span_h
    if abs(per_h) < 0.5:
        return ": the balance holds after the warm-up"
    return f": {per_h:+,.0f} credits an hour after the warm-up"
