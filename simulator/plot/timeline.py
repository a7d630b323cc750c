"""A run over time, from its sampled series (first replication): workers, memory, accept queue.

The series are :meth:`mpmsim.RunResult.series_frame`'s columns
(:data:`mpmsim.engine.recorder.SERIES_COLUMNS`); the warm-up, whose figures the results leave
out, is shaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpmsim.engine.accept_queue import accept_queue_limit
from mpmsim.plot.layout import first_series, shade_warmup, styled

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from mpmsim.engine.replications import RunResult

WORKER_LINES = (
    ("busy_workers", "busy workers"),
    ("idle_workers", "idle workers"),
    ("keepalive_held_workers", "workers held by keep-alive"),
    ("keepalive_async_conns", "keep-alive connections (listener)"),
    ("processes", "child processes"),
)
"""(series column, legend name) of :func:`workers`; a keep-alive line that stays at zero (no
keep-alive, or not this MPM's way of holding it) is left out."""


def _line(s: pd.DataFrame, column: str, name: str, **line: object) -> go.Scatter:
    """One series as a step line against simulated time."""
    import plotly.graph_objects as go

    style = {"shape": "hv", "width": 1.5, **line}
    return go.Scatter(x=s["t_s"], y=s[column], mode="lines", name=name, line=style)


def workers(run: RunResult) -> go.Figure:
    """Busy, idle and keep-alive workers and child processes over time, with the
    MaxRequestWorkers cap (first replication)."""
    import plotly.graph_objects as go

    s = first_series(run)
    fig = go.Figure()
    for column, name in WORKER_LINES:
        if column.startswith("keepalive") and not s[column].any():
            continue  # a series that stays at zero only crowds the legend
        dash = "dot" if column == "processes" else None
        fig.add_trace(_line(s, column, name, dash=dash))
    cap = run.prepared.directives.MaxRequestWorkers
    fig.add_hline(y=cap, line_dash="dash", annotation_text=f"MaxRequestWorkers {cap}")
    shade_warmup(fig, run)
    fig.update_xaxes(title_text="simulated time (s)")
    fig.update_yaxes(title_text="workers, connections, processes", rangemode="tozero")
    return styled(fig, f"Workers over time ({run.prepared.mpm})")


def memory(run: RunResult) -> go.Figure:
    """Apache's memory over time against the RAM it may use (the machine's RAM less the OS's
    reserve, where the OOM killer starts); first replication."""
    import plotly.graph_objects as go

    s = first_series(run)
    fig = go.Figure(_line(s, "memory_mib", "Apache's memory", shape="linear"))
    hw = run.prepared.hardware
    limit = float(run.records[0]["memory_limit_mib"])
    fig.add_hline(y=limit, line_dash="dash", line_color="#c0392b",
                  annotation_text=f"RAM for Apache {limit:,.0f} MiB "
                  f"({hw.ram_mib:,.0f} MiB less {hw.os_reserved_mib:,.0f} for the OS)")  # fmt: skip
    shade_warmup(fig, run)
    fig.update_xaxes(title_text="simulated time (s)")
    fig.update_yaxes(title_text="MiB", rangemode="tozero")
    return styled(fig, f"Memory over time on {hw.name}")


def accept_queue(run: RunResult) -> go.Figure:
    """Connections waiting in the kernel's accept queue over time, against what it holds
    (min(ListenBacklog, somaxconn) + 1; beyond it SYNs are dropped); first replication."""
    import plotly.graph_objects as go

    s = first_series(run)
    fig = go.Figure(_line(s, "accept_queue", "connections waiting to be accepted"))
    p = run.prepared
    limit = accept_queue_limit(p.directives.ListenBacklog, p.scenario.server.somaxconn)
    if s["accept_queue"].max() * 4 >= limit:  # else the line would flatten the queue to zero
        fig.add_hline(y=limit, line_dash="dash", annotation_text=f"the queue holds {limit}")
    shade_warmup(fig, run)
    fig.update_xaxes(title_text="simulated time (s)")
    fig.update_yaxes(title_text="connections", rangemode="tozero")
    return styled(fig, f"Accept queue over time (it holds {limit}; beyond, SYNs are dropped)")
