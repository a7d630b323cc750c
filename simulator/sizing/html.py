"""The sizing report of ``mpmsim report`` as one self-contained HTML page.

First screen: the answer in one sentence, the pass/fail table and the fleet with its cost
(:mod:`mpmsim.sizing.page` says what; this module lays it out). Then the goals, the
recommended Apache block with its simulated figures and logged lines, the charts
(:mod:`mpmsim.sizing.charts`; plotly.js is inlined once, so the page works offline) and every
instance type's configuration. The page fits a 1,400 px window; every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpmsim.errors import InputError
from mpmsim.sizing import charts
from mpmsim.sizing.page import DETAIL_COLUMNS, VERDICT, Page, Row, build_page, recommended_row
from mpmsim.sizing.result import SizingReport

if TYPE_CHECKING:
    import plotly.graph_objects as go


_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;color:#222;margin:0;line-height:1.4}
main{max-width:1360px;margin:0 auto;padding:12px 20px 40px}
h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.2em;margin:1.4em 0 .4em}
.answer{font-size:1.25em;font-weight:600;border-left:6px solid #2a7a2a;background:#f4fbf4;
 padding:.5em .8em;margin:.4em 0 .8em}
.answer.none{border-color:#a33;background:#fbf4f4}
.assumed{font-size:.9em;color:#555}
.fleet{font-size:1.05em;margin:.6em 0}
table{border-collapse:collapse;width:100%;font-size:.92em;margin:.4em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:right;vertical-align:top}
th{background:#f0f0f0}td.text,th.text{text-align:left}
td:not(.text),td:first-child{white-space:nowrap}
tr.recommended{background:#e6f4e6;font-weight:600}tr.fail{color:#777}
td.pass{color:#2a7a2a;font-weight:600}td.fail{color:#a33}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.9em}
ul.notes{font-family:ui-monospace,monospace;font-size:.85em}
.goals{color:#444}ul.assume{color:#444;font-size:.9em}
.chart{width:100%;margin:.6em 0 1.2em}
"""


def _table(columns: Sequence[str], rows: Sequence[Row], text_columns: set[int]) -> str:
    """A table; text cells left-aligned, the verdict cell coloured, every cell escaped."""
    head = "".join(
        f'<th class="text">{escape(c)}</th>' if i in text_columns else f"<th>{escape(c)}</th>"
        for i, c in enumerate(columns)
    )
    lines = [f"<table>\n<tr>{head}</tr>"]
    for row in rows:
        cls = "recommended" if row.recommended else ("pass" if row.passes else "fail")
        tds = []
        for i, cell in enumerate(row.cells):
            kind = "text" if i in text_columns else ""
            if columns[i] == VERDICT:
                kind += " pass" if row.passes else " fail"
            tds.append(f'<td class="{kind.strip()}">{escape(cell)}</td>')
        lines.append(f'<tr class="{cls}">{"".join(tds)}</tr>')
    return "\n".join(lines) + "\n</table>"


def _first_screen(page: Page) -> str:
    """The answer, the pass/fail table and the fleet."""
    none = "" if page.fleet else " none"
    parts = [
        f"<h1>{escape(page.title)}</h1>",
        f'<p class="answer{none}">{escape(page.answer)}</p>',
    ]
    if page.assumed:
        parts.append('<p class="assumed">' + "<br>".join(escape(a) for a in page.assumed) + "</p>")
    parts.append(_table(page.columns, page.rows, {0, 1}))
    if page.fleet:
        parts.append(f'<p class="fleet">{escape(page.fleet)}</p>')
    parts.append(f'<p class="goals">{escape(page.goals)}</p>')
    return '<section id="answer">\n' + "\n".join(parts) + "\n</section>"


def _recommended(page: Page) -> str:
    """The block to paste, the run's figures and what it logged."""
    if page.block is None:
        return ""
    parts = ["<h2>The recommended configuration</h2>", f"<pre>{escape(page.block)}</pre>"]
    if page.measured:
        parts.append(f"<p>{escape(page.measured)}</p>")
    if page.notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in page.notes)
        parts.append(f'<p>What its run logged:</p>\n<ul class="notes">{items}</ul>')
    elif page.measured:
        parts.append("<p>Its run logged no warning and no error_log line.</p>")
    return '<section id="recommended">\n' + "\n".join(parts) + "\n</section>"


