"""The procurement sizing report of ``mpmsim report`` as one self-contained HTML page.

The page states the goals, recommends an instance, compares every instance in a table, draws
throughput, cost and cost per request with plotly (its JavaScript inlined once, so the page
works offline) and lists the Apache block of every instance that met the goals.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpmsim.errors import InputError

if TYPE_CHECKING:
    import plotly.graph_objects as go

NONE = "—"
_INFEASIBLE = "no configuration met the goals"
_COLUMNS = (
    "instance", "vCPUs", "RAM (GiB)", "$/month", "MPM", "MaxRequestWorkers", "ThreadsPerChild",
    "req/s", "p95 ms", "peak MiB", "RAM headroom %", "CPU utilization %", "$ per million requests",
    "burst", "binding constraint",
)  # fmt: skip
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:.9em;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:right}
th{background:#f0f0f0}td.text{text-align:left}
tr.recommended{background:#e6f4e6;font-weight:bold}tr.infeasible{color:#888}
.box{border:2px solid #2a7a2a;border-radius:6px;padding:.5em 1em;background:#f4fbf4}
.box.none{border-color:#a33;background:#fbf4f4}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto}
"""


def _num(value: Any, spec: str, scale: float = 1.0) -> str:
    """``value * scale`` formatted with ``spec``, or an em dash when it is missing."""
    return NONE if value is None else format(float(value) * scale, spec)


def _objective(data: dict[str, Any]) -> str:
    """The objective in words."""
    if data.get("objective") == "memory@load":
        rps = _num(data.get("goals", {}).get("offered_rps"), ",.1f")
        return f"the least memory that carries {rps} req/s while meeting the goals"
    return "the most throughput that meets the goals"


def _intro(data: dict[str, Any]) -> str:
    """The paragraph with the source, the objective and the goals."""
    g = data.get("goals", {})
    p95 = (
        "no p95 latency goal"
        if g.get("p95_ms") is None
        else f"p95 ≤ {_num(g['p95_ms'], ',.1f')} ms"
    )
    goals = (
        f"{p95}, error rate ≤ {_num(g.get('max_error_rate'), '.1f', 100)} %, "
        f"RAM headroom ≥ {_num(g.get('headroom'), '.1f', 100)} %"
    )
    return (
        f"<p>Scenario <code>{escape(str(data.get('source', '')))}</code>. On each instance the "
        f"optimizer looked for {escape(_objective(data))}: {escape(goals)}. Monthly prices assume "
        f"{escape(_num(data.get('hours_per_month'), ',.0f'))} hours.</p>"
    )


def _block(inst: dict[str, Any]) -> str:
    """An instance's Apache block, escaped, in a ``<pre>``."""
    return f"<pre>{escape(inst.get('block') or '')}</pre>"


def _recommendation(data: dict[str, Any]) -> str:
    """The box naming the instance to buy, or saying that none qualified."""
    rec = data.get("recommendation")
    if rec is None:
        return '<div class="box none"><h2>No instance met the goals</h2></div>'
    name = rec.get("instance")
    inst: dict[str, Any] = next(
        (i for i in data.get("instances", []) if i.get("instance") == name), {}
    )
    return (
        f'<div class="box"><h2>Recommended: {escape(str(name))}</h2>'
        f"<p>{escape(str(rec.get('why', '')))}</p>{_block(inst)}</div>"
    )


def _cells(inst: dict[str, Any]) -> list[str]:
    """The sizing cells of a feasible instance, after its price columns."""
    burst = inst.get("burst") or {}
    binding = inst.get("binding") or {}
    bind = str(binding.get("constraint", NONE))
    if binding.get("bottleneck"):
        bind += f" (bottleneck: {binding['bottleneck']})"
    return [
        str(inst.get("mpm") or NONE), _num(inst.get("MaxRequestWorkers"), ",.0f"),
        _num(inst.get("ThreadsPerChild"), ",.0f"), _num(inst.get("throughput_rps"), ",.1f"),
        _num(inst.get("p95_ms"), ",.1f"), _num(inst.get("memory_peak_mib"), ",.1f"),
        _num(inst.get("ram_headroom_pct"), ".1f"), _num(inst.get("cpu_utilization"), ".1f", 100),
        _num(inst.get("usd_per_million_requests"), ".4g"), str(burst.get("note") or NONE), bind,
    ]  # fmt: skip


