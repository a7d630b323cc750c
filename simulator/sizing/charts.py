"""The sizing report's charts, as plotly figures (plotly is imported inside each function).

Each function draws one chart from the report's data: capacity and cost per instance
(:func:`capacity_cost_figure`), the optimizer's curves on the recommended instance
(:func:`curves_figure`), and, from the recommended configuration's run, the latency
distribution, busy and idle workers over time and the CPU credit balance (burstable hardware
only). All but the first and the last are :mod:`mpmsim.plot`'s figures, as a notebook draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mpmsim import plot
from mpmsim.plot.layout import HEIGHT as HEIGHT  # the page sizes its chart divs by it
from mpmsim.plot.layout import first_series, shade_warmup
from mpmsim.plot.layout import styled as _layout
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
    :func:`mpmsim.plot.optimize`, the chart of ``mpmsim optimize --plot``.
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
    fig = plot.optimize(data)
    title = f"Throughput, p95 and memory against MaxRequestWorkers on {row.get('instance')}"
    return _layout(fig, title, height=760)


def latency_figure(run: RunResult, p95_goal_ms: float | None = None) -> go.Figure:
    """The latency distribution (CDF per class, log scale) of the run, p50, p95, p99 marked."""
    fig = plot.latency_cdf(run, p95_goal_ms)
    return _layout(fig, "Latency distribution (requests after the warm-up)")


def workers_figure(run: RunResult) -> go.Figure:
    """Busy, idle and keep-alive workers and processes over time, first replication."""
    return _layout(plot.workers(run), "Busy and idle workers over time")


def burstable(run: RunResult) -> bool:
    """Whether the run's hardware earns and spends CPU credits (a T3 below its full speed)."""
    burst = run.prepared.hardware.burst
    return burst is not None and burst.baseline_fraction < 1.0


def credits_figure(run: RunResult) -> go.Figure:
    """The CPU credit balance over time, with the spells held to the baseline shaded."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    s = first_series(run)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=s["t_s"], y=s["cpu_credits"], mode="lines", name="credit balance"))
    fig.add_trace(
        go.Scatter(x=s["t_s"], y=s["throttled"], mode="lines", name="held to the baseline",
                   fill="tozeroy", line={"shape": "hv", "width": 0, "color": "#c0392b"},
                   opacity=0.3),
        secondary_y=True,
    )  # fmt: skip
    shade_warmup(fig, run)
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