def _assumptions(page: Page) -> str:
    """What the figures assume, below the recommendation."""
    if not page.assumptions:
        return ""
    items = "".join(f"<li>{escape(a)}</li>" for a in page.assumptions)
    body = f'<h2>Assumptions</h2>\n<ul class="assume">{items}</ul>'
    return f'<section id="assumptions">\n{body}\n</section>'


def as_report(report: SizingReport | Mapping[str, Any]) -> SizingReport:
    """A :class:`SizingReport`; a bare JSON dict becomes one without a run or points."""
    return report if isinstance(report, SizingReport) else SizingReport(dict(report))


def figures(report: SizingReport | Mapping[str, Any]) -> list[tuple[str, go.Figure]]:
    """The report's charts in page order, each with its HTML id.

    Capacity and cost per instance type always; the optimizer's curves when the report holds
    the recommended instance's points; latency, workers and (on burstable hardware) CPU credits
    when it holds the recommended configuration's run.
    """
    report = as_report(report)
    data, run, points = report.to_dict(), report.recommended_run, report.recommended_points
    rows = list(data.get("instances", []))
    goals = data.get("goals", {})
    load = goals.get("design_rps") or goals.get("offered_rps")
    out = [("capacity-cost", charts.capacity_cost_figure(rows, load))]
    row = recommended_row(data)
    if row is not None and points:
        out.append(("curves", charts.curves_figure(row, points, goals)))
    if run is not None:
        out.append(("latency", charts.latency_figure(run, goals.get("p95_ms"))))
        out.append(("workers", charts.workers_figure(run)))
        if charts.burstable(run):
            out.append(("credits", charts.credits_figure(run)))
    return out


def _charts(figs: Sequence[tuple[str, go.Figure]]) -> str:
    """Every chart in a responsive div; plotly.js is inlined with the first one only."""
    config = {"responsive": True, "displaylogo": False}
    divs = []
    for i, (name, fig) in enumerate(figs):
        height = f"{fig.layout.height or charts.HEIGHT}px"
        div = fig.to_html(
            full_html=False, include_plotlyjs=i == 0, config=config, div_id=f"chart-{name}",
            default_width="100%", default_height=height,
        )  # fmt: skip
        divs.append(f'<div class="chart">{div}</div>')
    return '<section id="charts">\n<h2>Charts</h2>\n' + "\n".join(divs) + "\n</section>"


def _details(page: Page) -> str:
    """Every instance type's configuration, and its Apache block folded away."""
    blocks = "\n".join(
        f"<details><summary>{escape(name)}: the Apache block</summary>"
        f"<pre>{escape(block)}</pre></details>"
        for name, block in page.blocks
    )
    table = _table(DETAIL_COLUMNS, page.details, {0, 3, 7, 8})
    return f'<section id="details">\n<h2>Every instance type</h2>\n{table}\n{blocks}\n</section>'


def render_html(report: SizingReport | Mapping[str, Any]) -> str:
    """The whole page for a sizing report (or its JSON dict, drawn without run and curves)."""
    report = as_report(report)
    page = build_page(report.to_dict(), report.recommended_run)
    body = "\n".join(
        (
            _first_screen(page),
            _recommended(page),
            _assumptions(page),
            _charts(figures(report)),
            _details(page),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(page.title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def write_report(
    report: SizingReport | Mapping[str, Any], path: Path, *, overwrite: bool = False
) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8) and return it.

    Raises :class:`~mpmsim.errors.InputError` when ``path`` exists and ``overwrite`` is False.
    """
    if path.exists() and not overwrite:
        raise InputError("exists; use --force to overwrite it", file=str(path), field="-o")
    path.write_text(render_html(report), encoding="utf-8")
    return path