def _row(inst: dict[str, Any], recommended: bool) -> str:
    """One table row; text cells are escaped and left-aligned."""
    head = [
        str(inst.get("instance")) + (" ★" if recommended else ""),
        _num(inst.get("vcpus"), ",.0f"),
        _num(inst.get("ram_mib"), ",.1f", 1 / 1024),
        _num(inst.get("price_per_month_usd"), ",.2f"),
    ]
    tds = [f'<td class="text">{escape(head[0])}</td>'] + [f"<td>{escape(c)}</td>" for c in head[1:]]
    if inst.get("feasible"):
        text = {0, 9, 10}
        tds += [
            f'<td class="text">{escape(c)}</td>' if i in text else f"<td>{escape(c)}</td>"
            for i, c in enumerate(_cells(inst))
        ]
        cls = "recommended" if recommended else "feasible"
    else:
        tds.append(f'<td class="text" colspan="{len(_COLUMNS) - 4}">{_INFEASIBLE}</td>')
        cls = "infeasible"
    return f'<tr class="{cls}">{"".join(tds)}</tr>'


def _table(data: dict[str, Any]) -> str:
    """The comparison table, one row per instance in the order given."""
    rec = (data.get("recommendation") or {}).get("instance")
    head = "".join(f"<th>{escape(c)}</th>" for c in _COLUMNS)
    rows = "\n".join(_row(i, i.get("instance") == rec) for i in data.get("instances", []))
    return f"<h2>Comparison</h2>\n<table>\n<tr>{head}</tr>\n{rows}\n</table>"


def throughput_figure(data: dict[str, Any]) -> go.Figure:
    """Throughput per instance (bars, left axis) next to $/month (bars, right axis)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    insts = data.get("instances", [])
    names = [str(i.get("instance")) for i in insts]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    rps = [i.get("throughput_rps") if i.get("feasible") else None for i in insts]
    usd = [i.get("price_per_month_usd") for i in insts]
    fig.add_trace(go.Bar(x=names, y=rps, name="req/s", offsetgroup=0), secondary_y=False)
    fig.add_trace(go.Bar(x=names, y=usd, name="$/month", offsetgroup=1), secondary_y=True)
    fig.update_yaxes(title_text="throughput (req/s)", secondary_y=False)
    fig.update_yaxes(title_text="price ($/month)", secondary_y=True)
    fig.update_layout(title="Throughput and monthly price per instance", barmode="group")
    return fig


def cost_figure(data: dict[str, Any]) -> go.Figure:
    """Dollars per million requests on each instance that met the goals."""
    import plotly.graph_objects as go

    insts = [i for i in data.get("instances", []) if i.get("feasible")]
    fig = go.Figure(
        go.Bar(
            x=[str(i.get("instance")) for i in insts],
            y=[i.get("usd_per_million_requests") for i in insts],
            name="$ per million requests",
        )
    )
    fig.update_yaxes(title_text="$ per million requests")
    fig.update_layout(title="Cost per million requests (feasible instances)")
    return fig


def _charts(data: dict[str, Any]) -> str:
    """Both figures; plotly.js is inlined with the first one only."""
    first = throughput_figure(data).to_html(full_html=False, include_plotlyjs=True)
    second = cost_figure(data).to_html(full_html=False, include_plotlyjs=False)
    return f"<h2>Charts</h2>\n{first}\n{second}"


def _details(data: dict[str, Any]) -> str:
    """One collapsible Apache block per feasible instance."""
    parts = [
        f"<details><summary>{escape(str(i.get('instance')))}: "
        f"{escape(str(i.get('mpm') or NONE))} MPM</summary>{_block(i)}</details>"
        for i in data.get("instances", [])
        if i.get("feasible")
    ]
    return "<h2>Apache configuration per instance</h2>\n" + "\n".join(parts)


def render_html(data: dict[str, Any]) -> str:
    """The whole report page for ``data`` (the dict ``mpmsim report`` builds)."""
    title = f"Sizing report: {data.get('scenario', '')}"
    body = "\n".join(
        (
            f"<h1>{escape(title)}</h1>",
            _intro(data),
            _recommendation(data),
            _table(data),
            _charts(data),
            _details(data),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(data: dict[str, Any], path: Path, *, overwrite: bool = False) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8) and return it.

    Raises :class:`~mpmsim.errors.InputError` when ``path`` exists and ``overwrite`` is False.
    """
    if path.exists() and not overwrite:
        raise InputError("exists; use --force to overwrite it", file=str(path), field="-o")
    path.write_text(render_html(data), encoding="utf-8")
    return path
