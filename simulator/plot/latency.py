"""A run's latency distribution: the empirical CDF of each request class, on a log axis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mpmsim.plot.layout import styled

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from mpmsim.engine.replications import RunResult

STEPS = 400
"""A CDF is drawn at this many evenly spaced fractions (a small figure for any run length)."""


def measured_requests(run: RunResult) -> pd.DataFrame:
    """Completed requests that ended after their replication's warm-up: ``class``,
    ``latency_ms`` (the requests the run's latency figures are computed from)."""
    req = run.requests_frame()
    warm = {i: float(r["warmup_s"]) for i, r in enumerate(run.records)}
    keep = (req["status"] == "ok") & (req["t_end_s"] >= req["replication"].map(warm))
    return req.loc[keep, ["class", "latency_ms"]]


def cdf(latency_ms: np.ndarray, steps: int = STEPS) -> tuple[list[float], list[float]]:
    """(latency at each fraction, the fractions) of the empirical CDF, ``steps + 1`` points."""
    frac = np.linspace(0.0, 1.0, steps + 1)
    return np.quantile(latency_ms, frac).tolist(), frac.tolist()


def latency_cdf(run: RunResult | Mapping[str, Any], p95_goal_ms: float | None = None) -> go.Figure:
    """The latency CDF of every request class (and of all requests when there are several),
    with the run's p50, p95 and p99 marked and, if given, the p95 goal as a dashed line.

    ``run`` is a run's result (:func:`mpmsim.run`: the CDFs of its requests) or its JSON
    (``mpmsim run --json``: each class's 1st to 99th percentiles, ``classes.NAME.latency_ms.
    quantiles``). Requests that failed, and those that ended in the warm-up, are left out, as
    in the run's latency figures.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    if isinstance(run, Mapping):
        quoted = run["latency_ms"]
        lines = _from_json(run)
    else:
        quoted = run.to_dict()["latency_ms"]
        lines = _from_requests(run)
    wide = len(lines) == 1 or (len(lines) > 1 and lines[0][0] == "all requests")
    for i, (name, x, y) in enumerate(lines):
        width = 2 if (i == 0 and wide) else 1
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line={"width": width}))
    if lines:
        _mark_percentiles(fig, quoted)
    if p95_goal_ms is not None:
        # A shape on a log axis takes the value, its annotation the log10 (plotly.js's rule).
        fig.add_shape(type="line", x0=p95_goal_ms, x1=p95_goal_ms, y0=0, y1=1, yref="paper",
                      line={"dash": "dash", "color": "#c0392b"})  # fmt: skip
        fig.add_annotation(x=np.log10(p95_goal_ms), y=0.02, yref="paper", showarrow=False,
                           text="p95 goal", xanchor="left", font={"color": "#c0392b"})  # fmt: skip
    fig.update_xaxes(type="log", title_text="latency (ms, log scale)")
    fig.update_yaxes(title_text="fraction of requests", range=[0, 1.02], tickformat=".0%")
    return styled(fig, "Latency distribution per class (requests after the warm-up)")


Line = tuple[str, list[float], list[float]]


def _from_requests(run: RunResult) -> list[Line]:
    """(name, latencies, fractions): all requests (when several classes), then each class."""
    req = measured_requests(run)
    if not len(req):
        return []
    classes = sorted(set(req["class"]))
    lines = [("all requests", *cdf(req["latency_ms"].to_numpy(dtype=float)))]
    for name in classes:
        lat = req.loc[req["class"] == name, "latency_ms"].to_numpy(dtype=float)
        lines.append((str(name) or "unclassed", *cdf(lat)))
    return lines if len(classes) > 1 else lines[1:]


def _from_json(result: Mapping[str, Any]) -> list[Line]:
    """(name, latencies, fractions) per class from a run JSON's percentiles (1 to 99)."""
    lines = []
    for name, block in (result.get("classes") or {}).items():
        points = [(v, (k + 1) / 100) for k, v in enumerate(block["latency_ms"]["quantiles"])]
        points = [(v, f) for v, f in points if v is not None]
        if points:
            lines.append((str(name), [v for v, _ in points], [f for _, f in points]))
    return lines


def _mark_percentiles(fig: go.Figure, quoted: Mapping[str, Any]) -> None:
    """The figures the run quotes (per-replication percentiles, averaged) as labelled dots."""
    import plotly.graph_objects as go

    marks = [(q, float(quoted[f"p{q}"])) for q in (50, 95, 99) if quoted[f"p{q}"]]
    where = {50: "middle left", 95: "middle left", 99: "middle right"}  # p95, p99 are close
    fig.add_trace(go.Scatter(
        x=[v for _, v in marks], y=[q / 100 for q, _ in marks], mode="markers+text",
        text=[f"p{q}" for q, _ in marks], textposition=[where[q] for q, _ in marks],
        cliponaxis=False, marker={"color": "#333", "size": 8},
        name=", ".join(f"p{q} {_ms(v)}" for q, v in marks),
    ))  # fmt: skip


def _ms(x: float) -> str:
    """A latency for a legend, as the report writes it: ``0.25 ms``, ``2.4 ms``, ``557 ms``,
    ``12.5 s``."""
    if abs(x) >= 100_000.0:
        return f"{x / 1000.0:,.0f} s"
    if abs(x) >= 999.5:  # 999.6 ms would round to "1,000 ms"
        return f"{x / 1000.0:.1f} s"
    if abs(x) >= 10.0:
        return f"{x:.0f} ms"
    return f"{x:.1f} ms" if abs(x) >= 1.0 else f"{x:.2g} ms"
